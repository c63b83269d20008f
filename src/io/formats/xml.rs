//! A small element tree over `quick-xml` events, shared by the XML formats (HL7 aECG, GE MUSE,
//! Philips). The files are at most a few MB, so a tree is cheap and lets each reader navigate
//! by element names; nodes live in one arena (no recursion when building or dropping, so a
//! deeply nested hostile file cannot overflow the stack).

use std::borrow::Cow;

use quick_xml::events::Event;

/// Deeper nesting than this is refused: no ECG format comes near it.
const MAX_DEPTH: usize = 256;

#[derive(Debug, Default)]
pub(crate) struct Node {
    /// Local name (namespace prefix removed).
    pub name: String,
    pub attrs: Vec<(String, String)>,
    /// Concatenated text content directly inside this element.
    pub text: String,
    pub children: Vec<usize>,
}

#[derive(Debug)]
pub(crate) struct XmlDoc {
    nodes: Vec<Node>,
}

/// Text of an XML file: UTF-8 (BOM optional), UTF-16 with a BOM, else ISO-8859-1 (GE MUSE
/// declares it), where each byte is its own code point.
pub(crate) fn decode_text(bytes: &[u8]) -> Cow<'_, str> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(rest);
    }
    let utf16 = |rest: &[u8], little: bool| -> Cow<'_, str> {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| {
                if little {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        Cow::Owned(String::from_utf16_lossy(&units))
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, false);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(bytes.iter().map(|&b| b as char).collect()),
    }
}

/// The local name of the first element of an XML text (used to detect the format), if the text
/// starts like XML.
pub(crate) fn root_name(text: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(text);
    for _ in 0..64 {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                return Some(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(Event::Text(t)) if !t.iter().all(u8::is_ascii_whitespace) => return None,
            Ok(_) => {}
        }
    }
    None
}

/// Parse a file of an XML ECG format and check its root element, errors naming the file.
pub(crate) fn parse_file(
    path: &std::path::Path,
    format: &'static str,
    bytes: &[u8],
    root: &str,
) -> Result<XmlDoc, crate::io::IoError> {
    let err = |m: String| crate::io::IoError::section(path, format, "XML", m);
    let doc = XmlDoc::parse(&decode_text(bytes)).map_err(err)?;
    let found = doc.name(doc.root());
    if found != root {
        return Err(err(format!("root element is <{found}>, not <{root}>")));
    }
    Ok(doc)
}

impl XmlDoc {
    /// Parse a whole document. The error is the parser's message with its byte position.
    pub fn parse(text: &str) -> Result<XmlDoc, String> {
        let mut reader = quick_xml::Reader::from_str(text);
        let mut nodes: Vec<Node> = vec![Node::default()]; // 0: document
        let mut stack: Vec<usize> = vec![0];
        loop {
            let event = reader
                .read_event()
                .map_err(|e| format!("XML error at byte {}: {e}", reader.error_position()))?;
            match event {
                Event::Start(e) => {
                    let id = push_element(&mut nodes, &stack, &e)?;
                    stack.push(id);
                    if stack.len() > MAX_DEPTH {
                        return Err(format!("elements nested deeper than {MAX_DEPTH}"));
                    }
                }
                Event::Empty(e) => {
                    push_element(&mut nodes, &stack, &e)?;
                }
                Event::End(_) => {
                    if stack.len() <= 1 {
                        return Err("closing tag without an opening one".into());
                    }
                    stack.pop();
                }
                Event::Text(t) => {
                    // entity references come as `GeneralRef` events, so text is literal
                    let top = *stack.last().unwrap_or(&0);
                    nodes[top]
                        .text
                        .push_str(&String::from_utf8_lossy(t.as_ref()));
                }
                Event::GeneralRef(r) => {
                    // entity references arrive as their own events in quick-xml 0.38+
                    let name = String::from_utf8_lossy(r.as_ref()).into_owned();
                    let resolved = quick_xml::escape::unescape(&format!("&{name};"))
                        .map(|c| c.into_owned())
                        .unwrap_or_default();
                    let top = *stack.last().unwrap_or(&0);
                    nodes[top].text.push_str(&resolved);
                }
                Event::CData(t) => {
                    let top = *stack.last().unwrap_or(&0);
                    nodes[top]
                        .text
                        .push_str(&String::from_utf8_lossy(t.as_ref()));
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if stack.len() > 1 {
            return Err(format!(
                "the file ends inside <{}>",
                nodes[*stack.last().unwrap_or(&0)].name
            ));
        }
        if nodes[0].children.is_empty() {
            return Err("no XML element".into());
        }
        Ok(XmlDoc { nodes })
    }

    /// The root element.
    pub fn root(&self) -> usize {
        self.nodes[0].children[0]
    }

    pub fn node(&self, id: usize) -> &Node {
        &self.nodes[id]
    }

    pub fn name(&self, id: usize) -> &str {
        &self.nodes[id].name
    }

    /// Trimmed text of an element.
    pub fn text(&self, id: usize) -> &str {
        self.nodes[id].text.trim()
    }

    pub fn attr(&self, id: usize, name: &str) -> Option<&str> {
        self.nodes[id]
            .attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Direct children named `name`.
    pub fn children<'a>(&'a self, id: usize, name: &'a str) -> impl Iterator<Item = usize> + 'a {
        self.nodes[id]
            .children
            .iter()
            .copied()
            .filter(move |&c| self.nodes[c].name == name)
    }

    /// The first direct child named `name`.
    pub fn child(&self, id: usize, name: &str) -> Option<usize> {
        self.children(id, name).next()
    }

    /// Follow a path of direct children (`["a", "b"]` is `<a><b>`).
    pub fn path(&self, id: usize, path: &[&str]) -> Option<usize> {
        path.iter().try_fold(id, |at, name| self.child(at, name))
    }

    /// Text of the child path, if present and non-empty.
    pub fn path_text(&self, id: usize, path: &[&str]) -> Option<&str> {
        self.path(id, path)
            .map(|n| self.text(n))
            .filter(|t| !t.is_empty())
    }

    /// Every descendant named `name`, in document order.
    pub fn descendants(&self, id: usize, name: &str) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack: Vec<usize> = self.nodes[id].children.iter().rev().copied().collect();
        while let Some(n) = stack.pop() {
            if self.nodes[n].name == name {
                out.push(n);
            }
            stack.extend(self.nodes[n].children.iter().rev().copied());
        }
        out
    }
}

fn push_element(
    nodes: &mut Vec<Node>,
    stack: &[usize],
    e: &quick_xml::events::BytesStart<'_>,
) -> Result<usize, String> {
    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| format!("bad attribute in <{name}>: {err}"))?;
        let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
        let raw = String::from_utf8_lossy(&a.value);
        let value = quick_xml::escape::unescape(&raw)
            .map(|c| c.into_owned())
            .unwrap_or_else(|_| raw.into_owned());
        attrs.push((key, value));
    }
    let id = nodes.len();
    nodes.push(Node {
        name,
        attrs,
        text: String::new(),
        children: Vec::new(),
    });
    let parent = *stack.last().unwrap_or(&0);
    nodes[parent].children.push(id);
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_paths_text_and_attributes() {
        let doc = XmlDoc::parse(
            r#"<?xml version="1.0"?><r xmlns:x="u"><x:a k="v &amp; w">t &lt; 1</x:a><b/><a>2</a></r>"#,
        )
        .unwrap();
        let r = doc.root();
        assert_eq!(doc.name(r), "r");
        let a: Vec<_> = doc.children(r, "a").collect();
        assert_eq!(a.len(), 2);
        assert_eq!(doc.text(a[0]), "t < 1");
        assert_eq!(doc.attr(a[0], "k"), Some("v & w"));
        assert_eq!(doc.descendants(r, "b").len(), 1);
        assert!(XmlDoc::parse("<a><b></a>").is_err());
        assert!(XmlDoc::parse("<a>").is_err());
    }

    #[test]
    fn root_name_and_decoding() {
        assert_eq!(
            root_name("<?xml version='1.0'?>\n<!DOCTYPE RestingECG SYSTEM 'x'>\n<RestingECG>"),
            Some("RestingECG".into())
        );
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<r/>".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert_eq!(decode_text(&utf16), "<r/>");
        assert_eq!(decode_text(&[b'a', 0xE9]), "aé");
    }
}
