//! A browser's side of MSRP over WebSocket (RFC 7977), with tokio-tungstenite:
//! the upgrade with subprotocol `msrp`, MSRP frames sent as WebSocket messages,
//! and messages read back, each of which must hold exactly one MSRP frame.

use std::net::SocketAddr;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use msrp_switch::codec::{Decoder, Item, Limits};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::LIMIT;
use crate::frame::Frame;

/// The byte stream under a test WebSocket: TCP, or TLS over it (`wss`).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A test WebSocket over either.
pub type Ws = WebSocketStream<Box<dyn Io>>;

/// A WebSocket MSRP client: `me` is its own URI (its From-Path).
pub struct WsPeer {
    /// Its own URI.
    pub me: String,
    /// The switch's URI for it (its To-Path), once the test sets it.
    pub switch: String,
    ws: Ws,
    seq: u32,
    /// Messages that were text frames, and binary ones.
    pub text_messages: usize,
    /// See `text_messages`.
    pub binary_messages: usize,
}

/// Upgrades a connection to `addr` asking for `protocols` (RFC 7977: `msrp`)
/// from `origin`; the handshake's error if it is refused.
pub async fn connect_ws(
    addr: SocketAddr,
    protocols: &str,
    origin: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let tcp = timeout(LIMIT, TcpStream::connect(addr)).await.unwrap()?;
    upgrade(Box::new(tcp), &format!("ws://{addr}/"), protocols, origin).await
}

/// [`connect_ws`] over TLS (`wss`), pinning the switch's certificate
/// (`sha-256 AB:...`).
pub async fn connect_wss(
    addr: SocketAddr,
    pinned: &str,
    origin: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let tls = crate::tls::connect_tls(addr, pinned, None).await?;
    upgrade(
        Box::new(tls),
        &format!("wss://localhost:{}/", addr.port()),
        "msrp",
        origin,
    )
    .await
}

/// The upgrade of `stream` to a WebSocket, asking for `protocols` from `origin`.
async fn upgrade(
    stream: Box<dyn Io>,
    url: &str,
    protocols: &str,
    origin: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut request = url.into_client_request()?;
    let headers = request.headers_mut();
    if !protocols.is_empty() {
        headers.insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(protocols).unwrap(),
        );
    }
    if let Some(origin) = origin {
        headers.insert("Origin", HeaderValue::from_str(origin).unwrap());
    }
    let (ws, response) = timeout(LIMIT, tokio_tungstenite::client_async(request, stream))
        .await
        .unwrap()?;
    assert_eq!(
        response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.to_str().unwrap()),
        Some("msrp"),
        "the switch agreed to msrp"
    );
    Ok(ws)
}

impl WsPeer {
    /// Connects and upgrades to the switch's WebSocket listener at `addr`.
    pub async fn connect(addr: SocketAddr, me: &str) -> WsPeer {
        let ws = connect_ws(addr, "msrp", Some("https://chat.example.com"))
            .await
            .unwrap();
        Self::on(ws, me)
    }

    /// Connects over TLS to the switch's secure WebSocket listener at `addr`,
    /// pinning its certificate (`sha-256 AB:...`), and upgrades.
    pub async fn connect_secure(addr: SocketAddr, pinned: &str, me: &str) -> WsPeer {
        let ws = connect_wss(addr, pinned, Some("https://chat.example.com"))
            .await
            .unwrap();
        Self::on(ws, me)
    }

    fn on(ws: Ws, me: &str) -> WsPeer {
        WsPeer {
            me: me.into(),
            switch: String::new(),
            ws,
            seq: 0,
            text_messages: 0,
            binary_messages: 0,
        }
    }

    /// A fresh transaction id: `w0000001`, ...
    pub fn next_tid(&mut self) -> String {
        self.seq += 1;
        format!("w{:07}", self.seq)
    }

    /// Sends one MSRP frame as one WebSocket message (binary, as a browser
    /// sends an `ArrayBuffer`).
    pub async fn send(&mut self, frame: &[u8]) {
        timeout(LIMIT, self.ws.send(Message::binary(frame.to_vec())))
            .await
            .unwrap()
            .unwrap();
    }

    /// The next MSRP frame: the next data message, which must hold exactly
    /// one frame, whole (RFC 7977 §5.1). Pings are answered by the client.
    pub async fn read_frame(&mut self) -> Frame {
        loop {
            let message = timeout(LIMIT, self.ws.next())
                .await
                .expect("a message in time")
                .expect("the connection is open")
                .expect("a well-formed message");
            let data = match message {
                Message::Text(text) => {
                    self.text_messages += 1;
                    text.as_bytes().to_vec()
                }
                Message::Binary(data) => {
                    self.binary_messages += 1;
                    data.to_vec()
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                Message::Close(close) => panic!("the switch closed the WebSocket: {close:?}"),
            };
            return one_frame(&data);
        }
    }

    /// Answers a request with `status` (`"200 OK"`), hop by hop.
    pub async fn answer(&mut self, request: &Frame, status: &str) {
        let frame = crate::wire::response_frame(
            &request.tid(),
            status,
            &request.sender_path()[0],
            &self.me,
        );
        self.send(frame.as_bytes()).await;
    }

    /// Sends a ping with `data`; the data of the pong that answers it.
    pub async fn ping(&mut self, data: &[u8]) -> Vec<u8> {
        timeout(LIMIT, self.ws.send(Message::Ping(data.to_vec().into())))
            .await
            .unwrap()
            .unwrap();
        loop {
            let message = timeout(LIMIT, self.ws.next())
                .await
                .expect("a pong in time")
                .expect("the connection is open")
                .expect("a well-formed message");
            if let Message::Pong(data) = message {
                return data.to_vec();
            }
        }
    }

    /// Starts the closing handshake (no code).
    pub async fn close(&mut self) {
        timeout(LIMIT, self.ws.send(Message::Close(None)))
            .await
            .unwrap()
            .unwrap();
    }
}

/// Decodes `data` as exactly one whole MSRP frame.
fn one_frame(data: &[u8]) -> Frame {
    let mut decoder = Decoder::new(Limits::default());
    let mut buf = BytesMut::from(data);
    let Ok(Some(Item::Head(head))) = decoder.decode(&mut buf) else {
        panic!("a message that does not start with an MSRP head: {data:?}");
    };
    let mut body = Vec::new();
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(Item::Body(piece))) => body.extend_from_slice(&piece),
            Ok(Some(Item::End(flag))) => {
                assert!(
                    buf.is_empty(),
                    "a message holds more than one MSRP frame ({} bytes after it)",
                    buf.len()
                );
                return Frame { head, body, flag };
            }
            other => panic!("a message that does not hold a whole MSRP frame: {other:?}"),
        }
    }
}
