//! What one flood run does: the target, the shape of the load and how long it lasts.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};

use super::body::HEADER_LEN;
use super::ramp::Ramp;
use super::timeline::TimelineOutput;

/// The system under test, and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetSpec {
    /// msrp-switch: each session is created through its gRPC control API at
    /// `control` (`http://host:port`); MSRP goes to the host and port of the URIs the
    /// switch hands out, or to `msrp_addr` when given.
    Switch {
        /// The control API's URL.
        control: String,
        /// The control API's bearer token, if it requires one.
        token: Option<String>,
        /// Where to connect for MSRP instead of the URIs' host:port.
        msrp_addr: Option<SocketAddr>,
        /// How every participant reaches the switch.
        transport: Transport,
    },
    /// A raw TCP forwarder (`msrp-flood forward`): no signalling, connections are
    /// paired in the order they are accepted, bytes are copied unparsed.
    Raw {
        /// The forwarder's address.
        addr: SocketAddr,
    },
    /// An RFC 4976 relay such as Kamailio's msrp module: see
    /// [`super::target::relay`].
    Relay {
        /// The relay's MSRP address.
        addr: SocketAddr,
    },
}

impl TargetSpec {
    /// The name reports use: `switch`, `raw` or `relay`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Switch { .. } => "switch",
            Self::Raw { .. } => "raw",
            Self::Relay { .. } => "relay",
        }
    }
}

/// How the flooder's participants reach the switch (`--transport`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// Plain TCP (`TCP/MSRP`, `msrp` paths).
    #[default]
    Tcp,
    /// TLS (`TCP/TLS/MSRP`, `msrps` paths), the switch's certificate pinned by the
    /// fingerprint of its answer, the flooder's own self-signed one presented.
    Tls,
    /// WebSocket (RFC 7977, `;ws` paths): each participant connects to the
    /// switch's `--ws-listen` and upgrades with subprotocol `msrp`, one message
    /// per MSRP frame.
    Ws,
}

impl Transport {
    /// The name reports and flags use: `tcp`, `tls` or `ws`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Ws => "ws",
        }
    }
}

/// When the measurement ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// Senders stop starting messages this long after the warm-up.
    Duration(Duration),
    /// This many messages after the warm-up, split evenly over the sessions.
    Count(u64),
}

/// Group sessions (RFC 7701) instead of 1:1 ones: the shape of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupShape {
    /// Members that read: member 0 sends, members 1 to `size - 1` receive (at
    /// least 2).
    pub size: u32,
    /// Extra members that bind and then never read: the switch should drop them as
    /// slow consumers without slowing the others.
    pub stalled: u32,
    /// Messages sent but not yet finished by every receiver, at most (see
    /// the `gate` module); 0 leaves only the SEND window, so the switch queues for
    /// receivers that fall behind and may drop them.
    pub delivery_window: usize,
}

impl GroupShape {
    /// Members that receive and verify every message.
    pub fn receivers(&self) -> u32 {
        self.size.saturating_sub(1)
    }
}

/// One flood run.
#[derive(Clone, Debug)]
pub struct FloodConfig {
    /// The system under test.
    pub target: TargetSpec,
    /// Sessions, each with one sender and one receiver connection (or, with
    /// `group`, one sender and `group.size - 1` receivers).
    pub sessions: u32,
    /// A group session of this shape per session; `None` for 1:1 sessions.
    pub group: Option<GroupShape>,
    /// Message size in bytes (at least [`HEADER_LEN`]: the body carries its send time
    /// and sequence). In a group, the payload behind the CPIM headers.
    pub size: usize,
    /// Largest chunk in bytes; a message larger than this goes as several SENDs with
    /// one Message-ID. Equal to `size` for whole messages.
    pub chunk_size: usize,
    /// SEND transactions outstanding (200 not yet received) per sender connection.
    pub window: usize,
    /// How long the measurement lasts.
    pub bound: Bound,
    /// Load before the measurement, excluded from the figures (not from the checks).
    pub warmup: Duration,
    /// Total messages per second over all sessions; `None` sends as fast as the window
    /// allows.
    pub rate: Option<f64>,
    /// A linear ramp up (or down) to `rate`, from the run's start: the rate it
    /// starts from and how long it takes (`--ramp-from`, `--ramp-seconds`).
    pub ramp: Option<(f64, Duration)>,
    /// Paced runs: spin (yield) through the last millisecond before each message
    /// is due instead of sleeping on tokio's timer, whose 1 ms resolution sends
    /// a millisecond's messages in one burst (`--spin-pacing`). Arrivals are then
    /// spread evenly, at the price of the flooder's core.
    pub spin_pacing: bool,
    /// The per-second log (`--csv`, `--hdr-log`).
    pub timeline: TimelineOutput,
    /// Print a progress line every second on stderr.
    pub progress: bool,
    /// With nothing acknowledged or delivered for this long, the run stops and counts
    /// what is missing as lost.
    pub stall_timeout: Duration,
    /// Bound on setting up one session (signalling, connecting, binding).
    pub setup_timeout: Duration,
}

impl FloodConfig {
    /// The defaults of the `run` command against `target`: 1 session, 1 KiB
    /// messages, window 32, 10 s after a 1 s warm-up.
    pub fn new(target: TargetSpec) -> Self {
        Self {
            target,
            sessions: 1,
            group: None,
            size: 1024,
            chunk_size: 1024,
            window: 32,
            bound: Bound::Duration(Duration::from_secs(10)),
            warmup: Duration::from_secs(1),
            rate: None,
            ramp: None,
            spin_pacing: false,
            timeline: TimelineOutput::default(),
            progress: false,
            stall_timeout: Duration::from_secs(10),
            setup_timeout: Duration::from_secs(10),
        }
    }

    /// Refuses settings that cannot work, naming the flag.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.sessions == 0 {
            bail!("--sessions must be at least 1");
        }
        if self.size < HEADER_LEN {
            bail!(
                "--size must be at least {HEADER_LEN} bytes (the body carries its send time and sequence)"
            );
        }
        if self.chunk_size == 0 {
            bail!("--chunk-size must be at least 1");
        }
        if self.window == 0 {
            bail!("--window must be at least 1");
        }
        match self.bound {
            Bound::Duration(d) if d.is_zero() => bail!("--duration-seconds must be above 0"),
            Bound::Count(0) => bail!("--count must be at least 1"),
            _ => {}
        }
        if self
            .rate
            .is_some_and(|rate| !(rate.is_finite() && rate > 0.0))
        {
            bail!("--rate must be a positive number of messages per second");
        }
        if self.ramp.is_some() && self.rate.is_none() {
            bail!("--ramp-seconds needs --rate (the rate the ramp ends at)");
        }
        self.schedule()?;
        if self.stall_timeout.is_zero() {
            bail!("--stall-seconds must be above 0");
        }
        if let Some(group) = self.group {
            if group.size < 2 {
                bail!("--group-size must be at least 2 (one sender, one receiver)");
            }
            if !matches!(self.target, TargetSpec::Switch { .. }) {
                bail!("--group-size needs --target switch");
            }
        }
        Ok(())
    }

    /// The senders' schedule: `rate`, ramped up to when `ramp` says so; `None`
    /// when unpaced.
    pub fn schedule(&self) -> anyhow::Result<Option<Ramp>> {
        let Some(rate) = self.rate else {
            return Ok(None);
        };
        let ramp = match self.ramp {
            Some((from, over)) => Ramp::new(from, rate, over),
            None => Ramp::constant(rate),
        };
        ramp.map(Some).context("--rate")
    }

    /// SENDs per message.
    pub fn chunks_per_message(&self) -> usize {
        self.size.div_ceil(self.chunk_size.min(self.size))
    }

    /// The measured messages session `index` sends under [`Bound::Count`].
    pub fn quota(&self, index: u32) -> Option<u64> {
        match self.bound {
            Bound::Count(count) => {
                let sessions = u64::from(self.sessions);
                let extra = u64::from(u64::from(index) < count % sessions);
                Some(count / sessions + extra)
            }
            Bound::Duration(_) => None,
        }
    }

    /// Whether the run is long enough for a progress line (over 3 s), when known.
    pub fn is_long(&self) -> bool {
        match self.bound {
            Bound::Duration(d) => self.warmup + d > Duration::from_secs(3),
            Bound::Count(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> FloodConfig {
        FloodConfig::new(TargetSpec::Raw {
            addr: "127.0.0.1:1".parse().unwrap(),
        })
    }

    #[test]
    fn a_count_splits_over_the_sessions() {
        let mut c = config();
        c.sessions = 3;
        c.bound = Bound::Count(10);
        let quotas: Vec<_> = (0..3).map(|i| c.quota(i).unwrap()).collect();
        assert_eq!(quotas, [4, 3, 3]);
    }

    #[test]
    fn bad_settings_name_their_flag() {
        let mut c = config();
        c.size = 10;
        assert!(c.validate().unwrap_err().to_string().contains("--size"));
        let mut c = config();
        c.window = 0;
        assert!(c.validate().unwrap_err().to_string().contains("--window"));
        let mut c = config();
        c.bound = Bound::Count(0);
        assert!(c.validate().unwrap_err().to_string().contains("--count"));
        let mut c = config();
        c.group = Some(GroupShape {
            size: 5,
            stalled: 0,
            delivery_window: 32,
        });
        assert!(c.validate().unwrap_err().to_string().contains("--target"));
        c.target = TargetSpec::Switch {
            control: "http://127.0.0.1:1".into(),
            token: None,
            msrp_addr: None,
            transport: Transport::Tcp,
        };
        assert!(c.validate().is_ok());
        c.group = Some(GroupShape {
            size: 1,
            stalled: 0,
            delivery_window: 32,
        });
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("--group-size")
        );
    }

    #[test]
    fn a_ramp_needs_a_rate_to_end_at() {
        let mut c = config();
        c.ramp = Some((10.0, Duration::from_secs(5)));
        assert!(c.validate().unwrap_err().to_string().contains("--rate"));
        c.rate = Some(100.0);
        let ramp = c.schedule().unwrap().unwrap();
        assert_eq!((ramp.from_per_s(), ramp.to_per_s()), (10.0, 100.0));
        c.ramp = Some((-1.0, Duration::from_secs(5)));
        assert!(format!("{:#}", c.validate().unwrap_err()).contains("--ramp-from"));
    }

    #[test]
    fn chunks_round_up() {
        let mut c = config();
        c.size = 200 * 1024;
        c.chunk_size = 64 * 1024;
        assert_eq!(c.chunks_per_message(), 4);
        c.chunk_size = 1 << 30;
        assert_eq!(c.chunks_per_message(), 1);
    }
}
