//! The daemon's settings: built-in defaults (loopback, no file needed), overridden by
//! environment variables, overridden by flags. This is the only module that reads
//! either; everything else gets a validated [`Config`].

use std::net::SocketAddr;

use clap::{Parser, ValueEnum};

use crate::codec::{Limits, LimitsError};

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
    /// Where MSRP connections are accepted.
    pub listen: SocketAddr,
    /// The codec limits applied to every connection.
    pub limits: Limits,
    /// The log format.
    pub log_format: LogFormat,
}

impl Default for Config {
    /// Loopback on the MSRP default port 2855 with the codec's default limits.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 2855)),
            limits: Limits::default(),
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
        Ok(Config {
            listen: self.listen,
            limits,
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
        assert_eq!(config.listen, Config::default().listen);
        assert_eq!(config.limits, Limits::default());
    }

    #[test]
    fn flags_override_and_bad_limits_name_the_flag() {
        let config = parse(&["--listen", "127.0.0.1:0", "--max-headers", "10"]).unwrap();
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.limits.max_headers, 10);
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
}
