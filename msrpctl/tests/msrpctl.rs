//! msrpctl as operators run it: the binary as a subprocess, against nothing (usage,
//! help, connection refused) and against the real daemon service
//! (`msrp_switch::control::serve_control` on a real engine).
//!
//! Everything these tests check, they check in msrpctl's output.

use std::net::SocketAddr;
use std::process::Stdio;

use control_api::auth::Auth;
use control_api::port::PortLimits;
use msrp_test_support::{
    ControlServer, LIMIT, PATH_A as A, PATH_B as B, Pki, TempDir, TestEngine, sdp_offer as sdp,
    start_engine,
};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

const BIN: &str = env!("CARGO_BIN_EXE_msrpctl");

/// What one run printed and how it ended.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not one JSON document ({err}): {self:?}"))
    }

    #[track_caller]
    fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "{self:#?}");
        self
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
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Waits for `child` within [`LIMIT`], collecting its output; kills it if it overruns.
async fn finish(mut child: Child) -> Run {
    // A caller may have taken a stream to read it as it comes.
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out = tokio::spawn(async move {
        let mut text = String::new();
        if let Some(mut stdout) = stdout {
            let _ = stdout.read_to_string(&mut text).await;
        }
        text
    });
    let err = tokio::spawn(async move {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_string(&mut text).await;
        }
        text
    });
    let status = match timeout(LIMIT, child.wait()).await {
        Ok(status) => status.expect("wait for msrpctl"),
        Err(_) => {
            let _ = child.kill().await;
            panic!("msrpctl ran longer than {LIMIT:?}");
        }
    };
    Run {
        code: status.code(),
        stdout: out.await.expect("stdout reader"),
        stderr: err.await.expect("stderr reader"),
    }
}

async fn msrpctl(args: &[&str]) -> Run {
    finish(command(args).spawn().expect("spawn msrpctl")).await
}

async fn msrpctl_with_stdin(args: &[&str], input: &str) -> Run {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn msrpctl");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(input.as_bytes())
        .await
        .expect("write stdin");
    drop(stdin);
    finish(child).await
}

/// A port nothing listens on.
async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// A real engine and the control service; both stop when dropped.
struct Switch {
    // Dropped in this order: the control service stops, then the engine.
    _control: ControlServer,
    engine: TestEngine,
    /// The `--server` URL.
    server: String,
}

impl Switch {
    async fn start(token: Option<&str>) -> Self {
        let engine = start_engine(1, |_| {});
        let control = ControlServer::start(&engine, token).await;
        Self {
            server: control.url(),
            _control: control,
            engine,
        }
    }

    /// msrpctl against this switch.
    async fn ctl(&self, args: &[&str]) -> Run {
        let mut full = vec!["--server", self.server.as_str()];
        full.extend_from_slice(args);
        msrpctl(&full).await
    }

    async fn ctl_with_stdin(&self, args: &[&str], input: &str) -> Run {
        let mut full = vec!["--server", self.server.as_str()];
        full.extend_from_slice(args);
        msrpctl_with_stdin(&full, input).await
    }
}

/// A proto3 JSON bool: absent is false.
fn flag(value: &Value) -> bool {
    value.as_bool().unwrap_or(false)
}

/// A proto3 JSON uint64: a decimal string, absent is 0.
fn count(value: &Value) -> u64 {
    value.as_str().map_or(0, |text| text.parse().unwrap())
}

fn str_of<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {value:#}"))
}

#[tokio::test]
async fn help_lists_every_subcommand_and_the_exit_codes() {
    let run = msrpctl(&["--help"]).await;
    run.expect_code(0);
    for subcommand in [
        "create-session",
        "add-participant",
        "modify-participant",
        "commit-modification",
        "abort-modification",
        "remove-participant",
        "release-session",
        "get-session",
        "get-participant",
        "set-answer",
        "answer-from-both",
        "list-sessions",
        "stats",
        "watch",
        "trace",
        "top",
        "health",
    ] {
        assert!(
            run.stdout.contains(subcommand),
            "{subcommand} missing from --help:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("Exit codes:"), "{}", run.stdout);
    for line in [
        "0  ok",
        "2  usage",
        "3  NOT_FOUND",
        "4  INVALID_ARGUMENT",
        "5  FAILED_PRECONDITION",
        "6  UNAUTHENTICATED",
        "7  UNAVAILABLE",
        "1  any other failure",
    ] {
        assert!(
            run.stdout.contains(line),
            "{line:?} missing:\n{}",
            run.stdout
        );
    }
    for flag in [
        "--server",
        "--token",
        "--tls-ca",
        "--tls-cert",
        "--tls-key",
        "--json",
        "--timeout-seconds",
    ] {
        assert!(run.stdout.contains(flag), "{flag} missing");
    }
}

#[tokio::test]
async fn usage_errors_exit_2_before_any_connection() {
    // Unknown subcommand, missing required flags, two media sources, structured media
    // without accept-types, a bad enum value, a zero timeout.
    for args in [
        vec!["frobnicate"],
        vec![],
        vec!["get-session"],
        vec!["add-participant", "--session", "s"],
        vec![
            "add-participant",
            "--session",
            "s",
            "--sdp",
            "-",
            "--path",
            A,
            "--accept-types",
            "text/plain",
        ],
        vec!["add-participant", "--session", "s", "--path", A],
        vec!["create-session", "--kind", "one-to-many"],
        vec!["--timeout-seconds", "0", "stats"],
        vec!["watch", "--count", "many"],
    ] {
        let run = msrpctl(&args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {run:#?}");
        assert!(!run.stderr.is_empty(), "{args:?}: {run:#?}");
    }
    // An SDP file that cannot be read is a usage error too, found before connecting
    // (the server here does not exist).
    let closed = format!("http://{}", closed_port().await);
    let run = msrpctl(&[
        "--server",
        &closed,
        "add-participant",
        "--session",
        "s",
        "--sdp-file",
        "/nonexistent/offer.sdp",
    ])
    .await;
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("cannot read --sdp-file /nonexistent/offer.sdp"),
        "{run:#?}"
    );
    let run = msrpctl(&["--server", "http://bad host:1", "stats"]).await;
    run.expect_code(2);
    assert!(run.stderr.contains("invalid --server"), "{run:#?}");
}

#[tokio::test]
async fn no_switch_at_the_address_exits_7_and_says_so() {
    let server = format!("http://{}", closed_port().await);
    let run = msrpctl(&["--server", &server, "list-sessions"]).await;
    run.expect_code(7);
    assert!(
        run.stderr
            .starts_with("msrpctl: list sessions: cannot connect"),
        "{run:#?}"
    );
    assert!(
        run.stderr
            .contains(&format!("is msrp-switch running at {server}?")),
        "{run:#?}"
    );
    assert!(run.stdout.is_empty(), "{run:#?}");

    // The environment variable works as well as the flag, and a bare host:port too.
    let bare = server.trim_start_matches("http://").to_owned();
    let mut command = command(&["--json", "stats"]);
    command.env("MSRPCTL_SERVER", &bare);
    let run = finish(command.spawn().unwrap()).await;
    run.expect_code(7);
    let error = run.json();
    assert_eq!(error["error"]["code"], "UNAVAILABLE", "{error:#}");
    assert_eq!(error["error"]["exit_code"], 7, "{error:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_from_create_to_release() {
    let switch = Switch::start(None).await;
    let dir = TempDir::new("msrpctl-lifecycle");

    switch.ctl(&["health"]).await.expect_code(0);
    let run = switch.ctl(&["--json", "health"]).await;
    run.expect_code(0);
    assert_eq!(run.json()["status"], "SERVING");

    // Human output first: the id on a key: value line.
    let run = switch
        .ctl(&[
            "create-session",
            "--kind",
            "one-to-one",
            "--group-identity",
            "sip:chat@conf.example.net",
            "--accept-types",
            "text/plain message/cpim",
        ])
        .await;
    run.expect_code(0);
    assert!(run.stdout.starts_with("session_id: "), "{run:#?}");

    let run = switch
        .ctl(&[
            "--json",
            "create-session",
            "--kind",
            "one-to-one",
            "--accept-types",
            "text/plain",
        ])
        .await;
    run.expect_code(0);
    let session = str_of(&run.json(), "/sessionId").to_owned();

    // Alice from an SDP file, human output: id, local URI, the answer's lines.
    let offer_a = dir.file("a.sdp", &sdp(A, "text/plain"));
    let run = switch
        .ctl(&[
            "add-participant",
            "--session",
            &session,
            "--im-address",
            "sip:alice@example.com",
            "--sdp-file",
            &offer_a,
        ])
        .await;
    run.expect_code(0);
    let stdout = &run.stdout;
    assert!(stdout.starts_with("participant_id: "), "{stdout}");
    assert!(
        stdout.contains("local_uri:      msrp://127.0.0.1:"),
        "{stdout}"
    );
    assert!(stdout.contains("\nm=message "), "{stdout}");
    assert!(stdout.contains("\na=path:msrp://127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("\na=accept-types:text/plain"), "{stdout}");
    let alice = stdout
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("participant_id: "))
        .unwrap()
        .trim()
        .to_owned();

    // Bob from stdin, JSON output.
    let run = switch
        .ctl_with_stdin(
            &[
                "--json",
                "add-participant",
                "--session",
                &session,
                "--im-address",
                "sip:bob@example.com",
                "--sdp",
                "-",
            ],
            &sdp(B, "text/plain"),
        )
        .await;
    run.expect_code(0);
    let added = run.json();
    let bob = str_of(&added, "/participantId").to_owned();
    assert!(
        str_of(&added, "/local/sdp").contains("m=message "),
        "{added:#}"
    );
    assert_eq!(
        added["local"]["structured"]["acceptTypes"][0], "text/plain",
        "{added:#}"
    );
    assert_ne!(alice, bob);

    // get-session: both participants, as JSON and as a table.
    let run = switch
        .ctl(&["--json", "get-session", "--session", &session])
        .await;
    run.expect_code(0);
    let got = run.json();
    assert_eq!(str_of(&got, "/sessionId"), session);
    assert_eq!(got["kind"], "SESSION_KIND_ONE_TO_ONE");
    let participants = got["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 2, "{got:#}");
    let mut addresses: Vec<&str> = participants
        .iter()
        .map(|p| str_of(p, "/identity/imAddress"))
        .collect();
    addresses.sort_unstable();
    assert_eq!(addresses, ["sip:alice@example.com", "sip:bob@example.com"]);
    for participant in participants {
        // proto3 JSON leaves out false and 0.
        assert!(!flag(&participant["bound"]), "{got:#}");
        assert_eq!(count(&participant["counters"]["framesIn"]), 0, "{got:#}");
        assert!(!flag(&participant["modificationStaged"]), "{got:#}");
    }
    let run = switch.ctl(&["get-session", "--session", &session]).await;
    run.expect_code(0);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("participants:") && l.split_whitespace().nth(1) == Some("2")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("PARTICIPANT") && run.stdout.contains("BYTES OUT"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&alice) && run.stdout.contains("sip:bob@example.com"));

    // list-sessions and stats.
    let run = switch.ctl(&["--json", "list-sessions"]).await;
    run.expect_code(0);
    let listed = run.json();
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed:#}");
    assert!(
        sessions.iter().any(|s| s["sessionId"] == session.as_str()),
        "{listed:#}"
    );
    let run = switch.ctl(&["list-sessions"]).await;
    run.expect_code(0);
    assert!(run.stdout.starts_with("SESSION"), "{}", run.stdout);
    assert!(run.stdout.contains(&session), "{}", run.stdout);

    let run = switch.ctl(&["--json", "stats"]).await;
    run.expect_code(0);
    let stats = run.json();
    // uint64 is a string in proto3 JSON.
    assert_eq!(stats["sessions"], "2", "{stats:#}");
    assert_eq!(stats["participants"], "2", "{stats:#}");
    assert_eq!(stats["shards"], 1, "{stats:#}");
    let run = switch.ctl(&["stats"]).await;
    run.expect_code(0);
    assert!(run.stdout.contains("participants:    2"), "{}", run.stdout);

    // A staged modification (structured media) shows, then is aborted; committing
    // with nothing staged is a failed precondition.
    let run = switch
        .ctl(&[
            "--json",
            "modify-participant",
            "--participant",
            &bob,
            "--path",
            B,
            "--accept-types",
            "text/plain",
            "--setup",
            "active",
        ])
        .await;
    run.expect_code(0);
    assert_eq!(run.json()["staged"], true);
    let got = switch
        .ctl(&["--json", "get-session", "--session", &session])
        .await
        .json();
    assert!(
        got["participants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["participantId"] == bob.as_str() && p["modificationStaged"] == true),
        "{got:#}"
    );
    switch
        .ctl(&["abort-modification", "--participant", &bob])
        .await
        .expect_code(0);
    let run = switch
        .ctl(&["commit-modification", "--participant", &bob])
        .await;
    run.expect_code(5);
    assert!(run.stderr.contains("reason nothing_staged"), "{run:#?}");

    // Remove Bob while watching the session: the watcher sees the removal and stops
    // after --count 1.
    let mut watcher = command(&[
        "--server",
        &switch.server,
        "--json",
        "watch",
        "--session",
        &session,
        "--count",
        "1",
    ])
    .spawn()
    .unwrap();
    let mut watch_stderr = BufReader::new(watcher.stderr.take().unwrap()).lines();
    let cue = timeout(LIMIT, watch_stderr.next_line())
        .await
        .expect("watch subscribes in time")
        .unwrap()
        .unwrap_or_default();
    assert!(cue.contains("watching events"), "{cue}");
    let run = switch
        .ctl(&["--json", "remove-participant", "--participant", &bob])
        .await;
    run.expect_code(0);
    let removed = run.json();
    assert_eq!(count(&removed["counters"]["framesIn"]), 0, "{removed:#}");
    let watched = finish(watcher).await;
    watched.expect_code(0);
    let event = watched.json();
    assert!(event.get("participantRemoved").is_some(), "{event:#}");
    assert_eq!(str_of(&event, "/participantId"), bob);
    assert_eq!(str_of(&event, "/sessionId"), session);

    // Removing again: not found.
    let run = switch
        .ctl(&["remove-participant", "--participant", &bob])
        .await;
    run.expect_code(3);
    assert!(
        run.stderr
            .starts_with(&format!("msrpctl: remove participant {bob}: ")),
        "{run:#?}"
    );

    let got = switch
        .ctl(&["--json", "get-session", "--session", &session])
        .await
        .json();
    let participants = got["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 1, "{got:#}");
    assert_eq!(participants[0]["participantId"], alice.as_str());

    // Release: the remaining participant's final counters, then the session is gone.
    let run = switch
        .ctl(&["--json", "release-session", "--session", &session])
        .await;
    run.expect_code(0);
    let released = run.json();
    assert_eq!(released["participants"].as_array().unwrap().len(), 1);
    let run = switch.ctl(&["get-session", "--session", &session]).await;
    run.expect_code(3);
    assert!(
        run.stderr
            .starts_with(&format!("msrpctl: get session {session}: ")),
        "{run:#?}"
    );
    let run = switch
        .ctl(&["--json", "get-session", "--session", &session])
        .await;
    run.expect_code(3);
    assert_eq!(run.json()["error"]["code"], "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_unacceptable_media_exit_4_and_5_naming_the_field_or_reason() {
    let switch = Switch::start(None).await;
    let dir = TempDir::new("msrpctl-media");
    let run = switch
        .ctl(&[
            "--json",
            "create-session",
            "--kind",
            "one-to-one",
            "--accept-types",
            "text/plain",
        ])
        .await;
    run.expect_code(0);
    let session = str_of(&run.json(), "/sessionId").to_owned();

    // No m=message section: INVALID_ARGUMENT on remote.sdp.
    let no_media = dir.file(
        "audio.sdp",
        "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n",
    );
    let run = switch
        .ctl(&[
            "add-participant",
            "--session",
            &session,
            "--sdp-file",
            &no_media,
        ])
        .await;
    run.expect_code(4);
    assert!(
        run.stderr
            .starts_with(&format!("msrpctl: add participant to session {session}: ")),
        "{run:#?}"
    );
    assert!(run.stderr.contains("field remote.sdp"), "{run:#?}");
    let run = switch
        .ctl(&[
            "--json",
            "add-participant",
            "--session",
            &session,
            "--sdp-file",
            &no_media,
        ])
        .await;
    run.expect_code(4);
    let error = run.json();
    assert_eq!(error["error"]["code"], "INVALID_ARGUMENT", "{error:#}");
    assert_eq!(error["error"]["field"], "remote.sdp", "{error:#}");

    // Video into a text/plain session: not acceptable here (SIP 488).
    let video = dir.file("video.sdp", &sdp(A, "video/mp4"));
    let run = switch
        .ctl(&[
            "add-participant",
            "--session",
            &session,
            "--sdp-file",
            &video,
        ])
        .await;
    run.expect_code(5);
    assert!(
        run.stderr
            .contains("reason not_acceptable_here (answer SIP 488)"),
        "{run:#?}"
    );

    // A malformed id is an invalid argument too; a well-formed unknown one is not found.
    let run = switch.ctl(&["get-session", "--session", "nonsense"]).await;
    run.expect_code(4);
    assert!(run.stderr.contains("field session_id"), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_token_exits_6() {
    let switch = Switch::start(Some("s3cret")).await;
    let run = switch.ctl(&["--token", "wrong", "list-sessions"]).await;
    run.expect_code(6);
    assert!(run.stderr.contains("bad bearer token"), "{run:#?}");
    assert!(run.stderr.contains("check --token"), "{run:#?}");
    switch.ctl(&["list-sessions"]).await.expect_code(6);
    let run = switch.ctl(&["--token", "s3cret", "list-sessions"]).await;
    run.expect_code(0);
    assert_eq!(run.stdout, "(no sessions)\n");
    // The token from the environment.
    let mut command = command(&["--server", &switch.server, "--json", "list-sessions"]);
    command.env("MSRPCTL_TOKEN", "s3cret");
    let run = finish(command.spawn().unwrap()).await;
    run.expect_code(0);
    // No sessions: proto3 JSON leaves the empty list out.
    assert!(run.json().get("sessions").is_none(), "{}", run.stdout);
}

#[tokio::test]
async fn tls_options_name_the_missing_or_bad_file_and_exit_2_before_connecting() {
    let pki = Pki::new("msrpctl-tls-usage");
    let garbage = pki.dir.file("garbage.pem", "not PEM at all");
    // Nothing listens there: a usage error is found before any connection.
    let closed = format!("http://{}", closed_port().await);
    let good = pki.client_flags();
    /// The trusted client's flags with the value at `at` replaced.
    fn but<'a>(good: [&'a str; 6], at: usize, value: &'a str) -> Vec<&'a str> {
        let mut flags = good.to_vec();
        flags[at] = value;
        flags
    }
    for (flags, expected) in [
        (
            but(good, 1, "/nonexistent/ca.pem"),
            "--tls-ca /nonexistent/ca.pem: cannot read it: ".to_owned(),
        ),
        (
            but(good, 1, &garbage),
            format!("--tls-ca {garbage}: no PEM certificate (BEGIN CERTIFICATE) in it"),
        ),
        (
            but(good, 3, "/nonexistent/client.pem"),
            "--tls-cert /nonexistent/client.pem: cannot read it: ".to_owned(),
        ),
        (
            but(good, 5, "/nonexistent/client-key.pem"),
            "--tls-key /nonexistent/client-key.pem: cannot read it: ".to_owned(),
        ),
        (
            but(good, 5, &pki.stranger_key),
            format!("--tls-key {}: not the key of --tls-cert", pki.stranger_key),
        ),
        (
            good[..4].to_vec(),
            "--tls-cert and --tls-key go together".to_owned(),
        ),
        (
            good[2..].to_vec(),
            "--tls-cert needs TLS: give --tls-ca".to_owned(),
        ),
    ] {
        let args = [&["--server", closed.as_str()][..], &flags, &["stats"]].concat();
        let run = msrpctl(&args).await;
        run.expect_code(2);
        assert!(
            run.stderr
                .starts_with(&format!("msrpctl: get stats: {expected}")),
            "{args:?}: {run:#?}"
        );
    }
    let run = msrpctl(&["--server", "https://127.0.0.1:1", "stats"]).await;
    run.expect_code(2);
    assert!(
        run.stderr.starts_with(
            "msrpctl: get stats: --server https://127.0.0.1:1 needs --tls-ca (MSRPCTL_TLS_CA)"
        ),
        "{run:#?}"
    );

    // From the environment, named the same way.
    let mut command = command(&["--server", &closed, "--json", "stats"]);
    command.env("MSRPCTL_TLS_CA", "/nonexistent/env-ca.pem");
    let run = finish(command.spawn().unwrap()).await;
    run.expect_code(2);
    let error = run.json();
    assert_eq!(error["error"]["code"], "USAGE", "{error:#}");
    assert!(
        str_of(&error, "/error/message")
            .contains("--tls-ca /nonexistent/env-ca.pem: cannot read it"),
        "{error:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mtls_switch_is_reached_with_the_options_from_the_environment() {
    let pki = Pki::new("msrpctl-tls-env");
    let engine = start_engine(1, |_| {});
    let auth = pki.auth(Auth::none(), true);
    let control = ControlServer::start_with(&engine, auth, PortLimits::default()).await;
    let with_env = |cert: bool| {
        let mut command = command(&["list-sessions"]);
        command
            .env("MSRPCTL_SERVER", control.url())
            .env("MSRPCTL_TLS_CA", &pki.ca);
        if cert {
            command
                .env("MSRPCTL_TLS_CERT", &pki.client_cert)
                .env("MSRPCTL_TLS_KEY", &pki.client_key);
        }
        command
    };
    let run = finish(with_env(true).spawn().unwrap()).await;
    run.expect_code(0);
    assert_eq!(run.stdout, "(no sessions)\n");

    // No client certificate: refused by the switch, exit 6, and msrpctl says
    // which options to check.
    let run = finish(with_env(false).spawn().unwrap()).await;
    run.expect_code(6);
    assert!(
        run.stderr
            .starts_with("msrpctl: list sessions: the switch refused the client certificate: "),
        "{run:#?}"
    );
    assert!(run.stderr.contains("CertificateRequired"), "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_session_shows_its_policy_and_reads_back_as_a_group() {
    let switch = Switch::start(None).await;

    // Human output: the id, the kind and what the group allows.
    let run = switch
        .ctl(&[
            "create-session",
            "--kind",
            "group",
            "--group-identity",
            "sip:team@conf.example.net",
            "--private-messages",
            "--nicknames",
            "--slow-consumer",
            "pause",
        ])
        .await;
    run.expect_code(0);
    assert!(run.stdout.starts_with("session_id: "), "{run:#?}");
    for line in [
        "\nkind:             group\n",
        "\ngroup_identity:   sip:team@conf.example.net\n",
        "\nprivate_messages: yes\n",
        "\nnicknames:        yes\n",
        "\nslow_consumer:    pause\n",
    ] {
        assert!(run.stdout.contains(line), "{line:?} missing: {run:#?}");
    }

    // JSON: the policy by its proto field names.
    let run = switch
        .ctl(&[
            "--json",
            "create-session",
            "--kind",
            "group",
            "--group-identity",
            "sip:team@conf.example.net",
            "--nicknames",
            "--slow-consumer",
            "drop",
        ])
        .await;
    run.expect_code(0);
    let created = run.json();
    let session = str_of(&created, "/sessionId").to_owned();
    // The reply is CreateSessionResponse, as grpcurl prints it: the id alone.
    assert_eq!(created.as_object().map(|o| o.len()), Some(1), "{created:#}");

    // get-session and list-sessions say it is a group, with its identity.
    let got = switch
        .ctl(&["--json", "get-session", "--session", &session])
        .await;
    got.expect_code(0);
    let got = got.json();
    assert_eq!(got["kind"], "SESSION_KIND_GROUP", "{got:#}");
    assert_eq!(str_of(&got, "/groupIdentity"), "sip:team@conf.example.net");
    // ... and its policy, as the switch holds it.
    assert_eq!(got["policy"]["nicknames"], true, "{got:#}");
    // SLOW_CONSUMER_DROP is the enum's zero: proto3 JSON leaves it out.
    assert!(got["policy"].get("slowConsumer").is_none(), "{got:#}");
    assert!(got["policy"].get("privateMessages").is_none(), "{got:#}");
    let run = switch.ctl(&["get-session", "--session", &session]).await;
    run.expect_code(0);
    assert!(
        run.stdout.contains("\nkind:             group\n"),
        "{run:#?}"
    );
    assert!(
        run.stdout
            .contains("\ngroup_identity:   sip:team@conf.example.net\n"),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains("\nslow_consumer:    drop\n"),
        "{run:#?}"
    );
    let run = switch.ctl(&["list-sessions"]).await;
    run.expect_code(0);
    let row = run
        .stdout
        .lines()
        .find(|line| line.starts_with(&format!("{session} ")))
        .unwrap_or_else(|| panic!("no row for {session}: {run:#?}"));
    assert!(
        row.contains(" group ") && row.ends_with("sip:team@conf.example.net"),
        "{row}"
    );

    // Group options on a 1:1 session are a usage error, found before connecting.
    let closed = format!("http://{}", closed_port().await);
    let run = msrpctl(&[
        "--server",
        &closed,
        "create-session",
        "--kind",
        "one-to-one",
        "--nicknames",
    ])
    .await;
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("--nicknames applies to group sessions only (--kind group)"),
        "{run:#?}"
    );
    let run = msrpctl(&[
        "create-session",
        "--kind",
        "group",
        "--slow-consumer",
        "never",
    ])
    .await;
    run.expect_code(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_without_its_identity_exits_4_naming_group_identity() {
    let switch = Switch::start(None).await;
    let run = switch
        .ctl(&["create-session", "--kind", "group", "--nicknames"])
        .await;
    run.expect_code(4);
    assert!(
        run.stderr.starts_with("msrpctl: create session: "),
        "{run:#?}"
    );
    assert!(run.stderr.contains("field group_identity"), "{run:#?}");
    assert!(
        run.stderr
            .contains("a group session needs its group identity"),
        "{run:#?}"
    );
    let run = switch
        .ctl(&[
            "--json",
            "create-session",
            "--kind",
            "group",
            "--group-identity",
            "  ",
        ])
        .await;
    run.expect_code(4);
    let error = run.json();
    assert_eq!(error["error"]["code"], "INVALID_ARGUMENT", "{error:#}");
    assert_eq!(error["error"]["field"], "group_identity", "{error:#}");
    // Nothing was created.
    let run = switch.ctl(&["--json", "list-sessions"]).await;
    run.expect_code(0);
    // No sessions: proto3 JSON leaves the empty list out.
    assert!(run.json().get("sessions").is_none(), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_participants_get_the_chatroom_tokens_in_their_answer() {
    let switch = Switch::start(None).await;
    let run = switch
        .ctl(&[
            "--json",
            "create-session",
            "--kind",
            "group",
            "--group-identity",
            "sip:team@conf.example.net",
            "--nicknames",
            "--private-messages",
            "--accept-types",
            "message/cpim",
            "--accept-wrapped-types",
            "text/plain",
        ])
        .await;
    run.expect_code(0);
    let session = str_of(&run.json(), "/sessionId").to_owned();

    // Three participants: more than a 1:1 session takes.
    let paths = [
        "msrp://127.0.0.1:40001/aaaa1111;tcp",
        "msrp://127.0.0.1:40002/bbbb2222;tcp",
        "msrp://127.0.0.1:40003/cccc3333;tcp",
    ];
    for (i, path) in paths.into_iter().enumerate() {
        let im_address = format!("sip:member{i}@example.com");
        let run = switch
            .ctl_with_stdin(
                &[
                    "--json",
                    "add-participant",
                    "--session",
                    &session,
                    "--im-address",
                    &im_address,
                    "--sdp",
                    "-",
                ],
                &sdp(path, "message/cpim"),
            )
            .await;
        run.expect_code(0);
        let added = run.json();
        let answer = str_of(&added, "/local/sdp");
        assert!(
            answer.contains("\r\na=chatroom:nickname private-messages\r\n"),
            "{added:#}"
        );
        assert_eq!(
            added["local"]["structured"]["chatroom"],
            serde_json::json!(["nickname", "private-messages"]),
            "{added:#}"
        );
    }

    // The human output prints the same line for the SDP answer.
    let run = switch
        .ctl(&[
            "add-participant",
            "--session",
            &session,
            "--im-address",
            "sip:member3@example.com",
            "--path",
            "msrp://127.0.0.1:40004/dddd4444;tcp",
            "--accept-types",
            "message/cpim",
        ])
        .await;
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("\na=chatroom:nickname private-messages\n"),
        "{run:#?}"
    );
    let got = switch
        .ctl(&["--json", "get-session", "--session", &session])
        .await
        .json();
    assert_eq!(got["participants"].as_array().map(Vec::len), Some(4));

    // A 1:1 session is no chat room: no a=chatroom in its answers.
    let run = switch
        .ctl(&["--json", "create-session", "--kind", "one-to-one"])
        .await;
    run.expect_code(0);
    let one_to_one = str_of(&run.json(), "/sessionId").to_owned();
    let run = switch
        .ctl(&[
            "--json",
            "add-participant",
            "--session",
            &one_to_one,
            "--path",
            A,
            "--accept-types",
            "text/plain",
        ])
        .await;
    run.expect_code(0);
    let added = run.json();
    assert!(
        !str_of(&added, "/local/sdp").contains("a=chatroom"),
        "{added:#}"
    );
    assert!(
        added["local"]["structured"].get("chatroom").is_none(),
        "{added:#}"
    );
}

/// The IM Server's offer from the command line: the switch offers, the answer is
/// set from an SDP file, the answer to the other leg comes from both, and the
/// participant is found by its URI and the session by its tag.
#[tokio::test]
async fn an_offer_first_session_from_the_command_line() {
    let switch = Switch::start(None).await;
    let dir = TempDir::new("msrpctl-offer");
    let run = switch
        .ctl(&[
            "--json",
            "create-session",
            "--kind",
            "one-to-one",
            "--accept-types",
            "text/plain image/png",
            "--tag",
            "call-7@example.net",
        ])
        .await;
    run.expect_code(0);
    let session = str_of(&run.json(), "/sessionId").to_owned();
    let offer_a = dir.file("a.sdp", &sdp(A, "image/png text/plain text/html"));
    let run = switch
        .ctl(&[
            "--json",
            "add-participant",
            "--session",
            &session,
            "--sdp-file",
            &offer_a,
        ])
        .await;
    run.expect_code(0);
    let a = str_of(&run.json(), "/participantId").to_owned();

    // The offer to B, forwarding A's types: human output shows it pending.
    let run = switch
        .ctl(&[
            "add-participant",
            "--session",
            &session,
            "--offer",
            "--offer-from",
            &a,
            "--tag",
            "b-leg",
        ])
        .await;
    run.expect_code(0);
    assert!(run.stdout.contains("a=setup:actpass"), "{}", run.stdout);
    assert!(
        run.stdout.contains("a=accept-types:image/png text/plain"),
        "{}",
        run.stdout
    );
    let field = |name: &str| {
        run.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in {}", run.stdout))
    };
    assert_eq!(field("pending"), "yes");
    let (b, b_uri) = (field("participant_id"), field("local_uri"));

    let answer_b = dir.file("b.sdp", &sdp(B, "text/plain"));
    let run = switch
        .ctl(&["set-answer", "--participant", &b, "--sdp-file", &answer_b])
        .await;
    run.expect_code(0);
    let run = switch
        .ctl(&[
            "--json",
            "answer-from-both",
            "--participant",
            &a,
            "--answer-with",
            &b,
        ])
        .await;
    run.expect_code(0);
    assert_eq!(
        run.json()["local"]["structured"]["acceptTypes"],
        serde_json::json!(["text/plain"]),
        "{}",
        run.stdout
    );
    let run = switch
        .ctl(&["--json", "get-participant", "--local-uri", &b_uri])
        .await;
    run.expect_code(0);
    let got = run.json();
    assert_eq!(got["participantId"], b.as_str());
    assert!(!flag(&got["pending"]));
    assert_eq!(got["correlationTag"], "b-leg");
    let run = switch
        .ctl(&["--json", "list-sessions", "--tag", "call-7@example.net"])
        .await;
    run.expect_code(0);
    let listed = run.json();
    assert_eq!(listed["sessions"][0]["sessionId"], session.as_str());
    assert!(listed.get("nextPageToken").is_none(), "{listed:#}");
    // A second answer: FAILED_PRECONDITION, exit 5.
    let run = switch
        .ctl(&["set-answer", "--participant", &b, "--sdp-file", &answer_b])
        .await;
    run.expect_code(5);

    // The IM Server's own modification of B: the switch's offer, staged, then the
    // 200 OK's answer at commit.
    let run = switch
        .ctl(&[
            "--json",
            "modify-participant",
            "--participant",
            &b,
            "--offer",
        ])
        .await;
    run.expect_code(0);
    assert_eq!(run.json()["staged"], true, "{}", run.stdout);
    let run = switch
        .ctl(&["commit-modification", "--participant", &b])
        .await;
    run.expect_code(4);
    let run = switch
        .ctl(&[
            "--json",
            "commit-modification",
            "--participant",
            &b,
            "--answer-sdp-file",
            &answer_b,
        ])
        .await;
    run.expect_code(0);
    assert!(run.json().get("staged").is_none(), "{}", run.stdout);
}

/// The README's msrpctl B2BUA block runs as written, with `ctl` pointed at this
/// test's switch and binary instead of `cargo run` against the default address.
#[tokio::test]
async fn the_readme_b2bua_block_runs_as_written() {
    const README: &str = include_str!("../../README.md");
    let start = README
        .find("The offer/answer of a B2BUA with msrpctl")
        .expect("the block's heading");
    let rest = &README[start..];
    let open = rest.find("```sh\n").unwrap() + 6;
    let close = rest[open..].find("```").unwrap() + open;
    let block = &rest[open..close];
    let as_written = r#"ctl() { cargo run -q -p msrpctl -- "$@"; }"#;
    assert!(block.contains(as_written), "{block}");
    let switch = Switch::start(None).await;
    let script = block.replace(
        as_written,
        &format!(r#"ctl() {{ {BIN} --server {} "$@"; }}"#, switch.server),
    );
    let dir = TempDir::new("msrpctl-readme");
    let out = timeout(
        LIMIT,
        tokio::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(dir.path())
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("a=setup:actpass"), "{stdout}");
    // answer-from-both: A's answer carries only what B accepts.
    assert!(stdout.contains("a=accept-types:text/plain\n"), "{stdout}");
    assert!(
        stdout.contains("one-to-one"),
        "the listing by tag: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_prints_a_session_s_frames_as_they_pass_and_stops_the_capture() {
    use msrp_test_support::bound_one_to_one;
    let switch = Switch::start(None).await;
    let (pa, _, mut a, mut b) = bound_one_to_one(
        &switch.engine,
        "msrp://127.0.0.1:43301/trace001;tcp",
        "msrp://127.0.0.1:43302/trace002;tcp",
    )
    .await;
    let session = pa.session.to_string();
    let mut tracer = command(&[
        "--server",
        &switch.server,
        "trace",
        "--session",
        &session,
        "--count",
        "4",
    ])
    .spawn()
    .unwrap();
    let mut trace_stderr = BufReader::new(tracer.stderr.take().unwrap()).lines();
    let cue = timeout(LIMIT, trace_stderr.next_line())
        .await
        .expect("trace starts in time")
        .unwrap()
        .unwrap_or_default();
    assert!(cue.contains("tracing session"), "{cue}");
    a.send_message("traced01", b"seen by the operator").await;
    let frame = b.read_frame().await;
    b.answer(&frame, "200 OK").await;
    let traced = finish(tracer).await;
    traced.expect_code(0);
    let out = &traced.stdout;
    assert_eq!(out.matches(" SEND\r\n").count(), 2, "{out}");
    assert_eq!(out.matches(" 200 OK\r\n").count(), 2, "{out}");
    assert!(out.contains("seen by the operator"), "{out}");
    assert_eq!(out.matches(" received 127.0.0.1:").count(), 2, "{out}");
    assert_eq!(out.matches(" sent 127.0.0.1:").count(), 2, "{out}");
    // The capture was stopped: a frame now reaches no watcher.
    let mut watcher = switch.engine.watch_capture();
    a.send_message("traced02", b"after").await;
    let frame = b.read_frame().await;
    b.answer(&frame, "200 OK").await;
    assert!(
        timeout(std::time::Duration::from_millis(300), watcher.recv())
            .await
            .is_err(),
        "nothing captured after trace ended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn place_picks_the_same_node_for_a_tag_and_skips_draining_and_silent_ones() {
    let one = Switch::start(None).await;
    let two = Switch::start(None).await;
    let silent = format!("http://{}", closed_port().await);
    let place = |tag: &str, nodes: &[&str]| {
        let mut args = vec!["--json", "--timeout-seconds", "2", "place", "--tag"];
        args.push(tag);
        for node in nodes {
            args.push("--node");
            args.push(node);
        }
        args.iter()
            .map(|a| (*a).to_owned())
            .collect::<Vec<String>>()
    };
    let run = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        msrpctl(&args).await
    };
    let nodes = [one.server.as_str(), two.server.as_str(), silent.as_str()];
    // Tags until each live node has been chosen: the silent one never is.
    let mut chosen = std::collections::BTreeMap::new();
    for i in 0..40 {
        let tag = format!("call-{i}@example.net");
        let placed = run(place(&tag, &nodes)).await;
        placed.expect_code(0);
        let json = placed.json();
        let node = json["node"].as_str().unwrap().to_owned();
        assert_ne!(node, silent, "{json:#}");
        let states: Vec<&str> = json["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["serving", "serving", "down"], "{json:#}");
        // The same tag, the same node.
        let again = run(place(&tag, &nodes)).await.json();
        assert_eq!(again["node"], json["node"]);
        chosen.entry(node).or_insert(tag);
    }
    assert_eq!(chosen.len(), 2, "both live nodes take tags: {chosen:?}");
    // Node one drains: its tag goes to node two now.
    let tag_on_one = chosen[&one.server].clone();
    one.ctl(&["drain", "--deadline-seconds", "30"])
        .await
        .expect_code(0);
    let placed = run(place(&tag_on_one, &nodes)).await;
    placed.expect_code(0);
    let json = placed.json();
    assert_eq!(json["node"], two.server.as_str(), "{json:#}");
    assert_eq!(json["nodes"][0]["state"], "draining", "{json:#}");
    // Human output names the node and ranks the others.
    let text = msrpctl(&[
        "place",
        "--tag",
        &tag_on_one,
        "--node",
        &one.server,
        "--node",
        &two.server,
    ])
    .await;
    text.expect_code(0);
    assert!(
        text.stdout.starts_with(&format!("node: {}\n", two.server)),
        "{text:#?}"
    );
    // No node at all takes sessions: UNAVAILABLE, exit 7.
    let none = msrpctl(&["place", "--tag", "x", "--node", &silent]).await;
    none.expect_code(7);
}
