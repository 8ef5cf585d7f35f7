//! uring-forward: the raw TCP forwarder of `msrp-flood forward` on io_uring.
//!
//! The same behaviour as `flood::forward` (tokio, epoll): it accepts connections in
//! pairs (the 1st with the 2nd, the 3rd with the 4th, …), sets TCP_NODELAY on each,
//! and copies bytes both ways without looking at them through a 256 KiB buffer per
//! direction. An end of stream on one side shuts down writing on the other and the
//! other direction goes on; an error in either direction closes both. One thread, one
//! io_uring (compio, io_uring driver only: no epoll fallback). It exists to compare
//! the two transports with the same flood:
//!
//! ```sh
//! cargo build --release -p msrp-benches --features uring
//! uring-forward --listen 127.0.0.1:2857 &
//! msrp-flood run --target raw --addr 127.0.0.1:2857 --sessions 1 --size 1024
//! ```

#![forbid(unsafe_code)]

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::process::ExitCode;
use std::task::Poll;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use compio::BufResult;
use compio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use compio::net::{TcpListener, TcpStream};

/// Each direction's copy buffer, as in `flood::forward`: large, so a busy pair moves
/// many frames per operation.
const COPY_BYTES: usize = 256 * 1024;

/// Forward raw TCP between pairs of accepted connections, on io_uring.
#[derive(Parser, Debug)]
#[command(name = "uring-forward", version, about)]
struct Cli {
    /// Where to accept connections (paired in accept order).
    #[arg(long, default_value = "127.0.0.1:2856")]
    listen: SocketAddr,
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let runtime = compio::runtime::Runtime::new().context("starting the io_uring runtime")?;
    runtime.block_on(forward(cli.listen))
}

async fn forward(listen: SocketAddr) -> anyhow::Result<ExitCode> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    eprintln!(
        "uring-forward forwarding on {} (io_uring; connections paired in accept order)",
        listener.local_addr()?
    );
    // Runs until killed (SIGINT ends the process, as ctrl-c ends `msrp-flood forward`).
    loop {
        let first = accept(&listener).await;
        let second = accept(&listener).await;
        compio::runtime::spawn(forward_pair(first, second)).detach();
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
            Err(_) => compio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Copies both ways until both sides have ended, or until either direction fails;
/// then both connections close (they are dropped). Like tokio's
/// `copy_bidirectional`, which `flood::forward` uses (compio's own version waits for
/// the other direction even after an error, which can hang on a silent peer).
async fn forward_pair(a: TcpStream, b: TcpStream) {
    let mut a_to_b = pin!(copy_one_way(&a, &b));
    let mut b_to_a = pin!(copy_one_way(&b, &a));
    let (mut a_to_b_done, mut b_to_a_done) = (false, false);
    poll_fn(|cx| {
        if !a_to_b_done && let Poll::Ready(result) = a_to_b.as_mut().poll(cx) {
            if result.is_err() {
                return Poll::Ready(());
            }
            a_to_b_done = true;
        }
        if !b_to_a_done && let Poll::Ready(result) = b_to_a.as_mut().poll(cx) {
            if result.is_err() {
                return Poll::Ready(());
            }
            b_to_a_done = true;
        }
        if a_to_b_done && b_to_a_done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

/// Copies what `from` sends to `to` until `from` ends, then shuts down writing on
/// `to`. One buffer, read into and written out in turn; no copy of the bytes.
async fn copy_one_way(from: &TcpStream, to: &TcpStream) -> io::Result<()> {
    let (mut reader, mut writer) = (from, to);
    let mut buf = Vec::with_capacity(COPY_BYTES);
    loop {
        let BufResult(read, back) = reader.read(buf).await;
        buf = back;
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let BufResult(written, back) = writer.write_all(buf).await;
        buf = back;
        written?;
        buf.clear();
    }
    writer.shutdown().await
}
