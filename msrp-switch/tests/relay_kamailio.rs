//! Our RFC 4976 relay next to Kamailio 5.6's msrp module as the other relay
//! (benches/kamailio/kamailio.cfg, plain TCP, AUTH without a challenge): alice
//! uses Kamailio, bob uses us. Each relay opens its connection to the other on
//! demand, and a message in 8 KiB chunks (Kamailio relays no frame over about
//! 11 KiB) goes each way intact, with every relay URI of the way in From-Path.
//!
//! `.ci/run` installs Debian's `kamailio`; where it is absent the test says so
//! and passes without running (it cannot be run without the peer).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use msrp_switch::msrp_proto::relay::Credentials;
use msrp_test_support::relay::{auth_frame, authenticate, stream_chunks, use_path};
use msrp_test_support::{Peer, TempDir, start_engine};
use tokio::net::TcpStream;

const REALM: &str = "relay.test";

/// Kamailio relays no frame over about 11 KiB.
const CHUNK: usize = 8 * 1024;

/// Kamailio running the benchmark's relay config; stopped with its children on drop.
struct Kamailio {
    child: Child,
    port: u16,
    _run: TempDir,
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        msrp_test_support::process::stop(&mut self.child);
    }
}

fn kamailio_binary() -> Option<PathBuf> {
    ["/usr/sbin/kamailio", "/usr/local/sbin/kamailio"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts Kamailio on a free loopback port and waits until it accepts.
async fn start_kamailio(binary: PathBuf) -> Kamailio {
    let port = free_port();
    let run = TempDir::new("kamailio-relay-test");
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../benches/kamailio/kamailio.cfg"
    );
    let child = Command::new(binary)
        .args(["-f", config, "-DD", "-E", "-l"])
        .arg(format!("tcp:127.0.0.1:{port}"))
        .args(["-n", "1", "-N", "1", "-m", "64", "-M", "8", "-Y"])
        .arg(run.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let kamailio = Kamailio {
        child,
        port,
        _run: run,
    };
    let started = Instant::now();
    while TcpStream::connect(kamailio.addr()).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "kamailio did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kamailio
}

impl Kamailio {
    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_relay_and_kamailio_carry_a_conversation_both_ways() {
    let Some(binary) = kamailio_binary() else {
        eprintln!("SKIPPED: kamailio is not installed (apt-get install -y kamailio; .ci/run does)");
        return;
    };
    let kamailio = start_kamailio(binary).await;
    let ours = start_engine(1, |config| config.relay.realm = REALM.into());
    let mut credentials = Credentials::new();
    credentials.insert_password("bob", REALM, "pw");
    ours.set_relay_credentials(credentials).await.unwrap();

    // Alice AUTHs to Kamailio: no challenge there.
    let kam_uri = format!("msrp://127.0.0.1:{};tcp", kamailio.port);
    let mut alice = Peer::over(
        TcpStream::connect(kamailio.addr()).await.unwrap(),
        "msrp://127.0.0.1:41001/alice001;tcp",
        "",
    );
    let me = alice.me.clone();
    alice
        .write(auth_frame("kauth001", &kam_uri, &me, "Expires: 600\r\n").as_bytes())
        .await;
    let relay_a = use_path(&alice.read_frame().await);

    // Bob AUTHs to us, through the Digest challenge.
    let ours_uri = format!("msrp://127.0.0.1:{};tcp", ours.local_addr().port());
    let mut bob = Peer::over(
        TcpStream::connect(ours.local_addr()).await.unwrap(),
        "msrp://127.0.0.1:41002/bob00001;tcp",
        "",
    );
    let relay_b = use_path(&authenticate(&mut bob, &ours_uri, "bob", "pw", None).await);

    let body: Vec<u8> = (0..100 * 1024).map(|i| (i * 13 % 241) as u8).collect();
    let to_bob = format!("{relay_a} {relay_b} {}", bob.me);
    let via = [relay_b.clone(), relay_a.clone(), alice.me.clone()];
    stream_chunks(
        &mut alice,
        &mut bob,
        &to_bob,
        &body,
        CHUNK,
        "kamailio0001",
        Some(&via),
    )
    .await;

    let to_alice = format!("{relay_b} {relay_a} {}", alice.me);
    let via = [relay_a.clone(), relay_b.clone(), bob.me.clone()];
    let back: Vec<u8> = body.iter().rev().copied().collect();
    stream_chunks(
        &mut bob,
        &mut alice,
        &to_alice,
        &back,
        CHUNK,
        "kamailio0002",
        Some(&via),
    )
    .await;
}
