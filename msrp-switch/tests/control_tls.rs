//! The control API over TLS with client certificates (mTLS): the daemon's
//! control service on 127.0.0.1:0 with a server certificate from a test CA made
//! by rcgen, real TCP and real rustls handshakes, and msrpctl (its library, as
//! the binary runs it) as the client; then the daemon binary itself, with the
//! flags.

use std::time::{Duration, Instant};

use clap::Parser;
use control_api::auth::Auth;
use control_api::pb;
use control_api::pb::switch_control_client::SwitchControlClient;
use control_api::port::PortLimits;
use control_api::tls::{ClientTlsFiles, PemFile};
use msrp_test_support::daemon::{Daemon, EPHEMERAL_PORTS};
use msrp_test_support::{ControlServer, LIMIT, Pki, TestEngine, start_engine};
use msrpctl::{Cli, Failure, exit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tonic::transport::{Channel, Endpoint};

/// The control port's first-bytes (and handshake) timeout in these tests: long
/// enough for a debug-build mTLS call to finish well within it.
const HANDSHAKE: Duration = Duration::from_millis(1500);

const DAEMON: &str = env!("CARGO_BIN_EXE_msrp-switch");

/// A switch whose control API requires client certificates from the test CA.
struct Rig {
    pki: Pki,
    control: ControlServer,
    _engine: TestEngine,
}

impl Rig {
    /// mTLS, and `token` as well if given.
    async fn start(name: &str, token: Option<&str>) -> Rig {
        let pki = Pki::new(name);
        let engine = start_engine(1, |_| {});
        let auth = pki.auth(token.map_or_else(Auth::none, Auth::bearer), true);
        let limits = PortLimits {
            first_bytes_timeout: HANDSHAKE,
            ..PortLimits::default()
        };
        let control = ControlServer::start_with(&engine, auth, limits).await;
        Rig {
            pki,
            control,
            _engine: engine,
        }
    }

    /// msrpctl against this switch, trusting the test CA, with `identity`
    /// (certificate, key) if given, then `args`.
    async fn ctl(&self, identity: Option<(&str, &str)>, args: &[&str]) -> Result<String, Failure> {
        let url = self.control.url();
        let mut full = vec!["--server", url.as_str(), "--tls-ca", self.pki.ca.as_str()];
        if let Some((cert, key)) = identity {
            full.extend(["--tls-cert", cert, "--tls-key", key]);
        }
        full.extend_from_slice(args);
        ctl(&full).await
    }

    /// The client certificate the switch trusts.
    fn client(&self) -> Option<(&str, &str)> {
        Some((&self.pki.client_cert, &self.pki.client_key))
    }

    /// A tonic client with the trusted client certificate, on a connection of
    /// its own.
    async fn grpc_client(&self) -> SwitchControlClient<Channel> {
        let files = ClientTlsFiles {
            ca: PemFile::new("--tls-ca", &self.pki.ca),
            identity: Some((
                PemFile::new("--tls-cert", &self.pki.client_cert),
                PemFile::new("--tls-key", &self.pki.client_key),
            )),
        };
        let endpoint = Endpoint::from_shared(self.control.url())
            .unwrap()
            .tls_config(files.load().unwrap())
            .unwrap();
        let channel = timeout(LIMIT, endpoint.connect()).await.unwrap().unwrap();
        SwitchControlClient::new(channel)
    }
}

/// msrpctl (the library the binary calls) with `args`, within [`LIMIT`]: its
/// stdout, or the failure it would print and exit with.
async fn ctl(args: &[&str]) -> Result<String, Failure> {
    let cli = Cli::try_parse_from(std::iter::once("msrpctl").chain(args.iter().copied()))
        .unwrap_or_else(|err| panic!("{args:?}: {err}"));
    let mut out = Vec::new();
    timeout(LIMIT, msrpctl::run(&cli, &mut out))
        .await
        .expect("msrpctl finished in time")?;
    Ok(String::from_utf8(out).unwrap())
}

/// The failure of a call the switch must refuse.
#[track_caller]
fn refused(result: Result<String, Failure>) -> Failure {
    match result {
        Ok(out) => panic!("the call succeeded: {out}"),
        Err(failure) => failure,
    }
}

/// Reads until the peer closes (or resets) the connection, within [`LIMIT`];
/// returns what it sent before.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match timeout(LIMIT, stream.read(&mut buf))
            .await
            .expect("the switch closed the connection in time")
        {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_client_certificate_from_the_ca_creates_and_lists_sessions() {
    let rig = Rig::start("control-tls-ok", None).await;
    assert!(rig.control.url().starts_with("https://"));
    let created = rig
        .ctl(
            rig.client(),
            &[
                "create-session",
                "--kind",
                "one-to-one",
                "--tag",
                "call-7@example.net",
            ],
        )
        .await
        .unwrap();
    // `session_id: <id>`, as the README's scripts read it.
    let session = created
        .lines()
        .find_map(|line| line.strip_prefix("session_id:"))
        .unwrap_or_else(|| panic!("no session_id in {created}"))
        .trim()
        .to_owned();
    assert!(!session.is_empty(), "{created}");

    let listed = rig
        .ctl(
            rig.client(),
            &["list-sessions", "--tag", "call-7@example.net"],
        )
        .await
        .unwrap();
    assert!(listed.contains(&session), "{session} not in {listed}");

    // A bare host:port with --tls-ca is TLS too.
    let host_port = rig.control.addr().to_string();
    let stats = ctl(&[
        &["--server", host_port.as_str()][..],
        &rig.pki.client_flags(),
        &["--json", "stats"],
    ]
    .concat())
    .await
    .unwrap();
    assert!(stats.contains("\"sessions\": \"1\""), "{stats}");
}

#[tokio::test]
async fn no_client_certificate_or_one_from_another_ca_is_refused_and_others_go_on() {
    let rig = Rig::start("control-tls-refused", None).await;
    // A client already connected, before the failed handshakes.
    let mut client = rig.grpc_client().await;
    client.stats(pb::StatsRequest {}).await.unwrap();

    let anonymous = refused(rig.ctl(None, &["stats"]).await);
    let stranger = refused(
        rig.ctl(
            Some((&rig.pki.stranger_cert, &rig.pki.stranger_key)),
            &["stats"],
        )
        .await,
    );
    for failure in [&anonymous, &stranger] {
        // A clean failure: the switch said why in the TLS alert it sent, and
        // msrpctl exits as for a bad token.
        assert_eq!(failure.exit_code(), exit::AUTH, "{}", failure.message());
        assert!(
            failure
                .message()
                .starts_with("msrpctl: get stats: the switch refused the client certificate: ")
                && failure.message().ends_with(
                    "check --tls-cert and --tls-key (MSRPCTL_TLS_CERT, MSRPCTL_TLS_KEY)"
                ),
            "{}",
            failure.message()
        );
    }
    assert!(
        anonymous.message().contains("CertificateRequired"),
        "{}",
        anonymous.message()
    );
    assert!(
        stranger.message().contains("UnknownCA"),
        "{}",
        stranger.message()
    );

    // msrpctl refuses a switch whose certificate its --tls-ca did not sign.
    let untrusted = refused(
        ctl(&[
            "--server",
            &rig.control.url(),
            "--tls-ca",
            &rig.pki.client_cert,
            "stats",
        ])
        .await,
    );
    assert_eq!(untrusted.exit_code(), exit::UNAVAILABLE);
    assert!(
        untrusted
            .message()
            .contains("cannot connect: the switch's certificate is not trusted: ")
            && untrusted.message().contains("UnknownIssuer"),
        "{}",
        untrusted.message()
    );

    // The connection made before is untouched, and a new good client is served.
    let stats = client
        .stats(pb::StatsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.shards, 1);
    rig.ctl(rig.client(), &["stats"]).await.unwrap();
}

#[tokio::test]
async fn plain_http2_on_the_tls_port_fails_cleanly() {
    let rig = Rig::start("control-tls-plain", None).await;
    let plain = format!("http://{}", rig.control.addr());
    let failure = refused(ctl(&["--server", &plain, "stats"]).await);
    assert_eq!(
        failure.exit_code(),
        exit::UNAVAILABLE,
        "{}",
        failure.message()
    );
    assert!(
        failure
            .message()
            .starts_with("msrpctl: get stats: cannot connect: "),
        "{}",
        failure.message()
    );

    // The HTTP/2 preface where a ClientHello belongs: at most a TLS alert
    // record comes back, never an HTTP/2 frame, and the connection closes.
    let mut raw = TcpStream::connect(rig.control.addr()).await.unwrap();
    raw.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut raw).await;
    assert!(
        answer.is_empty() || answer[0] == 0x15,
        "not a TLS alert: {answer:02x?}"
    );
    rig.ctl(rig.client(), &["stats"]).await.unwrap();
}

#[tokio::test]
async fn a_stalled_tls_client_is_closed_by_the_handshake_timeout_while_others_are_served() {
    let rig = Rig::start("control-tls-stalled", None).await;
    let start = Instant::now();
    let mut silent = TcpStream::connect(rig.control.addr()).await.unwrap();
    // The first 5 bytes of a ClientHello record, then nothing: past the first
    // bytes, stuck in the handshake.
    let mut halfway = TcpStream::connect(rig.control.addr()).await.unwrap();
    halfway
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .await
        .unwrap();

    let stats = rig.ctl(rig.client(), &["stats"]).await.unwrap();
    assert!(stats.contains("shards"), "{stats}");
    // Served while both stalled connections were still open.
    let mut byte = [0u8; 1];
    for stalled in [&silent, &halfway] {
        let open = stalled.try_read(&mut byte);
        assert!(
            matches!(&open, Err(err) if err.kind() == std::io::ErrorKind::WouldBlock),
            "{open:?} after {:?}",
            start.elapsed()
        );
    }

    assert!(until_closed(&mut silent).await.is_empty());
    assert!(until_closed(&mut halfway).await.is_empty());
    let took = start.elapsed();
    assert!(took >= HANDSHAKE, "closed after {took:?}");
}

#[tokio::test]
async fn with_a_token_too_a_call_needs_both() {
    let rig = Rig::start("control-tls-token", Some("s3cret")).await;
    let failure = refused(rig.ctl(rig.client(), &["stats"]).await);
    assert_eq!(failure.exit_code(), exit::AUTH, "{}", failure.message());
    rig.ctl(rig.client(), &["--token", "s3cret", "stats"])
        .await
        .unwrap();
    let failure = refused(rig.ctl(None, &["--token", "s3cret", "stats"]).await);
    assert_eq!(failure.exit_code(), exit::AUTH, "{}", failure.message());
}

#[tokio::test]
async fn the_daemon_serves_mtls_from_its_flags() {
    let pki = Pki::new("control-tls-daemon");
    let daemon = Daemon::spawn(DAEMON, &pki.daemon_flags()).await;
    let server = daemon.control.replace("http://", "https://");
    let mtls = [&["--server", server.as_str()][..], &pki.client_flags()].concat();
    let health = ctl(&[&mtls[..], &["health"]].concat()).await.unwrap();
    assert!(health.contains("SERVING"), "{health}");
    // Without the client certificate.
    let failure = refused(ctl(&[&mtls[..4], &["health"]].concat()).await);
    assert_eq!(failure.exit_code(), exit::AUTH, "{}", failure.message());

    // SIGHUP re-reads the control port's files (what they then hold is the
    // in-process reload test's business) and the daemon goes on serving.
    let mut daemon = daemon;
    let pid = rustix::process::Pid::from_raw(daemon.child.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    daemon
        .log_line_with("control API certificate and client CA reloaded")
        .await;
    let health = ctl(&[&mtls[..], &["health"]].concat()).await.unwrap();
    assert!(health.contains("SERVING"), "{health}");
}

/// The daemon binary with `args` on ephemeral loopback ports but the control
/// API's: its exit code and stderr, once it has exited.
fn daemon_refuses(control_listen: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(DAEMON)
        .args(EPHEMERAL_PORTS)
        .args(["--control-listen", control_listen])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_daemon_refuses_exposure_without_token_or_client_ca_and_names_bad_files() {
    let pki = Pki::new("control-tls-refusals");
    let [cert, cert_path, key, key_path, ca, _] = pki.daemon_flags();
    // TLS alone authenticates nobody.
    let (code, err) = daemon_refuses("0.0.0.0:0", &[cert, cert_path, key, key_path]);
    assert_ne!(code, Some(0));
    assert!(
        err.contains("refusing to serve the control API on 0.0.0.0:0 without authentication")
            && err.contains("--control-token")
            && err.contains("--control-client-ca"),
        "{err}"
    );

    let missing = pki.dir.path().join("no-such-ca.pem");
    let missing = missing.to_str().unwrap();
    let (code, err) = daemon_refuses(
        "127.0.0.1:0",
        &[cert, cert_path, key, key_path, ca, missing],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with(&format!(
            "msrp-switch: --control-client-ca {missing}: cannot read it:"
        )),
        "{err}"
    );

    // The client's key where the server's belongs.
    let (code, err) = daemon_refuses("127.0.0.1:0", &[cert, cert_path, key, &pki.client_key]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "--control-tls-key {}: not the key of --control-tls-cert",
            pki.client_key
        )),
        "{err}"
    );
}

/// SIGHUP's reload of the control port's TLS (in process, the call the daemon
/// makes): the certificate, key and client CA files are read again, so after
/// they are replaced by another CA's, clients trusting the old CA fail and
/// clients of the new one get through; open calls are not disturbed.
#[tokio::test]
async fn a_reload_puts_new_certificate_and_client_ca_files_in_force() {
    let old = Pki::new("control-reload-old");
    let new = Pki::new("control-reload-new");
    let engine = start_engine(1, |_| {});
    let auth = old.auth(Auth::none(), true);
    let tls = auth.tls().cloned().unwrap();
    let limits = PortLimits {
        first_bytes_timeout: HANDSHAKE,
        ..PortLimits::default()
    };
    let control = ControlServer::start_with(&engine, auth, limits).await;
    let url = control.url();
    let call = |pki: &Pki| {
        let args: Vec<String> = [
            "--server",
            url.as_str(),
            "--tls-ca",
            pki.ca.as_str(),
            "--tls-cert",
            pki.client_cert.as_str(),
            "--tls-key",
            pki.client_key.as_str(),
            "list-sessions",
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .collect();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ctl(&args).await
        }
    };
    assert!(
        call(&old).await.is_ok(),
        "the old CA's client before the reload"
    );
    assert!(
        call(&new).await.is_err(),
        "the new CA's client before the reload"
    );

    for (from, to) in [
        (&new.server_cert, &old.server_cert),
        (&new.server_key, &old.server_key),
        (&new.ca, &old.ca),
    ] {
        std::fs::copy(from, to).unwrap();
    }
    tls.reload().unwrap();
    assert!(
        call(&new).await.is_ok(),
        "the new CA's client after the reload"
    );
    assert!(
        call(&old).await.is_err(),
        "the old CA's client after the reload"
    );

    // A file that no longer holds a key: the reload fails, naming it, and the
    // certificate in force stays.
    std::fs::write(&old.server_key, "not a key").unwrap();
    let err = tls.reload().unwrap_err();
    assert!(err.to_string().contains("--control-tls-key"), "{err}");
    assert!(
        call(&new).await.is_ok(),
        "still served after a failed reload"
    );
}
