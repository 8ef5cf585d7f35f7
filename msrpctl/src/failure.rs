//! What went wrong, in terms an operator can act on: the message printed to stderr
//! and the exit code (see [`exit`]).

use std::fmt::Write as _;

use control_api::error::{NOT_ACCEPTABLE_HERE, bad_field, reason};
use control_api::tls::CertificateRefusal;
use serde_json::{Value, json};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// msrpctl's exit codes.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Any other failure.
    pub const OTHER: u8 = 1;
    /// Usage: bad flags (clap's own), unreadable input file, bad `--server`/`--token`.
    pub const USAGE: u8 = 2;
    /// `NOT_FOUND`: no such session or participant.
    pub const NOT_FOUND: u8 = 3;
    /// `INVALID_ARGUMENT`: malformed request or SDP.
    pub const INVALID_ARGUMENT: u8 = 4;
    /// `FAILED_PRECONDITION`, including `not_acceptable_here` (SIP 488).
    pub const FAILED_PRECONDITION: u8 = 5;
    /// `UNAUTHENTICATED` or `PERMISSION_DENIED`, or a client certificate the
    /// switch refused (or required).
    pub const AUTH: u8 = 6;
    /// `UNAVAILABLE`, connection refused or unreachable, or not serving.
    pub const UNAVAILABLE: u8 = 7;
}

/// Why a command failed.
#[derive(Debug)]
pub enum Cause {
    /// The switch answered with an error status.
    Status(Status),
    /// No connection could be made to the server.
    Connect {
        /// The address tried.
        server: String,
        /// The transport error and its causes.
        detail: String,
    },
    /// The TLS handshake failed over a certificate: the switch refused the
    /// client's (or its lack of one), or msrpctl refused the switch's.
    Certificate {
        /// Whose certificate was refused.
        refused: CertificateRefusal,
        /// The TLS error and its causes.
        detail: String,
    },
    /// No reply within `--timeout-seconds`.
    Timeout {
        /// The limit, in seconds.
        seconds: u64,
    },
    /// The health check answered something other than SERVING.
    NotServing {
        /// The status name reported (`NOT_SERVING`, `UNKNOWN`, ...).
        status: String,
    },
    /// The daemon's HTTP port answered, but not with its metrics (`top`): an
    /// HTTP error, or a page that is not Prometheus text.
    Metrics {
        /// The URL scraped.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// The invocation is wrong in a way clap cannot see (unreadable file, bad URL).
    Usage(String),
    /// Writing the output failed.
    Output(std::io::Error),
}

impl Cause {
    /// Why the connection to `server` failed: a refused certificate, or no
    /// connection at all.
    pub fn connection(server: &str, err: &(dyn std::error::Error + 'static)) -> Self {
        let detail = error_chain(err);
        match CertificateRefusal::find(err) {
            Some(refused) => Self::Certificate { refused, detail },
            None => Self::Connect {
                server: server.to_owned(),
                detail,
            },
        }
    }

    /// Why a call to `server` failed: the switch's answer or, when the call
    /// never reached the service (tonic reports a failed connection as an
    /// UNKNOWN status carrying the transport error: with TLS 1.3 the server
    /// refuses a client certificate only after the client's handshake is
    /// done), why the connection failed.
    pub fn call(server: &str, status: Status) -> Self {
        match std::error::Error::source(&status)
            .filter(|source| source.is::<tonic::transport::Error>())
        {
            Some(transport) => Self::connection(server, transport),
            None => Self::Status(status),
        }
    }
}

/// A failed command: what was being done, and why it failed.
#[derive(Debug)]
pub struct Failure {
    /// What failed, e.g. `add participant to session s-1`.
    pub what: String,
    /// Why.
    pub cause: Cause,
}

impl Failure {
    /// A failure of `what` because of `cause`.
    pub fn new(what: impl Into<String>, cause: Cause) -> Self {
        Self {
            what: what.into(),
            cause,
        }
    }

    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match &self.cause {
            Cause::Status(status) => exit_code_of(status.code()),
            Cause::Connect { .. } | Cause::NotServing { .. } => exit::UNAVAILABLE,
            Cause::Certificate { refused, .. } => match refused {
                CertificateRefusal::ByServer => exit::AUTH,
                CertificateRefusal::ByClient => exit::UNAVAILABLE,
            },
            Cause::Timeout { .. } | Cause::Metrics { .. } | Cause::Output(_) => exit::OTHER,
            Cause::Usage(_) => exit::USAGE,
        }
    }

    /// True when the output pipe was closed (`msrpctl watch | head`): not worth a
    /// message, and not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(&self.cause, Cause::Output(err) if err.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// The one line printed to stderr: `msrpctl: <what>: <why>[; field F][; reason R]`.
    pub fn message(&self) -> String {
        let mut line = format!("msrpctl: {}: ", self.what);
        match &self.cause {
            Cause::Status(status) => {
                line.push_str(status_text(status));
                if let Some(field) = bad_field(status) {
                    let _ = write!(line, "; field {field}");
                }
                if let Some(reason) = reason(status) {
                    let _ = write!(line, "; reason {reason}");
                    if reason == NOT_ACCEPTABLE_HERE {
                        line.push_str(" (answer SIP 488)");
                    }
                }
                if let Some(resource) = status.get_details_resource_info() {
                    // Only when the message does not already name it.
                    if !resource.resource_name.is_empty()
                        && !status.message().contains(&resource.resource_name)
                    {
                        let _ = write!(
                            line,
                            "; resource {} {}",
                            resource.resource_type, resource.resource_name
                        );
                    }
                }
                match status.code() {
                    Code::Unauthenticated | Code::PermissionDenied => {
                        line.push_str("; check --token (MSRPCTL_TOKEN)");
                    }
                    Code::Unavailable => {
                        line.push_str("; is msrp-switch running and serving?");
                    }
                    _ => {}
                }
            }
            Cause::Connect { server, detail } => {
                let _ = write!(
                    line,
                    "cannot connect: {detail}; is msrp-switch running at {server}?"
                );
            }
            Cause::Certificate {
                refused: CertificateRefusal::ByServer,
                detail,
            } => {
                let _ = write!(
                    line,
                    "the switch refused the client certificate: {detail}; check --tls-cert \
                     and --tls-key (MSRPCTL_TLS_CERT, MSRPCTL_TLS_KEY)"
                );
            }
            Cause::Certificate {
                refused: CertificateRefusal::ByClient,
                detail,
            } => {
                let _ = write!(
                    line,
                    "cannot connect: the switch's certificate is not trusted: {detail}; check \
                     --tls-ca (MSRPCTL_TLS_CA) and the host in --server"
                );
            }
            Cause::Timeout { seconds } => {
                let _ = write!(
                    line,
                    "no reply within {seconds} s (--timeout-seconds); deadline exceeded"
                );
            }
            Cause::NotServing { status } => {
                let _ = write!(line, "the control service is {status}");
            }
            Cause::Metrics { url, detail } => {
                let _ = write!(line, "cannot read the metrics at {url}: {detail}");
            }
            Cause::Usage(text) => line.push_str(text),
            Cause::Output(err) => {
                let _ = write!(line, "cannot write the output: {err}");
            }
        }
        line
    }

    /// The failure as a JSON document (printed to stdout under `--json`).
    pub fn to_json(&self) -> Value {
        let (code, field, reason) = match &self.cause {
            Cause::Status(status) => (
                code_name(status.code()).to_owned(),
                bad_field(status),
                reason(status),
            ),
            Cause::Connect { .. }
            | Cause::NotServing { .. }
            | Cause::Certificate {
                refused: CertificateRefusal::ByClient,
                ..
            } => ("UNAVAILABLE".to_owned(), None, None),
            Cause::Certificate {
                refused: CertificateRefusal::ByServer,
                ..
            } => ("UNAUTHENTICATED".to_owned(), None, None),
            Cause::Timeout { .. } => ("DEADLINE_EXCEEDED".to_owned(), None, None),
            Cause::Metrics { .. } => ("METRICS".to_owned(), None, None),
            Cause::Usage(_) => ("USAGE".to_owned(), None, None),
            Cause::Output(_) => ("OUTPUT".to_owned(), None, None),
        };
        json!({
            "error": {
                "what": self.what,
                "code": code,
                "message": self.message(),
                "field": field,
                "reason": reason,
                "exit_code": self.exit_code(),
            }
        })
    }
}

/// The exit code of a gRPC status code.
pub fn exit_code_of(code: Code) -> u8 {
    match code {
        Code::Ok => exit::OK,
        Code::NotFound => exit::NOT_FOUND,
        Code::InvalidArgument => exit::INVALID_ARGUMENT,
        Code::FailedPrecondition => exit::FAILED_PRECONDITION,
        Code::Unauthenticated | Code::PermissionDenied => exit::AUTH,
        Code::Unavailable => exit::UNAVAILABLE,
        _ => exit::OTHER,
    }
}

/// The canonical name of a gRPC status code (`NOT_FOUND`, ...).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The status message, or the code's name when the message is empty.
fn status_text(status: &Status) -> &str {
    if status.message().is_empty() {
        code_name(status.code())
    } else {
        status.message()
    }
}

/// An error and its chain of causes, `a: b: c`, without repeats.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use control_api::error;

    #[test]
    fn statuses_map_to_exit_codes_and_name_the_field_or_reason() {
        let failure = Failure::new(
            "add participant to session s-1",
            Cause::Status(error::invalid_argument("remote.sdp", "no m=message")),
        );
        assert_eq!(failure.exit_code(), exit::INVALID_ARGUMENT);
        let message = failure.message();
        assert!(
            message.starts_with("msrpctl: add participant to session s-1: remote.sdp:"),
            "{message}"
        );
        assert!(message.contains("; field remote.sdp"), "{message}");

        let failure = Failure::new(
            "add participant",
            Cause::Status(error::not_acceptable_here("no common media type")),
        );
        assert_eq!(failure.exit_code(), exit::FAILED_PRECONDITION);
        assert!(
            failure
                .message()
                .contains("reason not_acceptable_here (answer SIP 488)")
        );
        assert_eq!(failure.to_json()["error"]["reason"], "not_acceptable_here");

        let failure = Failure::new(
            "get session s-9",
            Cause::Status(error::not_found("session", "s-9")),
        );
        assert_eq!(failure.exit_code(), exit::NOT_FOUND);
        assert_eq!(
            failure.message(),
            "msrpctl: get session s-9: no session s-9"
        );
        assert_eq!(
            Failure::new("x", Cause::Status(Status::unauthenticated("bad"))).exit_code(),
            exit::AUTH
        );
        assert_eq!(
            Failure::new("x", Cause::Status(Status::permission_denied("no"))).exit_code(),
            exit::AUTH
        );
        assert_eq!(
            Failure::new("x", Cause::Status(Status::internal("boom"))).exit_code(),
            exit::OTHER
        );
    }

    #[test]
    fn refused_certificates_say_which_options_to_check() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "received fatal alert: UnknownCA",
        );
        let failure = Failure::new("get stats", Cause::connection("https://h:1", &refused));
        assert_eq!(failure.exit_code(), exit::AUTH);
        assert_eq!(failure.to_json()["error"]["code"], "UNAUTHENTICATED");
        assert_eq!(
            failure.message(),
            "msrpctl: get stats: the switch refused the client certificate: received fatal \
             alert: UnknownCA; check --tls-cert and --tls-key (MSRPCTL_TLS_CERT, \
             MSRPCTL_TLS_KEY)"
        );
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let failure = Failure::new("get stats", Cause::connection("https://h:1", &reset));
        assert_eq!(failure.exit_code(), exit::UNAVAILABLE);
        assert!(
            failure
                .message()
                .ends_with("is msrp-switch running at https://h:1?"),
            "{}",
            failure.message()
        );
        // A status the switch sent is its answer, not a connection failure.
        let denied = Cause::call("https://h:1", Status::unauthenticated("bad bearer token"));
        assert!(matches!(denied, Cause::Status(_)), "{denied:?}");
    }

    #[test]
    fn connection_failures_ask_whether_the_switch_runs() {
        let failure = Failure::new(
            "list sessions",
            Cause::Connect {
                server: "http://127.0.0.1:1".into(),
                detail: "connection refused".into(),
            },
        );
        assert_eq!(failure.exit_code(), exit::UNAVAILABLE);
        assert!(
            failure
                .message()
                .contains("is msrp-switch running at http://127.0.0.1:1?")
        );
    }
}
