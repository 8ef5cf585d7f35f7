//! Steady-state allocations of the sans-IO forwarding path: a [`Endpoint`] driven with
//! no sockets and no clock, A sending 10,000 pipelined 1 KiB SENDs to B through a
//! 1:1 session (or through the RFC 4976 relay, both clients AUTHed: [`Mode`]), B
//! answering every forwarded SEND with a 200. The first 1,000 messages warm up;
//! allocations are counted over the rest.
//!
//! The workload and its correctness checks (every body arrives unchanged, A gets
//! 10,000 200s, no transaction is left outstanding) run on every `cargo test`.
//!
//! The counting `#[global_allocator]` needs `unsafe impl GlobalAlloc`: the
//! workspace denies unsafe code and each crate root forbids it, and this test file
//! alone allows it. `MSRP_ALLOC_BACKTRACE=N` prints the backtraces of the first N
//! counted allocations, to find where they come from.
//!
//! Two ways of reading A's socket are measured:
//! - `recycled_read_buffers`: two read buffers used in turn, each taken back with
//!   `try_reclaim` once the switch has dropped every slice of it. This isolates the
//!   switch: at most [`MAX_ALLOCS`] allocations over 9,000 messages.
//! - `one_read_buffer_reserved_per_read`: one `BytesMut` and `reserve(64 KiB)` before
//!   each read (what the driver does). The switch keeps zero-copy slices of
//!   the previous read alive (the head of the message still streaming, in its
//!   `Forward` and `Reply` URIs; the last head in the spare `Forward`), so `reserve`
//!   cannot reclaim it and allocates a new buffer plus its shared header: two
//!   allocations per read on top of [`MAX_ALLOCS`].
//!
//! At commit 78eaa5f these counted 789 (one buffer) and 447 (recycled) allocations
//! over 8,949 messages: the encoder allocated a new block per 16 KiB of heads (now it
//! takes back retired blocks with `try_reclaim`), and the timer heap kept answered
//! transactions (now compacted). A driver rotating two read buffers (the
//! recycled case) lost data under load and was reverted; the driver reserves per read.

#![allow(unsafe_code)] // the counting global allocator below

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use msrp_proto::codec::{ContinuationFlag, Decoder, Item, Limits, MsrpUri, TransactionId};
use msrp_proto::endpoint::{Endpoint, EndpointConfig};
use msrp_proto::ids::{ConnId, WireIds};
use msrp_proto::media::{RemoteMedia, SetupRole};
use msrp_proto::relay::{RelayAuth, RelayConfig};
use msrp_proto::session::SessionKind;
use msrp_proto::stats::Stats as ShardMetrics;

const A: &str = "msrp://127.0.0.1:40001/aaaa1111;tcp";
const B: &str = "msrp://127.0.0.1:40002/bbbb2222;tcp";

const MESSAGES: usize = 10_000;
const WARM_UP: usize = 1_000;
const BODY: usize = 1024;
/// What one socket read hands the switch.
const READ_BYTES: usize = 64 * 1024;
/// Allocations allowed over the 9,000 measured messages: a few for buffers and
/// tables that grow once, far below one per message.
const MAX_ALLOCS: u64 = 64;

#[path = "support/counting.rs"]
mod counting;

/// FNV-1a 64, continued from `h`.
fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3))
}

const FNV_START: u64 = 0xcbf29ce484222325;

fn remote(path: &str) -> RemoteMedia {
    RemoteMedia {
        path: vec![MsrpUri::parse_str(path).unwrap()],
        accept_types: vec!["*".into()],
        accept_wrapped_types: Vec::new(),
        max_size: None,
        setup: SetupRole::Passive,
        cema: false,
        ..Default::default()
    }
}

/// A bodiless AUTH from `from` to the relay (RFC 4976).
fn auth_frame(tid: &str, from: &str) -> BytesMut {
    BytesMut::from(
        format!(
            "MSRP {tid} AUTH\r\nTo-Path: msrp://127.0.0.1:2855;tcp\r\nFrom-Path: {from}\r\n\
             -------{tid}$\r\n"
        )
        .as_bytes(),
    )
}

fn bind_frame(tid: &str, to: &MsrpUri, from: &str) -> BytesMut {
    BytesMut::from(
        format!(
            "MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: {tid}\r\n\
             Byte-Range: 1-0/0\r\n-------{tid}$\r\n"
        )
        .as_bytes(),
    )
}

/// The body of message `i`: varies per message and per byte, and can never hold an
/// end-line (consecutive bytes differ by 7 mod 251, so no CR LF pair).
fn body(i: usize) -> Vec<u8> {
    (0..BODY).map(|j| ((i * 31 + j * 7) % 251) as u8).collect()
}

/// Message `i`'s index, from its Message-ID `mNNNNNNN`.
fn message_index(id: &str) -> usize {
    id[1..].parse().unwrap()
}

/// Everything one side reads from the switch, decoded as a peer would.
struct Reader {
    decoder: Decoder,
    buf: BytesMut,
}

impl Reader {
    fn new() -> Self {
        Self {
            decoder: Decoder::new(Limits::default()),
            buf: BytesMut::with_capacity(1024 * 1024),
        }
    }
}

/// What carries A's messages to B.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// A 1:1 session of the switch.
    Switch,
    /// The RFC 4976 relay: A and B each AUTH, A's To-Path is A's relay URI, B's
    /// relay URI and B.
    Relay,
}

struct Rig {
    switch: Endpoint,
    a: ConnId,
    b: ConnId,
    now: Instant,
    /// Output pieces of one `take_output`, reused.
    pieces: Vec<Bytes>,
    a_reader: Reader,
    b_reader: Reader,
    /// B's 200s, written here and fed to the switch, reused.
    answers: BytesMut,
    /// The forwarded SENDs' transaction ids still to answer, reused.
    to_answer: Vec<TransactionId>,
    /// B's URI for the switch, the To-Path of B's answers.
    b_switch_uri: String,
    a_200s: usize,
    /// Per message: the hash of the body B received, and its length.
    got: Vec<(u64, usize)>,
    /// The message whose body B is receiving.
    current: Option<usize>,
    /// The Use-Path of the last AUTH answered (relay mode).
    use_path: Option<String>,
}

impl Rig {
    /// The rig and A's To-Path.
    fn new(mode: Mode) -> (Self, String) {
        let now = Instant::now();
        let metrics = Arc::new(ShardMetrics::default());
        let config = EndpointConfig {
            relay: RelayConfig {
                auth: RelayAuth::None,
                ..RelayConfig::default()
            },
            ..EndpointConfig::default()
        };
        let mut switch = Endpoint::new(config, 0, WireIds::seeded(7), metrics, Instant::now());
        let a = switch.open_connection(now);
        let b = switch.open_connection(now);
        let mut rig = Self {
            switch,
            a,
            b,
            now,
            pieces: Vec::with_capacity(256),
            a_reader: Reader::new(),
            b_reader: Reader::new(),
            answers: BytesMut::with_capacity(256 * 1024),
            to_answer: Vec::with_capacity(1024),
            b_switch_uri: String::new(),
            a_200s: 0,
            got: vec![(FNV_START, 0); MESSAGES],
            current: None,
            use_path: None,
        };
        let a_to_path = match mode {
            Mode::Switch => {
                let session = rig.switch.create_session(SessionKind::OneToOne);
                let pa = rig.switch.add_participant(session, remote(A), now).unwrap();
                let pb = rig.switch.add_participant(session, remote(B), now).unwrap();
                rig.b_switch_uri = pb.local_uri.to_string();
                rig.switch
                    .handle_input(a, &mut bind_frame("bindA", &pa.local_uri, A), now);
                rig.switch
                    .handle_input(b, &mut bind_frame("bindB", &pb.local_uri, B), now);
                pa.local_uri.to_string()
            }
            Mode::Relay => {
                rig.switch.handle_input(b, &mut auth_frame("bindB", B), now);
                rig.drain_b();
                let relay_b = rig.use_path.take().expect("B's Use-Path");
                rig.switch.handle_input(a, &mut auth_frame("bindA", A), now);
                rig.drain_a();
                rig.a_200s = 0;
                let relay_a = rig.use_path.take().expect("A's Use-Path");
                rig.b_switch_uri = relay_b.clone();
                // A's answer was read already: count it as the bind's.
                rig.a_200s = 1;
                format!("{relay_a} {relay_b} {B}")
            }
        };
        rig.drain_actions();
        rig.drain_a();
        assert_eq!(rig.a_200s, 1, "A's bind answered");
        rig.a_200s = 0;
        rig.drain_b();
        assert!(rig.to_answer.is_empty());
        (rig, a_to_path)
    }

    /// What a driver does after each call: act on wakes (here, nothing to do).
    fn drain_actions(&mut self) {
        while self.switch.poll_action().is_some() {}
        while self.switch.poll_event().is_some() {}
    }

    /// A reads its output: counts the 200s.
    fn drain_a(&mut self) {
        self.switch
            .take_output(self.a, &mut self.pieces, usize::MAX);
        for piece in &self.pieces {
            self.a_reader.buf.extend_from_slice(piece);
        }
        self.pieces.clear();
        loop {
            match self.a_reader.decoder.decode(&mut self.a_reader.buf) {
                Ok(Some(Item::Head(head))) => {
                    assert_eq!(head.response_status().map(|s| s.as_u16()), Some(200));
                    if let Some(uri) = head.use_path().next() {
                        self.use_path = Some(uri.to_string());
                    }
                    self.a_200s += 1;
                }
                Ok(Some(Item::Body(_))) => panic!("a response with a body"),
                Ok(Some(Item::End(flag))) => assert_eq!(flag, ContinuationFlag::End),
                Ok(None) => break,
                Err(err) => panic!("A got a malformed frame: {err}"),
            }
        }
    }

    /// B reads its output: hashes the bodies, notes the SENDs to answer.
    fn drain_b(&mut self) {
        self.switch
            .take_output(self.b, &mut self.pieces, usize::MAX);
        for piece in &self.pieces {
            self.b_reader.buf.extend_from_slice(piece);
        }
        self.pieces.clear();
        loop {
            match self.b_reader.decoder.decode(&mut self.b_reader.buf) {
                Ok(Some(Item::Head(head))) if head.response_status().is_some() => {
                    // Only B's own bind SEND (or AUTH) is answered on B's leg.
                    assert_eq!(head.transaction_id().as_str(), "bindB");
                    if let Some(uri) = head.use_path().next() {
                        self.use_path = Some(uri.to_string());
                    }
                    self.current = None;
                }
                Ok(Some(Item::Head(head))) => {
                    assert_eq!(head.method_name(), Some("SEND"));
                    let index = message_index(head.message_id().unwrap().as_str());
                    let range = head.byte_range().unwrap();
                    assert_eq!(range.total, Some(BODY as u64));
                    let (_, len) = self.got[index];
                    assert_eq!(
                        range.start,
                        len as u64 + 1,
                        "message {index} resumes in place"
                    );
                    self.current = Some(index);
                    self.to_answer.push(*head.transaction_id());
                }
                Ok(Some(Item::Body(piece))) => {
                    let (hash, len) = &mut self.got[self.current.unwrap()];
                    *hash = fnv(*hash, &piece);
                    *len += piece.len();
                }
                Ok(Some(Item::End(_))) => self.current = None,
                Ok(None) => break,
                Err(err) => panic!("B got a malformed frame: {err}"),
            }
        }
    }

    /// B answers every SEND it has read with a 200.
    fn answer_b(&mut self) {
        for tid in &self.to_answer {
            let tid = tid.as_bytes();
            let out = &mut self.answers;
            out.extend_from_slice(b"MSRP ");
            out.extend_from_slice(tid);
            out.extend_from_slice(b" 200 OK\r\nTo-Path: ");
            out.extend_from_slice(self.b_switch_uri.as_bytes());
            out.extend_from_slice(b"\r\nFrom-Path: ");
            out.extend_from_slice(B.as_bytes());
            out.extend_from_slice(b"\r\n-------");
            out.extend_from_slice(tid);
            out.extend_from_slice(b"$\r\n");
        }
        self.to_answer.clear();
        self.switch
            .handle_input(self.b, &mut self.answers, self.now);
        assert!(self.answers.is_empty(), "every answer consumed");
    }

    /// One round of the loop a driver runs for both connections: A's read is
    /// handled, then B's output is read and answered, then A's.
    fn round(&mut self, input: &mut Input, read: &[u8]) {
        let a_in = input.fill(read);
        self.switch.handle_input(self.a, a_in, self.now);
        self.drain_actions();
        self.drain_b();
        self.answer_b();
        self.drain_actions();
        self.drain_a();
        self.drain_actions();
    }
}

/// How A's connection reads its socket.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Reads {
    /// One buffer, `reserve(READ_BYTES)` before each read (transport/driver.rs).
    One,
    /// Two buffers in turn, each reused once the switch holds no slice of it.
    Recycled,
}

/// A's read buffer(s).
struct Input {
    reads: Reads,
    buf: BytesMut,
    other: BytesMut,
}

impl Input {
    fn new(reads: Reads) -> Self {
        Self {
            reads,
            buf: BytesMut::with_capacity(READ_BYTES),
            other: BytesMut::with_capacity(READ_BYTES),
        }
    }

    /// Appends one socket read's bytes; the buffer to hand the switch.
    fn fill(&mut self, read: &[u8]) -> &mut BytesMut {
        match self.reads {
            Reads::One => self.buf.reserve(READ_BYTES),
            Reads::Recycled => {
                if !self.buf.try_reclaim(READ_BYTES) {
                    // Still shared with the switch (a head, a body piece): carry the
                    // unconsumed tail over to the other buffer and read into that.
                    if !self.other.try_reclaim(READ_BYTES) {
                        self.other.reserve(READ_BYTES);
                    }
                    self.other.extend_from_slice(&self.buf);
                    self.buf.clear();
                    std::mem::swap(&mut self.buf, &mut self.other);
                }
            }
        }
        self.buf.extend_from_slice(read);
        &mut self.buf
    }
}

/// A's 10,000 pipelined SENDs (unique tids and Message-IDs) along `a_to_path`,
/// built up front, and the hash of each body.
fn a_stream(a_to_path: &str) -> (Vec<u8>, Vec<u64>) {
    let mut stream = Vec::with_capacity(MESSAGES * (BODY + 256));
    let mut hashes = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let body = body(i);
        let tid = format!("a{i:07}");
        stream.extend_from_slice(
            format!(
                "MSRP {tid} SEND\r\nTo-Path: {a_to_path}\r\nFrom-Path: {A}\r\n\
                 Message-ID: m{i:07}\r\nByte-Range: 1-{BODY}/{BODY}\r\n\
                 Content-Type: text/plain\r\n\r\n"
            )
            .as_bytes(),
        );
        stream.extend_from_slice(&body);
        stream.extend_from_slice(format!("\r\n-------{tid}$\r\n").as_bytes());
        hashes.push(fnv(FNV_START, &body));
    }
    (stream, hashes)
}

/// Runs the workload; asserts delivery; returns the allocations counted after the
/// warm-up (if counting), the messages and the reads they span.
fn forward_10k(mode: Mode, reads: Reads) -> (Option<u64>, usize, usize) {
    let (mut rig, a_to_path) = Rig::new(mode);
    let (stream, sent) = a_stream(&a_to_path);

    let mut input = Input::new(reads);
    let mut counted_from = None;
    let mut measured_reads = 0;
    for read in stream.chunks(READ_BYTES) {
        if counted_from.is_none() && rig.a_200s >= WARM_UP {
            counted_from = Some(rig.a_200s);
            counting::start();
        }
        if counted_from.is_some() {
            measured_reads += 1;
        }
        rig.round(&mut input, read);
    }
    let allocations = counting::stop();
    assert!(input.buf.is_empty(), "A's input all consumed");

    assert_eq!(rig.a_200s, MESSAGES, "A got a 200 per SEND");
    for (i, (want, (hash, len))) in sent.iter().zip(&rig.got).enumerate() {
        assert_eq!(*len, BODY, "message {i} length");
        assert_eq!(hash, want, "message {i} body");
    }
    assert_eq!(rig.switch.outstanding_transactions(), 0);

    let measured = MESSAGES - counted_from.unwrap();
    match allocations {
        Some(n) => println!(
            "forward_alloc ({mode:?}, {reads:?} read buffer): {n} allocations over {measured} forwarded \
             1 KiB messages in {measured_reads} reads of 64 KiB ({:.4} per message)",
            n as f64 / measured as f64
        ),
        None => panic!("allocations not counted"),
    }
    (allocations, measured, measured_reads)
}

#[test]
fn recycled_read_buffers() {
    let (allocations, measured, _) = forward_10k(Mode::Switch, Reads::Recycled);
    if let Some(n) = allocations {
        assert!(
            n <= MAX_ALLOCS,
            "{n} allocations over {measured} messages (bound {MAX_ALLOCS})"
        );
    }
}

#[test]
fn one_read_buffer_reserved_per_read() {
    let (allocations, measured, reads) = forward_10k(Mode::Switch, Reads::One);
    if let Some(n) = allocations {
        // Each read allocates a new buffer and its shared header (see the docs).
        let bound = MAX_ALLOCS + 2 * reads as u64;
        assert!(
            n <= bound,
            "{n} allocations over {measured} messages in {reads} reads (bound {bound})"
        );
    }
}

/// The same through the RFC 4976 relay: zero allocations per relayed message in
/// steady state too (the request's box is reused, the REPORT paths shared).
#[test]
fn relayed_messages_with_recycled_read_buffers() {
    let (allocations, measured, _) = forward_10k(Mode::Relay, Reads::Recycled);
    if let Some(n) = allocations {
        assert!(
            n <= MAX_ALLOCS,
            "{n} allocations over {measured} relayed messages (bound {MAX_ALLOCS})"
        );
    }
}
