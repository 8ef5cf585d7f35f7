//! msrp-proto: MSRP (RFC 4975) and the MSRP switch of RFC 7701 as deterministic
//! state machines, with no sockets, no async runtime and no clock (quinn-proto is
//! the model). The daemon feeds bytes, closes and the time in, and drains output,
//! actions and events; a test does the same on a fake clock.
//!
//! Module map, in the order data flows:
//! - [`codec`]: bytes <-> frames. [`codec::Decoder`] turns a read buffer into a
//!   head, zero-copy body pieces and an end-line; [`codec::Encoder`] writes heads,
//!   responses and end-lines for one vectored write.
//! - [`endpoint`]: one per shard. Routes each frame to its connection and session,
//!   binds connections to participants (RFC 4975 §7.3), owns the timer queue, and
//!   serves the control operations.
//! - `conn`: one per connection: decoder, pre-bind output, the frame being read, and
//!   the lifecycle enum with its diagram.
//! - [`session`]: the session kinds, one type (file) each: 1:1 and group (with CPIM).
//! - [`media`]: the one owner of media rules: accept-types, max-size, setup role,
//!   chatroom; answers under a session's policy.
//! - `leg`: a participant's outgoing queue, counted into the queue gauge in one place.
//! - `report` and `transaction`: owed answers, generated REPORTs, outstanding
//!   requests and their deadlines.
//! - [`control`]: what the control plane reads back and the events it watches.
//! - [`ids`]: session, participant and connection ids, and wire ids.
//! - [`stats`]: the counters and gauges the core keeps; the daemon renders them.
//!
//! Time is always an argument (`now: Instant`): nothing here reads a clock.

#![forbid(unsafe_code)]

pub mod codec;

pub use leg::Transmits;

mod conn;
pub mod control;
pub mod endpoint;
pub mod ids;
mod leg;
pub mod media;
pub mod relay;
mod report;
pub mod security;
pub mod session;
pub mod stats;
mod transaction;
