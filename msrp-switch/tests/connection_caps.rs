//! Connection caps on the MSRP port: a flood of strangers (connections that never
//! bind) is held to `max_unbound`, one source address to `max_per_source`, and
//! everything over a cap is closed at once and counted by reason, while a bound
//! 1:1 session goes on losing nothing (every message delivered, bodies hashed).

use std::net::SocketAddr;
use std::time::Duration;

use msrp_switch::transport::EngineConfig;
use msrp_switch::transport::admission::ConnectionLimits;
use msrp_test_support::{
    Peer, TestEngine, bound_one_to_one, hash, metric, one_to_one, start_engine_with,
};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

const A: &str = "msrp://127.0.0.1:40001/aaaa1111;tcp";
const B: &str = "msrp://127.0.0.1:40002/bbbb2222;tcp";

fn engine(caps: ConnectionLimits) -> TestEngine {
    start_engine_with(EngineConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        shards: 1,
        pin_cores: false,
        connections: caps,
        ..EngineConfig::default()
    })
}

/// A connection to `to` from the loopback address `from` (127.0.0.0/8 is all
/// loopback, so each test "source" is its own address).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// True if the switch closed the connection (end of stream or reset) within
/// half a second, without sending anything.
async fn closed_at_once(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        timeout(Duration::from_millis(500), stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// A and B bound in a 1:1 session; A sends B `count` messages of varied sizes,
/// B checks each one's body hash; every SEND is answered 200.
async fn healthy_exchange(a: &mut Peer, b: &mut Peer, count: usize) {
    for n in 0..count {
        let body: Vec<u8> = (0..(64 + n * 37 % 4000))
            .map(|i| (i * 7 + n) as u8)
            .collect();
        a.send_message(&format!("msg{n:05}"), &body).await;
        let got = b.read_frame().await;
        assert_eq!(got.method().as_deref(), Some("SEND"));
        assert_eq!(hash(&got.body), hash(&body), "message {n}");
        b.answer(&got, "200 OK").await;
    }
}

async fn bound_pair(engine: &TestEngine) -> (Peer, Peer) {
    let (_, _, a, b) = bound_one_to_one(engine, A, B).await;
    (a, b)
}

#[tokio::test]
async fn a_flood_of_strangers_is_held_to_the_unbound_cap_and_a_bound_session_loses_nothing() {
    let engine = engine(ConnectionLimits {
        max_connections: 100,
        max_unbound: 8,
        max_per_source: 100,
        fd_reserve: 0,
    });
    let (mut a, mut b) = bound_pair(&engine).await;
    healthy_exchange(&mut a, &mut b, 20).await;

    // 30 connections that never send a byte, from another address.
    let mut flood = Vec::new();
    for _ in 0..30 {
        flood.push(connect_from([127, 0, 0, 2], engine.local_addr()).await);
    }
    let mut closed = 0;
    for stream in &mut flood {
        if closed_at_once(stream).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 22, "8 strangers held, the rest closed at once");
    assert_eq!(
        metric(
            &engine,
            "msrp_switch_connections_refused_total{reason=\"unbound\"}"
        ),
        22
    );
    // The bound session is not a stranger: it goes on while the cap is full.
    healthy_exchange(&mut a, &mut b, 50).await;

    // Strangers leaving free their slots: a new client binds.
    drop(flood);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, pc, _) = one_to_one(&engine, "msrp://127.0.0.1:40003/cccc;tcp", B).await;
    let mut c = Peer::connect(
        engine.local_addr(),
        "msrp://127.0.0.1:40003/cccc;tcp",
        &pc.local_uri,
    )
    .await;
    c.bind().await;
}

#[tokio::test]
async fn one_source_is_held_to_its_cap_and_others_are_served() {
    let engine = engine(ConnectionLimits {
        max_connections: 100,
        max_unbound: 100,
        max_per_source: 4,
        fd_reserve: 0,
    });
    let mut flood = Vec::new();
    for _ in 0..10 {
        flood.push(connect_from([127, 0, 0, 2], engine.local_addr()).await);
    }
    let mut closed = 0;
    for stream in &mut flood {
        if closed_at_once(stream).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 6);
    assert_eq!(
        metric(
            &engine,
            "msrp_switch_connections_refused_total{reason=\"source\"}"
        ),
        6
    );
    // Another address is served in full.
    let (mut a, mut b) = bound_pair(&engine).await;
    healthy_exchange(&mut a, &mut b, 10).await;
}

#[tokio::test]
async fn the_total_cap_counts_bound_connections_too() {
    let engine = engine(ConnectionLimits {
        max_connections: 3,
        max_unbound: 100,
        max_per_source: 100,
        fd_reserve: 0,
    });
    let (mut a, mut b) = bound_pair(&engine).await;
    let mut third = connect_from([127, 0, 0, 3], engine.local_addr()).await;
    let mut fourth = connect_from([127, 0, 0, 4], engine.local_addr()).await;
    assert!(!closed_at_once(&mut third).await, "the third is admitted");
    assert!(
        closed_at_once(&mut fourth).await,
        "the fourth is over the cap"
    );
    assert_eq!(
        metric(
            &engine,
            "msrp_switch_connections_refused_total{reason=\"connections\"}"
        ),
        1
    );
    healthy_exchange(&mut a, &mut b, 5).await;
}
