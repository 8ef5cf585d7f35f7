//! msrpctl: the operators' command line for msrp-switch's gRPC control API.
//!
//! Run it against a running switch (default `http://127.0.0.1:50051`):
//!
//! ```text
//! cargo run -p msrpctl -- --help
//! msrpctl create-session --kind one-to-one --accept-types "text/plain message/cpim"
//! msrpctl add-participant --session S --im-address sip:alice@example.com --sdp-file offer.sdp
//! msrpctl get-session --session S
//! msrpctl --json list-sessions
//! msrpctl watch --session S
//! msrpctl top --metrics http://127.0.0.1:9464
//! MSRPCTL_SERVER=http://10.0.0.5:50051 MSRPCTL_TOKEN=... msrpctl stats
//! msrpctl --server https://switch.example:50051 --tls-ca ca.pem \
//!     --tls-cert im-server.pem --tls-key im-server-key.pem stats
//! ```
//!
//! `--help` lists every subcommand and the exit codes (0 ok, 2 usage, 3 not found,
//! 4 invalid argument, 5 failed precondition / SIP 488, 6 authentication,
//! 7 unavailable, 1 anything else).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use msrpctl::{Cli, main_exit_code};

fn main() -> ExitCode {
    let cli = Cli::parse();
    ExitCode::from(main_exit_code(&cli))
}
