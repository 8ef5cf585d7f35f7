//! `msrp-flood control`: the control plane under load. Each of `concurrency`
//! callers repeats one session's life as an IM Server drives it (CreateSession,
//! AddParticipant twice, ReleaseSession) for a fixed time; the report gives
//! cycles and calls per second and the cycle latency. With the switch's pid, it
//! also reads the switch's RSS before and after, so what a released session
//! leaves behind shows.

use std::time::{Duration, Instant};

use anyhow::Context;
use control_api::pb;

use super::target::switch::{Control, control_client};

/// Calls in one cycle: create, two adds, release.
pub const CALLS_PER_CYCLE: u64 = 4;

/// What to run.
#[derive(Debug, Clone)]
pub struct ControlLoad {
    /// The control API's URL.
    pub control: String,
    /// Its bearer token, if it requires one.
    pub token: Option<String>,
    /// Callers, each on its own connection.
    pub concurrency: usize,
    /// How long to run.
    pub duration: Duration,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlReport {
    /// Whole cycles done.
    pub cycles: u64,
    /// Seconds the cycles took.
    pub seconds: f64,
    /// Median and 99th percentile of a cycle, in milliseconds.
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p99_ms: f64,
}

impl ControlReport {
    /// Cycles per second.
    pub fn cycles_per_second(&self) -> f64 {
        self.cycles as f64 / self.seconds.max(f64::EPSILON)
    }

    /// Control calls per second.
    pub fn calls_per_second(&self) -> f64 {
        self.cycles_per_second() * CALLS_PER_CYCLE as f64
    }
}

/// One session's life: create, two participants that connect in, release.
async fn cycle(client: &mut Control, n: u64) -> anyhow::Result<()> {
    let session_id = client
        .create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::OneToOne as i32,
            correlation_tag: format!("control-load-{n}"),
            ..Default::default()
        })
        .await
        .context("CreateSession")?
        .into_inner()
        .session_id;
    for leg in ["a", "b"] {
        let media = pb::Media {
            path: vec![format!("msrp://127.0.0.1:9/load{n}{leg};tcp")],
            accept_types: vec!["*".into()],
            setup: pb::Setup::Active as i32,
            ..Default::default()
        };
        client
            .add_participant(pb::AddParticipantRequest {
                session_id: session_id.clone(),
                remote: Some(pb::RemoteMedia {
                    media: Some(pb::remote_media::Media::Structured(media)),
                }),
                ..Default::default()
            })
            .await
            .context("AddParticipant")?;
    }
    client
        .release_session(pb::ReleaseSessionRequest { session_id })
        .await
        .context("ReleaseSession")?;
    Ok(())
}

/// Runs the load; fails on the first refused call.
pub async fn run(load: &ControlLoad) -> anyhow::Result<ControlReport> {
    let started = Instant::now();
    let deadline = started + load.duration;
    let mut callers = Vec::with_capacity(load.concurrency);
    for caller in 0..load.concurrency.max(1) {
        let mut client = control_client(&load.control, load.token.as_deref()).await?;
        callers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = (caller as u64) << 40;
            while Instant::now() < deadline {
                let one = Instant::now();
                cycle(&mut client, n).await?;
                latencies.push(one.elapsed());
                n += 1;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for caller in callers {
        latencies.extend(caller.await.context("a caller panicked")??);
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Ok(ControlReport {
        cycles: latencies.len() as u64,
        seconds,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    })
}

/// A process's resident set size in KiB, from `/proc/<pid>/status`.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")
}
