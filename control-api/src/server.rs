//! Serves an implementation of `SwitchControl` with the standard gRPC health service
//! and server reflection (v1 and v1alpha, so `grpcurl` works with no proto file at
//! hand), behind the bearer-token check and, if the [`Auth`] has TLS, over TLS
//! (with client certificates checked in the handshake when it has a client CA).

use std::future::Future;

use tokio::net::TcpListener;
use tonic::transport::Server;

use crate::auth::Auth;
use crate::pb;
use crate::pb::switch_control_server::{SwitchControl, SwitchControlServer};
use crate::port::PortLimits;

/// Why the server stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Reflection could not be built from the descriptor sets.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves `service` on `listener` until `shutdown` completes.
pub async fn serve<S: SwitchControl>(
    listener: TcpListener,
    service: S,
    auth: Auth,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    serve_with(
        listener,
        service,
        auth,
        PortLimits::default(),
        std::future::pending(),
        shutdown,
    )
    .await
}

/// Serves `service` on `listener` within `limits` until `shutdown` completes;
/// once `not_serving` completes (a drain began) the health service reports
/// NOT_SERVING, for the server as a whole and for `SwitchControl`, while calls
/// are still served.
pub async fn serve_with<S: SwitchControl>(
    listener: TcpListener,
    service: S,
    auth: Auth,
    limits: PortLimits,
    not_serving: impl Future<Output = ()> + Send + 'static,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<SwitchControlServer<S>>()
        .await;
    let reporter = health_reporter.clone();
    let health_task = tokio::spawn(async move {
        not_serving.await;
        reporter.set_not_serving::<SwitchControlServer<S>>().await;
        reporter
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
    });
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(pb::ERROR_DETAILS_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(pb::ERROR_DETAILS_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let incoming = crate::port::incoming(listener, limits, auth.tls().cloned());
    let control =
        SwitchControlServer::with_interceptor(service, move |request| auth.check(request));
    let served = Server::builder()
        .timeout(limits.call_timeout)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .max_concurrent_streams(limits.max_streams_per_connection)
        .http2_max_header_list_size(limits.max_header_bytes)
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(control)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    health_task.abort();
    served?;
    Ok(())
}
