//! msrp-switch: the user plane of an IMS / OMA SIMPLE IM service.
//!
//! Module map, in the order data flows:
//! - [`codec`]: sans-IO MSRP (RFC 4975) decoder and encoder; bytes in, frames out.
//! - [`config`]: the daemon's settings, defaults and validation.
//! - [`server`]: the tokio listener that accepts MSRP connections and answers them.
//!
//! The codec knows nothing of sockets or clocks; the server is the only place where
//! bytes meet a socket.

pub mod codec;
pub mod config;
pub mod metrics;
pub mod server;
pub mod session;
