//! A relay that holds 10,000 bound clients (RFC 4976): the daemon binary (its
//! own process, so each side's descriptors count against its own limit) grants 10,000 AUTHs on
//! 10,000 connections, counts them in `msrp_switch_relay_bindings`, and still
//! routes a request to the first and the last client by its relay URI.

use std::time::Duration;

use msrp_test_support::daemon::Daemon;
use msrp_test_support::relay::{auth_frame, use_path};
use msrp_test_support::wire::SendChunk;
use msrp_test_support::{LIMIT, Peer};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::timeout;

/// The clients the relay must hold.
const CLIENTS: usize = 10_000;

/// Descriptors each process needs beyond one per client.
const SPARE_FDS: u64 = 1024;

/// Raises this process's descriptor limit (the daemon it spawns inherits it) to
/// what 10,000 connections on each side need, as far as the hard limit (or,
/// for root, the kernel) allows; the limit in force.
fn raise_nofile(wanted: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let hard = now.maximum.unwrap_or(u64::MAX);
    let raised = Rlimit {
        current: Some(wanted),
        maximum: Some(hard.max(wanted)),
    };
    if setrlimit(Resource::Nofile, raised).is_err() {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard.min(wanted)),
                maximum: now.maximum,
            },
        );
    }
    getrlimit(Resource::Nofile).current.unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_holds_10000_bound_clients_and_routes_to_any_of_them() {
    // Per process: the clients' ends here, the relay's in the daemon. Where the
    // hard limit is lower and cannot be raised (not root), as many clients as
    // fit, said loudly: the routing checks below hold for any number.
    let nofile = raise_nofile(16_384);
    let clients = usize::try_from(nofile.saturating_sub(SPARE_FDS))
        .unwrap_or(CLIENTS)
        .min(CLIENTS)
        / 500
        * 500;
    assert!(
        clients >= 500,
        "the descriptor limit is {nofile}: too low for this test"
    );
    if clients < CLIENTS {
        eprintln!(
            "WARNING: the descriptor limit is {nofile}, so the relay holds {clients} clients, \
             not {CLIENTS} (raise the hard limit, or run as root)"
        );
    }
    let daemon = Daemon::spawn(
        env!("CARGO_BIN_EXE_msrp-switch"),
        &[
            "--relay-auth",
            "none",
            "--max-connections-per-source",
            "20000",
            "--max-unbound-connections",
            "20000",
        ],
    )
    .await;
    let relay = format!("msrp://{};tcp", daemon.msrp);
    let before = rss_kib(daemon.child.id().unwrap_or(0));

    let count = clients;
    let mut clients: Vec<(Peer, String)> = Vec::with_capacity(count);
    let mut tasks = JoinSet::new();
    for batch in 0..count / 500 {
        for i in batch * 500..(batch + 1) * 500 {
            let addr = daemon.msrp;
            let relay = relay.clone();
            tasks.spawn(async move {
                let stream = TcpStream::connect(addr).await.unwrap();
                let mut peer = Peer::over(
                    stream,
                    &format!("msrp://127.0.0.1:40000/c{i:05}xyz;tcp"),
                    "",
                );
                let me = peer.me.clone();
                peer.write(auth_frame(&format!("auth{i:05}"), &relay, &me, "").as_bytes())
                    .await;
                let granted = use_path(&peer.read_frame().await);
                (i, peer, granted)
            });
        }
        let mut done = Vec::new();
        while let Some(joined) = timeout(LIMIT, tasks.join_next()).await.unwrap() {
            done.push(joined.unwrap());
        }
        done.sort_by_key(|(i, _, _)| *i);
        clients.extend(done.into_iter().map(|(_, peer, uri)| (peer, uri)));
    }
    assert_eq!(clients.len(), count);
    assert_eq!(
        daemon.metric("msrp_switch_relay_bindings").await,
        count as i64
    );
    assert_eq!(
        daemon
            .metric("msrp_switch_relay_auths_total{result=\"granted\"}")
            .await,
        count as i64
    );
    let after = rss_kib(daemon.child.id().unwrap_or(0));
    eprintln!(
        "relay RSS {before} KiB -> {after} KiB for {count} bound clients: about {} bytes each",
        (after.saturating_sub(before)) * 1024 / count as u64
    );

    // A sender that never AUTHed reaches the first and the last client.
    let mut sender = Peer::over(
        TcpStream::connect(daemon.msrp).await.unwrap(),
        "msrp://127.0.0.1:40001/sender01;tcp",
        "",
    );
    for index in [0, count - 1] {
        let (client, uri) = &mut clients[index];
        let to_path = format!("{uri} {}", client.me);
        let tid = sender.next_tid();
        let frame = SendChunk {
            total: 5,
            ..SendChunk::text(&to_path, &sender.me, &tid, &format!("reach{index:05}"))
        }
        .encode(b"hello");
        sender.write(&frame).await;
        assert_eq!(sender.read_frame().await.status(), Some(200));
        let got = timeout(Duration::from_secs(10), client.read_frame())
            .await
            .unwrap();
        assert_eq!(got.body, b"hello", "client {index}");
        assert_eq!(got.sender_path(), [uri.clone(), sender.me.clone()]);
    }
}

/// The resident set of process `pid`, in KiB (0 if it cannot be read).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
