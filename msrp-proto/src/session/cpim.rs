//! The leading header block of a Message/CPIM body (RFC 3862): just enough for a
//! group chat to check who sent a message, whom it is for and what it wraps. The
//! payload is never read or rewritten.
//!
//! ```text
//! From: Alice <sip:alice@example.com>        ─┐ CPIM message headers
//! To: <sip:room@chat.example.com>             │ (names are case-sensitive)
//! NS: imdn <urn:ietf:params:imdn>            ─┘
//!                                             ── blank line
//! Content-Type: text/plain                   ─┐ encapsulated MIME headers
//!                                            ─┘ blank line, then the payload
//! ```

use smallvec::SmallVec;

/// A CPIM `From` or `To` value: `[display-name] <URI>`, borrowed from the body
/// (reading a message's headers allocates nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpimAddress<'a> {
    /// The display name, unquoted; empty if none.
    pub display_name: &'a str,
    /// The URI between the angle brackets.
    pub uri: &'a str,
}

impl CpimAddress<'_> {
    /// True if this address names `uri` (given with or without angle brackets).
    /// URIs are compared ignoring ASCII case: IM Servers write identities in
    /// whichever case the subscriber was provisioned with.
    pub fn is(&self, uri: &str) -> bool {
        same_uri(self.uri, uri)
    }
}

/// True if two URIs (each with or without angle brackets) are the same, ignoring
/// ASCII case.
pub fn same_uri(a: &str, b: &str) -> bool {
    pub(crate) fn strip(s: &str) -> &str {
        let s = s.trim();
        s.strip_prefix('<')
            .and_then(|s| s.strip_suffix('>'))
            .unwrap_or(s)
            .trim()
    }
    let (a, b) = (strip(a), strip(b));
    !a.is_empty() && a.eq_ignore_ascii_case(b)
}

/// What the switch needs from a CPIM body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CpimHeaders<'a> {
    /// `From`: who sent the message.
    pub from: Option<CpimAddress<'a>>,
    /// `To`: the room for a public message, one participant for a private one.
    pub to: SmallVec<[CpimAddress<'a>; 2]>,
    /// The encapsulated `Content-Type` (media type only, as written); `None` if
    /// the MIME headers have none.
    pub content_type: Option<&'a str>,
    /// Bytes of the body the two header blocks take (where the payload starts).
    pub len: usize,
}

/// The outcome of looking at the start of a CPIM body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cpim<'a> {
    /// Both header blocks are complete.
    Headers(CpimHeaders<'a>),
    /// More bytes are needed to reach the end of the MIME headers.
    Incomplete,
    /// Not a CPIM body; the reason names what is wrong.
    Malformed(&'static str),
}

/// Parses the CPIM and MIME header blocks at the start of `body`.
pub fn parse(body: &[u8]) -> Cpim<'_> {
    let Some((cpim, after_cpim)) = header_block(body) else {
        return Cpim::Incomplete;
    };
    let Some((mime, after_mime)) = header_block(&body[after_cpim..]) else {
        return Cpim::Incomplete;
    };
    let mut headers = CpimHeaders {
        len: after_cpim + after_mime,
        ..CpimHeaders::default()
    };
    for line in lines(cpim) {
        let Some((name, value)) = split_header(line) else {
            return Cpim::Malformed("a CPIM header line has no colon");
        };
        // RFC 3862 §3.1: CPIM header names are case-sensitive.
        match name {
            "From" => {
                if headers.from.is_some() {
                    return Cpim::Malformed("more than one CPIM From");
                }
                match address(value) {
                    Some(from) => headers.from = Some(from),
                    None => return Cpim::Malformed("the CPIM From is not an address"),
                }
            }
            "To" => match address(value) {
                Some(to) => headers.to.push(to),
                None => return Cpim::Malformed("a CPIM To is not an address"),
            },
            _ => {}
        }
    }
    for line in lines(mime) {
        let Some((name, value)) = split_header(line) else {
            return Cpim::Malformed("a MIME header line has no colon");
        };
        if name.eq_ignore_ascii_case("Content-Type") {
            let media = value.split(';').next().unwrap_or_default().trim();
            headers.content_type = Some(media);
        }
    }
    Cpim::Headers(headers)
}

/// The header block at the start of `bytes` (up to its blank line) and where the
/// bytes after the blank line start. Lines end with CRLF; a bare LF is accepted.
fn header_block(bytes: &[u8]) -> Option<(&[u8], usize)> {
    let mut start = 0;
    while let Some(nl) = memchr::memchr(b'\n', &bytes[start..]) {
        let line = &bytes[start..start + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Some((&bytes[..start], start + nl + 1));
        }
        start += nl + 1;
    }
    None
}

fn lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    block
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
}

fn split_header(line: &[u8]) -> Option<(&str, &str)> {
    let line = std::str::from_utf8(line).ok()?;
    let (name, value) = line.split_once(':')?;
    Some((name.trim(), value.trim()))
}

/// `[display-name] <URI>` (RFC 3862 §3.2); a bare URI is taken too.
fn address(value: &str) -> Option<CpimAddress<'_>> {
    let value = value.trim();
    let Some(open) = value.rfind('<') else {
        if value.is_empty() || value.contains(char::is_whitespace) {
            return None;
        }
        return Some(CpimAddress {
            display_name: "",
            uri: value,
        });
    };
    let close = value[open..].find('>')? + open;
    let uri = value[open + 1..close].trim();
    if uri.is_empty() || !value[close + 1..].trim().is_empty() {
        return None;
    }
    let name = value[..open].trim();
    let name = name
        .strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .unwrap_or(name);
    Some(CpimAddress {
        display_name: name,
        uri,
    })
}

/// A `Use-Nickname` value (RFC 7701 §8: a quoted-string), unquoted and unescaped;
/// `None` if it is not a well-formed quoted string.
pub fn nickname(value: &str) -> Option<String> {
    let inner = value.trim().strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c if c.is_control() => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"From: \"Alice A.\" <sip:alice@example.com>\r\n\
To: <sip:room@chat.example.com>\r\n\
NS: imdn <urn:ietf:params:imdn>\r\n\
imdn.Message-ID: 34jk324j\r\n\
\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello, room.";

    #[test]
    pub(crate) fn reads_from_to_and_the_wrapped_type() {
        let Cpim::Headers(h) = parse(BODY) else {
            panic!("not parsed: {:?}", parse(BODY));
        };
        let from = h.from.unwrap();
        assert_eq!(from.display_name, "Alice A.");
        assert!(from.is("sip:ALICE@example.com"));
        assert!(from.is("<sip:alice@example.com>"));
        assert_eq!(h.to.len(), 1);
        assert!(h.to[0].is("sip:room@chat.example.com"));
        assert_eq!(h.content_type, Some("text/plain"));
        assert_eq!(&BODY[h.len..], b"Hello, room.");
    }

    #[test]
    pub(crate) fn every_prefix_short_of_the_mime_blank_line_is_incomplete() {
        let end = BODY.len() - b"Hello, room.".len();
        for cut in 0..end {
            assert_eq!(parse(&BODY[..cut]), Cpim::Incomplete, "cut at {cut}");
        }
        assert!(matches!(parse(&BODY[..end]), Cpim::Headers(_)));
    }

    #[test]
    pub(crate) fn bare_lf_lines_and_bare_uris_are_taken() {
        let body = b"From: sip:bob@example.com\nTo: sip:alice@example.com\n\nContent-Type: message/imdn+xml\n\n<x/>";
        let Cpim::Headers(h) = parse(body) else {
            panic!("not parsed");
        };
        assert!(h.from.unwrap().is("sip:bob@example.com"));
        assert_eq!(h.content_type, Some("message/imdn+xml"));
    }

    #[test]
    pub(crate) fn names_are_case_sensitive_and_bad_lines_are_malformed() {
        let body = b"from: <sip:eve@example.com>\r\n\r\n\r\nhi";
        let Cpim::Headers(h) = parse(body) else {
            panic!("not parsed");
        };
        assert_eq!(h.from, None, "`from` is not `From`");
        assert_eq!(h.content_type, None);
        assert_eq!(
            parse(b"Hello world\r\n\r\n\r\n"),
            Cpim::Malformed("a CPIM header line has no colon")
        );
        assert_eq!(
            parse(b"From: <>\r\n\r\n\r\n"),
            Cpim::Malformed("the CPIM From is not an address")
        );
        assert_eq!(
            parse(b"From: <sip:a@x>\r\nFrom: <sip:b@x>\r\n\r\n\r\n"),
            Cpim::Malformed("more than one CPIM From")
        );
    }

    #[test]
    pub(crate) fn nicknames_are_quoted_strings() {
        assert_eq!(nickname("\"Alice\"").as_deref(), Some("Alice"));
        assert_eq!(
            nickname(" \"a \\\"b\\\" c\" ").as_deref(),
            Some("a \"b\" c")
        );
        assert_eq!(nickname("\"\"").as_deref(), Some(""));
        assert_eq!(nickname("Alice"), None);
        assert_eq!(nickname("\"Ali\"ce\""), None);
        assert_eq!(nickname("\"tab\there\""), None);
        assert_eq!(nickname("\"dangling\\\""), None);
    }
}
