//! The limits of the control port, so that nobody who merely reaches it can
//! hold it: a cap on connections served at once (further clients wait in the
//! kernel's accept queue), a time within which a new connection must send its
//! first bytes (the HTTP/2 preface) and, on a TLS port, finish its handshake,
//! HTTP/2 keep-alive pings that close dead peers, a per-call time limit, and
//! bounds on streams and header size.
//!
//! Each accepted connection waits for its first bytes and runs its TLS
//! handshake in a task of its own, holding its slot of the cap: a client that
//! stalls or fails its handshake (no client certificate, one from another CA,
//! plain HTTP/2 on the TLS port) is closed alone, and the HTTP/2 server only
//! ever sees connections that are ready.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::tls::ServerTls;

/// The control port's limits; `Default` gives the built-in ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortLimits {
    /// Connections served at once; at the cap, new ones wait to be accepted.
    pub max_connections: usize,
    /// How long a new connection may take to send its first bytes (on a TLS
    /// port: to finish its handshake) before it is closed.
    pub first_bytes_timeout: Duration,
    /// How long one call may take to produce its response (a `WatchEvents`
    /// stream counts until its stream starts).
    pub call_timeout: Duration,
    /// How often an idle connection is pinged; one that does not answer within
    /// `keepalive_timeout` is closed.
    pub keepalive_interval: Duration,
    /// See `keepalive_interval`.
    pub keepalive_timeout: Duration,
    /// Concurrent calls (HTTP/2 streams) on one connection.
    pub max_streams_per_connection: u32,
    /// Largest header block of one call, in bytes.
    pub max_header_bytes: u32,
}

impl Default for PortLimits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            first_bytes_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(20),
            max_streams_per_connection: 128,
            max_header_bytes: 16 * 1024,
        }
    }
}

/// Accepts on `listener` within `limits`: yields connections that hold a slot
/// of the cap, have sent their first bytes and, with `tls`, finished their
/// handshake. Runs until the stream is dropped.
pub fn incoming(
    listener: TcpListener,
    limits: PortLimits,
    tls: Option<ServerTls>,
) -> ReceiverStream<io::Result<Admitted>> {
    let (sender, receiver) = mpsc::channel(16);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        tracing::debug!(%err, "control accept failed");
                        // Out of descriptors: do not spin.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = sender.closed() => return,
            };
            // Without TCP_NODELAY each answer's HTTP/2 frames meet Nagle and the
            // client's delayed ACK: about 40 ms per call on Linux.
            let _ = stream.set_nodelay(true);
            let sender = sender.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let info = stream.connect_info();
                let peer = info.remote_addr();
                // One deadline for the first bytes and the whole handshake: a
                // client that sends one byte of its ClientHello and stops is
                // closed as one that sends nothing.
                let deadline = tokio::time::Instant::now() + limits.first_bytes_timeout;
                match tokio::time::timeout_at(deadline, admit(stream, tls)).await {
                    Ok(Ok(io)) => {
                        let _ = sender
                            .send(Ok(Admitted {
                                io,
                                info,
                                _permit: permit,
                            }))
                            .await;
                    }
                    Ok(Err(Refused::Handshake(err, stream))) => {
                        tracing::debug!(?peer, %err, "control connection failed its TLS handshake");
                        let _ = tokio::time::timeout_at(deadline, linger(stream)).await;
                    }
                    Ok(Err(Refused::Closed(err))) => {
                        tracing::debug!(?peer, %err, "control connection closed before sending");
                    }
                    Err(_) => tracing::debug!(
                        ?peer,
                        "control connection sent nothing, or no whole TLS handshake, in time; \
                         closed"
                    ),
                }
            });
        }
    });
    ReceiverStream::new(receiver)
}

/// Why a connection was not admitted.
enum Refused {
    /// It closed, or failed, before sending anything.
    Closed(io::Error),
    /// Its TLS handshake failed (the alert saying why is written); the socket,
    /// to close it gracefully.
    Handshake(io::Error, TcpStream),
}

/// Waits for the connection's first bytes, then runs its TLS handshake if the
/// port has TLS.
async fn admit(stream: TcpStream, tls: Option<ServerTls>) -> Result<Pin<Box<dyn Io>>, Refused> {
    // A peek: the bytes stay for the HTTP/2 server or the handshake. (Readiness
    // alone is no proof: a fresh socket may report readable with nothing in.)
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(1..) => {}
        Ok(0) => return Err(Refused::Closed(io::ErrorKind::UnexpectedEof.into())),
        Err(err) => return Err(Refused::Closed(err)),
    }
    let Some(tls) = tls else {
        return Ok(Box::pin(stream));
    };
    match tls.acceptor().accept(stream).into_fallible().await {
        Ok(stream) => Ok(Box::pin(stream)),
        Err((err, stream)) => Err(Refused::Handshake(err, stream)),
    }
}

/// Closes a connection whose handshake failed so that the alert written for it
/// (certificate required, unknown CA) reaches the client: FIN, then what the
/// client still sends is read and dropped until it closes too. A TLS 1.3 client
/// sends its first request before the server has checked its certificate;
/// closing with those bytes unread would make the kernel send a reset, and the
/// client could lose the alert and report only a closed connection.
async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 1024];
    while let Ok(1..) = stream.read(&mut sink).await {}
}

/// The byte stream under an admitted connection: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Send {}

impl<T: AsyncRead + AsyncWrite + Send> Io for T {}

/// An accepted control connection and its slot of the cap, given back when the
/// connection closes.
pub struct Admitted {
    io: Pin<Box<dyn Io>>,
    info: TcpConnectInfo,
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for Admitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admitted")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Connected for Admitted {
    type ConnectInfo = TcpConnectInfo;

    /// The TCP peer, with or without TLS: what `Request::remote_addr` and the
    /// audit log read.
    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for Admitted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().io.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io.as_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io.as_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().io.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().io.as_mut().poll_shutdown(cx)
    }
}
