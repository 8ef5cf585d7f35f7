//! A small SIP user agent over UDP (RFC 3261), enough to make calls through a
//! real proxy (Kamailio) in tests: INVITE with SDP, its 200 and ACK, requests
//! in the dialog along the proxy's Record-Route (re-INVITE, BYE), and the
//! answers of the called side. No retransmissions: the tests run on loopback.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::UdpSocket;
use tokio::time::timeout;

use crate::LIMIT;

/// One SIP message as received: the start line, the headers in order, the
/// body.
#[derive(Debug, Clone)]
pub struct SipMessage {
    /// `INVITE sip:bob@... SIP/2.0` or `SIP/2.0 200 OK`.
    pub start: String,
    /// Name and value of each header line, in order.
    pub headers: Vec<(String, String)>,
    /// The body (the SDP).
    pub body: String,
}

impl SipMessage {
    fn parse(text: &str) -> SipMessage {
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or_default().to_owned();
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
            .collect();
        SipMessage {
            start,
            headers,
            body: body.to_owned(),
        }
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> &str {
        self.all(name)
            .first()
            .copied()
            .unwrap_or_else(|| panic!("no {name} in {self:?}"))
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        let rest = self.start.strip_prefix("SIP/2.0 ")?;
        rest.get(..3)?.parse().ok()
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&str> {
        (!self.start.starts_with("SIP/")).then(|| self.start.split(' ').next().unwrap_or(""))
    }
}

/// The `tag` parameter of a From or To value.
fn tag_of(value: &str) -> Option<String> {
    value
        .split(';')
        .find_map(|param| param.trim().strip_prefix("tag="))
        .map(str::to_owned)
}

/// The URI between angle brackets of a Contact value.
fn uri_of(value: &str) -> String {
    match (value.find('<'), value.find('>')) {
        (Some(open), Some(close)) if open < close => value[open + 1..close].to_owned(),
        _ => value.split(';').next().unwrap_or(value).trim().to_owned(),
    }
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A token unique in this process (tags, branches, Call-IDs).
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One side's view of a dialog: what its requests in the dialog carry.
#[derive(Debug, Clone)]
pub struct Dialog {
    /// The Call-ID.
    pub call_id: String,
    /// This side's From (or To) value, with its tag.
    local: String,
    /// The other side's value, with its tag.
    remote: String,
    /// Where requests in the dialog go: the other side's Contact.
    target: String,
    /// The Route headers they carry (the Record-Route set).
    routes: Vec<String>,
    cseq: u32,
}

impl Dialog {
    /// This side's tag.
    pub fn local_tag(&self) -> String {
        tag_of(&self.local).unwrap_or_default()
    }
}

/// A user agent on its own UDP port, sending through `proxy`.
pub struct SipUa {
    socket: UdpSocket,
    /// Its address (in its Via and Contact).
    pub addr: SocketAddr,
    proxy: SocketAddr,
    /// Its address of record, `sip:alice@example.com`.
    pub aor: String,
}

impl SipUa {
    /// A UA named `user` on an ephemeral loopback port.
    pub async fn new(user: &str, proxy: SocketAddr) -> SipUa {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        SipUa {
            socket,
            addr,
            proxy,
            aor: format!("sip:{user}@example.com"),
        }
    }

    /// Where others reach it directly (a Request-URI the proxy routes by).
    pub fn contact(&self) -> String {
        let user = self
            .aor
            .trim_start_matches("sip:")
            .split('@')
            .next()
            .unwrap_or("ua");
        format!("sip:{user}@{}", self.addr)
    }

    async fn send(&self, text: &str) {
        self.socket
            .send_to(text.as_bytes(), self.proxy)
            .await
            .unwrap();
    }

    /// The next message, within [`LIMIT`].
    pub async fn recv(&self) -> SipMessage {
        let mut buf = vec![0u8; 65_536];
        let (n, _) = timeout(LIMIT, self.socket.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{}: no SIP message in time", self.aor))
            .unwrap();
        SipMessage::parse(&String::from_utf8_lossy(&buf[..n]))
    }

    /// The next final response (1xx skipped).
    pub async fn final_response(&self) -> SipMessage {
        loop {
            let message = self.recv().await;
            if message.status().is_some_and(|s| s >= 200) {
                return message;
            }
        }
    }

    /// The next request (responses skipped).
    pub async fn request(&self) -> SipMessage {
        loop {
            let message = self.recv().await;
            if message.method().is_some() {
                return message;
            }
        }
    }

    /// A request line and the headers every request has.
    fn head(
        &self,
        method: &str,
        uri: &str,
        from: &str,
        to: &str,
        call_id: &str,
        cseq: u32,
    ) -> String {
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK{};rport\r\n\
             Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\nContact: <{}>\r\n",
            self.addr,
            unique("b"),
            self.contact()
        )
    }

    /// Sends an INVITE to `target` (a Request-URI the proxy can route, such as
    /// another UA's [`contact`](Self::contact) or a chat room) with `sdp`;
    /// waits for the final response and ACKs a 2xx. The response and, for a
    /// 2xx, the dialog.
    pub async fn invite(&self, target: &str, to: &str, sdp: &str) -> (SipMessage, Option<Dialog>) {
        let call_id = unique("call");
        let from = format!("<{}>;tag={}", self.aor, unique("t"));
        let to = format!("<{to}>");
        let mut text = self.head("INVITE", target, &from, &to, &call_id, 1);
        text.push_str(&body_part(sdp));
        self.send(&text).await;
        let response = self.final_response().await;
        if !response.status().is_some_and(|s| (200..300).contains(&s)) {
            // The proxy's transaction ACKs a failure itself only if we do.
            let mut ack = self.head("ACK", target, &from, response.header("To"), &call_id, 1);
            ack.push_str("Content-Length: 0\r\n\r\n");
            self.send(&ack).await;
            return (response, None);
        }
        let mut routes: Vec<String> = response
            .all("Record-Route")
            .iter()
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .collect();
        routes.reverse();
        let mut dialog = Dialog {
            call_id,
            local: from,
            remote: response.header("To").to_owned(),
            target: uri_of(response.header("Contact")),
            routes,
            cseq: 1,
        };
        self.ack(&mut dialog).await;
        (response, Some(dialog))
    }

    async fn ack(&self, dialog: &mut Dialog) {
        let mut text = self.dialog_head(dialog, "ACK");
        text.push_str("Content-Length: 0\r\n\r\n");
        self.send(&text).await;
    }

    /// The start line and headers of a request in `dialog`, its Route set
    /// included.
    fn dialog_head(&self, dialog: &Dialog, method: &str) -> String {
        let mut text = self.head(
            method,
            &dialog.target,
            &dialog.local,
            &dialog.remote,
            &dialog.call_id,
            dialog.cseq,
        );
        for route in &dialog.routes {
            text.push_str(&format!("Route: {route}\r\n"));
        }
        text
    }

    /// Sends `method` in the dialog (with `sdp` as its body if not empty) and
    /// waits for its final response; a 2xx to an INVITE is ACKed.
    pub async fn in_dialog(&self, dialog: &mut Dialog, method: &str, sdp: &str) -> SipMessage {
        dialog.cseq += 1;
        let mut text = self.dialog_head(dialog, method);
        text.push_str(&body_part(sdp));
        self.send(&text).await;
        let response = self.final_response().await;
        if method == "INVITE" && response.status().is_some_and(|s| (200..300).contains(&s)) {
            self.ack(dialog).await;
        }
        response
    }

    /// Answers `request` with `status` (`"200 OK"`) and `sdp` (may be empty).
    /// Answering an initial INVITE with a 2xx starts the dialog, returned.
    pub async fn answer(&self, request: &SipMessage, status: &str, sdp: &str) -> Option<Dialog> {
        let to = request.header("To");
        let to = if tag_of(to).is_some() {
            to.to_owned()
        } else {
            format!("{to};tag={}", unique("t"))
        };
        let mut text = format!("SIP/2.0 {status}\r\n");
        for via in request.all("Via") {
            text.push_str(&format!("Via: {via}\r\n"));
        }
        for route in request.all("Record-Route") {
            text.push_str(&format!("Record-Route: {route}\r\n"));
        }
        text.push_str(&format!(
            "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <{}>\r\n",
            request.header("From"),
            request.header("Call-ID"),
            request.header("CSeq"),
            self.contact()
        ));
        text.push_str(&body_part(sdp));
        self.send_to_via(request, &text).await;
        let initial = request.method() == Some("INVITE") && tag_of(request.header("To")).is_none();
        (initial && status.starts_with('2')).then(|| Dialog {
            call_id: request.header("Call-ID").to_owned(),
            local: to,
            remote: request.header("From").to_owned(),
            target: uri_of(request.header("Contact")),
            routes: request
                .all("Record-Route")
                .iter()
                .flat_map(|v| v.split(','))
                .map(|v| v.trim().to_owned())
                .collect(),
            cseq: 0,
        })
    }

    /// Sends a response where the request's top Via says (the proxy).
    async fn send_to_via(&self, request: &SipMessage, text: &str) {
        let via = request.header("Via");
        let host = via
            .split_whitespace()
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .unwrap_or_default();
        let to: SocketAddr = host.parse().unwrap_or(self.proxy);
        self.socket.send_to(text.as_bytes(), to).await.unwrap();
    }
}

/// `Content-Type` (for a body), `Content-Length`, the blank line and the body.
fn body_part(sdp: &str) -> String {
    if sdp.is_empty() {
        "Content-Length: 0\r\n\r\n".to_owned()
    } else {
        format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    }
}
