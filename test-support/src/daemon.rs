//! The daemon binary on ephemeral loopback ports, for tests of what only the
//! process shows: signals, exit, log lines. The binary's path comes from the
//! calling test (`env!("CARGO_BIN_EXE_msrp-switch")`).

use std::net::SocketAddr;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout};
use tokio::time::timeout;

use crate::LIMIT;

/// The flags that put the MSRP, MSRP over TLS and metrics ports on ephemeral
/// loopback ports (the control API's is the caller's).
pub const EPHEMERAL_PORTS: [&str; 6] = [
    "--listen",
    "127.0.0.1:0",
    "--tls-listen",
    "127.0.0.1:0",
    "--metrics-listen",
    "127.0.0.1:0",
];

/// A running daemon, its log lines and the addresses its first line names.
pub struct Daemon {
    /// The process (killed when dropped).
    pub child: Child,
    /// Its standard output, line by line.
    pub log: Lines<BufReader<ChildStdout>>,
    /// Where it accepts MSRP.
    pub msrp: SocketAddr,
    /// The control API's URL (`http://127.0.0.1:<port>`).
    pub control: String,
    /// Where it accepts MSRP over TLS (`None`: `tls=off`).
    pub tls: Option<SocketAddr>,
    /// Where it serves `/metrics`.
    pub metrics: SocketAddr,
    /// Where it accepts MSRP over WebSocket (`None`: no `--ws-listen`).
    pub ws: Option<SocketAddr>,
}

impl Daemon {
    /// Starts `binary` with one shard on ephemeral loopback ports, text logs at
    /// `info` on stdout, and `extra` flags; waits for its first log line.
    pub async fn spawn(binary: &str, extra: &[&str]) -> Daemon {
        Self::spawn_with_env(binary, extra, &[]).await
    }

    /// [`Daemon::spawn`] with `env` added to the process's environment (say,
    /// systemd's `NOTIFY_SOCKET`).
    pub async fn spawn_with_env(binary: &str, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut command = tokio::process::Command::new(binary);
        command
            .args(EPHEMERAL_PORTS)
            .args(["--control-listen", "127.0.0.1:0", "--shards", "1"])
            .args(extra)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied());
        Self::start(command).await
    }

    /// Starts `command`, a daemon whose first log line (text, on stdout) names
    /// its addresses, as [`Daemon::spawn`]'s does (say, the daemon in an
    /// image's root file system, under `chroot`); waits for that line.
    pub async fn start(command: tokio::process::Command) -> Daemon {
        Self::try_start(command)
            .await
            .unwrap_or_else(|why| panic!("{why}"))
    }

    /// [`Daemon::start`], or why the daemon did not start: its output ended
    /// before its first line (it stopped: a port given to it was taken, a
    /// bad flag), or that line named no addresses.
    pub async fn try_start(mut command: tokio::process::Command) -> Result<Daemon, String> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| format!("cannot start {command:?}: {err}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut log = BufReader::new(stdout).lines();
        let line = match timeout(LIMIT, log.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => return Err("the daemon stopped before its first log line".into()),
            Ok(Err(err)) => return Err(format!("reading the daemon's log: {err}")),
            Err(_) => return Err("no log line from the daemon in time".into()),
        };
        let after = |marker: &str| -> Result<String, String> {
            let at = line
                .find(marker)
                .ok_or_else(|| format!("no {marker:?} in {line:?}"))?;
            let rest = &line[at + marker.len()..];
            Ok(rest[..rest.find([' ', ',']).unwrap_or(rest.len())].to_owned())
        };
        let address = |marker: &str| -> Result<SocketAddr, String> {
            let text = after(marker)?;
            let text = text.trim_end_matches("/metrics");
            text.parse()
                .map_err(|err| format!("{marker}{text} in {line:?}: {err}"))
        };
        Ok(Daemon {
            msrp: address("listening for MSRP on ")?,
            control: format!("http://{}", after("control API on ")?),
            tls: after("tls=")?.parse().ok(),
            ws: after(" ws=")?.parse().ok(),
            metrics: address("metrics on http://")?,
            child,
            log,
        })
    }

    /// The value of one series of its `/metrics` (name and labels as rendered).
    pub async fn metric(&self, series: &str) -> i64 {
        let text = scrape(&self.metrics.to_string()).await;
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in {text}"))
    }

    /// The log lines until the process closes its output (it exited), or
    /// [`LIMIT`] without a line.
    pub async fn rest_of_log(&mut self) -> String {
        let mut log = String::new();
        while let Ok(Ok(Some(line))) = timeout(LIMIT, self.log.next_line()).await {
            log.push_str(&line);
            log.push('\n');
        }
        log
    }

    /// Reads log lines until one contains `needle`; returns it. Panics after
    /// [`LIMIT`] or when the log ends first.
    pub async fn log_line_with(&mut self, needle: &str) -> String {
        timeout(LIMIT, async {
            while let Some(line) = self.log.next_line().await.unwrap() {
                if line.contains(needle) {
                    return line;
                }
            }
            panic!("the log ended without {needle:?}");
        })
        .await
        .unwrap_or_else(|_| panic!("no log line with {needle:?} in time"))
    }
}

/// The whole HTTP response of `GET /metrics` at `metrics_addr` (`ip:port`).
pub async fn scrape(metrics_addr: &str) -> String {
    let mut http = TcpStream::connect(metrics_addr).await.unwrap();
    http.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    timeout(LIMIT, http.read_to_string(&mut text))
        .await
        .unwrap()
        .unwrap();
    text
}
