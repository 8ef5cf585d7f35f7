//! msrp-proto: MSRP (RFC 4975) and the MSRP switch of RFC 7701 as deterministic
//! state machines, with no sockets, no async runtime and no clock (quinn-proto is
//! the model). The daemon feeds bytes, closes and the time in, and drains output,
//! actions and events; a test does the same on a fake clock.
//!
//! Module map, in the order data flows:
//! - [`codec`]: bytes <-> frames. [`codec::Decoder`] turns a read buffer into a
//!   head, zero-copy body pieces and an end-line; [`codec::Encoder`] writes heads,
//!   responses and end-lines for one vectored write.
//! - [`session`]: one shard's switch state: sessions, participants, connections,
//!   binding, forwarding, transactions, REPORTs, backpressure, timers.
//! - [`stats`]: the counters and gauges the core keeps; the daemon renders them.
//!
//! Time is always an argument (`now: Instant`): nothing here reads a clock.

#![forbid(unsafe_code)]

pub mod codec;
pub mod session;
pub mod stats;
