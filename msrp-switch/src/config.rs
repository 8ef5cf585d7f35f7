//! The daemon's settings: built-in defaults (loopback, no file needed), overridden by
//! environment variables, overridden by flags. This is the only module that reads
//! either; everything else gets a validated [`Config`].

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::codec::{Limits, LimitsError};
use crate::transport::EngineConfig;
use msrp_proto::endpoint::EndpointConfig;
use msrp_proto::session::SessionLimits;

/// Command-line flags; each also reads the `MSRP_SWITCH_*` variable named in `--help`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "msrp-switch",
    version,
    about = "MSRP (RFC 4975) switch: the user plane of an IM service"
)]
pub struct Args {
    /// Address and port to accept MSRP over TCP on.
    #[arg(long, env = "MSRP_SWITCH_LISTEN", default_value = "127.0.0.1:2855")]
    pub listen: SocketAddr,

    /// Host written into the switch's MSRP URIs (what clients connect to); defaults
    /// to the listen address.
    #[arg(long, env = "MSRP_SWITCH_ADVERTISE_HOST")]
    pub advertise_host: Option<String>,

    /// Address and port of the gRPC control API (msrpswitch.v1). Beyond loopback it
    /// needs --control-token.
    #[arg(
        long,
        env = "MSRP_SWITCH_CONTROL_LISTEN",
        default_value = "127.0.0.1:50051"
    )]
    pub control_listen: SocketAddr,

    /// Bearer token the control API requires (`authorization: Bearer <token>`).
    #[arg(long, env = "MSRP_SWITCH_CONTROL_TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,

    /// Address and port of the Prometheus /metrics endpoint.
    #[arg(
        long,
        env = "MSRP_SWITCH_METRICS_LISTEN",
        default_value = "127.0.0.1:9464"
    )]
    pub metrics_listen: SocketAddr,

    /// Shards (one thread and runtime each, pinned to a core); 0 = one per core.
    #[arg(long, env = "MSRP_SWITCH_SHARDS", default_value_t = 0)]
    pub shards: usize,

    /// Bytes that may wait for one participant before its senders stop being read.
    #[arg(long, env = "MSRP_SWITCH_QUEUE_BYTES", default_value_t = EndpointConfig::default().queue_bytes)]
    pub queue_bytes: usize,

    /// Seconds a request the switch wrote waits for its response before it has
    /// failed (RFC 4975 §7.1.1) and the sender gets REPORT 408.
    #[arg(
        long,
        env = "MSRP_SWITCH_TRANSACTION_TIMEOUT_SECONDS",
        default_value_t = 30.0
    )]
    pub transaction_timeout_seconds: f64,

    /// Seconds an accepted connection may stay unbound before it is closed.
    #[arg(long, env = "MSRP_SWITCH_BIND_TIMEOUT_SECONDS", default_value_t = 30.0)]
    pub bind_timeout_seconds: f64,

    /// Seconds without a request in a session before the control API's event stream
    /// reports it idle (the IM Server may then end it); 0 = never.
    #[arg(
        long,
        env = "MSRP_SWITCH_SESSION_IDLE_SECONDS",
        default_value_t = 1800.0
    )]
    pub session_idle_seconds: f64,

    /// Seconds a participant the switch offered to may wait for its SDP answer
    /// (SetRemoteAnswer) before it is removed with an `offer_expired` event.
    #[arg(
        long,
        env = "MSRP_SWITCH_OFFER_TIMEOUT_SECONDS",
        default_value_t = 180.0
    )]
    pub offer_timeout_seconds: f64,

    /// Seconds after which a session is released by the switch (with a
    /// `session_released` event), unless CreateSession sets its own; 0 = never.
    #[arg(long, env = "MSRP_SWITCH_SESSION_MAX_SECONDS", default_value_t = 0.0)]
    pub session_max_seconds: f64,

    /// Seconds without a request from any participant after which a session is
    /// released by the switch, unless CreateSession sets its own; 0 = never.
    #[arg(
        long,
        env = "MSRP_SWITCH_SESSION_IDLE_RELEASE_SECONDS",
        default_value_t = 0.0
    )]
    pub session_idle_release_seconds: f64,

    /// Largest frame head (start line + headers) in bytes; a longer head closes the
    /// connection.
    #[arg(long, env = "MSRP_SWITCH_MAX_HEAD_BYTES", default_value_t = Limits::default().max_head_bytes)]
    pub max_head_bytes: usize,

    /// Most URIs in one To-Path / From-Path / Use-Path; more is answered 400.
    #[arg(long, env = "MSRP_SWITCH_MAX_URIS_PER_PATH", default_value_t = Limits::default().max_uris_per_path)]
    pub max_uris_per_path: usize,

    /// Most header lines in one frame; more is answered 400.
    #[arg(long, env = "MSRP_SWITCH_MAX_HEADERS", default_value_t = Limits::default().max_headers)]
    pub max_headers: usize,

    /// Longest transaction id / Message-ID (RFC 4975 allows 32; at most 64).
    #[arg(long, env = "MSRP_SWITCH_MAX_TRANSACTION_ID_BYTES", default_value_t = Limits::default().max_transaction_id_bytes)]
    pub max_transaction_id_bytes: usize,

    /// Largest chunk body in bytes (streamed, not buffered); more is answered 413.
    #[arg(long, env = "MSRP_SWITCH_MAX_CHUNK_BYTES", default_value_t = Limits::default().max_chunk_bytes)]
    pub max_chunk_bytes: u64,

    /// Group chats: seconds a participant's queue may stay over --queue-bytes
    /// before it is a slow consumer (dropped, or its senders paused, as the
    /// session's policy says).
    #[arg(
        long,
        env = "MSRP_SWITCH_SLOW_CONSUMER_GRACE_SECONDS",
        default_value_t = EndpointConfig::default().slow_consumer_grace.as_secs_f64()
    )]
    pub slow_consumer_grace_seconds: f64,

    /// Group chats: the most body bytes of one incoming chunk held before its
    /// copies go out; a longer chunk goes to each participant cut into chunks of
    /// this size. Between 1024 and --max-chunk-bytes [default: 262144, or
    /// --max-chunk-bytes if that is lower].
    #[arg(long, env = "MSRP_SWITCH_FANOUT_CHUNK_BYTES")]
    pub fanout_chunk_bytes: Option<usize>,

    /// Group chats: bytes queued for one participant whose socket takes nothing at
    /// which it is dropped at once, without waiting for the grace period (with the
    /// drop policy). At least --queue-bytes.
    #[arg(
        long,
        env = "MSRP_SWITCH_SLOW_CONSUMER_MAX_BYTES",
        default_value_t = EndpointConfig::default().slow_consumer_max_bytes
    )]
    pub slow_consumer_max_bytes: usize,

    /// Log line format.
    #[arg(long, env = "MSRP_SWITCH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The validated settings the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The forwarding engine: listener, shards, switch settings and codec limits.
    pub engine: EngineConfig,
    /// Where /metrics is served.
    pub metrics_listen: SocketAddr,
    /// Where the control API is served.
    pub control_listen: SocketAddr,
    /// The bearer token the control API requires, if any.
    pub control_token: Option<String>,
    /// The log format.
    pub log_format: LogFormat,
}

impl Default for Config {
    /// Loopback: MSRP on 127.0.0.1:2855, metrics on 127.0.0.1:9464, default limits.
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            control_listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            control_token: None,
            log_format: LogFormat::Text,
        }
    }
}

/// A setting that cannot work, naming it as the flag spells it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A codec limit is out of range.
    #[error("invalid --{}: {}", .0.field.replace('_', "-"), .0.reason)]
    Limit(#[from] LimitsError),
    /// Another setting is out of range.
    #[error("invalid --{flag}: {reason}")]
    Invalid {
        /// The flag, as spelled on the command line.
        flag: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The smallest `--fanout-chunk-bytes`: below it the per-copy head (To-Path,
/// From-Path, Message-ID, Byte-Range: a few hundred bytes) outweighs the body.
const MIN_FANOUT_CHUNK_BYTES: usize = 1024;

fn seconds(flag: &'static str, value: f64) -> Result<Duration, ConfigError> {
    if !(value.is_finite() && value > 0.0 && value <= 86_400.0) {
        return Err(ConfigError::Invalid {
            flag,
            reason: "must be more than 0 and at most 86400 seconds",
        });
    }
    Ok(Duration::from_secs_f64(value))
}

/// A limit in seconds where 0 means none; at most a year.
fn optional_seconds(flag: &'static str, value: f64) -> Result<Option<Duration>, ConfigError> {
    if value == 0.0 {
        return Ok(None);
    }
    if !(value.is_finite() && value > 0.0 && value <= 31_536_000.0) {
        return Err(ConfigError::Invalid {
            flag,
            reason: "must be 0 (never) or more than 0 and at most 31536000 seconds",
        });
    }
    Ok(Some(Duration::from_secs_f64(value)))
}

/// `--fanout-chunk-bytes`, checked against the chunk limit. Given, it must lie in
/// `1024..=max_chunk_bytes`: a larger value could never apply, since a longer
/// incoming chunk is refused with 413. Not given, it is the built-in default, or
/// `max_chunk_bytes` when that is lower, so lowering `--max-chunk-bytes` alone
/// never makes the defaults invalid.
fn fanout_chunk_bytes(value: Option<usize>, limits: &Limits) -> Result<usize, ConfigError> {
    let max = usize::try_from(limits.max_chunk_bytes).unwrap_or(usize::MAX);
    match value {
        None => Ok(EndpointConfig::default().fanout_chunk_bytes.min(max)),
        Some(value) if (MIN_FANOUT_CHUNK_BYTES..=max).contains(&value) => Ok(value),
        Some(_) => Err(ConfigError::Invalid {
            flag: "fanout-chunk-bytes",
            reason: "must be at least 1024 and at most --max-chunk-bytes",
        }),
    }
}

impl Args {
    /// Validates the flags into a [`Config`].
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let limits = Limits {
            max_head_bytes: self.max_head_bytes,
            max_uris_per_path: self.max_uris_per_path,
            max_headers: self.max_headers,
            max_transaction_id_bytes: self.max_transaction_id_bytes,
            max_chunk_bytes: self.max_chunk_bytes,
        };
        limits.validate()?;
        if self
            .control_token
            .as_deref()
            .is_some_and(|token| token.trim().is_empty())
        {
            return Err(ConfigError::Invalid {
                flag: "control-token",
                reason: "must not be empty or blank",
            });
        }
        if self.queue_bytes < 1024 {
            return Err(ConfigError::Invalid {
                flag: "queue-bytes",
                reason: "must be at least 1024",
            });
        }
        let fanout_chunk_bytes = fanout_chunk_bytes(self.fanout_chunk_bytes, &limits)?;
        if self.slow_consumer_max_bytes < self.queue_bytes {
            return Err(ConfigError::Invalid {
                flag: "slow-consumer-max-bytes",
                reason: "must be at least --queue-bytes",
            });
        }
        let switch = EndpointConfig {
            limits,
            queue_bytes: self.queue_bytes,
            transaction_timeout: seconds(
                "transaction-timeout-seconds",
                self.transaction_timeout_seconds,
            )?,
            bind_timeout: seconds("bind-timeout-seconds", self.bind_timeout_seconds)?,
            session_idle: match self.session_idle_seconds {
                0.0 => None,
                value => Some(seconds("session-idle-seconds", value)?),
            },
            // Fractions are allowed, as for the other timers; 0 is not (a leg would be
            // a slow consumer at its first burst).
            slow_consumer_grace: seconds(
                "slow-consumer-grace-seconds",
                self.slow_consumer_grace_seconds,
            )?,
            fanout_chunk_bytes,
            slow_consumer_max_bytes: self.slow_consumer_max_bytes,
            offer_timeout: seconds("offer-timeout-seconds", self.offer_timeout_seconds)?,
            session_limits: SessionLimits {
                max_duration: optional_seconds("session-max-seconds", self.session_max_seconds)?,
                idle_release: optional_seconds(
                    "session-idle-release-seconds",
                    self.session_idle_release_seconds,
                )?,
            },
            ..EndpointConfig::default()
        };
        Ok(Config {
            engine: EngineConfig {
                listen: self.listen,
                advertise_host: self.advertise_host,
                shards: self.shards,
                pin_cores: true,
                switch,
            },
            metrics_listen: self.metrics_listen,
            control_listen: self.control_listen,
            control_token: self.control_token,
            log_format: self.log_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let args = Args::try_parse_from(std::iter::once("msrp-switch").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        args.into_config().map_err(|e| e.to_string())
    }

    #[test]
    fn no_flags_give_the_loopback_defaults() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.engine.listen, Config::default().engine.listen);
        assert_eq!(config.engine.switch.limits, Limits::default());
        assert_eq!(config.metrics_listen.to_string(), "127.0.0.1:9464");
        assert_eq!(
            config.engine.switch.transaction_timeout,
            Duration::from_secs(30)
        );
    }

    #[test]
    fn flags_override_and_bad_limits_name_the_flag() {
        let config = parse(&["--listen", "127.0.0.1:0", "--max-headers", "10"]).unwrap();
        assert_eq!(config.engine.listen.port(), 0);
        assert_eq!(config.engine.switch.limits.max_headers, 10);
        assert_eq!(
            parse(&["--transaction-timeout-seconds", "0"]).unwrap_err(),
            "invalid --transaction-timeout-seconds: must be more than 0 and at most 86400 seconds"
        );
        assert_eq!(
            parse(&["--queue-bytes", "10"]).unwrap_err(),
            "invalid --queue-bytes: must be at least 1024"
        );
        assert_eq!(
            parse(&["--max-chunk-bytes", "0"]).unwrap_err(),
            "invalid --max-chunk-bytes: must be at least 1"
        );
        assert!(
            parse(&["--listen", "nowhere"])
                .unwrap_err()
                .contains("--listen")
        );
    }

    #[test]
    fn group_flags_default_to_the_switch_defaults() {
        let config = parse(&[]).unwrap();
        let defaults = EndpointConfig::default();
        assert_eq!(
            config.engine.switch.slow_consumer_grace,
            defaults.slow_consumer_grace
        );
        assert_eq!(
            config.engine.switch.fanout_chunk_bytes,
            defaults.fanout_chunk_bytes
        );
        let config = parse(&[
            "--slow-consumer-grace-seconds",
            "0.5",
            "--fanout-chunk-bytes",
            "65536",
        ])
        .unwrap();
        assert_eq!(
            config.engine.switch.slow_consumer_grace,
            Duration::from_millis(500)
        );
        assert_eq!(config.engine.switch.fanout_chunk_bytes, 65_536);
    }

    #[test]
    fn slow_consumer_max_bytes_is_at_least_the_queue_bound() {
        let config = parse(&[]).unwrap();
        assert_eq!(
            config.engine.switch.slow_consumer_max_bytes,
            EndpointConfig::default().slow_consumer_max_bytes
        );
        let config = parse(&[
            "--queue-bytes",
            "65536",
            "--slow-consumer-max-bytes",
            "65536",
        ]);
        assert_eq!(
            config.unwrap().engine.switch.slow_consumer_max_bytes,
            65_536
        );
        assert_eq!(
            parse(&["--slow-consumer-max-bytes", "65536"]).unwrap_err(),
            "invalid --slow-consumer-max-bytes: must be at least --queue-bytes"
        );
    }

    #[test]
    fn a_bad_slow_consumer_grace_names_the_flag() {
        for bad in ["0", "-1", "86401", "inf", "NaN"] {
            assert_eq!(
                parse(&[&format!("--slow-consumer-grace-seconds={bad}")]).unwrap_err(),
                "invalid --slow-consumer-grace-seconds: must be more than 0 and at most 86400 \
                 seconds",
                "{bad}"
            );
        }
        assert!(
            parse(&["--slow-consumer-grace-seconds", "soon"])
                .unwrap_err()
                .contains("--slow-consumer-grace-seconds")
        );
    }

    #[test]
    fn fanout_chunk_bytes_lie_between_1024_and_the_chunk_limit() {
        const BAD: &str =
            "invalid --fanout-chunk-bytes: must be at least 1024 and at most --max-chunk-bytes";
        assert_eq!(parse(&["--fanout-chunk-bytes", "1023"]).unwrap_err(), BAD);
        assert_eq!(parse(&["--fanout-chunk-bytes", "0"]).unwrap_err(), BAD);
        assert_eq!(
            parse(&["--max-chunk-bytes", "4096", "--fanout-chunk-bytes", "4097"]).unwrap_err(),
            BAD
        );
        let config = parse(&["--max-chunk-bytes", "4096", "--fanout-chunk-bytes", "4096"]).unwrap();
        assert_eq!(config.engine.switch.fanout_chunk_bytes, 4096);
        let config = parse(&["--fanout-chunk-bytes", "1024"]).unwrap();
        assert_eq!(config.engine.switch.fanout_chunk_bytes, 1024);
        // Not given, it follows a lower chunk limit instead of failing.
        let config = parse(&["--max-chunk-bytes", "4096"]).unwrap();
        assert_eq!(config.engine.switch.fanout_chunk_bytes, 4096);
        assert!(
            parse(&["--fanout-chunk-bytes=-5"])
                .unwrap_err()
                .contains("--fanout-chunk-bytes")
        );
    }

    #[test]
    fn a_blank_token_and_bad_offer_and_session_limits_name_their_flag() {
        for (args, flag) in [
            (&["--control-token", "   "][..], "control-token"),
            (&["--control-token", ""][..], "control-token"),
            (
                &["--offer-timeout-seconds", "0"][..],
                "offer-timeout-seconds",
            ),
            (&["--session-max-seconds=-1"][..], "session-max-seconds"),
            (
                &["--session-idle-release-seconds", "inf"][..],
                "session-idle-release-seconds",
            ),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(flag), "{args:?}: {err}");
        }
        let config = parse(&[
            "--session-max-seconds",
            "3600",
            "--offer-timeout-seconds",
            "30",
        ])
        .unwrap();
        let switch = &config.engine.switch;
        assert_eq!(
            switch.session_limits.max_duration,
            Some(Duration::from_secs(3600))
        );
        assert_eq!(switch.session_limits.idle_release, None);
        assert_eq!(switch.offer_timeout, Duration::from_secs(30));
    }
}
