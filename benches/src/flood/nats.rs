//! `msrp-flood nats`: the same fan-out shape as a group chat of N members with
//! one sender, on a NATS server (Debian's `nats-server`), so `compare.sh` can
//! put the switch's group deliveries beside a message bus's (issue 20).
//!
//! ```text
//!  publisher ── PUB room <size> (pipelined, a PING every --window) ──▶ nats-server
//!  subscriber 1..N ◀── MSG room <sid> <size> ── (each counts and checks length)
//! ```
//! The NATS text protocol is small enough to speak directly (CONNECT, SUB,
//! PUB, PING/PONG, MSG), so nothing is added to measure it. The publisher
//! keeps at most `window` PUBs before a PING's PONG comes back, as the switch's
//! group sender keeps a window of unanswered SENDs. Delivered = MSGs read by
//! subscribers whose payload has the size sent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// What a run does.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// The server's client port.
    pub addr: SocketAddr,
    /// Subscribers (the group's other members).
    pub subscribers: usize,
    /// Payload bytes per message.
    pub size: usize,
    /// PUBs in flight before the publisher waits for a PONG.
    pub window: usize,
    /// Seconds measured, after `warmup`.
    pub duration: Duration,
    /// Seconds run before measuring.
    pub warmup: Duration,
    /// The server's process id, for its CPU time.
    pub pid: Option<u32>,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct NatsReport {
    /// Subscribers.
    pub subscribers: usize,
    /// Payload bytes.
    pub size: usize,
    /// Seconds measured.
    pub seconds: f64,
    /// Messages published in the measured period.
    pub published: u64,
    /// Messages delivered to subscribers in it.
    pub deliveries: u64,
    /// Deliveries per second.
    pub deliveries_per_s: f64,
    /// The server's CPU seconds in the measured period, with `--pid`.
    pub server_cpu_seconds: Option<f64>,
    /// Deliveries per server CPU-second, with `--pid`.
    pub deliveries_per_cpu_second: Option<f64>,
    /// MSGs whose payload was not the size sent.
    pub bad_payloads: u64,
}

const SUBJECT: &str = "room";

/// Runs the fan-out against the server.
///
/// # Errors
///
/// The server could not be reached or broke the protocol.
pub async fn run(config: NatsConfig) -> anyhow::Result<NatsReport> {
    if config.subscribers == 0 || config.window == 0 {
        bail!("--subscribers and --window must be at least 1");
    }
    let deliveries = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for sid in 0..config.subscribers {
        let mut conn = connect(config.addr).await?;
        conn.write_all(format!("SUB {SUBJECT} {sid}\r\nPING\r\n").as_bytes())
            .await?;
        let mut reader = BufReader::with_capacity(256 * 1024, conn);
        expect_pong(&mut reader).await?;
        let (deliveries, bad, stop, size) = (
            Arc::clone(&deliveries),
            Arc::clone(&bad),
            Arc::clone(&stop),
            config.size,
        );
        readers.push(tokio::spawn(async move {
            subscribe(reader, size, &deliveries, &bad, &stop).await
        }));
    }
    let publisher = connect(config.addr).await?;
    let (read, mut write) = publisher.into_split();
    let mut pongs = BufReader::new(read);
    let payload = vec![b'x'; config.size];
    let mut batch = Vec::with_capacity(config.window * (config.size + 32) + 8);
    let published = AtomicU64::new(0);
    let started = Instant::now();
    let mut measured_from: Option<(Instant, u64, u64, Option<f64>)> = None;
    let end = config.warmup + config.duration;
    while started.elapsed() < end {
        if measured_from.is_none() && started.elapsed() >= config.warmup {
            let cpu = config
                .pid
                .and_then(|pid| super::procfs::cpu_seconds(pid).ok());
            measured_from = Some((
                Instant::now(),
                published.load(Ordering::Relaxed),
                deliveries.load(Ordering::Relaxed),
                cpu,
            ));
        }
        batch.clear();
        for _ in 0..config.window {
            batch.extend_from_slice(format!("PUB {SUBJECT} {}\r\n", config.size).as_bytes());
            batch.extend_from_slice(&payload);
            batch.extend_from_slice(b"\r\n");
        }
        batch.extend_from_slice(b"PING\r\n");
        write.write_all(&batch).await?;
        expect_pong(&mut pongs).await?;
        published.fetch_add(config.window as u64, Ordering::Relaxed);
    }
    let Some((from, published_before, delivered_before, cpu_before)) = measured_from else {
        bail!("the run ended before the warm-up did");
    };
    let seconds = from.elapsed().as_secs_f64();
    let delivered = deliveries.load(Ordering::Relaxed) - delivered_before;
    let cpu_after = config
        .pid
        .and_then(|pid| super::procfs::cpu_seconds(pid).ok());
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.abort();
    }
    let server_cpu_seconds = cpu_before.zip(cpu_after).map(|(a, b)| b - a);
    Ok(NatsReport {
        subscribers: config.subscribers,
        size: config.size,
        seconds,
        published: published.load(Ordering::Relaxed) - published_before,
        deliveries: delivered,
        deliveries_per_s: delivered as f64 / seconds,
        server_cpu_seconds,
        deliveries_per_cpu_second: server_cpu_seconds
            .filter(|cpu| *cpu > 0.0)
            .map(|cpu| delivered as f64 / cpu),
        bad_payloads: bad.load(Ordering::Relaxed),
    })
}

/// Connects, reads the server's INFO and says CONNECT (no echo, no verbose).
async fn connect(addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
        .await
        .context("connecting to the NATS server timed out")?
        .with_context(|| format!("connecting to the NATS server at {addr}"))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream);
    let mut info = String::new();
    reader.read_line(&mut info).await?;
    if !info.starts_with("INFO ") {
        bail!("{addr} is not a NATS server: it said {info:?}");
    }
    let mut stream = reader.into_inner();
    stream
        .write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false}\r\n")
        .await?;
    Ok(stream)
}

/// Reads lines until a PONG (answering the server's PINGs on the way is not
/// needed within a run's length).
async fn expect_pong<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> anyhow::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            bail!("the NATS server closed the connection");
        }
        match line.trim_end() {
            "PONG" => return Ok(()),
            l if l.starts_with("-ERR") => bail!("the NATS server refused: {l}"),
            _ => {}
        }
    }
}

/// Counts MSGs for one subscriber until `stop`.
async fn subscribe(
    mut reader: BufReader<TcpStream>,
    size: usize,
    deliveries: &AtomicU64,
    bad: &AtomicU64,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let mut line = String::new();
    let mut payload = vec![0u8; size + 2];
    while !stop.load(Ordering::Relaxed) {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix("MSG ") {
            // MSG <subject> <sid> [reply] <bytes>
            let bytes: usize = rest
                .split_whitespace()
                .last()
                .and_then(|n| n.parse().ok())
                .unwrap_or(usize::MAX);
            if bytes > size {
                bad.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            reader.read_exact(&mut payload[..bytes + 2]).await?;
            if bytes == size {
                deliveries.fetch_add(1, Ordering::Relaxed);
            } else {
                bad.fetch_add(1, Ordering::Relaxed);
            }
        } else if line.starts_with("PING") {
            reader.get_mut().write_all(b"PONG\r\n").await?;
        }
    }
    Ok(())
}
