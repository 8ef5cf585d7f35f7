//! The control plane's front on the [`Engine`](crate::engine::Engine): the
//! service `msrpswitch.v1.SwitchControl`, served over gRPC and, by
//! `control_api::http`, over HTTP/JSON. `anchor` joins its calls into one step
//! per SIP message for scripts.

mod anchor;
mod grpc;

pub use grpc::{ControlService, serve_control, serve_control_with, serve_service};
