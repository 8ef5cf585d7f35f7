//! The control API of msrp-switch: the gRPC service `msrpswitch.v1.SwitchControl`
//! through which the SIP signalling plane (IM Server, conference focus, B2BUA)
//! creates sessions and adds, modifies and removes participants.
//!
//! Module map:
//! - [`pb`]: the generated protobuf types (with serde in the canonical proto3 JSON
//!   mapping, by pbjson), client and server trait.
//! - [`error`]: the gRPC statuses the service returns, with machine-readable details
//!   (the offending field, the `not_acceptable_here` reason that maps to SIP 488).
//! - [`sdp`]: the SDP `m=message` section ⇄ [`pb::Media`].
//! - [`limits`]: the size and character limits of every request field.
//! - [`auth`]: bearer-token checking and the loopback-only default.
//! - [`tls`]: TLS and mTLS on the control port, both ends (rustls, ring), and the
//!   PEM files they read.
//! - [`port`]: the control port's connection limits, TLS handshakes included.
//! - [`server`]: serves an implementation of the trait with health and reflection.
//! - [`http`]: the same implementation as HTTP/JSON routes (proto3 JSON, errors
//!   as `google.rpc.Status`), for the daemon's HTTP port.
//! - [`placement`]: the client side of many nodes: which switch takes a new
//!   session (rendezvous hashing of its correlation tag), the nodes from a
//!   list, DNS SRV or a Kubernetes headless service, their load and drain
//!   state, a group chained across two nodes, and the background refresh
//!   from which a node answers `PlaceSession`.
//!
//! This crate knows nothing of MSRP internals: it defines the contract, and the
//! daemon implements [`pb::switch_control_server::SwitchControl`] on its engine.

#![forbid(unsafe_code)]

pub mod auth;
pub mod error;
pub mod http;
pub mod limits;
pub mod placement;
pub mod port;
pub mod sdp;
pub mod server;
pub mod tls;

/// Generated from `proto/msrpswitch/v1/switch.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("msrpswitch.v1");
    include!(concat!(env!("OUT_DIR"), "/msrpswitch.v1.serde.rs"));

    /// The encoded descriptor set of the proto, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/msrpswitch_descriptor.bin"));

    /// The encoded descriptor set of `google/rpc/error_details.proto` (with
    /// `google/protobuf/duration.proto`), so reflection clients decode the details
    /// of every error.
    pub const ERROR_DETAILS_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/error_details_descriptor.bin"));
}

/// The protobuf package the service is served under.
pub const PACKAGE: &str = "msrpswitch.v1";

/// The `ErrorInfo.domain` of every error detail this API returns.
pub const ERROR_DOMAIN: &str = "msrp-switch";
