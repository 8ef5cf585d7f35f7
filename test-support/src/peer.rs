//! An MSRP endpoint on one connection (TCP, or TLS over TCP): it writes literal
//! frames and reads what arrives with the switch's decoder.

use std::net::SocketAddr;
use std::time::Duration;

use msrp_switch::codec::MsrpUri;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::LIMIT;
use crate::frame::{Frame, FrameReader};
use crate::wire::{SendChunk, bind_frame, response_frame};

/// An MSRP endpoint: `me` is its own URI (its From-Path), `switch` the switch's URI
/// for it (its To-Path). `S` is its connection: TCP unless a test says otherwise.
pub struct Peer<S = TcpStream> {
    /// The peer's own URI.
    pub me: String,
    /// The switch's URI for this peer.
    pub switch: String,
    conn: FrameReader<S>,
    seq: u32,
}

impl Peer {
    /// Connects to the switch at `addr`, within [`LIMIT`].
    pub async fn connect(addr: SocketAddr, me: &str, switch: &MsrpUri) -> Peer {
        let stream = timeout(LIMIT, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        Peer::over(stream, me, switch.as_str())
    }

    /// A peer on a connection made elsewhere (for example one the switch made).
    pub fn over(stream: TcpStream, me: &str, switch: &str) -> Peer {
        stream.set_nodelay(true).unwrap();
        Peer::on(stream, me, switch)
    }

    /// Its connection.
    pub fn stream(&self) -> &TcpStream {
        self.conn.get_ref()
    }

    /// Its connection, for a test that takes the socket over.
    pub fn into_stream(self) -> TcpStream {
        self.conn.into_inner()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Peer<S> {
    /// A peer on any byte stream (a TLS session, for one), already set up.
    pub fn on(stream: S, me: &str, switch: &str) -> Peer<S> {
        Peer {
            me: me.into(),
            switch: switch.into(),
            conn: FrameReader::new(stream),
            seq: 0,
        }
    }

    /// Its stream.
    pub fn io(&self) -> &S {
        self.conn.get_ref()
    }

    /// A fresh transaction id: `t0000001`, `t0000002`, …
    pub fn next_tid(&mut self) -> String {
        self.seq += 1;
        format!("t{:07}", self.seq)
    }

    /// Writes `bytes` as they are, within [`LIMIT`], and flushes them: over TLS
    /// the last records may otherwise wait in the client's buffer while the
    /// socket is full, and nothing sends them if the peer then only reads.
    pub async fn write(&mut self, bytes: &[u8]) {
        let io = self.conn.get_mut();
        timeout(LIMIT, async {
            io.write_all(bytes).await?;
            io.flush().await
        })
        .await
        .unwrap()
        .unwrap();
    }

    /// A whole `text/plain` SEND frame (one chunk) from this peer, with `extra`
    /// header lines before its Content-Type.
    pub fn send_frame(&self, tid: &str, message_id: &str, extra: &str, body: &[u8]) -> Vec<u8> {
        SendChunk {
            total: body.len(),
            extra_headers: extra,
            ..self.chunk_head(tid, message_id)
        }
        .encode(body)
    }

    /// The head of an empty one-chunk `text/plain` SEND from this peer
    /// (`Byte-Range: 1-0/0`, flag `$`); a test sets the fields its chunk differs in.
    pub fn chunk_head<'a>(&'a self, tid: &'a str, message_id: &'a str) -> SendChunk<'a> {
        SendChunk::text(&self.switch, &self.me, tid, message_id)
    }

    /// The bodiless SEND that binds a connection (RFC 4975 §5.4); waits for its 200.
    pub async fn bind(&mut self) {
        let tid = self.next_tid();
        let frame = bind_frame(&tid, &self.switch, &self.me);
        self.write(frame.as_bytes()).await;
        let answer = self.read_frame().await;
        assert_eq!(answer.status(), Some(200), "bind answered {answer:?}");
        assert_eq!(answer.tid(), tid);
    }

    /// Sends a one-chunk message and waits for its 200.
    pub async fn send_message(&mut self, message_id: &str, body: &[u8]) {
        let tid = self.next_tid();
        let frame = self.send_frame(&tid, message_id, "", body);
        self.write(&frame).await;
        let answer = self.read_frame().await;
        assert_eq!((answer.tid(), answer.status()), (tid, Some(200)));
    }

    /// Sends `body` as one chunk of `content_type` and returns the status of
    /// its response (which must answer it).
    pub async fn send_as(&mut self, message_id: &str, content_type: &str, body: &[u8]) -> u16 {
        let tid = self.next_tid();
        let frame = SendChunk {
            total: body.len(),
            content_type,
            ..self.chunk_head(&tid, message_id)
        }
        .encode(body);
        self.write(&frame).await;
        let answer = self.read_frame().await;
        assert_eq!(answer.tid(), tid, "{answer:?}");
        answer
            .status()
            .unwrap_or_else(|| panic!("not a response: {answer:?}"))
    }

    /// Answers a request with `status` (`"200 OK"`), hop by hop.
    pub async fn answer(&mut self, request: &Frame, status: &str) {
        let frame = response_frame(&request.tid(), status, &request.sender_path()[0], &self.me);
        self.write(frame.as_bytes()).await;
    }

    /// See [`FrameReader::await_bytes`].
    pub async fn await_bytes(&mut self, n: usize) {
        self.conn.await_bytes(n).await;
    }

    /// See [`FrameReader::await_body_bytes`].
    pub async fn await_body_bytes(&mut self, n: usize) {
        self.conn.await_body_bytes(n).await;
    }

    /// The next whole frame, or a panic after [`LIMIT`].
    pub async fn read_frame(&mut self) -> Frame {
        self.conn.read_frame().await
    }

    /// The next whole frame; `None` if the connection closes first.
    pub async fn try_read_frame(&mut self) -> Option<Frame> {
        self.conn.try_read_frame().await
    }

    /// True if the switch closes the connection within `wait` (reading and
    /// discarding anything sent before).
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        self.conn.closed_within(wait).await
    }
}
