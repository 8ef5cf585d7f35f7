//! A real engine on loopback for each test, and sessions set up on it directly
//! (without the control API).

use msrp_proto::control::ParticipantInfo;
use msrp_proto::endpoint::EndpointConfig;
use msrp_proto::ids::SessionKey;
use msrp_proto::media::{RemoteMedia, SetupRole};
use msrp_proto::session::SessionKind;
use msrp_switch::codec::MsrpUri;
use msrp_switch::transport::ws::WsSettings;
use msrp_switch::transport::{Engine, EngineConfig, WsListen};

use crate::Peer;

/// An engine on 127.0.0.1:0; stopped when dropped. Derefs to [`Engine`].
pub struct TestEngine {
    /// The running engine.
    pub engine: Engine,
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        self.engine.shutdown();
    }
}

impl std::ops::Deref for TestEngine {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.engine
    }
}

/// Starts an engine on 127.0.0.1:0 with `shards` unpinned shards, after `tune` has
/// changed the default switch settings (shorter timers, smaller queues).
pub fn start_engine(shards: usize, tune: impl FnOnce(&mut EndpointConfig)) -> TestEngine {
    let mut switch = EndpointConfig::default();
    tune(&mut switch);
    start_engine_with(EngineConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        shards,
        pin_cores: false,
        switch,
        ..EngineConfig::default()
    })
}

/// Starts an engine with one unpinned shard on 127.0.0.1:0 and a WebSocket
/// listener (RFC 7977) on another ephemeral port with the default upgrade
/// settings: [`Engine::ws_addr`] says where.
pub fn start_ws_engine() -> TestEngine {
    start_engine_with(EngineConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        shards: 1,
        pin_cores: false,
        ws: Some(WsListen {
            listen: "127.0.0.1:0".parse().unwrap(),
            settings: WsSettings::default(),
        }),
        ..EngineConfig::default()
    })
}

/// Starts an engine with the whole `config` (connection caps, for one).
///
/// `MSRP_TEST_LOG=1` prints the switch's trace logs for the test.
pub fn start_engine_with(config: EngineConfig) -> TestEngine {
    if std::env::var("MSRP_TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("msrp_switch=trace,msrp_proto=trace")
            .with_test_writer()
            .try_init();
    }
    TestEngine {
        engine: Engine::start(config).unwrap(),
    }
}

/// Remote media for a participant whose path is `path`, accepting any type; it
/// connects to the switch (the switch is passive).
pub fn remote(path: &str) -> RemoteMedia {
    RemoteMedia {
        path: vec![MsrpUri::parse_str(path).unwrap()],
        accept_types: vec!["*".into()],
        accept_wrapped_types: Vec::new(),
        max_size: None,
        setup: SetupRole::Passive,
        cema: false,
        ..Default::default()
    }
}

/// A 1:1 session with participants whose paths are `a` and `b`.
pub async fn one_to_one(
    engine: &Engine,
    a: &str,
    b: &str,
) -> (SessionKey, ParticipantInfo, ParticipantInfo) {
    let session = engine.create_session(SessionKind::OneToOne).await.unwrap();
    let pa = engine.add_participant(session, remote(a)).await.unwrap();
    let pb = engine.add_participant(session, remote(b)).await.unwrap();
    (session, pa, pb)
}

/// A 1:1 session with participants whose paths are `a` and `b`, each connected
/// to the engine by a [`Peer`] whose bind SEND was answered 200.
pub async fn bound_one_to_one(
    engine: &Engine,
    a: &str,
    b: &str,
) -> (ParticipantInfo, ParticipantInfo, Peer, Peer) {
    let (_, pa, pb) = one_to_one(engine, a, b).await;
    let mut peer_a = Peer::connect(engine.local_addr(), a, &pa.local_uri).await;
    let mut peer_b = Peer::connect(engine.local_addr(), b, &pb.local_uri).await;
    peer_a.bind().await;
    peer_b.bind().await;
    (pa, pb, peer_a, peer_b)
}

/// The value of one `/metrics` series (name and labels, as rendered), read from the
/// engine directly; the HTTP test scrapes the endpoint itself. Panics, showing the
/// whole text, if the series is absent.
pub fn metric(engine: &Engine, series: &str) -> i64 {
    let text = engine.render_metrics();
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
}
