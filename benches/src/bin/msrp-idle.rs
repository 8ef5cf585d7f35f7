//! msrp-idle: memory per bound idle participant of a running msrp-switch.
//!
//! Reads the switch's resident set size (`VmRSS` in /proc/PID/status), creates
//! `--participants / 2` 1:1 sessions through the control API, connects and binds
//! every participant (a bodiless SEND, answered 200), waits, and reads the RSS
//! again. The difference divided by the participant count is the figure (sessions,
//! participants, connections, their tasks and buffers all included). It also
//! prints how long the set-up took and the bound legs per second that makes,
//! sessions set up one at a time (a single IM Server client, not the switch's
//! ceiling). With `--teardown` it then closes every connection at once and
//! times the switch taking the legs down (a network outage's shape).
//!
//! ```sh
//! msrp-switch --shards 1 & PID=$!
//! msrp-idle --pid $PID --participants 10000
//! msrp-idle --pid $PID --participants 18000 --source 127.0.0.2 --teardown
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
//!
//! With `--source IP` (tcp and tls) every participant connects from that local
//! address and from a port msrp-idle picks itself, in turn from `--source-port`
//! up (a port taken is skipped). Left to the kernel, each `connect` searches the
//! ephemeral range for a port free towards its destination, past every port
//! already used towards it: quadratic in the connections to one switch, and at
//! 252,000 legs nearly all of the set-up's CPU (`benches/idle-many.sh`,
//! `SOURCES=1`, where each msrp-idle has its own loopback address).

#![forbid(unsafe_code)]

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use msrp_benches::flood::Transport;
use msrp_benches::flood::control_load::rss_kib;
use msrp_benches::flood::procfs::cpu_seconds;
use msrp_benches::flood::stream::{FloodStream, FloodTls, handshake};
use msrp_benches::flood::target::address_of;
use msrp_benches::flood::target::switch::{Control, control_client, create_one_to_one_over};
use msrp_benches::flood::wire::{Paths, Tid, put_bind};
use msrp_benches::flood::ws::{WsStream, idle_config};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

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
    /// Then close every participant's connection at once and time the switch
    /// taking the legs down: until its Stats count no more connections than
    /// before the set-up. A second JSON line gives the seconds, the switch's
    /// CPU over them, and the legs closed per second and CPU per leg.
    #[arg(long)]
    teardown: bool,
    /// How participants connect: tcp (to --addr); tls (`msrps`, to the TLS
    /// listener of their URI); ws (`;ws` paths, to the WebSocket listener of
    /// their URI).
    #[arg(long, value_enum)]
    transport: Option<Transport>,
    /// Same as --transport tls.
    #[arg(long, conflicts_with = "transport")]
    tls: bool,
    /// The local address every participant connects from (tcp and tls), from
    /// ports picked in turn (see --source-port); by default the kernel picks
    /// both.
    #[arg(long)]
    source: Option<IpAddr>,
    /// With --source: the first local port tried.
    #[arg(long, default_value_t = 1024, requires = "source")]
    source_port: u16,
}

/// Where participants connect from (`--source`): one address, ports in turn.
struct Source {
    ip: IpAddr,
    /// The next port to try.
    port: u16,
    /// Where the ports start again after 65535.
    first: u16,
}

/// Ports tried for one connection before giving up: a port is skipped when it
/// is bound already (a listener, another client) or its 4-tuple is taken.
const PORT_TRIES: usize = 1024;

/// Connects to `addr`, from `source` when given: bound to its address and
/// next port, so that the kernel has no port to search for.
async fn connect_from(addr: SocketAddr, source: Option<&mut Source>) -> anyhow::Result<TcpStream> {
    let Some(source) = source else {
        return Ok(TcpStream::connect(addr).await?);
    };
    for _ in 0..PORT_TRIES {
        let local = SocketAddr::new(source.ip, source.port);
        source.port = source.port.checked_add(1).unwrap_or(source.first);
        let socket = match source.ip {
            IpAddr::V4(_) => TcpSocket::new_v4()?,
            IpAddr::V6(_) => TcpSocket::new_v6()?,
        };
        // A port the last run's connections left in TIME_WAIT may be bound again.
        socket.set_reuseaddr(true)?;
        match socket.bind(local) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e).with_context(|| format!("binding to --source {local}")),
        }
        match socket.connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) if matches!(e.kind(), ErrorKind::AddrInUse | ErrorKind::AddrNotAvailable) => {}
            Err(e) => {
                return Err(e).with_context(|| format!("connecting from {local} to {addr}"));
            }
        }
    }
    bail!(
        "no free port on --source {} towards {addr} in {PORT_TRIES} tries",
        source.ip
    )
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
    // Each figure is per bound participant: none would make them all NaN.
    if sessions == 0 {
        bail!("--participants must be at least 2 (one 1:1 session)");
    }
    let transport = match cli.tls {
        true => Transport::Tls,
        false => cli.transport.unwrap_or_default(),
    };
    if cli.source.is_some() && transport == Transport::Ws {
        bail!("--source works with the tcp and tls transports, not ws");
    }
    let mut client = control_client(&cli.control, cli.token.as_deref()).await?;
    let settle = Duration::from_secs(cli.settle_seconds);
    tokio::time::sleep(settle).await;
    let before = rss_kib(cli.pid)?;
    let connections_before = connections(&mut client).await?;
    let tls = (transport == Transport::Tls)
        .then(FloodTls::generate)
        .transpose()?;
    let scheme = if tls.is_some() { "msrps" } else { "msrp" };
    let uri_transport = if transport == Transport::Ws {
        "ws"
    } else {
        "tcp"
    };
    let mut source = cli.source.map(|ip| Source {
        ip,
        port: cli.source_port,
        first: cli.source_port,
    });
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
                    let tcp = connect_from(addr, source.as_mut()).await?;
                    let host = addr.ip().to_string();
                    handshake(&tls.connector(pinned)?, tcp, &host).await?
                }
                _ => FloodStream::Tcp(connect_from(cli.addr, source.as_mut()).await?),
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
    if !cli.teardown {
        drop(sockets);
        return Ok(());
    }
    let cpu_before = cpu_seconds(cli.pid)?;
    let started = std::time::Instant::now();
    drop(sockets);
    while connections(&mut client).await? > connections_before {
        if started.elapsed() > TEARDOWN_LIMIT {
            bail!("the switch still had connections {TEARDOWN_LIMIT:?} after they closed");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(cli.pid)? - cpu_before;
    let rate = bound as f64 / seconds.max(f64::EPSILON);
    let per_leg_us = cpu * 1e6 / bound as f64;
    println!(
        "{{\"closed\":{bound},\"teardown_seconds\":{seconds:.3},\"switch_cpu_seconds\":{cpu:.2},\"closed_legs_per_s\":{rate:.0},\"switch_cpu_us_per_leg\":{per_leg_us:.1}}}"
    );
    eprintln!(
        "{bound} connections closed at once: the switch took them down in {seconds:.2} s ({rate:.0} legs/s), {cpu:.2} s of its CPU ({per_leg_us:.1} µs per leg)"
    );
    Ok(())
}

/// How long `--teardown` waits for the switch to take the legs down.
const TEARDOWN_LIMIT: Duration = Duration::from_secs(600);

/// The switch's open MSRP connections, from its Stats.
async fn connections(client: &mut Control) -> anyhow::Result<u64> {
    let stats = client
        .stats(control_api::pb::StatsRequest {})
        .await
        .context("the control API's Stats")?;
    Ok(stats.into_inner().connections)
}
