// The switch fuzz harness, shared by the cargo-fuzz target
// (`fuzz/fuzz_targets/switch.rs`) and the replay test (`tests/fuzz_switch_replay.rs`),
// which both `include!` this file so the two can never drift apart. Plain `//`
// comments only: an included file cannot carry inner attributes or `//!` docs.
//
// The input is a program for the sans-IO switch (`msrp_proto::endpoint::Endpoint`) on
// a fake clock. A header sets the switch up: a 1:1 session, a group, or both, with
// participants whose paths the harness knows, and a few accepted connections, each
// passive participant bound to one of them. Then each op byte picks an operation
// and the bytes after it its operands: feed raw bytes on a connection, feed a
// well-formed SEND, REPORT, bodiless SEND, NICKNAME or response built from the
// operands (addressed to a participant's URI, so it routes and is forwarded, and
// split at chosen points), close a connection, advance the clock, take output, answer
// a request the switch wrote, and the control calls (remove a participant, release
// a session, add a participant, answer the switch's offer, modify the media,
// report a socket as blocked). A byte past the end of the input reads as 0, so
// every input is a valid program. See `Program` and `Op` for the exact layout.
//
// What one run checks (any violation panics, which libFuzzer reports as a crash):
// - nothing panics (overflow checks and debug assertions are on in both builds);
// - `handle_input` only takes bytes from the front of the buffer it is given;
// - everything the switch writes on every connection decodes as MSRP frames (a
//   `Decoder` with generous limits, fed in the pieces `take_output` gives, never errs);
// - responses: a shadow decoder is fed exactly the bytes the switch consumed on each
//   connection, so the harness sees every request the switch read. A request read to
//   its end-line (or refused by the decoder with the framing kept) whose
//   Failure-Report is absent or `yes` and that is not a REPORT gets exactly one
//   response with its transaction id on that connection, once everything is written;
//   `Failure-Report: no` (and a REPORT) read to its end-line gets none; no response
//   ever names a transaction id more often than requests with that id were read.
//   Only connections whose queued answers the switch still writes are held to "at
//   least one": the harness closing a connection, the switch dropping it as a slow
//   consumer, and the switch closing a bound connection because its framing was lost
//   or its participant moved to a new path all discard what was queued (see
//   `Peer::excused`); a removal flushes it, and is held to it;
// - the gauges never go negative, the connections gauge counts exactly the
//   connections open, and the sessions and participants gauges match what
//   `session_keys` / `session_info` list;
// - after the program every connection is closed, every session released and the
//   clock run past every timer: the queue, connection, session and participant
//   gauges are 0, `outstanding_transactions()` is 0 and no timer is left.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use msrp_proto::codec::{Decoder, FailureReport, Framing, Item, Limits, Method, MsrpUri};
use msrp_proto::control::{Negotiation, SessionOptions};
use msrp_proto::endpoint::{Action, Endpoint, EndpointConfig};
use msrp_proto::ids::{ConnId, ParticipantId, SessionKey, WireIds};
use msrp_proto::media::{Identity, Policy, RemoteMedia, SetupRole, SlowConsumer};
use msrp_proto::session::{SessionKind, SessionLimits};
use msrp_proto::stats::Stats;

/// The longest input read; the rest is ignored, so one run stays fast.
pub const MAX_INPUT: usize = 16 * 1024;
/// The most operations one program runs.
pub const MAX_OPS: usize = 256;
/// The most bytes one program feeds the switch in all (generated bodies can be
/// longer than the input that asks for them).
const MAX_FED: usize = 512 * 1024;
/// Bytes a connection may hold unread (backpressure) before the harness stops
/// feeding it: the shadow decoder copies what is consumed, never the backlog.
const MAX_PENDING: usize = 64 * 1024;
/// The group's identity (CPIM To of a public message).
const ROOM: &str = "sip:room@example.com";

/// The operations, by op byte modulo their count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `k len cut cut data[len]`: raw bytes on connection `k`.
    Raw,
    /// `k p frame...`: a SEND from participant `p` on connection `k` (see
    /// [`Run::send_frame`]).
    Send,
    /// `k p tid msg cut cut`: a REPORT from `p` on `k`.
    Report,
    /// `k i status`: answer request `i` the switch wrote on `k`.
    Answer,
    /// `k p tid fr`: a bodiless SEND from `p` on `k` (binds, keeps alive).
    Bind,
    /// `k p tid which nick`: NICKNAME, AUTH or an unknown method from `p` on `k`.
    Other,
    /// `k`: the peer closes connection `k`.
    Close,
    /// `step`: advance the clock, then `handle_timeout`.
    Advance,
    /// `k max`: take up to `max * 16` bytes of output from `k` (255: all).
    Take,
    /// `p`: RemoveParticipant.
    Remove,
    /// `s`: ReleaseSession.
    Release,
    /// `s media`: AddParticipant to session `s`.
    Add,
    /// Accept a new connection.
    Open,
    /// `k blocked`: the transport reports `k`'s socket as blocked or writable.
    Block,
    /// `p media`: the remote answer to the switch's offer to `p`.
    SetAnswer,
    /// `p media newpath`: new remote media for `p` (a re-INVITE).
    Modify,
}

/// Every op, in op-byte order.
pub const OPS: [Op; 16] = [
    Op::Raw,
    Op::Send,
    Op::Report,
    Op::Answer,
    Op::Bind,
    Op::Other,
    Op::Close,
    Op::Advance,
    Op::Take,
    Op::Remove,
    Op::Release,
    Op::Add,
    Op::Open,
    Op::Block,
    Op::SetAnswer,
    Op::Modify,
];

impl Op {
    /// The op byte that selects this op.
    pub fn byte(self) -> u8 {
        OPS.iter().position(|&op| op == self).unwrap_or(0) as u8
    }
}

/// Reads the input as operands: a byte past the end is 0, so any input is a program.
pub struct Program<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Program<'a> {
    /// A program over `data` (cut to [`MAX_INPUT`]).
    pub fn new(data: &'a [u8]) -> Self {
        Self {
            data: &data[..data.len().min(MAX_INPUT)],
            pos: 0,
        }
    }

    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn below(&mut self, n: usize) -> usize {
        let b = usize::from(self.byte());
        if n == 0 { 0 } else { b % n }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = self.pos.saturating_add(n).min(self.data.len());
        self.pos = self.pos.saturating_add(n);
        &self.data[start..end]
    }

    fn is_done(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// What a run did, for tests that check a seed reaches what it was written for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Operations run.
    pub ops: usize,
    /// Requests the switch read to their end-line (shadow decoder).
    pub requests_read: usize,
    /// Responses the switch wrote.
    pub responses_out: usize,
    /// SEND requests the switch wrote (forwarded chunks, group copies, bind SENDs).
    pub sends_out: usize,
    /// REPORT requests the switch wrote.
    pub reports_out: usize,
    /// Responses the harness fed to requests the switch wrote.
    pub answers_in: usize,
    /// Control calls that succeeded.
    pub control_ok: usize,
    /// Connections the switch opened (active setup role).
    pub connects: usize,
}

/// A request being read, as the shadow decoder saw its head.
struct Reading {
    tid: String,
    method: Method,
    failure_report: FailureReport,
}

/// Responses a transaction id is owed on one connection, and how many came.
#[derive(Debug, Default, Clone, Copy)]
struct Owed {
    min: u32,
    max: u32,
    got: u32,
}

/// A request the switch wrote, with what an answer to it needs.
struct Written {
    tid: String,
    /// Its first From-Path URI: where the answer goes.
    to: String,
    /// Its first To-Path URI: the answering peer.
    from: String,
}

/// One connection as the peer on its far side sees it.
struct Peer {
    id: ConnId,
    /// Fed and not yet consumed by the switch (backpressure leaves bytes here).
    input: BytesMut,
    /// Decodes exactly what the switch consumed, to know which requests it read.
    shadow: Decoder,
    shadow_buf: BytesMut,
    reading: Option<Reading>,
    /// Decodes what the switch wrote.
    out: Decoder,
    out_buf: BytesMut,
    /// Requests the switch wrote here, not yet answered.
    written: Vec<Written>,
    owed: BTreeMap<String, Owed>,
    /// `handle_close` was called: what was queued for it is gone.
    closed: bool,
    /// Counted in the connections gauge (accepted, or connected out).
    counted: bool,
    /// Why the switch may have discarded answers queued for this connection's peer:
    /// it lost framing, or a new path moved its participant away. Either way the
    /// switch closes it while it is bound, and a bound connection's answers wait in
    /// its participant's leg, which a closing connection no longer writes (and which
    /// `unbind` clears).
    excused: Option<&'static str>,
}

/// A participant as the harness added it.
struct Member {
    id: ParticipantId,
    session: usize,
    /// Its own URI: the From-Path it writes.
    path: String,
    /// The switch's URI for it: the To-Path it writes.
    local_uri: String,
    /// Its IM address (the CPIM From a group checks).
    address: String,
    /// It connects to the switch (setup passive, answered): the setup binds it.
    dials: bool,
}

/// The state of one run.
pub struct Run {
    switch: Endpoint,
    stats: Arc<Stats>,
    now: Instant,
    limits: Limits,
    peers: Vec<Peer>,
    members: Vec<Member>,
    sessions: Vec<(SessionKey, SessionKind)>,
    /// Participants made so far: each gets a fresh path.
    serial: usize,
    fed: usize,
    connects_fail: bool,
    summary: Summary,
    /// Print every step to stderr (to read a failing input).
    trace: bool,
    /// Large messages as the transport's store holds them, by session.
    stores: BTreeMap<SessionKey, Vec<u8>>,
}

/// Runs one fuzz input; returns what it did.
pub fn run(data: &[u8]) -> Summary {
    run_traced(data, false)
}

/// [`run`], printing every step to stderr with `trace`: ops, the bytes fed and how
/// many the switch consumed, and the bytes it wrote.
pub fn run_traced(data: &[u8], trace: bool) -> Summary {
    let mut program = Program::new(data);
    let mut run = Run::setup(&mut program, trace);
    while !program.is_done() && run.summary.ops < MAX_OPS {
        let op = OPS[program.below(OPS.len())];
        if run.trace {
            eprintln!("== op {} {op:?} at {}", run.summary.ops, program.pos);
        }
        // A new path closes the participant's connection (see `Peer::excused`).
        let open: Vec<bool> = match op {
            _ if run.trace => run
                .peers
                .iter()
                .map(|p| !run.switch.is_closing(p.id))
                .collect(),
            Op::Modify => run
                .peers
                .iter()
                .map(|p| !run.switch.is_closing(p.id))
                .collect(),
            _ => Vec::new(),
        };
        run.op(op, &mut program);
        for (peer, was_open) in run.peers.iter_mut().zip(open) {
            if was_open && run.switch.is_closing(peer.id) {
                if run.trace {
                    eprintln!("   {:?} is closing", peer.id);
                }
                if op == Op::Modify {
                    peer.excused = Some("new path");
                }
            }
        }
        run.summary.ops += 1;
        run.drain();
        run.check_gauges();
    }
    run.settle();
    run.check_responses();
    run.teardown();
    run.summary
}

/// Small limits, so that the head, URI-count, header-count, id-length and
/// chunk-size caps are all within reach of a program (the decode harness's).
fn small_limits() -> Limits {
    Limits {
        max_head_bytes: 512,
        max_uris_per_path: 2,
        max_headers: 8,
        max_transaction_id_bytes: 12,
        max_chunk_bytes: 256,
    }
}

/// Limits for reading what the switch wrote: anything well formed passes (a head the
/// switch rewrote may be a little longer than the one it read).
fn reader_limits() -> Limits {
    Limits {
        max_head_bytes: usize::from(u16::MAX),
        max_uris_per_path: 64,
        max_headers: 256,
        max_transaction_id_bytes: Limits::TRANSACTION_ID_CAPACITY,
        max_chunk_bytes: u64::MAX,
    }
}

impl Run {
    /// Reads the header and builds the switch: config, sessions, participants,
    /// connections, and the binds of the passive participants.
    ///
    /// byte 0, config: bit 0 small limits; bit 1 small queues (512 bytes); bit 2 small
    /// fan-out chunks (64 bytes); bit 3 session limits (released after 20 s, or 10 s
    /// idle); bit 4 the switch's outgoing connects fail; bit 5 no binds at setup;
    /// bits 6-7 sessions: 0 a 1:1, 1 a group, 2 and 3 both.
    /// byte 1, group policy: bit 0 private messages, bit 1 nicknames, bit 2 pause
    /// (not drop) slow consumers, bit 3 accept-types `message/cpim text/plain` and
    /// max-size 1000, bit 4 min max-size 100.
    /// byte 2: connections accepted at the start, 2 + b % 5.
    /// Then one media byte (see [`Run::media`]) per participant: two in the 1:1, then
    /// three in the group.
    fn setup(program: &mut Program<'_>, trace: bool) -> Self {
        let config_byte = program.byte();
        let policy_byte = program.byte();
        let conns = 2 + program.below(5);
        let limits = if config_byte & 1 != 0 {
            small_limits()
        } else {
            Limits::default()
        };
        assert_eq!(limits.validate(), Ok(()));
        let queue_bytes = if config_byte & 2 != 0 { 512 } else { 64 * 1024 };
        let config = EndpointConfig {
            limits: limits.clone(),
            transaction_timeout: Duration::from_secs(2),
            bind_timeout: Duration::from_secs(3),
            queue_bytes,
            session_idle: Some(Duration::from_secs(5)),
            slow_consumer_grace: Duration::from_secs(1),
            fanout_chunk_bytes: if config_byte & 4 != 0 { 64 } else { 4096 },
            slow_consumer_max_bytes: 4 * queue_bytes,
            offer_timeout: Duration::from_secs(4),
            session_limits: if config_byte & 8 != 0 {
                SessionLimits {
                    max_duration: Some(Duration::from_secs(20)),
                    idle_release: Some(Duration::from_secs(10)),
                }
            } else {
                SessionLimits::default()
            },
            ..EndpointConfig::default()
        };
        let now = Instant::now();
        let stats = Arc::new(Stats::default());
        let switch = Endpoint::new(config, 0, WireIds::seeded(1), Arc::clone(&stats), now);
        let mut run = Self {
            switch,
            stats,
            now,
            limits,
            peers: Vec::new(),
            members: Vec::new(),
            sessions: Vec::new(),
            serial: 0,
            fed: 0,
            connects_fail: config_byte & 16 != 0,
            summary: Summary::default(),
            trace,
            stores: BTreeMap::new(),
        };
        if trace {
            eprintln!(
                "== setup: config {config_byte:#010b}, policy {policy_byte:#010b}, {conns} connections"
            );
        }
        let kinds: &[SessionKind] = match config_byte >> 6 {
            0 => &[SessionKind::OneToOne],
            1 => &[SessionKind::Group],
            2 => &[SessionKind::OneToOne, SessionKind::Group],
            _ => &[
                SessionKind::OneToOne,
                SessionKind::Group,
                SessionKind::LargeMessage,
            ],
        };
        for &kind in kinds {
            let policy = match kind {
                SessionKind::OneToOne | SessionKind::LargeMessage => Policy::default(),
                SessionKind::Group => group_policy(policy_byte),
            };
            let options = SessionOptions {
                group_identity: ROOM.into(),
                policy,
                correlation_tag: String::new(),
                limits: SessionLimits::default(),
            };
            let key = run.switch.create_session_opts(kind, options, now);
            run.sessions.push((key, kind));
        }
        for _ in 0..conns {
            run.open();
        }
        for s in 0..run.sessions.len() {
            let count = match run.sessions[s].1 {
                SessionKind::OneToOne => 2,
                SessionKind::Group | SessionKind::LargeMessage => 3,
            };
            for _ in 0..count {
                let media = program.byte();
                run.add(s, media);
            }
        }
        run.drain();
        if config_byte & 32 == 0 {
            // Each participant that connects to the switch binds a connection of its
            // own, in order; the accepted connections come first.
            let dialing = (0..run.members.len()).filter(|&m| run.members[m].dials);
            for (k, m) in (0..conns).zip(dialing.collect::<Vec<_>>()) {
                let frame = run.bodiless(m, &format!("bind{m}"), "");
                run.feed(k, &frame, &[]);
                run.take(k, usize::MAX);
            }
            run.drain();
        }
        run.check_gauges();
        run
    }

    /// Runs one operation, reading its operands.
    fn op(&mut self, op: Op, program: &mut Program<'_>) {
        match op {
            Op::Raw => {
                let k = program.byte();
                let len = usize::from(program.byte());
                let cuts = [program.byte(), program.byte()];
                let data = program.take(len).to_vec();
                self.feed_to(k, &data, &cuts);
            }
            Op::Send => {
                let k = program.byte();
                let m = program.byte();
                if let Some(m) = self.member(m) {
                    let (frame, cuts) = self.send_frame(m, program);
                    self.feed_to(k, &frame, &cuts);
                }
            }
            Op::Report => {
                let (k, m) = (program.byte(), program.byte());
                let tid = tid(program.byte());
                let message = program.byte() % 8;
                let cuts = [program.byte(), program.byte()];
                if let Some(m) = self.member(m) {
                    let frame = format!(
                        "{}Message-ID: msg{message}\r\nByte-Range: 1-10/10\r\n\
                         Status: 000 200 OK\r\n-------{tid}$\r\n",
                        self.start(m, &tid, "REPORT", 0)
                    );
                    self.feed_to(k, frame.as_bytes(), &cuts);
                }
            }
            Op::Answer => {
                let k = program.byte();
                let i = usize::from(program.byte());
                let status = [
                    "200 OK",
                    "400 Bad Request",
                    "403 Forbidden",
                    "408 Request Timeout",
                    "413 Stop",
                    "415 Unsupported",
                    "481 No Session",
                    "506 In Use",
                ][program.below(8)];
                self.answer(k, i, status);
            }
            Op::Bind => {
                let (k, m) = (program.byte(), program.byte());
                let tid = tid(program.byte());
                let fr = failure_report(program.byte());
                if let Some(m) = self.member(m) {
                    let frame = self.bodiless(m, &tid, fr);
                    self.feed_to(k, &frame, &[]);
                }
            }
            Op::Other => {
                let (k, m) = (program.byte(), program.byte());
                let tid = tid(program.byte());
                let which = program.byte();
                let nick = [
                    "alice",
                    "Alice",
                    "",
                    "bob",
                    "x\\\"y",
                    "a-very-long-nickname-\
                    that-goes-on-and-on-beyond-sixty-four-characters-of-text",
                ][usize::from(program.byte()) % 6];
                if let Some(m) = self.member(m) {
                    let frame = match which % 4 {
                        0 | 1 => {
                            let value = if which & 4 != 0 {
                                nick.to_owned()
                            } else {
                                format!("\"{nick}\"")
                            };
                            format!(
                                "{}Use-Nickname: {value}\r\n-------{tid}$\r\n",
                                self.start(m, &tid, "NICKNAME", which >> 3)
                            )
                        }
                        2 => format!("{}-------{tid}$\r\n", self.start(m, &tid, "AUTH", 0)),
                        _ => format!("{}-------{tid}$\r\n", self.start(m, &tid, "FOO", 0)),
                    };
                    self.feed_to(k, frame.as_bytes(), &[]);
                }
            }
            Op::Close => {
                let k = program.byte();
                if let Some(k) = self.peer(k) {
                    self.close(k);
                }
            }
            Op::Advance => {
                let step = program.byte();
                let millis = match step % 8 {
                    0 => 0,
                    1 => 10,
                    2 => 250,
                    3 => 1_000,
                    4 => 2_100,
                    5 => 3_100,
                    6 => 5_100,
                    _ => u64::from(step) * 100,
                };
                self.now += Duration::from_millis(millis);
                self.switch.handle_timeout(self.now);
            }
            Op::Take => {
                let k = program.byte();
                let max = program.byte();
                if let Some(k) = self.peer(k) {
                    let max = if max == 255 {
                        usize::MAX
                    } else {
                        usize::from(max) * 16
                    };
                    self.take(k, max);
                }
            }
            Op::Remove => {
                let m = program.byte();
                if let Some(m) = self.member(m) {
                    let result = self.switch.remove_participant(self.members[m].id);
                    self.summary.control_ok += usize::from(result.is_ok());
                }
            }
            Op::Release => {
                let s = program.below(self.sessions.len());
                if let Some(&(key, _)) = self.sessions.get(s) {
                    let result = self.switch.release_session(key);
                    self.summary.control_ok += usize::from(result.is_ok());
                }
            }
            Op::Add => {
                let s = program.below(self.sessions.len());
                let media = program.byte();
                self.add(s, media);
            }
            Op::Open => self.open(),
            Op::Block => {
                let k = program.byte();
                let blocked = program.byte() & 1 == 1;
                if let Some(k) = self.peer(k) {
                    self.switch.set_write_blocked(self.peers[k].id, blocked);
                }
            }
            Op::SetAnswer => {
                let m = program.byte();
                let media = program.byte();
                if let Some(m) = self.member(m) {
                    let mut remote = self.media(media, &self.members[m].path.clone());
                    // An answer's role is never "the switch offers".
                    remote.setup = if media & 8 != 0 {
                        SetupRole::Active
                    } else {
                        SetupRole::Passive
                    };
                    let result =
                        self.switch
                            .set_remote_answer(self.members[m].id, remote, self.now);
                    self.summary.control_ok += usize::from(result.is_ok());
                }
            }
            Op::Modify => {
                let m = program.byte();
                let media = program.byte();
                let new_path = program.byte() & 1 == 1;
                if let Some(m) = self.member(m) {
                    let path = if new_path {
                        self.serial += 1;
                        peer_path(self.serial)
                    } else {
                        self.members[m].path.clone()
                    };
                    let remote = self.media(media, &path);
                    let result =
                        self.switch
                            .modify_participant(self.members[m].id, remote, self.now);
                    if result.is_ok() {
                        self.members[m].path = path;
                        self.summary.control_ok += 1;
                    }
                }
            }
        }
    }

    /// Member `m` (by index modulo the members), if there is any.
    fn member(&self, m: u8) -> Option<usize> {
        (!self.members.is_empty()).then(|| usize::from(m) % self.members.len())
    }

    /// Connection `k` (by index modulo the connections), if there is any.
    fn peer(&self, k: u8) -> Option<usize> {
        (!self.peers.is_empty()).then(|| usize::from(k) % self.peers.len())
    }

    /// Accepts a connection.
    fn open(&mut self) {
        let id = self.switch.open_connection(self.now);
        self.push_peer(id, true);
    }

    fn push_peer(&mut self, id: ConnId, counted: bool) {
        self.peers.push(Peer {
            id,
            input: BytesMut::new(),
            shadow: Decoder::new(self.limits.clone()),
            shadow_buf: BytesMut::new(),
            reading: None,
            out: Decoder::new(reader_limits()),
            out_buf: BytesMut::new(),
            written: Vec::new(),
            owed: BTreeMap::new(),
            closed: false,
            counted,
            excused: None,
        });
    }

    /// A participant's remote media from a media byte: bits 0-1 accept-types (`*`,
    /// `text/plain`, `message/cpim`, `message/cpim text/plain`); bit 2
    /// accept-wrapped-types `*`; bit 3 the switch connects (setup active); bit 5
    /// max-size 512; bit 6 CEMA. (Bit 4, in [`Run::add`]: the switch offers.)
    fn media(&self, media: u8, path: &str) -> RemoteMedia {
        let types: &[&str] = match media & 3 {
            0 => &["*"],
            1 => &["text/plain"],
            2 => &["message/cpim"],
            _ => &["message/cpim", "text/plain"],
        };
        RemoteMedia {
            path: vec![uri(path)],
            accept_types: types.iter().map(|t| (*t).to_owned()).collect(),
            accept_wrapped_types: if media & 4 != 0 {
                vec!["*".to_owned()]
            } else {
                Vec::new()
            },
            max_size: (media & 32 != 0).then_some(512),
            setup: if media & 8 != 0 {
                SetupRole::Active
            } else {
                SetupRole::Passive
            },
            cema: media & 64 != 0,
            ..Default::default()
        }
    }

    /// AddParticipant to session `s` with a fresh path; with media bit 4 the switch
    /// offers and the participant is pending until [`Op::SetAnswer`].
    fn add(&mut self, s: usize, media: u8) {
        let Some(&(key, _)) = self.sessions.get(s) else {
            return;
        };
        self.serial += 1;
        let path = peer_path(self.serial);
        let address = format!("sip:u{}@example.com", self.serial);
        let identity = Identity {
            im_address: address.clone(),
            privacy_alias: None,
        };
        let negotiation = if media & 16 != 0 {
            Negotiation::Offer {
                offer_from: None,
                transport: None,
                websocket: media & 32 != 0,
                ws_proto: media & 64 != 0,
            }
        } else {
            Negotiation::Answer {
                offer: self.media(media, &path),
                answer_with: None,
            }
        };
        let result = self
            .switch
            .add(key, identity, negotiation, String::new(), self.now);
        if let Ok(info) = result {
            self.summary.control_ok += 1;
            self.members.push(Member {
                id: info.id,
                session: s,
                path,
                local_uri: info.local_uri.to_string(),
                address,
                dials: media & 24 == 0,
            });
        }
    }

    /// A request's start line and paths from member `m`. `paths` (bits 0-1): 0 as
    /// given in SDP, 1 the switch's URI with another host (CEMA), 2 an unknown
    /// session-id, 3 a From-Path the participant never gave.
    fn start(&self, m: usize, tid: &str, method: &str, paths: u8) -> String {
        let member = &self.members[m];
        let to = match paths & 3 {
            1 => member.local_uri.replacen("127.0.0.1", "192.0.2.99", 1),
            2 => "msrp://127.0.0.1:2855/nosuchsession;tcp".to_owned(),
            _ => member.local_uri.clone(),
        };
        let from = if paths & 3 == 3 {
            "msrp://198.51.100.1:9/stranger;tcp".to_owned()
        } else {
            member.path.clone()
        };
        format!("MSRP {tid} {method}\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n")
    }

    /// A bodiless SEND from member `m`.
    fn bodiless(&self, m: usize, tid: &str, failure_report: &str) -> Vec<u8> {
        format!(
            "{}Message-ID: {tid}\r\nByte-Range: 1-0/0\r\n{failure_report}-------{tid}$\r\n",
            self.start(m, tid, "SEND", 0)
        )
        .into_bytes()
    }

    /// A SEND chunk from member `m`, from the operands
    /// `tid msg range flags body cpim paths cut cut` (one byte each; `body` and
    /// `cpim` as below), and the cut points to feed it at.
    ///
    /// - `range` (b % 6): no Byte-Range, `1-*/*`, `1-L/L`, `S-*/T`, `1-*/T`, `S-E/T`,
    ///   where L is the body length, S = 1 + 50 * (b / 6 % 4) and T = S - 1 + L
    ///   (or more with bit 7);
    /// - `flags`: bits 0-1 Failure-Report (none, yes, no, partial); bits 2-3
    ///   Success-Report (none, yes, no); bits 4-5 the end-line flag (`$`, `+`, `#`);
    ///   bits 6-7 Content-Type (text/plain, message/cpim, image/png, none);
    /// - `body`: bits 0-6 the length in units of 8 bytes of filler; bit 7 set: the
    ///   length is that many bytes taken from the input instead;
    /// - `cpim` (message/cpim only): bits 0-1 From (the sender, another member,
    ///   nobody, garbage); bits 2-4 To (the room, another member, two members,
    ///   nobody, the sender itself); bits 5-6 the wrapped type (text/plain,
    ///   message/imdn+xml, none, image/png);
    /// - `paths`: see [`Run::start`].
    fn send_frame(&mut self, m: usize, program: &mut Program<'_>) -> (Vec<u8>, [u8; 2]) {
        let tid = tid(program.byte());
        let message = program.byte() % 8;
        let range = program.byte();
        let flags = program.byte();
        let body_byte = program.byte();
        let cpim_byte = program.byte();
        let paths = program.byte();
        let cuts = [program.byte(), program.byte()];
        let content_type = ["text/plain", "message/cpim", "image/png", ""][usize::from(flags >> 6)];
        let mut body = Vec::new();
        if content_type == "message/cpim" {
            body.extend_from_slice(self.cpim(m, cpim_byte).as_bytes());
        }
        let len = usize::from(body_byte & 0x7F);
        if body_byte & 0x80 != 0 {
            body.extend_from_slice(program.take(len));
        } else {
            body.extend((0..len * 8).map(|i| b'a' + (i % 26) as u8));
        }
        let l = body.len() as u64;
        let start = 1 + 50 * u64::from(range / 6 % 4);
        let total = start - 1 + l + if range & 0x80 != 0 { 100 } else { 0 };
        let byte_range = match range % 6 {
            0 => String::new(),
            1 => "Byte-Range: 1-*/*\r\n".to_owned(),
            2 => format!("Byte-Range: 1-{l}/{l}\r\n"),
            3 => format!("Byte-Range: {start}-*/{total}\r\n"),
            4 => format!("Byte-Range: 1-*/{total}\r\n"),
            _ => format!("Byte-Range: {start}-{}/{total}\r\n", start - 1 + l),
        };
        let failure_report = failure_report(flags);
        let success_report = ["", "Success-Report: yes\r\n", "Success-Report: no\r\n", ""]
            [usize::from(flags >> 2 & 3)];
        let flag = ['$', '+', '#', '$'][usize::from(flags >> 4 & 3)];
        let mut frame = format!(
            "{}Message-ID: msg{message}\r\n{byte_range}{failure_report}{success_report}",
            self.start(m, &tid, "SEND", paths)
        )
        .into_bytes();
        if !content_type.is_empty() {
            frame.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        frame.extend_from_slice(b"\r\n");
        frame.extend_from_slice(&body);
        frame.extend_from_slice(format!("\r\n-------{tid}{flag}\r\n").as_bytes());
        (frame, cuts)
    }

    /// The CPIM headers of a message from member `m` (see [`Run::send_frame`]). The
    /// other members named are the next two of its session, in order.
    fn cpim(&self, m: usize, cpim: u8) -> String {
        let me = &self.members[m];
        let mates: Vec<&Member> = self
            .members
            .iter()
            .filter(|x| x.session == me.session)
            .collect();
        let at = mates.iter().position(|x| x.id == me.id).unwrap_or(0);
        let other = &mates[(at + 1) % mates.len()].address;
        let third = &mates[(at + 2) % mates.len()].address;
        let me = &me.address;
        let from = match cpim & 3 {
            0 => format!("From: <{me}>\r\n"),
            1 => format!("From: Someone <{other}>\r\n"),
            2 => String::new(),
            _ => "From: <<broken\r\n".to_owned(),
        };
        let to = match cpim >> 2 & 7 {
            0 | 5 => format!("To: <{ROOM}>\r\n"),
            1 | 6 => format!("To: <{other}>\r\n"),
            2 => format!("To: <{other}>\r\nTo: <{third}>\r\n"),
            3 => String::new(),
            _ => format!("To: <{me}>\r\n"),
        };
        let wrapped = [
            "Content-Type: text/plain\r\n",
            "Content-Type: message/imdn+xml\r\n",
            "",
            "Content-Type: image/png\r\n",
        ][usize::from(cpim >> 5 & 3)];
        format!("{from}{to}NS: imdn <urn:ietf:params:imdn>\r\n\r\n{wrapped}\r\n")
    }

    /// Answers request `i` the switch wrote on connection `k` (a peer's response:
    /// To-Path is the request's first From-Path URI).
    fn answer(&mut self, k: u8, i: usize, status: &str) {
        let Some(k) = self.peer(k) else {
            return;
        };
        let written = &mut self.peers[k].written;
        if written.is_empty() {
            return;
        }
        let w = written.remove(i % written.len());
        let frame = format!(
            "MSRP {} {status}\r\nTo-Path: {}\r\nFrom-Path: {}\r\n-------{}$\r\n",
            w.tid, w.to, w.from, w.tid
        );
        self.summary.answers_in += 1;
        self.feed(k, frame.as_bytes(), &[]);
    }

    /// Feeds `data` on connection `k` (by index modulo the connections).
    fn feed_to(&mut self, k: u8, data: &[u8], cuts: &[u8]) {
        if let Some(k) = self.peer(k) {
            self.feed(k, data, cuts);
        }
    }

    /// Feeds `data` on connection `k` in up to three reads, cut at the points `cuts`
    /// picks (each byte a fraction of the length), calling `handle_input` after each.
    fn feed(&mut self, k: usize, data: &[u8], cuts: &[u8]) {
        if self.peers[k].closed
            || self.peers[k].input.len() > MAX_PENDING
            || self.fed + data.len() > MAX_FED
        {
            return;
        }
        self.fed += data.len();
        let mut points: Vec<usize> = cuts
            .iter()
            .map(|&c| data.len() * usize::from(c) / 256)
            .collect();
        points.push(data.len());
        points.sort_unstable();
        let mut at = 0;
        for point in points {
            if point > at {
                self.peers[k].input.extend_from_slice(&data[at..point]);
                self.input(k);
                at = point;
            }
        }
        if data.is_empty() {
            // Nothing new: the switch may still read what backpressure held.
            self.input(k);
        }
    }

    /// Lets the switch read what waits on connection `k`, and shadows what it took.
    fn input(&mut self, k: usize) {
        let peer = &mut self.peers[k];
        let before = peer.input.clone();
        let was_open = !self.switch.is_closing(peer.id);
        self.switch.handle_input(peer.id, &mut peer.input, self.now);
        if was_open && self.switch.is_closing(peer.id) {
            // Lost framing (the bad bytes stay unconsumed, so the shadow never sees
            // them), perhaps right after a request in the same read bound it: see
            // `Peer::excused`.
            peer.excused = Some("closed by the switch while reading");
        }
        let left = peer.input.len();
        assert!(left <= before.len(), "handle_input grew the buffer");
        let consumed = before.len() - left;
        if self.trace {
            eprintln!(
                "-> {:?} fed {:?}, consumed {consumed}",
                peer.id,
                String::from_utf8_lossy(&before)
            );
        }
        assert_eq!(
            &before[consumed..],
            &peer.input[..],
            "handle_input took bytes from somewhere else than the front"
        );
        if consumed > 0 {
            peer.shadow_buf.extend_from_slice(&before[..consumed]);
            self.shadow(k);
        }
    }

    /// Decodes what the switch consumed on connection `k`, as the switch did, and
    /// books the responses each request it read is owed.
    fn shadow(&mut self, k: usize) {
        let peer = &mut self.peers[k];
        loop {
            match peer.shadow.decode(&mut peer.shadow_buf) {
                Ok(None) => return,
                Ok(Some(Item::Head(head))) => {
                    peer.reading = head.method().map(|method| Reading {
                        tid: head.transaction_id().as_str().to_owned(),
                        method,
                        failure_report: head.failure_report().unwrap_or(FailureReport::Yes),
                    });
                    // The decoder may refuse the chunk (413) from bytes it has not
                    // consumed yet, so one response may come as soon as the head is
                    // read; the end-line settles what the request is owed.
                    if let Some(r) = &peer.reading {
                        peer.owed.entry(r.tid.clone()).or_default().max += 1;
                    }
                }
                Ok(Some(Item::Body(_))) => {}
                Ok(Some(Item::End(_))) => {
                    if let Some(r) = peer.reading.take() {
                        // RFC 4975 §7.1.2: `yes` always gets a response, `partial`
                        // only an error, `no` never; a REPORT is never answered.
                        let answered = r.method != Method::Report;
                        let owed = peer.owed.entry(r.tid).or_default();
                        owed.max -= 1;
                        owed.min += u32::from(answered && r.failure_report == FailureReport::Yes);
                        owed.max += u32::from(answered && r.failure_report != FailureReport::No);
                        assert!(
                            owed.got <= owed.max,
                            "connection {:?}: a response came to a request owed none",
                            peer.id
                        );
                        self.summary.requests_read += 1;
                    }
                }
                Err(err) => {
                    let reading = peer.reading.take();
                    if err.framing() == Framing::Lost {
                        // The switch closes without an answer; nothing more is read.
                        return;
                    }
                    // A frame refused with the framing kept: answered once if it can be
                    // addressed (the decoder may not know its Failure-Report). After a
                    // head, that one response is already allowed.
                    match reading {
                        Some(r) => {
                            let owed = peer.owed.entry(r.tid).or_default();
                            owed.min += u32::from(
                                r.method != Method::Report
                                    && r.failure_report == FailureReport::Yes,
                            );
                        }
                        None => {
                            if let Some(answer) = err.answer() {
                                let tid = answer.transaction_id.as_str().to_owned();
                                let owed = peer.owed.entry(tid).or_default();
                                owed.min += 1;
                                owed.max += 1;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Takes up to `max` bytes of output from connection `k` (all of it with
    /// `usize::MAX`) and reads it as a peer would.
    fn take(&mut self, k: usize, max: usize) -> usize {
        let peer = &mut self.peers[k];
        let mut total = 0;
        loop {
            let mut pieces: Vec<Bytes> = Vec::new();
            let taken = self.switch.take_output(peer.id, &mut pieces, max);
            let sum: usize = pieces.iter().map(Bytes::len).sum();
            assert_eq!(taken, sum, "take_output's count differs from what it moved");
            for piece in &pieces {
                assert!(!piece.is_empty(), "take_output moved an empty piece");
                peer.out_buf.extend_from_slice(piece);
                if self.trace {
                    eprintln!("<- {:?} {:?}", peer.id, String::from_utf8_lossy(piece));
                }
            }
            total += taken;
            if taken == 0 || max != usize::MAX {
                break;
            }
        }
        loop {
            match peer.out.decode(&mut peer.out_buf) {
                Ok(None) => break,
                Ok(Some(Item::Head(head))) => {
                    let tid = head.transaction_id().as_str().to_owned();
                    if head.method().is_none() {
                        self.summary.responses_out += 1;
                        let owed = peer.owed.entry(tid.clone()).or_default();
                        owed.got += 1;
                        assert!(
                            owed.got <= owed.max,
                            "connection {:?}: response {} to {tid}, which was owed at most \
                             {} ({:?})",
                            peer.id,
                            owed.got,
                            owed.max,
                            String::from_utf8_lossy(head.as_bytes())
                        );
                    } else {
                        match head.method() {
                            Some(Method::Report) => self.summary.reports_out += 1,
                            _ => self.summary.sends_out += 1,
                        }
                        let first = |uri: Option<MsrpUri>| uri.map(|u| u.to_string());
                        peer.written.push(Written {
                            tid,
                            to: first(head.from_path().next()).unwrap_or_default(),
                            from: first(head.to_path().next()).unwrap_or_default(),
                        });
                        if peer.written.len() > 64 {
                            peer.written.remove(0);
                        }
                    }
                }
                Ok(Some(Item::Body(_) | Item::End(_))) => {}
                Err(err) => panic!(
                    "connection {:?}: the switch wrote a malformed frame: {err}",
                    peer.id
                ),
            }
        }
        total
    }

    /// The peer closes connection `k`.
    fn close(&mut self, k: usize) {
        let peer = &mut self.peers[k];
        if peer.closed {
            return;
        }
        peer.closed = true;
        peer.counted = false;
        self.switch.handle_close(peer.id, self.now);
    }

    /// Handles the switch's actions (connect out: it succeeds, or fails with config
    /// bit 4) and drops its events.
    fn drain(&mut self) {
        while let Some(event) = self.switch.poll_tagged_event() {
            if self.trace {
                eprintln!("   event {:?}", event.event);
            }
        }
        while let Some(action) = self.switch.poll_action() {
            if self.trace && !matches!(action, Action::Wake(_)) {
                eprintln!("   action {action:?}");
            }
            match &action {
                // The store, as the transport keeps it: in order, at once.
                Action::Store {
                    session,
                    offset,
                    bytes,
                } => {
                    let store = self.stores.entry(*session).or_default();
                    assert_eq!(*offset, store.len() as u64, "stored bytes follow each other");
                    store.extend_from_slice(bytes);
                    let upto = store.len() as u64;
                    self.switch.large_message_stored(*session, upto, self.now);
                }
                Action::Replay {
                    session,
                    participant,
                    offset,
                    len,
                } => {
                    let store = self.stores.get(session).map(Vec::as_slice).unwrap_or_default();
                    let from = *offset as usize;
                    let bytes = store
                        .get(from..from + len)
                        .map(Bytes::copy_from_slice)
                        .ok_or_else(|| format!("{len} bytes at {from} not stored"));
                    assert!(bytes.is_ok(), "replay of bytes never stored");
                    self.switch
                        .large_message_replayed(*participant, *offset, bytes, self.now);
                }
                Action::ReleaseStore { session } => {
                    self.stores.remove(session);
                }
                Action::Connect { .. } | Action::Wake(_) => {}
            }
            if let Action::Connect { conn, .. } = action {
                self.summary.connects += 1;
                if self.connects_fail {
                    self.switch.handle_close(conn, self.now);
                    self.push_peer(conn, false);
                    if let Some(peer) = self.peers.last_mut() {
                        peer.closed = true;
                    }
                } else {
                    self.switch.connected(conn);
                    self.push_peer(conn, true);
                }
            }
        }
    }

    /// The gauges never go negative and agree with what the switch lists.
    fn check_gauges(&self) {
        let gauge = |g: &AtomicI64| g.load(Ordering::Relaxed);
        let s = &*self.stats;
        for (name, value) in [
            ("queue_bytes", gauge(&s.queue_bytes)),
            ("connections", gauge(&s.connections)),
            ("sessions_one_to_one", gauge(&s.sessions_one_to_one)),
            ("sessions_group", gauge(&s.sessions_group)),
            ("participants_one_to_one", gauge(&s.participants_one_to_one)),
            ("participants_group", gauge(&s.participants_group)),
        ] {
            assert!(value >= 0, "gauge {name} is {value}");
        }
        let open = self.peers.iter().filter(|p| p.counted).count() as i64;
        assert_eq!(gauge(&s.connections), open, "connections gauge");
        let keys = self.switch.session_keys();
        let mut sessions = [0i64; 3];
        let mut participants = [0i64; 3];
        for key in keys {
            let info = self
                .switch
                .session_info(key)
                .unwrap_or_else(|err| panic!("listed session {key} has no info: {err}"));
            let i = match info.kind {
                SessionKind::OneToOne => 0,
                SessionKind::Group => 1,
                SessionKind::LargeMessage => 2,
            };
            sessions[i] += 1;
            participants[i] += info.participants.len() as i64;
        }
        assert_eq!(
            [
                gauge(&s.sessions_one_to_one),
                gauge(&s.sessions_group),
                gauge(&s.sessions_large_message)
            ],
            sessions,
            "sessions gauges"
        );
        assert_eq!(
            [
                gauge(&s.participants_one_to_one),
                gauge(&s.participants_group),
                gauge(&s.participants_large_message)
            ],
            participants,
            "participants gauges"
        );
    }

    /// As the transport would once the program ends: write everything out and read
    /// whatever backpressure left unread, until nothing moves (no time passes).
    fn settle(&mut self) {
        for _ in 0..32 {
            let mut moved = false;
            for k in 0..self.peers.len() {
                if self.peers[k].closed {
                    continue;
                }
                moved |= self.take(k, usize::MAX) > 0;
                if !self.peers[k].input.is_empty() {
                    let before = self.peers[k].input.len();
                    self.input(k);
                    moved |= self.peers[k].input.len() < before;
                }
            }
            self.switch.handle_timeout(self.now);
            self.drain();
            if !moved {
                break;
            }
        }
    }

    /// Every request read on a connection the switch still writes to got the
    /// responses it is owed.
    fn check_responses(&self) {
        for peer in &self.peers {
            if peer.closed || peer.excused.is_some() || self.switch.is_aborted(peer.id) {
                continue;
            }
            for (tid, owed) in &peer.owed {
                assert!(
                    owed.got >= owed.min,
                    "connection {:?} (closing: {}): {} response(s) to {tid}, owed {}",
                    peer.id,
                    self.switch.is_closing(peer.id),
                    owed.got,
                    owed.min
                );
            }
        }
    }

    /// Closes every connection, releases every session and runs the clock past every
    /// timer: nothing may be left queued, counted, outstanding or scheduled.
    fn teardown(&mut self) {
        for k in 0..self.peers.len() {
            self.close(k);
        }
        for key in self.switch.session_keys() {
            if let Err(err) = self.switch.release_session(key) {
                panic!("releasing listed session {key}: {err}");
            }
        }
        self.drain();
        for k in 0..self.peers.len() {
            self.close(k);
        }
        let mut fired = 0;
        while let Some(at) = self.switch.poll_timeout() {
            self.now = self.now.max(at);
            self.switch.handle_timeout(self.now);
            self.drain();
            fired += 1;
            assert!(fired < 100_000, "timers never settle");
        }
        let gauge = |g: &AtomicI64| g.load(Ordering::Relaxed);
        let s = &*self.stats;
        for (name, value) in [
            ("queue_bytes", gauge(&s.queue_bytes)),
            ("connections", gauge(&s.connections)),
            ("sessions_one_to_one", gauge(&s.sessions_one_to_one)),
            ("sessions_group", gauge(&s.sessions_group)),
            ("participants_one_to_one", gauge(&s.participants_one_to_one)),
            ("participants_group", gauge(&s.participants_group)),
        ] {
            assert_eq!(value, 0, "gauge {name} after teardown");
        }
        assert_eq!(
            self.switch.outstanding_transactions(),
            0,
            "outstanding transactions after teardown"
        );
        assert_eq!(self.switch.pending_timers(), 0, "timers after teardown");
        assert!(
            self.switch.session_keys().is_empty(),
            "sessions after teardown"
        );
        // Every participant went with its session.
        for member in &self.members {
            assert!(
                self.switch.participant_info(member.id).is_err(),
                "participant {} outlived its session",
                member.id
            );
        }
    }
}

/// The group policy from the header's policy byte.
fn group_policy(b: u8) -> Policy {
    let restricted = b & 8 != 0;
    Policy {
        accept_types: if restricted {
            vec!["message/cpim".into(), "text/plain".into()]
        } else {
            Vec::new()
        },
        accept_wrapped_types: Vec::new(),
        max_size: restricted.then_some(1000),
        min_max_size: (b & 16 != 0).then_some(100),
        private_messages: b & 1 != 0,
        nicknames: b & 2 != 0,
        slow_consumer: if b & 4 != 0 {
            SlowConsumer::Pause
        } else {
            SlowConsumer::Drop
        },
    }
}

/// A transaction id from an operand: few enough that ids repeat.
fn tid(b: u8) -> String {
    format!("t{b:02x}x")
}

/// A Failure-Report header from bits 0-1 of an operand (none, yes, no, partial).
fn failure_report(b: u8) -> &'static str {
    [
        "",
        "Failure-Report: yes\r\n",
        "Failure-Report: no\r\n",
        "Failure-Report: partial\r\n",
    ][usize::from(b & 3)]
}

/// The path of the `n`th participant made.
fn peer_path(n: usize) -> String {
    format!(
        "msrp://10.0.{}.{}:{}/peer{n};tcp",
        n / 250,
        1 + n % 250,
        7000 + n
    )
}

fn uri(text: &str) -> MsrpUri {
    MsrpUri::parse_str(text).unwrap_or_else(|err| panic!("harness URI {text:?}: {err}"))
}
