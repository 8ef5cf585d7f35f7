//! `msrp-flood large` end to end: both modes against a real engine with a
//! message store and its gRPC control API, started in-process on loopback
//! ephemeral ports, over real TCP. The flooder's pid is the test's own, which
//! is the engine's too, so the /proc readings are exercised as well.

use std::time::Duration;

use msrp_benches::flood::large::{self, Completion, LargeTarget, SessionsConfig, ThroughputConfig};
use msrp_switch::store::DiskQuota;
use msrp_switch::transport::EngineConfig;
use msrp_switch::transport::large::LargeMessageSettings;
use msrp_test_support::{ControlServer, TempDir, TestEngine, metric, start_engine_with};
use tokio::time::timeout;

/// Every test is bounded by this.
const LIMIT: Duration = Duration::from_secs(60);

/// An engine with one shard that keeps 1 MiB of each large message in memory
/// and spills the rest to a directory of its own, and its control API. Fields
/// drop in order: the engine stops before its directory goes.
struct Switch {
    engine: TestEngine,
    control: String,
    _server: ControlServer,
    _dir: TempDir,
}

async fn switch(name: &str) -> Switch {
    let dir = TempDir::new(name);
    let engine = start_engine_with(EngineConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        shards: 1,
        pin_cores: false,
        large_message: LargeMessageSettings {
            dir: dir.path().to_path_buf(),
            memory_bytes: 1 << 20,
            disk: DiskQuota::new(1 << 30),
        },
        ..EngineConfig::default()
    });
    let server = ControlServer::start(&engine, None).await;
    Switch {
        engine,
        control: server.url(),
        _server: server,
        _dir: dir,
    }
}

fn target(switch: &Switch) -> LargeTarget {
    LargeTarget {
        control: switch.control.clone(),
        token: None,
        msrp_addr: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_mib_reach_three_receivers_whole_and_in_place() {
    let switch = switch("flood-large-throughput").await;
    let mut config = ThroughputConfig::new(target(&switch));
    config.receivers = 3;
    config.size = 8 << 20;
    config.chunk_size = 1 << 20;
    config.pid = Some(std::process::id());
    config.timeout = LIMIT;
    let report = timeout(LIMIT, large::run_throughput(&config))
        .await
        .expect("the run took too long")
        .expect("the run failed");
    eprint!("{}", report.to_table());
    assert_eq!(report.bytes_delivered, 3 * (8 << 20), "{report:?}");
    assert_eq!(report.chunks_sent, 8, "{report:?}");
    // The switch's default --fanout-chunk-bytes: 256 KiB at most per chunk.
    assert!(report.largest_chunk_delivered <= 256 * 1024, "{report:?}");
    assert!(report.chunks_delivered >= 3 * 32, "{report:?}");
    assert_eq!(
        report.switch,
        Some(Completion {
            delivered: 3,
            failed: 0
        }),
        "{report:?}"
    );
    assert!(report.errors.is_clean(), "{report:?}");
    assert!(report.passed(), "{report:?}");
    assert!(report.seconds >= report.sender_seconds * 0.5, "{report:?}");
    assert!(
        report.delivered_mb_per_s > 0.0 && report.sender_mb_per_s > 0.0,
        "{report:?}"
    );
    let memory = report.memory.expect("the pid was given");
    assert!(memory.peak_rss_mib >= memory.idle_rss_mib, "{memory:?}");
    let table = report.to_table();
    assert!(
        table.contains("3 receiver(s)") && !table.contains("FAILED"),
        "{table}"
    );
    // Released at the end, every receiver counted once.
    assert_eq!(switch.engine.stats().sessions, 0);
    assert_eq!(
        metric(&switch.engine, "msrp_switch_large_message_deliveries_total"),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_sessions_are_set_up_delivered_and_released_in_a_loop() {
    let switch = switch("flood-large-sessions").await;
    let mut config = SessionsConfig::new(target(&switch));
    config.concurrency = 2;
    config.duration = Duration::from_secs(2);
    config.warmup = Duration::from_millis(200);
    config.pid = Some(std::process::id());
    config.timeout = LIMIT;
    let report = timeout(LIMIT, large::run_sessions(&config))
        .await
        .expect("the run took too long")
        .expect("the run failed");
    eprint!("{}", report.to_table());
    assert!(report.sessions > 0, "{report:?}");
    assert!(report.errors.is_clean(), "{report:?}");
    assert!(report.passed(), "{report:?}");
    assert_eq!((report.size, report.chunk_size), (65536, 65536));
    assert!(report.sessions_per_s > 0.0, "{report:?}");
    assert!(report.cycle_p99_ms >= report.cycle_p50_ms, "{report:?}");
    let cpu = report.cpu.expect("the pid was given");
    assert!(cpu.cpu_seconds >= 0.0, "{cpu:?}");
    // Every session the loops made was delivered and released, the warm-up's
    // and those that ended after the measurement included.
    assert_eq!(switch.engine.stats().sessions, 0);
    let delivered = metric(&switch.engine, "msrp_switch_large_message_deliveries_total");
    assert!(
        delivered >= report.sessions as i64,
        "{delivered} < {report:?}"
    );
    assert_eq!(
        metric(&switch.engine, "msrp_switch_large_message_failures_total"),
        0
    );
}
