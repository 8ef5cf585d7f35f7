//! TLS handshakes per second (`msrp-flood handshakes`): `concurrency` workers each
//! connect, complete a TLS handshake pinned to the switch's fingerprint (presenting
//! the flooder's certificate, as an MSRP client does), and close, back to back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpStream;

use super::stream::{FloodTls, handshake};

/// What to run.
#[derive(Debug, Clone)]
pub struct HandshakeLoad {
    /// The switch's TLS listener.
    pub addr: SocketAddr,
    /// The switch's certificate fingerprint (`sha-256 AB:...`), as it logs it.
    pub fingerprint: String,
    /// Workers, each one handshake at a time.
    pub concurrency: usize,
    /// How long to run.
    pub duration: Duration,
}

/// What it measured.
#[derive(Debug, Clone, Copy)]
pub struct HandshakeReport {
    /// Handshakes completed.
    pub handshakes: u64,
    /// Handshakes that failed.
    pub failures: u64,
    /// Seconds it ran.
    pub seconds: f64,
}

impl HandshakeReport {
    /// Completed handshakes per second.
    pub fn per_second(&self) -> f64 {
        self.handshakes as f64 / self.seconds.max(f64::EPSILON)
    }
}

/// Runs the load; fails if the first handshake does (a wrong pin, no listener).
pub async fn run(load: &HandshakeLoad) -> anyhow::Result<HandshakeReport> {
    let identity = FloodTls::generate()?;
    let connector = identity.connector(&load.fingerprint)?;
    let host = load.addr.ip().to_string();
    // One first, so that a wrong address or pin is an error, not a zero rate.
    let tcp = TcpStream::connect(load.addr)
        .await
        .with_context(|| format!("connecting to {}", load.addr))?;
    handshake(&connector, tcp, &host).await?;

    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + load.duration;
    let mut workers = Vec::with_capacity(load.concurrency);
    for _ in 0..load.concurrency.max(1) {
        let (connector, host, addr) = (connector.clone(), host.clone(), load.addr);
        let (done, failed) = (Arc::clone(&done), Arc::clone(&failed));
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let shaken = match TcpStream::connect(addr).await {
                    Ok(tcp) => handshake(&connector, tcp, &host).await.is_ok(),
                    Err(_) => false,
                };
                let counter = if shaken { &done } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for worker in workers {
        worker.await.context("a handshake worker panicked")?;
    }
    Ok(HandshakeReport {
        handshakes: done.load(Ordering::Relaxed),
        failures: failed.load(Ordering::Relaxed),
        seconds: start.elapsed().as_secs_f64(),
    })
}
