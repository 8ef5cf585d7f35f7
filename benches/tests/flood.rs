//! msrp-flood end to end: the library's run against a real engine and control API
//! started in-process (1:1 and group sessions), and against the in-process raw
//! forwarder, over real TCP (and TLS and WebSocket to the switch).

use std::net::SocketAddr;
use std::time::Duration;

use msrp_benches::flood::oneshot::{self, Endpoint};
use msrp_benches::flood::{self, Bound, FloodConfig, GroupShape, Report, TargetSpec, Transport};
use msrp_proto::endpoint::EndpointConfig;
use msrp_test_support::{ControlServer, TestEngine, start_engine, start_ws_engine};
use tokio::net::TcpListener;
use tokio::sync::oneshot as signal;
use tokio::time::timeout;

/// Every test is bounded by this.
const LIMIT: Duration = Duration::from_secs(60);

/// An engine with one shard and its gRPC control API; both stop when dropped.
struct Switch {
    engine: TestEngine,
    /// The control API's URL, as `msrp-flood --control` takes it.
    control: String,
    _server: ControlServer,
}

async fn switch() -> Switch {
    switch_with(EndpointConfig::default()).await
}

async fn switch_with(config: EndpointConfig) -> Switch {
    switch_requiring(config, None).await
}

async fn switch_requiring(config: EndpointConfig, token: Option<&str>) -> Switch {
    let engine = start_engine(1, |switch| *switch = config);
    let server = ControlServer::start(&engine, token).await;
    Switch {
        engine,
        control: server.url(),
        _server: server,
    }
}

/// A raw forwarder on 127.0.0.1:0; stops accepting when the sender is dropped.
async fn forwarder() -> (SocketAddr, signal::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = signal::channel::<()>();
    tokio::spawn(flood::forward::serve_forward(listener, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

fn counted(
    target: TargetSpec,
    sessions: u32,
    size: usize,
    chunk: usize,
    count: u64,
) -> FloodConfig {
    let mut config = FloodConfig::new(target);
    config.sessions = sessions;
    config.size = size;
    config.chunk_size = chunk;
    config.bound = Bound::Count(count);
    config.warmup = Duration::ZERO;
    config
}

fn switch_target(switch: &Switch) -> TargetSpec {
    switch_over(&switch.control, Transport::Tcp)
}

/// The switch whose control API is at `control`, every participant over
/// `transport`.
fn switch_over(control: &str, transport: Transport) -> TargetSpec {
    TargetSpec::Switch {
        control: control.to_owned(),
        token: None,
        msrp_addr: None,
        transport,
    }
}

/// A group session's shape: `size` members that read, `stalled` that never do.
fn group(size: u32, stalled: u32, delivery_window: usize) -> GroupShape {
    GroupShape {
        size,
        stalled,
        delivery_window,
    }
}

async fn run(config: &FloodConfig) -> Report {
    timeout(LIMIT, flood::run(config))
        .await
        .expect("the run took too long")
        .expect("the run failed")
}

fn assert_clean(report: &Report, count: u64) {
    assert_eq!(report.messages, count, "{report:?}");
    assert_eq!(report.deliveries, count, "{report:?}");
    assert_eq!(report.errors.hash_mismatch, 0, "{report:?}");
    assert_eq!(report.errors.lost, 0, "{report:?}");
    assert_eq!(report.errors.non_200, 0, "{report:?}");
    assert_eq!(report.errors.unanswered, 0, "{report:?}");
    assert!(report.passed());
    assert!(
        report.msgs_per_s > 0.0 && report.duration_s > 0.0,
        "{report:?}"
    );
    assert!(report.latency_us.p50 <= report.latency_us.max, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_of_1k_messages_through_the_switch_all_arrive_intact() {
    let switch = switch().await;
    let config = counted(switch_target(&switch), 2, 1024, 1024, 2000);
    let report = run(&config).await;
    assert_clean(&report, 2000);
    assert_eq!(report.target, "switch");
    // The sessions were released at the end.
    assert_eq!(switch.engine.stats().sessions, 0);
}

/// The same flood over TLS: the flooder's participants are `msrps`, it pins the
/// switch's certificate from the answers and presents its own; every message
/// arrives intact, 64 KiB ones in 16 KiB chunks included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_over_tls_arrives_intact() {
    let engine = msrp_test_support::tls::start_tls_engine(Duration::from_secs(10));
    let server = ControlServer::start(&engine, None).await;
    let tls = switch_over(&server.url(), Transport::Tls);
    let report = run(&counted(tls.clone(), 2, 1024, 1024, 2000)).await;
    assert_clean(&report, 2000);
    let report = run(&counted(tls, 1, 64 * 1024, 16 * 1024, 50)).await;
    assert_clean(&report, 50);
    assert_eq!(
        msrp_test_support::metric(&engine, "msrp_switch_tls_handshakes_total"),
        6
    );
    assert_eq!(engine.stats().sessions, 0);
}

/// The same flood over WebSocket (RFC 7977): the flooder's participants have
/// `;ws` paths, so the switch binds them only over a WebSocket connection (a TCP
/// one would be refused 403), and every frame each way is one message. 1 KiB
/// messages, 64 KiB ones whole (the switch forwards those cut-through, as
/// fragments of one message) and in 16 KiB chunks, and a group of three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_over_websocket_arrives_intact() {
    let engine = start_ws_engine();
    let server = ControlServer::start(&engine, None).await;
    let ws = switch_over(&server.url(), Transport::Ws);
    let report = run(&counted(ws.clone(), 2, 1024, 1024, 2000)).await;
    assert_clean(&report, 2000);
    let report = run(&counted(ws.clone(), 1, 64 * 1024, 64 * 1024, 20)).await;
    assert_clean(&report, 20);
    let report = run(&counted(ws.clone(), 1, 64 * 1024, 16 * 1024, 50)).await;
    assert_clean(&report, 50);
    let mut three = counted(ws, 1, 1024, 1024, 100);
    three.group = Some(group(3, 0, 32));
    let report = run(&three).await;
    assert_eq!(report.deliveries, 100 * 2, "{report:?}");
    assert!(report.errors.is_clean(), "{report:?}");
    assert_eq!(
        msrp_test_support::metric(
            &engine,
            "msrp_switch_bind_refusals_total{reason=\"not_websocket\"}"
        ),
        0
    );
    assert_eq!(engine.stats().sessions, 0);
}

/// `msrp-flood handshakes`: every handshake it counts the switch counts too; a
/// wrong pin is an error, not a zero rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_are_counted_on_both_sides_and_a_wrong_pin_fails() {
    use msrp_benches::flood::handshakes::{self, HandshakeLoad};
    let engine = msrp_test_support::tls::start_tls_engine(Duration::from_secs(10));
    let identity = engine.tls_identity().unwrap();
    let mut load = HandshakeLoad {
        addr: engine.tls_addr().unwrap(),
        fingerprint: identity.fingerprint().to_string(),
        concurrency: 2,
        duration: Duration::from_millis(300),
    };
    let report = timeout(LIMIT, handshakes::run(&load))
        .await
        .unwrap()
        .unwrap();
    assert!(report.handshakes > 0, "{report:?}");
    assert_eq!(report.failures, 0, "{report:?}");
    // The first (checking) handshake is not in the report. The switch counts a
    // handshake when it has read the client's Finished, after the client is done.
    let expected = report.handshakes as i64 + 1;
    let counted = timeout(LIMIT, async {
        loop {
            let counted = msrp_test_support::metric(&engine, "msrp_switch_tls_handshakes_total");
            if counted >= expected {
                return counted;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(counted, expected);

    load.fingerprint = msrp_test_support::tls::Identity::new().fingerprint();
    let refused = timeout(LIMIT, handshakes::run(&load)).await.unwrap();
    assert!(refused.is_err(), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_five_delivers_every_message_intact_to_each_of_its_four_receivers() {
    let switch = switch().await;
    let mut config = counted(switch_target(&switch), 1, 1024, 1024, 200);
    config.group = Some(group(5, 0, 32));
    let report = run(&config).await;
    assert_eq!(report.messages, 200, "{report:?}");
    assert_eq!(report.deliveries, 200 * 4, "{report:?}");
    assert!(report.errors.is_clean(), "{report:?}");
    assert!(report.passed());
    assert!(
        report.deliveries_per_s > report.msgs_per_s && report.latency_us.p50 > 0,
        "{report:?}"
    );
    let group = report.group.unwrap();
    assert_eq!((group.size, group.receivers, group.stalled), (5, 4, 0));
    assert_eq!(switch.engine.stats().sessions, 0, "the group was released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_group_message_is_reassembled_behind_its_cpim_headers() {
    let switch = switch().await;
    // 100 KiB payloads in 30000-byte chunks: the CPIM headers and the payload
    // share the first chunk, and the switch copies every chunk with its exact range.
    let mut config = counted(switch_target(&switch), 2, 100 * 1024, 30_000, 10);
    config.group = Some(group(3, 0, 4));
    let report = run(&config).await;
    assert_eq!(report.deliveries, 10 * 2, "{report:?}");
    assert!(report.errors.is_clean(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_member_is_dropped_and_the_others_get_everything() {
    // A short grace period, so that the stalled member is dropped soon after its
    // queue passes the bound (the run itself sends 16 MB, well past the socket
    // buffers and the 1 MiB queue bound).
    let switch = switch_with(EndpointConfig {
        slow_consumer_grace: Duration::from_millis(100),
        ..EndpointConfig::default()
    })
    .await;
    let mut config = counted(switch_target(&switch), 1, 8 * 1024, 8 * 1024, 2000);
    config.group = Some(group(3, 1, 32));
    let report = run(&config).await;
    assert_eq!(report.deliveries, 2000 * 2, "{report:?}");
    assert!(report.errors.is_clean(), "{report:?}");
    assert!(report.passed());
    let group = report.group.unwrap();
    assert_eq!((group.stalled, group.stalled_dropped), (1, 1), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_member_within_the_queue_bound_is_not_counted_as_dropped() {
    // 20 KiB for it in all: the socket buffers hold that, the switch never drops it.
    let switch = switch().await;
    let mut config = counted(switch_target(&switch), 1, 1024, 1024, 20);
    config.group = Some(group(2, 1, 32));
    let report = run(&config).await;
    assert_eq!(report.deliveries, 20, "{report:?}");
    assert!(report.passed(), "{report:?}");
    let group = report.group.unwrap();
    assert_eq!((group.stalled, group.stalled_dropped), (1, 0), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_messages_through_the_switch_are_reassembled_and_verified() {
    let switch = switch().await;
    let config = counted(switch_target(&switch), 1, 200 * 1024, 64 * 1024, 20);
    let report = run(&config).await;
    assert_clean(&report, 20);
    assert_eq!(report.chunk_size, 64 * 1024);
    assert!(report.mb_per_s > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raw_forwarder_carries_the_same_frames() {
    let (addr, _stop) = forwarder().await;
    let config = counted(TargetSpec::Raw { addr }, 2, 1024, 1024, 2000);
    let report = run(&config).await;
    assert_clean(&report, 2000);
    assert_eq!(report.target, "raw");

    let config = counted(TargetSpec::Raw { addr }, 1, 200 * 1024, 64 * 1024, 20);
    assert_clean(&run(&config).await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_run_excludes_the_warm_up_and_a_paced_run_keeps_its_rate() {
    let switch = switch().await;
    let mut config = FloodConfig::new(switch_target(&switch));
    config.sessions = 2;
    config.bound = Bound::Duration(Duration::from_millis(500));
    config.warmup = Duration::from_millis(200);
    config.rate = Some(2000.0);
    let report = run(&config).await;
    assert!(report.passed(), "{report:?}");
    assert_eq!(report.messages, report.deliveries);
    // 2000 msgs/s for 0.5 s, warm-up excluded: about 1000 (scheduling jitter aside).
    assert!(
        (800..=1200).contains(&report.messages),
        "{} messages measured",
        report.messages
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_target_sends_a_bare_auth_and_reports_a_refusal() {
    // A stand-in relay that refuses the AUTH as Kamailio 5.6 does when the AUTH
    // carries an Authorization header. The real relay is exercised by compare.sh.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let relay = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut auth = Vec::new();
        let mut buf = [0u8; 1024];
        while !auth.ends_with(b"$\r\n") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before a whole AUTH");
            auth.extend_from_slice(&buf[..n]);
        }
        let auth = String::from_utf8(auth).unwrap();
        let tid = auth.split(' ').nth(1).unwrap().to_string();
        let from = auth.split("From-Path: ").nth(1).unwrap();
        let from = from.split("\r\n").next().unwrap().to_string();
        let answer = format!(
            "MSRP {tid} 423 Interval Out Of Bounds\r\nTo-Path: {from}\r\n\
             From-Path: msrp://{addr};tcp\r\nMin-Expires: 60\r\n-------{tid}$\r\n"
        );
        conn.write_all(answer.as_bytes()).await.unwrap();
        auth
    });
    let config = counted(TargetSpec::Relay { addr }, 1, 1024, 1024, 1);
    let err = timeout(LIMIT, flood::run(&config))
        .await
        .unwrap()
        .unwrap_err();
    assert!(format!("{err:#}").contains("answered 423"), "{err:#}");
    let auth = relay.await.unwrap();
    let lines: Vec<&str> = auth.split("\r\n").collect();
    assert!(
        lines[0].starts_with("MSRP ") && lines[0].ends_with(" AUTH"),
        "{auth}"
    );
    assert_eq!(lines[1], format!("To-Path: msrp://{addr};tcp"), "{auth}");
    assert!(
        lines[2].starts_with("From-Path: msrp://127.0.0.1:9/"),
        "{auth}"
    );
    assert!(lines[3].starts_with("-------"), "{auth}");
    assert!(!auth.contains("Authorization"), "{auth}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_by_hand_through_a_session_made_for_it() {
    // The switch requires a token: without it the session is refused, with it
    // (`--token`) it is made.
    let switch = switch_requiring(EndpointConfig::default(), Some("flood-secret")).await;
    let refused = timeout(
        LIMIT,
        oneshot::create_session(&switch.control, None, "127.0.0.1"),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(
        format!("{refused:#}").contains("Unauthenticated")
            || format!("{refused:#}").contains("authorization"),
        "{refused:#}"
    );
    let session = timeout(
        LIMIT,
        oneshot::create_session(&switch.control, Some("flood-secret"), "127.0.0.1"),
    )
    .await
    .unwrap()
    .unwrap();
    let receiver = Endpoint::new(&session.b.switch_uri, &session.b.path, None, true)
        .await
        .unwrap();
    let sender = Endpoint::new(&session.a.switch_uri, &session.a.path, None, true)
        .await
        .unwrap();
    let received =
        tokio::spawn(async move { oneshot::receive_message(&receiver, Some(LIMIT)).await });
    // A body larger than one chunk, to exercise reassembly.
    let text = "hello through the switch ".repeat(200);
    let status = timeout(
        LIMIT,
        oneshot::send_message(&sender, text.as_bytes(), "text/plain", 1024),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(status.as_u16(), 200);
    let received = timeout(LIMIT, received).await.unwrap().unwrap().unwrap();
    assert_eq!(received.body, text.as_bytes());
    assert_eq!(received.content_type.as_deref(), Some("text/plain"));
}

/// A forwarder like `msrp-flood forward` that flips one bit of the stream from the
/// first connection of each pair to the second, `at` bytes in.
async fn corrupting_forwarder(at: usize) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (a, _) = listener.accept().await.unwrap();
            let (b, _) = listener.accept().await.unwrap();
            let (mut a_read, mut a_write) = a.into_split();
            let (mut b_read, mut b_write) = b.into_split();
            tokio::spawn(async move {
                let mut buf = vec![0; 64 * 1024];
                let mut seen = 0;
                loop {
                    let n = a_read.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    if (seen..seen + n).contains(&at) {
                        buf[at - seen] ^= 0x01;
                    }
                    seen += n;
                    if b_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut b_read, &mut a_write).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_changed_on_the_way_is_caught_and_fails_the_run() {
    // 700 bytes in: past the first SEND's head, inside its body's fill.
    let addr = corrupting_forwarder(700).await;
    let mut config = counted(TargetSpec::Raw { addr }, 1, 1024, 1024, 10);
    // The broken message never arrives: the run ends when nothing moves for this long.
    config.stall_timeout = Duration::from_millis(500);
    let report = run(&config).await;
    assert_eq!(report.messages, 10);
    assert_eq!(report.errors.hash_mismatch, 1, "{report:?}");
    assert_eq!(report.deliveries, 9);
    assert_eq!(report.errors.lost, 1);
    assert!(!report.passed());
}

/// `msrp-flood control`: whole session lives through the control API from two
/// callers, over gRPC and over the HTTP/JSON front; every session it made is
/// released again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_load_runs_whole_session_lives_and_leaves_nothing() {
    use msrp_benches::flood::control_load::{self, ControlLoad, Front};
    let switch = switch().await;
    let http = msrp_test_support::http::HttpFront::start(
        &switch.engine,
        control_api::auth::Auth::none(),
        "127.0.0.1:0",
    )
    .await;
    for front in [Front::Grpc, Front::Http(http.addr().to_string())] {
        let load = ControlLoad {
            control: switch.control.clone(),
            front: front.clone(),
            token: None,
            concurrency: 2,
            duration: Duration::from_millis(300),
        };
        let report = timeout(LIMIT, control_load::run(&load))
            .await
            .unwrap()
            .unwrap();
        assert!(report.cycles >= 2, "{front:?}: {report:?}");
        assert!(report.p99_ms >= report.p50_ms, "{report:?}");
        assert_eq!(switch.engine.stats().sessions, 0, "{front:?}");
    }
    assert_eq!(switch.engine.stats().participants, 0);
}
