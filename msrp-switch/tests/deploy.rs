//! `deploy/` checked by the tools that run it, against the real daemon:
//!
//! - `deploy/container.rs`: `deploy/Containerfile` built with podman (or
//!   buildah) from static binaries; the image's entrypoint, user, ports and
//!   files, and the daemon started from the image's root file system.
//! - `deploy/systemd.rs`: the daemon's sd_notify datagrams (READY, WATCHDOG,
//!   RELOADING, STOPPING) on a Unix socket of the test's; the unit file
//!   through `systemd-analyze verify` and `systemd-analyze security`.
//! - `deploy/kubernetes.rs`: the manifests against the Kubernetes schemas
//!   (`kubernetes-validate`), the kustomization, the ServiceMonitor against
//!   the Service, and the ConfigMap's TOML read by the daemon.
//! - `deploy/observability.rs`: `promtool check` and `promtool test rules`
//!   on the alert rules, and every metric the rules and the Grafana dashboard
//!   name found in a real scrape of the daemon.
//! - `deploy/release.rs`: release notes cut from CHANGELOG.md.
//!
//! `.ci/run` installs the tools (podman, systemd, prometheus, and
//! kubernetes-validate from PyPI); a test whose tool is missing, or cannot
//! work in the sandbox, prints `SKIPPED` with the reason and passes, after
//! checking what it can without it.

#[path = "deploy/container.rs"]
mod container;
#[path = "deploy/kubernetes.rs"]
mod kubernetes;
#[path = "deploy/observability.rs"]
mod observability;
#[path = "deploy/release.rs"]
mod release;
#[path = "deploy/systemd.rs"]
mod systemd;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use msrp_test_support::LIMIT;
use msrp_test_support::daemon::{Daemon, scrape};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// The daemon under test.
const BIN: &str = env!("CARGO_BIN_EXE_msrp-switch");

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("msrp-switch/ sits in the repository")
        .to_path_buf()
}

/// A file of the repository, as text.
fn read(path: &str) -> String {
    let path = repo().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// `name` on PATH, or in the sbin directories a non-root PATH may lack.
fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Says why a check did not run, in the words the other tests use.
fn skipped(what: &str, why: &str) {
    eprintln!("SKIPPED: {what}: {why}");
}

/// Runs `command` to its end; its output, whatever its exit status.
fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"))
}

/// Panics with the command's output unless it exited 0; returns its stdout.
fn succeed(command: &mut Command) -> String {
    let output = run(command);
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every setting's environment variable (`MSRP_SWITCH_*`), as the daemon's
/// `--help` names them.
fn setting_variables() -> BTreeSet<String> {
    let help = succeed(Command::new(BIN).arg("--help"));
    let names = msrp_switch_names(&help, "MSRP_SWITCH_");
    assert!(names.contains("MSRP_SWITCH_LISTEN"), "{help}");
    names
}

/// The distinct words of `text` that start with `prefix` (letters, digits
/// and `_`), such as metric names or environment variables.
fn msrp_switch_names(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        let word: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + word.len().max(prefix.len())..];
        // Part of a longer word (FOO_MSRP_SWITCH_X) is not a name, nor is
        // the prefix alone (`MSRP_SWITCH_*`).
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') || word == prefix {
            continue;
        }
        names.insert(word);
    }
    names
}

/// The sample names of a real scrape of the daemon's `/metrics` (counters
/// with `_total`, as Prometheus stores them).
async fn exported_metrics() -> BTreeSet<String> {
    let daemon = Daemon::spawn(BIN, &[]).await;
    let text = scrape(&daemon.metrics.to_string()).await;
    let body = text.split_once("\r\n\r\n").map_or(&*text, |(_, body)| body);
    assert!(body.trim_end().ends_with("# EOF"), "{text}");
    let names: BTreeSet<String> = body
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect();
    assert!(names.contains("msrp_switch_connections"), "{body}");
    names
}

/// The body of `GET path` on the HTTP port at `addr`, if it answered 200.
async fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let mut http = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    http.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    timeout(LIMIT, http.read_to_string(&mut text))
        .await
        .map_err(|_| "no answer in time".to_owned())?
        .map_err(|e| e.to_string())?;
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_owned()),
        _ => Err(text),
    }
}

#[test]
fn every_msrp_switch_variable_in_deploy_is_a_setting() {
    // The daemon ignores an MSRP_SWITCH_* variable that is no setting, so a
    // misspelt one in a unit, an image or a manifest would go unnoticed.
    // (deploy/kamailio/'s MSRP_SWITCH_* are Kamailio defines.)
    let settings = setting_variables();
    let mut files = vec![repo().join("deploy")];
    let mut checked = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            if !path.ends_with("kamailio") {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            }
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for name in msrp_switch_names(&text, "MSRP_SWITCH_") {
            assert!(
                settings.contains(&name),
                "{}: {name} is not a setting",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked}");
}

#[test]
fn names_are_whole_words() {
    let names = msrp_switch_names(
        "rate(msrp_switch_a_total[5m]) / x_msrp_switch_b + msrp_switch_c{k=\"v\"}",
        "msrp_switch_",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["msrp_switch_a_total", "msrp_switch_c"]
    );
}
