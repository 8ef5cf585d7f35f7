//! The control API of msrp-switch: the gRPC service (`msrpswitch.v1`) the signalling
//! plane uses to create sessions and add, modify and remove participants.
//!
//! Not built yet: this crate reserves its place in the workspace so that
//! dependencies point one way (the daemon implements this crate's trait, never the
//! reverse). See `../shared/design.md` §3 for the contract it will serve.

/// The protobuf package the service will be served under.
pub const PACKAGE: &str = "msrpswitch.v1";
