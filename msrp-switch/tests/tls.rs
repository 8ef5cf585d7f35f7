//! MSRP over TLS (issue 14): `msrps` participants set up through the control API,
//! rustls clients that pin the fingerprint of the API's answer, fingerprints
//! enforced at bind whichever side connected, handshakes that fail without
//! disturbing anyone else, and the switch connecting out over TLS.

use std::sync::Arc;
use std::time::Duration;

use control_api::pb;
use control_api::pb::switch_control_client::SwitchControlClient;
use msrp_switch::codec::{ContinuationFlag, MsrpUri};
use msrp_test_support::tls::{
    AcceptedTlsPeer, Identity, TlsPeer, acceptor, connect_tls, peer_fingerprint, sdp_fingerprint,
    start_tls_engine, tls_peer,
};
use msrp_test_support::wire::SendChunk;
use msrp_test_support::{LIMIT, PATH_B as B, *};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use tonic::transport::Channel;

/// Participant A's path: it speaks TLS.
const A: &str = "msrps://127.0.0.1:40001/aaaa1111;tcp";

/// An SDP offer over `TCP/TLS/MSRP` with `a=fingerprint:<fingerprint>`; the party
/// takes the `setup` role (RFC 4145).
fn tls_offer(path: &str, fingerprint: &str, setup: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
         m=message 40001 TCP/TLS/MSRP *\r\nc=IN IP4 127.0.0.1\r\n\
         a=path:{path}\r\na=accept-types:*\r\na=setup:{setup}\r\n\
         a=fingerprint:{fingerprint}\r\n"
    )
}

/// A control client on the engine's control API and a fresh 1:1 session.
struct Rig {
    engine: TestEngine,
    _control: ControlServer,
    client: SwitchControlClient<Channel>,
    session: String,
}

impl Rig {
    async fn new(handshake_timeout: Duration) -> Rig {
        let engine = start_tls_engine(handshake_timeout);
        let control = ControlServer::start(&engine, None).await;
        let mut client = control.client().await;
        let session = create_one_to_one(&mut client).await;
        Rig {
            engine,
            _control: control,
            client,
            session,
        }
    }

    /// Adds a participant from its SDP offer; the switch's answer.
    async fn add(&mut self, who: &str, sdp: String) -> pb::AddParticipantResponse {
        self.try_add(who, sdp).await.unwrap()
    }

    async fn try_add(
        &mut self,
        who: &str,
        sdp: String,
    ) -> Result<pb::AddParticipantResponse, tonic::Status> {
        self.client
            .add_participant(pb::AddParticipantRequest {
                session_id: self.session.clone(),
                identity: Some(pb::Identity {
                    im_address: who.into(),
                    privacy_alias: String::new(),
                }),
                remote: Some(sdp_media(sdp)),
                ..Default::default()
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// B, a TCP participant, connected and bound.
    async fn tcp_b(&mut self) -> Peer {
        let added = self.add("sip:bob@example.net", sdp_offer(B, "*")).await;
        let uri = MsrpUri::parse_str(&switch_uri(&added)).unwrap();
        let mut b = Peer::connect(self.engine.local_addr(), B, &uri).await;
        b.bind().await;
        b
    }

    /// A, a TLS participant presenting `identity`, added with `offered` as its
    /// fingerprint; the switch's URI and the fingerprint its answer gives.
    async fn tls_a(&mut self, offered: &str) -> (String, String) {
        let added = self
            .add("sip:alice@example.net", tls_offer(A, offered, "active"))
            .await;
        let answer = &added.local.as_ref().unwrap().sdp;
        (switch_uri(&added), sdp_fingerprint(answer))
    }

    /// The control API's event stream, from now on.
    async fn events(&mut self) -> tonic::Streaming<pb::Event> {
        self.client
            .watch_events(pb::WatchEventsRequest::default())
            .await
            .unwrap()
            .into_inner()
    }

    fn tls_addr(&self) -> std::net::SocketAddr {
        self.engine.tls_addr().unwrap()
    }
}

/// The next event other than a participant binding (the rig's own peers bind).
async fn next_event(events: &mut tonic::Streaming<pb::Event>) -> pb::event::Kind {
    loop {
        let event = timeout(LIMIT, events.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match event.kind {
            Some(pb::event::Kind::ParticipantBound(_)) => continue,
            Some(kind) => return kind,
            None => panic!("an event without a kind"),
        }
    }
}

fn body(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(seed) % 251) as u8)
        .collect()
}

/// `from` sends `body` in one chunk; `to` gets it intact and answers 200.
async fn relay<S, R>(from: &mut Peer<S>, to: &mut Peer<R>, message_id: &str, body: &[u8])
where
    S: AsyncRead + AsyncWrite + Unpin,
    R: AsyncRead + AsyncWrite + Unpin,
{
    from.send_message(message_id, body).await;
    let got = to.read_frame().await;
    assert_eq!(got.head.message_id().unwrap().as_str(), message_id);
    assert_eq!(hash(&got.body), hash(body));
    to.answer(&got, "200 OK").await;
}

/// `sender` streams `message` in 64 KiB chunks from a task while `receiver` reads
/// and answers every chunk; the bytes `receiver` got, and the sender back.
async fn stream_chunked<S, R>(
    sender: Peer<S>,
    receiver: &mut Peer<R>,
    message: Arc<Vec<u8>>,
) -> Vec<u8>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    R: AsyncRead + AsyncWrite + Unpin,
{
    const CHUNK: usize = 64 * 1024;
    let total = message.len();
    let count = total.div_ceil(CHUNK);
    let writer = tokio::spawn(async move {
        let mut sender = sender;
        for (i, piece) in message.chunks(CHUNK).enumerate() {
            let tid = format!("big{i:05}");
            let frame = SendChunk {
                start: i * CHUNK + 1,
                total,
                content_type: "application/octet-stream",
                flag: if i + 1 == count { '$' } else { '+' },
                ..sender.chunk_head(&tid, "bigmsg01")
            }
            .encode(piece);
            sender.write(&frame).await;
        }
        for _ in 0..count {
            assert_eq!(sender.read_frame().await.status(), Some(200));
        }
    });
    let mut received = Vec::with_capacity(total);
    loop {
        let got = receiver.read_frame().await;
        assert_eq!(got.head.message_id().unwrap().as_str(), "bigmsg01");
        assert_eq!(
            got.head.byte_range().unwrap().start as usize,
            received.len() + 1
        );
        received.extend_from_slice(&got.body);
        receiver.answer(&got, "200 OK").await;
        if got.flag == ContinuationFlag::End {
            break;
        }
    }
    timeout(LIMIT, writer).await.unwrap().unwrap();
    received
}

#[tokio::test]
async fn a_tls_participant_and_a_tcp_participant_exchange_messages_including_5_mib() {
    let mut rig = Rig::new(Duration::from_secs(10)).await;
    let alice = Identity::new();
    let (uri_a, pinned) = rig.tls_a(&alice.fingerprint()).await;
    let tls_port = rig.tls_addr().port();
    assert!(
        uri_a.starts_with(&format!("msrps://127.0.0.1:{tls_port}/")),
        "{uri_a}"
    );
    let mut b = rig.tcp_b().await;
    // The pin is checked against the certificate the switch presents: a wrong one
    // would fail this handshake.
    let mut a = tls_peer(rig.tls_addr(), &pinned, &alice, A, &uri_a).await;
    a.bind().await;

    // Captured (issue 19): the frames read from and written to the TLS
    // connection are copied in the clear.
    let mut captured = rig.engine.watch_capture();
    let key = rig.session.parse().unwrap();
    rig.engine.capture_session(key, true).await.unwrap();
    relay(&mut a, &mut b, "tlscap01", b"plain to the operator").await;
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let frame = timeout(LIMIT, captured.recv()).await.unwrap().unwrap();
        seen.push((
            frame.source.port(),
            String::from_utf8_lossy(&frame.frame).into_owned(),
        ));
    }
    assert!(
        seen.iter().any(|(port, text)| *port != tls_port
            && text.contains("Message-ID: tlscap01")
            && text.contains("plain to the operator")),
        "the SEND read from the TLS connection, in the clear: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(port, text)| *port == tls_port && text.contains(" 200 OK\r\n")),
        "the 200 written to it: {seen:?}"
    );
    rig.engine.capture_session(key, false).await.unwrap();

    relay(&mut a, &mut b, "tls00001", &body(1024, 7)).await;
    relay(&mut b, &mut a, "tls00002", &body(1024, 11)).await;

    let message = Arc::new(body(5 * 1024 * 1024, 13));
    let received = stream_chunked(a, &mut b, Arc::clone(&message)).await;
    assert_eq!(received.len(), message.len());
    assert_eq!(hash(&received), hash(&message));
    assert_eq!(metric(&rig.engine, "msrp_switch_tls_handshakes_total"), 1);
}

#[tokio::test]
async fn the_answer_to_a_tls_offer_carries_the_switchs_fingerprint_and_transport() {
    let mut rig = Rig::new(Duration::from_secs(10)).await;
    let added = rig
        .add(
            "sip:alice@example.net",
            tls_offer(A, &Identity::new().fingerprint(), "active"),
        )
        .await;
    let sdp = &added.local.as_ref().unwrap().sdp;
    let port = rig.tls_addr().port();
    assert!(
        sdp.contains(&format!("m=message {port} TCP/TLS/MSRP *\r\n")),
        "{sdp}"
    );
    assert!(sdp.contains("a=setup:passive\r\n"), "{sdp}");
    // The digest of the certificate a handshake actually presents.
    let stream = connect_tls(rig.tls_addr(), &sdp_fingerprint(sdp), None)
        .await
        .unwrap();
    let presented = peer_fingerprint(stream.get_ref().1.peer_certificates());
    assert_eq!(presented.as_deref(), Some(sdp_fingerprint(sdp).as_str()));
    assert!(sdp_fingerprint(sdp).starts_with("sha-256 "), "{sdp}");
}

/// A connection that presents another certificate, or none, or is not TLS, cannot
/// bind a participant whose media pin a fingerprint: 403, an event, a metric, and
/// nothing reaches the other side.
#[tokio::test]
async fn a_wrong_certificate_no_certificate_or_plain_tcp_cannot_bind_and_nothing_is_delivered() {
    let mut rig = Rig::new(Duration::from_secs(10)).await;
    let mut events = rig.events().await;
    let alice = Identity::new();
    let (uri_a, pinned) = rig.tls_a(&alice.fingerprint()).await;
    let mut b = rig.tcp_b().await;

    let mallory = Identity::new();
    let mut wrong = tls_peer(rig.tls_addr(), &pinned, &mallory, A, &uri_a).await;
    let anonymous = connect_tls(rig.tls_addr(), &pinned, None).await.unwrap();
    let mut anonymous: TlsPeer = Peer::on(anonymous, A, &uri_a);
    let mut plain = Peer::connect(
        rig.engine.local_addr(),
        A,
        &MsrpUri::parse_str(&uri_a).unwrap(),
    )
    .await;
    for (tid, reason) in ["tid00001", "tid00002", "tid00003"].into_iter().zip([
        "fingerprint_mismatch",
        "no_certificate",
        "not_tls",
    ]) {
        let frame = wrong.send_frame(tid, "evil0001", "", b"not from alice");
        match reason {
            "fingerprint_mismatch" => wrong.write(&frame).await,
            "no_certificate" => anonymous.write(&frame).await,
            _ => plain.write(&frame).await,
        }
        let answer = match reason {
            "fingerprint_mismatch" => wrong.read_frame().await,
            "no_certificate" => anonymous.read_frame().await,
            _ => plain.read_frame().await,
        };
        assert_eq!((answer.tid(), answer.status()), (tid.to_owned(), Some(403)));
        assert_eq!(
            metric(
                &rig.engine,
                &format!("msrp_switch_bind_refusals_total{{reason=\"{reason}\"}}")
            ),
            1,
            "{reason}"
        );
        match next_event(&mut events).await {
            pb::event::Kind::BindRefused(refused) => assert_eq!(refused.reason, reason),
            other => panic!("{other:?}"),
        }
    }
    // Nothing reached B; the real A binds and is delivered to as usual.
    let early = timeout(Duration::from_millis(300), b.try_read_frame()).await;
    assert!(early.is_err(), "B got {early:?}");
    let mut a = tls_peer(rig.tls_addr(), &pinned, &alice, A, &uri_a).await;
    a.bind().await;
    relay(&mut a, &mut b, "good0001", b"from alice").await;
}

/// A garbage handshake, an expired client certificate and a handshake that
/// stalls fail on their own, counted by reason, while a TLS session runs beside.
#[tokio::test]
async fn failed_handshakes_are_counted_and_disturb_no_one() {
    let mut rig = Rig::new(Duration::from_secs(1)).await;
    let alice = Identity::new();
    let (uri_a, pinned) = rig.tls_a(&alice.fingerprint()).await;
    let mut b = rig.tcp_b().await;
    let mut a = tls_peer(rig.tls_addr(), &pinned, &alice, A, &uri_a).await;
    a.bind().await;

    let mut stalled = tokio::net::TcpStream::connect(rig.tls_addr())
        .await
        .unwrap();
    let mut garbage = tokio::net::TcpStream::connect(rig.tls_addr())
        .await
        .unwrap();
    garbage
        .write_all(b"MSRP t1 SEND\r\nTo-Path: x\r\n\r\n-------t1$\r\n")
        .await
        .unwrap();
    let expired = connect_tls(rig.tls_addr(), &pinned, Some(&Identity::expired())).await;
    // TLS 1.3 clients finish before the server checks their certificate: the
    // refusal arrives as an alert on the first read.
    if let Ok(mut stream) = expired {
        let mut byte = [0u8; 1];
        let read = timeout(LIMIT, stream.read(&mut byte)).await.unwrap();
        assert!(!matches!(read, Ok(1)), "an expired client was served");
    }
    for i in 0..3 {
        relay(&mut a, &mut b, &format!("beside{i:02}"), &body(2048, 3)).await;
    }
    // The garbage is refused at once; the stalled one closed by the timeout.
    let mut sink = Vec::new();
    let read = timeout(LIMIT, garbage.read_to_end(&mut sink))
        .await
        .unwrap();
    assert!(read.is_ok() || sink.is_empty());
    let read = timeout(LIMIT, stalled.read_to_end(&mut sink))
        .await
        .unwrap();
    assert!(read.is_ok(), "{read:?}");
    let failures = |reason: &str| {
        metric(
            &rig.engine,
            &format!("msrp_switch_tls_handshake_failures_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(failures("protocol"), 1);
    assert_eq!(failures("certificate"), 1);
    assert_eq!(failures("timeout"), 1);
    relay(&mut b, &mut a, "after001", b"still here").await;
    assert_eq!(metric(&rig.engine, "msrp_switch_tls_handshakes_total"), 1);
}

/// B listens with TLS and asks the switch to connect (B is passive): the switch
/// checks B's certificate against B's fingerprint, presents the certificate of its
/// answer, and binds with a bodiless SEND before anything else.
#[tokio::test]
async fn the_switch_connects_out_over_tls_to_a_passive_peer_and_binds() {
    let mut rig = Rig::new(Duration::from_secs(10)).await;
    let bob = Identity::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_path = format!(
        "msrps://127.0.0.1:{}/bpassive;tcp",
        listener.local_addr().unwrap().port()
    );
    let added = rig
        .add(
            "sip:bob@example.net",
            tls_offer(&b_path, &bob.fingerprint(), "passive"),
        )
        .await;
    let answer = &added.local.as_ref().unwrap().sdp;
    assert!(answer.contains("a=setup:active\r\n"), "{answer}");
    let switch_fingerprint = sdp_fingerprint(answer);

    let (tcp, _) = timeout(LIMIT, listener.accept()).await.unwrap().unwrap();
    let stream = timeout(LIMIT, acceptor(&bob).accept(tcp))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        peer_fingerprint(stream.get_ref().1.peer_certificates()).as_deref(),
        Some(switch_fingerprint.as_str()),
        "the switch presents the certificate its answer pins"
    );
    let mut b: AcceptedTlsPeer = Peer::on(stream, &b_path, &switch_uri(&added));
    let bind = b.read_frame().await;
    assert_eq!(bind.method().as_deref(), Some("SEND"));
    assert!(bind.body.is_empty());
    assert_eq!(bind.target_path(), [b_path.as_str()]);
    b.answer(&bind, "200 OK").await;

    let alice = Identity::new();
    let (uri_a, pinned) = rig.tls_a(&alice.fingerprint()).await;
    let mut a = tls_peer(rig.tls_addr(), &pinned, &alice, A, &uri_a).await;
    a.bind().await;
    relay(&mut a, &mut b, "out00001", &body(4096, 5)).await;
    relay(&mut b, &mut a, "out00002", &body(4096, 9)).await;
    assert_eq!(metric(&rig.engine, "msrp_switch_tls_handshakes_total"), 2);
}

/// A passive peer whose certificate is not the one its media pin: the switch
/// gives up at once (a certificate does not change on retry), says why in an
/// event and a metric, and sends it nothing.
#[tokio::test]
async fn the_switch_refuses_a_passive_peer_with_another_certificate() {
    let mut rig = Rig::new(Duration::from_secs(10)).await;
    let mut events = rig.events().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_path = format!(
        "msrps://127.0.0.1:{}/bimposte;tcp",
        listener.local_addr().unwrap().port()
    );
    rig.add(
        "sip:bob@example.net",
        tls_offer(&b_path, &Identity::new().fingerprint(), "passive"),
    )
    .await;
    let impostor = Identity::new();
    let server = tokio::spawn(async move {
        let (tcp, _) = timeout(LIMIT, listener.accept()).await.unwrap().unwrap();
        let accepted = acceptor(&impostor).accept(tcp).await;
        assert!(accepted.is_err(), "the switch accepted the impostor");
        // No second attempt.
        let again = timeout(Duration::from_millis(1500), listener.accept()).await;
        assert!(again.is_err(), "the switch retried");
    });
    match next_event(&mut events).await {
        pb::event::Kind::ConnectFailed(failed) => {
            assert!(failed.reason.contains("certificate"), "{}", failed.reason)
        }
        other => panic!("{other:?}"),
    }
    timeout(LIMIT, server).await.unwrap().unwrap();
    assert_eq!(metric(&rig.engine, "msrp_switch_connect_failures_total"), 1);
    assert_eq!(
        metric(
            &rig.engine,
            "msrp_switch_tls_handshake_failures_total{reason=\"certificate\"}"
        ),
        1
    );
}

/// Without a TLS listener the switch cannot answer `TCP/TLS/MSRP`; it says so.
#[tokio::test]
async fn without_tls_an_msrps_offer_is_not_acceptable() {
    let engine = start_engine(1, |_| {});
    let control = ControlServer::start(&engine, None).await;
    let mut client = control.client().await;
    let session = create_one_to_one(&mut client).await;
    let refused = client
        .add_participant(pb::AddParticipantRequest {
            session_id: session,
            remote: Some(sdp_media(tls_offer(
                A,
                &Identity::new().fingerprint(),
                "active",
            ))),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    assert!(refused.message().contains("TLS"), "{}", refused.message());
}

/// The daemon with certificate files: SIGHUP reloads them while a TLS
/// participant sends. Its connection keeps going (nothing lost, in order), new
/// handshakes present the new certificate and new answers carry its fingerprint.
#[tokio::test]
async fn certificates_reload_on_sighup_under_traffic() {
    const MESSAGES: usize = 60;
    let dir = std::env::temp_dir().join(format!("msrp-switch-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (old, new) = (Identity::new(), Identity::new());
    let (cert, key) = old.write_pem(&dir, "switch");
    let mut daemon = daemon::Daemon::spawn(
        env!("CARGO_BIN_EXE_msrp-switch"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
    .await;
    let tls_addr = daemon.tls.unwrap();
    let mut client = SwitchControlClient::connect(daemon.control.clone())
        .await
        .unwrap();
    let session = create_one_to_one(&mut client).await;
    let alice = Identity::new();
    let add = |sdp: String| pb::AddParticipantRequest {
        session_id: session.clone(),
        remote: Some(sdp_media(sdp)),
        ..Default::default()
    };
    let added_a = client
        .add_participant(add(tls_offer(A, &alice.fingerprint(), "active")))
        .await
        .unwrap()
        .into_inner();
    let added_b = client
        .add_participant(add(sdp_offer(B, "*")))
        .await
        .unwrap()
        .into_inner();
    let pinned = sdp_fingerprint(&added_a.local.as_ref().unwrap().sdp);
    assert_eq!(pinned, old.fingerprint());
    let mut a = tls_peer(tls_addr, &pinned, &alice, A, &switch_uri(&added_a)).await;
    let uri_b = MsrpUri::parse_str(&switch_uri(&added_b)).unwrap();
    let mut b = Peer::connect(daemon.msrp, B, &uri_b).await;
    a.bind().await;
    b.bind().await;

    let bodies: Vec<Vec<u8>> = (0..MESSAGES).map(|m| body(3000, m as u32 + 1)).collect();
    let sent = bodies.clone();
    let sender = tokio::spawn(async move {
        for (m, body) in sent.iter().enumerate() {
            a.send_message(&format!("rld{m:05}"), body).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        a
    });
    // Halfway, the files change and the daemon is told.
    for (m, body) in bodies.iter().enumerate() {
        if m == MESSAGES / 2 {
            new.write_pem(&dir, "switch");
            let pid = daemon.child.id().unwrap().to_string();
            let hup = std::process::Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap();
            assert!(hup.success());
            let line = daemon.log_line_with("SIGHUP").await;
            assert!(line.contains("reloaded"), "{line}");
            assert!(line.contains(&new.fingerprint()), "{line}");
        }
        let got = b.read_frame().await;
        assert_eq!(
            got.head.message_id().unwrap().as_str(),
            format!("rld{m:05}")
        );
        assert_eq!(hash(&got.body), hash(body), "message {m}");
        b.answer(&got, "200 OK").await;
    }
    let mut a = timeout(LIMIT, sender).await.unwrap().unwrap();
    relay(
        &mut b,
        &mut a,
        "rldback1",
        b"the old connection still works",
    )
    .await;

    // New handshakes present the new certificate; the old pin fails.
    assert!(
        connect_tls(tls_addr, &old.fingerprint(), None)
            .await
            .is_err()
    );
    connect_tls(tls_addr, &new.fingerprint(), None)
        .await
        .unwrap();
    let session = create_one_to_one(&mut client).await;
    let again = client
        .add_participant(pb::AddParticipantRequest {
            session_id: session,
            remote: Some(sdp_media(tls_offer(A, &alice.fingerprint(), "active"))),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        sdp_fingerprint(&again.local.as_ref().unwrap().sdp),
        new.fingerprint()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
