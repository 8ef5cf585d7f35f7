//! `deploy/systemd/msrp-switch.service` and the daemon's side of it: the
//! sd_notify(3) datagrams a `Type=notify` unit waits for, received on a Unix
//! socket of the test's, and the unit file through systemd's own checks.

use std::process::Command;
use std::time::{Duration, Instant};

use msrp_test_support::daemon::Daemon;
use msrp_test_support::{LIMIT, TempDir};
use tokio::net::{TcpStream, UnixDatagram};
use tokio::time::timeout;

use super::{BIN, http_get, read, run, skipped, succeed, tool};

/// The watchdog interval the test asks for: 200 ms, so WATCHDOG=1 every 100 ms.
const WATCHDOG_USEC: &str = "200000";

/// The next datagram on `socket` that is not a watchdog ping (those are
/// counted in `watchdogs`), as text.
async fn next_state(socket: &UnixDatagram, watchdogs: &mut usize) -> String {
    loop {
        let message = datagram(socket).await;
        if message == "WATCHDOG=1\n" {
            *watchdogs += 1;
            continue;
        }
        return message;
    }
}

/// The next datagram on `socket`, as text; panics after [`LIMIT`].
async fn datagram(socket: &UnixDatagram) -> String {
    let mut buf = vec![0; 4096];
    let len = timeout(LIMIT, socket.recv(&mut buf))
        .await
        .expect("no sd_notify datagram in time")
        .unwrap();
    String::from_utf8(buf[..len].to_vec()).unwrap()
}

fn signal(daemon: &Daemon, signal: rustix::process::Signal) {
    let pid = daemon.child.id().and_then(|id| i32::try_from(id).ok());
    let pid = pid.and_then(rustix::process::Pid::from_raw).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}

#[tokio::test]
async fn the_daemon_notifies_ready_watchdog_reloading_and_stopping() {
    let dir = TempDir::new("deploy-sd-notify");
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let mut daemon = Daemon::spawn_with_env(
        BIN,
        &[],
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            ("WATCHDOG_USEC", WATCHDOG_USEC),
        ],
    )
    .await;

    // READY=1 comes first, once every port is bound: each accepts now.
    let ready = datagram(&socket).await;
    let started = Instant::now();
    assert!(ready.starts_with("READY=1\n"), "{ready:?}");
    let status = format!("STATUS=serving: MSRP on {}, control API on ", daemon.msrp);
    assert!(ready.contains(&status), "{ready:?}");
    TcpStream::connect(daemon.msrp).await.unwrap();
    TcpStream::connect(daemon.tls.unwrap()).await.unwrap();
    let control = daemon.control.trim_start_matches("http://");
    TcpStream::connect(control).await.unwrap();
    assert_eq!(
        http_get(daemon.metrics, "/readyz").await.unwrap(),
        "ready\n"
    );

    // WATCHDOG=1 every WATCHDOG_USEC / 2, and nothing else meanwhile.
    for _ in 0..4 {
        assert_eq!(datagram(&socket).await, "WATCHDOG=1\n");
    }
    // Four pings at 0, 100, 200 and 300 ms after READY=1: periodic, not a
    // burst.
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );

    // SIGHUP reloads (here nothing: TLS with a generated certificate):
    // RELOADING=1 with the monotonic time, then READY=1 again.
    let mut watchdogs = 0;
    signal(&daemon, rustix::process::Signal::HUP);
    let reloading = next_state(&socket, &mut watchdogs).await;
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading:?}"
    );
    let ready = next_state(&socket, &mut watchdogs).await;
    assert_eq!(ready, "READY=1\nSTATUS=serving (reloaded)\n");

    // SIGTERM: STOPPING=1 as the drain starts, with the time it may take
    // (--drain-seconds 30 and 5 s to exit), then a clean exit.
    signal(&daemon, rustix::process::Signal::TERM);
    let stopping = next_state(&socket, &mut watchdogs).await;
    assert_eq!(
        stopping,
        "STOPPING=1\nSTATUS=draining: exit within 30 s\nEXTEND_TIMEOUT_USEC=35000000\n"
    );
    let status = timeout(LIMIT, daemon.child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
    assert!(daemon.rest_of_log().await.contains("msrp-switch stopped"));
}

#[tokio::test]
async fn without_notify_socket_the_daemon_runs_as_before() {
    // WATCHDOG_USEC alone (no socket to write to) changes nothing.
    let mut daemon = Daemon::spawn_with_env(BIN, &[], &[("WATCHDOG_USEC", WATCHDOG_USEC)]).await;
    assert_eq!(
        http_get(daemon.metrics, "/readyz").await.unwrap(),
        "ready\n"
    );
    signal(&daemon, rustix::process::Signal::TERM);
    let status = timeout(LIMIT, daemon.child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
    let log = daemon.rest_of_log().await;
    assert!(!log.contains("sd_notify"), "{log}");
}

/// The value of the unit's `key=` line (the last one, as systemd reads it).
fn setting<'a>(unit: &'a str, key: &str) -> Option<&'a str> {
    unit.lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .next_back()
}

/// Seconds of a systemd time span such as `45s` or `45`.
fn seconds(span: &str) -> f64 {
    span.trim_end_matches('s').parse().unwrap()
}

#[test]
fn the_unit_passes_systemd_analyze_and_fits_the_daemon() {
    let unit = read("deploy/systemd/msrp-switch.service");
    // What the unit promises: notify with a watchdog, reload on SIGHUP, a
    // stop above the drain deadline, the sandbox, and the descriptors.
    for (key, value) in [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("ExecStart", "/usr/local/bin/msrp-switch"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("KillSignal", "SIGTERM"),
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("LimitNOFILE", "1048576"),
        ("StateDirectory", "msrp-switch"),
        (
            "Environment",
            "MSRP_SWITCH_LARGE_MESSAGE_DIR=%S/msrp-switch",
        ),
        ("EnvironmentFile", "-/etc/msrp-switch/env"),
    ] {
        assert_eq!(setting(&unit, key), Some(value), "{key}=");
    }
    assert!(unit.contains("\nSystemCallFilter=@system-service\n"));
    assert!(seconds(setting(&unit, "WatchdogSec").unwrap()) > 0.0);
    // The drain deadline as the daemon reads it, with 5 s to exit after it.
    let config = succeed(Command::new(BIN).arg("--print-config"));
    let drain = config
        .lines()
        .find_map(|line| line.strip_prefix("drain_seconds = "))
        .unwrap();
    let stop = seconds(setting(&unit, "TimeoutStopSec").unwrap());
    assert!(
        stop > drain.parse::<f64>().unwrap() + 5.0,
        "{stop} vs {drain}"
    );

    let Some(analyze) = tool("systemd-analyze") else {
        skipped(
            "systemd-analyze verify",
            "systemd-analyze is not installed (apt-get install -y systemd; .ci/run does)",
        );
        return;
    };
    // verify checks that ExecStart= is an executable: point it at the binary
    // under test, which `cargo install --root /usr/local` would put there.
    let dir = TempDir::new("deploy-systemd-unit");
    let tested = unit.replacen(
        "\nExecStart=/usr/local/bin/msrp-switch\n",
        &format!("\nExecStart={BIN}\n"),
        1,
    );
    assert_ne!(tested, unit);
    let file = dir.file("msrp-switch.service", &tested);
    let verify = run(Command::new(&analyze).args(["verify", &file]));
    let said = String::from_utf8_lossy(&verify.stderr).into_owned()
        + &String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "systemd-analyze verify: {said}");
    // Lines about other units (the host's) are not ours to fix.
    assert!(
        !said.contains("msrp-switch.service"),
        "systemd-analyze verify: {said}"
    );

    // The sandbox as systemd rates it: 0 is the most locked down, 10 the
    // least; the unit is at 1.2 ("OK"). The threshold is ×10.
    let security =
        run(Command::new(&analyze).args(["security", "--offline=yes", "--threshold=20", &file]));
    let report = String::from_utf8_lossy(&security.stdout);
    assert!(
        security.status.success(),
        "exposure above 2.0:\n{report}{}",
        String::from_utf8_lossy(&security.stderr)
    );
    let overall = report
        .lines()
        .find(|line| line.contains("Overall exposure level"))
        .unwrap_or_default();
    eprintln!("systemd-analyze security: {}", overall.trim());
}
