//! `msrp-flood large`: Large Message Mode (OMA SIMPLE IM 9.2.3) under load.
//!
//! A large message session carries one message from its sender (the first
//! participant added) to every receiver (each later one). The switch answers
//! each of the sender's chunks 200 once its bytes are stored, and writes the
//! message to each receiver in chunks of at most its `--fanout-chunk-bytes`,
//! each a transaction of its own with an exact Byte-Range, which the receiver
//! answers 200. Two loads:
//!
//! - [`run_throughput`] (`--mode throughput`): one session, every receiver
//!   connected and bound before the sender starts, one message of `size` bytes.
//!   It reports the seconds from the sender's first byte to the last receiver's
//!   answer to its last chunk, the MB/s delivered over all receivers, the
//!   sender's own MB/s and, given the switch's pid, its peak RSS.
//! - [`run_sessions`] (`--mode sessions`): `concurrency` loops, each going
//!   through whole sessions as an IM Server drives them: CreateSession, the
//!   sender and one receiver added, both connected and bound, the message sent
//!   and received, `large_message_complete` awaited on WatchEvents,
//!   ReleaseSession. It reports sessions per second and, given the pid, the
//!   switch's CPU time per 1,000 sessions.
//!
//! ```text
//!  sender ──SEND chunks (≤ window unanswered)──▶ switch ──chunks ≤ fanout size──▶ receiver 1..N
//!     ◀── 200 per chunk, once stored ───────────┘  ▲                               │
//!                                                   └──────── 200 per chunk ────────┘
//!  WatchEvents ◀── large_message_complete{delivered, failed} ── then ReleaseSession
//! ```
//!
//! The body is the flood body ([`super::body`]): a 24-byte header, then a fill
//! whose every word is a function of its offset, so the sender writes any chunk
//! without holding the message and each receiver checks every byte where it
//! lands (`verify`, on unless `--no-verify`). MB are 10^6 bytes; memory is in
//! MiB (2^20 bytes).
//!
//! Module map:
//! - `report`: the figures of both modes, as a table and as one JSON object.
//! - `transfer` (private): one session's life on the switch: created through
//!   the control API, legs bound, the message sent and received chunk by
//!   chunk, `large_message_complete` from WatchEvents, released.

mod report;
mod transfer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::task::JoinSet;
use tokio::time::{timeout, timeout_at};

use super::body::HEADER_LEN;
use super::procfs;
use super::target::run_tag;
use super::target::switch::{Control, control_client};
pub use report::{
    Completion, CpuReport, LargeErrors, MemoryReport, SessionsReport, ThroughputReport,
};
use transfer::{
    Completions, Message, SETUP_LIMIT, Transfer, body_header, create_session, release_session,
    transfer,
};

/// Which load `msrp-flood large` runs (`--mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LargeMode {
    /// One message of `--size` bytes to `--receivers` receivers: MB/s, peak RSS.
    #[default]
    Throughput,
    /// Whole sessions (set-up, one message, release) per second: CPU per session.
    Sessions,
}

/// Where the switch is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LargeTarget {
    /// The control API's URL (gRPC).
    pub control: String,
    /// Its bearer token, if it requires one.
    pub token: Option<String>,
    /// Where to connect for MSRP instead of the host:port of the switch's URIs.
    pub msrp_addr: Option<SocketAddr>,
}

/// A `--mode throughput` run.
#[derive(Clone, Debug)]
pub struct ThroughputConfig {
    /// The switch.
    pub target: LargeTarget,
    /// Receivers, every one bound before the sender starts.
    pub receivers: u32,
    /// The message size in bytes (at least [`HEADER_LEN`]).
    pub size: u64,
    /// The sender's chunk size in bytes.
    pub chunk_size: u64,
    /// The sender's chunks written and not yet answered, at most.
    pub window: usize,
    /// Check every byte each receiver gets against the generated body.
    pub verify: bool,
    /// The switch's process id: its RSS before and its peak after.
    pub pid: Option<u32>,
    /// The whole run, set-up included, fails after this.
    pub timeout: Duration,
}

impl ThroughputConfig {
    /// The defaults of `--mode throughput`: 1 GiB in 1 MiB chunks to 10
    /// receivers, window 4, verified, within 600 s.
    pub fn new(target: LargeTarget) -> Self {
        Self {
            target,
            receivers: 10,
            size: 1 << 30,
            chunk_size: 1 << 20,
            window: 4,
            verify: true,
            pid: None,
            timeout: Duration::from_secs(600),
        }
    }

    /// Refuses settings that cannot work, naming the flag.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.receivers == 0 {
            bail!("--receivers must be at least 1");
        }
        validate_message(self.size, self.chunk_size, self.window)?;
        validate_timeout(self.timeout, Duration::ZERO)
    }
}

/// A `--mode sessions` run.
#[derive(Clone, Debug)]
pub struct SessionsConfig {
    /// The switch.
    pub target: LargeTarget,
    /// The message size in bytes (at least [`HEADER_LEN`]).
    pub size: u64,
    /// The sender's chunk size in bytes (`size`: the message in one chunk).
    pub chunk_size: u64,
    /// The sender's chunks written and not yet answered, at most.
    pub window: usize,
    /// Loops, each with its own control connection, each one session at a time.
    pub concurrency: usize,
    /// How long the measurement lasts, after the warm-up.
    pub duration: Duration,
    /// Sessions before the measurement, excluded from the figures (not from the
    /// errors).
    pub warmup: Duration,
    /// Check every byte the receiver gets against the generated body.
    pub verify: bool,
    /// The switch's process id: its CPU time over the measurement.
    pub pid: Option<u32>,
    /// The whole run fails after this.
    pub timeout: Duration,
}

impl SessionsConfig {
    /// The defaults of `--mode sessions`: 64 KiB in one chunk, 4 loops, 10 s
    /// after a 1 s warm-up, verified, within 600 s.
    pub fn new(target: LargeTarget) -> Self {
        Self {
            target,
            size: 64 * 1024,
            chunk_size: 64 * 1024,
            window: 4,
            concurrency: 4,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            verify: true,
            pid: None,
            timeout: Duration::from_secs(600),
        }
    }

    /// Refuses settings that cannot work, naming the flag.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if self.duration.is_zero() {
            bail!("--duration-seconds must be above 0");
        }
        validate_message(self.size, self.chunk_size, self.window)?;
        validate_timeout(self.timeout, self.warmup + self.duration)
    }
}

fn validate_message(size: u64, chunk_size: u64, window: usize) -> anyhow::Result<()> {
    if size < HEADER_LEN as u64 {
        bail!("--size must be at least {HEADER_LEN} bytes (the body starts with a header)");
    }
    if chunk_size == 0 {
        bail!("--chunk-size must be at least 1");
    }
    if window == 0 {
        bail!("--window must be at least 1");
    }
    Ok(())
}

fn validate_timeout(limit: Duration, run: Duration) -> anyhow::Result<()> {
    if limit <= run {
        bail!("--timeout-seconds must be longer than the run (warm-up and duration)");
    }
    Ok(())
}

/// Runs `--mode throughput`: one session, one message to every receiver.
pub async fn run_throughput(config: &ThroughputConfig) -> anyhow::Result<ThroughputReport> {
    config.validate()?;
    let idle_kib = config
        .pid
        .map(|pid| procfs::status_kib(pid, "VmRSS"))
        .transpose()?;
    let target = &config.target;
    let deadline = tokio::time::Instant::now() + config.timeout;
    let too_long = || {
        anyhow::anyhow!(
            "the run took longer than --timeout-seconds ({} s)",
            config.timeout.as_secs_f64()
        )
    };
    let mut client = timeout(
        SETUP_LIMIT,
        control_client(&target.control, target.token.as_deref()),
    )
    .await
    .context("connecting to the control API")??;
    let tag = run_tag();
    let created = create_session(&mut client, &tag, 0, config.receivers);
    let session = timeout_at(deadline, created)
        .await
        .map_err(|_| too_long())??;
    let message = Message {
        size: config.size,
        chunk_size: config.chunk_size,
        header: body_header(0),
        verify: config.verify,
    };
    // The transfer runs on the runtime's workers (so `--threads` is what it
    // gets), and is aborted with its set when the timeout drops it.
    let mut task = JoinSet::new();
    let (session_for_task, watcher, window, addr) = (
        session.clone(),
        client.clone(),
        config.window,
        target.msrp_addr,
    );
    task.spawn(async move {
        let completions = Completions::watch(&watcher, Some(&session_for_task.session_id)).await?;
        let done = completions.expect(&session_for_task.session_id);
        transfer(&session_for_task, message, window, addr, done).await
    });
    let outcome = timeout_at(deadline, task.join_next()).await;
    // Released whatever happened, while the legs are still open: the IM
    // Server's BYE comes before the participants hang up.
    let released = release_session(&mut client, &session.session_id).await;
    let peak_kib = config
        .pid
        .map(|pid| procfs::status_kib(pid, "VmHWM"))
        .transpose()?;
    let transfer = match outcome {
        Ok(Some(joined)) => joined.context("the transfer panicked")??,
        Ok(None) => bail!("the transfer task vanished"),
        Err(_) => return Err(too_long()),
    };
    released?;
    let memory = match (idle_kib, peak_kib) {
        (Some(idle), Some(peak)) => Some(MemoryReport {
            idle_rss_mib: idle as f64 / 1024.0,
            peak_rss_mib: peak as f64 / 1024.0,
            above_idle_mib: peak.saturating_sub(idle) as f64 / 1024.0,
        }),
        _ => None,
    };
    Ok(throughput_report(config, &transfer, memory))
}

fn throughput_report(
    config: &ThroughputConfig,
    transfer: &Transfer,
    memory: Option<MemoryReport>,
) -> ThroughputReport {
    let first_byte = transfer.sent.first_byte;
    let last_answer = transfer
        .received
        .iter()
        .map(|r| r.finished)
        .max()
        .unwrap_or(first_byte);
    let seconds = last_answer.duration_since(first_byte).as_secs_f64();
    let sender_seconds = transfer
        .sent
        .last_answer
        .duration_since(first_byte)
        .as_secs_f64();
    let bytes_delivered = transfer.received.iter().map(|r| r.bytes).sum();
    ThroughputReport {
        mode: "throughput",
        receivers: config.receivers,
        size: config.size,
        chunk_size: config.chunk_size,
        window: config.window,
        verified: config.verify,
        seconds,
        bytes_delivered,
        delivered_mb_per_s: mb_per_s(bytes_delivered, seconds),
        sender_seconds,
        sender_mb_per_s: mb_per_s(config.size, sender_seconds),
        chunks_sent: transfer.sent.chunks,
        chunks_delivered: transfer.received.iter().map(|r| r.chunks).sum(),
        largest_chunk_delivered: transfer
            .received
            .iter()
            .map(|r| r.largest_chunk)
            .max()
            .unwrap_or(0),
        empty_end_chunks: transfer
            .received
            .iter()
            .map(|r| u64::from(r.empty_end))
            .sum(),
        switch: transfer.completion,
        memory,
        errors: transfer.errors(),
    }
}

fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds.max(f64::EPSILON)
}

/// One session's cycle, as a loop of a sessions run saw it.
struct Cycle {
    ended: Instant,
    took: Duration,
    errors: LargeErrors,
}

/// Runs `--mode sessions`: whole large message sessions from `concurrency` loops.
pub async fn run_sessions(config: &SessionsConfig) -> anyhow::Result<SessionsReport> {
    config.validate()?;
    timeout(config.timeout, sessions(config))
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "the run took longer than --timeout-seconds ({} s)",
                config.timeout.as_secs_f64()
            )
        })?
}

async fn sessions(config: &SessionsConfig) -> anyhow::Result<SessionsReport> {
    let target = &config.target;
    let connect = || async {
        timeout(
            SETUP_LIMIT,
            control_client(&target.control, target.token.as_deref()),
        )
        .await
        .context("connecting to the control API")?
    };
    // One watcher for every session, as an IM Server has: each loop waits for
    // its session's large_message_complete before it releases the session.
    let completions = Arc::new(Completions::watch(&connect().await?, None).await?);
    let tag = run_tag();
    let loops_n = u32::try_from(config.concurrency).context("--concurrency is too large")?;
    let mut clients = Vec::with_capacity(config.concurrency);
    for _ in 0..loops_n {
        clients.push(connect().await?);
    }
    let measure_from = Instant::now() + config.warmup;
    let deadline = measure_from + config.duration;
    let mut loops = JoinSet::new();
    for (lane, mut client) in (0..loops_n).zip(clients) {
        let (completions, tag) = (Arc::clone(&completions), tag.clone());
        let (size, chunk_size, window, verify, addr) = (
            config.size,
            config.chunk_size,
            config.window,
            config.verify,
            target.msrp_addr,
        );
        loops.spawn(async move {
            let mut cycles = Vec::new();
            let mut round = 0u32;
            while Instant::now() < deadline {
                let n = round.wrapping_mul(loops_n).wrapping_add(lane);
                let message = Message {
                    size,
                    chunk_size,
                    header: body_header(n),
                    verify,
                };
                let began = Instant::now();
                let errors = cycle(&mut client, &completions, &tag, n, message, window, addr)
                    .await
                    .with_context(|| format!("session {n} (loop {lane})"))?;
                let ended = Instant::now();
                cycles.push(Cycle {
                    ended,
                    took: ended - began,
                    errors,
                });
                round = round.wrapping_add(1);
            }
            anyhow::Ok(cycles)
        });
    }
    let cpu_reading = async {
        let Some(pid) = config.pid else {
            return anyhow::Ok(None);
        };
        tokio::time::sleep_until(measure_from.into()).await;
        let before = procfs::cpu_seconds(pid)?;
        tokio::time::sleep_until(deadline.into()).await;
        Ok(Some(procfs::cpu_seconds(pid)? - before))
    };
    let all_cycles = async {
        let mut cycles = Vec::new();
        while let Some(joined) = loops.join_next().await {
            cycles.extend(joined.context("a loop panicked")??);
        }
        anyhow::Ok(cycles)
    };
    let (cpu_seconds, cycles) = tokio::try_join!(cpu_reading, all_cycles)?;
    Ok(sessions_report(
        config,
        &cycles,
        cpu_seconds,
        measure_from,
        deadline,
    ))
}

fn sessions_report(
    config: &SessionsConfig,
    cycles: &[Cycle],
    cpu_seconds: Option<f64>,
    measure_from: Instant,
    deadline: Instant,
) -> SessionsReport {
    let mut errors = LargeErrors::default();
    for cycle in cycles {
        errors.add(&cycle.errors);
    }
    let mut measured: Vec<Duration> = cycles
        .iter()
        .filter(|c| c.errors.is_clean() && c.ended >= measure_from && c.ended <= deadline)
        .map(|c| c.took)
        .collect();
    measured.sort_unstable();
    let at = |q: f64| {
        let i = (measured.len() as f64 * q) as usize;
        measured
            .get(i.min(measured.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let sessions = measured.len() as u64;
    let duration_s = config.duration.as_secs_f64();
    SessionsReport {
        mode: "sessions",
        size: config.size,
        chunk_size: config.chunk_size,
        concurrency: config.concurrency,
        verified: config.verify,
        duration_s,
        sessions,
        sessions_per_s: sessions as f64 / duration_s,
        cycle_p50_ms: at(0.50),
        cycle_p99_ms: at(0.99),
        cpu: cpu_seconds.map(|cpu_seconds| CpuReport {
            cpu_seconds,
            cpu_seconds_per_1000_sessions: cpu_seconds * 1000.0 / sessions.max(1) as f64,
        }),
        errors,
    }
}

/// One whole session: created, its two legs bound, the message carried,
/// completion awaited, released (also when the delivery failed).
async fn cycle(
    client: &mut Control,
    completions: &Completions,
    tag: &str,
    n: u32,
    message: Message,
    window: usize,
    msrp_addr: Option<SocketAddr>,
) -> anyhow::Result<LargeErrors> {
    let session = create_session(client, tag, n, 1).await?;
    let done = completions.expect(&session.session_id);
    let delivered = transfer(&session, message, window, msrp_addr, done).await;
    let released = release_session(client, &session.session_id).await;
    let transfer = delivered?;
    released?;
    Ok(transfer.errors())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> LargeTarget {
        LargeTarget {
            control: "http://127.0.0.1:1".into(),
            token: None,
            msrp_addr: None,
        }
    }

    #[test]
    fn bad_settings_name_their_flag() {
        let mut c = ThroughputConfig::new(target());
        assert!(c.validate().is_ok());
        c.receivers = 0;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("--receivers")
        );
        let mut c = ThroughputConfig::new(target());
        c.size = 10;
        assert!(c.validate().unwrap_err().to_string().contains("--size"));
        let mut c = ThroughputConfig::new(target());
        c.window = 0;
        assert!(c.validate().unwrap_err().to_string().contains("--window"));
        let mut s = SessionsConfig::new(target());
        assert!(s.validate().is_ok());
        s.timeout = Duration::from_secs(5);
        assert!(s.validate().unwrap_err().to_string().contains("--timeout"));
        let mut s = SessionsConfig::new(target());
        s.concurrency = 0;
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("--concurrency")
        );
    }
}
