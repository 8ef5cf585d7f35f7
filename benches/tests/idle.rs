//! msrp-idle end to end: the binary against a real engine and control API
//! started in this process (so `--pid` is this test's own), over real TCP.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use msrp_test_support::{ControlServer, start_engine};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::process::Command;
use tokio::time::timeout;

/// Every run is bounded by this.
const LIMIT: Duration = Duration::from_secs(60);

/// The source address the participants connect from.
const SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// The local ports of the TCP sockets in this network namespace that go from
/// `local` to port `to` (IPv4, any state), from /proc/net/tcp.
fn local_ports_towards(local: Ipv4Addr, to: u16) -> BTreeSet<u16> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    // Addresses are written as the 32-bit value in host order, little-endian here.
    let ip = format!("{:08X}", u32::from_le_bytes(local.octets()));
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let (l_ip, l_port) = fields.next()?.split_once(':')?;
            let (_, r_port) = fields.next()?.split_once(':')?;
            let to_it = u16::from_str_radix(r_port, 16).ok()? == to;
            (l_ip == ip && to_it).then(|| u16::from_str_radix(l_port, 16).ok())?
        })
        .collect()
}

/// The next line msrp-idle prints, as JSON.
async fn next_json(out: &mut (impl AsyncBufRead + Unpin)) -> serde_json::Value {
    let mut line = String::new();
    let read = timeout(LIMIT, out.read_line(&mut line)).await;
    read.unwrap().unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

/// `--source` connects every participant from the address given, from ports
/// picked in turn from `--source-port` up, skipping one that is taken; and
/// `--teardown` reports the switch taking every leg down once they close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_connect_from_the_source_and_their_teardown_is_timed() {
    let engine = start_engine(1, |_| {});
    let control = ControlServer::start(&engine, None).await;
    let msrp = engine.local_addr();
    // The first port is taken: msrp-idle skips it.
    let taken = TcpListener::bind((SOURCE, 0)).unwrap();
    let first = taken.local_addr().unwrap().port();
    let mut idle = Command::new(env!("CARGO_BIN_EXE_msrp-idle"))
        .args(["--pid", &std::process::id().to_string()])
        .args(["--control", &control.url(), "--addr", &msrp.to_string()])
        .args(["--participants", "20", "--settle-seconds", "0"])
        .args(["--source", &SOURCE.to_string()])
        .args(["--source-port", &first.to_string()])
        .args(["--hold-seconds", "2", "--teardown"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(idle.stdout.take().unwrap());
    let report = next_json(&mut out).await;
    assert_eq!(report["participants"], 20, "{report}");
    // Printed once every participant is bound, and held: all 20 are up.
    let ports = local_ports_towards(SOURCE, msrp.port());
    let expected: BTreeSet<u16> = (first + 1..=first + 20).collect();
    assert_eq!(ports, expected);
    let teardown = next_json(&mut out).await;
    assert_eq!(teardown["closed"], 20, "{teardown}");
    let seconds = teardown["teardown_seconds"].as_f64().unwrap();
    assert!(seconds > 0.0, "{teardown}");
    let status = timeout(LIMIT, idle.wait()).await.unwrap().unwrap();
    assert!(status.success());
    drop(taken);
}

/// Runs msrp-idle with `args` and no switch behind its control address: it
/// must fail before connecting, and its stderr says why.
async fn refused(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_msrp-idle"))
        .args(["--pid", &std::process::id().to_string()])
        .args(["--control", "http://127.0.0.1:9"])
        .args(args)
        .output();
    let out = timeout(LIMIT, out).await.unwrap().unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `--source` with WebSocket participants is refused with a reason, before
/// anything is set up.
#[tokio::test]
async fn a_source_for_websocket_participants_is_refused() {
    let stderr = refused(&[
        "--participants",
        "2",
        "--source",
        "127.0.0.2",
        "--transport",
        "ws",
    ])
    .await;
    assert!(
        stderr.contains("--source works with the tcp and tls transports, not ws"),
        "{stderr}"
    );
}

/// Every figure msrp-idle prints is per bound participant: with none it
/// refuses rather than print NaN.
#[tokio::test]
async fn fewer_than_two_participants_are_refused() {
    let stderr = refused(&["--participants", "1"]).await;
    assert!(
        stderr.contains("--participants must be at least 2 (one 1:1 session)"),
        "{stderr}"
    );
}
