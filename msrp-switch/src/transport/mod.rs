//! The tokio shell around the sans-IO switch: shards (one thread and runtime per
//! core, `SO_REUSEPORT` listeners), connection drivers, and moving connections to
//! the shard that owns their session.
//!
//! Module map, in the order a connection meets them:
//! - `listener`: accepts, and peeks at the first request to pick the shard.
//! - `handover`: moves a connection with its unread bytes to another shard.
//! - `shard`: one shard's thread, its switch, its inbox and its timers.
//! - `driver`: the connection's task, reading and writing.
//! - `wake`: how the shard wakes a connection's task.
//! - `stream`: the byte stream they run over (TCP, TLS or WebSocket).
//! - `tls`: the switch's certificate, rustls configurations, fingerprint checks.
//! - `tls_stream`: a TLS connection's rustls state over the shard's socket.
//! - `ws`: the WebSocket upgrade and the framing of what the switch writes.
//! - `ws_stream`: a WebSocket connection's frames over the shard's socket.
//! - `large`: the stores of large messages (memory, spill files), one task each.
//! - `metrics_http`: the Prometheus scrape endpoint.

pub mod admission;
mod connect;
mod driver;
mod handover;
pub mod large;
mod listener;
pub(crate) mod shard;
mod stream;
mod tapping;
pub mod tls;
mod tls_stream;
mod wake;
pub mod ws;
mod ws_stream;

// The engine moved to `crate::engine`; this keeps `transport::Engine` working.
pub use crate::engine::{
    Colocate, Engine, EngineConfig, EngineError, EngineStats, TlsListen, WsListen,
};
