//! One readable line for an error and its causes, for the CLI and the app.
//!
//! Library errors put their cause in their own message ("file.hea: no such file") and also
//! expose it as `source()`, so printing the whole chain naively repeats it. This keeps each cause
//! once.

use std::error::Error;

/// The error's message followed by those of its causes that it does not already contain.
pub fn describe(err: &(dyn Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let message = inner.to_string();
        if !message.is_empty() && !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = inner.source();
    }
    text
}

/// [`describe`] for an `anyhow::Error` (context lines included).
pub fn describe_anyhow(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for link in err.chain() {
        let message = link.to_string();
        if message.is_empty() || text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder");
        let err = crate::io::IoError::os("/tmp/x.hea", io);
        let text = describe(&err);
        assert_eq!(text.matches("no such file or folder").count(), 1, "{text}");
        let wrapped = anyhow::Error::new(err).context("opening the data set");
        let text = describe_anyhow(&wrapped);
        assert!(
            text.starts_with("opening the data set: /tmp/x.hea"),
            "{text}"
        );
        assert_eq!(text.matches("no such file or folder").count(), 1, "{text}");
    }
}
