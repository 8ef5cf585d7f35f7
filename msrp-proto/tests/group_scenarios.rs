//! Group chats (RFC 7701) on the sans-IO [`Endpoint`], no sockets: fan-out with shared
//! bodies, the CPIM From check, private messages, NICKNAME, slow consumers, and the
//! allocations of steady-state fan-out (counted by a `#[global_allocator]`, which
//! needs the `unsafe` this file alone allows).

#![allow(unsafe_code)] // the counting global allocator in support/counting.rs

#[path = "support/counting.rs"]
mod counting;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use msrp_proto::codec::{ContinuationFlag, Decoder, Item, Limits, MsrpUri};
use msrp_proto::control::Event;
use msrp_proto::endpoint::{Endpoint, EndpointConfig};
use msrp_proto::ids::{ConnId, WireIds};
use msrp_proto::media::{Identity, Policy, RemoteMedia, SetupRole};
use msrp_proto::session::SessionKind;
use msrp_proto::stats::Stats as ShardMetrics;

#[path = "support/frames.rs"]
mod frames;

use frames::{Frame, FrameReader};

const ROOM: &str = "sip:room@chat.example.com";

struct Member {
    name: &'static str,
    path: String,
    switch_uri: MsrpUri,
    conn: ConnId,
    /// What the switch writes to it, decoded.
    reader: FrameReader,
}

impl Member {
    fn address(&self) -> String {
        format!("sip:{}@example.com", self.name)
    }

    fn read(&mut self, switch: &mut Endpoint) -> Vec<Frame> {
        let mut pieces = Vec::new();
        switch.take_output(self.conn, &mut pieces, usize::MAX);
        self.reader.decode(&pieces.concat())
    }

    fn request(&self, tid: &str, method: &str, headers: &str, body: Option<&[u8]>) -> Vec<u8> {
        let mut frame = format!(
            "MSRP {tid} {method}\r\nTo-Path: {}\r\nFrom-Path: {}\r\n{headers}",
            self.switch_uri, self.path
        )
        .into_bytes();
        match body {
            Some(body) => {
                frame.extend_from_slice(b"Content-Type: message/cpim\r\n\r\n");
                frame.extend_from_slice(body);
                frame.extend_from_slice(format!("\r\n-------{tid}$\r\n").as_bytes());
            }
            None => frame.extend_from_slice(format!("-------{tid}$\r\n").as_bytes()),
        }
        frame
    }
}

fn cpim(from: &str, to: &str, content_type: &str, text: &str) -> Vec<u8> {
    format!("From: <{from}>\r\nTo: <{to}>\r\n\r\nContent-Type: {content_type}\r\n\r\n{text}")
        .into_bytes()
}

fn feed(switch: &mut Endpoint, m: &Member, bytes: &[u8], now: Instant) {
    let mut input = BytesMut::from(bytes);
    switch.handle_input(m.conn, &mut input, now);
    assert!(input.is_empty(), "input left unread");
}

/// A group with `names` bound, every bind answered and events drained.
fn group(
    policy: Policy,
    config: EndpointConfig,
    names: &[&'static str],
) -> (Endpoint, Vec<Member>, Instant) {
    let t0 = Instant::now();
    let mut switch = Endpoint::new(
        config,
        0,
        WireIds::seeded(7),
        Arc::new(ShardMetrics::default()),
        t0,
    );
    let session = switch.create_session_with(SessionKind::Group, ROOM.into(), policy, t0);
    let mut members: Vec<Member> = names
        .iter()
        .enumerate()
        .map(|(i, &name)| {
            let path = format!("msrp://127.0.0.1:{}/{name}{i:04};tcp", 41000 + i);
            let remote = RemoteMedia {
                path: vec![MsrpUri::parse_str(&path).unwrap()],
                accept_types: vec!["message/cpim".into()],
                accept_wrapped_types: vec!["*".into()],
                max_size: None,
                setup: SetupRole::Passive,
                cema: false,
                ..Default::default()
            };
            let identity = Identity {
                im_address: format!("sip:{name}@example.com"),
                privacy_alias: None,
            };
            let info = switch
                .add_participant_as(session, identity, remote, t0)
                .unwrap();
            Member {
                name,
                path,
                switch_uri: info.local_uri,
                conn: switch.open_connection(t0),
                reader: FrameReader::new(),
            }
        })
        .collect();
    for m in &mut members {
        let bind = m.request(
            "bind0001",
            "SEND",
            "Message-ID: bind0001\r\nByte-Range: 1-0/0\r\n",
            None,
        );
        feed(&mut switch, m, &bind, t0);
        let frames = m.read(&mut switch);
        assert_eq!(frames[0].status(), Some(200));
    }
    while switch.poll_event().is_some() {}
    (switch, members, t0)
}

#[test]
fn a_public_message_reaches_every_other_member_with_one_body_and_its_own_paths() {
    let (mut switch, mut m, t0) = group(
        Policy::default(),
        EndpointConfig::default(),
        &["alice", "bob", "carol"],
    );
    let body = cpim(&m[0].address(), ROOM, "text/plain", "hello room");
    let send = m[0].request(
        "tx0001",
        "SEND",
        "Message-ID: msga0001\r\nByte-Range: 1-*/*\r\n",
        Some(&body),
    );
    feed(&mut switch, &m[0], &send, t0);
    let to_alice = m[0].read(&mut switch);
    assert_eq!(to_alice.len(), 1);
    assert_eq!(to_alice[0].status(), Some(200));
    let mut ids = Vec::new();
    for member in &mut m[1..] {
        let frames = member.read(&mut switch);
        assert_eq!(frames.len(), 1, "{}", member.name);
        let f = &frames[0];
        assert_eq!(f.head.method_name(), Some("SEND"));
        assert_eq!(f.body, body);
        assert_eq!(f.flag, ContinuationFlag::End);
        let to: Vec<String> = f.head.to_path().map(|u| u.to_string()).collect();
        assert_eq!(to, std::slice::from_ref(&member.path));
        let from: Vec<String> = f.head.from_path().map(|u| u.to_string()).collect();
        assert_eq!(from, [member.switch_uri.to_string()]);
        assert_eq!(
            f.head.byte_range().unwrap().to_string(),
            format!("1-{}/*", body.len())
        );
        // Errors only: every member's 200 would end at the switch anyway.
        assert_eq!(
            f.head.failure_report(),
            Some(msrp_proto::codec::FailureReport::Partial)
        );
        ids.push(f.head.message_id().unwrap().as_str().to_owned());
    }
    assert_ne!(
        ids[0], "msga0001",
        "a Message-ID of the switch's own on each leg"
    );
    let _ = Bytes::new();
}

/// A member's To-Path and From-Path lines are written once and reused for every
/// copy it gets: a modification that moves it to a new path must reach its next
/// copy, not the lines of the old one.
#[test]
fn a_member_moved_to_a_new_path_gets_its_next_copies_there() {
    let (mut switch, mut m, t0) = group(
        Policy::default(),
        EndpointConfig::default(),
        &["alice", "bob"],
    );
    let to_path = |f: &Frame| -> Vec<String> { f.head.to_path().map(|u| u.to_string()).collect() };
    let send = |m: &Member, tid: &str| {
        let body = cpim(&m.address(), ROOM, "text/plain", tid);
        let headers = format!("Message-ID: {tid}\r\nByte-Range: 1-*/*\r\n");
        m.request(tid, "SEND", &headers, Some(&body))
    };
    feed(&mut switch, &m[0], &send(&m[0], "tx0001"), t0);
    assert_eq!(m[0].read(&mut switch)[0].status(), Some(200));
    let frames = m[1].read(&mut switch);
    assert_eq!(to_path(&frames[0]), [m[1].path.clone()]);

    // Bob's re-INVITE moves him; he dials in from the new path and binds again.
    let session_id = m[1].switch_uri.session_id().unwrap().to_owned();
    let bob = switch.participant_by_session_id(&session_id).unwrap();
    let moved = "msrp://127.0.0.1:42999/bobmoved;tcp";
    let remote = RemoteMedia {
        path: vec![MsrpUri::parse_str(moved).unwrap()],
        accept_types: vec!["message/cpim".into()],
        accept_wrapped_types: vec!["*".into()],
        setup: SetupRole::Passive,
        ..Default::default()
    };
    switch.stage_modification(bob, remote).unwrap();
    switch.commit_modification(bob, t0).unwrap();
    m[1].path = moved.into();
    m[1].conn = switch.open_connection(t0);
    m[1].reader = FrameReader::new();
    let bind = m[1].request(
        "bind0002",
        "SEND",
        "Message-ID: bind0002\r\nByte-Range: 1-0/0\r\n",
        None,
    );
    feed(&mut switch, &m[1], &bind, t0);
    assert_eq!(m[1].read(&mut switch)[0].status(), Some(200));

    feed(&mut switch, &m[0], &send(&m[0], "tx0002"), t0);
    assert_eq!(m[0].read(&mut switch)[0].status(), Some(200));
    let frames = m[1].read(&mut switch);
    assert_eq!(frames.len(), 1);
    assert_eq!(to_path(&frames[0]), [moved.to_owned()]);
    let from: Vec<String> = frames[0].head.from_path().map(|u| u.to_string()).collect();
    assert_eq!(from, [m[1].switch_uri.to_string()]);
}

#[test]
fn a_forged_cpim_from_gets_403_and_reaches_nobody() {
    let (mut switch, mut m, t0) = group(
        Policy::default(),
        EndpointConfig::default(),
        &["alice", "bob", "carol"],
    );
    let body = cpim("sip:bob@example.com", ROOM, "text/plain", "I am bob");
    let send = m[0].request(
        "tx0001",
        "SEND",
        "Message-ID: msga0001\r\nByte-Range: 1-*/*\r\n",
        Some(&body),
    );
    feed(&mut switch, &m[0], &send, t0);
    let to_alice = m[0].read(&mut switch);
    assert_eq!(to_alice[0].status(), Some(403));
    assert!(m[1].read(&mut switch).is_empty());
    assert!(m[2].read(&mut switch).is_empty());
}

#[test]
fn private_messages_go_to_one_member_or_get_404_and_428() {
    let policy = Policy {
        private_messages: true,
        ..Policy::default()
    };
    let (mut switch, mut m, t0) = group(
        policy,
        EndpointConfig::default(),
        &["alice", "bob", "carol"],
    );
    let body = cpim(&m[0].address(), &m[2].address(), "text/plain", "psst");
    let send = m[0].request(
        "tx0001",
        "SEND",
        "Message-ID: msga0001\r\nByte-Range: 1-*/*\r\n",
        Some(&body),
    );
    feed(&mut switch, &m[0], &send, t0);
    assert_eq!(m[0].read(&mut switch)[0].status(), Some(200));
    assert!(m[1].read(&mut switch).is_empty());
    assert_eq!(m[2].read(&mut switch)[0].body, body);

    let body = cpim(
        &m[0].address(),
        "sip:nobody@example.com",
        "text/plain",
        "hello?",
    );
    let send = m[0].request(
        "tx0002",
        "SEND",
        "Message-ID: msga0002\r\nByte-Range: 1-*/*\r\n",
        Some(&body),
    );
    feed(&mut switch, &m[0], &send, t0);
    assert_eq!(m[0].read(&mut switch)[0].status(), Some(404));

    let (mut switch, mut m, t0) = group(
        Policy::default(),
        EndpointConfig::default(),
        &["alice", "bob"],
    );
    let body = cpim(&m[0].address(), &m[1].address(), "text/plain", "psst");
    let send = m[0].request(
        "tx0001",
        "SEND",
        "Message-ID: msga0001\r\nByte-Range: 1-*/*\r\n",
        Some(&body),
    );
    feed(&mut switch, &m[0], &send, t0);
    assert_eq!(m[0].read(&mut switch)[0].status(), Some(428));
    assert!(m[1].read(&mut switch).is_empty());
    // An IMDN goes to its one recipient even so.
    let body = cpim(
        &m[0].address(),
        &m[1].address(),
        "message/imdn+xml",
        "<imdn/>",
    );
    let send = m[0].request(
        "tx0002",
        "SEND",
        "Message-ID: msga0002\r\nByte-Range: 1-*/*\r\n",
        Some(&body),
    );
    feed(&mut switch, &m[0], &send, t0);
    assert_eq!(m[0].read(&mut switch)[0].status(), Some(200));
    assert_eq!(m[1].read(&mut switch)[0].body, body);
}

#[test]
fn nickname_requests_get_200_424_and_425() {
    let policy = Policy {
        nicknames: true,
        ..Policy::default()
    };
    let (mut switch, mut m, t0) = group(policy, EndpointConfig::default(), &["alice", "bob"]);
    let ask = |m: &Member, tid: &str, value: &str| {
        m.request(tid, "NICKNAME", &format!("Use-Nickname: {value}\r\n"), None)
    };
    feed(&mut switch, &m[0], &ask(&m[0], "nick0001", "\"Al\""), t0);
    assert_eq!(m[0].read(&mut switch)[0].status(), Some(200));
    assert!(matches!(
        switch.poll_event(),
        Some(Event::NicknameSet { nickname, .. }) if nickname == "Al"
    ));
    feed(&mut switch, &m[1], &ask(&m[1], "nick0002", "\"al\""), t0);
    assert_eq!(m[1].read(&mut switch)[0].status(), Some(425));
    feed(&mut switch, &m[1], &ask(&m[1], "nick0003", "Bob"), t0);
    assert_eq!(m[1].read(&mut switch)[0].status(), Some(424));
    feed(&mut switch, &m[1], &ask(&m[1], "nick0004", "\"Bob\""), t0);
    assert_eq!(m[1].read(&mut switch)[0].status(), Some(200));
}

#[test]
fn a_slow_consumer_is_dropped_after_the_grace_period_and_the_others_go_on() {
    let config = EndpointConfig {
        queue_bytes: 4096,
        slow_consumer_grace: Duration::from_secs(2),
        ..EndpointConfig::default()
    };
    let (mut switch, mut m, t0) = group(Policy::default(), config, &["alice", "bob", "carol"]);
    let text = "x".repeat(1500);
    let mut now = t0;
    for i in 0..4 {
        if i == 3 {
            // carol read nothing and is over 4096 bytes. While her socket still
            // takes data alice waits (a burst is no slow consumer); once the
            // transport finds it full and it has taken nothing for 250 ms, alice
            // goes on without her.
            assert!(
                !switch.wants_read(m[0].conn),
                "carol's socket may drain yet"
            );
            switch.set_write_blocked(m[2].conn, true);
            assert!(
                !switch.wants_read(m[0].conn),
                "a full socket may be a live reader's for a moment"
            );
            now = t0 + Duration::from_millis(300);
            switch.handle_timeout(now);
            assert!(
                switch.wants_read(m[0].conn),
                "not held back for a stalled carol"
            );
        }
        let body = cpim(&m[0].address(), ROOM, "text/plain", &text);
        let send = m[0].request(
            &format!("tx00{i:02}"),
            "SEND",
            &format!("Message-ID: msga{i:04}\r\nByte-Range: 1-*/*\r\n"),
            Some(&body),
        );
        feed(&mut switch, &m[0], &send, now);
        assert_eq!(m[1].read(&mut switch).len(), 1, "bob reads message {i}");
    }
    switch.handle_timeout(t0 + Duration::from_secs(1));
    assert!(switch.poll_event().is_none());
    switch.handle_timeout(t0 + Duration::from_secs(3));
    assert!(matches!(
        switch.poll_event(),
        Some(Event::SlowConsumerDropped { .. })
    ));
    assert!(switch.is_aborted(m[2].conn));
}

/// One member's side of the allocation test: reads everything queued for it,
/// hashes the bodies and answers every SEND with a 200, all in reused buffers.
struct Lean {
    conn: ConnId,
    path: String,
    switch_uri: String,
    decoder: Decoder,
    pieces: Vec<Bytes>,
    buf: BytesMut,
    answers: BytesMut,
    tids: Vec<msrp_proto::codec::TransactionId>,
    bodies: u64,
    hash: u64,
}

impl Lean {
    fn new(m: &Member) -> Self {
        Self {
            conn: m.conn,
            path: m.path.clone(),
            switch_uri: m.switch_uri.to_string(),
            decoder: Decoder::new(Limits::default()),
            pieces: Vec::with_capacity(1024),
            buf: BytesMut::with_capacity(4 * 1024 * 1024),
            answers: BytesMut::with_capacity(1024 * 1024),
            tids: Vec::with_capacity(1024),
            bodies: 0,
            hash: 0xcbf29ce484222325,
        }
    }

    fn drain_and_answer(&mut self, switch: &mut Endpoint, now: Instant) {
        switch.take_output(self.conn, &mut self.pieces, usize::MAX);
        for piece in &self.pieces {
            self.buf.extend_from_slice(piece);
        }
        self.pieces.clear();
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(Item::Head(head))) => {
                    if head.method_name() == Some("SEND") {
                        self.tids.push(*head.transaction_id());
                    }
                }
                Ok(Some(Item::Body(piece))) => {
                    self.hash = piece.iter().fold(self.hash, |h, &b| {
                        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
                    });
                }
                Ok(Some(Item::End(_))) => self.bodies += 1,
                Ok(None) => break,
                Err(err) => panic!("malformed frame: {err}"),
            }
        }
        for tid in &self.tids {
            let out = &mut self.answers;
            out.extend_from_slice(b"MSRP ");
            out.extend_from_slice(tid.as_bytes());
            out.extend_from_slice(b" 200 OK\r\nTo-Path: ");
            out.extend_from_slice(self.switch_uri.as_bytes());
            out.extend_from_slice(b"\r\nFrom-Path: ");
            out.extend_from_slice(self.path.as_bytes());
            out.extend_from_slice(b"\r\n-------");
            out.extend_from_slice(tid.as_bytes());
            out.extend_from_slice(b"$\r\n");
        }
        self.tids.clear();
        switch.handle_input(self.conn, &mut self.answers, now);
        assert!(self.answers.is_empty());
    }
}

/// Steady-state fan-out allocates nothing per message: 3,000 pipelined 1 KiB
/// public messages from alice to bob and carol, fed in 64 KiB reads; the first 500
/// warm up, the rest are counted. Both receivers get every body intact.
///
/// What is left is the read buffer, as in the driver: the message cut by the end of
/// a read is being gathered, so its pieces pin that read's buffer and the next read
/// needs a new one (the block and its shared header: two allocations per 64 KiB).
#[test]
fn steady_state_fan_out_allocates_nothing_per_message() {
    const MESSAGES: usize = 3_000;
    const WARM_UP: usize = 500;
    let (mut switch, m, t0) = group(
        Policy::default(),
        EndpointConfig::default(),
        &["alice", "bob", "carol"],
    );
    let text: String = (0..1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let body = cpim(&m[0].address(), ROOM, "text/plain", &text);
    let mut stream = Vec::new();
    let mut bounds = Vec::new();
    for i in 0..MESSAGES {
        stream.extend_from_slice(&m[0].request(
            &format!("tx{i:06}"),
            "SEND",
            &format!("Message-ID: msg{i:06}\r\nByte-Range: 1-*/*\r\n"),
            Some(&body),
        ));
        bounds.push(stream.len());
    }
    let warm_end = bounds[WARM_UP - 1];
    let mut readers: Vec<Lean> = m[1..].iter().map(Lean::new).collect();
    let mut alice_out = Vec::with_capacity(1024);
    let mut input = BytesMut::with_capacity(128 * 1024);
    let mut round = |switch: &mut Endpoint, slice: &[u8], input: &mut BytesMut| {
        if !input.try_reclaim(64 * 1024) {
            input.reserve(64 * 1024);
        }
        input.extend_from_slice(slice);
        switch.handle_input(m[0].conn, input, t0);
        for r in &mut readers {
            r.drain_and_answer(switch, t0);
        }
        switch.take_output(m[0].conn, &mut alice_out, usize::MAX);
        alice_out.clear();
        while switch.poll_action().is_some() {}
    };
    for slice in stream[..warm_end].chunks(64 * 1024) {
        round(&mut switch, slice, &mut input);
    }
    let reads = stream[warm_end..].chunks(64 * 1024).count() as u64;
    counting::start();
    for slice in stream[warm_end..].chunks(64 * 1024) {
        round(&mut switch, slice, &mut input);
    }
    let allocations = counting::stop().unwrap();
    let want = body
        .iter()
        .cycle()
        .take(body.len() * MESSAGES)
        .fold(0xcbf29ce484222325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
    for r in &readers {
        assert_eq!(r.bodies, MESSAGES as u64);
        assert_eq!(r.hash, want, "every body intact, in order");
    }
    assert_eq!(switch.outstanding_transactions(), 0);
    eprintln!(
        "{allocations} allocations over {} messages in {reads} reads",
        MESSAGES - WARM_UP
    );
    // A few for tables that grow once (the timer heap), then two per read.
    assert!(
        allocations <= 2 * reads + 16,
        "{allocations} allocations over {} fanned-out messages in {reads} reads",
        MESSAGES - WARM_UP
    );
}

/// A member whose socket keeps taking bytes, however slowly and however often
/// the transport finds it full, is no slow consumer: it paces the sender (who
/// waits for it at the queue bound) and is never dropped, even far past the
/// grace period and with `slow_consumer_max_bytes` just above the bound; it
/// receives every message. (A stalled member is dropped: the test above.)
#[test]
fn a_member_that_keeps_reading_paces_the_sender_and_is_never_dropped() {
    let config = EndpointConfig {
        queue_bytes: 4096,
        slow_consumer_grace: Duration::from_secs(2),
        slow_consumer_max_bytes: 8192,
        ..EndpointConfig::default()
    };
    let (mut switch, mut m, t0) = group(Policy::default(), config, &["alice", "bob", "carol"]);
    let text = "y".repeat(1500);
    let (mut sent, mut now, mut held_back) = (0, t0, 0);
    let mut carol_bytes = Vec::new();
    for _ in 0..400 {
        if sent < 40 && switch.wants_read(m[0].conn) {
            let body = cpim(&m[0].address(), ROOM, "text/plain", &text);
            let send = m[0].request(
                &format!("tp{sent:04}"),
                "SEND",
                &format!("Message-ID: pace{sent:04}\r\nByte-Range: 1-*/*\r\n"),
                Some(&body),
            );
            feed(&mut switch, &m[0], &send, now);
            sent += 1;
        } else if sent < 40 {
            held_back += 1;
        }
        m[0].read(&mut switch);
        m[1].read(&mut switch);
        // carol's socket takes 1 KiB a tick and is then full again.
        let mut pieces = Vec::new();
        switch.take_output(m[2].conn, &mut pieces, 1024);
        for piece in pieces {
            carol_bytes.extend_from_slice(&piece);
        }
        switch.set_write_blocked(m[2].conn, true);
        now += Duration::from_millis(500);
        switch.handle_timeout(now);
        while let Some(event) = switch.poll_event() {
            assert!(
                !matches!(event, Event::SlowConsumerDropped { .. }),
                "a reading member was dropped: {event:?}"
            );
        }
    }
    assert_eq!(sent, 40, "alice sent everything");
    assert!(held_back > 0, "alice was paced by carol");
    assert!(!switch.is_aborted(m[2].conn));
    // Everything left for carol, then her frames: all 40 messages.
    switch.set_write_blocked(m[2].conn, false);
    let mut pieces = Vec::new();
    switch.take_output(m[2].conn, &mut pieces, usize::MAX);
    for piece in pieces {
        carol_bytes.extend_from_slice(&piece);
    }
    let mut decoder = Decoder::new(Limits::default());
    let mut buf = BytesMut::from(&carol_bytes[..]);
    let mut messages = 0;
    while let Ok(Some(item)) = decoder.decode(&mut buf) {
        if let Item::Head(head) = item
            && head.method_name() == Some("SEND")
        {
            messages += 1;
        }
    }
    assert_eq!(messages, 40, "carol got every message");
}

/// A member whose socket looks full and takes nothing for a while (a live reader
/// whose kernel buffer has not drained enough to be reported writable again) is
/// gone on without, up to `slow_consumer_max_bytes`; past that its sender waits
/// again, and it is not dropped before its grace period ends. Once it takes bytes
/// it is a live reader and is not dropped when the grace period ends.
#[test]
fn a_member_that_looks_stalled_is_not_dropped_before_its_grace_period_ends() {
    let config = EndpointConfig {
        queue_bytes: 4096,
        slow_consumer_grace: Duration::from_secs(2),
        slow_consumer_max_bytes: 8192,
        ..EndpointConfig::default()
    };
    let (mut switch, mut m, t0) = group(Policy::default(), config, &["alice", "bob", "carol"]);
    let text = "z".repeat(1500);
    let mut sent = 0;
    let send = |switch: &mut Endpoint, m: &mut [Member], now: Instant, sent: &mut usize| {
        let body = cpim(&m[0].address(), ROOM, "text/plain", &text);
        let frame = m[0].request(
            &format!("ts{sent:04}"),
            "SEND",
            &format!("Message-ID: look{sent:04}\r\nByte-Range: 1-*/*\r\n"),
            Some(&body),
        );
        feed(switch, &m[0], &frame, now);
        m[0].read(switch);
        m[1].read(switch);
        *sent += 1;
    };
    // Over the bound, carol's socket full.
    while switch.wants_read(m[0].conn) {
        send(&mut switch, &mut m, t0, &mut sent);
    }
    switch.set_write_blocked(m[2].conn, true);
    let stalled_at = t0 + Duration::from_millis(300);
    switch.handle_timeout(stalled_at);
    assert!(
        switch.wants_read(m[0].conn),
        "gone on without a stalled carol"
    );
    let before = sent;
    while switch.wants_read(m[0].conn) && sent < before + 100 {
        send(&mut switch, &mut m, stalled_at, &mut sent);
    }
    assert!(sent > before, "alice went on");
    assert!(
        !switch.wants_read(m[0].conn),
        "alice waits again once 8192 bytes wait for carol"
    );
    let quiet = |switch: &mut Endpoint| {
        while let Some(event) = switch.poll_event() {
            assert!(
                !matches!(event, Event::SlowConsumerDropped { .. }),
                "carol dropped: {event:?}"
            );
        }
    };
    switch.handle_timeout(t0 + Duration::from_millis(1500));
    quiet(&mut switch);
    assert!(
        !switch.is_aborted(m[2].conn),
        "dropped before the grace period"
    );
    // Her socket drains at last: she reads.
    let mut pieces = Vec::new();
    switch.take_output(m[2].conn, &mut pieces, 1024);
    switch.set_write_blocked(m[2].conn, false);
    switch.set_write_blocked(m[2].conn, true);
    switch.handle_timeout(t0 + Duration::from_millis(2100));
    quiet(&mut switch);
    assert!(!switch.is_aborted(m[2].conn), "a reader dropped");
}

/// RFC 7701 §7.3: a success REPORT to a group sender says the switch has the
/// message; with no other member to take it (bob's connection is gone) no such
/// REPORT is sent, though the SEND itself is answered 200.
#[test]
fn no_success_report_for_a_message_no_member_took() {
    let (mut switch, mut m, t0) = group(
        Policy::default(),
        EndpointConfig::default(),
        &["alice", "bob"],
    );
    switch.handle_close(m[1].conn, t0);
    let body = cpim(&m[0].address(), ROOM, "text/plain", "anyone?");
    let send = m[0].request(
        "tsr00001",
        "SEND",
        "Message-ID: alone001\r\nByte-Range: 1-*/*\r\nSuccess-Report: yes\r\n",
        Some(&body),
    );
    feed(&mut switch, &m[0], &send, t0);
    let frames = m[0].read(&mut switch);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].status(), Some(200));

    // With bob bound, the same SEND gets its success REPORT.
    let (mut switch, mut m, t0) = group(
        Policy::default(),
        EndpointConfig::default(),
        &["alice", "bob"],
    );
    feed(&mut switch, &m[0], &send, t0);
    let frames = m[0].read(&mut switch);
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(frames[1].head.method_name(), Some("REPORT"));
}
