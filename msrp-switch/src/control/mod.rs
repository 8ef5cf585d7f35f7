//! The control plane's fronts on the [`Engine`](crate::engine::Engine): the gRPC
//! service (`msrpswitch.v1.SwitchControl`) today, an HTTP front later, each mapping
//! its wire types onto the same engine calls.

mod grpc;

pub use grpc::{ControlService, serve_control, serve_control_with};
