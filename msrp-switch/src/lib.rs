//! msrp-switch: the user plane of an IMS / OMA SIMPLE IM service.
//!
//! Module map, in the order data flows:
//! - [`codec`]: sans-IO MSRP (RFC 4975) decoder and encoder; bytes in, frames out.
//! - [`session`]: sans-IO switch state of one shard: sessions, participants,
//!   binding, forwarding, transactions, REPORTs, backpressure.
//! - [`transport`]: the tokio shell: shards (a pinned thread each), the listener,
//!   connection drivers, and handing connections between shards.
//! - [`engine`]: the shards started together, and the control facade the fronts call.
//! - [`control`]: the gRPC control API (`msrpswitch.v1`) implemented on the engine.
//! - [`metrics`]: every metric, its OpenMetrics exposition, and the HTTP port
//!   serving it with `/healthz` and `/readyz`.
//! - [`config`]: the daemon's settings, defaults and validation.
//!
//! `codec` and `session` know nothing of sockets or clocks: the transport feeds them
//! bytes and the time, and `transport/driver.rs` is the only place where bytes meet
//! a socket.

#![forbid(unsafe_code)]

pub use msrp_proto::codec;
pub mod config;
pub mod control;
pub mod engine;
pub mod metrics;
pub use msrp_proto;
pub mod transport;
