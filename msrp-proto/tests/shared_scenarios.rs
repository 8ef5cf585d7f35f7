//! Shared connections in the sans-IO [`Endpoint`] (RFC 6135, RFC 4145 §5
//! `a=connection:existing`): two MSRP sessions on one connection, told apart by
//! the To-Path of each request, on a fake clock and without sockets.
//!
//! A is one client with a participant in each of two 1:1 sessions (A1 in session
//! 1, A2 in session 2), both on one connection `x`; their peers B1 and B2 have
//! connections of their own. Each connection is a [`Wire`] that writes literal
//! frames into the switch and decodes what the switch queues for it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::BytesMut;
use msrp_proto::codec::{ContinuationFlag, MsrpUri};
use msrp_proto::control::Event;
use msrp_proto::endpoint::{Action, Endpoint, EndpointConfig, Readiness};
use msrp_proto::ids::{ConnId, ParticipantId, SessionKey, WireIds};
use msrp_proto::media::{ConnectionReuse, RemoteMedia, SetupRole};
use msrp_proto::session::SessionKind;
use msrp_proto::stats::Stats;

#[path = "support/frames.rs"]
mod frames;

use frames::{Frame, FrameReader};

/// A's two participants: one client, one authority.
const A1: &str = "msrp://127.0.0.1:40001/aone1111;tcp";
const A2: &str = "msrp://127.0.0.1:40001/atwo2222;tcp";
const B1: &str = "msrp://127.0.0.1:40002/bone1111;tcp";
const B2: &str = "msrp://127.0.0.1:40003/btwo2222;tcp";

/// The first URIs of a frame's paths.
trait Hops {
    fn to(&self) -> String;
    fn from(&self) -> String;
}

impl Hops for Frame {
    fn to(&self) -> String {
        self.target_path()[0].clone()
    }
    fn from(&self) -> String {
        self.sender_path()[0].clone()
    }
}

/// `frame` is the switch's copy of message `message_id` for `to`, whose switch
/// URI is `from`, carrying `body`.
fn assert_forwarded(frame: &Frame, to: &str, from: &MsrpUri, message_id: &str, body: &[u8]) {
    assert_eq!(
        (frame.to(), frame.from(), frame.message_id()),
        (to.to_string(), from.to_string(), message_id.to_string())
    );
    assert_eq!(frame.body, body);
}

/// One connection into the switch: what its peer writes and reads.
struct Wire {
    conn: ConnId,
    /// What the switch writes to it, decoded.
    reader: FrameReader,
}

impl Wire {
    fn open(switch: &mut Endpoint, now: Instant) -> Wire {
        Wire {
            conn: switch.open_connection(now),
            reader: FrameReader::new(),
        }
    }

    /// Bytes arrive on the connection (one socket read); all are taken.
    fn feed(&self, switch: &mut Endpoint, bytes: &[u8], now: Instant) {
        let mut input = BytesMut::from(bytes);
        switch.handle_input(self.conn, &mut input, now);
        assert!(input.is_empty(), "input left unread");
    }

    /// `party` sends `frame` on this connection and the switch writes back
    /// exactly its answer with `status`, and nothing else.
    fn exchange(
        &mut self,
        switch: &mut Endpoint,
        party: &Party,
        frame: &[u8],
        status: &str,
        now: Instant,
    ) {
        self.feed(switch, frame, now);
        let tid = std::str::from_utf8(&frame[5..])
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        assert_eq!(self.raw(switch), party.expected_answer(tid, status));
    }

    /// Everything the switch queued for this connection, as raw bytes.
    fn raw(&mut self, switch: &mut Endpoint) -> Vec<u8> {
        let mut pieces = Vec::new();
        switch.take_output(self.conn, &mut pieces, usize::MAX);
        pieces.concat()
    }

    /// Everything the switch queued for this connection, as whole frames.
    fn read(&mut self, switch: &mut Endpoint) -> Vec<Frame> {
        let raw = self.raw(switch);
        self.decode(&raw)
    }

    fn decode(&mut self, bytes: &[u8]) -> Vec<Frame> {
        self.reader.decode(bytes)
    }
}

/// A participant's side of the MSRP session: its URI and the switch's for it.
struct Party {
    me: &'static str,
    switch_uri: MsrpUri,
    id: ParticipantId,
}

impl Party {
    fn head(&self, tid: &str, method: &str, headers: &str) -> String {
        format!(
            "MSRP {tid} {method}\r\nTo-Path: {}\r\nFrom-Path: {}\r\n{headers}",
            self.switch_uri, self.me
        )
    }

    /// The bodiless SEND that binds (RFC 4975 §5.4).
    fn bind(&self, tid: &str) -> Vec<u8> {
        self.head(
            tid,
            "SEND",
            &format!("Message-ID: {tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n"),
        )
        .into_bytes()
    }

    /// A SEND chunk of a `total`-byte message, its body starting at byte `start`.
    fn chunk(
        &self,
        tid: &str,
        message_id: &str,
        (start, total): (usize, usize),
        body: &[u8],
        flag: char,
    ) -> Vec<u8> {
        let end = start + body.len() - 1;
        let mut frame = self
            .head(
                tid,
                "SEND",
                &format!(
                    "Message-ID: {message_id}\r\nByte-Range: {start}-{end}/{total}\r\n\
                     Content-Type: text/plain\r\n\r\n"
                ),
            )
            .into_bytes();
        frame.extend_from_slice(body);
        frame.extend_from_slice(format!("\r\n-------{tid}{flag}\r\n").as_bytes());
        frame
    }

    /// A one-chunk message.
    fn send(&self, tid: &str, message_id: &str, body: &[u8]) -> Vec<u8> {
        self.chunk(tid, message_id, (1, body.len()), body, '$')
    }

    /// This party's 200 to a request it read.
    fn ok(&self, request: &Frame) -> Vec<u8> {
        let tid = request.tid();
        format!(
            "MSRP {tid} 200 OK\r\nTo-Path: {}\r\nFrom-Path: {}\r\n-------{tid}$\r\n",
            request.from(),
            self.me
        )
        .into_bytes()
    }

    /// The exact response the switch owes this party for its request `tid`.
    fn expected_answer(&self, tid: &str, status: &str) -> Vec<u8> {
        format!(
            "MSRP {tid} {status}\r\nTo-Path: {}\r\nFrom-Path: {}\r\n-------{tid}$\r\n",
            self.me, self.switch_uri
        )
        .into_bytes()
    }
}

fn media(path: &str, connection: ConnectionReuse) -> RemoteMedia {
    RemoteMedia {
        path: vec![MsrpUri::parse_str(path).unwrap()],
        accept_types: vec!["*".into()],
        connection,
        ..RemoteMedia::default()
    }
}

fn body(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| b'a' + ((i + usize::from(seed)) % 26) as u8)
        .collect()
}

fn events(switch: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| switch.poll_event()).collect()
}

/// The participants whose `ConnectionLost` events wait, in order.
fn lost(switch: &mut Endpoint) -> Vec<ParticipantId> {
    events(switch)
        .into_iter()
        .filter_map(|e| match e {
            Event::ConnectionLost { participant, .. } => Some(participant),
            _ => None,
        })
        .collect()
}

/// Two 1:1 sessions, A1 and A2 bound on one connection `x`, B1 and B2 on their
/// own.
struct Rig {
    switch: Endpoint,
    metrics: Arc<Stats>,
    t0: Instant,
    sessions: [SessionKey; 2],
    a1: Party,
    a2: Party,
    b1: Party,
    b2: Party,
    x: Wire,
    xb1: Wire,
    xb2: Wire,
}

fn rig(config: EndpointConfig) -> Rig {
    let t0 = Instant::now();
    let metrics = Arc::new(Stats::default());
    let mut switch = Endpoint::new(config, 0, WireIds::seeded(3), Arc::clone(&metrics), t0);
    let s1 = switch.create_session(SessionKind::OneToOne);
    let s2 = switch.create_session(SessionKind::OneToOne);
    let mut add = |session, me: &'static str, connection| {
        let info = switch
            .add_participant(session, media(me, connection), t0)
            .unwrap();
        Party {
            me,
            switch_uri: info.local_uri,
            id: info.id,
        }
    };
    let a1 = add(s1, A1, ConnectionReuse::Existing);
    let b1 = add(s1, B1, ConnectionReuse::New);
    let a2 = add(s2, A2, ConnectionReuse::Existing);
    let b2 = add(s2, B2, ConnectionReuse::New);
    let x = Wire::open(&mut switch, t0);
    let xb1 = Wire::open(&mut switch, t0);
    let xb2 = Wire::open(&mut switch, t0);
    let mut r = Rig {
        switch,
        metrics,
        t0,
        sessions: [s1, s2],
        a1,
        a2,
        b1,
        b2,
        x,
        xb1,
        xb2,
    };
    bind(&mut r.switch, &mut r.x, &r.a1, "bindaone", t0);
    bind(&mut r.switch, &mut r.x, &r.a2, "bindatwo", t0);
    bind(&mut r.switch, &mut r.xb1, &r.b1, "bindbone", t0);
    bind(&mut r.switch, &mut r.xb2, &r.b2, "bindbtwo", t0);
    events(&mut r.switch);
    r
}

impl Rig {
    /// A sends `body` in session `n` (1 or 2) on the shared connection: it is
    /// answered 200, and B`n` gets it.
    fn a_sends(&mut self, n: usize, tid: &str, body: &[u8]) {
        let (a, wire) = match n {
            1 => (&self.a1, &mut self.xb1),
            _ => (&self.a2, &mut self.xb2),
        };
        let t0 = self.t0;
        self.x
            .exchange(&mut self.switch, a, &a.send(tid, tid, body), "200 OK", t0);
        let got = wire.read(&mut self.switch);
        assert_eq!((got.len(), &got[0].body[..]), (1, body));
    }
}

/// `party` binds on `wire` with a bodiless SEND; the 200 to it is exactly what
/// the switch writes back.
fn bind(switch: &mut Endpoint, wire: &mut Wire, party: &Party, tid: &str, now: Instant) {
    wire.exchange(switch, party, &party.bind(tid), "200 OK", now);
}

// --------------------------------------------------------------- binding

/// Both sessions bind on one connection; the second bind is answered with
/// A2's own paths, A2 shows bound, and both answers say `a=connection:existing`.
#[test]
fn two_sessions_bind_on_one_connection() {
    let mut r = rig(EndpointConfig::default());
    for party in [&r.a1, &r.a2] {
        let info = r.switch.participant_info(party.id).unwrap();
        assert!(info.bound, "{}", party.me);
        assert_eq!(info.local.connection, ConnectionReuse::Existing);
    }
    for party in [&r.b1, &r.b2] {
        let info = r.switch.participant_info(party.id).unwrap();
        assert_eq!(info.local.connection, ConnectionReuse::New);
    }
    assert_eq!(r.metrics.connection_joins.load(Ordering::Relaxed), 1, "A2");
    assert_eq!(
        r.switch.conn_participant(r.x.conn),
        Some((r.sessions[0], r.a1.id))
    );
    assert!(!r.switch.is_closing(r.x.conn));
    assert!(r.x.read(&mut r.switch).is_empty());
}

/// Frames on the shared connection go by their To-Path: A1's message reaches
/// B1 only, A2's B2 only, and B1's and B2's messages come back on `x` with A1's
/// and A2's paths.
#[test]
fn frames_on_a_shared_connection_are_demultiplexed_by_to_path() {
    let mut r = rig(EndpointConfig::default());
    let t0 = r.t0;
    let (one, two) = (body(700, 1), body(900, 2));
    r.x.exchange(
        &mut r.switch,
        &r.a1,
        &r.a1.send("txaone01", "msgone", &one),
        "200 OK",
        t0,
    );
    r.x.exchange(
        &mut r.switch,
        &r.a2,
        &r.a2.send("txatwo01", "msgtwo", &two),
        "200 OK",
        t0,
    );
    let to_b1 = r.xb1.read(&mut r.switch);
    let to_b2 = r.xb2.read(&mut r.switch);
    assert_eq!(to_b1.len(), 1);
    assert_eq!(to_b2.len(), 1);
    assert_forwarded(&to_b1[0], B1, &r.b1.switch_uri, "msgone", &one);
    assert_forwarded(&to_b2[0], B2, &r.b2.switch_uri, "msgtwo", &two);
    r.xb1.feed(&mut r.switch, &r.b1.ok(&to_b1[0]), t0);
    r.xb2.feed(&mut r.switch, &r.b2.ok(&to_b2[0]), t0);
    assert_eq!(r.switch.outstanding_transactions(), 0);

    // Back the other way, onto the shared connection.
    r.xb1
        .feed(&mut r.switch, &r.b1.send("txbone01", "backone", &two), t0);
    r.xb2
        .feed(&mut r.switch, &r.b2.send("txbtwo01", "backtwo", &one), t0);
    let to_a = r.x.read(&mut r.switch);
    assert_eq!(to_a.len(), 2, "{to_a:?}");
    let find = |id: &str| to_a.iter().find(|f| f.message_id() == id).unwrap();
    let (back_one, back_two) = (find("backone"), find("backtwo"));
    assert_forwarded(back_one, A1, &r.a1.switch_uri, "backone", &two);
    assert_forwarded(back_two, A2, &r.a2.switch_uri, "backtwo", &one);
    // A answers each on the shared connection: nothing is left outstanding.
    let (ok1, ok2) = (r.a1.ok(back_one), r.a2.ok(back_two));
    r.x.feed(&mut r.switch, &[ok1, ok2].concat(), t0);
    assert_eq!(r.switch.outstanding_transactions(), 0);
}

/// [`rig`] with a queue bound of `queue_bytes`.
fn rig_with_queue(queue_bytes: usize) -> Rig {
    rig(EndpointConfig {
        queue_bytes,
        ..EndpointConfig::default()
    })
}

/// A participant whose media say `a=connection:new` (or nothing) does not bind
/// on a connection that is bound already: RFC 4975 §7.3, 481. The connection
/// and its sessions carry on, and the participant still binds a connection of
/// its own.
#[test]
fn a_participant_without_connection_existing_gets_481_on_a_bound_connection() {
    let mut r = rig(EndpointConfig::default());
    let t0 = r.t0;
    let s3 = r.switch.create_session(SessionKind::OneToOne);
    let info = r
        .switch
        .add_participant(
            s3,
            media("msrp://127.0.0.1:40001/cccc3333;tcp", ConnectionReuse::New),
            t0,
        )
        .unwrap();
    assert_eq!(info.local.connection, ConnectionReuse::New);
    let c = Party {
        me: "msrp://127.0.0.1:40001/cccc3333;tcp",
        switch_uri: info.local_uri,
        id: info.id,
    };
    r.x.exchange(
        &mut r.switch,
        &c,
        &c.bind("bindcccc"),
        "481 Session does not exist",
        t0,
    );
    assert!(!r.switch.participant_info(c.id).unwrap().bound);
    assert!(events(&mut r.switch).is_empty(), "no bind");
    // The shared connection still carries A1.
    r.a_sends(1, "txaone02", b"hi");
    // Its own connection binds as always.
    let mut own = Wire::open(&mut r.switch, t0);
    own.exchange(&mut r.switch, &c, &c.bind("bindccc2"), "200 OK", t0);
}

// ------------------------------------------------------------- lifecycle

/// Removing A1 ends the chunk B1 was streaming to it with `#` and keeps the
/// connection for A2: session 2 goes on both ways, and A1's session-id is
/// refused 481 on it from then on.
#[test]
fn removing_one_participant_keeps_the_shared_connection_for_the_other() {
    let mut r = rig(EndpointConfig::default());
    let t0 = r.t0;
    let data = body(20_000, 3);
    let chunk = r.b1.send("txbone09", "cutmsg", &data);
    // B1's chunk is half through when A1 goes; A has read what was written.
    r.xb1
        .feed(&mut r.switch, &chunk[..chunk.len() - 10_020], t0);
    assert!(r.x.read(&mut r.switch).is_empty(), "a chunk still open");
    r.switch.remove_participant(r.a1.id).unwrap();
    let to_a = r.x.read(&mut r.switch);
    assert_eq!(to_a.len(), 1);
    assert_eq!(to_a[0].flag, ContinuationFlag::Abort, "ended with '#'");
    assert_eq!(to_a[0].message_id(), "cutmsg");
    assert_eq!(to_a[0].body, data[..to_a[0].body.len()]);
    assert!(!r.switch.is_closing(r.x.conn), "A2 is still on it");
    assert!(r.switch.participant_info(r.a2.id).unwrap().bound);
    // B1 finishes its chunk: the session it was for is gone.
    r.xb1
        .feed(&mut r.switch, &chunk[chunk.len() - 10_020..], t0);
    assert_eq!(r.xb1.read(&mut r.switch)[0].status(), Some(481));
    // Session 2 both ways.
    r.a_sends(2, "txatwo05", b"still here");
    r.xb2
        .feed(&mut r.switch, &r.b2.send("txbtwo05", "reply", b"yes"), t0);
    let to_a = r.x.read(&mut r.switch);
    assert_eq!((to_a.len(), to_a[0].to()), (1, A2.to_string()));
    // A1's session-id is unknown now, on this connection as anywhere.
    r.x.exchange(
        &mut r.switch,
        &r.a1,
        &r.a1.send("txaone06", "late", b"x"),
        "481 Session does not exist",
        t0,
    );
    // Removing the last one closes it.
    r.switch.remove_participant(r.a2.id).unwrap();
    assert!(r.switch.is_closing(r.x.conn));
}

/// A1 is half through a chunk on the shared connection when the IM Server
/// gives it a new path (a re-INVITE: a new MSRP session, RFC 4975 §8.4). The
/// chunk cannot go on from the old connection: B1's copy ends with '#' there
/// and then, as when A1's connection of its own closes, and the rest A sends
/// on the old connection goes nowhere. A2 keeps the connection.
#[test]
fn a_new_path_ends_the_chunk_its_participant_was_sending_on_the_shared_connection() {
    let mut r = rig(EndpointConfig::default());
    let t0 = r.t0;
    let data = body(20_000, 7);
    let chunk = r.a1.send("txaone20", "moving", &data);
    let cut = chunk.len() - 10_020;
    r.x.feed(&mut r.switch, &chunk[..cut], t0);
    let written = r.xb1.raw(&mut r.switch);
    assert!(r.xb1.decode(&written).is_empty(), "the chunk is open");
    r.switch
        .modify_participant(
            r.a1.id,
            media(
                "msrp://127.0.0.1:40009/aonenew1;tcp",
                ConnectionReuse::Existing,
            ),
            t0,
        )
        .unwrap();
    let to_b1 = r.xb1.read(&mut r.switch);
    assert_eq!(to_b1.len(), 1, "{to_b1:?}");
    assert_eq!(to_b1[0].message_id(), "moving");
    assert_eq!(to_b1[0].flag, ContinuationFlag::Abort, "ended with '#'");
    assert_eq!(to_b1[0].body, data[..to_b1[0].body.len()]);
    r.x.feed(&mut r.switch, &chunk[cut..], t0);
    assert!(r.xb1.read(&mut r.switch).is_empty(), "nothing more for B1");
    assert!(!r.switch.is_closing(r.x.conn), "A2 is still on it");
    r.a_sends(2, "txatwo21", b"still here");
}

/// The shared connection breaks: both participants on it are lost, each with
/// its event, and B1's and B2's later messages are refused 481 rather than
/// queued for nobody.
#[test]
fn closing_the_shared_connection_loses_every_participant_on_it() {
    let mut r = rig(EndpointConfig::default());
    let t0 = r.t0;
    r.switch.handle_close(r.x.conn, t0);
    let lost = lost(&mut r.switch);
    assert_eq!(lost, [r.a1.id, r.a2.id]);
    for party in [&r.a1, &r.a2] {
        assert!(!r.switch.participant_info(party.id).unwrap().bound);
    }
    r.xb1.exchange(
        &mut r.switch,
        &r.b1,
        &r.b1.send("txbone07", "nobody", b"?"),
        "481 Session does not exist",
        t0,
    );
}

/// The peer shuts its side of the shared connection (end of stream): what it is
/// owed is written, then the connection closes and both participants are lost.
#[test]
fn a_shared_connection_the_peer_shuts_loses_both_after_its_output() {
    let mut r = rig(EndpointConfig::default());
    let t0 = r.t0;
    r.xb2.feed(
        &mut r.switch,
        &r.b2.send("txbtwo08", "lastword", b"bye"),
        t0,
    );
    r.switch.handle_end_of_input(r.x.conn, t0);
    assert!(r.switch.is_closing(r.x.conn));
    let to_a = r.x.read(&mut r.switch);
    assert_eq!(to_a.len(), 1, "what A2's leg held is written first");
    assert_eq!(to_a[0].message_id(), "lastword");
    r.switch.handle_close(r.x.conn, t0);
    assert_eq!(lost(&mut r.switch), [r.a1.id, r.a2.id]);
}

// ---------------------------------------------------------------- output

/// B1 streams a message of eight 16 KiB chunks to A1, and the writer has begun
/// the first when B2 sends one small message to A2: the shared connection's
/// writer takes one frame per leg per turn, so A2's message goes right after
/// that chunk, not behind all of session 1.
#[test]
fn the_writer_interleaves_the_legs_at_frame_ends() {
    let mut r = rig(EndpointConfig::default());
    let t0 = r.t0;
    let data = body(8 * 16 * 1024, 4);
    for (i, part) in data.chunks(16 * 1024).enumerate() {
        let start = i * 16 * 1024 + 1;
        let flag = if start + part.len() > data.len() {
            '$'
        } else {
            '+'
        };
        let frame = r.b1.chunk(
            &format!("txbig{i:03}"),
            "bigone",
            (start, data.len()),
            part,
            flag,
        );
        r.xb1.feed(&mut r.switch, &frame, t0);
    }
    // The writer has begun session 1's first chunk when the small one arrives.
    let mut first = Vec::new();
    r.switch.take_output(r.x.conn, &mut first, 1);
    let mut to_a = r.x.decode(&first.concat());
    r.xb2
        .feed(&mut r.switch, &r.b2.send("txsmall1", "small", b"ping"), t0);
    to_a.extend(r.x.read(&mut r.switch));
    assert_eq!(to_a.len(), 9);
    let small = to_a.iter().position(|f| f.message_id() == "small").unwrap();
    assert_eq!(
        small, 1,
        "right after the chunk being written, not behind session 1"
    );
    // Session 1 intact and in order around it.
    let big: Vec<u8> = to_a
        .iter()
        .filter(|f| f.message_id() == "bigone")
        .flat_map(|f| f.body.clone())
        .collect();
    assert_eq!(big, data);
}

/// B1 sends the first third of a chunk of `data` to A1 and stalls; then B2's
/// message for A2 arrives, and the switch interrupts B1's chunk for it. The
/// chunk as B1 writes it, where B1 stopped, and what A has been sent.
fn stall_b1_behind_b2(
    r: &mut Rig,
    tid: &str,
    message_id: &str,
    data: &[u8],
) -> (Vec<u8>, usize, Vec<Frame>) {
    let t0 = r.t0;
    let frame = r.b1.send(tid, message_id, data);
    let cut = frame.len() - 20_020;
    r.xb1.feed(&mut r.switch, &frame[..cut], t0);
    let written = r.x.raw(&mut r.switch);
    assert!(r.x.decode(&written).is_empty(), "the chunk is open");
    let waiting = r.b2.send(&format!("{tid}w"), "waiting", b"let me in");
    r.xb2.feed(&mut r.switch, &waiting, t0);
    let to_a = r.x.read(&mut r.switch);
    (frame, cut, to_a)
}

/// B1's chunk to A1 stalls half way (B1 has sent nothing more for now) while a
/// message for A2 waits: the chunk is ended with `+` so A2's message can go,
/// and the rest of it follows as a new chunk from the byte reached (RFC 4975
/// §7.1).
#[test]
fn a_stalled_chunk_on_a_shared_connection_is_interrupted_for_the_other_session() {
    let mut r = rig(EndpointConfig::default());
    let t0 = r.t0;
    let data = body(30_000, 5);
    let (frame, cut, to_a) = stall_b1_behind_b2(&mut r, "txstall1", "stalled", &data);
    assert_eq!(to_a.len(), 2, "{to_a:?}");
    assert_eq!(to_a[0].message_id(), "stalled");
    assert_eq!(to_a[0].flag, ContinuationFlag::More, "interrupted with '+'");
    let first = to_a[0].body.len();
    assert_eq!(to_a[0].body, data[..first]);
    assert_eq!(to_a[0].byte_range(), format!("1-*/{}", data.len()));
    assert_eq!(to_a[1].message_id(), "waiting");
    // B1 sends the rest: a new chunk from where the first stopped.
    r.xb1.feed(&mut r.switch, &frame[cut..], t0);
    let to_a = r.x.read(&mut r.switch);
    assert_eq!(to_a.len(), 1);
    assert_eq!(
        to_a[0].byte_range(),
        format!("{}-*/{}", first + 1, data.len())
    );
    assert_eq!(to_a[0].flag, ContinuationFlag::End);
    assert_eq!([&data[..first], &to_a[0].body[..]].concat(), data);
}

/// B1's chunk to A1 was interrupted (no chunk open on A1's leg) when A1 is
/// removed: the rest B1 sends is discarded and its end-line answered 481, as
/// for a chunk still open, and the part forwarded is REPORTed 481. The switch
/// finds B1's connection as A1's peer's: A1's leg no longer names a feeder.
#[test]
fn removing_a_participant_refuses_the_rest_of_an_interrupted_chunk_to_it() {
    let mut r = rig(EndpointConfig::default());
    let t0 = r.t0;
    let data = body(30_000, 9);
    let (frame, cut, to_a) = stall_b1_behind_b2(&mut r, "txstall2", "cutoff", &data);
    assert_eq!(to_a[0].flag, ContinuationFlag::More, "interrupted with '+'");
    r.switch.remove_participant(r.a1.id).unwrap();
    r.xb1.feed(&mut r.switch, &frame[cut..], t0);
    // The part forwarded and never acknowledged is REPORTed 481, and the
    // chunk's end-line is answered 481.
    let to_b1 = r.xb1.read(&mut r.switch);
    assert_eq!(to_b1.len(), 2, "{to_b1:?}");
    assert_eq!(to_b1[0].message_id(), "cutoff");
    assert_eq!(to_b1[0].byte_range(), "1-10000/30000");
    assert_eq!(to_b1[1].tid(), "txstall2");
    assert_eq!(to_b1[1].status(), Some(481));
    assert!(
        r.x.read(&mut r.switch)
            .iter()
            .all(|f| f.message_id() != "cutoff"),
        "nothing more of it for A"
    );
}

/// The chunks A1 sends in the hold-back test.
const PART: usize = 4096;

/// The queue bound of the hold-back tests.
const QUEUE: usize = 16 * 1024;

/// A1 sends the `n`th [`PART`] of `data` on the shared connection (`$` on the
/// last); its transaction id.
fn send_part(r: &mut Rig, data: &[u8], n: usize) -> String {
    let tid = format!("txflow{n:02}");
    let part = &data[n * PART..(n + 1) * PART];
    let flag = if (n + 1) * PART == data.len() {
        '$'
    } else {
        '+'
    };
    let frame =
        r.a1.chunk(&tid, "flowmsg", (n * PART + 1, data.len()), part, flag);
    r.x.feed(&mut r.switch, &frame, r.t0);
    tid
}

/// Backpressure per session. B1 reads nothing while A sends session 1's chunks
/// (waiting for each 200): once B1's leg is over the bound, the 200s for
/// session 1 are withheld and A stops, yet the shared connection is still read,
/// and A2's message reaches B2 and is answered. When B1 reads, the withheld
/// answers follow and session 1 arrives whole and in order.
#[test]
fn a_full_leg_holds_back_only_its_own_session_on_a_shared_connection() {
    let mut r = rig_with_queue(QUEUE);
    let t0 = r.t0;
    let data = body(64 * 1024, 6);
    let parts = data.len() / PART;
    let mut sent = 0;
    // A sends chunk after chunk while each is answered.
    let held = loop {
        let tid = send_part(&mut r, &data, sent);
        sent += 1;
        let answers = r.x.read(&mut r.switch);
        if answers.is_empty() {
            break tid;
        }
        assert_eq!((answers.len(), answers[0].tid()), (1, &tid[..]));
        assert!(sent < parts, "never held back");
    };
    assert!(sent * PART >= QUEUE, "held back at {sent} chunks");
    let withheld = || r.metrics.answers_withheld.load(Ordering::Relaxed);
    assert_eq!(withheld(), 1);
    assert_eq!(r.switch.readiness(r.x.conn), Readiness::Everything);
    // Session 2 goes on: delivered to B2, answered, B2's answer taken.
    r.x.feed(
        &mut r.switch,
        &r.a2.send("txother1", "other", b"meanwhile"),
        t0,
    );
    assert_eq!(
        r.x.raw(&mut r.switch),
        r.a2.expected_answer("txother1", "200 OK"),
        "only session 2's answer: session 1's stays withheld"
    );
    let to_b2 = r.xb2.read(&mut r.switch);
    assert_eq!(to_b2[0].body, b"meanwhile");
    r.xb2.feed(&mut r.switch, &r.b2.ok(&to_b2[0]), t0);
    // B1 reads: the withheld answer comes, and A finishes.
    let mut to_b1 = r.xb1.read(&mut r.switch);
    assert_eq!(r.metrics.answers_withheld.load(Ordering::Relaxed), 0);
    assert_eq!(
        r.x.raw(&mut r.switch),
        r.a1.expected_answer(&held, "200 OK")
    );
    while sent < parts {
        let tid = send_part(&mut r, &data, sent);
        sent += 1;
        to_b1.extend(r.xb1.read(&mut r.switch));
        assert_eq!(r.x.raw(&mut r.switch), r.a1.expected_answer(&tid, "200 OK"));
    }
    let got: Vec<u8> = to_b1.iter().flat_map(|f| f.body.clone()).collect();
    assert_eq!(got, data, "session 1 whole and in order");
    assert_eq!(to_b1.last().unwrap().flag, ContinuationFlag::End);
}

/// A sender on a shared connection that does not wait for its answers is still
/// bounded: the connection stops being read inside a chunk whose receiver's
/// leg holds twice the bound (then only responses are read).
#[test]
fn a_shared_connection_stops_inside_a_chunk_at_twice_the_bound() {
    let mut r = rig_with_queue(QUEUE);
    let t0 = r.t0;
    let data = body(64 * 1024, 7);
    let frame = r.a1.send("txflood1", "flood", &data);
    // The transport reads 4 KiB at a time, and only while it may.
    let mut read = 0;
    let mut input = BytesMut::new();
    while read < frame.len() && r.switch.readiness(r.x.conn) == Readiness::Everything {
        let next = (read + 4096).min(frame.len());
        input.extend_from_slice(&frame[read..next]);
        read = next;
        r.switch.handle_input(r.x.conn, &mut input, t0);
    }
    assert_eq!(r.switch.readiness(r.x.conn), Readiness::ResponsesOnly);
    assert!(read < frame.len(), "stopped inside the chunk");
    let queued = r.metrics.queue_bytes.load(Ordering::Relaxed);
    assert!(
        (2 * QUEUE as i64..2 * QUEUE as i64 + 4096 + 512).contains(&queued),
        "{queued} bytes queued for B1"
    );
    // B1 reads: the rest goes through.
    let mut to_b1 = r.xb1.read(&mut r.switch);
    assert_eq!(r.switch.readiness(r.x.conn), Readiness::Everything);
    input.extend_from_slice(&frame[read..]);
    r.switch.handle_input(r.x.conn, &mut input, t0);
    assert!(input.is_empty());
    to_b1.extend(r.xb1.read(&mut r.switch));
    assert_eq!(to_b1.len(), 1);
    assert_eq!(to_b1[0].body, data);
    assert_eq!(
        r.x.raw(&mut r.switch),
        r.a1.expected_answer("txflood1", "200 OK")
    );
}

// ------------------------------------------------- the switch connects out

/// A participant whose media make the switch active (`a=setup:passive`) and say
/// `a=connection:existing`, reached at the authority of a connection bound
/// already: the switch writes its bind SEND there rather than connecting out,
/// answers `existing`, and binds it on the 200. One at another authority gets a
/// connection of its own (and `new`).
#[test]
fn the_active_switch_reuses_a_bound_connection_to_the_same_hop() {
    let mut r = rig(EndpointConfig::default());
    let t0 = r.t0;
    while r.switch.poll_action().is_some() {}
    let s3 = r.switch.create_session(SessionKind::OneToOne);
    let d_path = "msrp://127.0.0.1:40001/dddd4444;tcp";
    let mut d_media = media(d_path, ConnectionReuse::Existing);
    d_media.setup = SetupRole::Active;
    let d = r.switch.add_participant(s3, d_media, t0).unwrap();
    assert_eq!(d.local.connection, ConnectionReuse::Existing);
    let actions: Vec<Action> = std::iter::from_fn(|| r.switch.poll_action()).collect();
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Connect { .. })),
        "{actions:?}"
    );
    assert!(actions.contains(&Action::Wake(r.x.conn)));
    assert!(
        !r.switch.participant_info(d.id).unwrap().bound,
        "until its 200"
    );
    let bind = r.x.read(&mut r.switch);
    assert_eq!(bind.len(), 1);
    assert_eq!(
        (bind[0].method(), bind[0].to()),
        (Some("SEND"), d_path.to_string())
    );
    assert_eq!(bind[0].from(), d.local_uri.to_string());
    assert!(bind[0].body.is_empty());
    let d_party = Party {
        me: d_path,
        switch_uri: d.local_uri.clone(),
        id: d.id,
    };
    r.x.feed(&mut r.switch, &d_party.ok(&bind[0]), t0);
    assert!(r.switch.participant_info(d.id).unwrap().bound);
    assert!(
        events(&mut r.switch).iter().any(
            |e| matches!(e, Event::ParticipantBound { participant, .. } if *participant == d.id)
        )
    );
    // Another authority: a connection of its own.
    let mut e_media = media(
        "msrp://127.0.0.1:40009/eeee5555;tcp",
        ConnectionReuse::Existing,
    );
    e_media.setup = SetupRole::Active;
    let e = r.switch.add_participant(s3, e_media, t0).unwrap();
    assert_eq!(e.local.connection, ConnectionReuse::New);
    assert!(
        std::iter::from_fn(|| r.switch.poll_action())
            .any(|a| matches!(a, Action::Connect { port: 40009, .. }))
    );
}

/// The peer refuses the bind SEND the switch sent on the shared connection:
/// that participant alone is lost; the connection stays for A1 and A2.
#[test]
fn a_refused_bind_send_on_a_shared_connection_loses_only_that_participant() {
    let mut r = rig(EndpointConfig::default());
    let t0 = r.t0;
    let s3 = r.switch.create_session(SessionKind::OneToOne);
    let d_path = "msrp://127.0.0.1:40001/dddd4444;tcp";
    let mut d_media = media(d_path, ConnectionReuse::Existing);
    d_media.setup = SetupRole::Active;
    let d = r.switch.add_participant(s3, d_media, t0).unwrap();
    let bind = r.x.read(&mut r.switch);
    let tid = bind[0].tid();
    let refusal = format!(
        "MSRP {tid} 481 Session does not exist\r\nTo-Path: {}\r\nFrom-Path: {d_path}\r\n-------{tid}$\r\n",
        d.local_uri
    );
    events(&mut r.switch);
    r.x.feed(&mut r.switch, refusal.as_bytes(), t0);
    let lost = lost(&mut r.switch);
    assert_eq!(lost, [d.id]);
    assert!(!r.switch.is_closing(r.x.conn));
    r.a_sends(2, "txatwo09", b"fine");
}
