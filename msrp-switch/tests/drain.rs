//! Drain (SIGTERM, SIGINT or the Drain call) on the real daemon binary: nothing
//! the switch answered 200 is lost at shutdown. Every message is delivered or its
//! sender gets a REPORT; event watchers are told and their streams end; health
//! turns NOT_SERVING; no new sessions or MSRP connections are taken; the process
//! exits within its deadline.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use control_api::pb;
use control_api::pb::switch_control_client::SwitchControlClient;
use msrp_test_support::daemon::Daemon;
use msrp_test_support::wire::{SendChunk, bind_frame};
use msrp_test_support::ws::WsPeer;
use msrp_test_support::{FrameReader, LIMIT, create_one_to_one, sdp_offer, switch_uri};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::process::Child;
use tokio::time::timeout;
use tonic::transport::Channel;

/// The daemon with `extra` flags.
async fn daemon(extra: &[&str]) -> Daemon {
    Daemon::spawn(env!("CARGO_BIN_EXE_msrp-switch"), extra).await
}

/// What the tests use of the daemon's addresses.
struct Addrs {
    msrp: SocketAddr,
    control: String,
}

impl Addrs {
    fn of(daemon: &Daemon) -> Self {
        Self {
            msrp: daemon.msrp,
            control: daemon.control.clone(),
        }
    }
}

async fn client(url: &str) -> SwitchControlClient<Channel> {
    timeout(LIMIT, SwitchControlClient::connect(url.to_owned()))
        .await
        .unwrap()
        .unwrap()
}

/// A 1:1 session; the switch's URIs for A and B.
async fn session(control: &mut SwitchControlClient<Channel>, a: &str, b: &str) -> [String; 2] {
    let session_id = create_one_to_one(control).await;
    let mut uris = Vec::new();
    for path in [a, b] {
        let added = control
            .add_participant(pb::AddParticipantRequest {
                session_id: session_id.clone(),
                remote: Some(pb::RemoteMedia {
                    media: Some(pb::remote_media::Media::Sdp(sdp_offer(path, "text/plain"))),
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        uris.push(switch_uri(&added));
    }
    [uris[0].clone(), uris[1].clone()]
}

/// A connection bound to the switch's URI `to` as `me` (its bind SEND answered).
async fn bound(addr: SocketAddr, to: &str, me: &str) -> FrameReader<TcpStream> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .write_all(bind_frame("bind0001", to, me).as_bytes())
        .await
        .unwrap();
    let mut reader = FrameReader::new(stream);
    let answer = reader.read_frame().await;
    assert_eq!(answer.status(), Some(200), "{answer:?}");
    reader
}

/// Waits for the daemon to exit; returns its success and how long it took.
async fn exits(child: &mut Child, within: Duration) -> (bool, Duration) {
    let start = Instant::now();
    let status = timeout(within, child.wait())
        .await
        .expect("the daemon did not exit in time")
        .unwrap();
    (status.success(), start.elapsed())
}

/// Reads events until the `Draining` one; its deadline. Panics if the stream
/// ends first.
async fn draining_told(watcher: &mut tonic::Streaming<pb::Event>) -> u32 {
    loop {
        let event = timeout(LIMIT, watcher.message())
            .await
            .unwrap()
            .unwrap()
            .expect("the stream ended without a Draining event");
        if let Some(pb::event::Kind::Draining(draining)) = event.kind {
            return draining.deadline_seconds;
        }
    }
}

const A: &str = "msrp://127.0.0.1:40001/aaaa1111;tcp";
const B: &str = "msrp://127.0.0.1:40002/bbbb2222;tcp";
/// B as a browser (RFC 7977): it connects over WebSocket.
const B_BROWSER: &str = "msrp://b7rq2.invalid:9/bbbb2222;ws";

/// How the stalled receiver B is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receiver {
    Tcp,
    WebSocket,
}

/// A sends B 4 KiB messages as fast as the switch reads them; B bound and then
/// never reads again (stalled), so the switch answers A 200 for what it queued and
/// then holds A back. A drain through the control API: the watcher hears of it
/// and its stream ends, health turns NOT_SERVING, new sessions and MSRP
/// connections are refused, and when the drain finishes every message A holds a
/// 200 for gets a REPORT (B acknowledged none), A's connection closes after
/// them, and the process exits within the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_reports_every_200_a_stalled_receiver_never_acknowledged() {
    drain_with_a_stalled_receiver(Receiver::Tcp).await;
}

/// The same with B a browser over WebSocket (RFC 7977): its connection is
/// drained and closed exactly as a TCP one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_reports_every_200_a_stalled_websocket_receiver_never_acknowledged() {
    drain_with_a_stalled_receiver(Receiver::WebSocket).await;
}

async fn drain_with_a_stalled_receiver(receiver: Receiver) {
    let mut daemon = daemon(&["--queue-bytes", "65536", "--ws-listen", "127.0.0.1:0"]).await;
    let addrs = Addrs::of(&daemon);
    let mut control = client(&addrs.control).await;
    let b_path = match receiver {
        Receiver::Tcp => B,
        Receiver::WebSocket => B_BROWSER,
    };
    let [to_a, to_b] = session(&mut control, A, b_path).await;
    let mut watcher = control
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    // B binds, then never reads again.
    let _b: Box<dyn std::any::Any + Send> = match receiver {
        Receiver::Tcp => Box::new(bound(addrs.msrp, &to_b, B).await),
        Receiver::WebSocket => {
            let ws = daemon.ws.expect("the daemon names its WebSocket listener");
            let mut browser = WsPeer::connect(ws, B_BROWSER).await;
            browser
                .send(bind_frame("bind0002", &to_b, B_BROWSER).as_bytes())
                .await;
            assert_eq!(browser.read_frame().await.status(), Some(200));
            Box::new(browser)
        }
    };
    let a = bound(addrs.msrp, &to_a, A).await;
    let (read_a, mut write_a) = a.into_inner().into_split();

    // A writes 4,000 messages (16 MiB) while its answers are read apart.
    const MESSAGES: usize = 4000;
    let body = vec![b'x'; 4096];
    let writer = tokio::spawn(async move {
        for n in 0..MESSAGES {
            let (tid, id) = (format!("t{n:07}"), format!("msg{n:06}"));
            let frame = SendChunk {
                to_path: &to_a,
                from_path: A,
                tid: &tid,
                message_id: &id,
                start: 1,
                total: body.len(),
                extra_headers: "",
                content_type: "text/plain",
                flag: '$',
            }
            .encode(&body);
            // The switch stops reading A when B's queue is full, and closes A at
            // the end of the drain: the write then fails.
            if write_a.write_all(&frame).await.is_err() {
                return n;
            }
        }
        MESSAGES
    });
    let (answers_tx, mut answers_rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut reader = FrameReader::new(read_a);
        let mut ok = BTreeSet::new();
        let mut reports = Vec::new();
        while let Some(frame) = reader.try_read_frame().await {
            match (frame.method().as_deref(), frame.status()) {
                (None, Some(200)) => {
                    let n: usize = frame.tid()[1..].parse().unwrap();
                    ok.insert(format!("msg{n:06}"));
                    let _ = answers_tx.send(());
                }
                (Some("REPORT"), _) => {
                    let id = frame.head.message_id().unwrap().as_str().to_owned();
                    let status = frame.head.status().unwrap().code.as_u16();
                    reports.push((id, status));
                }
                other => panic!("A got {other:?}: {frame:?}"),
            }
        }
        (ok, reports)
    });
    // Until A is held back: no new 200 for half a second.
    let mut answered = 0;
    while let Ok(Some(())) = timeout(Duration::from_millis(500), answers_rx.recv()).await {
        answered += 1;
    }
    assert!(answered > 0 && answered < MESSAGES, "{answered} answered");

    let drained = control
        .drain(pb::DrainRequest {
            deadline_seconds: 6,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(drained.deadline_seconds, 6);

    // The watcher is told (after the binds it saw), then its stream ends.
    assert_eq!(draining_told(&mut watcher).await, 6);
    assert!(
        timeout(LIMIT, watcher.message())
            .await
            .unwrap()
            .unwrap()
            .is_none()
    );

    // While it drains (B holds it open): NOT_SERVING, no new session, no new
    // MSRP connection.
    let channel = Channel::from_shared(addrs.control.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let checked = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        checked.status,
        tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
    );
    let refused = control
        .create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::OneToOne as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(
        TcpStream::connect(addrs.msrp).await.is_err(),
        "the MSRP port still accepts"
    );

    let (ok, reports) = timeout(LIMIT, reader).await.unwrap().unwrap();
    let written = timeout(LIMIT, writer).await.unwrap().unwrap();
    let (success, took) = exits(&mut daemon.child, LIMIT).await;
    assert!(success, "the daemon failed");
    assert!(took < Duration::from_secs(7), "exit took {took:?}");
    let log = daemon.rest_of_log().await;
    assert!(written < MESSAGES, "A was never held back");
    assert_eq!(ok.len(), answered);
    assert!(
        reports.iter().all(|(_, status)| *status == 408),
        "{reports:?}"
    );
    let reported: BTreeSet<String> = reports.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(reported.len(), reports.len(), "one REPORT per message");
    // Every 200 is accounted for: B acknowledged nothing, so each is REPORTed.
    let lost: Vec<_> = ok.difference(&reported).collect();
    assert!(
        lost.is_empty(),
        "{} 200s neither delivered nor reported: {:?}\n{log}",
        lost.len(),
        lost.first()
    );
    assert_eq!(
        reported, ok,
        "a REPORT for a message A never got a 200 for\n{log}"
    );

    assert!(log.contains("draining"), "{log}");
    assert!(log.contains(&format!("reports={answered}")), "{log}");
}

/// SIGTERM with a WatchEvents stream open and an idle bound session: the
/// watcher is told and its stream ends, and the daemon, with nothing in flight,
/// exits at once and successfully (the stream does not hold the exit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_watcher_open_exits_promptly() {
    let mut daemon = daemon(&[]).await;
    let addrs = Addrs::of(&daemon);
    let mut control = client(&addrs.control).await;
    let [to_a, to_b] = session(&mut control, A, B).await;
    let _a = bound(addrs.msrp, &to_a, A).await;
    let _b = bound(addrs.msrp, &to_b, B).await;
    let mut watcher = control
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();

    let pid = daemon.child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success());

    assert_eq!(draining_told(&mut watcher).await, 30);
    let (success, took) = exits(&mut daemon.child, LIMIT).await;
    assert!(success, "the daemon failed");
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    let log = daemon.rest_of_log().await;
    assert!(log.contains("quiescent=true"), "{log}");
}
