//! MSRP over WebSocket (RFC 7977), the parts around a connection: the HTTP
//! upgrade an accepted connection must make first (RFC 6455 §4.2, subprotocol
//! `msrp` required by RFC 7977 §4.1, Origin checked, the request bounded in size
//! and time), and `Framer`, which puts each MSRP frame the switch writes into
//! one WebSocket message (RFC 7977 §5.1: one chunk per message, never two).
//!
//! tungstenite's frame header and accept-key code is used; the request is read
//! with httparse. What is read after the upgrade ([`crate::transport`]'s
//! `ws_stream`) is plain frames of the client's.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use msrp_proto::Transmits;
use tracing::debug;
use tungstenite::protocol::frame::FrameHeader;

use super::stream::ReadSide;
use super::ws_stream::Carrier;
use tungstenite::protocol::frame::coding::{Data, OpCode};

/// How a WebSocket listener admits upgrades.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsSettings {
    /// `Origin` values a browser's upgrade may carry; empty: any. A request
    /// without `Origin` (not a browser) is always let in.
    pub origins: Vec<String>,
    /// The longest the upgrade request (its head) may be.
    pub max_request_bytes: usize,
    /// How long the upgrade may take from accept to 101.
    pub handshake_timeout: Duration,
}

impl Default for WsSettings {
    fn default() -> Self {
        Self {
            origins: Vec::new(),
            max_request_bytes: 8 * 1024,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Why an upgrade was refused (the label of
/// `msrp_switch_websocket_upgrades_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeRefusal {
    /// Not a WebSocket upgrade request (method, headers, version).
    BadRequest,
    /// No `msrp` in `Sec-WebSocket-Protocol`.
    Subprotocol,
    /// An `Origin` not on the allow-list.
    Origin,
    /// The request head is over `max_request_bytes`.
    TooLarge,
    /// Not complete within `handshake_timeout`, or the peer went away.
    Timeout,
}

impl UpgradeRefusal {
    /// Every refusal, in counter order.
    pub const ALL: [Self; 5] = [
        Self::BadRequest,
        Self::Subprotocol,
        Self::Origin,
        Self::TooLarge,
        Self::Timeout,
    ];

    /// The metric label.
    pub const fn label(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Subprotocol => "subprotocol",
            Self::Origin => "origin",
            Self::TooLarge => "too_large",
            Self::Timeout => "timeout",
        }
    }

    /// Its counter slot.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The HTTP answer, where one is given.
    fn response(self) -> Option<&'static str> {
        match self {
            Self::BadRequest => {
                Some("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            }
            Self::Subprotocol => Some(
                "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n\
                 Content-Length: 45\r\n\r\nSec-WebSocket-Protocol must include \"msrp\"\r\n",
            ),
            Self::Origin => {
                Some("HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            }
            Self::TooLarge => Some(
                "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\
                 Content-Length: 0\r\n\r\n",
            ),
            Self::Timeout => None,
        }
    }
}

/// Reads and answers the upgrade request on `tcp`: the bytes the client sent
/// after it (frames already on their way), or why it was refused (answered with
/// an HTTP error where one can be given). Bounded by the settings' time and size.
pub(crate) async fn upgrade(
    tcp: &Carrier,
    settings: &WsSettings,
) -> Result<BytesMut, UpgradeRefusal> {
    let read = tokio::time::timeout(settings.handshake_timeout, read_request(tcp, settings)).await;
    let (request, rest) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(refusal)) => return Err(answer(tcp, refusal).await),
        Err(_) => return Err(UpgradeRefusal::Timeout),
    };
    let response = match accept(&request, settings) {
        Ok(response) => response,
        Err(refusal) => return Err(answer(tcp, refusal).await),
    };
    let wrote = tokio::time::timeout(settings.handshake_timeout, tcp.write_all(&response)).await;
    match wrote {
        Ok(Ok(())) => Ok(rest),
        _ => Err(UpgradeRefusal::Timeout),
    }
}

async fn answer(tcp: &Carrier, refusal: UpgradeRefusal) -> UpgradeRefusal {
    debug!(reason = refusal.label(), "WebSocket upgrade refused");
    if let Some(response) = refusal.response() {
        let _ =
            tokio::time::timeout(Duration::from_secs(1), tcp.write_all(response.as_bytes())).await;
    }
    refusal
}

/// Reads until the request head is complete: the head and what followed it.
async fn read_request(
    tcp: &Carrier,
    settings: &WsSettings,
) -> Result<(BytesMut, BytesMut), UpgradeRefusal> {
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if let Some(end) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            if end + 4 > settings.max_request_bytes {
                return Err(UpgradeRefusal::TooLarge);
            }
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        if buf.len() > settings.max_request_bytes {
            return Err(UpgradeRefusal::TooLarge);
        }
        tcp.readable().await.map_err(|_| UpgradeRefusal::Timeout)?;
        buf.reserve(1024);
        match tcp.try_read_buf(&mut buf) {
            Ok(0) => return Err(UpgradeRefusal::Timeout),
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return Err(UpgradeRefusal::Timeout),
        }
    }
}

/// Checks a complete request head and writes the 101 that accepts it.
fn accept(request: &[u8], settings: &WsSettings) -> Result<Vec<u8>, UpgradeRefusal> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(request) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(UpgradeRefusal::BadRequest),
    }
    if parsed.method != Some("GET") {
        return Err(UpgradeRefusal::BadRequest);
    }
    let headers: &[httparse::Header<'_>] = parsed.headers;
    let header = |name: &'static str| header_values(headers, name);
    let has_token = |name: &'static str, token: &str| {
        header(name).any(|value| {
            value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    if !has_token("Upgrade", "websocket")
        || !has_token("Connection", "upgrade")
        || !has_token("Sec-WebSocket-Version", "13")
    {
        return Err(UpgradeRefusal::BadRequest);
    }
    let key = header("Sec-WebSocket-Key")
        .next()
        .ok_or(UpgradeRefusal::BadRequest)?
        .trim()
        .to_owned();
    if !has_token("Sec-WebSocket-Protocol", "msrp") {
        return Err(UpgradeRefusal::Subprotocol);
    }
    let origin = header("Origin").next().map(str::to_owned);
    if let Some(origin) = &origin
        && !settings.origins.is_empty()
        && !settings.origins.iter().any(|o| o == origin)
    {
        return Err(UpgradeRefusal::Origin);
    }
    let accept_key = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept_key}\r\nSec-WebSocket-Protocol: msrp\r\n"
    );
    // RFC 7977 §7: cross-origin resource sharing for a browser's page.
    if let Some(origin) = origin {
        response.push_str(&format!("Access-Control-Allow-Origin: {origin}\r\n"));
    }
    response.push_str("\r\n");
    Ok(response.into_bytes())
}

/// The values of the request headers called `name` (any case), as text.
fn header_values<'a>(
    headers: &'a [httparse::Header<'a>],
    name: &'static str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
}

/// Takes the switch's output for a WebSocket connection and puts each MSRP
/// frame into one WebSocket message: a frame whose pieces all come in one take
/// goes as one WebSocket frame (text if it is UTF-8, binary otherwise, RFC 7977
/// §4.2); one still streaming (a chunk forwarded cut-through) goes as a binary
/// message in fragments, continued by the next takes, ended (FIN) with its
/// end-line. Server frames are not masked (RFC 6455 §5.1).
#[derive(Debug, Default)]
pub(crate) struct Framer {
    /// Framed output of this take, for one vectored write.
    pub(crate) out: Vec<Bytes>,
    /// Pieces of the fragment being gathered.
    pending: Vec<Bytes>,
    pending_len: usize,
    /// A message was begun in an earlier fragment and not finished.
    in_message: bool,
}

impl Transmits for Framer {
    fn push_piece(&mut self, piece: Bytes, ends_frame: bool) {
        self.pending_len += piece.len();
        self.pending.push(piece);
        if ends_frame {
            self.emit(true);
        }
    }
}

impl Framer {
    /// The end of a take: a frame half taken goes out as a fragment.
    pub(crate) fn finish(&mut self) {
        if !self.pending.is_empty() {
            self.emit(false);
        }
    }

    fn emit(&mut self, fin: bool) {
        let opcode = if self.in_message {
            OpCode::Data(Data::Continue)
        } else if fin && is_utf8(&self.pending) {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Binary)
        };
        let header = FrameHeader {
            is_final: fin,
            opcode,
            ..FrameHeader::default()
        };
        let mut bytes = Vec::with_capacity(10);
        // Writing into a Vec cannot fail.
        let _ = header.format(self.pending_len as u64, &mut bytes);
        self.out.push(Bytes::from(bytes));
        self.out.append(&mut self.pending);
        self.pending_len = 0;
        self.in_message = !fin;
    }
}

/// True if `pieces`, joined, are UTF-8 (a character may straddle two pieces).
fn is_utf8(pieces: &[Bytes]) -> bool {
    let mut carry: Vec<u8> = Vec::new();
    for piece in pieces {
        let joined;
        let bytes: &[u8] = if carry.is_empty() {
            piece
        } else {
            carry.extend_from_slice(piece);
            joined = std::mem::take(&mut carry);
            &joined
        };
        match std::str::from_utf8(bytes) {
            Ok(_) => {}
            // An incomplete character at the end: its start carries over.
            Err(err) if err.error_len().is_none() => {
                carry = bytes[err.valid_up_to()..].to_vec();
            }
            Err(_) => return false,
        }
    }
    carry.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: &str) -> Vec<u8> {
        format!(
            "GET / HTTP/1.1\r\nHost: a.example.com\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
        .into_bytes()
    }

    /// RFC 7977 §4.1's example: the accept key of RFC 6455's sample nonce, and
    /// `msrp` echoed.
    #[test]
    fn the_rfc_7977_handshake_is_accepted() {
        let settings = WsSettings::default();
        let response = accept(
            &request("Origin: http://www.example.com\r\nSec-WebSocket-Protocol: msrp\r\n"),
            &settings,
        )
        .unwrap();
        let text = String::from_utf8(response).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{text}"
        );
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(text.contains("Sec-WebSocket-Protocol: msrp\r\n"));
        assert!(text.contains("Access-Control-Allow-Origin: http://www.example.com\r\n"));
    }

    #[test]
    fn upgrades_without_msrp_from_other_origins_or_not_websocket_are_refused() {
        let strict = WsSettings {
            origins: vec!["https://chat.example.com".into()],
            ..WsSettings::default()
        };
        assert_eq!(
            accept(&request(""), &strict),
            Err(UpgradeRefusal::Subprotocol)
        );
        assert_eq!(
            accept(&request("Sec-WebSocket-Protocol: sip, chat\r\n"), &strict),
            Err(UpgradeRefusal::Subprotocol)
        );
        assert_eq!(
            accept(
                &request("Sec-WebSocket-Protocol: msrp\r\nOrigin: https://evil.example\r\n"),
                &strict
            ),
            Err(UpgradeRefusal::Origin)
        );
        assert!(
            accept(
                &request(
                    "Sec-WebSocket-Protocol: sip, msrp\r\nOrigin: https://chat.example.com\r\n"
                ),
                &strict
            )
            .is_ok()
        );
        assert_eq!(
            accept(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n", &strict),
            Err(UpgradeRefusal::BadRequest)
        );
    }

    #[test]
    fn a_whole_frame_is_one_message_and_a_streaming_one_is_fragmented() {
        let mut framer = Framer::default();
        framer.push_piece(Bytes::from_static(b"MSRP a SEND\r\n"), false);
        framer.push_piece(Bytes::from_static(b"-------a$\r\n"), true);
        framer.finish();
        // One text frame, FIN, unmasked: 0x81, length 24.
        assert_eq!(&framer.out[0][..], &[0x81, 24]);
        assert_eq!(framer.out.len(), 3);

        let mut framer = Framer::default();
        framer.push_piece(Bytes::from_static(b"head "), false);
        framer.push_piece(Bytes::from_static(&[0xff, 0xfe]), false);
        framer.finish();
        framer.push_piece(Bytes::from_static(b"-------b$\r\n"), true);
        framer.finish();
        let headers: Vec<&[u8]> = vec![&framer.out[0][..], &framer.out[3][..]];
        // Binary, not final; then a final continuation.
        assert_eq!(headers[0], &[0x02, 7]);
        assert_eq!(headers[1], &[0x80, 11]);
    }

    #[test]
    fn utf8_is_checked_across_pieces() {
        let euro = "€".as_bytes();
        let split = [
            Bytes::copy_from_slice(&euro[..1]),
            Bytes::copy_from_slice(&euro[1..]),
        ];
        assert!(is_utf8(&split));
        assert!(!is_utf8(&[Bytes::copy_from_slice(&euro[..2])]));
        assert!(!is_utf8(&[Bytes::from_static(&[0xc3, 0x28])]));
    }
}
