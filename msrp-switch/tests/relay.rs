//! RFC 4976 relay mode over real TCP, beside the switch on the same listener:
//! clients AUTH through a real Digest challenge and send to each other through
//! the relay (a 5 MiB message in 64 KiB chunks, both ways, bodies hashed); 423,
//! a wrong password, a replayed nonce and an expired grant are refused; a
//! silent receiver gets its sender a REPORT 408; the metrics count all of it.

use std::time::Duration;

use msrp_switch::msrp_proto::relay::{Credentials, RelayConfig};
use msrp_test_support::relay::{
    auth_frame, authenticate, authorization, header_values, stream_chunks, use_path,
};
use msrp_test_support::wire::SendChunk;
use msrp_test_support::{Peer, TestEngine, metric, start_engine};
use tokio::net::TcpStream;

const REALM: &str = "relay.test";

/// An engine with `shards` shards (AUTHs go to the relay's shard whichever
/// accepted them) whose relay knows alice, bob and carol (password `pw`).
async fn relay_engine(shards: usize, tune: impl FnOnce(&mut RelayConfig)) -> TestEngine {
    let engine = start_engine(shards, |config| {
        config.relay.realm = REALM.into();
        tune(&mut config.relay);
    });
    let mut credentials = Credentials::new();
    for user in ["alice", "bob", "carol"] {
        credentials.insert_password(user, REALM, "pw");
    }
    engine.set_relay_credentials(credentials).await.unwrap();
    engine
}

/// The relay's own URI on `engine` (To-Path of an AUTH).
fn relay_uri(engine: &TestEngine) -> String {
    format!("msrp://127.0.0.1:{};tcp", engine.local_addr().port())
}

/// A client named `name` connected to the relay, not yet authenticated.
async fn client(engine: &TestEngine, name: &str, port: u16) -> Peer {
    let stream = TcpStream::connect(engine.local_addr()).await.unwrap();
    Peer::over(
        stream,
        &format!("msrp://127.0.0.1:{port}/{name}0001;tcp"),
        "",
    )
}

/// Writes a one-chunk text SEND of `body` from `peer` along `to_path`; its
/// transaction id.
async fn send_whole(
    peer: &mut Peer,
    to_path: &str,
    message_id: &str,
    body: &[u8],
    extra: &str,
) -> String {
    let tid = peer.next_tid();
    let frame = SendChunk {
        total: body.len(),
        extra_headers: extra,
        ..SendChunk::text(to_path, &peer.me, &tid, message_id)
    }
    .encode(body);
    peer.write(&frame).await;
    tid
}

/// `sender` streams `body` in 64 KiB chunks to `receiver` through the relay
/// (To-Path `to_path`), every chunk answered and checked, the whole hashed.
async fn stream(sender: &mut Peer, receiver: &mut Peer, to_path: &str, body: &[u8], mid: &str) {
    stream_chunks(sender, receiver, to_path, body, 64 * 1024, mid, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_exchange_5_mib_through_the_relay_both_ways() {
    let engine = relay_engine(2, |_| {}).await;
    let relay = relay_uri(&engine);
    let mut alice = client(&engine, "alice", 41001).await;
    let mut bob = client(&engine, "bob", 41002).await;
    let relay_a = use_path(&authenticate(&mut alice, &relay, "alice", "pw", None).await);
    let relay_b = use_path(&authenticate(&mut bob, &relay, "bob", "pw", Some(600)).await);
    assert_ne!(relay_a, relay_b);

    let body: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i * 31 % 251) as u8).collect();
    let to_bob = format!("{relay_a} {relay_b} {}", bob.me);
    stream(&mut alice, &mut bob, &to_bob, &body, "fivemib1").await;
    // Bob sees the path back to alice in From-Path: both relay URIs, then alice.
    send_whole(&mut alice, &to_bob, "paths001", b"which way?", "").await;
    let got = bob.read_frame().await;
    assert_eq!(
        got.sender_path(),
        [relay_b.clone(), relay_a.clone(), alice.me.clone()]
    );
    bob.answer(&got, "200 OK").await;
    assert_eq!(alice.read_frame().await.status(), Some(200));

    let back: Vec<u8> = body.iter().rev().copied().collect();
    let to_alice = format!("{relay_b} {relay_a} {}", alice.me);
    stream(&mut bob, &mut alice, &to_alice, &back, "fivemib2").await;

    assert_eq!(
        metric(
            &engine,
            "msrp_switch_relay_auths_total{result=\"challenged\"}"
        ),
        2
    );
    assert_eq!(
        metric(&engine, "msrp_switch_relay_auths_total{result=\"granted\"}"),
        2
    );
    assert_eq!(metric(&engine, "msrp_switch_relay_bindings"), 2);
    // 80 chunks each way and the one between, each passed on in one frame or
    // (cut-through, as reads split them) several.
    assert!(metric(&engine, "msrp_switch_relayed_frames_total") >= 161);
    assert!(metric(&engine, "msrp_switch_relayed_bytes_total") > 10 * 1024 * 1024);
    drop(alice);
    // The grants go with their connection.
    for _ in 0..100 {
        if metric(&engine, "msrp_switch_relay_bindings") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metric(&engine, "msrp_switch_relay_bindings"), 1);
}

#[tokio::test]
async fn wrong_passwords_replays_and_expires_out_of_bounds_are_refused() {
    let engine = relay_engine(1, |_| {}).await;
    let relay = relay_uri(&engine);

    // 423 with the bounds.
    let mut alice = client(&engine, "alice", 41001).await;
    let answer = authenticate(&mut alice, &relay, "alice", "pw", Some(5)).await;
    assert_eq!(answer.status(), Some(423));
    assert_eq!(header_values(&answer, "Min-Expires"), ["60"]);
    assert_eq!(header_values(&answer, "Max-Expires"), ["3600"]);

    // A wrong password: challenged again.
    let mut carol = client(&engine, "carol", 41003).await;
    let answer = authenticate(&mut carol, &relay, "carol", "guess", None).await;
    assert_eq!(answer.status(), Some(401));

    // A replay of a good answer (same nonce, same count): refused.
    let mut bob = client(&engine, "bob", 41002).await;
    let me = bob.me.clone();
    bob.write(auth_frame("replay01", &relay, &me, "").as_bytes())
        .await;
    let challenge = bob.read_frame().await;
    let www = header_values(&challenge, "WWW-Authenticate");
    let good = authorization(&www[0], "bob", "pw", 1, &relay);
    bob.write(auth_frame("replay02", &relay, &me, &good).as_bytes())
        .await;
    assert_eq!(bob.read_frame().await.status(), Some(200));
    bob.write(auth_frame("replay03", &relay, &me, &good).as_bytes())
        .await;
    assert_eq!(bob.read_frame().await.status(), Some(401), "a replay");

    // Three failures on one connection: 403 and it is closed.
    let mut mallory = client(&engine, "carol", 41004).await;
    let me = mallory.me.clone();
    mallory
        .write(auth_frame("guess000", &relay, &me, "").as_bytes())
        .await;
    let mut www = header_values(&mallory.read_frame().await, "WWW-Authenticate").remove(0);
    for n in 1..=2 {
        let wrong = authorization(&www, "carol", "wrong", 1, &relay);
        mallory
            .write(auth_frame(&format!("guess{n:03}"), &relay, &me, &wrong).as_bytes())
            .await;
        let answer = mallory.read_frame().await;
        assert_eq!(answer.status(), Some(401), "failure {n}");
        www = header_values(&answer, "WWW-Authenticate").remove(0);
    }
    let wrong = authorization(&www, "carol", "wrong", 1, &relay);
    mallory
        .write(auth_frame("guess003", &relay, &me, &wrong).as_bytes())
        .await;
    assert_eq!(mallory.read_frame().await.status(), Some(403));
    assert!(mallory.closed_within(Duration::from_secs(5)).await);
    assert_eq!(
        metric(&engine, "msrp_switch_relay_auths_total{result=\"refused\"}"),
        1
    );
    assert_eq!(
        metric(
            &engine,
            "msrp_switch_relay_auths_total{result=\"expires_out_of_bounds\"}"
        ),
        1
    );
}

#[tokio::test]
async fn an_expired_grant_gets_481_and_a_silent_receiver_gets_the_sender_a_408() {
    let engine = start_engine(1, |config| {
        config.relay.realm = REALM.into();
        config.relay.min_expires = Duration::from_secs(1);
        config.transaction_timeout = Duration::from_millis(500);
    });
    let mut credentials = Credentials::new();
    for user in ["alice", "bob"] {
        credentials.insert_password(user, REALM, "pw");
    }
    engine.set_relay_credentials(credentials).await.unwrap();
    let relay = relay_uri(&engine);
    let mut alice = client(&engine, "alice", 41001).await;
    let mut bob = client(&engine, "bob", 41002).await;
    let relay_a = use_path(&authenticate(&mut alice, &relay, "alice", "pw", None).await);
    let relay_b = use_path(&authenticate(&mut bob, &relay, "bob", "pw", Some(1)).await);
    let to_bob = format!("{relay_a} {relay_b} {}", bob.me);

    // Bob reads but never answers: alice's 200 is the relay's, then a REPORT.
    send_whole(
        &mut alice,
        &to_bob,
        "silent01",
        b"hello",
        "Failure-Report: yes\r\n",
    )
    .await;
    assert_eq!(alice.read_frame().await.status(), Some(200));
    assert_eq!(bob.read_frame().await.body, b"hello");
    let report = alice.read_frame().await;
    assert_eq!(report.method().as_deref(), Some("REPORT"));
    assert_eq!(report.target_path(), [alice.me.clone()]);
    assert_eq!(report.sender_path(), [relay_a.as_str()]);
    assert_eq!(header_values(&report, "Message-ID"), ["silent01"]);
    assert_eq!(header_values(&report, "Byte-Range"), ["1-5/5"]);
    let status = header_values(&report, "Status");
    assert!(status[0].starts_with("000 408"), "{status:?}");

    // Bob's grant was for one second.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    send_whole(&mut alice, &to_bob, "toolate1", b"late", "").await;
    assert_eq!(alice.read_frame().await.status(), Some(481));
}

/// Two relays in a row (RFC 4976 §6.3): alice uses relay A, bob relay B. A
/// connects to B for alice's requests, B to A for bob's; each end sees every
/// relay URI of the way in From-Path; a 1 MiB message goes each way intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_in_a_row_carry_messages_both_ways() {
    let a = relay_engine(1, |_| {}).await;
    let b = relay_engine(1, |_| {}).await;
    let mut alice = client(&a, "alice", 41001).await;
    let mut bob = client(&b, "bob", 41002).await;
    let relay_a = use_path(&authenticate(&mut alice, &relay_uri(&a), "alice", "pw", None).await);
    let relay_b = use_path(&authenticate(&mut bob, &relay_uri(&b), "bob", "pw", None).await);

    let body: Vec<u8> = (0..1024 * 1024).map(|i| (i * 7 % 253) as u8).collect();
    let to_bob = format!("{relay_a} {relay_b} {}", bob.me);
    send_whole(&mut alice, &to_bob, "hops0001", b"hi", "").await;
    assert_eq!(alice.read_frame().await.status(), Some(200));
    let got = bob.read_frame().await;
    assert_eq!(
        got.sender_path(),
        [relay_b.clone(), relay_a.clone(), alice.me.clone()]
    );
    assert_eq!(got.body, b"hi");
    bob.answer(&got, "200 OK").await;
    stream(&mut alice, &mut bob, &to_bob, &body, "hops0002").await;

    let to_alice = format!("{relay_b} {relay_a} {}", alice.me);
    let back: Vec<u8> = body.iter().rev().copied().collect();
    stream(&mut bob, &mut alice, &to_alice, &back, "hops0003").await;
    // Each relay opened one connection to the other.
    assert_eq!(metric(&a, "msrp_switch_connections_opened_total"), 1);
    assert_eq!(metric(&b, "msrp_switch_connections_opened_total"), 1);
}

/// Relays reach each other over TLS (RFC 4976 §9.2): bob AUTHs to B over TLS,
/// so his relay URI is `msrps:`; A connects to it over TLS, verifying B's
/// certificate against `--relay-tls-ca` for the address in the URI and
/// presenting its own. A relay without a CA bundle cannot, and the sender gets
/// a REPORT instead of silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_reach_each_other_over_tls_verified_against_a_ca() {
    use msrp_switch::transport::tls::TlsSettings;
    use msrp_switch::transport::{EngineConfig, TlsListen};
    use msrp_test_support::tls::connect_tls;
    use msrp_test_support::{Pki, start_engine_with};

    let pki = Pki::new("relay-tls");
    let engine = |ca: bool| {
        let mut switch = msrp_switch::msrp_proto::endpoint::EndpointConfig::default();
        switch.relay.realm = REALM.into();
        start_engine_with(EngineConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            shards: 1,
            pin_cores: false,
            switch,
            tls: Some(TlsListen {
                listen: "127.0.0.1:0".parse().unwrap(),
                settings: TlsSettings {
                    cert: Some(pki.server_cert.clone().into()),
                    key: Some(pki.server_key.clone().into()),
                    relay_ca: ca.then(|| pki.ca.clone().into()),
                    ..TlsSettings::default()
                },
            }),
            ..EngineConfig::default()
        })
    };
    let (a, b, lone) = (engine(true), engine(true), engine(false));
    for relay in [&a, &b, &lone] {
        let mut credentials = Credentials::new();
        for user in ["alice", "bob", "carol"] {
            credentials.insert_password(user, REALM, "pw");
        }
        relay.set_relay_credentials(credentials).await.unwrap();
    }
    let mut alice = client(&a, "alice", 41001).await;
    let relay_a = use_path(&authenticate(&mut alice, &relay_uri(&a), "alice", "pw", None).await);
    let b_tls = b.tls_addr().unwrap();
    let pinned = b.tls_identity().unwrap().fingerprint().to_string();
    let stream = connect_tls(b_tls, &pinned, None).await.unwrap();
    let mut bob = Peer::on(stream, "msrps://127.0.0.1:41002/bob00001;tcp", "");
    let b_uri = format!("msrps://127.0.0.1:{};tcp", b_tls.port());
    let relay_b = use_path(&authenticate(&mut bob, &b_uri, "bob", "pw", None).await);
    assert!(
        relay_b.starts_with(&format!("msrps://127.0.0.1:{}/", b_tls.port())),
        "{relay_b}"
    );

    let body: Vec<u8> = (0..256 * 1024).map(|i| (i * 11 % 239) as u8).collect();
    let to_bob = format!("{relay_a} {relay_b} {}", bob.me);
    let via = [relay_b.clone(), relay_a.clone(), alice.me.clone()];
    stream_chunks(
        &mut alice,
        &mut bob,
        &to_bob,
        &body,
        64 * 1024,
        "overtls1",
        Some(&via),
    )
    .await;
    let to_alice = format!("{relay_b} {relay_a} {}", alice.me);
    stream_chunks(
        &mut bob,
        &mut alice,
        &to_alice,
        &body,
        64 * 1024,
        "overtls2",
        None,
    )
    .await;
    assert_eq!(
        metric(&a, "msrp_switch_tls_handshakes_total"),
        1,
        "A dialled B over TLS"
    );

    // Without a CA bundle: the 200 is the relay's, then a REPORT says it failed.
    let mut carol = client(&lone, "carol", 41003).await;
    let relay_c = use_path(&authenticate(&mut carol, &relay_uri(&lone), "carol", "pw", None).await);
    let to_bob = format!("{relay_c} {relay_b} {}", bob.me);
    send_whole(&mut carol, &to_bob, "noca0001", b"hi", "").await;
    assert_eq!(carol.read_frame().await.status(), Some(200));
    let report = carol.read_frame().await;
    assert_eq!(report.method().as_deref(), Some("REPORT"));
    assert!(header_values(&report, "Status")[0].starts_with("000 481"));
    assert_eq!(metric(&lone, "msrp_switch_connect_failures_total"), 1);
}

/// The credentials file is re-read on SIGHUP: a user added to it can AUTH
/// afterwards, without a restart; and `--relay-auth none` says at start that
/// anyone may relay.
#[tokio::test]
async fn sighup_reloads_the_relay_credentials_and_auth_none_is_logged() {
    use msrp_switch::msrp_proto::relay::Algorithm;
    use msrp_test_support::TempDir;
    use msrp_test_support::daemon::Daemon;

    let dir = TempDir::new("relay-sighup");
    let line = |user: &str| {
        let ha1 = Algorithm::Md5.hex(&[user.as_bytes(), REALM.as_bytes(), b"pw"]);
        format!("{user}:{REALM}:{ha1}\n")
    };
    let file = dir.file("users", &line("alice"));
    let mut daemon = Daemon::spawn(
        env!("CARGO_BIN_EXE_msrp-switch"),
        &["--relay-realm", REALM, "--relay-credentials", &file],
    )
    .await;
    let addr = daemon.msrp;
    let relay = format!("msrp://{addr};tcp");
    let auth_as = |user: &'static str| {
        let relay = relay.clone();
        async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let mut peer = Peer::over(
                stream,
                &format!("msrp://127.0.0.1:41009/{user}0001;tcp"),
                "",
            );
            authenticate(&mut peer, &relay, user, "pw", None)
                .await
                .status()
        }
    };
    assert_eq!(auth_as("alice").await, Some(200));
    assert_eq!(
        auth_as("bob").await,
        Some(401),
        "bob is not in the file yet"
    );

    std::fs::write(&file, line("alice") + &line("bob")).unwrap();
    let pid = rustix::process::Pid::from_raw(daemon.child.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    daemon.log_line_with("relay credentials reloaded").await;
    assert_eq!(auth_as("bob").await, Some(200), "bob after SIGHUP");

    let mut open =
        Daemon::spawn(env!("CARGO_BIN_EXE_msrp-switch"), &["--relay-auth", "none"]).await;
    let warning = open.log_line_with("--relay-auth none").await;
    assert!(warning.contains("WARN"), "{warning}");
}

/// A client with two relays (RFC 4976 §5.1): alice AUTHs to A (inner), then
/// through A to B (outer). A passes the AUTH on and B's 401 and 200 back end to
/// end (§6.4.2, §6.4.3), under alice's transaction ids, with the paths turned
/// hop by hop; B's Use-Path names both relays. Then a message goes alice -> A ->
/// B -> bob and back, and a NICKNAME through both relays gets bob's answer
/// back, not one of the relays'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_behind_two_relays_authenticates_through_the_inner_one() {
    use msrp_test_support::relay::{authenticate_through, use_paths};

    let a = relay_engine(1, |_| {}).await;
    let b = relay_engine(1, |_| {}).await;
    let mut alice = client(&a, "alice", 41001).await;
    let inner = use_path(&authenticate(&mut alice, &relay_uri(&a), "alice", "pw", None).await);
    let outer_uri = relay_uri(&b);
    let through = format!("{inner} {outer_uri}");
    let ok = authenticate_through(&mut alice, &through, &outer_uri, "alice", "pw", None).await;
    assert_eq!(ok.target_path(), [alice.me.as_str()]);
    let uses = use_paths(&ok);
    assert_eq!(uses.len(), 2, "{uses:?}");
    assert_eq!(
        uses[0], inner,
        "the inner relay first, as alice puts it in To-Path"
    );
    assert!(uses[1].starts_with(&format!("msrp://127.0.0.1:{}/", b.local_addr().port())));
    assert_eq!(ok.sender_path(), [inner.clone(), outer_uri.clone()]);
    assert_eq!(header_values(&ok, "Authentication-Info").len(), 1);

    let mut bob = client(&b, "bob", 41002).await;
    let bobs = use_path(&authenticate(&mut bob, &relay_uri(&b), "bob", "pw", None).await);
    let to_bob = format!("{} {} {bobs} {}", uses[0], uses[1], bob.me);
    let via = [
        bobs.clone(),
        uses[1].clone(),
        uses[0].clone(),
        alice.me.clone(),
    ];
    let body: Vec<u8> = (0..200_000).map(|i| (i * 3 % 251) as u8).collect();
    stream_chunks(
        &mut alice,
        &mut bob,
        &to_bob,
        &body,
        64 * 1024,
        "twohops1",
        Some(&via),
    )
    .await;
    let to_alice = format!("{bobs} {} {} {}", uses[1], uses[0], alice.me);
    stream_chunks(
        &mut bob,
        &mut alice,
        &to_alice,
        &body,
        64 * 1024,
        "twohops2",
        None,
    )
    .await;

    // NICKNAME (RFC 7701) through both relays: neither answers it; bob's answer
    // comes back end to end.
    let tid = alice.next_tid();
    let nickname = format!(
        "MSRP {tid} NICKNAME\r\nTo-Path: {to_bob}\r\nFrom-Path: {}\r\n\
         Use-Nickname: \"al\"\r\n-------{tid}$\r\n",
        alice.me
    );
    alice.write(nickname.as_bytes()).await;
    let at_bob = bob.read_frame().await;
    assert_eq!(at_bob.method().as_deref(), Some("NICKNAME"));
    assert_eq!(at_bob.sender_path(), via);
    // Bob answers along the whole From-Path, as a non-SEND response goes.
    let answer = format!(
        "MSRP {} 425 Nickname in use\r\nTo-Path: {}\r\nFrom-Path: {}\r\n-------{}$\r\n",
        at_bob.tid(),
        via.join(" "),
        bob.me,
        at_bob.tid()
    );
    bob.write(answer.as_bytes()).await;
    let back = alice.read_frame().await;
    assert_eq!((back.tid(), back.status()), (tid, Some(425)));
    assert_eq!(back.target_path(), [alice.me.as_str()]);
    assert_eq!(
        back.sender_path(),
        [
            uses[0].clone(),
            uses[1].clone(),
            bobs.clone(),
            bob.me.clone()
        ]
    );
}
