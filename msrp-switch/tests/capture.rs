//! Frame capture to a HEPv3 collector and to `WatchCapture`: a test collector
//! receives the packets of a captured session and decodes them field by field;
//! a collector that stops reading costs captures (counted), never forwarding.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use control_api::pb;
use msrp_switch::capture::{CaptureSettings, Collector};
use msrp_switch::msrp_proto::control::SessionOptions;
use msrp_switch::msrp_proto::session::SessionKind;
use msrp_switch::transport::EngineConfig;
use msrp_test_support::{ControlServer, Peer, TestEngine, metric, remote, start_engine_with};
use tokio::net::UdpSocket;
use tokio::time::timeout;

const A: &str = "msrp://127.0.0.1:43201/capture1;tcp";
const B: &str = "msrp://127.0.0.1:43202/capture2;tcp";
const TAG: &str = "call-9@example.net";

fn engine(capture: CaptureSettings) -> TestEngine {
    start_engine_with(EngineConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        shards: 1,
        pin_cores: false,
        capture,
        ..EngineConfig::default()
    })
}

/// A 1:1 session tagged [`TAG`] with A and B bound; the session and peers.
async fn session(engine: &TestEngine) -> (msrp_switch::msrp_proto::ids::SessionKey, Peer, Peer) {
    let key = engine
        .create_session_opts(
            SessionKind::OneToOne,
            SessionOptions {
                correlation_tag: TAG.into(),
                ..SessionOptions::default()
            },
        )
        .await
        .unwrap();
    let pa = engine.add_participant(key, remote(A)).await.unwrap();
    let pb = engine.add_participant(key, remote(B)).await.unwrap();
    let mut a = Peer::connect(engine.local_addr(), A, &pa.local_uri).await;
    let mut b = Peer::connect(engine.local_addr(), B, &pb.local_uri).await;
    a.bind().await;
    b.bind().await;
    (key, a, b)
}

/// A HEP packet's generic chunks by type (each type once here).
fn chunks(packet: &[u8]) -> BTreeMap<u16, Vec<u8>> {
    assert_eq!(&packet[..4], b"HEP3", "the HEPv3 magic");
    let total = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
    assert_eq!(total, packet.len(), "the length field is the packet's");
    let mut at = 6;
    let mut out = BTreeMap::new();
    while at < total {
        let vendor = u16::from_be_bytes([packet[at], packet[at + 1]]);
        let kind = u16::from_be_bytes([packet[at + 2], packet[at + 3]]);
        let len = usize::from(u16::from_be_bytes([packet[at + 4], packet[at + 5]]));
        assert_eq!(vendor, 0, "generic chunks");
        assert!(len >= 6 && at + len <= total, "chunk {kind} fits");
        assert!(
            out.insert(kind, packet[at + 6..at + len].to_vec())
                .is_none()
        );
        at += len;
    }
    out
}

fn port(chunk: &[u8]) -> u16 {
    u16::from_be_bytes([chunk[0], chunk[1]])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_session_s_frames_reach_the_hep_collector_field_by_field() {
    let collector = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let engine = engine(CaptureSettings {
        collector: Some(Collector::Udp(collector.local_addr().unwrap())),
        max_body_bytes: 8,
        agent_id: 77,
        auth_key: Some("pw".into()),
        ..CaptureSettings::default()
    });
    let (key, mut a, mut b) = session(&engine).await;
    let switch_port = engine.local_addr().port();
    let a_port = a.stream().local_addr().unwrap().port();
    let b_port = b.stream().local_addr().unwrap().port();

    // Not captured yet: nothing is sent.
    a.send_message("capt0001", b"not yet").await;
    let frame = b.read_frame().await;
    b.answer(&frame, "200 OK").await;
    let mut packet = vec![0u8; 70_000];
    assert!(
        timeout(Duration::from_millis(300), collector.recv(&mut packet))
            .await
            .is_err(),
        "nothing captured before StartCapture"
    );

    engine.capture_session(key, true).await.unwrap();
    a.send_message("capt0002", b"hello capture!").await;
    let frame = b.read_frame().await;
    b.answer(&frame, "200 OK").await;
    let forwarded_tid = frame.tid();

    // Four frames: A's SEND in, the SEND out to B, B's 200 in, A's 200 out
    // (the last two in either order with the first two).
    let mut got = Vec::new();
    for _ in 0..4 {
        let n = timeout(Duration::from_secs(5), collector.recv(&mut packet))
            .await
            .expect("a HEP packet")
            .unwrap();
        got.push(chunks(&packet[..n]));
    }
    for c in &got {
        assert_eq!(c[&1], [2], "IPv4");
        assert_eq!(c[&2], [6], "TCP");
        assert_eq!(c[&3], [127, 0, 0, 1]);
        assert_eq!(c[&4], [127, 0, 0, 1]);
        assert_eq!(c[&11], [100], "protocol type");
        assert_eq!(c[&12], 77u32.to_be_bytes(), "agent id");
        assert_eq!(c[&14], b"pw", "authentication key");
        assert_eq!(c[&17], TAG.as_bytes(), "correlation id: the session's tag");
        let seconds = u32::from_be_bytes(c[&9].clone().try_into().unwrap());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(u64::from(seconds).abs_diff(now) < 60);
        assert!(u32::from_be_bytes(c[&10].clone().try_into().unwrap()) < 1_000_000);
    }
    let text = |c: &BTreeMap<u16, Vec<u8>>| String::from_utf8_lossy(&c[&15]).into_owned();
    let find = |needle: &str, from: u16, to: u16| {
        got.iter()
            .find(|c| text(c).contains(needle) && port(&c[&7]) == from && port(&c[&8]) == to)
            .unwrap_or_else(|| {
                panic!(
                    "no frame with {needle:?} from port {from} to {to} in {:?}",
                    got.iter().map(text).collect::<Vec<_>>()
                )
            })
    };
    let send_in = text(find(" SEND\r\n", a_port, switch_port));
    assert!(send_in.contains("Message-ID: capt0002\r\n"), "{send_in}");
    // Eight body bytes kept, the rest left out; the end-line as sent.
    assert!(send_in.contains("\r\n\r\nhello ca\r\n-------"), "{send_in}");
    assert!(!send_in.contains("pture!"), "{send_in}");
    assert!(send_in.ends_with("$\r\n"), "{send_in}");
    let send_out = text(find(" SEND\r\n", switch_port, b_port));
    assert!(
        send_out.starts_with(&format!("MSRP {forwarded_tid} SEND\r\n")),
        "{send_out}"
    );
    find(" 200 OK\r\n", b_port, switch_port);
    find(" 200 OK\r\n", switch_port, a_port);
    assert_eq!(metric(&engine, "msrp_switch_capture_frames_total"), 4);
    assert_eq!(metric(&engine, "msrp_switch_capture_dropped_total"), 0);

    // Stopped: nothing more.
    engine.capture_session(key, false).await.unwrap();
    a.send_message("capt0003", b"after").await;
    let frame = b.read_frame().await;
    b.answer(&frame, "200 OK").await;
    assert!(
        timeout(Duration::from_millis(300), collector.recv(&mut packet))
            .await
            .is_err(),
        "nothing captured after StopCapture"
    );
    assert_eq!(metric(&engine, "msrp_switch_hep_packets_sent_total"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_stops_reading_costs_captures_never_forwarding() {
    // A TCP collector that accepts and never reads: its window fills, the HEP
    // thread's writes wait, the queue fills, captures are dropped.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let held = std::thread::spawn(move || listener.accept().map(|(stream, _)| stream));
    let engine = engine(CaptureSettings {
        collector: Some(Collector::Tcp(addr)),
        all: true,
        max_body_bytes: 60_000,
        queue: 8,
        ..CaptureSettings::default()
    });
    let (_, mut a, mut b) = session(&engine).await;
    let body = vec![b'x'; 60_000];
    for i in 0..300 {
        a.send_message(&format!("flood{i:04}"), &body).await;
        let frame = b.read_frame().await;
        assert_eq!(frame.body.len(), body.len(), "message {i} forwarded whole");
        b.answer(&frame, "200 OK").await;
    }
    assert!(
        metric(&engine, "msrp_switch_capture_dropped_total") > 0,
        "captures dropped for the stalled collector"
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_capture_streams_a_session_s_frames_over_the_control_api() {
    let engine = engine(CaptureSettings::default());
    let (key, mut a, mut b) = session(&engine).await;
    let control = ControlServer::start(&engine, None).await;
    let mut client = control.client().await;
    client
        .start_capture(pb::StartCaptureRequest {
            session_id: key.to_string(),
        })
        .await
        .unwrap();
    let mut frames = client
        .watch_capture(pb::WatchCaptureRequest {
            session_id: key.to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    a.send_message("watch001", b"traced").await;
    let frame = b.read_frame().await;
    b.answer(&frame, "200 OK").await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let f = timeout(Duration::from_secs(5), frames.message())
            .await
            .expect("a frame")
            .unwrap()
            .expect("the stream is open");
        assert_eq!(f.session_id, key.to_string());
        seen.push((f.direction, String::from_utf8_lossy(&f.frame).into_owned()));
    }
    use pb::captured_frame::Direction;
    let received = Direction::Received as i32;
    let sent = Direction::Sent as i32;
    assert!(
        seen.iter()
            .any(|(d, t)| *d == received && t.contains(" SEND\r\n") && t.contains("traced"))
    );
    assert!(
        seen.iter()
            .any(|(d, t)| *d == sent && t.contains(" SEND\r\n"))
    );
    assert_eq!(
        seen.iter()
            .filter(|(_, t)| t.contains(" 200 OK\r\n"))
            .count(),
        2
    );
    // An unknown session is NOT_FOUND.
    let unknown = client
        .start_capture(pb::StartCaptureRequest {
            session_id: "s-1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}
