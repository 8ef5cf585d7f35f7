//! MSRP URIs (RFC 4975 §6, §9) and their comparison rules (§6.1).
//!
//! ```text
//! MSRP-URI = msrp-scheme "://" authority ["/" session-id] ";" transport *( ";" URI-parameter)
//! ```
//! A URI keeps the bytes it was parsed from (a `Bytes` slice of the read buffer on the
//! hot path, so parsing a path allocates nothing) plus the offsets of its parts.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;

/// `msrp` (TCP) or `msrps` (TLS).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Scheme {
    /// `msrp://`: plain transport.
    Msrp,
    /// `msrps://`: TLS (RFC 4975 §6).
    Msrps,
}

impl Scheme {
    /// The scheme as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Msrp => "msrp",
            Self::Msrps => "msrps",
        }
    }
}

/// Offsets of a part inside the URI's bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
struct Span {
    start: u16,
    end: u16,
}

impl Span {
    fn new(start: usize, end: usize) -> Self {
        // parse() refuses URIs longer than u16::MAX, so these fit.
        Self {
            start: start as u16,
            end: end as u16,
        }
    }

    fn of(self, raw: &[u8]) -> &[u8] {
        raw.get(usize::from(self.start)..usize::from(self.end))
            .unwrap_or_default()
    }
}

/// One parsed MSRP URI.
#[derive(Clone)]
pub struct MsrpUri {
    raw: Bytes,
    scheme: Scheme,
    userinfo: Option<Span>,
    /// The host without IPv6 brackets.
    host: Span,
    port: Option<u16>,
    session_id: Option<Span>,
    transport: Span,
    /// Everything after the transport's `;`, without the leading `;`; may be empty.
    params: Span,
}

/// Why a URI is refused, naming the part at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Not `msrp://` or `msrps://`.
    #[error("scheme is not msrp or msrps")]
    Scheme,
    /// The host is empty or has characters a host cannot have.
    #[error("bad host")]
    Host,
    /// The port is empty, not digits, or over 65535.
    #[error("bad port")]
    Port,
    /// The session-id is empty or has characters outside unreserved / + = /.
    #[error("bad session-id")]
    SessionId,
    /// No `;transport`, or a transport that is not alphanumeric.
    #[error("missing or bad transport")]
    Transport,
    /// A parameter that is not `token ["=" token]`.
    #[error("bad URI parameter")]
    Parameter,
    /// Longer than 65535 bytes.
    #[error("URI too long")]
    TooLong,
}

impl MsrpUri {
    /// Parses a URI from bytes it keeps (a slice of a read buffer: no copy).
    pub fn parse(raw: Bytes) -> Result<Self, UriError> {
        let parts = parse_parts(&raw)?;
        Ok(Self { raw, ..parts })
    }

    /// Parses a URI from text, copying it (for configuration and the control API).
    pub fn parse_str(text: &str) -> Result<Self, UriError> {
        Self::parse(Bytes::copy_from_slice(text.as_bytes()))
    }

    /// Checks a URI's syntax without keeping it.
    pub fn validate(raw: &[u8]) -> Result<(), UriError> {
        parse_parts(raw).map(drop)
    }

    /// Builds a URI from its parts: how the switch makes its own local URIs.
    pub fn from_parts(
        scheme: Scheme,
        host: &str,
        port: Option<u16>,
        session_id: Option<&str>,
        transport: &str,
    ) -> Result<Self, UriError> {
        let mut text = String::with_capacity(64);
        text.push_str(scheme.as_str());
        text.push_str("://");
        if host.contains(':') && !host.starts_with('[') {
            text.push('[');
            text.push_str(host);
            text.push(']');
        } else {
            text.push_str(host);
        }
        if let Some(port) = port {
            text.push(':');
            text.push_str(itoa::Buffer::new().format(port));
        }
        if let Some(session_id) = session_id {
            text.push('/');
            text.push_str(session_id);
        }
        text.push(';');
        text.push_str(transport);
        Self::parse_str(&text)
    }

    /// The URI as it was written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The URI as text.
    pub fn as_str(&self) -> &str {
        // parse() admits only ASCII.
        std::str::from_utf8(&self.raw).unwrap_or_default()
    }

    /// `msrp` or `msrps`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The userinfo before `@`, if any (ignored when comparing, §6.1).
    pub fn userinfo(&self) -> Option<&str> {
        self.userinfo.map(|span| self.text(span))
    }

    /// The host, without brackets around an IPv6 literal.
    pub fn host(&self) -> &str {
        self.text(self.host)
    }

    /// The host as an IP address, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host().parse().ok()
    }

    /// The explicit port, if any. There is no default: §6.1 says a URI with a port
    /// never equals one without.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The session-id: the part that names one MSRP session (case-sensitive).
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.map(|span| self.text(span))
    }

    /// The transport parameter, e.g. `tcp` or `ws`.
    pub fn transport(&self) -> &str {
        self.text(self.transport)
    }

    /// The other parameters after the transport (`a=b;c`), possibly empty.
    pub fn params(&self) -> &str {
        self.text(self.params)
    }

    fn text(&self, span: Span) -> &str {
        std::str::from_utf8(span.of(&self.raw)).unwrap_or_default()
    }

    /// RFC 4975 §6.1 equality: scheme and host case-insensitive, userinfo ignored, IP
    /// addresses compared as addresses, ports equal (a missing port never equals a
    /// present one), session-id case-sensitive and present on both or neither,
    /// transport equal ignoring case, other parameters ignored.
    pub fn matches(&self, other: &Self) -> bool {
        // A peer repeats the URI it was given byte for byte: the common case costs one
        // comparison, not an IP parse per host.
        if self.raw == other.raw {
            return true;
        }
        self.scheme == other.scheme
            && self.port == other.port
            && self.session_id.map(|s| s.of(&self.raw))
                == other.session_id.map(|s| s.of(&other.raw))
            && self
                .transport
                .of(&self.raw)
                .eq_ignore_ascii_case(other.transport.of(&other.raw))
            && hosts_match(self.host.of(&self.raw), other.host.of(&other.raw))
    }

    /// RFC 6714 (CEMA) matching: the session-id alone, because a middlebox may have
    /// changed the host and port the connection came through.
    pub fn matches_session_id(&self, other: &Self) -> bool {
        matches!((self.session_id(), other.session_id()), (Some(a), Some(b)) if a == b)
    }
}

impl PartialEq for MsrpUri {
    /// Byte equality of the written form; use [`MsrpUri::matches`] for §6.1 equality.
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for MsrpUri {}

impl fmt::Display for MsrpUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for MsrpUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MsrpUri({:?})", self.as_str())
    }
}

/// Parses everything but keeps no bytes; the caller adds `raw`.
fn parse_parts(raw: &[u8]) -> Result<MsrpUri, UriError> {
    if raw.len() > usize::from(u16::MAX) {
        return Err(UriError::TooLong);
    }
    let (scheme, rest_at) = if starts_with_ignore_case(raw, b"msrps://") {
        (Scheme::Msrps, 8)
    } else if starts_with_ignore_case(raw, b"msrp://") {
        (Scheme::Msrp, 7)
    } else {
        return Err(UriError::Scheme);
    };

    // The authority runs to the first '/' (session-id) or ';' (transport).
    let authority_end = raw[rest_at..]
        .iter()
        .position(|&b| b == b'/' || b == b';')
        .map_or(raw.len(), |i| rest_at + i);
    let (userinfo, host, port) = parse_authority(raw, rest_at, authority_end)?;

    let mut at = authority_end;
    let mut session_id = None;
    if raw.get(at) == Some(&b'/') {
        let start = at + 1;
        let end = memchr::memchr(b';', &raw[start..]).map_or(raw.len(), |i| start + i);
        let id = &raw[start..end];
        if id.is_empty() || !id.iter().all(|&b| is_unreserved(b) || b"+=/".contains(&b)) {
            return Err(UriError::SessionId);
        }
        session_id = Some(Span::new(start, end));
        at = end;
    }

    // ";" transport *( ";" URI-parameter )
    if raw.get(at) != Some(&b';') {
        return Err(UriError::Transport);
    }
    let transport_start = at + 1;
    let transport_end =
        memchr::memchr(b';', &raw[transport_start..]).map_or(raw.len(), |i| transport_start + i);
    let transport = &raw[transport_start..transport_end];
    if transport.is_empty() || !transport.iter().all(u8::is_ascii_alphanumeric) {
        return Err(UriError::Transport);
    }
    let params_start = (transport_end + 1).min(raw.len());
    if transport_end < raw.len() {
        for param in raw[params_start..].split(|&b| b == b';') {
            let (name, value) = match memchr::memchr(b'=', param) {
                Some(eq) => (&param[..eq], Some(&param[eq + 1..])),
                None => (param, None),
            };
            if !is_token(name) || value.is_some_and(|v| !is_token(v)) {
                return Err(UriError::Parameter);
            }
        }
    }

    Ok(MsrpUri {
        raw: Bytes::new(),
        scheme,
        userinfo,
        host,
        port,
        session_id,
        transport: Span::new(transport_start, transport_end),
        params: Span::new(params_start, raw.len()),
    })
}

type Authority = (Option<Span>, Span, Option<u16>);

/// `[ userinfo "@" ] host [ ":" port ]` (RFC 3986 §3.2).
fn parse_authority(raw: &[u8], start: usize, end: usize) -> Result<Authority, UriError> {
    let authority = &raw[start..end];
    let (userinfo, host_start) = match memchr::memrchr(b'@', authority) {
        Some(at) => {
            if !authority[..at].iter().all(|&b| is_userinfo_char(b)) {
                return Err(UriError::Host);
            }
            (Some(Span::new(start, start + at)), start + at + 1)
        }
        None => (None, start),
    };
    let hostport = &raw[host_start..end];
    let (host, port_text) = if hostport.first() == Some(&b'[') {
        let close = memchr::memchr(b']', hostport).ok_or(UriError::Host)?;
        let literal = &hostport[1..close];
        let valid = std::str::from_utf8(literal)
            .ok()
            .and_then(|text| text.parse::<Ipv6Addr>().ok())
            .is_some();
        if !valid {
            return Err(UriError::Host);
        }
        let after = &hostport[close + 1..];
        let port = match after.first() {
            None => None,
            Some(b':') => Some(&after[1..]),
            Some(_) => return Err(UriError::Host),
        };
        (Span::new(host_start + 1, host_start + close), port)
    } else {
        let colon = memchr::memchr(b':', hostport);
        let name = &hostport[..colon.unwrap_or(hostport.len())];
        if name.is_empty() || !name.iter().all(|&b| is_reg_name_char(b)) {
            return Err(UriError::Host);
        }
        (
            Span::new(host_start, host_start + name.len()),
            colon.map(|c| &hostport[c + 1..]),
        )
    };
    let port = match port_text {
        None => None,
        Some(text) => {
            let digits = super::byte_range::parse_digits(text).ok_or(UriError::Port)?;
            Some(u16::try_from(digits).map_err(|_| UriError::Port)?)
        }
    };
    Ok((userinfo, host, port))
}

/// §6.1: IP addresses compare as addresses; names compare case-insensitively after
/// percent-decoding.
fn hosts_match(a: &[u8], b: &[u8]) -> bool {
    if let (Some(a), Some(b)) = (as_ip(a), as_ip(b)) {
        return a == b;
    }
    decoded_lowercase(a).eq(decoded_lowercase(b))
}

fn as_ip(host: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(host).ok()?;
    text.parse::<Ipv4Addr>()
        .map(IpAddr::V4)
        .or_else(|_| text.parse::<Ipv6Addr>().map(IpAddr::V6))
        .ok()
}

/// The bytes of a host with `%XX` decoded and ASCII letters lowered, without allocating.
fn decoded_lowercase(host: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let b = *host.get(at)?;
        if b == b'%'
            && let (Some(hi), Some(lo)) = (
                host.get(at + 1).and_then(|&h| hex_value(h)),
                host.get(at + 2).and_then(|&l| hex_value(l)),
            )
        {
            at += 3;
            return Some((hi << 4 | lo).to_ascii_lowercase());
        }
        at += 1;
        Some(b.to_ascii_lowercase())
    })
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

fn starts_with_ignore_case(raw: &[u8], prefix: &[u8]) -> bool {
    raw.len() >= prefix.len() && raw[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// RFC 3986 `unreserved`.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 `sub-delims` less `;` (which starts the MSRP transport).
fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'='
    )
}

fn is_reg_name_char(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || b == b'%'
}

fn is_userinfo_char(b: u8) -> bool {
    is_reg_name_char(b) || b == b':'
}

/// RFC 3261 `token`, as RFC 4975 §9 uses for URI parameters.
fn is_token(text: &[u8]) -> bool {
    !text.is_empty()
        && text.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> MsrpUri {
        MsrpUri::parse_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_every_part() {
        let u = uri("msrps://alice@atlanta.example.com:7654/jshA7weztas;tcp;a=b;c");
        assert_eq!(u.scheme(), Scheme::Msrps);
        assert_eq!(u.userinfo(), Some("alice"));
        assert_eq!(u.host(), "atlanta.example.com");
        assert_eq!(u.port(), Some(7654));
        assert_eq!(u.session_id(), Some("jshA7weztas"));
        assert_eq!(u.transport(), "tcp");
        assert_eq!(u.params(), "a=b;c");
        assert_eq!(
            u.to_string(),
            "msrps://alice@atlanta.example.com:7654/jshA7weztas;tcp;a=b;c"
        );

        let v6 = uri("msrp://[2001:db8::1]:2855/s1/x+y=;tcp");
        assert_eq!(v6.host(), "2001:db8::1");
        assert_eq!(v6.ip(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(v6.session_id(), Some("s1/x+y="));
        assert_eq!(v6.params(), "");

        let relay = uri("msrps://relay.example.net;tcp");
        assert_eq!(relay.session_id(), None);
        assert_eq!(relay.port(), None);
    }

    #[test]
    fn from_parts_brackets_ipv6() {
        let u = MsrpUri::from_parts(Scheme::Msrp, "::1", Some(2855), Some("abc"), "tcp").unwrap();
        assert_eq!(u.as_str(), "msrp://[::1]:2855/abc;tcp");
    }

    #[test]
    fn refuses_bad_uris() {
        for (text, err) in [
            ("sip://a.example;tcp", UriError::Scheme),
            ("msrp:/a.example;tcp", UriError::Scheme),
            ("msrp://;tcp", UriError::Host),
            ("msrp://a b;tcp", UriError::Host),
            ("msrp://[::1;tcp", UriError::Host),
            ("msrp://[zz::1]:1/s;tcp", UriError::Host),
            ("msrp://[::1]x/s;tcp", UriError::Host),
            ("msrp://a.example:/s;tcp", UriError::Port),
            ("msrp://a.example:70000/s;tcp", UriError::Port),
            ("msrp://a.example:12a/s;tcp", UriError::Port),
            ("msrp://a.example/;tcp", UriError::SessionId),
            ("msrp://a.example/a b;tcp", UriError::SessionId),
            ("msrp://a.example/abc", UriError::Transport),
            ("msrp://a.example/abc;", UriError::Transport),
            ("msrp://a.example/abc;t-cp", UriError::Transport),
            ("msrp://a.example/abc;tcp;", UriError::Parameter),
            ("msrp://a.example/abc;tcp;a=", UriError::Parameter),
            ("msrp://a.example/abc;tcp;a b", UriError::Parameter),
        ] {
            assert_eq!(MsrpUri::parse_str(text).err(), Some(err), "{text}");
        }
    }

    #[test]
    fn section_6_1_equality() {
        let base = uri("msrp://alice@Atlanta.Example.com:7654/jshA7we;tcp");
        // Scheme and host case-insensitive, userinfo ignored, other params ignored.
        assert!(base.matches(&uri("MSRP://atlanta.example.COM:7654/jshA7we;TCP;x=y")));
        assert!(base.matches(&uri("msrp://bob@atlanta.example.com:7654/jshA7we;tcp")));
        // Percent-encoded unreserved characters decode before comparison.
        assert!(base.matches(&uri("msrp://%61tlanta.example.com:7654/jshA7we;tcp")));
        // Port: explicit never equals absent.
        assert!(!base.matches(&uri("msrp://atlanta.example.com/jshA7we;tcp")));
        assert!(!base.matches(&uri("msrp://atlanta.example.com:7655/jshA7we;tcp")));
        // Session-id is case-sensitive and must be on both or neither.
        assert!(!base.matches(&uri("msrp://atlanta.example.com:7654/JSHA7WE;tcp")));
        assert!(!base.matches(&uri("msrp://atlanta.example.com:7654;tcp")));
        // Transport and scheme must match.
        assert!(!base.matches(&uri("msrp://atlanta.example.com:7654/jshA7we;ws")));
        assert!(!base.matches(&uri("msrps://atlanta.example.com:7654/jshA7we;tcp")));
        // IP addresses compare as addresses.
        assert!(uri("msrp://[::1]:1/s;tcp").matches(&uri("msrp://[0:0::1]:1/s;tcp")));
        assert!(!uri("msrp://127.0.0.1:1/s;tcp").matches(&uri("msrp://127.0.0.2:1/s;tcp")));
        // CEMA looks at the session-id only.
        assert!(base.matches_session_id(&uri("msrps://10.0.0.1:9/jshA7we;tcp")));
        assert!(!base.matches_session_id(&uri("msrp://atlanta.example.com:7654/jsha7we;tcp")));
    }
}
