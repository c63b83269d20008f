//! One readable line for an error and its causes, for the CLI and the app.
//!
//! Each error says its own part once ("reading reference annotations", "record '12'",
//! "/data/12.hea") and leaves its cause to `source()`; the line is the chain joined with ": ".
//! A front end shows errors through these functions, never through `to_string()` alone, which
//! would drop the causes.

use std::error::Error;

/// The messages of an error chain, joined with ": " (an empty message, such as a transparent
/// wrapper's, adds nothing; a link repeating the one before it is shown once).
fn join_chain<'a>(messages: impl Iterator<Item = String> + 'a) -> String {
    let mut parts: Vec<String> = Vec::new();
    for message in messages {
        if message.is_empty() || parts.last() == Some(&message) {
            continue;
        }
        parts.push(message);
    }
    parts.join(": ")
}

/// The error's message followed by those of its causes.
pub fn describe(err: &(dyn Error + 'static)) -> String {
    let mut messages = Vec::new();
    let mut link = Some(err);
    while let Some(e) = link {
        messages.push(e.to_string());
        link = e.source();
    }
    join_chain(messages.into_iter())
}

/// [`describe`] for an `anyhow::Error` (context lines included).
pub fn describe_anyhow(err: &anyhow::Error) -> String {
    join_chain(err.chain().map(|e| e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_of_the_chain_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder");
        let err = crate::io::IoError::os("/tmp/x.hea", io);
        assert_eq!(
            err.to_string(),
            "/tmp/x.hea",
            "the error says its own part only"
        );
        let text = describe(&err);
        assert_eq!(text, "/tmp/x.hea: no such file or folder");
        let wrapped = anyhow::Error::new(err).context("opening the data set");
        let text = describe_anyhow(&wrapped);
        assert!(
            text.starts_with("opening the data set: /tmp/x.hea"),
            "{text}"
        );
        assert_eq!(text.matches("no such file or folder").count(), 1, "{text}");
    }
}
