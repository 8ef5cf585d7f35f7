//! msrp-idle: memory per bound idle participant of a running msrp-switch.
//!
//! Reads the switch's resident set size (`VmRSS` in /proc/PID/status), creates
//! `--participants / 2` 1:1 sessions through the control API, connects and binds
//! every participant (a bodiless SEND, answered 200), waits, and reads the RSS
//! again. The difference divided by the participant count is the figure (sessions,
//! participants, connections, their tasks and buffers all included). It also
//! prints how long the set-up took and the bound legs per second that makes,
//! sessions set up one at a time (a single IM Server client, not the switch's
//! ceiling).
//!
//! ```sh
//! msrp-switch --shards 1 & PID=$!
//! msrp-idle --pid $PID --participants 10000
//! msrp-idle --pid $PID --participants 10000 --transport tls   # msrps participants
//! msrp-idle --pid $PID --participants 10000 --transport ws    # needs --ws-listen
//! ```
//!
//! With `--transport tls` (or `--tls`) every participant is `TCP/TLS/MSRP`: the
//! flooder's certificate fingerprint goes into its media, and it connects to the
//! switch's `msrps` URI (the TLS listener), pinning the fingerprint of the answer.
//! With `--transport ws` every participant's path ends in `;ws` (RFC 7977): it
//! connects to the host and port of the switch's URI (the WebSocket listener) and
//! upgrades with subprotocol `msrp` before it binds.
//! Each participant is a socket on both sides: `ulimit -n` must allow it.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use msrp_benches::flood::Transport;
use msrp_benches::flood::control_load::rss_kib;
use msrp_benches::flood::stream::{FloodStream, FloodTls, handshake};
use msrp_benches::flood::target::address_of;
use msrp_benches::flood::target::switch::{control_client, create_one_to_one_over};
use msrp_benches::flood::wire::{Paths, Tid, put_bind};
use msrp_benches::flood::ws::{WsStream, idle_config};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Measures the switch's memory per bound idle participant.
#[derive(Parser, Debug)]
#[command(name = "msrp-idle", version, about)]
struct Cli {
    /// The switch's process id (its RSS is read from /proc).
    #[arg(long)]
    pid: u32,
    /// The switch's control API.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    control: String,
    /// The control API's bearer token, when the switch requires one.
    #[arg(long, env = "MSRP_FLOOD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The switch's MSRP address (TCP; with --tls, the URIs' TLS address is used).
    #[arg(long, default_value = "127.0.0.1:2855")]
    addr: SocketAddr,
    /// Participants to bind (two per session).
    #[arg(long, default_value_t = 10_000)]
    participants: usize,
    /// Seconds to wait before each RSS reading, for the switch to settle.
    #[arg(long, default_value_t = 2)]
    settle_seconds: u64,
    /// Seconds to keep every participant bound after the result is printed, so
    /// that a script can read the machine's memory while they are all up
    /// (`benches/idle-many.sh`).
    #[arg(long, default_value_t = 0)]
    hold_seconds: u64,
    /// How participants connect: tcp (to --addr); tls (`msrps`, to the TLS
    /// listener of their URI); ws (`;ws` paths, to the WebSocket listener of
    /// their URI).
    #[arg(long, value_enum)]
    transport: Option<Transport>,
    /// Same as --transport tls.
    #[arg(long, conflicts_with = "transport")]
    tls: bool,
}

/// Sends the bind SEND and waits for its 200; the connection stays open.
async fn bind<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    switch_uri: &str,
    own: &str,
    n: u64,
) -> anyhow::Result<S> {
    let mut frame = Vec::new();
    put_bind(&mut frame, Tid(1_000_000 + n), &Paths::new(switch_uri, own));
    stream.write_all(&frame).await?;
    stream.flush().await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.windows(4).any(|w| w == b" 200") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .context("no answer to the bind SEND within 10 s")??;
        if n == 0 {
            bail!("the switch closed the connection instead of answering the bind");
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(stream)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let sessions = cli.participants / 2;
    let mut client = control_client(&cli.control, cli.token.as_deref()).await?;
    let settle = Duration::from_secs(cli.settle_seconds);
    tokio::time::sleep(settle).await;
    let before = rss_kib(cli.pid)?;
    let transport = match cli.tls {
        true => Transport::Tls,
        false => cli.transport.unwrap_or_default(),
    };
    let tls = (transport == Transport::Tls)
        .then(FloodTls::generate)
        .transpose()?;
    let scheme = if tls.is_some() { "msrps" } else { "msrp" };
    let uri_transport = if transport == Transport::Ws {
        "ws"
    } else {
        "tcp"
    };
    let mut sockets = Vec::with_capacity(sessions * 2);
    // One session at a time, as one IM Server thread would set them up: the rate
    // is a set-up's latency (create, two adds, two connects and binds) inverted.
    let started = std::time::Instant::now();
    for s in 0..sessions {
        let a = format!("{scheme}://127.0.0.1:9/idle{s:06}a;{uri_transport}");
        let b = format!("{scheme}://127.0.0.1:9/idle{s:06}b;{uri_transport}");
        let fingerprint = tls.as_ref().map(FloodTls::fingerprint);
        let session = create_one_to_one_over(&mut client, &a, &b, fingerprint).await?;
        for (i, p) in [&session.a, &session.b].into_iter().enumerate() {
            let n = (s * 2 + i) as u64;
            let stream = match (&tls, &p.fingerprint) {
                _ if transport == Transport::Ws => {
                    let addr = address_of(&p.switch_uri).await?;
                    FloodStream::Ws(Box::new(WsStream::connect(addr, idle_config()).await?))
                }
                (Some(tls), Some(pinned)) => {
                    let addr = address_of(&p.switch_uri).await?;
                    let tcp = TcpStream::connect(addr).await?;
                    let host = addr.ip().to_string();
                    handshake(&tls.connector(pinned)?, tcp, &host).await?
                }
                _ => FloodStream::Tcp(TcpStream::connect(cli.addr).await?),
            };
            sockets.push(bind(stream, &p.switch_uri, &p.path, n).await?);
        }
    }
    let setup = started.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let after = rss_kib(cli.pid)?;
    let bound = sockets.len() as u64;
    let per = (after.saturating_sub(before) * 1024) as f64 / bound as f64;
    let rate = bound as f64 / setup.max(f64::EPSILON);
    println!(
        "{{\"participants\":{bound},\"rss_before_kib\":{before},\"rss_after_kib\":{after},\"bytes_per_participant\":{per:.0},\"setup_seconds\":{setup:.3},\"bound_legs_per_s\":{rate:.0}}}"
    );
    eprintln!(
        "{bound} bound idle participants: RSS {before} KiB -> {after} KiB, {per:.0} bytes per participant; set up in {setup:.1} s ({rate:.0} bound legs/s, one session at a time)"
    );
    // The result is out before the hold: flushed, it tells a waiting script the
    // participants are all bound.
    std::io::Write::flush(&mut std::io::stdout())?;
    tokio::time::sleep(Duration::from_secs(cli.hold_seconds)).await;
    drop(sockets);
    Ok(())
}
