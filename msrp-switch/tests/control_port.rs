//! The control port's limits: a connection that sends nothing is closed after
//! the handshake timeout, and connections beyond the cap wait to be accepted
//! until a slot frees, so idle sockets cannot keep a real client out for longer
//! than the handshake timeout.

use std::time::{Duration, Instant};

use control_api::auth::Auth;
use control_api::pb;
use control_api::pb::switch_control_client::SwitchControlClient;
use control_api::port::PortLimits;
use msrp_switch::control::serve_control_with;
use msrp_switch::lifecycle::Lifecycle;
use msrp_test_support::{LIMIT, start_engine};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tonic::transport::Channel;

const HANDSHAKE: Duration = Duration::from_millis(800);

async fn serve(engine: &msrp_test_support::TestEngine, max_connections: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve_control_with(
        engine.engine.clone(),
        listener,
        Auth::none(),
        Lifecycle::new(Duration::from_secs(30)),
        PortLimits {
            max_connections,
            first_bytes_timeout: HANDSHAKE,
            ..PortLimits::default()
        },
        std::future::pending(),
    ));
    url
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_handshake_timeout() {
    let engine = start_engine(1, |_| {});
    let url = serve(&engine, 8).await;
    let start = Instant::now();
    let mut silent = TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    let read = timeout(LIMIT, silent.read(&mut byte)).await.unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let took = start.elapsed();
    assert!(took >= HANDSHAKE, "closed after {took:?}");
}

#[tokio::test]
async fn idle_sockets_at_the_cap_delay_a_client_only_until_their_timeout() {
    let engine = start_engine(1, |_| {});
    let url = serve(&engine, 2).await;
    let addr = url.trim_start_matches("http://").to_owned();
    let _idle = [
        TcpStream::connect(&addr).await.unwrap(),
        TcpStream::connect(&addr).await.unwrap(),
    ];
    let start = Instant::now();
    let channel = timeout(LIMIT, Channel::from_shared(url).unwrap().connect())
        .await
        .unwrap()
        .unwrap();
    let stats = timeout(
        LIMIT,
        SwitchControlClient::new(channel).stats(pb::StatsRequest {}),
    )
    .await
    .expect("not served once the idle sockets timed out")
    .unwrap()
    .into_inner();
    assert_eq!(stats.sessions, 0);
    // Served once a slot freed: no sooner than the idle sockets' timeout.
    assert!(start.elapsed() >= HANDSHAKE / 2, "{:?}", start.elapsed());
}
