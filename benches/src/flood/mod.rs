//! msrp-flood: the load generator, the raw forwarder it is compared with, and a
//! netcat for MSRP.
//!
//! Module map, in the order a run uses them:
//! - [`config`]: what a run does ([`FloodConfig`], [`TargetSpec`], [`Bound`],
//!   [`GroupShape`]).
//! - [`target`]: how a session is set up on the system under test (the switch's
//!   control API, 1:1 or group, a raw forwarder, an RFC 4976 relay (Kamailio)),
//!   behind one [`Target`] trait.
//! - `sender` / `receiver` (private): per session, windowed SENDs written in batches
//!   and a task reading their 200s; a receiver (per group member) that answers,
//!   reassembles, verifies and times every message.
//! - `gate` (private): in a group, holds the sender until the slowest receiver has
//!   caught up; `stalled` (private): group members that never read.
//! - [`body`]: the body layout (send time, session, sequence, deterministic fill)
//!   that lets a receiver verify and time a message without the sender's copy.
//! - [`cpim`]: the CPIM headers in front of every group message (RFC 7701 §7).
//! - [`wire`]: frames written straight into batch buffers, frames read with the
//!   switch's decoder.
//! - [`stream`]: a connection over TCP, TLS or WebSocket (`--transport`), split for
//!   the tasks; [`ws`]: the WebSocket one, one message per MSRP frame.
//! - [`run()`]: the run itself: setup, tasks, progress, drain, stall, report.
//! - [`report`]: the figures, as a table and as JSON.
//! - [`forward`]: the raw TCP forwarder (`msrp-flood forward`).
//! - [`oneshot`]: `send`, `recv` and `session`, to carry one message by hand.
//! - [`control_load`]: the control plane under load (`msrp-flood control`).
//! - [`handshakes`]: TLS handshakes per second (`msrp-flood handshakes`).
//! - [`large`]: Large Message Mode (`msrp-flood large`): one message to many
//!   receivers (MB/s, the switch's peak RSS), or whole sessions per second (the
//!   switch's CPU per session).
//! - [`churn`]: session churn (`msrp-flood churn`): sessions set up through the
//!   control API, used for a few messages and released, at a scheduled rate.
//! - [`ramp`]: the open-loop schedule of `run --rate` and `churn`, constant or
//!   ramped linearly.
//! - [`timeline`]: the per-second log (`--csv`, `--hdr-log`) of `run` and
//!   `churn`; [`plot`]: latency over time from that CSV as a PNG
//!   (`msrp-flood plot`).
//! - [`nats`]: the group fan-out shape on a NATS server (`msrp-flood nats`),
//!   for `compare.sh`.
//! - [`procfs`]: the switch's RSS, peak RSS and CPU time from `/proc/<pid>`.
//! - [`clock`]: the process-wide time base both ends of a message share.

pub mod body;
pub mod churn;
pub mod clock;
pub mod config;
pub mod control_load;
pub mod cpim;
pub mod forward;
mod gate;
pub mod handshakes;
pub mod large;
pub mod nats;
pub mod oneshot;
pub mod plot;
pub mod procfs;
pub mod ramp;
mod receiver;
pub mod report;
mod run;
mod sender;
mod stalled;
pub mod stream;
pub mod target;
pub mod timeline;
pub mod wire;
pub mod ws;

pub use config::{Bound, FloodConfig, GroupShape, TargetSpec, Transport};
pub use report::{Errors, GroupReport, Latency, Report};
pub use run::{run, run_on};
pub use target::Target;
