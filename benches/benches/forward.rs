//! Criterion benchmarks of the sans-IO forwarding path: one shard's
//! `msrp_proto::endpoint::Endpoint` with no sockets, a 1:1 session, A sending to B.
//!
//! Run from the workspace root:
//!
//! ```text
//! cargo bench -p msrp-benches --bench forward
//! cargo bench -p msrp-benches --bench forward -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p msrp-benches --bench forward -- forward_1k   # one group
//! ```
//!
//! One iteration is what the connection drivers of a shard do for a batch: A's bytes
//! are fed to `handle_input` read by read (copied into A's reused read buffer, as a
//! socket read would), B's output is drained with `take_output` and decoded by B, B's
//! 200s are fed back, A's 200s are drained and decoded. A fake clock advances by
//! `transaction_timeout / 256` per iteration and `handle_timeout` runs whenever
//! `poll_timeout` is due, so each forwarded chunk's timer is pushed *and* popped, as
//! in a long-running daemon.
//!
//! Groups, each with two timings:
//! - `forward_1k`: 64 pipelined 1 KiB SENDs from A in 64 KiB reads; reported in
//!   forwarded messages/s.
//! - `forward_64k`: one SEND with a 64 KiB body arriving in 16 KiB reads, forwarded
//!   cut-through (B's output is drained after every read); reported in body bytes/s.
//! - `.../switch_and_peers` times the whole iteration, the peers' copying, decoding
//!   and answer writing included; `.../switch_only` times only the calls into the
//!   switch (`handle_input`, `take_output`, `handle_timeout`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use msrp_proto::codec::{Decoder, Item, Limits, MsrpUri, TransactionId};
use msrp_proto::endpoint::{Endpoint, EndpointConfig};
use msrp_proto::ids::{ConnId, WireIds};
use msrp_proto::media::{RemoteMedia, SetupRole};
use msrp_proto::session::SessionKind;
use msrp_proto::stats::Stats as ShardMetrics;

const A: &str = "msrp://127.0.0.1:40001/aaaa1111;tcp";
const B: &str = "msrp://127.0.0.1:40002/bbbb2222;tcp";

/// SENDs per iteration in `forward_1k`.
const PIPELINED: usize = 64;
/// A socket read in `forward_1k`.
const READ_1K: usize = 64 * 1024;
/// The body in `forward_64k`.
const BIG: usize = 64 * 1024;
/// A socket read in `forward_64k`.
const READ_64K: usize = 16 * 1024;

fn remote(path: &str) -> RemoteMedia {
    RemoteMedia {
        path: vec![MsrpUri::parse_str(path).expect("a valid URI")],
        accept_types: vec!["*".into()],
        accept_wrapped_types: Vec::new(),
        max_size: None,
        setup: SetupRole::Passive,
        cema: false,
        ..Default::default()
    }
}

/// `count` SENDs of `body_len` bytes from A to the switch's URI for A.
fn sends(to: &MsrpUri, count: usize, body_len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..count {
        let tid = format!("bench{i:06}");
        out.extend_from_slice(
            format!(
                "MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {A}\r\n\
                 Message-ID: msg{i:06}\r\nByte-Range: 1-{body_len}/{body_len}\r\n\
                 Content-Type: text/plain\r\n\r\n"
            )
            .as_bytes(),
        );
        out.resize(out.len() + body_len, b'x');
        out.extend_from_slice(format!("\r\n-------{tid}$\r\n").as_bytes());
    }
    out
}

/// A peer's side of its connection: the bytes the switch wrote, decoded.
struct Reader {
    decoder: Decoder,
    buf: BytesMut,
}

impl Reader {
    fn new() -> Self {
        Self {
            decoder: Decoder::new(Limits::default()),
            buf: BytesMut::with_capacity(256 * 1024),
        }
    }
}

/// A switch with A and B bound, and everything an iteration reuses.
struct Rig {
    switch: Endpoint,
    a: ConnId,
    b: ConnId,
    /// The switch's URI for A: the To-Path of A's SENDs.
    a_switch_uri: MsrpUri,
    /// The switch's URI for B: the To-Path of B's 200s.
    b_switch_uri: String,
    now: Instant,
    step: Duration,
    a_in: BytesMut,
    a_reader: Reader,
    b_reader: Reader,
    pieces: Vec<Bytes>,
    answers: BytesMut,
    to_answer: Vec<TransactionId>,
    /// Time spent inside the switch's calls.
    spent: Duration,
    /// 200s A read.
    a_200s: usize,
    /// Body bytes B read.
    b_body: usize,
}

impl Rig {
    fn new() -> Self {
        let config = EndpointConfig::default();
        let step = config.transaction_timeout / 256;
        let now = Instant::now();
        let metrics = Arc::new(ShardMetrics::default());
        let mut switch = Endpoint::new(config, 0, WireIds::seeded(1), metrics, Instant::now());
        let session = switch.create_session(SessionKind::OneToOne);
        let pa = switch
            .add_participant(session, remote(A), now)
            .expect("participant A");
        let pb = switch
            .add_participant(session, remote(B), now)
            .expect("participant B");
        let a = switch.open_connection(now);
        let b = switch.open_connection(now);
        let mut rig = Self {
            switch,
            a,
            b,
            a_switch_uri: pa.local_uri.clone(),
            b_switch_uri: pb.local_uri.to_string(),
            now,
            step,
            a_in: BytesMut::with_capacity(READ_1K),
            a_reader: Reader::new(),
            b_reader: Reader::new(),
            pieces: Vec::with_capacity(1024),
            answers: BytesMut::with_capacity(64 * 1024),
            to_answer: Vec::with_capacity(1024),
            spent: Duration::ZERO,
            a_200s: 0,
            b_body: 0,
        };
        for (conn, to, from, tid) in [
            (a, &pa.local_uri, A, "bindA"),
            (b, &pb.local_uri, B, "bindB"),
        ] {
            let bind = format!(
                "MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: {tid}\r\n\
                 Byte-Range: 1-0/0\r\n-------{tid}$\r\n"
            );
            rig.switch
                .handle_input(conn, &mut BytesMut::from(bind.as_bytes()), now);
        }
        rig.drain_a();
        rig.drain_b();
        assert_eq!(rig.a_200s, 1, "A bound");
        rig.to_answer.clear();
        rig.a_200s = 0;
        rig
    }

    /// Runs `call` on the switch, adding its time to `spent`.
    fn timed<R>(&mut self, call: impl FnOnce(&mut Endpoint) -> R) -> R {
        let start = Instant::now();
        let result = call(&mut self.switch);
        self.spent += start.elapsed();
        result
    }

    /// What a driver does after each call: act on wakes and events (nothing here).
    fn drain_actions(&mut self) {
        while self.switch.poll_action().is_some() {}
        while self.switch.poll_event().is_some() {}
    }

    fn drain_a(&mut self) {
        let (a, mut pieces) = (self.a, std::mem::take(&mut self.pieces));
        self.timed(|s| s.take_output(a, &mut pieces, usize::MAX));
        for piece in &pieces {
            self.a_reader.buf.extend_from_slice(piece);
        }
        pieces.clear();
        self.pieces = pieces;
        while let Some(item) = self
            .a_reader
            .decoder
            .decode(&mut self.a_reader.buf)
            .expect("A reads well-formed frames")
        {
            if let Item::Head(head) = item
                && head.response_status().is_some_and(|s| s.as_u16() == 200)
            {
                self.a_200s += 1;
            }
        }
    }

    fn drain_b(&mut self) {
        let (b, mut pieces) = (self.b, std::mem::take(&mut self.pieces));
        self.timed(|s| s.take_output(b, &mut pieces, usize::MAX));
        for piece in &pieces {
            self.b_reader.buf.extend_from_slice(piece);
        }
        pieces.clear();
        self.pieces = pieces;
        while let Some(item) = self
            .b_reader
            .decoder
            .decode(&mut self.b_reader.buf)
            .expect("B reads well-formed frames")
        {
            match item {
                Item::Head(head) if head.is_request() => {
                    self.to_answer.push(*head.transaction_id());
                }
                Item::Body(piece) => self.b_body += black_box(piece).len(),
                _ => {}
            }
        }
    }

    /// B answers every SEND it read with a 200.
    fn answer_b(&mut self) {
        for tid in &self.to_answer {
            let out = &mut self.answers;
            out.extend_from_slice(b"MSRP ");
            out.extend_from_slice(tid.as_bytes());
            out.extend_from_slice(b" 200 OK\r\nTo-Path: ");
            out.extend_from_slice(self.b_switch_uri.as_bytes());
            out.extend_from_slice(b"\r\nFrom-Path: ");
            out.extend_from_slice(B.as_bytes());
            out.extend_from_slice(b"\r\n-------");
            out.extend_from_slice(tid.as_bytes());
            out.extend_from_slice(b"$\r\n");
        }
        self.to_answer.clear();
        let (b, now, mut answers) = (self.b, self.now, std::mem::take(&mut self.answers));
        self.timed(|s| s.handle_input(b, &mut answers, now));
        self.answers = answers;
    }

    /// One iteration: A's `input` in reads of `read` bytes, B's output drained after
    /// each; B's 200s back; A's 200s drained; the clock ticks.
    fn round(&mut self, input: &[u8], read: usize) {
        let (a, now) = (self.a, self.now);
        for bytes in input.chunks(read) {
            self.a_in.reserve(read);
            self.a_in.extend_from_slice(bytes);
            let mut a_in = std::mem::take(&mut self.a_in);
            self.timed(|s| s.handle_input(a, &mut a_in, now));
            self.a_in = a_in;
            self.drain_actions();
            self.drain_b();
        }
        self.answer_b();
        self.drain_actions();
        self.drain_a();
        self.now += self.step;
        if self.switch.poll_timeout().is_some_and(|at| at <= self.now) {
            let now = self.now;
            self.timed(|s| s.handle_timeout(now));
        }
        self.drain_actions();
    }

    /// Runs `iters` rounds; the time spent inside the switch.
    fn rounds_switch_only(&mut self, input: &[u8], read: usize, iters: u64) -> Duration {
        self.spent = Duration::ZERO;
        for _ in 0..iters {
            self.round(input, read);
        }
        self.spent
    }

    /// Checks that the rounds so far delivered everything.
    fn check(&mut self, messages_per_round: usize, bytes_per_round: usize) {
        assert_eq!(self.a_200s % messages_per_round, 0, "A got every 200");
        assert_eq!(self.b_body % bytes_per_round, 0, "B got every body byte");
        assert_eq!(
            self.a_200s / messages_per_round,
            self.b_body / bytes_per_round
        );
        assert_eq!(self.switch.outstanding_transactions(), 0);
    }
}

fn forward_1k(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward_1k");
    group.throughput(Throughput::Elements(PIPELINED as u64));
    let mut rig = Rig::new();
    let input = sends(&rig.a_switch_uri, PIPELINED, 1024);
    group.bench_function("switch_and_peers", |b| {
        b.iter(|| rig.round(&input, READ_1K));
    });
    rig.check(PIPELINED, PIPELINED * 1024);
    group.bench_function("switch_only", |b| {
        b.iter_custom(|iters| rig.rounds_switch_only(&input, READ_1K, iters));
    });
    rig.check(PIPELINED, PIPELINED * 1024);
    group.finish();
}

fn forward_64k(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward_64k");
    group.throughput(Throughput::Bytes(BIG as u64));
    let mut rig = Rig::new();
    let input = sends(&rig.a_switch_uri, 1, BIG);
    group.bench_function("switch_and_peers", |b| {
        b.iter(|| rig.round(&input, READ_64K));
    });
    rig.check(1, BIG);
    group.bench_function("switch_only", |b| {
        b.iter_custom(|iters| rig.rounds_switch_only(&input, READ_64K, iters));
    });
    rig.check(1, BIG);
    group.finish();
}

criterion_group!(benches, forward_1k, forward_64k);
criterion_main!(benches);
