//! The SDP `m=message` media section (RFC 4975 §8) ⇄ [`pb::Media`].
//!
//! [`parse_media_section`] reads the section an IM Server pastes into
//! `RemoteMedia.sdp`. [`format_media_section`] writes the lines the IM Server
//! pastes into its answer (or offer) from `LocalMedia.structured`.
//!
//! Which lines count:
//! - only the first `m=message` section is read. Any other `m=` section before it,
//!   with its attributes, is skipped, and everything after it is ignored;
//! - from the session level (lines before the first `m=` line), `c=` counts, and so do
//!   the attributes the RFCs allow there as a default for every media section:
//!   `a=setup` and `a=connection` (RFC 4145 §4, §5), `a=fingerprint` (RFC 4572 §5) and
//!   the direction attributes (RFC 4566 §6). A media-level line overrides them. The
//!   MSRP attributes (`a=path`, `a=accept-types`, ...) are media-level only;
//! - unknown attributes and lines are ignored. Lines may end in LF or CRLF and may be
//!   indented.
//!
//! [`SdpError::is_not_acceptable`] separates what the IM Server answers with SIP 488
//! (a stream the switch cannot take) from malformed input (`INVALID_ARGUMENT`), and
//! [`SdpError::field`] names the SDP line at fault.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::limits::quote;
use crate::pb;

/// The field name [`SdpError::field`] gives for the direction attributes.
const DIRECTION_FIELD: &str = "a=sendrecv/sendonly/recvonly/inactive";

/// Why an SDP media section could not be read. A value is quoted in the message with
/// [`quote`]: at most `QUOTED_CHARS` characters, so a huge line never makes a huge
/// error (the daemon puts the message into the gRPC status).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// There is no `m=message` line.
    #[error("no m=message media section")]
    NoMessageMedia,
    /// The `m=message` line is malformed (bad port, no protocol, no format list).
    #[error("malformed m= line {}", quote(.0))]
    BadMediaLine(String),
    /// The `m=message` protocol is neither `TCP/MSRP` nor `TCP/TLS/MSRP`.
    #[error("unsupported MSRP transport {} (expected TCP/MSRP, TCP/TLS/MSRP, TCP/WS/MSRP or TCP/WSS/MSRP)", quote(.0))]
    UnknownTransport(String),
    /// The `m=message` port is 0: the stream is rejected or disabled.
    #[error("m=message port is 0: the stream is rejected")]
    PortZero,
    /// The effective `c=` line is malformed.
    #[error("malformed c= line {}", quote(.0))]
    BadConnectionLine(String),
    /// Neither the media section nor the session level has a `c=` line.
    #[error("no c= line at media or session level")]
    MissingConnectionAddress,
    /// No `a=path` attribute, or one with no URI.
    #[error("no a=path URI")]
    MissingPath,
    /// An `a=path` entry that is not an `msrp://` or `msrps://` URI.
    #[error("a=path entry {} is not an msrp:// or msrps:// URI", quote(.0))]
    BadPath(String),
    /// No `a=accept-types` attribute, or one with no type (RFC 4975 §8 makes it
    /// mandatory).
    #[error("no a=accept-types")]
    MissingAcceptTypes,
    /// An `a=max-size` value that is not a decimal number of octets.
    #[error("a=max-size value {} is not a decimal number", quote(.0))]
    BadMaxSize(String),
    /// An `a=setup` value other than active, passive, actpass or holdconn.
    #[error("a=setup value {} is not active, passive, actpass or holdconn", quote(.0))]
    BadSetup(String),
    /// An `a=connection` value other than new or existing.
    #[error("a=connection value {} is not new or existing", quote(.0))]
    BadConnection(String),
    /// An `a=fingerprint` value that is not `<hash-func> <hex:pairs>`.
    #[error("a=fingerprint value {} is not \"hash-func XX:XX:...\"", quote(.0))]
    BadFingerprint(String),
    /// An attribute or line that may appear once appears twice at the same level
    /// (the field it names, e.g. `a=path`).
    #[error("{0} appears more than once")]
    DuplicateAttribute(&'static str),
}

impl SdpError {
    /// The SDP line or attribute the error is about (`"m="`, `"c="`, `"a=path"`, ...),
    /// for the field violation of an `INVALID_ARGUMENT` status.
    pub fn field(&self) -> &'static str {
        match self {
            Self::NoMessageMedia
            | Self::BadMediaLine(_)
            | Self::UnknownTransport(_)
            | Self::PortZero => "m=",
            Self::BadConnectionLine(_) | Self::MissingConnectionAddress => "c=",
            Self::MissingPath | Self::BadPath(_) => "a=path",
            Self::MissingAcceptTypes => "a=accept-types",
            Self::BadMaxSize(_) => "a=max-size",
            Self::BadSetup(_) => "a=setup",
            Self::BadConnection(_) => "a=connection",
            Self::BadFingerprint(_) => "a=fingerprint",
            Self::DuplicateAttribute(field) => field,
        }
    }

    /// True when the SDP is well formed but describes a stream the switch cannot
    /// take (an unknown transport, a rejected stream): the IM Server answers SIP 488.
    /// False for malformed input (`INVALID_ARGUMENT`).
    pub fn is_not_acceptable(&self) -> bool {
        matches!(self, Self::UnknownTransport(_) | Self::PortZero)
    }
}

/// The attributes allowed at session level as well as media level.
#[derive(Default)]
struct Shared {
    /// The raw value of the `c=` line.
    connection_line: Option<String>,
    setup: Option<pb::Setup>,
    connection: Option<String>,
    fingerprint: Option<String>,
    /// The direction token; `"sendrecv"` included.
    direction: Option<&'static str>,
}

/// The `m=message` section read so far.
struct Section {
    transport: pb::Transport,
    port: u32,
    shared: Shared,
    path: Option<Vec<String>>,
    accept_types: Option<Vec<String>>,
    accept_wrapped_types: Option<Vec<String>>,
    max_size: Option<u64>,
    cema: bool,
    chatroom: Vec<String>,
}

/// Where in the SDP the current line is.
enum Level {
    Session,
    OtherMedia,
    Message(Box<Section>),
}

/// Reads an SDP `m=message` media section (RFC 4975 §8) into a [`pb::Media`].
///
/// The input is what an IM Server pastes: the `m=message` section with its `c=` line
/// and attributes, optionally preceded by session-level lines and other media
/// sections, and followed by anything. The first `m=message` section is read; see
/// the module documentation for which session-level lines count.
///
/// Normalisation: `a=sendrecv` gives an empty `direction` (the proto's default), the
/// `a=setup` and `a=connection` tokens and the direction are read
/// case-insensitively, and the fingerprint is stored as `"<hash-func> <hex>"` with
/// one space. `a=chatroom` lines accumulate. Several `a=fingerprint` lines (one per
/// hash function, RFC 8122 §5) are all checked and the strongest is kept. Any other
/// attribute, and `c=`, may appear once per level ([`SdpError::DuplicateAttribute`]).
///
/// # Errors
///
/// An [`SdpError`] naming the first line that is wrong or the mandatory line that is
/// missing (`a=path`, `a=accept-types`, `c=`). A port of 0 and a transport other
/// than `TCP/MSRP` or `TCP/TLS/MSRP` are [`SdpError::is_not_acceptable`].
pub fn parse_media_section(sdp: &str) -> Result<pb::Media, SdpError> {
    let mut session = Shared::default();
    let mut level = Level::Session;
    for line in sdp.lines() {
        let line = line.trim();
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        if kind == "m" {
            if matches!(level, Level::Message(_)) {
                break;
            }
            let media_type = value.split_ascii_whitespace().next().unwrap_or("");
            if media_type.eq_ignore_ascii_case("message") {
                let (transport, port) = parse_media_line(line, value)?;
                level = Level::Message(Box::new(Section {
                    transport,
                    port,
                    shared: Shared::default(),
                    path: None,
                    accept_types: None,
                    accept_wrapped_types: None,
                    max_size: None,
                    cema: false,
                    chatroom: Vec::new(),
                }));
            } else {
                level = Level::OtherMedia;
            }
            continue;
        }
        match &mut level {
            Level::OtherMedia => {}
            Level::Session => match kind {
                "c" => set_once(&mut session.connection_line, value.to_owned(), "c=")?,
                "a" => {
                    let (name, attr_value) = split_attribute(value);
                    shared_attribute(&mut session, &name, attr_value)?;
                }
                _ => {}
            },
            Level::Message(section) => match kind {
                "c" => set_once(&mut section.shared.connection_line, value.to_owned(), "c=")?,
                "a" => media_attribute(section, value)?,
                _ => {}
            },
        }
    }
    let Level::Message(section) = level else {
        return Err(SdpError::NoMessageMedia);
    };
    let Section {
        transport,
        port,
        shared,
        path,
        accept_types,
        accept_wrapped_types,
        max_size,
        cema,
        chatroom,
    } = *section;
    let path = path.ok_or(SdpError::MissingPath)?;
    let accept_types = accept_types.ok_or(SdpError::MissingAcceptTypes)?;
    let connection_line = shared
        .connection_line
        .or(session.connection_line)
        .ok_or(SdpError::MissingConnectionAddress)?;
    let connection_address = parse_connection_line(&connection_line)?;
    let direction = match shared.direction.or(session.direction) {
        None | Some("sendrecv") => String::new(),
        Some(direction) => direction.to_owned(),
    };
    Ok(pb::Media {
        path,
        accept_types,
        accept_wrapped_types: accept_wrapped_types.unwrap_or_default(),
        max_size: max_size.unwrap_or(0),
        setup: shared
            .setup
            .or(session.setup)
            .unwrap_or(pb::Setup::Unspecified) as i32,
        connection: shared.connection.or(session.connection).unwrap_or_default(),
        fingerprint: shared
            .fingerprint
            .or(session.fingerprint)
            .unwrap_or_default(),
        cema,
        chatroom,
        transport: transport as i32,
        connection_address,
        port,
        direction,
    })
}

/// Reads `m=message <port> <proto> <fmt>...`: the transport and the port.
fn parse_media_line(line: &str, value: &str) -> Result<(pb::Transport, u32), SdpError> {
    let bad = || SdpError::BadMediaLine(line.to_owned());
    let mut tokens = value.split_ascii_whitespace().skip(1);
    let port = tokens.next().ok_or_else(bad)?;
    let proto = tokens.next().ok_or_else(bad)?;
    if tokens.next().is_none() {
        return Err(bad());
    }
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let port = port.parse::<u16>().map_err(|_| bad())?;
    let transport = if proto.eq_ignore_ascii_case("TCP/MSRP") {
        pb::Transport::Tcp
    } else if proto.eq_ignore_ascii_case("TCP/TLS/MSRP") {
        pb::Transport::Tls
    } else if proto.eq_ignore_ascii_case("TCP/WS/MSRP") {
        pb::Transport::Ws
    } else if proto.eq_ignore_ascii_case("TCP/WSS/MSRP") {
        pb::Transport::Wss
    } else {
        return Err(SdpError::UnknownTransport(proto.to_owned()));
    };
    if port == 0 {
        return Err(SdpError::PortZero);
    }
    Ok((transport, u32::from(port)))
}

/// Reads the value of `c=IN IP4|IP6 <address>` into the address.
fn parse_connection_line(value: &str) -> Result<String, SdpError> {
    let bad = || SdpError::BadConnectionLine(format!("c={value}"));
    let mut tokens = value.split_ascii_whitespace();
    let (Some(net_type), Some(addr_type), Some(address), None) =
        (tokens.next(), tokens.next(), tokens.next(), tokens.next())
    else {
        return Err(bad());
    };
    if !net_type.eq_ignore_ascii_case("IN") || address.contains('/') {
        return Err(bad());
    }
    let ip6 = if addr_type.eq_ignore_ascii_case("IP4") {
        false
    } else if addr_type.eq_ignore_ascii_case("IP6") {
        true
    } else {
        return Err(bad());
    };
    // A literal address must match the address type; anything else is a host name.
    match address.parse::<IpAddr>() {
        Ok(ip) if ip.is_ipv6() != ip6 => Err(bad()),
        Ok(_) => Ok(address.to_owned()),
        Err(_) if !ip6 && address.contains(':') => Err(bad()),
        Err(_) => Ok(address.to_owned()),
    }
}

/// Splits an attribute (the text after `a=`) into its lower-cased name and value.
fn split_attribute(attribute: &str) -> (String, &str) {
    let (name, value) = attribute.split_once(':').unwrap_or((attribute, ""));
    (name.trim().to_ascii_lowercase(), value.trim())
}

/// Stores `value` unless the slot is already taken at this level.
fn set_once<T>(slot: &mut Option<T>, value: T, field: &'static str) -> Result<(), SdpError> {
    if slot.is_some() {
        return Err(SdpError::DuplicateAttribute(field));
    }
    *slot = Some(value);
    Ok(())
}

/// Applies an attribute that may appear at session or media level; unknown
/// attributes are ignored.
fn shared_attribute(shared: &mut Shared, name: &str, value: &str) -> Result<(), SdpError> {
    match name {
        "setup" => {
            let setup = match value.to_ascii_lowercase().as_str() {
                "active" => pb::Setup::Active,
                "passive" => pb::Setup::Passive,
                "actpass" => pb::Setup::Actpass,
                "holdconn" => pb::Setup::Holdconn,
                _ => return Err(SdpError::BadSetup(value.to_owned())),
            };
            set_once(&mut shared.setup, setup, "a=setup")
        }
        "connection" => {
            let connection = value.to_ascii_lowercase();
            if connection != "new" && connection != "existing" {
                return Err(SdpError::BadConnection(value.to_owned()));
            }
            set_once(&mut shared.connection, connection, "a=connection")
        }
        "fingerprint" => {
            let fingerprint = parse_fingerprint(value)
                .ok_or_else(|| SdpError::BadFingerprint(value.to_owned()))?;
            // RFC 8122 §5 allows one line per hash function and the strongest
            // is the one to check; the proto holds one: the strongest (the
            // first of equals).
            let stronger = shared
                .fingerprint
                .as_deref()
                .is_none_or(|kept| hash_strength(&fingerprint) > hash_strength(kept));
            if stronger {
                shared.fingerprint = Some(fingerprint);
            }
            Ok(())
        }
        "sendrecv" => set_once(&mut shared.direction, "sendrecv", DIRECTION_FIELD),
        "sendonly" => set_once(&mut shared.direction, "sendonly", DIRECTION_FIELD),
        "recvonly" => set_once(&mut shared.direction, "recvonly", DIRECTION_FIELD),
        "inactive" => set_once(&mut shared.direction, "inactive", DIRECTION_FIELD),
        _ => Ok(()),
    }
}

/// Applies an attribute line (the text after `a=`) of the `m=message` section.
fn media_attribute(section: &mut Section, attribute: &str) -> Result<(), SdpError> {
    let (name, value) = split_attribute(attribute);
    match name.as_str() {
        "path" => {
            let path = tokens(value);
            if path.is_empty() {
                return Err(SdpError::MissingPath);
            }
            if let Some(bad) = path.iter().find(|uri| !is_msrp_uri(uri)) {
                return Err(SdpError::BadPath(bad.clone()));
            }
            set_once(&mut section.path, path, "a=path")
        }
        "accept-types" => {
            let types = tokens(value);
            if types.is_empty() {
                return Err(SdpError::MissingAcceptTypes);
            }
            set_once(&mut section.accept_types, types, "a=accept-types")
        }
        "accept-wrapped-types" => set_once(
            &mut section.accept_wrapped_types,
            tokens(value),
            "a=accept-wrapped-types",
        ),
        "max-size" => {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SdpError::BadMaxSize(value.to_owned()));
            }
            let size = value
                .parse::<u64>()
                .map_err(|_| SdpError::BadMaxSize(value.to_owned()))?;
            set_once(&mut section.max_size, size, "a=max-size")
        }
        "msrp-cema" => {
            section.cema = true;
            Ok(())
        }
        "chatroom" => {
            section.chatroom.extend(tokens(value));
            Ok(())
        }
        _ => shared_attribute(&mut section.shared, &name, value),
    }
}

/// The whitespace-separated tokens of an attribute value.
fn tokens(value: &str) -> Vec<String> {
    value.split_ascii_whitespace().map(str::to_owned).collect()
}

/// Minimal MSRP URI check: the `msrp://` or `msrps://` scheme, any case, and more.
fn is_msrp_uri(uri: &str) -> bool {
    ["msrp://", "msrps://"].iter().any(|scheme| {
        uri.len() > scheme.len()
            && uri
                .get(..scheme.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
    })
}

/// How strong a fingerprint's hash function is: its digest length (sha-1 20,
/// sha-256 32, ... bytes), so unknown functions rank by what they carry.
fn hash_strength(fingerprint: &str) -> usize {
    fingerprint
        .split_once(' ')
        .map_or(0, |(_, hex)| hex.split(':').count())
}

/// Reads `<hash-func> <XX:XX:...>` (RFC 4572 §5) into `"hash-func XX:XX:..."`.
fn parse_fingerprint(value: &str) -> Option<String> {
    let mut tokens = value.split_ascii_whitespace();
    let (Some(hash), Some(fingerprint), None) = (tokens.next(), tokens.next(), tokens.next())
    else {
        return None;
    };
    let hash_ok = hash.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let fingerprint_ok = fingerprint
        .split(':')
        .all(|pair| pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit()));
    (hash_ok && fingerprint_ok).then(|| format!("{hash} {fingerprint}"))
}

/// Writes the `m=message` section of `media` as SDP lines, each ending in CRLF, to
/// paste into an answer or offer.
///
/// Order: `m=message <port> TCP/MSRP *` (`TCP/TLS/MSRP` for TLS; an unspecified
/// transport is written as TCP), `c=IN IP4|IP6 <address>` (IP6 when the address
/// contains `:`), `a=path`, `a=accept-types`, then the optional lines when set:
/// `a=accept-wrapped-types`, `a=max-size`, `a=setup`, `a=connection`,
/// `a=fingerprint`, `a=msrp-cema`, `a=chatroom`, and the direction unless it is
/// empty or `sendrecv`.
///
/// Lines that would be malformed are left out rather than written empty: `c=` when
/// the address is empty, `a=path` and `a=accept-types` when the list is empty. For
/// every media this can express (a valid port, non-empty mandatory fields, tokens
/// without whitespace, a known direction), [`parse_media_section`] gives it back.
pub fn format_media_section(media: &pb::Media) -> String {
    let mut out = String::new();
    let proto = match pb::Transport::try_from(media.transport) {
        Ok(pb::Transport::Tls) => "TCP/TLS/MSRP",
        Ok(pb::Transport::Ws) => "TCP/WS/MSRP",
        Ok(pb::Transport::Wss) => "TCP/WSS/MSRP",
        _ => "TCP/MSRP",
    };
    line(&mut out, format_args!("m=message {} {proto} *", media.port));
    if !media.connection_address.is_empty() {
        let addr_type = if media.connection_address.contains(':') {
            "IP6"
        } else {
            "IP4"
        };
        line(
            &mut out,
            format_args!("c=IN {addr_type} {}", media.connection_address),
        );
    }
    if !media.path.is_empty() {
        line(&mut out, format_args!("a=path:{}", media.path.join(" ")));
    }
    if !media.accept_types.is_empty() {
        line(
            &mut out,
            format_args!("a=accept-types:{}", media.accept_types.join(" ")),
        );
    }
    if !media.accept_wrapped_types.is_empty() {
        line(
            &mut out,
            format_args!(
                "a=accept-wrapped-types:{}",
                media.accept_wrapped_types.join(" ")
            ),
        );
    }
    if media.max_size != 0 {
        line(&mut out, format_args!("a=max-size:{}", media.max_size));
    }
    let setup = match pb::Setup::try_from(media.setup) {
        Ok(pb::Setup::Active) => Some("active"),
        Ok(pb::Setup::Passive) => Some("passive"),
        Ok(pb::Setup::Actpass) => Some("actpass"),
        Ok(pb::Setup::Holdconn) => Some("holdconn"),
        Ok(pb::Setup::Unspecified) | Err(_) => None,
    };
    if let Some(setup) = setup {
        line(&mut out, format_args!("a=setup:{setup}"));
    }
    if !media.connection.is_empty() {
        line(&mut out, format_args!("a=connection:{}", media.connection));
    }
    if !media.fingerprint.is_empty() {
        line(
            &mut out,
            format_args!("a=fingerprint:{}", media.fingerprint),
        );
    }
    if media.cema {
        line(&mut out, format_args!("a=msrp-cema"));
    }
    if !media.chatroom.is_empty() {
        line(
            &mut out,
            format_args!("a=chatroom:{}", media.chatroom.join(" ")),
        );
    }
    if !media.direction.is_empty() && !media.direction.eq_ignore_ascii_case("sendrecv") {
        line(&mut out, format_args!("a={}", media.direction));
    }
    out
}

/// Appends one SDP line and its CRLF.
/// `sdp`, a whole SIP body, with its first `m=message` section (its `m=` line
/// and every line up to the next `m=` line) replaced by `section` (CRLF lines,
/// as [`format_media_section`] writes them): what a SIP proxy forwards once the
/// switch anchors the MSRP. The session level and every other media section
/// stay as they were (an audio section keeps its lines for rtpengine). Lines
/// end in CRLF. `None` if `sdp` has no `m=message` section.
pub fn replace_message_section(sdp: &str, section: &str) -> Option<String> {
    let mut out = String::with_capacity(sdp.len() + section.len());
    let mut state = Replace::Before;
    for raw in sdp.lines() {
        let is_media = raw.trim_start().starts_with("m=");
        state = match (state, is_media) {
            (Replace::Before, true) if is_message_line(raw) => {
                out.push_str(section);
                Replace::Inside
            }
            (Replace::Inside, false) => Replace::Inside,
            (Replace::Inside, true) => Replace::After,
            (other, _) => other,
        };
        if state != Replace::Inside {
            out.push_str(raw.trim_end_matches('\r'));
            out.push_str("\r\n");
        }
    }
    (state != Replace::Before).then_some(out)
}

/// Where [`replace_message_section`] is in the body.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replace {
    Before,
    Inside,
    After,
}

/// True for an `m=message ...` line.
fn is_message_line(line: &str) -> bool {
    line.trim_start()
        .strip_prefix("m=")
        .and_then(|value| value.split_ascii_whitespace().next())
        .is_some_and(|media| media.eq_ignore_ascii_case("message"))
}

/// The answer a conference focus sends to `offer` when the switch is its MSRP
/// end (RFC 3264 §6): a session level of its own (`o=` at `address`, with
/// `session_id` and `version`), `section` in place of the offer's first
/// `m=message` section, and every other offered section refused with port 0
/// (its media type, protocol and formats kept, as §6 asks). Lines end in CRLF.
pub fn answer_with_message_section(
    offer: &str,
    section: &str,
    address: &str,
    session_id: u64,
    version: u64,
) -> String {
    let family = if address.contains(':') { "IP6" } else { "IP4" };
    let mut out = String::with_capacity(256 + section.len());
    line(&mut out, format_args!("v=0"));
    line(
        &mut out,
        format_args!("o=msrp-switch {session_id} {version} IN {family} {address}"),
    );
    line(&mut out, format_args!("s=-"));
    line(&mut out, format_args!("t=0 0"));
    let mut answered = false;
    for raw in offer.lines() {
        let Some(value) = raw.trim().strip_prefix("m=") else {
            continue;
        };
        if !answered && is_message_line(raw) {
            out.push_str(section);
            answered = true;
            continue;
        }
        let mut tokens = value.split_ascii_whitespace();
        let media = tokens.next().unwrap_or("-");
        let _port = tokens.next();
        let rest: Vec<&str> = tokens.collect();
        line(&mut out, format_args!("m={media} 0 {}", rest.join(" ")));
    }
    out
}

fn line(out: &mut String, text: std::fmt::Arguments<'_>) {
    // Writing to a String cannot fail.
    let _ = out.write_fmt(text);
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid `m=message` section with `extra` lines appended.
    fn section(extra: &str) -> String {
        format!(
            "m=message 7394 TCP/MSRP *\n\
             c=IN IP4 10.0.0.1\n\
             a=path:msrp://10.0.0.1:7394/s1;tcp\n\
             a=accept-types:message/cpim\n\
             {extra}"
        )
    }

    fn err(sdp: &str) -> SdpError {
        parse_media_section(sdp).unwrap_err()
    }

    fn rcs_expected() -> pb::Media {
        pb::Media {
            path: vec!["msrp://10.0.0.1:49152/4a9c1f2e;tcp".into()],
            accept_types: vec![
                "message/cpim".into(),
                "application/im-iscomposing+xml".into(),
            ],
            accept_wrapped_types: vec!["text/plain".into(), "message/imdn+xml".into()],
            max_size: 0,
            setup: pb::Setup::Active as i32,
            connection: String::new(),
            fingerprint: String::new(),
            cema: true,
            chatroom: Vec::new(),
            transport: pb::Transport::Tcp as i32,
            connection_address: "10.0.0.1".into(),
            port: 49152,
            direction: String::new(),
        }
    }

    const RCS_OFFER: &str = "v=0\r\n\
        o=- 3917342165 3917342165 IN IP4 10.0.0.1\r\n\
        s=-\r\n\
        c=IN IP4 10.0.0.1\r\n\
        t=0 0\r\n\
        a=tool:rcs-client 1.0\r\n\
        m=message 49152 TCP/MSRP *\r\n\
        a=accept-types:message/cpim application/im-iscomposing+xml\r\n\
        a=accept-wrapped-types:text/plain message/imdn+xml\r\n\
        a=path:msrp://10.0.0.1:49152/4a9c1f2e;tcp\r\n\
        a=setup:active\r\n\
        a=msrp-cema\r\n\
        a=sendrecv\r\n";

    #[test]
    fn rcs_offer_with_session_lines() {
        assert_eq!(parse_media_section(RCS_OFFER).unwrap(), rcs_expected());
    }

    #[test]
    fn lf_crlf_and_indentation_read_the_same() {
        let lf = RCS_OFFER.replace("\r\n", "\n");
        assert_eq!(parse_media_section(&lf).unwrap(), rcs_expected());
        let indented: String = lf.lines().map(|l| format!("   {l} \t\r\n")).collect();
        assert_eq!(parse_media_section(&indented).unwrap(), rcs_expected());
        let blank_lines = format!("\n\n{}\n\n", lf.replace('\n', "\n\n"));
        assert_eq!(parse_media_section(&blank_lines).unwrap(), rcs_expected());
        // No final line ending.
        assert_eq!(parse_media_section(lf.trim_end()).unwrap(), rcs_expected());
    }

    #[test]
    fn two_path_uris_relay_then_endpoint() {
        let sdp = "m=message 2855 TCP/MSRP *\n\
                   c=IN IP4 192.0.2.7\n\
                   a=path:msrps://relay.example.net:2855/kjhd37s2s20w2a;tcp msrp://192.0.2.7:2855/9di4eae923;tcp\n\
                   a=accept-types:message/cpim text/plain\n\
                   a=max-size:131072\n";
        let media = parse_media_section(sdp).unwrap();
        assert_eq!(
            media.path,
            vec![
                "msrps://relay.example.net:2855/kjhd37s2s20w2a;tcp".to_owned(),
                "msrp://192.0.2.7:2855/9di4eae923;tcp".to_owned(),
            ]
        );
        assert_eq!(media.max_size, 131_072);
        assert_eq!(media.port, 2855);
        assert_eq!(media.setup, pb::Setup::Unspecified as i32);
        assert!(media.accept_wrapped_types.is_empty());
    }

    #[test]
    fn ipv6_connection_line() {
        let sdp = "v=0\n\
                   c=IN IP6 2001:db8::1\n\
                   m=message 12763 TCP/MSRP *\n\
                   c=IN IP6 2001:db8::2\n\
                   a=path:msrp://[2001:db8::2]:12763/jshA7we;tcp\n\
                   a=accept-types:*\n";
        let media = parse_media_section(sdp).unwrap();
        assert_eq!(media.connection_address, "2001:db8::2");
        assert_eq!(
            media.path,
            vec!["msrp://[2001:db8::2]:12763/jshA7we;tcp".to_owned()]
        );
        assert_eq!(media.accept_types, vec!["*".to_owned()]);
    }

    #[test]
    fn session_level_c_applies_and_media_level_overrides_it() {
        let sdp = "c=IN IP4 198.51.100.1\n\
                   m=message 7394 TCP/MSRP *\n\
                   a=path:msrp://198.51.100.1:7394/s1;tcp\n\
                   a=accept-types:text/plain\n";
        assert_eq!(
            parse_media_section(sdp).unwrap().connection_address,
            "198.51.100.1"
        );
        let sdp = format!("c=IN IP4 198.51.100.1\n{}", section(""));
        assert_eq!(
            parse_media_section(&sdp).unwrap().connection_address,
            "10.0.0.1"
        );
        // A session-level c= that is overridden is never read.
        let sdp = format!("c=garbage\n{}", section(""));
        assert_eq!(
            parse_media_section(&sdp).unwrap().connection_address,
            "10.0.0.1"
        );
        // A host name is a valid address.
        let sdp = section("").replace("c=IN IP4 10.0.0.1", "c=IN IP4 msrp.example.com");
        assert_eq!(
            parse_media_section(&sdp).unwrap().connection_address,
            "msrp.example.com"
        );
    }

    #[test]
    fn tls_transport_with_fingerprint() {
        let sdp = "v=0\r\n\
                   o=alice 2890844526 2890844527 IN IP4 atlanta.example.com\r\n\
                   s=-\r\n\
                   t=0 0\r\n\
                   m=message 12763 TCP/TLS/MSRP *\r\n\
                   c=IN IP4 atlanta.example.com\r\n\
                   a=accept-types:text/plain\r\n\
                   a=path:msrps://atlanta.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
                   a=fingerprint:SHA-256  4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB\r\n\
                   a=setup:passive\r\n\
                   a=connection:new\r\n";
        let media = parse_media_section(sdp).unwrap();
        assert_eq!(media.transport, pb::Transport::Tls as i32);
        assert_eq!(
            media.fingerprint,
            "SHA-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB"
        );
        assert_eq!(media.setup, pb::Setup::Passive as i32);
        assert_eq!(media.connection, "new");
        assert_eq!(media.connection_address, "atlanta.example.com");
        assert!(!media.cema);
    }

    #[test]
    fn audio_section_before_message_does_not_leak() {
        let sdp = "v=0\n\
                   o=- 1 1 IN IP4 10.0.0.1\n\
                   s=-\n\
                   c=IN IP4 10.0.0.1\n\
                   t=0 0\n\
                   m=audio 49170 RTP/AVP 0 8\n\
                   c=IN IP4 192.0.2.99\n\
                   a=rtpmap:0 PCMU/8000\n\
                   a=sendonly\n\
                   a=setup:passive\n\
                   a=connection:existing\n\
                   a=fingerprint:sha-1 AA:BB\n\
                   a=path:msrp://192.0.2.99:1/leak;tcp\n\
                   a=accept-types:audio/leak\n\
                   a=max-size:1\n\
                   a=msrp-cema\n\
                   a=chatroom:leak\n\
                   m=message 49152 TCP/MSRP *\n\
                   a=path:msrp://10.0.0.1:49152/4a9c1f2e;tcp\n\
                   a=accept-types:message/cpim\n";
        let media = parse_media_section(sdp).unwrap();
        assert_eq!(
            media,
            pb::Media {
                path: vec!["msrp://10.0.0.1:49152/4a9c1f2e;tcp".into()],
                accept_types: vec!["message/cpim".into()],
                transport: pb::Transport::Tcp as i32,
                connection_address: "10.0.0.1".into(),
                port: 49152,
                ..pb::Media::default()
            }
        );
    }

    #[test]
    fn sections_after_message_are_ignored() {
        let sdp = section(
            "a=max-size:1024\n\
             m=message 9 TCP/MSRP *\n\
             c=IN IP4 192.0.2.1\n\
             a=path:msrp://192.0.2.1:9/second;tcp\n\
             a=max-size:1\n\
             m=video 0 RTP/AVP 96\n\
             a=setup:bogus\n",
        );
        let media = parse_media_section(&sdp).unwrap();
        assert_eq!(media.path, vec!["msrp://10.0.0.1:7394/s1;tcp".to_owned()]);
        assert_eq!(media.max_size, 1024);
        assert_eq!(media.connection_address, "10.0.0.1");
    }

    #[test]
    fn session_level_setup_connection_fingerprint_direction_are_defaults() {
        let defaults = "a=setup:actpass\n\
                        a=connection:existing\n\
                        a=fingerprint:sha-1 01:23:45\n\
                        a=recvonly\n\
                        a=path:msrp://ignored.invalid/x;tcp\n\
                        a=accept-types:ignored/ignored\n\
                        a=msrp-cema\n";
        let media = parse_media_section(&format!("{defaults}{}", section(""))).unwrap();
        assert_eq!(media.setup, pb::Setup::Actpass as i32);
        assert_eq!(media.connection, "existing");
        assert_eq!(media.fingerprint, "sha-1 01:23:45");
        assert_eq!(media.direction, "recvonly");
        assert_eq!(media.path, vec!["msrp://10.0.0.1:7394/s1;tcp".to_owned()]);
        assert_eq!(media.accept_types, vec!["message/cpim".to_owned()]);
        assert!(!media.cema, "a=msrp-cema is media-level only");

        let overrides =
            "a=setup:holdconn\na=connection:new\na=fingerprint:sha-256 AB:CD\na=sendrecv\n";
        let media = parse_media_section(&format!("{defaults}{}", section(overrides))).unwrap();
        assert_eq!(media.setup, pb::Setup::Holdconn as i32);
        assert_eq!(media.connection, "new");
        assert_eq!(media.fingerprint, "sha-256 AB:CD");
        assert_eq!(media.direction, "");
    }

    #[test]
    fn of_several_fingerprints_the_strongest_is_kept() {
        let sha1 = format!("sha-1 {}", ["11"; 20].join(":"));
        let sha256 = format!("sha-256 {}", ["22"; 32].join(":"));
        let sha256b = format!("sha-256 {}", ["33"; 32].join(":"));
        let lines =
            format!("a=fingerprint:{sha1}\na=fingerprint:{sha256}\na=fingerprint:{sha256b}\n");
        let media = parse_media_section(&section(&lines)).unwrap();
        assert_eq!(media.fingerprint, sha256);
        let lines = format!("a=fingerprint:{sha256}\na=fingerprint:{sha1}\n");
        let media = parse_media_section(&section(&lines)).unwrap();
        assert_eq!(media.fingerprint, sha256);
    }

    #[test]
    fn directions_chatroom_and_unknown_attributes() {
        for direction in ["sendonly", "recvonly", "inactive"] {
            let media = parse_media_section(&section(&format!("a={direction}\n"))).unwrap();
            assert_eq!(media.direction, direction);
        }
        let media = parse_media_section(&section("a=SendOnly\n")).unwrap();
        assert_eq!(media.direction, "sendonly");
        let media = parse_media_section(&section("a=sendrecv\n")).unwrap();
        assert_eq!(media.direction, "");

        let media = parse_media_section(&section(
            "a=chatroom:nickname private-messages\n\
             a=file-selector:name:\"cat.jpg\" type:image/jpeg size:32349\n\
             a=file-transfer-id:vBnG916bdberum2fFEABR1FR3ExZMUrd\n\
             a=chatroom:bridge\n\
             a=x-unknown\n\
             b=AS:64\n\
             i=chat\n\
             not an sdp line\n",
        ))
        .unwrap();
        assert_eq!(
            media.chatroom,
            vec!["nickname", "private-messages", "bridge"]
        );
    }

    #[test]
    fn case_insensitive_tokens() {
        let sdp = "M=ignored\n\
                   m=MESSAGE 7394 tcp/tls/msrp *\n\
                   c=in ip4 10.0.0.1\n\
                   a=Path:MSRPS://10.0.0.1:7394/s1;tcp\n\
                   a=accept-types:message/cpim\n\
                   a=setup:ACTIVE\n\
                   a=connection:New\n";
        let media = parse_media_section(sdp).unwrap();
        assert_eq!(media.transport, pb::Transport::Tls as i32);
        assert_eq!(media.path, vec!["MSRPS://10.0.0.1:7394/s1;tcp".to_owned()]);
        assert_eq!(media.setup, pb::Setup::Active as i32);
        assert_eq!(media.connection, "new");
    }

    #[test]
    fn error_no_message_media() {
        assert_eq!(err(""), SdpError::NoMessageMedia);
        assert_eq!(err("v=0\nc=IN IP4 10.0.0.1\n"), SdpError::NoMessageMedia);
        assert_eq!(
            err("m=audio 49170 RTP/AVP 0\na=path:msrp://a.invalid/x;tcp\n"),
            SdpError::NoMessageMedia
        );
        // Attributes without an m= line are session-level: still no media.
        assert_eq!(
            err("a=path:msrp://a.invalid/x;tcp\na=accept-types:*\n"),
            SdpError::NoMessageMedia
        );
    }

    #[test]
    fn error_bad_media_line() {
        for line in [
            "m=message",
            "m=message 7394",
            "m=message 7394 TCP/MSRP",
            "m=message seven TCP/MSRP *",
            "m=message -1 TCP/MSRP *",
            "m=message 65536 TCP/MSRP *",
            "m=message 7394/2 TCP/MSRP *",
        ] {
            let sdp = section("").replace("m=message 7394 TCP/MSRP *", line);
            assert_eq!(err(&sdp), SdpError::BadMediaLine(line.to_owned()), "{line}");
        }
    }

    #[test]
    fn a_huge_bad_line_makes_a_short_error() {
        // Control characters print as `\u{14}`: quoted whole, a 16 KiB line made a
        // 100 KB message (found by the sdp fuzz target).
        let line = format!("m=message 40001 TCP/MSRP{}", "\u{14}".repeat(16 * 1024));
        let message = err(&section("").replace("m=message 7394 TCP/MSRP *", &line)).to_string();
        assert!(message.len() < 1024, "{} bytes", message.len());
        assert!(
            message.starts_with("malformed m= line \"m=message 40001"),
            "{message}"
        );
        assert!(
            message.ends_with(&format!("... ({} bytes)", line.len())),
            "{message}"
        );
    }

    #[test]
    fn error_unknown_transport() {
        let sdp = section("").replace("TCP/MSRP", "UDP/MSRP");
        assert_eq!(err(&sdp), SdpError::UnknownTransport("UDP/MSRP".into()));
        let sdp = section("").replace("TCP/MSRP", "TCP/WS/RTP");
        assert_eq!(err(&sdp), SdpError::UnknownTransport("TCP/WS/RTP".into()));
        // The transport is checked before the port.
        let sdp = section("").replace("7394 TCP/MSRP", "0 UDP/MSRP");
        assert_eq!(err(&sdp), SdpError::UnknownTransport("UDP/MSRP".into()));
    }

    #[test]
    fn websocket_spellings_are_read_and_written_back() {
        for (proto, transport) in [
            ("TCP/WS/MSRP", pb::Transport::Ws),
            ("tcp/wss/msrp", pb::Transport::Wss),
        ] {
            let sdp = section("").replace("TCP/MSRP", proto);
            let media = parse_media_section(&sdp).unwrap();
            assert_eq!(media.transport(), transport);
            let written = format_media_section(&media);
            assert!(
                written.starts_with(&format!("m=message 7394 {} *\r\n", proto.to_uppercase())),
                "{written}"
            );
        }
    }

    /// An INVITE's body with audio before the message section and video
    /// after it, LF line ends.
    const CALL: &str = "v=0\no=alice 2890844526 2890844527 IN IP4 10.0.0.1\ns=-\n\
                        c=IN IP4 10.0.0.1\nt=0 0\nm=audio 49170 RTP/AVP 0\n\
                        a=rtpmap:0 PCMU/8000\nm=message 7394 TCP/MSRP *\n\
                        a=path:msrp://10.0.0.1:7394/s1;tcp\na=accept-types:text/plain\n\
                        m=video 51372 RTP/AVP 31\na=rtpmap:31 H261/90000\n";

    const SWITCH: &str = "m=message 2855 TCP/MSRP *\r\nc=IN IP4 192.0.2.9\r\n\
                          a=path:msrp://192.0.2.9:2855/x;tcp\r\na=accept-types:text/plain\r\n";

    #[test]
    fn the_message_section_is_replaced_and_the_rest_kept() {
        let out = replace_message_section(CALL, SWITCH).unwrap();
        assert_eq!(
            out,
            "v=0\r\no=alice 2890844526 2890844527 IN IP4 10.0.0.1\r\ns=-\r\n\
             c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n\
             a=rtpmap:0 PCMU/8000\r\nm=message 2855 TCP/MSRP *\r\nc=IN IP4 192.0.2.9\r\n\
             a=path:msrp://192.0.2.9:2855/x;tcp\r\na=accept-types:text/plain\r\n\
             m=video 51372 RTP/AVP 31\r\n\
             a=rtpmap:31 H261/90000\r\n"
        );
        // What the other side reads from it is the switch's media.
        let media = parse_media_section(&out).unwrap();
        assert_eq!(media.path, ["msrp://192.0.2.9:2855/x;tcp"]);
        assert_eq!(media.connection_address, "192.0.2.9");
        assert_eq!(
            replace_message_section("v=0\nm=audio 1 RTP/AVP 0\n", SWITCH),
            None
        );
    }

    #[test]
    fn a_focus_answer_refuses_the_other_sections() {
        let out = answer_with_message_section(CALL, SWITCH, "192.0.2.9", 7, 1);
        assert_eq!(
            out,
            "v=0\r\no=msrp-switch 7 1 IN IP4 192.0.2.9\r\ns=-\r\nt=0 0\r\n\
             m=audio 0 RTP/AVP 0\r\nm=message 2855 TCP/MSRP *\r\nc=IN IP4 192.0.2.9\r\n\
             a=path:msrp://192.0.2.9:2855/x;tcp\r\na=accept-types:text/plain\r\n\
             m=video 0 RTP/AVP 31\r\n"
        );
    }

    #[test]
    fn error_port_zero() {
        let sdp = section("").replace("m=message 7394", "m=message 0");
        assert_eq!(err(&sdp), SdpError::PortZero);
        // A rejected stream in an answer usually carries nothing else.
        assert_eq!(err("m=message 0 TCP/MSRP *\r\n"), SdpError::PortZero);
    }

    #[test]
    fn error_missing_path() {
        let sdp = section("").replace("a=path:msrp://10.0.0.1:7394/s1;tcp\n", "");
        assert_eq!(err(&sdp), SdpError::MissingPath);
        let sdp = section("").replace("a=path:msrp://10.0.0.1:7394/s1;tcp", "a=path:");
        assert_eq!(err(&sdp), SdpError::MissingPath);
        let sdp = section("").replace("a=path:msrp://10.0.0.1:7394/s1;tcp", "a=path");
        assert_eq!(err(&sdp), SdpError::MissingPath);
    }

    #[test]
    fn error_bad_path() {
        let sdp = section("").replace(
            "a=path:msrp://10.0.0.1:7394/s1;tcp",
            "a=path:msrp://relay.invalid/r;tcp sip:alice@example.com",
        );
        assert_eq!(err(&sdp), SdpError::BadPath("sip:alice@example.com".into()));
        let sdp = section("").replace("a=path:msrp://10.0.0.1:7394/s1;tcp", "a=path:msrp://");
        assert_eq!(err(&sdp), SdpError::BadPath("msrp://".into()));
    }

    #[test]
    fn error_missing_accept_types() {
        let sdp = section("").replace("a=accept-types:message/cpim\n", "");
        assert_eq!(err(&sdp), SdpError::MissingAcceptTypes);
        let sdp = section("").replace("a=accept-types:message/cpim", "a=accept-types: ");
        assert_eq!(err(&sdp), SdpError::MissingAcceptTypes);
    }

    #[test]
    fn error_bad_max_size() {
        for value in ["12k", "", "-1", "+5", "1.5", "99999999999999999999999"] {
            let sdp = section(&format!("a=max-size:{value}\n"));
            assert_eq!(
                err(&sdp),
                SdpError::BadMaxSize(value.to_owned()),
                "{value:?}"
            );
        }
    }

    #[test]
    fn error_bad_setup() {
        assert_eq!(
            err(&section("a=setup:sideways\n")),
            SdpError::BadSetup("sideways".into())
        );
        assert_eq!(
            err(&section("a=setup\n")),
            SdpError::BadSetup(String::new())
        );
        // At session level too: it counts there.
        let sdp = format!("a=setup:both\n{}", section(""));
        assert_eq!(err(&sdp), SdpError::BadSetup("both".into()));
    }

    #[test]
    fn error_bad_connection() {
        assert_eq!(
            err(&section("a=connection:old\n")),
            SdpError::BadConnection("old".into())
        );
    }

    #[test]
    fn error_bad_fingerprint() {
        for value in [
            "SHA-256",
            "SHA-256 4A:AD:B",
            "SHA-256 4A:ZZ",
            "SHA-256 4A:AD extra",
            "SHA_256 4A",
        ] {
            let sdp = section(&format!("a=fingerprint:{value}\n"));
            assert_eq!(
                err(&sdp),
                SdpError::BadFingerprint(value.to_owned()),
                "{value:?}"
            );
        }
    }

    #[test]
    fn several_fingerprints_keep_the_first_and_check_all() {
        let two = "a=fingerprint:sha-256 AB:CD\na=fingerprint:sha-1 01:23\n";
        assert_eq!(
            parse_media_section(&section(two)).unwrap().fingerprint,
            "sha-256 AB:CD"
        );
        let bad_second = "a=fingerprint:sha-256 AB:CD\na=fingerprint:sha-1 0\n";
        assert_eq!(
            err(&section(bad_second)),
            SdpError::BadFingerprint("sha-1 0".into())
        );
    }

    #[test]
    fn error_bad_connection_line() {
        for line in [
            "c=IN IP4",
            "c=IN IP4 10.0.0.1 extra",
            "c=ATM NSAP 47.0091.8100.0000",
            "c=IN IPX 10.0.0.1",
            "c=IN IP4 2001:db8::1",
            "c=IN IP6 10.0.0.1",
            "c=IN IP4 224.2.1.1/127",
        ] {
            let sdp = section("").replace("c=IN IP4 10.0.0.1", line);
            assert_eq!(
                err(&sdp),
                SdpError::BadConnectionLine(line.to_owned()),
                "{line}"
            );
        }
    }

    #[test]
    fn error_missing_connection_address() {
        let sdp = section("").replace("c=IN IP4 10.0.0.1\n", "");
        assert_eq!(err(&sdp), SdpError::MissingConnectionAddress);
        // The c= of another media section does not count.
        let sdp = format!("m=audio 49170 RTP/AVP 0\nc=IN IP4 192.0.2.99\n{sdp}");
        assert_eq!(err(&sdp), SdpError::MissingConnectionAddress);
    }

    #[test]
    fn error_duplicate_attribute() {
        let second_path = "a=path:msrp://192.0.2.1:9/other;tcp\n";
        assert_eq!(
            err(&section(second_path)),
            SdpError::DuplicateAttribute("a=path")
        );
        let cases = [
            ("a=accept-types:text/plain\n", "a=accept-types"),
            (
                "a=accept-wrapped-types:a/b\na=accept-wrapped-types:c/d\n",
                "a=accept-wrapped-types",
            ),
            ("a=max-size:1\na=max-size:2\n", "a=max-size"),
            ("a=setup:active\na=setup:passive\n", "a=setup"),
            ("a=connection:new\na=connection:new\n", "a=connection"),
            ("a=sendonly\na=recvonly\n", DIRECTION_FIELD),
            ("c=IN IP4 10.0.0.2\n", "c="),
        ];
        for (extra, field) in cases {
            assert_eq!(
                err(&section(extra)),
                SdpError::DuplicateAttribute(field),
                "{extra}"
            );
        }
    }

    #[test]
    fn error_fields_and_acceptability() {
        let cases: [(SdpError, &str, bool); 15] = [
            (SdpError::NoMessageMedia, "m=", false),
            (SdpError::BadMediaLine(String::new()), "m=", false),
            (SdpError::UnknownTransport("UDP/MSRP".into()), "m=", true),
            (SdpError::PortZero, "m=", true),
            (SdpError::BadConnectionLine(String::new()), "c=", false),
            (SdpError::MissingConnectionAddress, "c=", false),
            (SdpError::MissingPath, "a=path", false),
            (SdpError::BadPath(String::new()), "a=path", false),
            (SdpError::MissingAcceptTypes, "a=accept-types", false),
            (SdpError::BadMaxSize(String::new()), "a=max-size", false),
            (SdpError::BadSetup(String::new()), "a=setup", false),
            (
                SdpError::BadConnection(String::new()),
                "a=connection",
                false,
            ),
            (
                SdpError::BadFingerprint(String::new()),
                "a=fingerprint",
                false,
            ),
            (SdpError::DuplicateAttribute("a=path"), "a=path", false),
            (
                SdpError::DuplicateAttribute(DIRECTION_FIELD),
                DIRECTION_FIELD,
                false,
            ),
        ];
        for (error, field, not_acceptable) in cases {
            assert_eq!(error.field(), field, "{error:?}");
            assert_eq!(error.is_not_acceptable(), not_acceptable, "{error:?}");
            assert!(!error.to_string().is_empty());
        }
        assert_eq!(
            SdpError::BadPath("sip:x".into()).to_string(),
            "a=path entry \"sip:x\" is not an msrp:// or msrps:// URI"
        );
    }

    #[test]
    fn format_writes_every_line_in_order() {
        let media = pb::Media {
            path: vec![
                "msrps://relay.example.net:2855/r;tcp".into(),
                "msrps://[2001:db8::2]:2855/s;tcp".into(),
            ],
            accept_types: vec!["message/cpim".into(), "text/plain".into()],
            accept_wrapped_types: vec!["text/plain".into(), "message/imdn+xml".into()],
            max_size: 65536,
            setup: pb::Setup::Passive as i32,
            connection: "new".into(),
            fingerprint: "sha-256 AB:CD".into(),
            cema: true,
            chatroom: vec!["nickname".into(), "private-messages".into()],
            transport: pb::Transport::Tls as i32,
            connection_address: "2001:db8::2".into(),
            port: 2855,
            direction: "recvonly".into(),
        };
        assert_eq!(
            format_media_section(&media),
            "m=message 2855 TCP/TLS/MSRP *\r\n\
             c=IN IP6 2001:db8::2\r\n\
             a=path:msrps://relay.example.net:2855/r;tcp msrps://[2001:db8::2]:2855/s;tcp\r\n\
             a=accept-types:message/cpim text/plain\r\n\
             a=accept-wrapped-types:text/plain message/imdn+xml\r\n\
             a=max-size:65536\r\n\
             a=setup:passive\r\n\
             a=connection:new\r\n\
             a=fingerprint:sha-256 AB:CD\r\n\
             a=msrp-cema\r\n\
             a=chatroom:nickname private-messages\r\n\
             a=recvonly\r\n"
        );
    }

    #[test]
    fn format_leaves_out_unset_lines() {
        let media = pb::Media {
            path: vec!["msrp://10.0.0.1:7394/s1;tcp".into()],
            accept_types: vec!["*".into()],
            transport: pb::Transport::Tcp as i32,
            connection_address: "10.0.0.1".into(),
            port: 7394,
            direction: "sendrecv".into(),
            ..pb::Media::default()
        };
        assert_eq!(
            format_media_section(&media),
            "m=message 7394 TCP/MSRP *\r\n\
             c=IN IP4 10.0.0.1\r\n\
             a=path:msrp://10.0.0.1:7394/s1;tcp\r\n\
             a=accept-types:*\r\n"
        );
        // Unspecified transport and unknown enum values: TCP, no a=setup.
        let odd = pb::Media {
            transport: 0,
            setup: 42,
            ..media.clone()
        };
        assert_eq!(
            format_media_section(&odd),
            format_media_section(&pb::Media {
                direction: String::new(),
                ..media
            })
        );
    }

    #[test]
    fn round_trip_of_every_expressible_combination() {
        let setups = [
            pb::Setup::Unspecified,
            pb::Setup::Active,
            pb::Setup::Passive,
            pb::Setup::Actpass,
            pb::Setup::Holdconn,
        ];
        let mut count = 0;
        for (i, setup) in setups.into_iter().enumerate() {
            for transport in [pb::Transport::Tcp, pb::Transport::Tls] {
                for direction in ["", "sendonly", "recvonly", "inactive"] {
                    for cema in [false, true] {
                        let rich = (i + usize::from(cema)) % 2 == 0;
                        let scheme = if transport == pb::Transport::Tls {
                            "msrps"
                        } else {
                            "msrp"
                        };
                        let media = pb::Media {
                            path: if rich {
                                vec![
                                    format!("{scheme}://relay.example.net:2855/r{i};tcp"),
                                    format!("{scheme}://10.0.0.1:7394/s{i};tcp"),
                                ]
                            } else {
                                vec![format!("{scheme}://[2001:db8::1]:7394/s{i};tcp")]
                            },
                            accept_types: vec![
                                "message/cpim".into(),
                                "application/im-iscomposing+xml".into(),
                            ],
                            accept_wrapped_types: if rich {
                                vec!["text/plain".into()]
                            } else {
                                Vec::new()
                            },
                            max_size: if rich { 1 << 20 } else { 0 },
                            setup: setup as i32,
                            connection: ["", "new", "existing"][i % 3].into(),
                            fingerprint: if transport == pb::Transport::Tls {
                                "sha-256 0A:1B:2C:3D".into()
                            } else {
                                String::new()
                            },
                            cema,
                            chatroom: if rich {
                                vec!["nickname".into(), "bridge".into()]
                            } else {
                                Vec::new()
                            },
                            transport: transport as i32,
                            connection_address: if rich {
                                "10.0.0.1".into()
                            } else {
                                "2001:db8::1".into()
                            },
                            port: if rich { 65535 } else { 1 },
                            direction: direction.into(),
                        };
                        let text = format_media_section(&media);
                        assert_eq!(parse_media_section(&text).unwrap(), media, "{text}");
                        // LF-only and pasted below session lines: the same media.
                        let lf = format!("v=0\ns=-\nt=0 0\n{}", text.replace("\r\n", "\n"));
                        assert_eq!(parse_media_section(&lf).unwrap(), media, "{lf}");
                        count += 1;
                    }
                }
            }
        }
        assert_eq!(count, 80);
    }

    #[test]
    fn round_trip_of_parsed_offers() {
        let offers = [
            RCS_OFFER.to_owned(),
            section("a=chatroom:nickname\na=chatroom:private-messages\na=inactive\n"),
            section("a=setup:actpass\na=connection:existing\na=fingerprint:sha-1 AA:BB:CC\n"),
        ];
        for offer in offers {
            let media = parse_media_section(&offer).unwrap();
            let text = format_media_section(&media);
            assert_eq!(parse_media_section(&text).unwrap(), media, "{text}");
            assert_eq!(
                format_media_section(&parse_media_section(&text).unwrap()),
                text
            );
        }
    }
}
