//! A small MSRP test peer over real TCP, and an engine on loopback for each test.
//! The peer writes literal frames and reads what arrives with the crate's decoder.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use msrp_proto::control::ParticipantInfo;
use msrp_proto::endpoint::EndpointConfig;
use msrp_proto::ids::SessionKey;
use msrp_proto::media::{RemoteMedia, SetupRole};
use msrp_proto::session::SessionKind;
use msrp_switch::codec::{ContinuationFlag, Decoder, Head, Item, Limits, MsrpUri};
use msrp_switch::transport::{Engine, EngineConfig};

/// Every wait in these tests is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(20);

/// An engine on 127.0.0.1:0 with `shards` shards; stopped when dropped.
pub struct TestEngine {
    pub engine: Engine,
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        self.engine.shutdown();
    }
}

impl std::ops::Deref for TestEngine {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.engine
    }
}

pub fn start_engine(shards: usize, tune: impl FnOnce(&mut EndpointConfig)) -> TestEngine {
    // MSRP_TEST_LOG=1 prints the switch's trace logs for the test.
    if std::env::var("MSRP_TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("msrp_switch=trace")
            .with_test_writer()
            .try_init();
    }
    let mut switch = EndpointConfig::default();
    tune(&mut switch);
    let engine = Engine::start(EngineConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        advertise_host: None,
        shards,
        pin_cores: false,
        switch,
    })
    .unwrap();
    TestEngine { engine }
}

/// Remote media for a passive-switch participant whose path is `path`.
pub fn remote(path: &str) -> RemoteMedia {
    RemoteMedia {
        path: vec![MsrpUri::parse_str(path).unwrap()],
        accept_types: vec!["*".into()],
        accept_wrapped_types: Vec::new(),
        max_size: None,
        setup: SetupRole::Passive,
        cema: false,
    }
}

/// A 1:1 session with participants whose paths are `a` and `b`.
pub async fn one_to_one(
    engine: &Engine,
    a: &str,
    b: &str,
) -> (SessionKey, ParticipantInfo, ParticipantInfo) {
    let session = engine.create_session(SessionKind::OneToOne).await.unwrap();
    let pa = engine.add_participant(session, remote(a)).await.unwrap();
    let pb = engine.add_participant(session, remote(b)).await.unwrap();
    (session, pa, pb)
}

/// One decoded frame: head, the whole body, the flag.
#[derive(Debug)]
pub struct Frame {
    pub head: Head,
    pub body: Vec<u8>,
    pub flag: ContinuationFlag,
}

impl Frame {
    pub fn tid(&self) -> String {
        self.head.transaction_id().to_string()
    }
    pub fn target_path(&self) -> Vec<String> {
        self.head.to_path().map(|u| u.to_string()).collect()
    }
    pub fn sender_path(&self) -> Vec<String> {
        self.head.from_path().map(|u| u.to_string()).collect()
    }
    pub fn status(&self) -> Option<u16> {
        self.head.response_status().map(|s| s.as_u16())
    }
    pub fn method(&self) -> Option<String> {
        self.head.method_name().map(str::to_string)
    }
}

/// An MSRP endpoint: `me` is its own URI (its From-Path), `switch` the switch's URI
/// for it (its To-Path).
pub struct Peer {
    pub stream: TcpStream,
    pub me: String,
    pub switch: String,
    decoder: Decoder,
    buf: BytesMut,
    seq: u32,
}

impl Peer {
    pub async fn connect(addr: SocketAddr, me: &str, switch: &MsrpUri) -> Peer {
        let stream = timeout(LIMIT, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        Peer::over(stream, me, switch.as_str())
    }

    pub fn over(stream: TcpStream, me: &str, switch: &str) -> Peer {
        stream.set_nodelay(true).unwrap();
        Peer {
            stream,
            me: me.into(),
            switch: switch.into(),
            decoder: Decoder::new(Limits::default()),
            buf: BytesMut::new(),
            seq: 0,
        }
    }

    pub fn next_tid(&mut self) -> String {
        self.seq += 1;
        format!("t{:07}", self.seq)
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        timeout(LIMIT, self.stream.write_all(bytes))
            .await
            .unwrap()
            .unwrap();
    }

    /// A whole SEND frame (one chunk) from this peer.
    pub fn send_frame(&self, tid: &str, message_id: &str, extra: &str, body: &[u8]) -> Vec<u8> {
        let mut frame = format!(
            "MSRP {tid} SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: {message_id}\r\n\
             Byte-Range: 1-{len}/{len}\r\n{extra}Content-Type: text/plain\r\n\r\n",
            self.switch,
            self.me,
            len = body.len()
        )
        .into_bytes();
        frame.extend_from_slice(body);
        frame.extend_from_slice(format!("\r\n-------{tid}$\r\n").as_bytes());
        frame
    }

    /// The bodiless SEND that binds a connection (RFC 4975 §5.4); waits for its 200.
    pub async fn bind(&mut self) {
        let tid = self.next_tid();
        let frame = format!(
            "MSRP {tid} SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: bind{tid}\r\n\
             Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            self.switch, self.me
        );
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

    /// Answers a request 200 (hop by hop).
    pub async fn answer(&mut self, request: &Frame, status: &str) {
        let frame = format!(
            "MSRP {} {status}\r\nTo-Path: {}\r\nFrom-Path: {}\r\n-------{}$\r\n",
            request.tid(),
            request.sender_path()[0],
            self.me,
            request.tid()
        );
        self.write(frame.as_bytes()).await;
    }

    /// Waits until at least `n` bytes not yet decoded have arrived (for example the
    /// start of a chunk still streaming).
    pub async fn await_bytes(&mut self, n: usize) {
        timeout(LIMIT, async {
            while self.buf.len() < n {
                self.buf.reserve(64 * 1024);
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => panic!("connection closed"),
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("bytes did not arrive in time");
    }

    /// Waits until the frame being received has at least `n` body bytes buffered
    /// (counted after its blank line).
    pub async fn await_body_bytes(&mut self, n: usize) {
        timeout(LIMIT, async {
            loop {
                let body = memchr::memmem::find(&self.buf, b"\r\n\r\n")
                    .map_or(0, |at| self.buf.len() - at - 4);
                if body >= n {
                    return;
                }
                self.buf.reserve(64 * 1024);
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => panic!("connection closed"),
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("body bytes did not arrive in time");
    }

    /// The next whole frame, or a panic after [`LIMIT`].
    pub async fn read_frame(&mut self) -> Frame {
        timeout(LIMIT, self.try_read_frame())
            .await
            .expect("no frame in time")
            .expect("connection closed")
    }

    /// The next whole frame; `None` if the connection closes first.
    pub async fn try_read_frame(&mut self) -> Option<Frame> {
        let mut head = None;
        let mut body = Vec::new();
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(Item::Head(h))) => head = Some(h),
                Ok(Some(Item::Body(piece))) => body.extend_from_slice(&piece),
                Ok(Some(Item::End(flag))) => {
                    return Some(Frame {
                        head: head.take().expect("end before head"),
                        body,
                        flag,
                    });
                }
                Ok(None) => {
                    self.buf.reserve(64 * 1024);
                    match self.stream.read_buf(&mut self.buf).await {
                        Ok(0) | Err(_) => return None,
                        Ok(_) => {}
                    }
                }
                Err(err) => panic!("switch sent a malformed frame: {err}"),
            }
        }
    }

    /// True if the switch closes the connection within `wait` (reading and
    /// discarding anything sent before).
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let mut sink = [0u8; 4096];
        timeout(wait, async {
            loop {
                match self.stream.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }
}

/// SHA-256-free content check: FNV-1a 64 over the bytes, enough to tell bodies apart.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// Reads `/metrics` from the engine (rendered directly; the HTTP test scrapes).
pub fn metric(engine: &Engine, series: &str) -> i64 {
    let text = engine.render_metrics();
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
}
