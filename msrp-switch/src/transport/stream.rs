//! The byte stream a connection runs over, as the driver sees it: TCP, TLS or
//! WebSocket, so the driver and the listener never name a socket type.
//!
//! The driver reads and writes through two handles, so a [`Stream`] splits into a
//! [`ReadHalf`] and a [`WriteHalf`], and the two reunite when a connection moves to
//! another shard ([`Stream::detach`], then [`Detached::attach`] on that shard).

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncWrite, Interest};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::tls_stream::{DetachedTls, TlsConn};
use super::ws_stream::{DetachedWs, WsConn};

/// Bytes asked of the socket per read.
pub(crate) const READ_BYTES: usize = 64 * 1024;

/// A partial frame this small, left in a read buffer while the connection waits,
/// is moved into a buffer of its own size: a peer that trickles a few bytes must
/// not pin a whole [`READ_BYTES`] block per connection.
const COMPACT_BELOW_BYTES: usize = 4 * 1024;

/// One connection's byte stream.
#[derive(Debug)]
pub(crate) enum Stream {
    /// Plain TCP (RFC 4975 `msrp:` URIs with `;tcp`).
    Tcp(TcpStream),
    /// TLS over TCP (`msrps:`), after the handshake. Its halves share it.
    Tls(Rc<TlsConn>),
    /// WebSocket (RFC 7977, `;ws` URIs), after the upgrade. Its halves share it.
    Ws(Rc<WsConn>),
}

/// The reading side of a split [`Stream`].
#[derive(Debug)]
pub(crate) enum ReadHalf {
    /// Plain TCP.
    Tcp(OwnedReadHalf),
    /// TLS.
    Tls(Rc<TlsConn>),
    /// WebSocket.
    Ws(Rc<WsConn>),
}

/// The writing side of a split [`Stream`].
#[derive(Debug)]
pub(crate) enum WriteHalf {
    /// Plain TCP.
    Tcp(OwnedWriteHalf),
    /// TLS.
    Tls(Rc<TlsConn>),
    /// WebSocket.
    Ws(Rc<WsConn>),
}

/// A stream taken off its shard's runtime, to be sent to another shard's thread.
#[derive(Debug)]
pub(crate) enum Detached {
    /// Plain TCP.
    Tcp(std::net::TcpStream),
    /// TLS, with its rustls state.
    Tls(DetachedTls),
    /// WebSocket, with what it had not decoded.
    Ws(DetachedWs),
}

/// Waits for a peer to close or reset a connection that is not being read (see
/// [`ReadHalf::watch_close`]).
#[derive(Debug)]
pub(crate) struct CloseWatch {
    /// A second descriptor for the same socket, with its own readiness: clearing
    /// its "readable" mark does not hide pending input from the reader.
    dup: TcpStream,
}

impl Stream {
    /// Splits the stream for the driver's reader and writer tasks.
    pub(crate) fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Self::Tcp(stream) => {
                let (read, write) = stream.into_split();
                (ReadHalf::Tcp(read), WriteHalf::Tcp(write))
            }
            Self::Tls(conn) => (ReadHalf::Tls(Rc::clone(&conn)), WriteHalf::Tls(conn)),
            Self::Ws(conn) => (ReadHalf::Ws(Rc::clone(&conn)), WriteHalf::Ws(conn)),
        }
    }

    /// Puts the halves back together; `None` if they are not from one stream.
    pub(crate) fn reunite(read: ReadHalf, write: WriteHalf) -> Option<Self> {
        match (read, write) {
            (ReadHalf::Tcp(read), WriteHalf::Tcp(write)) => read.reunite(write).ok().map(Self::Tcp),
            (ReadHalf::Tls(read), WriteHalf::Tls(write)) if Rc::ptr_eq(&read, &write) => {
                drop(write);
                Some(Self::Tls(read))
            }
            (ReadHalf::Ws(read), WriteHalf::Ws(write)) if Rc::ptr_eq(&read, &write) => {
                drop(write);
                Some(Self::Ws(read))
            }
            _ => None,
        }
    }

    /// Takes the stream off this runtime so another shard can run it.
    pub(crate) fn detach(self) -> io::Result<Detached> {
        match self {
            Self::Tcp(stream) => stream.into_std().map(Detached::Tcp),
            Self::Tls(conn) => Rc::try_unwrap(conn)
                .map_err(|_| io::Error::other("the TLS connection is still shared"))?
                .detach()
                .map(Detached::Tls),
            Self::Ws(conn) => Rc::try_unwrap(conn)
                .map_err(|_| io::Error::other("the WebSocket connection is still shared"))?
                .detach()
                .map(Detached::Ws),
        }
    }
}

impl Stream {
    /// True for a WebSocket connection (RFC 7977).
    pub(crate) fn is_websocket(&self) -> bool {
        matches!(self, Self::Ws(_))
    }

    /// What the switch is told of the stream's security when it opens the
    /// connection: plain, or TLS with the peer's certificate digests.
    pub(crate) fn security(&self) -> msrp_proto::security::Security {
        match self {
            Self::Tcp(_) => msrp_proto::security::Security::Plain,
            Self::Ws(conn) => match conn.tls() {
                None => msrp_proto::security::Security::Plain,
                Some(tls) => msrp_proto::security::Security::Tls(super::tls::peer_certificate(
                    tls.peer_certificates().as_deref(),
                )),
            },
            Self::Tls(conn) => msrp_proto::security::Security::Tls(super::tls::peer_certificate(
                conn.peer_certificates().as_deref(),
            )),
        }
    }
}

impl Detached {
    /// Registers the stream with the current (receiving) shard's runtime.
    pub(crate) fn attach(self) -> io::Result<Stream> {
        match self {
            Self::Tcp(stream) => TcpStream::from_std(stream).map(Stream::Tcp),
            Self::Tls(tls) => tls.attach().map(|conn| Stream::Tls(Rc::new(conn))),
            Self::Ws(ws) => ws.attach().map(|conn| Stream::Ws(Rc::new(conn))),
        }
    }
}

/// What both a whole [`Stream`] (while the listener peeks) and a [`ReadHalf`] (in
/// the driver) read with.
pub(crate) trait ReadSide {
    /// Ready once a read may return something (data, end of stream or error);
    /// otherwise the task is woken when it may. Polled, not a future: a future
    /// for it is stored in every waiting connection's task (issue 20: memory per
    /// idle leg; tokio's `readable()` future is some 200 bytes).
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Waits until a read may return something (data, end of stream or error).
    async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_readable(cx)).await
    }
    /// Reads what is there without waiting; `WouldBlock` if nothing is.
    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize>;
}

impl ReadSide for Stream {
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Self::Tcp(stream) => stream.poll_read_ready(cx),
            Self::Tls(conn) => conn.poll_readable(cx),
            Self::Ws(conn) => conn.poll_readable(cx),
        }
    }

    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Self::Tcp(stream) => stream.try_read_buf(buf),
            Self::Tls(conn) => conn.try_read_buf(buf),
            Self::Ws(conn) => conn.try_read_buf(buf),
        }
    }
}

impl ReadSide for ReadHalf {
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Self::Tcp(read) => read.as_ref().poll_read_ready(cx),
            Self::Tls(conn) => conn.poll_readable(cx),
            Self::Ws(conn) => conn.poll_readable(cx),
        }
    }

    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Self::Tcp(read) => read.try_read_buf(buf),
            Self::Tls(conn) => conn.try_read_buf(buf),
            Self::Ws(conn) => conn.try_read_buf(buf),
        }
    }
}

/// Waits for input and appends one read of it to `buf`: `Ok(0)` is the end of the
/// stream. The buffer grows only once the socket is readable, and whenever the
/// socket turns out to have nothing, what the buffer holds beyond the bytes still
/// in it is given back: a connection waiting for its peer holds no read block (an
/// idle connection costs a few KiB, not [`READ_BYTES`]).
pub(crate) async fn read_more(stream: &impl ReadSide, buf: &mut BytesMut) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        buf.reserve(READ_BYTES);
        match stream.try_read_buf(buf) {
            // Readiness was stale: wait again, without the block.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => give_back(buf),
            done => return done,
        }
    }
}

/// Releases a read buffer's spare room before a wait (see [`read_more`]).
pub(crate) fn give_back(buf: &mut BytesMut) {
    if buf.is_empty() {
        *buf = BytesMut::new();
    } else if buf.len() < COMPACT_BELOW_BYTES && buf.capacity() > 2 * COMPACT_BELOW_BYTES {
        *buf = BytesMut::from(&buf[..]);
    }
}

impl ReadHalf {
    /// The peer's address, if the socket still knows it.
    pub(crate) fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Self::Tcp(read) => read.peer_addr().ok(),
            Self::Tls(conn) => conn.tcp().peer_addr().ok(),
            Self::Ws(conn) => conn.tcp().peer_addr().ok(),
        }
    }

    /// The switch's own address on the connection.
    pub(crate) fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.socket().local_addr().ok()?.as_socket()
    }

    /// The socket under the stream.
    fn socket(&self) -> socket2::SockRef<'_> {
        match self {
            Self::Tcp(read) => socket2::SockRef::from(read.as_ref()),
            Self::Tls(conn) => socket2::SockRef::from(conn.tcp()),
            Self::Ws(conn) => socket2::SockRef::from(conn.tcp()),
        }
    }

    /// True if input waits unread in the kernel (a peek, consuming nothing). A
    /// socket closed with unread input is reset rather than closed with a FIN.
    pub(crate) fn has_unread_input(&self) -> bool {
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
        // Non-blocking (tokio's sockets are): nothing waiting is WouldBlock.
        matches!(self.socket().peek(&mut byte), Ok(n) if n > 0)
    }

    /// A watch that completes when the peer closes or resets the connection,
    /// without consuming its input: for a connection the switch holds back (its
    /// input is left in the kernel), whose close would otherwise go unseen until
    /// it is read again, which may be never.
    pub(crate) fn watch_close(&self) -> io::Result<CloseWatch> {
        let dup = self.socket().try_clone()?;
        // A duplicate shares the original's non-blocking file status.
        let dup = TcpStream::from_std(std::net::TcpStream::from(dup))?;
        Ok(CloseWatch { dup })
    }
}

impl CloseWatch {
    /// Completes once the peer has closed (FIN) or reset (RST) the connection, or
    /// the socket reports an error. Input merely waiting does not complete it: each
    /// arrival clears the duplicate's readable mark, so it sleeps until the next
    /// change of state instead of spinning (a peer can only send until the receive
    /// window closes, so the wake-ups are bounded).
    pub(crate) async fn closed(&mut self) -> io::Result<()> {
        loop {
            let ready = self.dup.ready(Interest::READABLE | Interest::ERROR).await?;
            if ready.is_error() || ready.is_read_closed() {
                return Ok(());
            }
            let _ = self.dup.try_io(Interest::READABLE, || {
                Err::<(), _>(io::ErrorKind::WouldBlock.into())
            });
        }
    }
}

impl WriteHalf {
    /// The switch's address and the peer's, if the socket knows them.
    pub(crate) fn addrs(&self) -> (Option<std::net::SocketAddr>, Option<std::net::SocketAddr>) {
        match self {
            Self::Tcp(write) => (write.local_addr().ok(), write.peer_addr().ok()),
            Self::Tls(conn) => (conn.tcp().local_addr().ok(), conn.tcp().peer_addr().ok()),
            Self::Ws(conn) => (conn.tcp().local_addr().ok(), conn.tcp().peer_addr().ok()),
        }
    }

    /// True for a WebSocket connection: its output is framed per MSRP frame.
    pub(crate) fn is_websocket(&self) -> bool {
        matches!(self, Self::Ws(_))
    }

    /// A WebSocket connection's control frames owed (pong, close), to write
    /// before the next messages; empty for other streams.
    pub(crate) fn take_control(&self) -> Vec<u8> {
        match self {
            Self::Ws(conn) => conn.take_control(),
            Self::Tcp(_) | Self::Tls(_) => Vec::new(),
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(write) => Pin::new(write).poll_write(cx, buf),
            Self::Tls(conn) => conn.poll_write_vectored(cx, &[io::IoSlice::new(buf)]),
            Self::Ws(conn) => conn.poll_write_vectored(cx, &[io::IoSlice::new(buf)]),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(write) => Pin::new(write).poll_write_vectored(cx, bufs),
            Self::Tls(conn) => conn.poll_write_vectored(cx, bufs),
            Self::Ws(conn) => conn.poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(write) => write.is_write_vectored(),
            Self::Tls(_) | Self::Ws(_) => true,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(write) => Pin::new(write).poll_flush(cx),
            Self::Tls(conn) => conn.poll_flush(cx),
            Self::Ws(conn) => conn.poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(write) => Pin::new(write).poll_shutdown(cx),
            Self::Tls(conn) => conn.poll_shutdown(cx),
            Self::Ws(conn) => conn.poll_shutdown(cx),
        }
    }
}
