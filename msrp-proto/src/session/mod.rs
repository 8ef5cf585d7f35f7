//! What the switch does with frames, with no socket and no clock: the sans-IO core.
//!
//! [`Switch`] is the whole state of one shard: its sessions, participants and
//! connections. The transport feeds it bytes ([`Switch::handle_input`]), closes
//! ([`Switch::handle_close`]) and the time ([`Switch::handle_timeout`]); it drains
//! output per connection ([`Switch::take_output`]), [`Action`]s (connect out, wake a
//! connection) and control-plane [`Event`]s. Tests drive it with a fake clock.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod cpim;
mod ids;
mod leg;
mod media;
mod switch;
mod transaction;

pub use ids::{ConnId, ParseIdError, ParticipantId, SessionKey, WireIds, shard_of_session_id};
pub use media::{accepts, negotiate};
pub use switch::{
    Action, ControlError, Counters, Event, Identity, LocalMedia, ParticipantInfo, Policy,
    Readiness, RemoteMedia, SessionInfo, SessionKind, SetupRole, SlowConsumer, Switch,
    SwitchConfig,
};
