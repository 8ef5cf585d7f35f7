//! The HTTP port over HTTP/1.1: `GET /metrics` (the scrape), `GET /healthz`
//! (200 while the process runs), `GET /readyz` (200 while serving, 503 once the
//! readiness handle says not serving), the control API as HTTP/JSON when the
//! daemon adds it (`POST /msrpswitch.v1.SwitchControl/<Method>`,
//! `control_api::http`) and 404 for every other path.
//!
//! axum routes the requests; each connection is driven by hyper directly because
//! that is where the limits live: a header read timeout, a cap on a connection's
//! age, a cap on concurrent connections and on the request head's size. The port
//! is meant for a scraper and probes, so the limits are tight: a client that
//! opens connections and sends nothing holds a slot for seconds, not forever.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use control_api::http::PeerAddr;
use control_api::tls::ServerTls;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tracing::{Instrument, debug, debug_span};

use super::{CONTENT_TYPE, TEXT_CONTENT_TYPE};
use crate::transport::Engine;

/// How long a client has to send a whole request head. hyper starts the timer
/// when the connection is ready for a request, at accept and again after each
/// response, so this is also how long a kept-alive connection may sit idle.
/// At the limit hyper closes the connection without answering. 10 s is ample on
/// the networks a scraper and probes use, and a scraper that keeps its
/// connection open across a longer interval simply reconnects.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest a connection lives, however busy it is. At the limit the
/// connection finishes the response in flight (for at most
/// [`HttpLimits::header_read_timeout`] more) and is closed. This bounds a client
/// that trickles requests to hold its slot forever.
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(300);

/// Connections served at once. At the limit the server stops accepting until one
/// closes, and further clients wait in the kernel's accept queue. A scraper and
/// two probes need three; the rest is headroom for several scrapers.
pub const MAX_CONNECTIONS: usize = 32;

/// Largest request head buffered, in bytes (hyper's smallest allowed buffer). A
/// longer head is answered 431 and the connection is closed.
pub const MAX_REQUEST_HEAD_BYTES: usize = 8 * 1024;

/// Largest request body read, in bytes: a control call's JSON (SDP bodies are
/// a few KiB). More is answered 413.
pub const MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;

/// How long to wait before accepting again after `accept` failed: it fails
/// repeatedly when the process is out of file descriptors, and retrying at once
/// would spin a core the shards need.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// The metrics port's limits; `Default` gives the constants above.
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`MAX_CONNECTION_AGE`].
    pub max_connection_age: Duration,
    /// See [`MAX_CONNECTIONS`]; at least 1.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            max_connection_age: MAX_CONNECTION_AGE,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Serves the engine's metrics, `/healthz` and an always-ready `/readyz` on
/// `listener` with the default [`HttpLimits`] until `shutdown` completes.
pub async fn serve_metrics(
    listener: TcpListener,
    engine: Engine,
    shutdown: impl Future<Output = ()>,
) {
    // A receiver whose sender is gone keeps the last value: ready, for good.
    let (_, ready) = watch::channel(true);
    serve_metrics_with(listener, engine, ready, HttpLimits::default(), shutdown).await;
}

/// Serves the metrics port on `listener` until `shutdown` completes, then closes
/// every connection after its response in flight and returns.
///
/// `ready` is what `/readyz` reports: 200 while it holds `true`, 503 while
/// `false` (for example while the engine drains), so a load balancer stops
/// sending new work before the process stops.
pub async fn serve_metrics_with(
    listener: TcpListener,
    engine: Engine,
    ready: watch::Receiver<bool>,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) {
    serve_http(
        listener,
        engine,
        ready,
        limits,
        Router::new(),
        None,
        shutdown,
    )
    .await;
}

/// [`serve_metrics_with`] with more routes on the same port: the daemon adds
/// the control API over HTTP/JSON (`control_api::http::router`). Each request
/// carries its peer as a [`PeerAddr`] extension. With `tls` (`--http-tls`)
/// every connection is TLS with the control API's certificate, and with its
/// client CA a client certificate is required in the handshake, which must
/// end within the header read timeout.
pub async fn serve_http(
    listener: TcpListener,
    engine: Engine,
    ready: watch::Receiver<bool>,
    limits: HttpLimits,
    more: Router,
    tls: Option<ServerTls>,
    shutdown: impl Future<Output = ()>,
) {
    let router = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(Port { engine, ready })
        .merge(more)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY_BYTES));
    let slots = limits.max_connections.max(1);
    let permits = Arc::new(Semaphore::new(slots));
    // Tells open connections to finish once the server stops.
    let (closing, closed) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        // Take a slot before accepting, so a full server leaves clients in the
        // accept queue instead of accepting and dropping them.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => permit,
        };
        // The semaphore is never closed, so this only guards the impossible.
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                debug!(%err, "metrics accept failed");
                tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                continue;
            }
        };
        let (router, limits, closed, tls) =
            (router.clone(), limits.clone(), closed.clone(), tls.clone());
        tokio::spawn(
            async move {
                match tls {
                    None => {
                        let peer = PeerAddr {
                            addr: peer,
                            certified: false,
                        };
                        let service = TowerToHyperService::new(router.layer(Extension(peer)));
                        serve_connection(stream, service, limits, closed).await;
                    }
                    Some(tls) => {
                        let handshake =
                            tokio::time::timeout(limits.header_read_timeout, tls.accept(stream));
                        match handshake.await {
                            Ok(Ok(stream)) => {
                                let peer = PeerAddr {
                                    addr: peer,
                                    certified: tls.requires_client_certificates(),
                                };
                                let service =
                                    TowerToHyperService::new(router.layer(Extension(peer)));
                                serve_connection(stream, service, limits, closed).await;
                            }
                            Ok(Err(err)) => debug!(%err, "HTTP port: TLS handshake failed"),
                            Err(_) => debug!("HTTP port: TLS handshake timed out"),
                        }
                    }
                }
                drop(permit);
            }
            .instrument(debug_span!("metrics_conn", peer = %peer)),
        );
    }
    drop(listener);
    let _ = closing.send(true);
    // Every connection holds a permit until it ends: taking them all waits for
    // the last one, which the grace period in serve_connection bounds.
    let all = u32::try_from(slots).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
}

/// What the handlers share.
#[derive(Clone)]
struct Port {
    engine: Engine,
    ready: watch::Receiver<bool>,
}

/// OpenMetrics, unless the client asks for the Prometheus text format and not
/// for OpenMetrics (`Accept: text/plain`, as `promtool` and older scrapers do).
async fn scrape(State(port): State<Port>, headers: axum::http::HeaderMap) -> impl IntoResponse {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let text = port.engine.render_metrics();
    if accept.contains("text/plain") && !accept.contains("application/openmetrics-text") {
        (
            [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
            super::to_text_format(&text),
        )
    } else {
        ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(port): State<Port>) -> (StatusCode, &'static str) {
    if *port.ready.borrow() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not serving\n")
    }
}

async fn not_found() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "not found: try /metrics, /healthz, /readyz, or POST /msrpswitch.v1.SwitchControl/<Method>\n",
    )
}

/// Drives one connection until the client closes it, a limit ends it, or the
/// server stops.
async fn serve_connection<S>(
    stream: S,
    service: TowerToHyperService<Router>,
    limits: HttpLimits,
    mut closed: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_REQUEST_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => return log_end(result),
        () = tokio::time::sleep(limits.max_connection_age) => {}
        _ = closed.wait_for(|closed| *closed) => {}
    }
    // Finish the response in flight, if any; a client that does not read it is
    // dropped after the grace period, so a stop cannot hang on it.
    connection.as_mut().graceful_shutdown();
    match tokio::time::timeout(limits.header_read_timeout, connection).await {
        Ok(result) => log_end(result),
        Err(_) => debug!("metrics connection dropped after the grace period"),
    }
}

/// A client that hangs up or times out is no fault of ours: debug, not warn.
fn log_end(result: Result<(), hyper::Error>) {
    if let Err(err) = result {
        debug!(%err, "metrics connection ended");
    }
}
