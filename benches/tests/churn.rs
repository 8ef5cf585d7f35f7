//! `msrp-flood churn`, the per-second log and `plot` end to end: sessions set
//! up, used and released through a real engine and its gRPC control API started
//! in-process on loopback ephemeral ports, over real TCP; the CSV and the
//! HdrHistogram interval log read back; the PNG drawn from the CSV checked.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use msrp_benches::flood::churn::{self, ChurnConfig};
use msrp_benches::flood::plot::{self, PlotStyle};
use msrp_benches::flood::timeline::{self, CSV_HEADER, TimelineOutput, TimelineRow};
use msrp_benches::flood::{self, Bound, FloodConfig, TargetSpec, Transport};
use msrp_proto::endpoint::EndpointConfig;
use msrp_test_support::{ControlServer, TempDir, TestEngine, start_engine};
use tokio::time::timeout;

/// Every test is bounded by this.
const LIMIT: Duration = Duration::from_secs(60);

/// An engine with one shard and its gRPC control API; both stop when dropped,
/// before the directory the test writes its logs in.
struct Switch {
    engine: TestEngine,
    control: String,
    _server: ControlServer,
    dir: TempDir,
}

async fn switch(name: &str) -> Switch {
    let engine = start_engine(1, |switch| *switch = EndpointConfig::default());
    let server = ControlServer::start(&engine, None).await;
    Switch {
        engine,
        control: server.url(),
        _server: server,
        dir: TempDir::new(name),
    }
}

/// 2 s of churn at 10 → 30 set-ups/s, 3 messages each: every session is set
/// up, carries its messages and is released; the CSV has a line per second;
/// the interval log holds a latency and a set-up histogram per second that
/// add up to the report; the plot of the CSV is a PNG of the asked size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_sets_up_uses_and_releases_sessions_and_logs_each_second() {
    let switch = switch("flood-churn").await;
    let csv = switch.dir.path().join("churn.csv");
    let hdr = switch.dir.path().join("churn.hlog");
    let mut config = ChurnConfig::new(switch.control.clone());
    config.setups_per_s = 30.0;
    config.ramp = Some((10.0, Duration::from_secs(2)));
    config.messages_per_session = 3;
    config.duration = Duration::from_secs(2);
    config.timeline = TimelineOutput {
        csv: Some(csv.clone()),
        hdr_log: Some(hdr.clone()),
    };
    let report = timeout(LIMIT, churn::run(&config))
        .await
        .expect("the churn took too long")
        .expect("the churn failed");

    // 10 → 30 over 2 s schedules 40 sessions.
    assert_eq!(report.scheduled, 40, "{report:?}");
    assert_eq!(report.not_started, 0, "{report:?}");
    assert_eq!(report.setups, 40, "{report:?}");
    assert_eq!(report.completed, 40, "{report:?}");
    assert_eq!(report.messages, 120, "{report:?}");
    assert!(report.passed(), "{}", report.to_table());
    assert_eq!(report.fell_behind_at_s, None, "{report:?}");
    assert!(report.setup_latency_us.p50 > 0, "{report:?}");
    assert!(report.latency_us.p50 > 0, "{report:?}");
    assert!(report.latency_us.p50 <= report.latency_us.max, "{report:?}");
    assert!(report.ack_latency_us.p50 > 0, "{report:?}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["setups"], 40);
    assert_eq!(json["ramp_from"], 10.0);
    // Every session was released.
    assert_eq!(switch.engine.stats().sessions, 0);
    assert_eq!(switch.engine.stats().participants, 0);

    // One line per whole second, then the rest of the run (which ends when the
    // last session is released, a little before or after 2 s) in a shorter one.
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().next(), Some(CSV_HEADER));
    let rows = timeline::read_csv(&csv).unwrap();
    assert!(rows.len() >= 2, "{text}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(text.lines().nth(i + 1).unwrap().split(',').count(), 10);
        let second = (i + 1) as f64;
        match i + 1 < rows.len() {
            true => assert_eq!(row.t_s, second, "{text}"),
            false => assert!(row.t_s > second - 1.0 && row.t_s <= second, "{text}"),
        }
        assert!(row.p50_us <= row.p90_us, "{text}");
        assert!(row.p90_us <= row.p99_us, "{text}");
        assert!(row.p99_us <= row.max_us, "{text}");
        assert_eq!(row.errors, 0, "{text}");
    }
    // The ramp: 15 set-ups due in the first second, 25 in the second.
    assert_eq!(rows[0].target_per_s, Some(15.0), "{text}");
    if rows[1].t_s == 2.0 {
        assert_eq!(rows[1].target_per_s, Some(25.0), "{text}");
    }
    let total = |rate: fn(&TimelineRow) -> f64| -> f64 {
        let mut previous = 0.0;
        rows.iter()
            .map(|r| {
                let n = rate(r) * (r.t_s - previous);
                previous = r.t_s;
                n
            })
            .sum()
    };
    assert!((total(|r| r.setups_per_s) - 40.0).abs() < 0.5, "{text}");
    assert!((total(|r| r.msgs_per_s) - 120.0).abs() < 0.5, "{text}");
    assert!(rows[0].msgs_per_s > 0.0 && rows[0].max_us > 0, "{text}");

    // The interval log: a latency histogram and a set-up one per interval,
    // holding every message and every set-up.
    let log = std::fs::read(&hdr).unwrap();
    let (mut latencies, mut setups, mut intervals) = (0, 0, 0);
    let mut starts = Vec::new();
    for entry in IntervalLogIterator::new(&log) {
        match entry.expect("a well-formed interval log") {
            LogEntry::Interval(interval) => {
                let histogram = decode(interval.encoded_histogram());
                match interval.tag().map(|t| t.as_str()) {
                    None => {
                        latencies += histogram.len();
                        starts.push(interval.start_timestamp());
                        intervals += 1;
                    }
                    Some(timeline::SETUP_TAG) => setups += histogram.len(),
                    Some(other) => panic!("unexpected tag {other}"),
                }
            }
            LogEntry::StartTime(_) | LogEntry::BaseTime(_) => {}
        }
    }
    assert_eq!(intervals, rows.len());
    assert_eq!(latencies, 120);
    assert_eq!(setups, 40);
    assert_eq!(starts[0], Duration::ZERO);
    assert_eq!(starts[1], Duration::from_secs(1));

    // The plot of that CSV.
    let png = switch.dir.path().join("churn.png");
    let style = PlotStyle {
        width: 800,
        height: 400,
        ..PlotStyle::default()
    };
    plot::plot(&rows, &png, &style).unwrap();
    assert_png(&png, 800, 400);
}

/// A `run` against the switch at `rate` messages/s for `seconds`, no warm-up.
fn paced(switch: &Switch, rate: f64, seconds: u64) -> FloodConfig {
    let mut config = FloodConfig::new(TargetSpec::Switch {
        control: switch.control.clone(),
        token: None,
        msrp_addr: None,
        transport: Transport::Tcp,
    });
    config.warmup = Duration::ZERO;
    config.bound = Bound::Duration(Duration::from_secs(seconds));
    config.rate = Some(rate);
    config
}

/// Runs `config`, which must pass (every message delivered and verified).
async fn passed_run(config: &FloodConfig) -> flood::Report {
    let report = timeout(LIMIT, flood::run(config))
        .await
        .expect("the run took too long")
        .expect("the run failed");
    assert!(report.passed(), "{}", report.to_table());
    report
}

/// `run --rate --ramp-from --ramp-seconds --csv`: the paced run follows its
/// ramp, and its CSV says what was asked and what was delivered each second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ramped_run_writes_its_target_and_deliveries_each_second() {
    let switch = switch("flood-run-ramp").await;
    let csv = switch.dir.path().join("run.csv");
    let mut config = paced(&switch, 600.0, 2);
    config.sessions = 2;
    config.ramp = Some((200.0, Duration::from_secs(2)));
    config.timeline.csv = Some(csv.clone());
    let report = passed_run(&config).await;
    // 200 → 600 over 2 s: 800 messages are due; a sender still behind its
    // schedule at the end stops all the same.
    assert!(
        (400..=800).contains(&report.messages),
        "{}",
        report.to_table()
    );
    assert_eq!(report.ramp_from, Some(200.0));

    let rows = timeline::read_csv(&csv).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(rows.len() >= 2, "{text}");
    // What each second asked for follows the ramp: 300/s on average in the
    // first second, 500/s in the second.
    assert_eq!(rows[0].target_per_s, Some(300.0), "{text}");
    assert_eq!(rows[1].target_per_s, Some(500.0), "{text}");
    let mut previous = 0.0;
    let mut delivered = 0.0;
    for row in &rows {
        delivered += row.msgs_per_s * (row.t_s - previous);
        previous = row.t_s;
        // No set-ups in a run.
        assert_eq!(row.setups_per_s, 0.0, "{text}");
    }
    for row in &rows[..2] {
        assert!(row.msgs_per_s > 0.0, "{text}");
        assert!(row.p50_us > 0 && row.p50_us <= row.max_us, "{text}");
    }
    // Every delivery is in the log, in one second or another.
    assert!(
        (delivered - report.deliveries as f64).abs() < 0.5,
        "{} deliveries: {text}",
        report.deliveries
    );
}

/// `run --rate --spin-pacing`: the senders spin through the timer's last
/// millisecond instead of sleeping, and the run still keeps its schedule with
/// every body verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spin_paced_run_keeps_its_schedule() {
    let switch = switch("flood-run-spin").await;
    let mut config = paced(&switch, 2000.0, 1);
    config.spin_pacing = true;
    let report = passed_run(&config).await;
    // 2,000 are due in the second; a sender behind its schedule at the end
    // stops all the same, and none is sent ahead of it.
    assert!(
        (1000..=2000).contains(&report.messages),
        "{}",
        report.to_table()
    );
    assert_eq!(report.deliveries, report.messages, "{}", report.to_table());
}

/// `plot` draws a run's CSV (no set-ups: the right axis is messages/s) with a
/// second without deliveries in it; a CSV that is not msrp-flood's is refused.
#[test]
fn plot_draws_a_png_from_a_csv_and_refuses_another_file() {
    let dir = TempDir::new("flood-plot");
    let csv = dir.path().join("run.csv");
    let mut text = format!("{CSV_HEADER}\n");
    for (t, msgs, p50) in [
        (1, 1000.0, 120),
        (2, 0.0, 0),
        (3, 2000.0, 300),
        (4, 2500.0, 9000),
    ] {
        let row = TimelineRow {
            t_s: f64::from(t),
            target_per_s: Some(f64::from(t) * 1000.0),
            msgs_per_s: msgs,
            p50_us: p50,
            p90_us: p50 * 2,
            p99_us: p50 * 3,
            max_us: p50 * 10,
            errors: u64::from(t == 4),
            ..TimelineRow::default()
        };
        text.push_str(&row.to_csv());
        text.push('\n');
    }
    std::fs::write(&csv, &text).unwrap();
    let rows = timeline::read_csv(&csv).unwrap();
    assert_eq!(rows.len(), 4);
    let png = dir.path().join("run.png");
    plot::plot(&rows, &png, &PlotStyle::default()).unwrap();
    assert_png(&png, 1200, 600);

    let other = dir.path().join("other.csv");
    std::fs::write(&other, "a,b\n1,2\n").unwrap();
    assert!(timeline::read_csv(&other).is_err());
    assert!(plot::plot(&[], &png, &PlotStyle::default()).is_err());
}

/// A histogram of the interval log: base64, then V2 (deflate) encoding.
fn decode(encoded: &str) -> Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .expect("a V2 histogram")
}

/// The file is a PNG (its signature, then an IHDR chunk) of `width` × `height`
/// with more in it than a blank image compresses to.
fn assert_png(path: &Path, width: u32, height: u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!((be(16), be(20)), (width, height));
    assert!(
        bytes.len() > 10_000,
        "{} bytes: is anything drawn?",
        bytes.len()
    );
}
