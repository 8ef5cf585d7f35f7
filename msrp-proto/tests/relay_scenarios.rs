//! RFC 4976 relay mode on the sans-IO [`Endpoint`], no sockets: AUTH with a real
//! Digest challenge (401, 200 with Use-Path, 423, refusals), requests through the
//! relay with their paths rewritten (§6.3), re-chunking, and REPORTs for errors
//! and silence (§6.4.1).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use msrp_proto::codec::ContinuationFlag;
use msrp_proto::endpoint::{Endpoint, EndpointConfig};
use msrp_proto::ids::{ConnId, WireIds};
use msrp_proto::relay::digest::{Algorithm, challenge_param, client_response};
use msrp_proto::relay::{Credentials, RelayAuth, RelayConfig};
use msrp_proto::stats::Stats;

#[path = "support/frames.rs"]
mod frames;

use frames::{Frame, FrameReader};

const RELAY: &str = "msrp://127.0.0.1:2855;tcp";
const REALM: &str = "relay.example";

struct Client {
    name: &'static str,
    conn: ConnId,
    /// The client's own URI (its From-Path).
    uri: String,
    /// The relay URI it was granted, once it was.
    use_path: Option<String>,
    reader: FrameReader,
    nc: u32,
}

impl Client {
    fn new(switch: &mut Endpoint, name: &'static str, port: u16, now: Instant) -> Self {
        Self {
            name,
            conn: switch.open_connection(now),
            uri: format!("msrp://10.0.0.{port}:{port}/{name}s1;tcp"),
            use_path: None,
            reader: FrameReader::new(),
            nc: 0,
        }
    }

    fn read(&mut self, switch: &mut Endpoint) -> Vec<Frame> {
        let mut pieces = Vec::new();
        switch.take_output(self.conn, &mut pieces, usize::MAX);
        self.reader.decode(&pieces.concat())
    }

    fn feed(&self, switch: &mut Endpoint, bytes: &[u8], now: Instant) {
        let mut input = BytesMut::from(bytes);
        switch.handle_input(self.conn, &mut input, now);
        assert!(
            input.is_empty(),
            "input left unread: {:?}",
            String::from_utf8_lossy(&input)
        );
    }

    fn auth(&self, tid: &str, headers: &str) -> Vec<u8> {
        // Transaction ids are at least four characters (RFC 4975 §9 ident).
        let tid = format!("tx{tid}00");
        format!(
            "MSRP {tid} AUTH\r\nTo-Path: {RELAY}\r\nFrom-Path: {}\r\n{headers}-------{tid}$\r\n",
            self.uri
        )
        .into_bytes()
    }

    /// The Authorization answering `challenge` with `password`.
    fn authorization(&mut self, challenge: &str, password: &str, algorithm: Algorithm) -> String {
        self.nc += 1;
        let nonce = challenge_param(challenge, "nonce").unwrap();
        let nc = format!("{:08x}", self.nc);
        let response = client_response(
            algorithm, self.name, REALM, password, nonce, &nc, "cn0nce", RELAY,
        );
        format!(
            "Authorization: Digest username=\"{}\", realm=\"{REALM}\", nonce=\"{nonce}\", \
             uri=\"{RELAY}\", response=\"{response}\", qop=auth, nc={nc}, cnonce=\"cn0nce\", \
             algorithm={}\r\n",
            self.name,
            algorithm.name()
        )
    }

    /// AUTH through the challenge with the right password: the Use-Path.
    fn authenticate(&mut self, switch: &mut Endpoint, now: Instant) -> String {
        self.feed(switch, &self.auth("a1", ""), now);
        let challenge = self.read(switch).remove(0);
        assert_eq!(challenge.status(), Some(401));
        let www = challenge.head.value_of("WWW-Authenticate").unwrap();
        let authorization = self.authorization(&www, "pw", Algorithm::Md5);
        self.feed(switch, &self.auth("a2", &authorization), now);
        let ok = self.read(switch).remove(0);
        assert_eq!(ok.status(), Some(200), "{:?}", ok.head);
        let use_path: Vec<String> = ok.head.use_path().map(|u| u.to_string()).collect();
        assert_eq!(use_path.len(), 1);
        self.use_path = Some(use_path[0].clone());
        use_path[0].clone()
    }

    fn send(&self, tid: &str, to_path: &str, headers: &str, body: &[u8], flag: char) -> Vec<u8> {
        let tid = format!("tx{tid}00");
        let mut frame = format!(
            "MSRP {tid} SEND\r\nTo-Path: {to_path}\r\nFrom-Path: {}\r\n{headers}\
             Content-Type: text/plain\r\n\r\n",
            self.uri
        )
        .into_bytes();
        frame.extend_from_slice(body);
        frame.extend_from_slice(format!("\r\n-------{tid}{flag}\r\n").as_bytes());
        frame
    }
}

trait ValueOf {
    fn value_of(&self, name: &str) -> Option<String>;
    fn values_of(&self, name: &str) -> Vec<String>;
}

impl ValueOf for msrp_proto::codec::Head {
    fn value_of(&self, name: &str) -> Option<String> {
        self.values_of(name).into_iter().next()
    }
    fn values_of(&self, name: &str) -> Vec<String> {
        self.headers()
            .filter(|(_, n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, _, v)| v.to_owned())
            .collect()
    }
}

fn relay(config: RelayConfig) -> (Endpoint, Instant) {
    let t0 = Instant::now();
    let mut switch = Endpoint::new(
        EndpointConfig {
            relay: RelayConfig {
                realm: REALM.into(),
                ..config
            },
            ..EndpointConfig::default()
        },
        0,
        WireIds::seeded(3),
        Arc::new(Stats::default()),
        t0,
    );
    let mut credentials = Credentials::new();
    for user in ["alice", "bob", "carol"] {
        credentials.insert_password(user, REALM, "pw");
    }
    switch.set_relay_credentials(credentials);
    (switch, t0)
}

/// Alice and Bob connected and granted a relay URI each: the two clients and
/// their URIs (Alice's, Bob's).
fn alice_and_bob(switch: &mut Endpoint, t0: Instant) -> (Client, Client, String, String) {
    let mut alice = Client::new(switch, "alice", 1, t0);
    let mut bob = Client::new(switch, "bob", 2, t0);
    let relay_a = alice.authenticate(switch, t0);
    let relay_b = bob.authenticate(switch, t0);
    (alice, bob, relay_a, relay_b)
}

#[test]
fn auth_is_challenged_then_granted_a_use_path_and_expires() {
    let (mut switch, t0) = relay(RelayConfig::default());
    let mut alice = Client::new(&mut switch, "alice", 1, t0);
    alice.feed(&mut switch, &alice.auth("a1", ""), t0);
    let challenge = alice.read(&mut switch).remove(0);
    assert_eq!(challenge.status(), Some(401));
    assert_eq!(challenge.tid(), "txa100");
    assert_eq!(challenge.target_path(), [alice.uri.clone()]);
    assert_eq!(challenge.sender_path(), [RELAY]);
    let offers = challenge.head.values_of("WWW-Authenticate");
    assert_eq!(offers.len(), 2, "{offers:?}");
    assert!(offers[0].starts_with("Digest realm=\"relay.example\", nonce=\""));
    assert!(
        offers[0].ends_with("qop=\"auth\", algorithm=MD5"),
        "{}",
        offers[0]
    );
    assert!(offers[1].ends_with("algorithm=SHA-256"), "{}", offers[1]);
    // SHA-256 answers are as good as MD5's.
    let authorization = alice.authorization(&offers[1], "pw", Algorithm::Sha256);
    alice.feed(
        &mut switch,
        &alice.auth("a2", &format!("{authorization}Expires: 900\r\n")),
        t0,
    );
    let ok = alice.read(&mut switch).remove(0);
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.head.value_of("Expires").as_deref(), Some("900"));
    // RFC 7616 §3.5: rspauth is the response with an empty method in A2.
    let nonce = challenge_param(&offers[1], "nonce").unwrap();
    let ha1 = Algorithm::Sha256.hex(&[b"alice", REALM.as_bytes(), b"pw"]);
    let ha2 = Algorithm::Sha256.hex(&[b"", RELAY.as_bytes()]);
    let rspauth = Algorithm::Sha256.hex(&[
        ha1.as_bytes(),
        nonce.as_bytes(),
        b"00000001",
        b"cn0nce",
        b"auth",
        ha2.as_bytes(),
    ]);
    assert_eq!(
        ok.head.value_of("Authentication-Info").as_deref(),
        Some(format!("qop=auth, rspauth=\"{rspauth}\", cnonce=\"cn0nce\", nc=00000001").as_str())
    );
    let use_path: Vec<String> = ok.head.use_path().map(|u| u.to_string()).collect();
    assert_eq!(use_path.len(), 1);
    let uri = &use_path[0];
    assert!(uri.starts_with("msrp://127.0.0.1:2855/"), "{uri}");
    assert!(uri.ends_with(";tcp"), "{uri}");
    // 130 random bits after the shard character.
    let sid = uri["msrp://127.0.0.1:2855/".len()..uri.len() - 4].to_owned();
    assert_eq!(sid.len(), 23, "{sid}");
    assert_eq!(switch.relay_bindings(), 1);
    // Each AUTH gets a URI of its own.
    let again = alice.authenticate(&mut switch, t0);
    assert_ne!(&again, uri);
    assert_eq!(switch.relay_bindings(), 2);
}

#[test]
fn wrong_passwords_replays_and_stale_nonces_are_refused_and_failures_bounded() {
    let (mut switch, t0) = relay(RelayConfig::default());
    let mut alice = Client::new(&mut switch, "alice", 1, t0);
    alice.feed(&mut switch, &alice.auth("a1", ""), t0);
    let challenge = alice.read(&mut switch).remove(0);
    let www = challenge.head.value_of("WWW-Authenticate").unwrap();

    // A replay: the same nonce count again, with the right password.
    let good = alice.authorization(&www, "pw", Algorithm::Md5);
    alice.feed(&mut switch, &alice.auth("a2", &good), t0);
    assert_eq!(alice.read(&mut switch)[0].status(), Some(200));
    alice.feed(&mut switch, &alice.auth("a3", &good), t0);
    let refused = alice.read(&mut switch).remove(0);
    assert_eq!(refused.status(), Some(401), "a replayed nonce count");

    // A nonce answered after its lifetime: stale, challenged again.
    let www = refused.head.value_of("WWW-Authenticate").unwrap();
    let late = alice.authorization(&www, "pw", Algorithm::Md5);
    alice.feed(
        &mut switch,
        &alice.auth("a4", &late),
        t0 + Duration::from_secs(31),
    );
    let stale = alice.read(&mut switch).remove(0);
    assert_eq!(stale.status(), Some(401));
    let www = stale.head.value_of("WWW-Authenticate").unwrap();
    assert!(www.contains("stale=true"), "{www}");

    // Wrong passwords: 401 until the third failure (the replay was the first),
    // then 403 and the connection closes.
    let wrong = alice.authorization(&www, "guess", Algorithm::Md5);
    alice.feed(&mut switch, &alice.auth("a5", &wrong), t0);
    let second = alice.read(&mut switch).remove(0);
    assert_eq!(second.status(), Some(401));
    let www = second.head.value_of("WWW-Authenticate").unwrap();
    let wrong = alice.authorization(&www, "guess", Algorithm::Md5);
    alice.feed(&mut switch, &alice.auth("a6", &wrong), t0);
    assert_eq!(alice.read(&mut switch)[0].status(), Some(403));
    assert!(switch.is_closing(alice.conn));
    assert_eq!(switch.relay_bindings(), 1, "the one grant before");
}

#[test]
fn an_expires_out_of_bounds_gets_423_with_min_and_max() {
    let (mut switch, t0) = relay(RelayConfig::default());
    let mut alice = Client::new(&mut switch, "alice", 1, t0);
    for (tid, asked) in [("e1", "10"), ("e2", "7200")] {
        alice.feed(&mut switch, &alice.auth("c1", ""), t0);
        let www = alice.read(&mut switch)[0]
            .head
            .value_of("WWW-Authenticate")
            .unwrap();
        let authorization = alice.authorization(&www, "pw", Algorithm::Md5);
        alice.feed(
            &mut switch,
            &alice.auth(tid, &format!("{authorization}Expires: {asked}\r\n")),
            t0,
        );
        let answer = alice.read(&mut switch).remove(0);
        assert_eq!(answer.status(), Some(423), "Expires {asked}");
        assert_eq!(answer.head.value_of("Min-Expires").as_deref(), Some("60"));
        assert_eq!(answer.head.value_of("Max-Expires").as_deref(), Some("3600"));
        assert_eq!(answer.head.use_path().count(), 0);
    }
    assert_eq!(switch.relay_bindings(), 0);
}

#[test]
fn with_auth_none_every_auth_is_granted_without_a_challenge() {
    let (mut switch, t0) = relay(RelayConfig {
        auth: RelayAuth::None,
        ..RelayConfig::default()
    });
    let mut alice = Client::new(&mut switch, "alice", 1, t0);
    alice.feed(&mut switch, &alice.auth("n1", ""), t0);
    let ok = alice.read(&mut switch).remove(0);
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.head.use_path().count(), 1);
    assert_eq!(ok.head.value_of("Expires").as_deref(), Some("1800"));
}

/// Alice and Bob both use this relay (RFC 4976 §6.3): alice's SEND names her
/// relay URI, Bob's and Bob; it reaches Bob with both relay URIs taken off
/// To-Path and put in front of From-Path, the Message-ID and body untouched;
/// alice gets her 200 from the relay; Bob's 200 stops at the relay. And back.
#[test]
fn a_send_through_the_relay_reaches_the_other_client_with_its_paths_rewritten() {
    let (mut switch, t0) = relay(RelayConfig::default());
    let (mut alice, mut bob, relay_a, relay_b) = alice_and_bob(&mut switch, t0);

    let to_bob = format!("{relay_a} {relay_b} {}", bob.uri);
    let send = alice.send(
        "s1",
        &to_bob,
        "Message-ID: msgm10000\r\nByte-Range: 1-5/5\r\n",
        b"hello",
        '$',
    );
    alice.feed(&mut switch, &send, t0);
    let ok = alice.read(&mut switch).remove(0);
    assert_eq!((ok.tid(), ok.status()), ("txs100", Some(200)));
    assert_eq!(ok.target_path(), [alice.uri.clone()]);
    assert_eq!(ok.sender_path(), [relay_a.as_str()]);
    let got = bob.read(&mut switch).remove(0);
    assert_eq!(got.method(), Some("SEND"));
    assert_ne!(got.tid(), "txs100", "a new transaction on the next hop");
    assert_eq!(got.target_path(), [bob.uri.clone()]);
    assert_eq!(
        got.sender_path(),
        [relay_b.clone(), relay_a.clone(), alice.uri.clone()]
    );
    assert_eq!(got.message_id(), "msgm10000");
    assert_eq!(got.byte_range(), "1-5/5");
    assert_eq!(got.body, b"hello");
    assert_eq!(got.flag, ContinuationFlag::End);
    // Bob's 200 goes to the relay, hop by hop, and stops there.
    let answer = format!(
        "MSRP {} 200 OK\r\nTo-Path: {relay_b}\r\nFrom-Path: {}\r\n-------{}$\r\n",
        got.tid(),
        bob.uri,
        got.tid()
    );
    bob.feed(&mut switch, answer.as_bytes(), t0);
    assert!(alice.read(&mut switch).is_empty());
    assert_eq!(switch.outstanding_transactions(), 0);

    // Back: Bob's path to alice is the reverse.
    let to_alice = format!("{relay_b} {relay_a} {}", alice.uri);
    bob.feed(
        &mut switch,
        &bob.send("s2", &to_alice, "Message-ID: msgm20000\r\n", b"hi", '$'),
        t0,
    );
    assert_eq!(bob.read(&mut switch)[0].status(), Some(200));
    let got = alice.read(&mut switch).remove(0);
    assert_eq!(got.target_path(), [alice.uri.clone()]);
    assert_eq!(got.sender_path(), [relay_a, relay_b, bob.uri.clone()]);
    assert_eq!(got.body, b"hi");
}

/// RFC 4976 §5.1: a client that did not AUTH may still send through the
/// receiver's relay.
#[test]
fn a_sender_without_a_grant_reaches_a_client_through_its_relay() {
    let (mut switch, t0) = relay(RelayConfig::default());
    let mut bob = Client::new(&mut switch, "bob", 2, t0);
    let mut carol = Client::new(&mut switch, "carol", 3, t0);
    let relay_b = bob.authenticate(&mut switch, t0);
    let to_bob = format!("{relay_b} {}", bob.uri);
    carol.feed(
        &mut switch,
        &carol.send("c1", &to_bob, "Message-ID: msgm30000\r\n", b"knock", '$'),
        t0,
    );
    assert_eq!(carol.read(&mut switch)[0].status(), Some(200));
    let got = bob.read(&mut switch).remove(0);
    assert_eq!(got.sender_path(), [relay_b, carol.uri.clone()]);
    assert_eq!(got.body, b"knock");
}

/// A chunk longer than `rechunk_bytes` goes on as several, with exact ranges:
/// the relay never holds more than that of one sender.
#[test]
fn a_long_chunk_goes_on_as_several_with_exact_byte_ranges() {
    let (mut switch, t0) = relay(RelayConfig {
        rechunk_bytes: 4096,
        ..RelayConfig::default()
    });
    let (mut alice, mut bob, relay_a, relay_b) = alice_and_bob(&mut switch, t0);
    let body: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let send = alice.send(
        "big1",
        &format!("{relay_a} {relay_b} {}", bob.uri),
        "Message-ID: msgbig0000\r\nByte-Range: 1-10000/10000\r\n",
        &body,
        '$',
    );
    // In pieces, as TCP delivers it.
    for piece in send.chunks(1000) {
        alice.feed(&mut switch, piece, t0);
    }
    let got = bob.read(&mut switch);
    let ranges: Vec<String> = got.iter().map(Frame::byte_range).collect();
    let flags: Vec<ContinuationFlag> = got.iter().map(|f| f.flag).collect();
    assert!(got.len() >= 3, "{ranges:?}");
    assert_eq!(flags.last(), Some(&ContinuationFlag::End));
    assert!(
        flags[..flags.len() - 1]
            .iter()
            .all(|f| *f == ContinuationFlag::More)
    );
    let mut next = 1;
    for frame in &got {
        let expected = format!("{next}-{}/10000", next + frame.body.len() - 1);
        assert_eq!(frame.byte_range(), expected);
        assert!(frame.body.len() <= 4096 + 1000, "{}", frame.body.len());
        next += frame.body.len();
    }
    let whole: Vec<u8> = got.iter().flat_map(|f| f.body.clone()).collect();
    assert_eq!(whole, body);
    assert_eq!(alice.read(&mut switch)[0].status(), Some(200));
}

/// §6.4.1: an error response from the next hop, or none within the transaction
/// timeout, gives the sender a REPORT with that status (408 for silence).
#[test]
fn error_responses_and_silence_downstream_become_reports_to_the_sender() {
    let (mut switch, t0) = relay(RelayConfig::default());
    let (mut alice, mut bob, relay_a, relay_b) = alice_and_bob(&mut switch, t0);
    let to_bob = format!("{relay_a} {relay_b} {}", bob.uri);
    for (tid, message) in [("r1", "msgA0000"), ("r2", "msgB0000")] {
        let send = alice.send(
            tid,
            &to_bob,
            &format!("Message-ID: {message}\r\nByte-Range: 1-3/3\r\n"),
            b"abc",
            '$',
        );
        alice.feed(&mut switch, &send, t0);
        assert_eq!(alice.read(&mut switch)[0].status(), Some(200));
    }
    let got = bob.read(&mut switch);
    // Bob refuses the first with 415 and never answers the second.
    let refusal = format!(
        "MSRP {} 415 Unsupported\r\nTo-Path: {relay_b}\r\nFrom-Path: {}\r\n-------{}$\r\n",
        got[0].tid(),
        bob.uri,
        got[0].tid()
    );
    bob.feed(&mut switch, refusal.as_bytes(), t0);
    let report = alice.read(&mut switch).remove(0);
    assert_eq!(report.method(), Some("REPORT"));
    assert_eq!(report.target_path(), [alice.uri.clone()]);
    assert_eq!(report.sender_path(), [relay_a.as_str()]);
    assert_eq!(report.message_id(), "msgA0000");
    assert_eq!(report.byte_range(), "1-3/3");
    assert!(
        report
            .head
            .value_of("Status")
            .unwrap()
            .starts_with("000 415")
    );

    switch.handle_timeout(t0 + Duration::from_secs(29));
    assert!(alice.read(&mut switch).is_empty());
    switch.handle_timeout(t0 + Duration::from_secs(31));
    let report = alice.read(&mut switch).remove(0);
    assert_eq!(report.message_id(), "msgB0000");
    assert!(
        report
            .head
            .value_of("Status")
            .unwrap()
            .starts_with("000 408")
    );
}

/// A relay URI whose grant expired, or whose client's connection is gone, is
/// unknown: 481.
#[test]
fn an_expired_or_orphaned_relay_uri_gets_481() {
    let (mut switch, t0) = relay(RelayConfig::default());
    let (mut alice, mut bob, relay_a, relay_b) = alice_and_bob(&mut switch, t0);
    let to_bob = format!("{relay_a} {relay_b} {}", bob.uri);
    let later = t0 + Duration::from_secs(1801);
    alice.feed(
        &mut switch,
        &alice.send("x1", &to_bob, "Message-ID: msglate0000\r\n", b"late", '$'),
        later,
    );
    assert_eq!(alice.read(&mut switch)[0].status(), Some(481));
    assert!(bob.read(&mut switch).is_empty());

    let mut carol = Client::new(&mut switch, "carol", 3, t0);
    switch.handle_close(bob.conn, t0);
    carol.feed(
        &mut switch,
        &carol.send(
            "x2",
            &format!("{relay_b} {}", bob.uri),
            "Message-ID: msggone0000\r\n",
            b"?",
            '$',
        ),
        t0,
    );
    assert_eq!(carol.read(&mut switch)[0].status(), Some(481));
}

/// Cut-through: what each read brings of a long chunk goes on at the end of the
/// read (once it is `flush_bytes` or more), ended `+`, so the receiver has it
/// before the sender has sent the rest; ranges stay exact and the body whole.
#[test]
fn a_long_chunk_streams_through_read_by_read() {
    let (mut switch, t0) = relay(RelayConfig {
        flush_bytes: 2000,
        ..RelayConfig::default()
    });
    let (alice, mut bob, relay_a, relay_b) = alice_and_bob(&mut switch, t0);
    let body: Vec<u8> = (0..12_000u32).map(|i| (i % 249) as u8).collect();
    let send = alice.send(
        "cut1",
        &format!("{relay_a} {relay_b} {}", bob.uri),
        "Message-ID: msgcut0000\r\nByte-Range: 1-12000/12000\r\n",
        &body,
        '$',
    );
    let (first, rest) = send.split_at(send.len() / 2);
    alice.feed(&mut switch, first, t0);
    let early = bob.read(&mut switch);
    assert_eq!(
        early.len(),
        1,
        "half the chunk went on before the rest came"
    );
    assert_eq!(early[0].flag, ContinuationFlag::More);
    let early_len = early[0].body.len();
    assert!(early_len >= 2000, "{early_len}");
    assert_eq!(early[0].byte_range(), format!("1-{early_len}/12000"));
    alice.feed(&mut switch, rest, t0);
    let late = bob.read(&mut switch);
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].flag, ContinuationFlag::End);
    assert_eq!(
        late[0].byte_range(),
        format!("{}-12000/12000", early_len + 1)
    );
    let whole: Vec<u8> = early
        .iter()
        .chain(&late)
        .flat_map(|f| f.body.clone())
        .collect();
    assert_eq!(whole, body);
}

/// Backpressure through the relay: while what waits for the receiver is over
/// `queue_bytes`, the sender's connection is not read (TCP then slows it); once
/// the receiver reads, the sender is woken and read again. Nothing is dropped.
#[test]
fn a_receiver_that_does_not_read_holds_its_sender_back_until_it_does() {
    let t0 = Instant::now();
    let mut switch = Endpoint::new(
        EndpointConfig {
            queue_bytes: 4096,
            relay: RelayConfig {
                realm: REALM.into(),
                ..RelayConfig::default()
            },
            ..EndpointConfig::default()
        },
        0,
        WireIds::seeded(5),
        Arc::new(Stats::default()),
        t0,
    );
    let mut credentials = Credentials::new();
    credentials.insert_password("alice", REALM, "pw");
    credentials.insert_password("bob", REALM, "pw");
    switch.set_relay_credentials(credentials);
    let (alice, mut bob, relay_a, relay_b) = alice_and_bob(&mut switch, t0);
    let to_bob = format!("{relay_a} {relay_b} {}", bob.uri);
    let mut sent = 0;
    while switch.wants_read(alice.conn) && sent < 100 {
        let send = alice.send(
            &format!("bp{sent:03}"),
            &to_bob,
            &format!("Message-ID: msgbp{sent:05}\r\n"),
            &[b'x'; 1000],
            '$',
        );
        alice.feed(&mut switch, &send, t0);
        sent += 1;
    }
    assert!(sent < 100, "alice was held back");
    assert!(sent >= 4, "not before 4096 bytes waited: {sent}");
    while switch.poll_action().is_some() {}
    // Bob reads: alice may go on, and is woken to.
    let got = bob.read(&mut switch);
    assert_eq!(got.len(), sent, "every message waited for bob");
    assert!(switch.wants_read(alice.conn));
    let mut woken = false;
    while let Some(action) = switch.poll_action() {
        woken |= action == msrp_proto::endpoint::Action::Wake(alice.conn);
    }
    assert!(woken, "alice's connection is woken to be read again");
}

/// A 200 is a promise (§6.4.1): when the receiver's connection goes with a
/// relayed chunk unanswered, the sender gets its REPORT at once, not after the
/// transaction timeout.
#[test]
fn a_receiver_that_goes_with_a_chunk_unanswered_gets_its_sender_a_report() {
    let (mut switch, t0) = relay(RelayConfig::default());
    let (mut alice, mut bob, relay_a, relay_b) = alice_and_bob(&mut switch, t0);
    let send = alice.send(
        "gone1",
        &format!("{relay_a} {relay_b} {}", bob.uri),
        "Message-ID: msggone00001\r\nByte-Range: 1-4/4\r\n",
        b"lost",
        '$',
    );
    alice.feed(&mut switch, &send, t0);
    assert_eq!(alice.read(&mut switch)[0].status(), Some(200));
    assert_eq!(bob.read(&mut switch)[0].body, b"lost");
    switch.handle_close(bob.conn, t0);
    let report = alice.read(&mut switch).remove(0);
    assert_eq!(report.method(), Some("REPORT"));
    assert_eq!(report.message_id(), "msggone00001");
    assert_eq!(report.byte_range(), "1-4/4");
    assert!(
        report
            .head
            .value_of("Status")
            .unwrap()
            .starts_with("000 481")
    );
    assert_eq!(switch.outstanding_transactions(), 0);
}
