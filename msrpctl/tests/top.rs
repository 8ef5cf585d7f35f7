//! `msrpctl top` as operators run it: the binary against a real engine, its
//! control service and its metrics port, with a 1:1 session carrying traffic.
//! Once into a pipe (plain text, real numbers), in a pseudo-terminal (frames
//! redrawn, rates moving, `q` restoring the terminal), over TLS, and against
//! nothing (exit 7).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use control_api::auth::Auth;
use control_api::pb;
use control_api::port::PortLimits;
use msrp_switch::metrics::{HttpLimits, serve_http, serve_metrics};
use msrp_test_support::{
    ControlServer, LIMIT, Peer, Pki, TestEngine, bound_one_to_one, metric, start_engine,
};
use rustix::termios::{self, LocalModes, Winsize};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::timeout;

const BIN: &str = env!("CARGO_BIN_EXE_msrpctl");

/// What the live view writes when it ends (msrpctl's `top::terminal::LEAVE`):
/// cursor shown, alternate screen left.
const LEAVE: &str = "\x1b[?25h\x1b[?1049l";

/// What it writes when it starts: alternate screen, cursor hidden.
const ENTER: &str = "\x1b[?1049h\x1b[?25l";

/// A real engine with two shards, its control service and its metrics port.
struct Switch {
    // Dropped in this order: the control service stops, then the engine.
    _control: ControlServer,
    engine: TestEngine,
    /// The `--server` URL.
    server: String,
    /// The `--metrics` URL.
    metrics: String,
}

impl Switch {
    async fn start() -> Self {
        let engine = start_engine(2, |_| {});
        let control = ControlServer::start(&engine, None).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(serve_metrics(
            listener,
            engine.engine.clone(),
            std::future::pending(),
        ));
        Self {
            server: control.url(),
            _control: control,
            engine,
            metrics,
        }
    }

    /// `msrpctl --server S top --metrics M <args>`.
    fn top(&self, args: &[&str]) -> Command {
        let mut full = vec![
            "--server",
            self.server.as_str(),
            "top",
            "--metrics",
            self.metrics.as_str(),
        ];
        full.extend_from_slice(args);
        command(&full)
    }

    /// The session's participants as GetSession gives them.
    async fn session(&self, session_id: &str) -> pb::Session {
        let mut client = self._control.client().await;
        client
            .get_session(pb::GetSessionRequest {
                session_id: session_id.to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
    }
}

/// msrpctl with a clean environment (no MSRPCTL_* from the caller's shell).
fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("MSRPCTL_SERVER")
        .env_remove("MSRPCTL_TOKEN")
        .env_remove("MSRPCTL_TLS_CA")
        .env_remove("MSRPCTL_TLS_CERT")
        .env_remove("MSRPCTL_TLS_KEY")
        .env_remove("MSRPCTL_METRICS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// What one run printed and how it ended.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs to the end within [`LIMIT`].
async fn finish(mut command: Command) -> Run {
    let mut child: Child = command.spawn().expect("spawn msrpctl");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let run = async {
        let (o, e, status) = tokio::join!(
            out.read_to_string(&mut stdout),
            err.read_to_string(&mut stderr),
            child.wait()
        );
        o.unwrap();
        e.unwrap();
        status.unwrap()
    };
    let status = timeout(LIMIT, run)
        .await
        .expect("msrpctl top ended in time");
    Run {
        code: status.code(),
        stdout,
        stderr,
    }
}

/// Each line with its runs of spaces made one, for matching aligned text.
fn squeezed(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[track_caller]
fn has_line(text: &str, expected: &str) {
    assert!(
        squeezed(text).iter().any(|line| line == expected),
        "no line {expected:?} in\n{text}"
    );
}

/// `n` messages from A to B, each answered by B.
async fn exchange(a: &mut Peer, b: &mut Peer, prefix: &str, n: usize) {
    for i in 0..n {
        a.send_message(&format!("{prefix}{i:04}"), b"hello, top")
            .await;
        let frame = b.read_frame().await;
        b.answer(&frame, "200 OK").await;
    }
}

/// Waits until the engine's `series` reads `value`, within [`LIMIT`].
async fn settled(engine: &TestEngine, series: &str, value: i64) {
    let wait = async {
        while metric(engine, series) != value {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    timeout(LIMIT, wait)
        .await
        .unwrap_or_else(|_| panic!("{series} never reached {value}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_prints_one_plain_frame_with_the_switch_s_real_figures() {
    let switch = Switch::start().await;
    let (pa, pb, mut a, mut b) = bound_one_to_one(
        &switch.engine,
        "msrp://127.0.0.1:43401/topa0001;tcp",
        "msrp://127.0.0.1:43402/topb0002;tcp",
    )
    .await;
    exchange(&mut a, &mut b, "once", 5).await;
    // B's last 200 is counted before `top` starts, so nothing moves while it
    // runs.
    settled(
        &switch.engine,
        "msrp_switch_frames_received_total{method=\"response\"}",
        5,
    )
    .await;

    let run = finish(switch.top(&["--once", "--interval-seconds", "0.2"])).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    let out = &run.stdout;
    assert!(
        !out.contains('\x1b'),
        "no escape codes into a pipe:\n{out:?}"
    );
    assert!(out.starts_with("msrp-switch 0.1.0, up "), "{out}");
    assert!(squeezed(out)[0].contains(", 2 shards interval 0."), "{out}");
    has_line(out, "sessions: 1 (one-to-one 1, group 0, large-message 0)");
    has_line(
        out,
        "participants: 2 (one-to-one 2, group 0, large-message 0)",
    );
    has_line(out, "connections: 2");
    // Nothing was sent during the interval.
    has_line(
        out,
        "msgs/s: in 0.0 out 0.0 (SEND; all frames in 0.0, out 0.0)",
    );
    has_line(out, "MB/s: in 0.000 out 0.000");
    has_line(out, "queue bytes: 0");
    has_line(
        out,
        "forwarding: p50 - p99 - (no chunks sampled in the interval)",
    );
    // The per-shard connections add up to the two peers'.
    let shards: u64 = squeezed(out)
        .iter()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(' ').collect();
            match cells[..] {
                [shard, connections, _queue] if shard == "0" || shard == "1" => {
                    connections.parse::<u64>().ok()
                }
                _ => None,
            }
        })
        .sum();
    assert_eq!(shards, 2, "{out}");
    has_line(
        out,
        "worst legs: most requests/s from + to it over the interval, of all 1 session",
    );
    // Both legs, with the counters GetSession gives: still, so no rate.
    let session = switch.session(&pa.session.to_string()).await;
    assert_eq!(session.participants.len(), 2);
    for participant in &session.participants {
        let c = participant.counters.unwrap();
        // A's bind and five SENDs in, or five SENDs out to B.
        assert!(c.frames_in + c.frames_out >= 5, "{c:?}");
        has_line(
            out,
            &format!(
                "{} {} - 0.0 0.0 0.0 0.0 {} {}",
                session.session_id, participant.participant_id, c.frames_in, c.frames_out
            ),
        );
    }
    assert!(out.contains(&pb.id.to_string()), "{out}");

    // --json: one document, the same figures.
    let mut json = switch.top(&["--once", "--interval-seconds", "0.2"]);
    json.arg("--json");
    let run = finish(json).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{run:#?}");
    let doc: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(doc["sessions"]["total"], 1.0);
    assert_eq!(doc["sessions"]["one_to_one"], 1.0);
    assert_eq!(doc["connections"], 2.0);
    assert_eq!(doc["msgs_per_second"]["in"], 0.0);
    assert_eq!(doc["worst_legs"].as_array().unwrap().len(), 2);
    assert_eq!(doc["worst_legs"][0]["session_id"], session.session_id);

    // --iterations: that many frames, one after another, then exit 0.
    let run = finish(switch.top(&["--iterations", "2", "--interval-seconds", "0.1"])).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(
        run.stdout.matches("msrp-switch 0.1.0, up ").count(),
        2,
        "{run:#?}"
    );
    assert_eq!(run.stdout.matches("worst legs:").count(), 2);
    assert!(!run.stdout.contains('\x1b'));
}

/// A pseudo-terminal: the master end, read by a thread, and the slave end
/// given to msrpctl as its stdin, stdout and stderr.
struct Pty {
    master: std::fs::File,
    /// A slave descriptor kept by the test, to read the terminal's settings.
    slave: OwnedFd,
    /// What msrpctl wrote to the terminal, as it comes.
    screen: mpsc::UnboundedReceiver<Vec<u8>>,
    /// Everything read so far.
    seen: Vec<u8>,
}

impl Pty {
    fn open(rows: u16, columns: u16) -> Self {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let slave: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().unwrap())
            .unwrap()
            .into();
        termios::tcsetwinsize(
            &master,
            Winsize {
                ws_row: rows,
                ws_col: columns,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        )
        .unwrap();
        let master = std::fs::File::from(master);
        let mut reader = master.try_clone().unwrap();
        let (tx, screen) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once no slave descriptor is open.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Self {
            master,
            slave,
            screen,
            seen: Vec::new(),
        }
    }

    fn stdio(&self) -> Stdio {
        Stdio::from(self.slave.try_clone().unwrap())
    }

    /// Reads until `done` holds for what was seen, within [`LIMIT`].
    async fn until(&mut self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let wait = async {
            loop {
                let text = String::from_utf8_lossy(&self.seen).into_owned();
                if done(&text) {
                    return text;
                }
                match self.screen.recv().await {
                    Some(bytes) => self.seen.extend_from_slice(&bytes),
                    None => panic!("the terminal closed before {what}:\n{text:?}"),
                }
            }
        };
        match timeout(LIMIT, wait).await {
            Ok(text) => text,
            Err(_) => panic!(
                "no {what} within {LIMIT:?}:\n{:?}",
                String::from_utf8_lossy(&self.seen)
            ),
        }
    }

    /// Whether the terminal is in canonical mode with echo (as a shell leaves it).
    fn line_mode(&self) -> bool {
        termios::tcgetattr(&self.slave)
            .unwrap()
            .local_modes
            .contains(LocalModes::ICANON | LocalModes::ECHO)
    }
}

/// The text of the last whole frame on the screen: from the last cursor-home
/// before the last footer, escape sequences taken out.
fn last_frame(screen: &str) -> String {
    let end = screen.rfind("q or Ctrl-C: quit").unwrap_or(screen.len());
    let start = screen[..end].rfind("\x1b[H").map_or(0, |at| at + 3);
    strip_escapes(&screen[start..end])
}

/// Text without its CSI sequences (`ESC [ params final`).
fn strip_escapes(text: &str) -> String {
    let mut plain = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else if c != '\r' {
            plain.push(c);
        }
    }
    plain
}

/// The `in` figure of the msgs/s line of a frame.
fn msgs_in(frame: &str) -> Option<f64> {
    squeezed(frame).iter().find_map(|line| {
        line.strip_prefix("msgs/s: in ")?
            .split(' ')
            .next()?
            .parse()
            .ok()
    })
}

/// `msrpctl top --interval-seconds 0.2` in a fresh 40x160 pseudo-terminal,
/// once it has drawn two frames on the alternate screen and put the terminal
/// in cbreak mode.
async fn live_top(switch: &Switch) -> (Pty, Child) {
    let mut pty = Pty::open(40, 160);
    assert!(pty.line_mode(), "a fresh terminal is in line mode");
    let mut top = switch.top(&["--interval-seconds", "0.2"]);
    top.stdin(pty.stdio())
        .stdout(pty.stdio())
        .stderr(pty.stdio());
    let child = top.spawn().expect("spawn msrpctl top");
    // The command holds the slave descriptors given to the child.
    drop(top);
    let screen = pty
        .until("two frames", |s| s.matches("worst legs:").count() >= 2)
        .await;
    assert!(screen.starts_with(ENTER), "{screen:?}");
    assert!(!pty.line_mode(), "top reads keys without Enter");
    (pty, child)
}

/// Waits for `top` to exit 0 and checks it left the terminal as it found it:
/// the alternate screen left once, the cursor shown, line mode and echo back.
async fn ends_restored(mut pty: Pty, mut child: Child) {
    let status = timeout(LIMIT, child.wait())
        .await
        .expect("top ended in time")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let screen = pty
        .until("the alternate screen left", |s| s.ends_with(LEAVE))
        .await;
    assert_eq!(screen.matches(LEAVE).count(), 1, "{screen:?}");
    assert!(pty.line_mode(), "line mode and echo restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_terminal_it_redraws_shows_traffic_and_q_restores_the_terminal() {
    let switch = Switch::start().await;
    // An idle session, and a busy one once `top` runs.
    let (idle, _, _c, _d) = bound_one_to_one(
        &switch.engine,
        "msrp://127.0.0.1:43413/ttyc0003;tcp",
        "msrp://127.0.0.1:43414/ttyd0004;tcp",
    )
    .await;
    let (pa, pb, mut a, mut b) = bound_one_to_one(
        &switch.engine,
        "msrp://127.0.0.1:43411/ttya0001;tcp",
        "msrp://127.0.0.1:43412/ttyb0002;tcp",
    )
    .await;
    let (mut pty, child) = live_top(&switch).await;
    let frame = last_frame(&String::from_utf8_lossy(&pty.seen));
    has_line(
        &frame,
        "sessions: 2 (one-to-one 2, group 0, large-message 0)",
    );
    has_line(
        &frame,
        "participants: 4 (one-to-one 4, group 0, large-message 0)",
    );
    has_line(&frame, "connections: 4");
    assert_eq!(msgs_in(&frame), Some(0.0), "{frame}");

    // Traffic while it runs: the rate goes above zero, and the sender's leg
    // shows requests per second.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = tokio::spawn({
        let stop = Arc::clone(&stop);
        async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                exchange(&mut a, &mut b, &format!("tty{n:04}-"), 1).await;
                n += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            n
        }
    });
    // A frame where the switch saw SENDs and both legs of the busy session
    // have rates: A's requests in, B's requests out.
    let session = pa.session.to_string();
    let leg = |frame: &str, participant: &str, column: usize| -> Option<f64> {
        squeezed(frame)
            .into_iter()
            .find(|line| line.starts_with(&format!("{session} {participant} ")))?
            .split(' ')
            .nth(column)?
            .parse()
            .ok()
    };
    let (a_id, b_id) = (pa.id.to_string(), pb.id.to_string());
    let screen = pty
        .until("a frame with traffic", |s| {
            let frame = last_frame(s);
            msgs_in(&frame).is_some_and(|rate| rate > 0.0)
                && leg(&frame, &a_id, 3).is_some_and(|rate| rate > 0.0)
                && leg(&frame, &b_id, 4).is_some_and(|rate| rate > 0.0)
        })
        .await;
    stop.store(true, Ordering::Relaxed);
    let sent = timeout(LIMIT, traffic).await.unwrap().unwrap();
    assert!(sent > 0);
    // The worst legs: the busy session's two, then the idle one's.
    let frame = last_frame(&screen);
    let rows = squeezed(&frame);
    let heading = rows.iter().position(|l| l.starts_with("SESSION ")).unwrap();
    let sessions: Vec<&str> = rows[heading + 1..heading + 5]
        .iter()
        .map(|row| row.split(' ').next().unwrap())
        .collect();
    let idle = idle.session.to_string();
    assert_eq!(sessions, [&session, &session, &idle, &idle], "{frame}");

    pty.master.write_all(b"q").unwrap();
    ends_restored(pty, child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_in_a_terminal_restores_it_too() {
    let switch = Switch::start().await;
    let (pty, child) = live_top(&switch).await;
    // What the terminal sends the foreground process for Ctrl-C (cbreak mode
    // leaves ISIG on).
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    rustix::process::kill_process(pid.unwrap(), rustix::process::Signal::INT).unwrap();
    ends_restored(pty, child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_metrics_port_is_scraped_with_the_client_certificate() {
    let pki = Pki::new("msrpctl-top-tls");
    let engine = start_engine(1, |_| {});
    let control =
        ControlServer::start_with(&engine, pki.auth(Auth::none(), true), PortLimits::default())
            .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = format!("https://{}", listener.local_addr().unwrap());
    let (_ready, ready) = tokio::sync::watch::channel(true);
    tokio::spawn(serve_http(
        listener,
        engine.engine.clone(),
        ready,
        HttpLimits::default(),
        axum::Router::new(),
        Some(pki.server_files(true).load().unwrap()),
        std::future::pending(),
    ));
    let server = control.url();
    let mut args = vec!["--server", server.as_str()];
    args.extend(pki.client_flags());
    args.extend([
        "top",
        "--once",
        "--interval-seconds",
        "0.1",
        "--metrics",
        &metrics,
    ]);
    let run = finish(command(&args)).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    has_line(
        &run.stdout,
        "sessions: 0 (one-to-one 0, group 0, large-message 0)",
    );
    has_line(&run.stdout, "(no participants)");
}

#[tokio::test]
async fn a_switch_out_of_reach_exits_7_like_every_subcommand() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let url = |addr: SocketAddr| format!("http://{addr}");
    // Usage errors exit 2 before any connection.
    for (args, why) in [
        (
            vec!["--interval-seconds", "0.01"],
            "0.01 is not from 0.05 to 3600",
        ),
        (
            vec!["--metrics", "ftp://h:1"],
            "the scheme must be http or https",
        ),
        (vec!["--once", "--iterations", "2"], "cannot be used with"),
    ] {
        let server = url(closed);
        let mut full = vec!["--server", server.as_str(), "top"];
        full.extend(args);
        let run = finish(command(&full)).await;
        assert_eq!(run.code, Some(2), "{run:#?}");
        assert!(run.stderr.contains(why), "{run:#?}");
    }
    // No control API.
    let run = finish(command(&[
        "--server",
        &url(closed),
        "--timeout-seconds",
        "2",
        "top",
        "--once",
        "--metrics",
        &url(closed),
    ]))
    .await;
    assert_eq!(run.code, Some(7), "{run:#?}");
    assert!(
        run.stderr.starts_with("msrpctl: top: cannot connect"),
        "{run:#?}"
    );
    assert!(run.stdout.is_empty(), "{run:#?}");

    // A control API, but no metrics port.
    let switch = Switch::start().await;
    let run = finish(command(&[
        "--server",
        &switch.server,
        "top",
        "--once",
        "--metrics",
        &url(closed),
    ]))
    .await;
    assert_eq!(run.code, Some(7), "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "is msrp-switch running at http://{closed}/metrics?"
        )),
        "{run:#?}"
    );
    // Something else on the port: a page that is not the switch's metrics, or
    // no page, is refused.
    for (path, why) in [
        ("/healthz", "line 1 is not a Prometheus sample: \"ok\""),
        ("/nowhere", "HTTP 404 Not Found; is http://"),
    ] {
        let metrics = format!("{}{path}", switch.metrics);
        let run = finish(command(&[
            "--server",
            &switch.server,
            "top",
            "--once",
            "--interval-seconds",
            "0.1",
            "--metrics",
            &metrics,
        ]))
        .await;
        assert_eq!(run.code, Some(1), "{run:#?}");
        assert!(
            run.stderr.starts_with(&format!(
                "msrpctl: top: cannot read the metrics at {metrics}: {why}"
            )),
            "{run:#?}"
        );
    }
}
