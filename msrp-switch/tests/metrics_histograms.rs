//! The operator's metrics over a real scrape: the latency histograms move with
//! traffic, the process families and the build info are there, per-shard
//! gauges add up to the totals, and the Prometheus text format passes
//! `promtool check metrics` (Debian's `prometheus` package; SKIPPED without it).

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use msrp_switch::metrics::serve_metrics;
use msrp_test_support::{LIMIT, bound_one_to_one, start_engine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const A: &str = "msrp://127.0.0.1:43101/histo001;tcp";
const B: &str = "msrp://127.0.0.1:43102/histo002;tcp";

/// `GET /metrics` with `accept`; the status line's code, the head and the body.
async fn scrape(addr: SocketAddr, accept: &str) -> (String, String) {
    let mut http = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: test\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    );
    http.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    timeout(LIMIT, http.read_to_string(&mut text))
        .await
        .unwrap()
        .unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.to_lowercase(), body.to_owned())
}

/// The value of one sample line `series value`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_histograms_process_metrics_and_the_text_format_pass_promtool() {
    let engine = start_engine(2, |_| {});
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_metrics(
        listener,
        engine.engine.clone(),
        std::future::pending(),
    ));

    let (_, _, mut a, mut b) = bound_one_to_one(&engine, A, B).await;
    const MESSAGES: usize = 40;
    for i in 0..MESSAGES {
        a.send_message(&format!("histo{i:03}"), b"hello").await;
        let frame = b.read_frame().await;
        // B answers after a pause: the response latency sees it.
        tokio::time::sleep(Duration::from_millis(2)).await;
        b.answer(&frame, "200 OK").await;
    }
    // The last answer is read by the switch before the scrape counts it.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (head, text) = scrape(addr, "text/plain").await;
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(!text.contains("# EOF"));
    assert!(text.contains("# TYPE msrp_switch_frames_received_total counter"));
    // Every forwarded SEND was answered: one response time each, none under
    // the pause B took.
    let responses = sample(&text, "msrp_switch_response_latency_seconds_count");
    assert_eq!(responses, MESSAGES as f64);
    assert_eq!(
        sample(
            &text,
            "msrp_switch_response_latency_seconds_bucket{le=\"0.001\"}"
        ),
        0.0,
        "B waited 2 ms before each answer"
    );
    assert!(sample(&text, "msrp_switch_response_latency_seconds_sum") >= 0.002 * MESSAGES as f64);
    let forwarded = sample(&text, "msrp_switch_forward_latency_seconds_count");
    assert!(
        (1.0..=MESSAGES as f64).contains(&forwarded),
        "sampled forwarding latencies: {forwarded}"
    );
    assert_eq!(
        sample(
            &text,
            "msrp_switch_forward_latency_seconds_bucket{le=\"+Inf\"}"
        ),
        forwarded
    );
    // Per-shard gauges add up to the total.
    let per_shard: f64 = (0..2)
        .map(|s| {
            sample(
                &text,
                &format!("msrp_switch_shard_connections{{shard=\"{s}\"}}"),
            )
        })
        .sum();
    assert_eq!(per_shard, sample(&text, "msrp_switch_connections"));
    assert_eq!(per_shard, 2.0);
    assert!(sample(&text, "process_resident_memory_bytes") > 1e6);
    assert!(sample(&text, "process_open_fds") > 0.0);
    assert!(sample(&text, "process_cpu_seconds_total") > 0.0);
    assert_eq!(
        sample(
            &text,
            &format!(
                "msrp_switch_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );

    // OpenMetrics by default, as before.
    let (head, open) = scrape(addr, "*/*").await;
    assert!(head.contains("application/openmetrics-text"), "{head}");
    assert!(open.ends_with("# EOF\n"));

    match std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Err(err) => eprintln!("SKIPPED promtool check metrics: promtool not found ({err})"),
        Ok(mut promtool) => {
            use std::io::Write;
            promtool
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            let out = promtool.wait_with_output().unwrap();
            assert!(
                out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
                "promtool check metrics:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_calls_are_counted_by_method_and_code_from_both_fronts() {
    use control_api::pb;
    use msrp_test_support::ControlServer;
    use msrp_test_support::http::HttpFront;

    let engine = start_engine(1, |_| {});
    let grpc = ControlServer::start(&engine, None).await;
    let mut client = grpc.client().await;
    client
        .create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::OneToOne as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    let refused = client
        .create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::Group as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let http = HttpFront::start(&engine, control_api::auth::Auth::none(), "127.0.0.1:0").await;
    let answer = http
        .call(
            "CreateSession",
            r#"{"kind":"SESSION_KIND_ONE_TO_ONE"}"#,
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);

    let text = engine.render_metrics();
    let series = |method: &str, code: &str| {
        sample(
            &text,
            &format!("msrp_switch_control_calls_total{{method=\"{method}\",code=\"{code}\"}}"),
        )
    };
    assert_eq!(
        series("CreateSession", "OK"),
        2.0,
        "one over gRPC, one over HTTP"
    );
    assert_eq!(series("CreateSession", "INVALID_ARGUMENT"), 1.0);
    assert_eq!(series("AddParticipant", "OK"), 0.0);
    assert_eq!(
        sample(
            &text,
            "msrp_switch_control_call_duration_seconds_count{method=\"CreateSession\"}"
        ),
        3.0
    );
}
