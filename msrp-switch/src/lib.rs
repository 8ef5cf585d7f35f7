//! msrp-switch: the user plane of an IMS / OMA SIMPLE IM service.
//!
//! Module map, in the order data flows:
//! - [`msrp_proto`] (re-exported, and [`codec`] from it): the sans-IO core, in a
//!   crate of its own with no runtime, sockets or clock: the codec, the `Endpoint`
//!   of one shard (sessions, participants, binding, forwarding, transactions,
//!   REPORTs, backpressure) and the session kinds.
//! - [`transport`]: the tokio shell: shards (a pinned thread each), the listener,
//!   connection drivers, and handing connections between shards.
//! - [`engine`]: the shards started together, and the control facade the fronts call.
//! - [`control`]: the gRPC control API (`msrpswitch.v1`) implemented on the engine.
//! - [`metrics`]: every metric, its OpenMetrics exposition, and the HTTP port
//!   serving it with `/healthz` and `/readyz`.
//! - [`capture`]: captured sessions' frames to a HEP collector and to
//!   `WatchCapture` streams.
//! - [`config`]: the daemon's settings, defaults and validation.
//! - [`relay_credentials`]: the RFC 4976 relay's credentials file.
//! - [`sd_notify`]: systemd's readiness, reload, watchdog and stop notifications.
//! - [`store`]: one large message's body, in memory up to a bound and spilled
//!   to a file beyond it (Large Message Mode's late receivers).
//!
//! `msrp_proto` knows nothing of sockets or clocks: the transport feeds it
//! bytes and the time, and `transport/driver.rs` is the only place where bytes meet
//! a socket.

#![forbid(unsafe_code)]

pub use msrp_proto::codec;
pub mod capture;
pub mod config;
pub mod control;
pub mod engine;
pub mod lifecycle;
pub mod metrics;
pub mod relay_credentials;
pub mod sd_notify;
pub mod store;
pub use msrp_proto;
pub mod transport;
