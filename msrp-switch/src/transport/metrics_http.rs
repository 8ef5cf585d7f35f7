//! `GET /metrics` over HTTP/1.1: the Prometheus scrape endpoint. Small on purpose:
//! one request per connection, no keep-alive, nothing else served.

use std::future::Future;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::debug;

use super::Engine;

/// Largest request head read.
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// Serves the engine's metrics on `listener` until `shutdown` completes.
pub async fn serve_metrics(
    listener: TcpListener,
    engine: Engine,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((mut stream, _)) = accepted else {
            continue;
        };
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut request = Vec::with_capacity(1024);
            let mut chunk = [0u8; 1024];
            let complete = loop {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break false,
                    Ok(n) => request.extend_from_slice(&chunk[..n]),
                }
                if request.windows(4).any(|w| w == b"\r\n\r\n") {
                    break true;
                }
                if request.len() > MAX_REQUEST_BYTES {
                    break false;
                }
            };
            if !complete {
                return;
            }
            let (status, content_type, body) =
                if request.starts_with(b"GET /metrics ") || request.starts_with(b"GET /metrics?") {
                    (
                        "200 OK",
                        "text/plain; version=0.0.4; charset=utf-8",
                        engine.render_metrics(),
                    )
                } else {
                    ("404 Not Found", "text/plain", "try /metrics\n".to_string())
                };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            if let Err(err) = stream.write_all(response.as_bytes()).await {
                debug!(%err, "metrics write failed");
            }
            let _ = stream.shutdown().await;
        });
    }
}
