//! Header names and the grammar of header values (RFC 4975 §9, RFC 4976 §7, RFC 7701
//! §8): the checks the decoder runs on every header line of every frame.
//!
//! These are functions of bytes alone. They know nothing of a `Head` or of decode
//! errors, so `error.rs` can name a [`HeaderName`] without depending on the head
//! parser, which depends on the errors; `head.rs` maps each failure here to the
//! `ErrorKind` that answers it.

use std::fmt;

use super::byte_range::parse_digits;
use super::status::StatusCode;
use super::uri::{MsrpUri, UriError};

/// Success-Report (RFC 4975 §7.1.2); `no` when absent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SuccessReport {
    /// The final receiver sends a REPORT with `000 200` for what it received.
    Yes,
    /// No success REPORT.
    No,
}

/// Failure-Report (RFC 4975 §7.1.2); `yes` when absent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FailureReport {
    /// A transaction response always, and a failure REPORT on failure.
    Yes,
    /// No transaction response and no failure REPORT.
    No,
    /// Error responses and failure REPORTs only.
    Partial,
}

impl FailureReport {
    /// The header value: `yes`, `no` or `partial`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::Partial => "partial",
        }
    }
}

impl SuccessReport {
    /// `yes` or `no`, in any case.
    pub(crate) fn parse(value: &[u8]) -> Option<Self> {
        // Compared in place: `to_ascii_lowercase` would allocate on every frame.
        if value.eq_ignore_ascii_case(b"yes") {
            Some(Self::Yes)
        } else if value.eq_ignore_ascii_case(b"no") {
            Some(Self::No)
        } else {
            None
        }
    }
}

impl FailureReport {
    /// `yes`, `no` or `partial`, in any case.
    pub(crate) fn parse(value: &[u8]) -> Option<Self> {
        if value.eq_ignore_ascii_case(b"yes") {
            Some(Self::Yes)
        } else if value.eq_ignore_ascii_case(b"no") {
            Some(Self::No)
        } else if value.eq_ignore_ascii_case(b"partial") {
            Some(Self::Partial)
        } else {
            None
        }
    }
}

/// Header names the codec knows (IANA MSRP header registry), plus `Other`.
/// Names compare case-insensitively on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum HeaderName {
    /// To-Path (RFC 4975).
    ToPath,
    /// From-Path (RFC 4975).
    FromPath,
    /// Message-ID (RFC 4975).
    MessageId,
    /// Success-Report (RFC 4975).
    SuccessReport,
    /// Failure-Report (RFC 4975).
    FailureReport,
    /// Byte-Range (RFC 4975).
    ByteRange,
    /// Status (RFC 4975).
    Status,
    /// Content-Type (RFC 4975 content-stuff).
    ContentType,
    /// Content-ID (RFC 4975 content-stuff).
    ContentId,
    /// Content-Description (RFC 4975 content-stuff).
    ContentDescription,
    /// Content-Disposition (RFC 4975 content-stuff).
    ContentDisposition,
    /// Any other `Content-*` MIME header (mime-extension-field).
    OtherContent,
    /// Expires (RFC 4976).
    Expires,
    /// Min-Expires (RFC 4976).
    MinExpires,
    /// Max-Expires (RFC 4976).
    MaxExpires,
    /// Use-Path (RFC 4976).
    UsePath,
    /// WWW-Authenticate (RFC 4976).
    WwwAuthenticate,
    /// Authorization (RFC 4976).
    Authorization,
    /// Authentication-Info (RFC 4976).
    AuthenticationInfo,
    /// Use-Nickname (RFC 7701).
    UseNickname,
    /// Any other header: kept and written back unchanged (RFC 4975 §12).
    Other,
}

const KNOWN: [(HeaderName, &str); 20] = [
    (HeaderName::ToPath, "To-Path"),
    (HeaderName::FromPath, "From-Path"),
    (HeaderName::MessageId, "Message-ID"),
    (HeaderName::SuccessReport, "Success-Report"),
    (HeaderName::FailureReport, "Failure-Report"),
    (HeaderName::ByteRange, "Byte-Range"),
    (HeaderName::Status, "Status"),
    (HeaderName::ContentType, "Content-Type"),
    (HeaderName::ContentId, "Content-ID"),
    (HeaderName::ContentDescription, "Content-Description"),
    (HeaderName::ContentDisposition, "Content-Disposition"),
    (HeaderName::Expires, "Expires"),
    (HeaderName::MinExpires, "Min-Expires"),
    (HeaderName::MaxExpires, "Max-Expires"),
    (HeaderName::UsePath, "Use-Path"),
    (HeaderName::WwwAuthenticate, "WWW-Authenticate"),
    (HeaderName::Authorization, "Authorization"),
    (HeaderName::AuthenticationInfo, "Authentication-Info"),
    (HeaderName::UseNickname, "Use-Nickname"),
    (HeaderName::OtherContent, "Content-"),
];

impl HeaderName {
    /// Recognises a header name, ignoring case. Dispatches on the length first, so a
    /// name is compared with at most two known names (this runs for every header
    /// line of every frame).
    pub fn from_bytes(name: &[u8]) -> Self {
        // Peers write the RFC's spelling: one slice match, no table walk.
        match name {
            b"To-Path" => return Self::ToPath,
            b"From-Path" => return Self::FromPath,
            b"Message-ID" => return Self::MessageId,
            b"Byte-Range" => return Self::ByteRange,
            b"Content-Type" => return Self::ContentType,
            b"Success-Report" => return Self::SuccessReport,
            b"Failure-Report" => return Self::FailureReport,
            b"Status" => return Self::Status,
            _ => {}
        }
        let candidates: &[Self] = match name.len() {
            6 => &[Self::Status],
            7 => &[Self::ToPath, Self::Expires],
            8 => &[Self::UsePath],
            9 => &[Self::FromPath],
            10 => &[Self::MessageId, Self::ByteRange, Self::ContentId],
            11 => &[Self::MinExpires, Self::MaxExpires],
            12 => &[Self::ContentType, Self::UseNickname],
            13 => &[Self::Authorization],
            14 => &[Self::SuccessReport, Self::FailureReport],
            16 => &[Self::WwwAuthenticate],
            19 => &[
                Self::ContentDescription,
                Self::ContentDisposition,
                Self::AuthenticationInfo,
            ],
            _ => &[],
        };
        for &header in candidates {
            if header
                .as_str()
                .is_some_and(|text| name.eq_ignore_ascii_case(text.as_bytes()))
            {
                return header;
            }
        }
        if name.len() > 8 && name[..8].eq_ignore_ascii_case(b"Content-") {
            return Self::OtherContent;
        }
        Self::Other
    }

    /// The canonical spelling; `None` for `OtherContent` and `Other`, whose spelling
    /// is whatever the peer wrote.
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Self::OtherContent | Self::Other => None,
            _ => KNOWN
                .iter()
                .find(|(h, _)| *h == self)
                .map(|(_, text)| *text),
        }
    }

    /// True for headers that may appear at most once.
    pub(crate) fn is_unique(self) -> bool {
        !matches!(
            self,
            Self::Other
                | Self::OtherContent
                | Self::WwwAuthenticate
                | Self::Authorization
                | Self::AuthenticationInfo
                | Self::ContentDescription
        )
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str().unwrap_or(match self {
            Self::OtherContent => "Content-* header",
            _ => "extension header",
        }))
    }
}

/// Characters of a header name after the first (RFC 4975 §9 `hname`: ALPHA then
/// alphanumerics and `-.!%*_+`'~`), as a table: this runs for every byte of every
/// header name of every frame.
const TOKEN_CHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        b += 1;
    }
    table
};

/// `hname`: ALPHA then [`TOKEN_CHAR`]s (RFC 4975 §9).
pub(crate) fn is_header_name(name: &[u8]) -> bool {
    name.first().is_some_and(u8::is_ascii_alphabetic)
        && name.iter().all(|&b| TOKEN_CHAR[usize::from(b)])
}

/// True when `value` holds a control character other than HTAB: `hval` is
/// `utf8text`, `HTAB / %x20-7E / UTF8-NONASCII` (RFC 4975 §9).
pub(crate) fn has_control_chars(value: &[u8]) -> bool {
    // No early exit: the whole value is scanned anyway when it is good (the common
    // case), and a branch-free fold vectorises.
    value.iter().fold(false, |bad, &b| {
        bad | ((b < 0x20) & (b != b'\t')) | (b == 0x7f)
    })
}

/// Why a path value (To-Path, From-Path, Use-Path) is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathError {
    /// No URI at all.
    Empty,
    /// More URIs than the limit allows.
    TooManyUris,
    /// A URI that does not parse.
    Uri(UriError),
}

/// `MSRP-URI *( SP MSRP-URI )`: one space between URIs (RFC 4975 §9), at most
/// `max_uris` of them.
pub(crate) fn check_path(value: &[u8], max_uris: usize) -> Result<(), PathError> {
    if value.is_empty() {
        return Err(PathError::Empty);
    }
    let mut count = 0;
    for uri in value.split(|&b| b == b' ') {
        count += 1;
        if count > max_uris {
            return Err(PathError::TooManyUris);
        }
        MsrpUri::validate(uri).map_err(PathError::Uri)?;
    }
    Ok(())
}

/// `namespace SP status-code [SP text-reason]`, namespace being 3DIGIT (RFC 4975
/// §7.1.2). The reason, if any, is returned as its offset into `value`.
pub(crate) fn parse_status(value: &[u8]) -> Option<(u16, StatusCode, Option<usize>)> {
    let namespace = value.get(..3).filter(|_| value.get(3) == Some(&b' '))?;
    let namespace = u16::try_from(parse_digits(namespace)?).ok()?;
    let code = u16::try_from(parse_digits(value.get(4..7)?)?).ok()?;
    let code = StatusCode::new(code)?;
    let reason = match value.get(7) {
        None => None,
        Some(b' ') => Some(8),
        Some(_) => return None,
    };
    Some((namespace, code, reason))
}

/// `type "/" subtype *( ";" parameter )`: only the shape is checked; the switch
/// compares types, it does not interpret them.
pub(crate) fn check_media_type(value: &[u8]) -> Option<()> {
    let end = memchr::memchr(b';', value).unwrap_or(value.len());
    let media = &value[..end];
    let slash = memchr::memchr(b'/', media)?;
    let token = |t: &[u8]| {
        !t.is_empty()
            && t.iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"!#$&-^_.+*".contains(&b))
    };
    (token(&media[..slash]) && token(media[slash + 1..].trim_ascii_end())).then_some(())
}

/// `DQUOTE *(qdtext / quoted-pair) DQUOTE`.
pub(crate) fn check_quoted_string(value: &[u8]) -> Option<()> {
    let inner = value.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    let mut escaped = false;
    for &b in inner {
        match (escaped, b) {
            (true, _) => escaped = false,
            (false, b'\\') => escaped = true,
            (false, b'"') => return None,
            _ => {}
        }
    }
    (!escaped).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_recognised_in_any_case_and_unknown_ones_kept_apart() {
        assert_eq!(HeaderName::from_bytes(b"To-Path"), HeaderName::ToPath);
        assert_eq!(HeaderName::from_bytes(b"to-PATH"), HeaderName::ToPath);
        assert_eq!(HeaderName::from_bytes(b"MESSAGE-id"), HeaderName::MessageId);
        assert_eq!(
            HeaderName::from_bytes(b"content-language"),
            HeaderName::OtherContent
        );
        assert_eq!(HeaderName::from_bytes(b"Content-"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"X-Foo"), HeaderName::Other);
        for (name, text) in KNOWN {
            if let Some(canonical) = name.as_str() {
                assert_eq!(canonical, text);
                assert_eq!(HeaderName::from_bytes(text.as_bytes()), name);
            }
        }
    }

    #[test]
    fn value_grammar_accepts_the_rfc_forms_and_refuses_the_rest() {
        assert!(is_header_name(b"X-Custom_1.2"));
        assert!(!is_header_name(b"1X"));
        assert!(!is_header_name(b"X Y"));
        assert!(!has_control_chars(b"a\tb ~"));
        assert!(has_control_chars(b"a\x01b"));
        assert!(has_control_chars(b"a\x7fb"));
        assert_eq!(
            parse_status(b"000 200 OK"),
            Some((0, StatusCode::new(200).unwrap(), Some(8)))
        );
        assert_eq!(parse_status(b"000 200x"), None);
        assert_eq!(check_media_type(b"text/plain; charset=utf-8"), Some(()));
        assert_eq!(check_media_type(b"text"), None);
        assert_eq!(check_quoted_string(br#""a \" b""#), Some(()));
        assert_eq!(check_quoted_string(br#""a " b""#), None);
        assert_eq!(check_path(b"", 4), Err(PathError::Empty));
        let two = b"msrp://a.example:1/s;tcp msrp://b.example:2/t;tcp";
        assert_eq!(check_path(two, 2), Ok(()));
        assert_eq!(check_path(two, 1), Err(PathError::TooManyUris));
        assert!(matches!(check_path(b"http://x", 2), Err(PathError::Uri(_))));
        assert_eq!(SuccessReport::parse(b"YES"), Some(SuccessReport::Yes));
        assert_eq!(
            FailureReport::parse(b"Partial"),
            Some(FailureReport::Partial)
        );
        assert_eq!(FailureReport::parse(b"maybe"), None);
    }
}
