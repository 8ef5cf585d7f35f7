//! Requests for sessions that do not exist, refused frames, and the daemon binary:
//! real TCP on loopback, exact bytes back.

use std::process::Stdio;
use std::time::Duration;

use msrp_test_support::daemon::{EPHEMERAL_PORTS, scrape};
use msrp_test_support::{LIMIT, TestEngine, start_engine};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// An engine on an ephemeral port with no sessions.
async fn start() -> (std::net::SocketAddr, TestEngine) {
    let engine = start_engine(1, |_| {});
    (engine.local_addr(), engine)
}

fn send(tid: &str, extra: &str, body: &str) -> String {
    let content = if body.is_empty() {
        String::new()
    } else {
        format!("Content-Type: text/plain\r\n\r\n{body}\r\n")
    };
    format!(
        "MSRP {tid} SEND\r\n\
         To-Path: msrp://127.0.0.1:2855/s3ss10n;tcp\r\n\
         From-Path: msrp://127.0.0.1:40112/p33r;tcp\r\n\
         Message-ID: m1234\r\n{extra}{content}-------{tid}$\r\n"
    )
}

fn response(tid: &str, status: &str) -> String {
    format!(
        "MSRP {tid} {status}\r\n\
         To-Path: msrp://127.0.0.1:40112/p33r;tcp\r\n\
         From-Path: msrp://127.0.0.1:2855/s3ss10n;tcp\r\n\
         -------{tid}$\r\n"
    )
}

/// Reads until `expected.len()` bytes arrived (or the peer closed), then compares.
async fn expect(stream: &mut TcpStream, expected: &str) {
    let mut got = vec![0; expected.len()];
    timeout(LIMIT, stream.read_exact(&mut got))
        .await
        .expect("no answer in time")
        .expect("connection closed early");
    assert_eq!(String::from_utf8_lossy(&got), expected);
}

#[tokio::test]
async fn unknown_session_is_answered_481_with_the_hop_by_hop_paths() {
    let (addr, _stop) = start().await;
    let mut peer = TcpStream::connect(addr).await.unwrap();
    peer.write_all(send("tid0001", "Byte-Range: 1-5/5\r\n", "hello").as_bytes())
        .await
        .unwrap();
    expect(
        &mut peer,
        &response("tid0001", "481 Session does not exist"),
    )
    .await;
}

#[tokio::test]
async fn reports_and_failure_report_no_get_no_answer() {
    let (addr, _stop) = start().await;
    let mut peer = TcpStream::connect(addr).await.unwrap();
    let report = "MSRP rep00001 REPORT\r\n\
        To-Path: msrp://127.0.0.1:2855/s3ss10n;tcp\r\n\
        From-Path: msrp://127.0.0.1:40112/p33r;tcp\r\n\
        Message-ID: m1234\r\nByte-Range: 1-5/5\r\nStatus: 000 200 OK\r\n\
        -------rep00001$\r\n";
    // One write, four frames: only the last two may be answered, in order.
    let batch = [
        report.to_string(),
        send("tidno001", "Failure-Report: no\r\n", "quiet"),
        send("tidpart1", "Failure-Report: partial\r\n", "loud"),
        send("tidbind1", "Byte-Range: 1-0/0\r\n", ""),
    ]
    .concat();
    peer.write_all(batch.as_bytes()).await.unwrap();
    let expected = [
        response("tidpart1", "481 Session does not exist"),
        response("tidbind1", "481 Session does not exist"),
    ]
    .concat();
    expect(&mut peer, &expected).await;
}

#[tokio::test]
async fn a_refused_frame_gets_400_and_the_connection_goes_on() {
    let (addr, _stop) = start().await;
    let mut peer = TcpStream::connect(addr).await.unwrap();
    let bad = send("tidbad01", "Byte-Range: 9-1/5\r\n", "oops!");
    let good = send("tidgood1", "", "fine");
    peer.write_all([bad, good].concat().as_bytes())
        .await
        .unwrap();
    let expected = [
        response("tidbad01", "400 Unintelligible"),
        response("tidgood1", "481 Session does not exist"),
    ]
    .concat();
    expect(&mut peer, &expected).await;
}

#[tokio::test]
async fn lost_framing_closes_the_connection_without_an_answer() {
    let (addr, _stop) = start().await;
    let mut peer = TcpStream::connect(addr).await.unwrap();
    peer.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = timeout(LIMIT, peer.read_to_end(&mut rest))
        .await
        .expect("not closed");
    assert!(read.is_ok() || rest.is_empty());
    assert!(rest.is_empty(), "unexpected answer {rest:?}");
}

/// The daemon binary on ephemeral loopback ports, logging text at info to a
/// pipe, with NO_COLOR unset so that the daemon's own choice shows.
fn daemon_command() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_msrp-switch"));
    command
        .args(EPHEMERAL_PORTS)
        .args(["--control-listen", "127.0.0.1:0", "--log-format", "text"])
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// [`daemon_command`], started.
fn spawn_daemon() -> tokio::process::Child {
    daemon_command().spawn().unwrap()
}

/// The MSRP and metrics addresses of the daemon's "listening" line.
fn addresses(line: &str) -> (std::net::SocketAddr, String) {
    let marker = "listening for MSRP on ";
    let at = line
        .find(marker)
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let rest = &line[at + marker.len()..];
    let addr = rest[..rest.find(' ').unwrap()].parse().unwrap();
    let metrics_at = rest.find("http://").unwrap();
    let metrics = rest[metrics_at + 7..rest.find("/metrics").unwrap()].to_string();
    (addr, metrics)
}

/// A SEND for no session on a new connection to `addr` is answered 481.
async fn answers_481(addr: std::net::SocketAddr, tid: &str) {
    let mut peer = TcpStream::connect(addr).await.unwrap();
    peer.write_all(send(tid, "", "hi").as_bytes())
        .await
        .unwrap();
    expect(&mut peer, &response(tid, "481 Session does not exist")).await;
}

#[tokio::test]
async fn the_binary_starts_on_flags_logs_its_address_and_answers() {
    let mut child = spawn_daemon();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = timeout(LIMIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let (addr, metrics_addr) = addresses(&line);
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    answers_481(addr, "tidbin01").await;

    // The metrics endpoint answers with the OpenMetrics text format.
    let scrape = scrape(&metrics_addr).await;
    assert!(scrape.starts_with("HTTP/1.1 200 OK\r\n"), "{scrape}");
    assert!(
        scrape.contains("msrp_switch_responses_sent_total{status=\"481\"} 1\n"),
        "{scrape}"
    );

    child.start_kill().unwrap();
    timeout(LIMIT, child.wait()).await.unwrap().unwrap();
}

#[test]
fn help_lists_the_listen_address_and_every_limit() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_msrp-switch"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "127.0.0.1:2855",
        "--max-head-bytes",
        "--max-uris-per-path",
        "--max-headers",
        "--max-transaction-id-bytes",
        "--max-chunk-bytes",
        "--queue-bytes",
        "--transaction-timeout-seconds",
        "--bind-timeout-seconds",
        "--metrics-listen",
        "127.0.0.1:9464",
        "--shards",
        "--slow-consumer-grace-seconds",
        "MSRP_SWITCH_SLOW_CONSUMER_GRACE_SECONDS",
        "--fanout-chunk-bytes",
        "MSRP_SWITCH_FANOUT_CHUNK_BYTES",
        "--slow-consumer-max-bytes",
        "MSRP_SWITCH_SLOW_CONSUMER_MAX_BYTES",
        "MSRP_SWITCH_LISTEN",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn a_bad_limit_stops_the_binary_with_the_flag_named() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_msrp-switch"))
        .args(["--max-head-bytes", "10"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid --max-head-bytes: must be at least 256"),
        "{err}"
    );
}

/// Logs written to a pipe carry no ANSI colour codes, even without NO_COLOR; and
/// SIGHUP does not stop the daemon (its default action would): it logs that it was
/// ignored and goes on serving.
#[tokio::test]
async fn a_piped_daemon_logs_plain_text_and_survives_sighup() {
    let mut child = spawn_daemon();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = timeout(LIMIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.contains("listening for MSRP"), "{first}");
    assert!(!first.contains('\x1b'), "colour codes in {first:?}");
    let pid = child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    // Start-up may log more lines (the TLS fingerprint); the SIGHUP line follows.
    let logged = timeout(LIMIT, async {
        loop {
            let line = lines.next_line().await.unwrap().unwrap();
            if line.contains("SIGHUP") {
                return line;
            }
        }
    })
    .await
    .unwrap();
    assert!(logged.contains("generated at start"), "{logged}");
    assert!(child.try_wait().unwrap().is_none(), "the daemon exited");
    child.start_kill().unwrap();
    timeout(LIMIT, child.wait()).await.unwrap().unwrap();
}

/// The daemon on ephemeral loopback ports with one shard, under `ulimit -n
/// nofile`, with `extra` flags; its log lines and the first of them.
async fn under_ulimit(
    nofile: u32,
    extra: &str,
) -> (
    tokio::process::Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    String,
) {
    let daemon = env!("CARGO_BIN_EXE_msrp-switch");
    let mut child = tokio::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "ulimit -n {nofile} && exec {daemon} --shards 1 --listen 127.0.0.1:0 --tls-listen 127.0.0.1:0 \
                 --metrics-listen 127.0.0.1:0 --control-listen 127.0.0.1:0 --log-format text {extra}"
            ),
        ])
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = timeout(LIMIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    (child, lines, line)
}

/// Out of descriptors, accept errors are counted and logged at warn, the listener
/// does not spin, and once descriptors are free again it accepts as before. The
/// daemon runs under `ulimit -n 64` with one shard and no descriptor reserve
/// (`--fd-reserve 0`: with one, the connection cap keeps accepts from failing);
/// the test holds connections until accepts fail.
#[tokio::test]
async fn accept_errors_are_counted_and_the_daemon_recovers() {
    let (mut child, mut lines, line) = under_ulimit(64, "--fd-reserve 0").await;
    let (addr, metrics_addr) = addresses(&line);

    // More connections than the daemon has descriptors: the rest wait in the
    // backlog while its accepts fail.
    let mut held = Vec::new();
    for _ in 0..100 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    let warned = timeout(LIMIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("accept failed") {
                return line;
            }
        }
        panic!("the daemon's output ended");
    })
    .await
    .expect("no accept failure logged");
    assert!(warned.contains("WARN"), "{warned}");
    drop(held);

    // Descriptors free again: the daemon serves, and says how many accepts failed.
    answers_481(addr, "tidacc01").await;
    let scrape = scrape(&metrics_addr).await;
    let failed: u64 = scrape
        .lines()
        .find_map(|l| l.strip_prefix("msrp_switch_accept_errors_total "))
        .unwrap_or_else(|| panic!("no accept errors series in {scrape}"))
        .trim()
        .parse()
        .unwrap();
    assert!(failed >= 1, "{failed}");
    assert!(child.try_wait().unwrap().is_none(), "the daemon exited");
    child.start_kill().unwrap();
    timeout(LIMIT, child.wait()).await.unwrap().unwrap();
}

/// With the descriptor reserve (the default), a flood of MSRP connections under
/// `ulimit -n 256` meets the connection cap, not the descriptor limit: the excess
/// is closed at once and counted, and meanwhile the metrics port scrapes and the
/// control port answers (the reserve is theirs).
#[tokio::test]
async fn the_descriptor_reserve_keeps_the_other_ports_serving_under_a_flood() {
    let (mut child, _lines, line) = under_ulimit(256, "").await;
    assert!(line.contains("max_connections=128"), "{line}");
    let (addr, metrics_addr) = addresses(&line);
    let control_at = line.find("control API on ").unwrap() + "control API on ".len();
    let control = line[control_at..].split(',').next().unwrap().to_owned();

    let mut held = Vec::new();
    for _ in 0..300 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    // The kernel completes connects from the backlog before the daemon accepts
    // them, so the refusals are counted a moment after the last connect returns.
    let refused_of = |scrape: &str| -> u64 {
        scrape
            .lines()
            .find_map(|l| {
                l.strip_prefix("msrp_switch_connections_refused_total{reason=\"connections\"} ")
            })
            .unwrap_or_else(|| panic!("no refusal count in {scrape}"))
            .parse()
            .unwrap()
    };
    let deadline = tokio::time::Instant::now() + LIMIT;
    let scrape = loop {
        let scrape = scrape(&metrics_addr).await;
        if refused_of(&scrape) >= 172 || tokio::time::Instant::now() > deadline {
            break scrape;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let refused = refused_of(&scrape);
    assert!(refused >= 172, "{refused} refused of 300 over a cap of 128");
    assert_eq!(
        scrape
            .lines()
            .find_map(|l| l.strip_prefix("msrp_switch_accept_errors_total "))
            .unwrap(),
        "0",
        "the descriptor limit was reached"
    );
    let mut client = control_api::pb::switch_control_client::SwitchControlClient::connect(format!(
        "http://{control}"
    ))
    .await
    .unwrap();
    let stats = timeout(LIMIT, client.stats(control_api::pb::StatsRequest {}))
        .await
        .unwrap()
        .unwrap()
        .into_inner();
    assert!(stats.connections <= 128, "{stats:?}");
    drop(held);
    child.start_kill().unwrap();
    timeout(LIMIT, child.wait()).await.unwrap().unwrap();
}

/// The layers on the real binary: the environment wins over the file, a flag
/// over the environment, and a bad environment value is named as the variable
/// it came from, not as its flag.
#[test]
fn environment_beats_file_and_a_bad_variable_is_named_as_such() {
    let dir = std::env::temp_dir().join(format!("msrp-switch-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("switch.toml");
    std::fs::write(&file, "queue_bytes = 2048\nshards = 3\n").unwrap();
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_msrp-switch"))
            .arg("--config")
            .arg(&file)
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, printed, _) = run(
        &[
            ("MSRP_SWITCH_QUEUE_BYTES", "4096"),
            ("MSRP_SWITCH_SHARDS", "5"),
        ],
        &["--print-config", "--shards", "2"],
    );
    assert_eq!(code, Some(0));
    assert!(printed.contains("queue_bytes = 4096\n"), "{printed}");
    assert!(printed.contains("shards = 2\n"), "{printed}");
    let (code, _, err) = run(&[("MSRP_SWITCH_QUEUE_BYTES", "10")], &[]);
    assert_eq!(code, Some(2));
    assert_eq!(
        err.trim(),
        "msrp-switch: invalid MSRP_SWITCH_QUEUE_BYTES (environment variable): must be at least 1024"
    );
}
