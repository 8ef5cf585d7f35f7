//! msrp-flood: load generator for msrp-switch, the raw forwarder it is compared
//! with, and a netcat for MSRP.
//!
//! ```sh
//! # Flood a running switch (control API on 127.0.0.1:50051) for 10 s:
//! msrp-flood run --target switch --sessions 4 --size 1024
//! # The same over WebSocket (RFC 7977; the switch runs with --ws-listen ADDR):
//! msrp-flood run --target switch --transport ws --addr ADDR --size 1024
//! # A group (RFC 7701) of 100: member 0 sends, 99 receive; plus one member that
//! # never reads, which the switch should drop without slowing the others.
//! msrp-flood run --target switch --group-size 100 --stalled 1 --duration-seconds 8
//! # The ceiling: the same flood through a raw TCP forwarder.
//! msrp-flood forward --listen 127.0.0.1:2856 &
//! msrp-flood run --target raw --addr 127.0.0.1:2856 --sessions 4 --size 1024
//! # One message by hand: create a session, then receive and send.
//! msrp-flood session
//! msrp-flood recv --switch-uri URI_B --from PATH_B
//! msrp-flood send --switch-uri URI_A --from PATH_A --message hello
//! # Large Message Mode: 1 GiB to 10 receivers (MB/s, the switch's peak RSS),
//! # then whole large-message sessions per second (the switch's CPU per session).
//! msrp-flood large --receivers 10 --size 1073741824 --pid $(pidof msrp-switch)
//! msrp-flood large --mode sessions --duration-seconds 10 --pid $(pidof msrp-switch)
//! # Session churn as production has it: set-ups ramped from 20/s to 400/s over
//! # 20 s, 10 messages each, a line per second in a CSV and an HdrHistogram log,
//! # then latency over time as a PNG.
//! msrp-flood churn --ramp-from 20 --setups-per-second 400 --ramp-seconds 20 \
//!     --duration-seconds 25 --csv churn.csv --hdr-log churn.hlog
//! msrp-flood plot --csv churn.csv --out latency.png
//! ```

#![forbid(unsafe_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use msrp_benches::flood::large::LargeMode;
use msrp_benches::flood::oneshot::{self, Endpoint};
use msrp_benches::flood::timeline::TimelineOutput;
use msrp_benches::flood::{self, Bound, FloodConfig, GroupShape, TargetSpec, Transport};

/// Load generator and test tools for msrp-switch.
#[derive(Parser, Debug)]
#[command(name = "msrp-flood", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Flood a target with SENDs and report msgs/s, MB/s and latency.
    Run(RunArgs),
    /// Forward raw TCP between pairs of accepted connections (the ceiling of any hop).
    Forward(ForwardArgs),
    /// Create a 1:1 session through the control API and print how to use it.
    Session(SessionArgs),
    /// Connect, bind, send one message and print the response status.
    Send(SendArgs),
    /// Connect, bind, print the first message received and answer it 200.
    Recv(RecvArgs),
    /// Load the control API: create a session, add two participants, release it,
    /// from --concurrency callers; report cycles and calls per second.
    Control(ControlArgs),
    /// TLS handshakes per second: connect, handshake (pinning the switch's
    /// fingerprint, presenting a client certificate), close, from --concurrency
    /// workers.
    Handshakes(HandshakeArgs),
    /// Large Message Mode (OMA SIMPLE IM): one message to --receivers receivers
    /// (--mode throughput: MB/s delivered, the switch's peak RSS), or whole
    /// sessions, set up, delivered and released, from --concurrency loops
    /// (--mode sessions: sessions/s, the switch's CPU per 1,000 sessions).
    Large(LargeArgs),
    /// Session churn: sessions set up through the control API (CreateSession, two
    /// AddParticipant with SDP offers, both legs connected and bound), used for
    /// --messages-per-session messages and released, started at
    /// --setups-per-second (ramped with --ramp-from and --ramp-seconds), at most
    /// --concurrency at once; reports set-ups/s, messages/s and latencies.
    Churn(ChurnArgs),
    /// The group fan-out shape on a NATS server (Debian's nats-server): one
    /// publisher, --subscribers subscribers, --size-byte messages; reports
    /// deliveries/s and, with --pid, deliveries per server CPU-second.
    Nats(NatsArgs),
    /// Draw latency over time (p50, p99, max) and the achieved rate from a
    /// --csv log of `run` or `churn`, as a PNG.
    Plot(PlotArgs),
}

#[derive(Args, Debug)]
struct TimelineArgs {
    /// Write one CSV line per second (warm-up included): t_s, target_per_s,
    /// setups_per_s, msgs_per_s, p50_us, p90_us, p99_us, max_us, errors,
    /// in_flight.
    #[arg(long, value_name = "PATH")]
    csv: Option<PathBuf>,
    /// Write an HdrHistogram interval log: each second's message latencies in
    /// microseconds (and, for churn, set-up latencies tagged `setup`).
    #[arg(long, value_name = "PATH")]
    hdr_log: Option<PathBuf>,
}

impl TimelineArgs {
    fn output(self) -> TimelineOutput {
        TimelineOutput {
            csv: self.csv,
            hdr_log: self.hdr_log,
        }
    }
}

#[derive(Args, Debug)]
struct ChurnArgs {
    /// The switch's control API (gRPC front).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    control: String,
    /// The control API's bearer token, when the switch requires one.
    #[arg(long, env = "MSRP_FLOOD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// MSRP address; overrides the host:port of the URIs the switch hands out.
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Sessions started per second (where a ramp ends).
    #[arg(long, visible_alias = "ramp-to", default_value_t = 50.0)]
    setups_per_second: f64,
    /// Start the ramp at this many set-ups per second (with --ramp-seconds).
    #[arg(long, requires = "ramp_seconds")]
    ramp_from: Option<f64>,
    /// Raise the rate linearly from --ramp-from (default 0) to
    /// --setups-per-second over this many seconds from the start, then hold it.
    #[arg(long)]
    ramp_seconds: Option<f64>,
    /// Sessions open at once, at most; a session due when all are taken waits.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Messages from A to B in each session, one at a time.
    #[arg(long, default_value_t = 10)]
    messages_per_session: u32,
    /// Message size in bytes (at least 24).
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Pause between a message's 200 and the next message, in milliseconds.
    #[arg(long, default_value_t = 0)]
    message_interval_ms: u64,
    /// Seconds over which sessions are started; the run ends when the last one
    /// is released.
    #[arg(long, default_value_t = 10.0)]
    duration_seconds: f64,
    /// Limit on each step of a session (a control call, a bind, a message).
    #[arg(long, default_value_t = 10.0)]
    step_timeout_seconds: f64,
    #[command(flatten)]
    timeline: TimelineArgs,
    /// Worker threads of the flooder.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct PlotArgs {
    /// The per-second CSV (`run` or `churn` --csv).
    #[arg(long, value_name = "PATH")]
    csv: PathBuf,
    /// The PNG to write.
    #[arg(long, value_name = "PATH", default_value = "latency.png")]
    out: PathBuf,
    /// The chart's title.
    #[arg(long)]
    title: Option<String>,
    /// Width in pixels.
    #[arg(long, default_value_t = 1200)]
    width: u32,
    /// Height in pixels.
    #[arg(long, default_value_t = 600)]
    height: u32,
}

#[derive(Args, Debug)]
struct LargeArgs {
    /// throughput: one session, every receiver bound first, one message; sessions:
    /// whole sessions (CreateSession, sender and 1 receiver, the message, its
    /// large_message_complete, ReleaseSession) back to back.
    #[arg(long, value_enum, default_value_t = LargeMode::Throughput)]
    mode: LargeMode,
    /// The switch's control API (gRPC front).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    control: String,
    /// The control API's bearer token, when the switch requires one.
    #[arg(long, env = "MSRP_FLOOD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// MSRP address; overrides the host:port of the URIs the switch hands out.
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Receivers (--mode throughput; a sessions run has one per session).
    #[arg(long, default_value_t = 10)]
    receivers: u32,
    /// Message size in bytes, at least 24 [default: 1073741824 (1 GiB) for
    /// throughput, 65536 for sessions].
    #[arg(long)]
    size: Option<u64>,
    /// The sender's chunk size in bytes [default: 1048576 for throughput; for
    /// sessions, the whole message in one chunk].
    #[arg(long)]
    chunk_size: Option<u64>,
    /// The sender's chunks sent and not yet answered, at most (the switch
    /// answers a chunk once it is stored).
    #[arg(long, default_value_t = 4)]
    window: usize,
    /// Loops, each one session at a time on its own control connection
    /// (--mode sessions).
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Seconds to measure, after the warm-up (--mode sessions).
    #[arg(long, default_value_t = 10.0)]
    duration_seconds: f64,
    /// Seconds of sessions before the measurement, not counted (--mode sessions).
    #[arg(long, default_value_t = 1.0)]
    warmup_seconds: f64,
    /// The switch's pid. Throughput: its VmRSS before and VmHWM after (VmHWM is
    /// the process's lifetime peak: run against a freshly started switch).
    /// Sessions: its CPU time (utime+stime) over the measurement.
    #[arg(long)]
    pid: Option<u32>,
    /// Do not check the bytes received against the generated body (the
    /// Byte-Ranges and counts are still checked).
    #[arg(long)]
    no_verify: bool,
    /// The whole run fails after this many seconds.
    #[arg(long, default_value_t = 600.0)]
    timeout_seconds: f64,
    /// Worker threads of the flooder.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// `nats`' options.
#[derive(Args, Debug)]
struct NatsArgs {
    /// The NATS server's client port.
    #[arg(long, default_value = "127.0.0.1:4222")]
    addr: SocketAddr,
    /// Subscribers: the group's other members.
    #[arg(long, default_value_t = 99)]
    subscribers: usize,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Messages published before waiting for a PONG.
    #[arg(long, default_value_t = 32)]
    window: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 5.0)]
    duration_seconds: f64,
    /// Seconds run before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup_seconds: f64,
    /// The server's process id: its CPU time in the measured period.
    #[arg(long)]
    pid: Option<u32>,
    /// Worker threads of the flooder.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// One JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct HandshakeArgs {
    /// The switch's TLS listener (--tls-listen).
    #[arg(long, default_value = "127.0.0.1:2856")]
    addr: SocketAddr,
    /// The switch's certificate fingerprint, as its start-up log line gives it
    /// (`sha-256 AB:CD:...`).
    #[arg(long)]
    fingerprint: String,
    /// Workers, each one handshake at a time.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Seconds to run (at most 600).
    #[arg(long, default_value_t = 5.0)]
    duration_seconds: f64,
    /// Worker threads of the flooder.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct ControlArgs {
    /// The switch's control API (gRPC front).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    control: String,
    /// Which front the calls take: `grpc` (--control) or `http` (the
    /// HTTP/JSON front on the switch's HTTP port, --http).
    #[arg(long, default_value = "grpc", value_parser = ["grpc", "http"])]
    front: String,
    /// The switch's HTTP port (its --metrics-listen), `host:port`, for
    /// `--front http`.
    #[arg(long, value_name = "HOST:PORT")]
    http: Option<String>,
    /// The control API's bearer token, when the switch requires one.
    #[arg(long, env = "MSRP_FLOOD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Callers, each on its own connection, each running cycles back to back.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Seconds to run (at most 600).
    #[arg(long, default_value_t = 5.0)]
    duration_seconds: f64,
    /// The switch's pid: its RSS is read before and after, and the growth per
    /// released session reported.
    #[arg(long)]
    pid: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TargetKind {
    /// msrp-switch, sessions through its control API.
    Switch,
    /// A raw TCP forwarder (`msrp-flood forward`).
    Raw,
    /// An RFC 4976 relay such as Kamailio (receiver AUTH, Use-Path).
    Relay,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The system under test.
    #[arg(long, value_enum, default_value_t = TargetKind::Switch)]
    target: TargetKind,
    /// The switch's control API (target switch).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    control: String,
    /// The control API's bearer token, when the switch requires one.
    #[arg(long, env = "MSRP_FLOOD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// MSRP address: the forwarder or relay (default 127.0.0.1:2856 for raw); for
    /// the switch, overrides the host:port of the URIs it hands out.
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Sessions, each a sender and a receiver connection (or a group).
    #[arg(long, default_value_t = 1)]
    sessions: u32,
    /// Make each session a group (RFC 7701) of this many members (at least 2):
    /// member 0 sends CPIM-wrapped messages, every other member receives and
    /// verifies each one (target switch). Without it, 1:1 sessions.
    #[arg(long)]
    group_size: Option<u32>,
    /// Extra group members that bind and then never read: the switch should drop
    /// them as slow consumers without slowing the others (reported, not an error).
    #[arg(long, default_value_t = 0, requires = "group_size")]
    stalled: u32,
    /// Messages a group sender may have sent that some receiver has not finished
    /// (default: --window); 0 leaves only the SEND window, which the switch answers
    /// hop by hop, so slow receivers queue up and may be dropped.
    #[arg(long, requires = "group_size")]
    delivery_window: Option<usize>,
    /// Message size in bytes (at least 24; in a group, the payload behind the CPIM
    /// headers).
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Chunk size in bytes; messages larger than this go as several SENDs.
    #[arg(long)]
    chunk_size: Option<usize>,
    /// Outstanding SEND transactions per sender connection.
    #[arg(long, default_value_t = 32)]
    window: usize,
    /// Seconds to measure, after the warm-up.
    #[arg(long, default_value_t = 10.0, conflicts_with = "count")]
    duration_seconds: f64,
    /// Measure this many messages (over all sessions) instead of a duration.
    #[arg(long)]
    count: Option<u64>,
    /// Seconds of load before the measurement, excluded from the figures.
    #[arg(long, default_value_t = 1.0)]
    warmup_seconds: f64,
    /// Pace the senders at this many messages per second in total (latency at a
    /// given load; where a ramp ends); without it, send as fast as the window
    /// allows.
    #[arg(long, visible_alias = "ramp-to")]
    rate: Option<f64>,
    /// Start the ramp at this many messages per second (with --ramp-seconds).
    #[arg(long, requires = "ramp_seconds")]
    ramp_from: Option<f64>,
    /// Raise the pace linearly from --ramp-from (default 0) to --rate over this
    /// many seconds from the start (warm-up included), then hold it.
    #[arg(long, requires = "rate")]
    ramp_seconds: Option<f64>,
    /// With --rate: spin (yield) through the last millisecond before each
    /// message is due instead of sleeping on tokio's 1 ms timer, which sends a
    /// millisecond's messages in one burst; arrivals are spread evenly, at the
    /// price of the flooder's core (latency at a load, without the bursts).
    #[arg(long, requires = "rate")]
    spin_pacing: bool,
    #[command(flatten)]
    timeline: TimelineArgs,
    /// Worker threads of the flooder (1 leaves the other cores to the target).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// How every participant reaches the switch (target switch): tcp; tls
    /// (`TCP/TLS/MSRP` media with a self-signed flooder certificate, the switch's
    /// pinned by its answer); ws (RFC 7977: `;ws` paths, each participant connects
    /// to the switch's WebSocket listener, --ws-listen, and upgrades with
    /// subprotocol msrp; one message per MSRP frame). --addr then overrides the
    /// WebSocket listener's address.
    #[arg(long, value_enum)]
    transport: Option<Transport>,
    /// Same as --transport tls.
    #[arg(long, conflicts_with = "transport")]
    tls: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
    /// Stop when nothing is answered or delivered for this long; what is missing
    /// counts as lost.
    #[arg(long, default_value_t = 10.0)]
    stall_seconds: f64,
}

#[derive(Args, Debug)]
struct ForwardArgs {
    /// Where to accept connections (paired in accept order).
    #[arg(long, default_value = "127.0.0.1:2856")]
    listen: SocketAddr,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(Args, Debug)]
struct SessionArgs {
    /// The switch's control API.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    control: String,
    /// The control API's bearer token, when the switch requires one.
    #[arg(long, env = "MSRP_FLOOD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Host in the participants' own URIs.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
}

#[derive(Args, Debug)]
struct EndpointArgs {
    /// The switch's URI for this participant (the To-Path; several URIs separated by
    /// spaces for a relay path).
    #[arg(long)]
    switch_uri: String,
    /// This participant's own URI (the From-Path), as given to the control API.
    #[arg(long)]
    from: String,
    /// Where to connect; defaults to the host and port of the switch URI.
    #[arg(long)]
    to_addr: Option<SocketAddr>,
    /// Do not bind with a bodiless SEND first (for the raw forwarder).
    #[arg(long)]
    no_bind: bool,
}

#[derive(Args, Debug)]
struct SendArgs {
    #[command(flatten)]
    endpoint: EndpointArgs,
    /// The message text.
    #[arg(long, conflicts_with = "file")]
    message: Option<String>,
    /// Send this file's contents.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Content-Type of the message.
    #[arg(long, default_value = "text/plain")]
    content_type: String,
    /// Chunk size in bytes.
    #[arg(long, default_value_t = 2048)]
    chunk_size: usize,
}

#[derive(Args, Debug)]
struct RecvArgs {
    #[command(flatten)]
    endpoint: EndpointArgs,
    /// Give up after this many seconds (default: wait until Ctrl-C).
    #[arg(long)]
    timeout_seconds: Option<f64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("msrp-flood: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => {
            let runtime = runtime(args.threads)?;
            runtime.block_on(run(args))
        }
        Command::Forward(args) => {
            let runtime = runtime(args.threads)?;
            runtime.block_on(forward(args))
        }
        Command::Session(args) => runtime(1)?.block_on(session(args)),
        Command::Send(args) => runtime(1)?.block_on(send(args)),
        Command::Recv(args) => runtime(1)?.block_on(recv(args)),
        Command::Control(args) => runtime(1)?.block_on(control(args)),
        Command::Handshakes(args) => runtime(args.threads)?.block_on(handshakes(args)),
        Command::Large(args) => runtime(args.threads)?.block_on(large(args)),
        Command::Churn(args) => runtime(args.threads)?.block_on(churn(args)),
        Command::Nats(args) => runtime(args.threads)?.block_on(nats(args)),
        Command::Plot(args) => plot(args),
    }
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .context("starting the runtime")
}

fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| anyhow::anyhow!("{flag} must be a number of seconds, 0 or more"))
}

/// `--duration-seconds` of the control and handshake loads: more than 0, at most
/// 600.
fn run_length(value: f64) -> anyhow::Result<Duration> {
    if !(value > 0.0 && value <= 600.0) {
        bail!("--duration-seconds must be more than 0 and at most 600");
    }
    seconds(value, "--duration-seconds")
}

async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let transport = match args.tls {
        true => Transport::Tls,
        false => args.transport.unwrap_or_default(),
    };
    if transport != Transport::Tcp && args.target != TargetKind::Switch {
        bail!(
            "--transport {} needs --target switch (the raw forwarder and relays speak TCP)",
            transport.as_str()
        );
    }
    let target = match args.target {
        TargetKind::Switch => TargetSpec::Switch {
            control: args.control,
            token: args.token,
            msrp_addr: args.addr,
            transport,
        },
        TargetKind::Raw => TargetSpec::Raw {
            addr: args
                .addr
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 2856))),
        },
        TargetKind::Relay => TargetSpec::Relay {
            addr: args.addr.context("--target relay needs --addr")?,
        },
    };
    let mut config = FloodConfig::new(target);
    config.sessions = args.sessions;
    config.group = args.group_size.map(|size| GroupShape {
        size,
        stalled: args.stalled,
        delivery_window: args.delivery_window.unwrap_or(args.window),
    });
    config.size = args.size;
    config.chunk_size = args.chunk_size.unwrap_or(args.size);
    config.window = args.window;
    config.bound = match args.count {
        Some(count) => Bound::Count(count),
        None => Bound::Duration(seconds(args.duration_seconds, "--duration-seconds")?),
    };
    config.warmup = seconds(args.warmup_seconds, "--warmup-seconds")?;
    config.rate = args.rate;
    config.ramp = ramp(args.ramp_from, args.ramp_seconds)?;
    config.spin_pacing = args.spin_pacing;
    config.timeline = args.timeline.output();
    config.progress = !args.quiet;
    config.stall_timeout = seconds(args.stall_seconds, "--stall-seconds")?;
    let report = flood::run(&config).await?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        writeln!(stdout, "{}", report.to_json())?;
    } else {
        write!(stdout, "{}", report.to_table())?;
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `--ramp-from` and `--ramp-seconds`: the rate a ramp starts from (0 unless
/// given) and its length.
fn ramp(from: Option<f64>, over: Option<f64>) -> anyhow::Result<Option<(f64, Duration)>> {
    over.map(|over| Ok((from.unwrap_or(0.0), seconds(over, "--ramp-seconds")?)))
        .transpose()
}

async fn nats(args: NatsArgs) -> anyhow::Result<ExitCode> {
    use msrp_benches::flood::nats::{self, NatsConfig};
    let report = nats::run(NatsConfig {
        addr: args.addr,
        subscribers: args.subscribers,
        size: args.size,
        window: args.window,
        duration: run_length(args.duration_seconds)?,
        warmup: seconds(args.warmup_seconds, "--warmup-seconds")?,
        pid: args.pid,
    })
    .await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "nats fan-out to {} subscribers, {} B: {:.0} deliveries/s over {:.1} s ({} published, {} bad){}",
            report.subscribers,
            report.size,
            report.deliveries_per_s,
            report.seconds,
            report.published,
            report.bad_payloads,
            report
                .deliveries_per_cpu_second
                .map(|d| format!(", {d:.0} per server CPU-second"))
                .unwrap_or_default()
        );
    }
    Ok(if report.bad_payloads == 0 && report.deliveries > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn churn(args: ChurnArgs) -> anyhow::Result<ExitCode> {
    use msrp_benches::flood::churn::{self, ChurnConfig};
    let mut config = ChurnConfig::new(args.control);
    config.token = args.token;
    config.msrp_addr = args.addr;
    config.setups_per_s = args.setups_per_second;
    config.ramp = ramp(args.ramp_from, args.ramp_seconds)?;
    config.concurrency = args.concurrency;
    config.messages_per_session = args.messages_per_session;
    config.size = args.size;
    config.message_interval = Duration::from_millis(args.message_interval_ms);
    config.duration = run_length(args.duration_seconds)?;
    config.step_timeout = seconds(args.step_timeout_seconds, "--step-timeout-seconds")?;
    config.timeline = args.timeline.output();
    config.progress = !args.quiet;
    let report = churn::run(&config).await?;
    let mut stdout = std::io::stdout().lock();
    match args.json {
        true => writeln!(stdout, "{}", report.to_json())?,
        false => write!(stdout, "{}", report.to_table())?,
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn plot(args: PlotArgs) -> anyhow::Result<ExitCode> {
    use msrp_benches::flood::plot::{self, PlotStyle};
    let rows = msrp_benches::flood::timeline::read_csv(&args.csv)?;
    let mut style = PlotStyle {
        width: args.width,
        height: args.height,
        ..PlotStyle::default()
    };
    if let Some(title) = args.title {
        style.title = title;
    }
    plot::plot(&rows, &args.out, &style)?;
    eprintln!(
        "msrp-flood: {} seconds plotted to {}",
        rows.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn forward(args: ForwardArgs) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    eprintln!(
        "msrp-flood forwarding on {} (connections paired in accept order)",
        listener.local_addr()?
    );
    flood::forward::serve_forward(listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

async fn session(args: SessionArgs) -> anyhow::Result<ExitCode> {
    let s = oneshot::create_session(&args.control, args.token.as_deref(), &args.host).await?;
    println!("session {}", s.session_id);
    println!(
        "A (sender):   switch URI {}  own path {}",
        s.a.switch_uri, s.a.path
    );
    println!(
        "B (receiver): switch URI {}  own path {}",
        s.b.switch_uri, s.b.path
    );
    println!();
    println!("# terminal 1: receive as B");
    println!(
        "msrp-flood recv --switch-uri '{}' --from '{}'",
        s.b.switch_uri, s.b.path
    );
    println!("# terminal 2: send as A");
    println!(
        "msrp-flood send --switch-uri '{}' --from '{}' --message 'hello'",
        s.a.switch_uri, s.a.path
    );
    Ok(ExitCode::SUCCESS)
}

async fn endpoint(args: &EndpointArgs) -> anyhow::Result<Endpoint> {
    Endpoint::new(&args.switch_uri, &args.from, args.to_addr, !args.no_bind).await
}

async fn send(args: SendArgs) -> anyhow::Result<ExitCode> {
    let body = match (&args.message, &args.file) {
        (Some(text), _) => text.clone().into_bytes(),
        (None, Some(path)) => {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
        }
        (None, None) => bail!("give --message TEXT or --file FILE"),
    };
    let endpoint = endpoint(&args.endpoint).await?;
    let status =
        oneshot::send_message(&endpoint, &body, &args.content_type, args.chunk_size).await?;
    println!("{} {}", status.as_u16(), status.reason());
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn recv(args: RecvArgs) -> anyhow::Result<ExitCode> {
    let limit = args
        .timeout_seconds
        .map(|s| seconds(s, "--timeout-seconds"))
        .transpose()?;
    let endpoint = endpoint(&args.endpoint).await?;
    let received = oneshot::receive_message(&endpoint, limit).await?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&received.body)?;
    if !received.body.ends_with(b"\n") {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

async fn control(args: ControlArgs) -> anyhow::Result<ExitCode> {
    use msrp_benches::flood::control_load::{self, CALLS_PER_CYCLE, ControlLoad};
    let before = args.pid.map(control_load::rss_kib).transpose()?;
    let front = match (args.front.as_str(), args.http) {
        ("grpc", _) => control_load::Front::Grpc,
        ("http", Some(http)) => control_load::Front::Http(http),
        ("http", None) => {
            anyhow::bail!("--front http needs --http HOST:PORT (the switch's --metrics-listen)")
        }
        (other, _) => anyhow::bail!("--front {other}: grpc or http"),
    };
    let load = ControlLoad {
        control: args.control,
        front,
        token: args.token,
        concurrency: args.concurrency,
        duration: run_length(args.duration_seconds)?,
    };
    let report = control_load::run(&load).await?;
    println!(
        "{} cycles ({} calls each) in {:.2} s: {:.0} cycles/s, {:.0} calls/s; cycle p50 {:.3} ms, p99 {:.3} ms",
        report.cycles,
        CALLS_PER_CYCLE,
        report.seconds,
        report.cycles_per_second(),
        report.calls_per_second(),
        report.p50_ms,
        report.p99_ms
    );
    if let (Some(pid), Some(before)) = (args.pid, before) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = control_load::rss_kib(pid)?;
        let grown = after.saturating_sub(before) * 1024;
        println!(
            "switch RSS {before} KiB -> {after} KiB: {:.1} bytes per released session",
            grown as f64 / report.cycles.max(1) as f64
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn handshakes(args: HandshakeArgs) -> anyhow::Result<ExitCode> {
    use msrp_benches::flood::handshakes::{self, HandshakeLoad};
    let load = HandshakeLoad {
        addr: args.addr,
        fingerprint: args.fingerprint,
        concurrency: args.concurrency,
        duration: run_length(args.duration_seconds)?,
    };
    let report = handshakes::run(&load).await?;
    if args.json {
        println!(
            "{{\"handshakes\":{},\"failures\":{},\"seconds\":{:.3},\"per_second\":{:.1}}}",
            report.handshakes,
            report.failures,
            report.seconds,
            report.per_second()
        );
    } else {
        println!(
            "{} TLS handshakes in {:.2} s: {:.0}/s ({} failed)",
            report.handshakes,
            report.seconds,
            report.per_second(),
            report.failures
        );
    }
    Ok(if report.failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn large(args: LargeArgs) -> anyhow::Result<ExitCode> {
    use msrp_benches::flood::large::{self, LargeTarget, SessionsConfig, ThroughputConfig};
    let target = LargeTarget {
        control: args.control,
        token: args.token,
        msrp_addr: args.addr,
    };
    let run_timeout = seconds(args.timeout_seconds, "--timeout-seconds")?;
    let (passed, json, table) = match args.mode {
        LargeMode::Throughput => {
            let mut config = ThroughputConfig::new(target);
            config.receivers = args.receivers;
            config.size = args.size.unwrap_or(config.size);
            config.chunk_size = args.chunk_size.unwrap_or(config.chunk_size);
            config.window = args.window;
            config.verify = !args.no_verify;
            config.pid = args.pid;
            config.timeout = run_timeout;
            let report = large::run_throughput(&config).await?;
            (report.passed(), report.to_json(), report.to_table())
        }
        LargeMode::Sessions => {
            let mut config = SessionsConfig::new(target);
            config.size = args.size.unwrap_or(config.size);
            config.chunk_size = args.chunk_size.unwrap_or(config.size);
            config.window = args.window;
            config.concurrency = args.concurrency;
            config.duration = run_length(args.duration_seconds)?;
            config.warmup = seconds(args.warmup_seconds, "--warmup-seconds")?;
            config.verify = !args.no_verify;
            config.pid = args.pid;
            config.timeout = run_timeout;
            let report = large::run_sessions(&config).await?;
            (report.passed(), report.to_json(), report.to_table())
        }
    };
    let mut stdout = std::io::stdout().lock();
    match args.json {
        true => writeln!(stdout, "{json}")?,
        false => write!(stdout, "{table}")?,
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
