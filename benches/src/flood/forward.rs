//! The raw TCP forwarder: the ceiling of any user-space hop.
//!
//! It accepts connections in pairs (the 1st with the 2nd, the 3rd with the 4th, …)
//! and copies bytes both ways without looking at them, with large buffers. Whatever
//! an MSRP switch does on top (parsing, routing, rewriting paths, answering hop by
//! hop) is measured against this.

use std::future::Future;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// Each direction's copy buffer: large, so a busy pair moves many frames per system
/// call.
const COPY_BYTES: usize = 256 * 1024;

/// Forwards between pairs of connections accepted on `listener` until `shutdown`.
/// Pairs already forwarding go on until one side closes.
pub async fn serve_forward(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let first = tokio::select! {
            stream = accept(&listener) => stream,
            _ = &mut shutdown => return Ok(()),
        };
        let second = tokio::select! {
            stream = accept(&listener) => stream,
            _ = &mut shutdown => return Ok(()),
        };
        tokio::spawn(forward_pair(first, second));
    }
}

/// The next accepted connection. Accept errors (out of descriptors, a connection
/// reset before it was accepted) are passing: wait a moment and go on.
async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                return stream;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Copies both ways until either side closes, then closes the other.
async fn forward_pair(mut a: TcpStream, mut b: TcpStream) {
    let _ = tokio::io::copy_bidirectional_with_sizes(&mut a, &mut b, COPY_BYTES, COPY_BYTES).await;
}
