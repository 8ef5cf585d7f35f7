//! MSRP over WebSocket (RFC 7977) end to end: the engine's WebSocket listener,
//! a browser's side played by tokio-tungstenite, and a TCP participant. A 1:1
//! session carries a 5 MiB message each way in 64 KiB chunks, every MSRP frame
//! in exactly one WebSocket message; bad upgrades are refused with the HTTP
//! status that says why, counted, and disturb nobody.

use std::time::Duration;

use msrp_switch::codec::{ContinuationFlag, MsrpUri};
use msrp_switch::msrp_proto::endpoint::EndpointConfig;
use msrp_switch::msrp_proto::session::SessionKind;
use msrp_switch::transport::ws::WsSettings;
use msrp_switch::transport::{EngineConfig, WsListen};
use msrp_test_support::wire::{SendChunk, bind_frame};
use msrp_test_support::ws::{WsPeer, connect_ws};
use msrp_test_support::{Peer, TestEngine, hash, metric, remote, start_engine_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// The browser's path (RFC 7977 §9 style: an `.invalid` host, transport ws).
const BROWSER: &str = "msrp://df7jal23ls0d.invalid:2855/98cjs;ws";
const DESK: &str = "msrp://127.0.0.1:41002/desk0001;tcp";

fn engine(origins: &[&str]) -> TestEngine {
    engine_with(origins, EndpointConfig::default())
}

fn engine_with(origins: &[&str], switch: EndpointConfig) -> TestEngine {
    start_engine_with(EngineConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        shards: 1,
        pin_cores: false,
        switch,
        ws: Some(WsListen {
            listen: "127.0.0.1:0".parse().unwrap(),
            settings: WsSettings {
                origins: origins.iter().map(|o| (*o).to_owned()).collect(),
                handshake_timeout: Duration::from_secs(2),
                ..WsSettings::default()
            },
        }),
        ..EngineConfig::default()
    })
}

/// A 1:1 session between the browser (over WebSocket) and the desk (TCP), both
/// bound; the browser's and the desk's URIs of the switch.
async fn session(engine: &TestEngine) -> (WsPeer, Peer, MsrpUri, MsrpUri) {
    let session = engine.create_session(SessionKind::OneToOne).await.unwrap();
    let mut browser_media = remote(BROWSER);
    browser_media.websocket = true;
    let browser_info = engine
        .add_participant(session, browser_media)
        .await
        .unwrap();
    let desk_info = engine.add_participant(session, remote(DESK)).await.unwrap();
    let to_browser = browser_info.local_uri.clone();
    assert_eq!(to_browser.transport(), "ws", "{to_browser}");
    assert_eq!(
        to_browser.port(),
        engine.ws_addr().map(|a| a.port()),
        "the switch's URI for the browser is on its WebSocket port"
    );
    let mut browser = WsPeer::connect(engine.ws_addr().unwrap(), BROWSER).await;
    let tid = browser.next_tid();
    browser
        .send(bind_frame(&tid, to_browser.as_str(), BROWSER).as_bytes())
        .await;
    assert_eq!(browser.read_frame().await.status(), Some(200));
    let mut desk = Peer::connect(engine.local_addr(), DESK, &desk_info.local_uri).await;
    desk.bind().await;
    (browser, desk, to_browser, desk_info.local_uri)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_and_a_tcp_client_exchange_5_mib_each_way() {
    const CHUNK: usize = 64 * 1024;
    let engine = engine(&[]);
    let (mut browser, mut desk, to_browser, _) = session(&engine).await;
    let body: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();

    // Browser -> desk: each chunk one WebSocket message.
    let mut got = Vec::new();
    for (i, part) in body.chunks(CHUNK).enumerate() {
        let tid = browser.next_tid();
        let last = (i + 1) * CHUNK >= body.len();
        let frame = SendChunk {
            start: i * CHUNK + 1,
            total: body.len(),
            flag: if last { '$' } else { '+' },
            ..SendChunk::text(to_browser.as_str(), BROWSER, &tid, "fromweb1")
        }
        .encode(part);
        browser.send(&frame).await;
        assert_eq!(browser.read_frame().await.status(), Some(200), "chunk {i}");
        while got.len() < (i * CHUNK + part.len()) {
            let chunk = desk.read_frame().await;
            got.extend_from_slice(&chunk.body);
            desk.answer(&chunk, "200 OK").await;
        }
    }
    assert_eq!(
        hash(&got),
        hash(&body),
        "the desk got the browser's 5 MiB intact"
    );

    // Desk -> browser: whatever the switch cut, each message one whole frame.
    let back: Vec<u8> = body.iter().rev().copied().collect();
    let writer_body = back.clone();
    let desk_me = desk.me.clone();
    let mut frames_in = 0;
    let mut got = Vec::new();
    for (i, part) in writer_body.chunks(CHUNK).enumerate() {
        let tid = desk.next_tid();
        let last = (i + 1) * CHUNK >= writer_body.len();
        let frame = SendChunk {
            start: i * CHUNK + 1,
            total: writer_body.len(),
            flag: if last { '$' } else { '+' },
            ..SendChunk::text(&desk.switch, &desk_me, &tid, "toweb001")
        }
        .encode(part);
        desk.write(&frame).await;
        assert_eq!(desk.read_frame().await.status(), Some(200));
        while got.len() < (i * CHUNK + part.len()) {
            let chunk = browser.read_frame().await;
            frames_in += 1;
            assert_eq!(chunk.target_path(), [BROWSER]);
            let range = chunk.head.byte_range().unwrap();
            assert_eq!(range.start as usize, got.len() + 1, "contiguous");
            got.extend_from_slice(&chunk.body);
            browser.answer(&chunk, "200 OK").await;
            if got.len() == back.len() {
                assert_eq!(chunk.flag, ContinuationFlag::End);
            }
        }
    }
    assert_eq!(
        hash(&got),
        hash(&back),
        "the browser got the desk's 5 MiB intact"
    );
    assert!(frames_in >= 80, "{frames_in} frames");
    // Responses are UTF-8 text frames; the binary body chunks binary ones.
    assert!(browser.text_messages > 0 && browser.binary_messages > 0);
}

/// Raw upgrade requests: without `msrp`, from a foreign origin, or too large,
/// each gets its HTTP status and is counted; a session carries on meanwhile.
#[tokio::test]
async fn bad_upgrades_are_refused_by_reason_and_disturb_nobody() {
    let engine = engine(&["https://chat.example.com"]);
    let (mut browser, mut desk, to_browser, _) = session(&engine).await;
    let ws = engine.ws_addr().unwrap();
    let request = |extra: &str| {
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             {extra}\r\n"
        )
    };
    let status_of = |raw: String| async move {
        let mut tcp = TcpStream::connect(ws).await.unwrap();
        tcp.write_all(raw.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
        String::from_utf8_lossy(&answer)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        status_of(request("Sec-WebSocket-Protocol: sip\r\n")).await,
        "HTTP/1.1 400 Bad Request"
    );
    assert_eq!(
        status_of(request(
            "Sec-WebSocket-Protocol: msrp\r\nOrigin: https://evil.example\r\n"
        ))
        .await,
        "HTTP/1.1 403 Forbidden"
    );
    let padding = format!("X-Padding: {}\r\n", "p".repeat(9000));
    assert_eq!(
        status_of(request(&format!(
            "Sec-WebSocket-Protocol: msrp\r\n{padding}"
        )))
        .await,
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    // A stranger that never finishes its upgrade is closed at the timeout.
    let mut silent = TcpStream::connect(ws).await.unwrap();
    let mut byte = [0u8; 1];
    let closed = timeout(Duration::from_secs(5), silent.read(&mut byte)).await;
    assert!(matches!(closed, Ok(Ok(0) | Err(_))), "{closed:?}");
    // And a real upgrade from another origin than the allowed one fails too.
    assert!(
        connect_ws(ws, "msrp", Some("https://evil.example"))
            .await
            .is_err()
    );

    // The session never noticed.
    let tid = browser.next_tid();
    let frame = SendChunk {
        total: 5,
        ..SendChunk::text(to_browser.as_str(), BROWSER, &tid, "stillok1")
    }
    .encode(b"hello");
    browser.send(&frame).await;
    assert_eq!(browser.read_frame().await.status(), Some(200));
    assert_eq!(desk.read_frame().await.body, b"hello");

    // Of all these upgrades only the session's browser got its 101.
    assert_eq!(metric(&engine, "msrp_switch_websocket_upgrades_total"), 1);
    for (reason, count) in [
        ("subprotocol", 1),
        ("origin", 2),
        ("too_large", 1),
        ("timeout", 1),
    ] {
        assert_eq!(
            metric(
                &engine,
                &format!("msrp_switch_websocket_upgrades_refused_total{{reason=\"{reason}\"}}")
            ),
            count,
            "{reason}"
        );
    }
}

/// WebSocket keep-alive and close (RFC 7977 §6, RFC 6455 §5.5): a ping is
/// answered with a pong carrying its data; a close is echoed and ends the
/// participant's connection, which the control plane hears as lost.
#[tokio::test]
async fn pings_are_answered_and_a_close_ends_the_participant() {
    use msrp_switch::msrp_proto::control::Event;

    let engine = engine(&[]);
    let mut events = engine.subscribe();
    let (mut browser, _desk, _, _) = session(&engine).await;
    assert_eq!(browser.ping(b"keep me").await, b"keep me");
    browser.close().await;
    let lost = timeout(Duration::from_secs(5), async {
        loop {
            let tagged = events.recv().await.unwrap();
            if matches!(tagged.event, Event::ConnectionLost { .. }) {
                return tagged.event;
            }
        }
    })
    .await
    .expect("connection_lost for the browser");
    assert!(matches!(lost, Event::ConnectionLost { .. }));
}

const ROOM: &str = "sip:room@chat.example.com";

/// A group (RFC 7701) with browsers Ann and Ben over WebSocket and Dee at the
/// desk over TCP, all bound: the two browsers, the desk, and each member's
/// participant id (Ann, Ben, Dee).
async fn group_of_three(
    engine: &TestEngine,
) -> (
    Vec<WsPeer>,
    Peer,
    Vec<msrp_switch::msrp_proto::ids::ParticipantId>,
) {
    use msrp_switch::msrp_proto::media::Policy;

    let session = engine
        .create_session_with(SessionKind::Group, ROOM.into(), Policy::default())
        .await
        .unwrap();
    let mut members = Vec::new();
    for (name, path, websocket) in [
        ("ann", "msrp://ann.invalid:2855/ann00001;ws", true),
        ("ben", "msrp://ben.invalid:2855/ben00001;ws", true),
        ("dee", DESK, false),
    ] {
        let mut media = room_media(path);
        media.websocket = websocket;
        let info = join_room(engine, session, name, media).await;
        members.push((path, info.local_uri, info.id));
    }
    let ws = engine.ws_addr().unwrap();
    let mut browsers = Vec::new();
    for (path, uri, _) in &members[..2] {
        let mut browser = WsPeer::connect(ws, path).await;
        browser.switch = uri.to_string();
        let tid = browser.next_tid();
        browser
            .send(bind_frame(&tid, uri.as_str(), path).as_bytes())
            .await;
        assert_eq!(browser.read_frame().await.status(), Some(200));
        browsers.push(browser);
    }
    let mut desk = Peer::connect(engine.local_addr(), DESK, &members[2].1).await;
    desk.bind().await;
    let ids = members.iter().map(|(_, _, id)| *id).collect();
    (browsers, desk, ids)
}

/// An engine with TLS (its own certificate) and secure WebSocket listeners,
/// and with `plain_ws` a plain WebSocket one too.
fn secure_engine(plain_ws: bool) -> TestEngine {
    use msrp_switch::transport::TlsListen;
    use msrp_switch::transport::tls::TlsSettings;
    let listen = || WsListen {
        listen: "127.0.0.1:0".parse().unwrap(),
        settings: WsSettings::default(),
    };
    start_engine_with(EngineConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        shards: 1,
        pin_cores: false,
        tls: Some(TlsListen {
            listen: "127.0.0.1:0".parse().unwrap(),
            settings: TlsSettings::default(),
        }),
        ws: plain_ws.then(listen),
        wss: Some(listen()),
        ..EngineConfig::default()
    })
}

/// A room member's media at `path`: CPIM, anything inside it.
fn room_media(path: &str) -> msrp_switch::msrp_proto::media::RemoteMedia {
    let mut media = remote(path);
    media.accept_types = vec!["message/cpim".into()];
    media.accept_wrapped_types = vec!["*".into()];
    media
}

/// Adds `name` (`sip:<name>@example.com`) to the group `session`.
async fn join_room(
    engine: &TestEngine,
    session: msrp_switch::msrp_proto::ids::SessionKey,
    name: &str,
    media: msrp_switch::msrp_proto::media::RemoteMedia,
) -> msrp_switch::msrp_proto::control::ParticipantInfo {
    let identity = msrp_switch::msrp_proto::media::Identity {
        im_address: format!("sip:{name}@example.com"),
        privacy_alias: None,
    };
    engine
        .add_participant_as(session, identity, media)
        .await
        .unwrap()
}

/// A CPIM message from `from` to the room.
fn cpim(from: &str, text: &str) -> String {
    format!(
        "From: <sip:{from}@example.com>\r\nTo: <{ROOM}>\r\n\r\nContent-Type: text/plain\r\n\r\n{text}"
    )
}

/// A group (RFC 7701) with two browsers over WebSocket and one TCP member: a
/// message from a browser reaches the other browser and the desk, one from the
/// desk reaches both browsers, each copy one whole frame per WebSocket message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_mixes_websocket_and_tcp_members() {
    let engine = engine(&[]);
    let (mut browsers, mut desk, _) = group_of_three(&engine).await;

    // Ann speaks: Ben (WebSocket) and Dee (TCP) hear it.
    let body = cpim("ann", "hello room");
    let ann = &mut browsers[0];
    let tid = ann.next_tid();
    let frame = SendChunk {
        total: body.len(),
        content_type: "message/cpim",
        ..SendChunk::text(&ann.switch, &ann.me, &tid, "annmsg01")
    }
    .encode(body.as_bytes());
    ann.send(&frame).await;
    assert_eq!(ann.read_frame().await.status(), Some(200));
    let ben = &mut browsers[1];
    let at_ben = ben.read_frame().await;
    assert_eq!(at_ben.body, body.as_bytes());
    assert_eq!(at_ben.target_path(), [ben.me.as_str()]);
    ben.answer(&at_ben, "200 OK").await;
    let at_dee = desk.read_frame().await;
    assert_eq!(at_dee.body, body.as_bytes());
    desk.answer(&at_dee, "200 OK").await;

    // Dee speaks: both browsers hear it.
    let body = cpim("dee", "hi browsers");
    let tid = desk.next_tid();
    let frame = SendChunk {
        total: body.len(),
        content_type: "message/cpim",
        ..SendChunk::text(&desk.switch, DESK, &tid, "deemsg01")
    }
    .encode(body.as_bytes());
    desk.write(&frame).await;
    assert_eq!(desk.read_frame().await.status(), Some(200));
    for browser in &mut browsers {
        let got = browser.read_frame().await;
        assert_eq!(got.body, body.as_bytes());
        browser.answer(&got, "200 OK").await;
    }
}

/// A WebSocket member that stops reading is a slow consumer like any other
/// (RFC 7701 policy drop): the desk's 1,000 messages of 8 KiB all reach the
/// browser that reads, and the one that does not is dropped (its event says
/// so) instead of holding the desk back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_member_that_stalls_is_dropped_and_the_others_go_on() {
    use msrp_switch::msrp_proto::control::Event;

    const MESSAGES: usize = 1000;
    let engine = engine_with(
        &[],
        EndpointConfig {
            queue_bytes: 64 * 1024,
            slow_consumer_grace: Duration::from_secs(1),
            ..EndpointConfig::default()
        },
    );
    let mut events = engine.subscribe();
    let (mut browsers, mut desk, ids) = group_of_three(&engine).await;
    let mut reader = browsers.remove(1);
    let stalled = browsers.remove(0);

    let payload = "z".repeat(8 * 1024);
    let body = cpim("dee", &payload);
    let switch_uri = desk.switch.clone();
    let want = body.len();
    let reading = tokio::spawn(async move {
        for _ in 0..MESSAGES {
            let got = reader.read_frame().await;
            assert_eq!(got.body.len(), want);
            reader.answer(&got, "200 OK").await;
        }
    });
    for i in 0..MESSAGES {
        let tid = desk.next_tid();
        let frame = SendChunk {
            total: body.len(),
            content_type: "message/cpim",
            extra_headers: "Failure-Report: no\r\n",
            ..SendChunk::text(&switch_uri, DESK, &tid, &format!("flood{i:05}"))
        }
        .encode(body.as_bytes());
        desk.write(&frame).await;
    }
    timeout(Duration::from_secs(30), reading)
        .await
        .expect("the reading browser got every message")
        .unwrap();
    let stalled_id = ids[0];
    let dropped = timeout(Duration::from_secs(10), async {
        loop {
            let tagged = events.recv().await.unwrap();
            if let Event::SlowConsumerDropped { participant, .. } = tagged.event
                && participant == stalled_id
            {
                return;
            }
        }
    })
    .await;
    assert!(
        dropped.is_ok(),
        "the stalled browser was dropped as a slow consumer"
    );
    drop(stalled);
}

/// Secure WebSocket (WSS, RFC 7977 §5.1): TLS with the switch's certificate,
/// then the upgrade; the browser's `msrps:...;ws` participant gets the switch's
/// `msrps` URI on the WSS port, binds only over it, and talks to a TCP member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_over_secure_websocket_talks_to_a_tcp_member() {
    use msrp_switch::msrp_proto::media::Transport;

    const SECURE: &str = "msrps://df7jal23ls0d.invalid:2855/98cjs;ws";
    let engine = secure_engine(false);
    let session = engine.create_session(SessionKind::OneToOne).await.unwrap();
    let mut media = remote(SECURE);
    media.websocket = true;
    media.transport = Transport::Tls;
    let browser_info = engine.add_participant(session, media).await.unwrap();
    let desk_info = engine.add_participant(session, remote(DESK)).await.unwrap();
    let to_browser = browser_info.local_uri.to_string();
    let wss = engine.wss_addr().unwrap();
    assert!(
        to_browser.starts_with(&format!("msrps://127.0.0.1:{}/", wss.port()))
            && to_browser.ends_with(";ws"),
        "{to_browser}"
    );

    let pinned = engine.tls_identity().unwrap().fingerprint().to_string();
    let mut browser = WsPeer::connect_secure(wss, &pinned, SECURE).await;
    let tid = browser.next_tid();
    browser
        .send(bind_frame(&tid, &to_browser, SECURE).as_bytes())
        .await;
    assert_eq!(browser.read_frame().await.status(), Some(200));
    let mut desk = Peer::connect(engine.local_addr(), DESK, &desk_info.local_uri).await;
    desk.bind().await;

    let tid = browser.next_tid();
    let frame = SendChunk {
        total: 11,
        ..SendChunk::text(&to_browser, SECURE, &tid, "secure01")
    }
    .encode(b"over wss ok");
    browser.send(&frame).await;
    assert_eq!(browser.read_frame().await.status(), Some(200));
    let got = desk.read_frame().await;
    assert_eq!(got.body, b"over wss ok");
    desk.answer(&got, "200 OK").await;

    let desk_me = desk.me.clone();
    let tid = desk.next_tid();
    let frame = SendChunk {
        total: 5,
        ..SendChunk::text(&desk.switch, &desk_me, &tid, "secure02")
    }
    .encode(b"hello");
    desk.write(&frame).await;
    assert_eq!(desk.read_frame().await.status(), Some(200));
    let got = browser.read_frame().await;
    assert_eq!(got.body, b"hello");
    assert_eq!(got.target_path(), [SECURE]);
}

/// One group with a member on every transport: Ann in a browser over
/// WebSocket, Bea in a browser over secure WebSocket, Tia over TLS (her
/// certificate pinned by a=fingerprint) and Dee at the desk over TCP. What
/// one says, the three others get, whatever carries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_mixes_websocket_secure_websocket_tls_and_tcp_members() {
    use msrp_switch::msrp_proto::media::{Fingerprint, Policy, Transport};
    use msrp_test_support::tls::{Identity as Certificate, tls_peer};

    const ANN: &str = "msrp://ann.invalid:2855/ann00001;ws";
    const BEA: &str = "msrps://bea.invalid:2855/bea00001;ws";
    const TIA: &str = "msrps://127.0.0.1:41004/tia00001;tcp";
    let engine = secure_engine(true);
    let tia_certificate = Certificate::new();
    let session = engine
        .create_session_with(SessionKind::Group, ROOM.into(), Policy::default())
        .await
        .unwrap();
    let mut uris = Vec::new();
    for (name, path) in [("ann", ANN), ("bea", BEA), ("tia", TIA), ("dee", DESK)] {
        let mut media = room_media(path);
        media.websocket = path.ends_with(";ws");
        if path.starts_with("msrps:") {
            media.transport = Transport::Tls;
        }
        if name == "tia" {
            media.fingerprints = vec![Fingerprint::parse(&tia_certificate.fingerprint()).unwrap()];
        }
        let info = join_room(&engine, session, name, media).await;
        uris.push(info.local_uri.to_string());
    }
    let pinned = engine.tls_identity().unwrap().fingerprint().to_string();
    let bind = async |peer: &mut WsPeer, to: &str| {
        peer.switch = to.to_owned();
        let tid = peer.next_tid();
        let me = peer.me.clone();
        peer.send(bind_frame(&tid, to, &me).as_bytes()).await;
        assert_eq!(peer.read_frame().await.status(), Some(200));
    };
    let mut ann = WsPeer::connect(engine.ws_addr().unwrap(), ANN).await;
    bind(&mut ann, &uris[0]).await;
    let mut bea = WsPeer::connect_secure(engine.wss_addr().unwrap(), &pinned, BEA).await;
    bind(&mut bea, &uris[1]).await;
    let mut tia = tls_peer(
        engine.tls_addr().unwrap(),
        &pinned,
        &tia_certificate,
        TIA,
        &uris[2],
    )
    .await;
    tia.bind().await;
    let dee_uri = MsrpUri::parse_str(&uris[3]).unwrap();
    let mut dee = Peer::connect(engine.local_addr(), DESK, &dee_uri).await;
    dee.bind().await;

    // Ann (WebSocket) speaks: Bea (WSS), Tia (TLS) and Dee (TCP) hear it.
    let body = cpim("ann", "hello, every transport");
    let tid = ann.next_tid();
    let frame = SendChunk {
        total: body.len(),
        content_type: "message/cpim",
        ..SendChunk::text(&uris[0], ANN, &tid, "annmix01")
    }
    .encode(body.as_bytes());
    ann.send(&frame).await;
    assert_eq!(ann.read_frame().await.status(), Some(200));
    let got = bea.read_frame().await;
    assert_eq!(got.body, body.as_bytes());
    bea.answer(&got, "200 OK").await;
    let got = dee.read_frame().await;
    assert_eq!(got.body, body.as_bytes());
    dee.answer(&got, "200 OK").await;
    let got = tia.read_frame().await;
    assert_eq!(got.body, body.as_bytes());
    tia.answer(&got, "200 OK").await;

    // Tia (TLS) answers: both browsers and the desk hear her.
    let body = cpim("tia", "and back over TLS");
    assert_eq!(
        tia.send_as("tiamix01", "message/cpim", body.as_bytes())
            .await,
        200
    );
    for browser in [&mut ann, &mut bea] {
        let got = browser.read_frame().await;
        assert_eq!(got.body, body.as_bytes());
        browser.answer(&got, "200 OK").await;
    }
    let got = dee.read_frame().await;
    assert_eq!(got.body, body.as_bytes());
}
