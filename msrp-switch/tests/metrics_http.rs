//! The metrics port over real loopback TCP: the scrape, the probes, 404, and the
//! limits that keep idle or silent clients from holding connections.

use std::io::{ErrorKind, Read};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use msrp_proto::session::SessionKind;
use msrp_switch::metrics::{HttpLimits, serve_metrics_with};
use msrp_test_support::*;

/// A metrics port on 127.0.0.1:0; dropping `stop` stops it.
struct Port {
    addr: SocketAddr,
    ready: watch::Sender<bool>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
}

async fn start_port(engine: &TestEngine, limits: HttpLimits) -> Port {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (ready, readiness) = watch::channel(true);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve_metrics_with(
        listener,
        engine.engine.clone(),
        readiness,
        limits,
        until(stopped),
    ));
    Port {
        addr,
        ready,
        stop: Some(stop),
        server,
    }
}

/// Completes when the stop sender is dropped.
async fn until(stopped: oneshot::Receiver<()>) {
    let _ = stopped.await;
}

/// One `GET path` with `Connection: close`; returns the status code, the head
/// (lower-cased) and the body once the server has closed the connection.
async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut http = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    http.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    timeout(LIMIT, http.read_to_string(&mut text))
        .await
        .unwrap()
        .unwrap();
    split_response(&text)
}

fn split_response(text: &str) -> (u16, String, String) {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {text:?}"));
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .unwrap_or_else(|| panic!("no status line in {head:?}"))
        .parse()
        .unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// The value of `series` in a scrape.
fn value(scrape: &str, series: &str) -> i64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no series {series} in\n{scrape}"))
        .parse()
        .unwrap()
}

/// Reads until the server closes the connection; fails if it sends anything or
/// the wait exceeds [`LIMIT`].
async fn expect_closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0u8; 256];
    let n = timeout(LIMIT, stream.read(&mut buf))
        .await
        .expect("the server kept the connection open")
        .unwrap();
    assert_eq!(n, 0, "unexpected bytes {:?}", &buf[..n]);
}

#[tokio::test]
async fn metrics_are_openmetrics_and_follow_traffic() {
    let engine = start_engine(2, |_| {});
    let port = start_port(&engine, HttpLimits::default()).await;

    let (status, head, before) = get(port.addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    assert!(before.ends_with("# EOF\n"), "{before}");
    assert!(before.contains("# HELP msrp_switch_frames_received MSRP frames received"));
    assert_eq!(
        value(&before, "msrp_switch_sessions{kind=\"one_to_one\"}"),
        0
    );
    assert_eq!(
        value(
            &before,
            "msrp_switch_frames_received_total{method=\"SEND\"}"
        ),
        0
    );
    assert_eq!(
        value(&before, "msrp_switch_responses_sent_total{status=\"481\"}"),
        0
    );

    // Traffic: a session through the control API, and a SEND for no session,
    // which the switch answers 481.
    engine.create_session(SessionKind::OneToOne).await.unwrap();
    let mut peer = TcpStream::connect(engine.local_addr()).await.unwrap();
    peer.write_all(
        b"MSRP tid48101 SEND\r\n\
          To-Path: msrp://127.0.0.1:2855/s3ss10n;tcp\r\n\
          From-Path: msrp://127.0.0.1:40112/p33r;tcp\r\n\
          Message-ID: m1234\r\n\
          -------tid48101$\r\n",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"-------tid48101$\r\n") {
        let mut buf = [0u8; 512];
        let n = timeout(LIMIT, peer.read(&mut buf)).await.unwrap().unwrap();
        assert_ne!(n, 0, "closed after {:?}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(
        answer.starts_with(b"MSRP tid48101 481"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    let (status, _, after) = get(port.addr, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        value(&after, "msrp_switch_sessions{kind=\"one_to_one\"}"),
        1
    );
    assert_eq!(
        value(&after, "msrp_switch_frames_received_total{method=\"SEND\"}"),
        1
    );
    assert_eq!(
        value(&after, "msrp_switch_frames_sent_total{method=\"response\"}"),
        1
    );
    assert_eq!(
        value(&after, "msrp_switch_responses_sent_total{status=\"481\"}"),
        1
    );
    assert_eq!(value(&after, "msrp_switch_connections_accepted_total"), 1);
}

#[tokio::test]
async fn probes_answer_and_readiness_follows_its_handle() {
    let engine = start_engine(1, |_| {});
    let port = start_port(&engine, HttpLimits::default()).await;

    let (status, head, body) = get(port.addr, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert!(head.contains("content-type: text/plain"), "{head}");
    let (status, _, body) = get(port.addr, "/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));

    // Draining: not ready, while still alive.
    port.ready.send(false).unwrap();
    let (status, _, body) = get(port.addr, "/readyz").await;
    assert_eq!((status, body.as_str()), (503, "not serving\n"));
    let (status, _, _) = get(port.addr, "/healthz").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let engine = start_engine(1, |_| {});
    let port = start_port(&engine, HttpLimits::default()).await;
    for path in ["/", "/metricsx", "/metrics/extra", "/debug/pprof"] {
        let (status, _, body) = get(port.addr, path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(
            body,
            "not found: try /metrics, /healthz, /readyz, or POST /msrpswitch.v1.SwitchControl/<Method>\n",
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_silent_client_is_disconnected_after_the_header_read_timeout() {
    let engine = start_engine(1, |_| {});
    let limits = HttpLimits {
        header_read_timeout: Duration::from_millis(200),
        ..HttpLimits::default()
    };
    let port = start_port(&engine, limits).await;

    // Sends nothing at all.
    let mut silent = TcpStream::connect(port.addr).await.unwrap();
    expect_closed_by_server(&mut silent).await;

    // Sends half a head and stops (slowloris).
    let mut partial = TcpStream::connect(port.addr).await.unwrap();
    partial
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    expect_closed_by_server(&mut partial).await;

    // The port still serves.
    assert_eq!(get(port.addr, "/healthz").await.0, 200);
}

#[tokio::test]
async fn a_full_port_accepts_the_next_client_only_once_a_slot_frees() {
    let engine = start_engine(1, |_| {});
    let limits = HttpLimits {
        header_read_timeout: Duration::from_millis(300),
        max_connections: 1,
        ..HttpLimits::default()
    };
    let port = start_port(&engine, limits).await;

    // A takes the only slot and sends nothing; B asks right after.
    let mut a = std::net::TcpStream::connect(port.addr).unwrap();
    let (status, _, _) = get(port.addr, "/healthz").await;
    assert_eq!(status, 200);
    // B was served only after the server closed A (the header read timeout), so
    // A's end of stream is already queued: a non-blocking read sees it at once.
    // Without the cap, B would be served while A is still open (WouldBlock).
    a.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 16];
    match a.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("A got {:?}", &buf[..n]),
        Err(err) if err.kind() == ErrorKind::WouldBlock => {
            panic!("B was served while A still held the only slot")
        }
        Err(err) => panic!("{err}"),
    }
}

#[tokio::test]
async fn stopping_closes_kept_alive_connections_and_returns() {
    let engine = start_engine(1, |_| {});
    let mut port = start_port(&engine, HttpLimits::default()).await;

    // A kept-alive connection, two requests on it.
    let mut http = TcpStream::connect(port.addr).await.unwrap();
    for _ in 0..2 {
        http.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let mut text = Vec::new();
        while !text.ends_with(b"\r\n\r\nok\n") {
            let mut buf = [0u8; 256];
            let n = timeout(LIMIT, http.read(&mut buf)).await.unwrap().unwrap();
            assert_ne!(n, 0, "closed after {:?}", String::from_utf8_lossy(&text));
            text.extend_from_slice(&buf[..n]);
        }
        assert!(text.starts_with(b"HTTP/1.1 200 OK\r\n"));
    }

    drop(port.stop.take());
    expect_closed_by_server(&mut http).await;
    timeout(LIMIT, &mut port.server).await.unwrap().unwrap();
    assert!(TcpStream::connect(port.addr).await.is_err());
}
