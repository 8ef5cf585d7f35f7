//! A TLS connection after its handshake, as the driver's reader and writer use
//! it: rustls' sans-IO connection over the shard's own TCP socket, with the
//! same readiness-based reads (`readable`, then `try_read_buf`) and vectored
//! writes as plain TCP.
//!
//! tokio-rustls runs the handshake; its stream is then taken apart so that the
//! reader and writer tasks share the rustls state through an `Rc` on the
//! shard's one thread, with no lock (tokio's `split` would take one per call),
//! and so that a connection can move to another shard with its TLS state.

use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice, Read, Write};
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::net::TcpStream;

use super::stream::READ_BYTES;

/// One TLS connection: its socket and its rustls state.
#[derive(Debug)]
pub(crate) struct TlsConn {
    tcp: TcpStream,
    tls: RefCell<rustls::Connection>,
    /// Plaintext rustls holds that has not been read yet.
    plaintext: Cell<usize>,
    /// The peer ended the stream (close_notify, or the socket's end).
    ended: Cell<bool>,
}

/// A TLS connection taken off its shard (see `Stream::detach`).
#[derive(Debug)]
pub(crate) struct DetachedTls {
    tcp: std::net::TcpStream,
    tls: Box<rustls::Connection>,
}

/// Adapts a non-blocking socket to rustls' `Read` and `Write`: `WouldBlock`
/// comes back as such, and the caller waits for readiness.
struct SyncIo<'a>(&'a TcpStream);

impl Read for SyncIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for SyncIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TlsConn {
    /// A connection whose handshake tokio-rustls has finished.
    pub(crate) fn new(tcp: TcpStream, tls: rustls::Connection) -> io::Result<Self> {
        let conn = Self {
            tcp,
            tls: RefCell::new(tls),
            plaintext: Cell::new(0),
            ended: Cell::new(false),
        };
        // Plaintext that came with the handshake's last flight is waiting in
        // rustls already; so may be TLS 1.3 session tickets to send.
        conn.process()?;
        conn.push_ciphertext()?;
        Ok(conn)
    }

    /// Takes the connection off this runtime (a move to another shard).
    pub(crate) fn detach(self) -> io::Result<DetachedTls> {
        Ok(DetachedTls {
            tcp: self.tcp.into_std()?,
            tls: Box::new(self.tls.into_inner()),
        })
    }

    /// The socket, for readiness, the peer's address and the close watch.
    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// The certificates the peer presented.
    pub(crate) fn peer_certificates(
        &self,
    ) -> Option<Vec<rustls::pki_types::CertificateDer<'static>>> {
        self.tls
            .borrow()
            .peer_certificates()
            .map(|certs| certs.to_vec())
    }

    /// Lets rustls decrypt what it has read; updates what waits to be read.
    fn process(&self) -> io::Result<()> {
        let state = self
            .tls
            .borrow_mut()
            .process_new_packets()
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
        self.plaintext.set(state.plaintext_bytes_to_read());
        if state.peer_has_closed() {
            self.ended.set(true);
        }
        Ok(())
    }

    /// Writes what rustls has to send without waiting; `Ok(true)` once
    /// nothing is left.
    fn push_ciphertext(&self) -> io::Result<bool> {
        let mut tls = self.tls.borrow_mut();
        while tls.wants_write() {
            match tls.write_tls(&mut SyncIo(&self.tcp)) {
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(err) => return Err(err),
            }
        }
        Ok(true)
    }

    /// True if a read would return at once: plaintext is waiting in rustls, or
    /// the stream has ended.
    fn has_plaintext(&self) -> bool {
        self.plaintext.get() > 0 || self.ended.get()
    }

    /// Ready once a read may return something; otherwise the task is woken
    /// when the socket is readable.
    pub(crate) fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.has_plaintext() {
            return Poll::Ready(Ok(()));
        }
        self.tcp.poll_read_ready(cx)
    }

    /// Reads what is there, decrypted, without waiting; `WouldBlock` if nothing
    /// is; `Ok(0)` at the end of the stream.
    pub(crate) fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        let mut total = 0;
        loop {
            let waiting = self.plaintext.get();
            if waiting > 0 {
                let take = waiting.min(READ_BYTES.saturating_sub(total).max(1));
                let start = buf.len();
                buf.resize(start + take, 0);
                let read = self.tls.borrow_mut().reader().read(&mut buf[start..]);
                match read {
                    Ok(n) => {
                        buf.truncate(start + n);
                        self.plaintext.set(waiting.saturating_sub(n));
                        total += n;
                        if n == 0 || total >= READ_BYTES {
                            return Ok(total);
                        }
                        continue;
                    }
                    Err(err) => {
                        buf.truncate(start);
                        self.plaintext.set(0);
                        if total > 0 {
                            return Ok(total);
                        }
                        return match err.kind() {
                            // Closed without close_notify: the end, as on TCP.
                            io::ErrorKind::UnexpectedEof => Ok(0),
                            io::ErrorKind::WouldBlock => continue,
                            _ => Err(err),
                        };
                    }
                }
            }
            if self.ended.get() {
                return Ok(total);
            }
            // Nothing decrypted: read ciphertext from the socket.
            let read = self.tls.borrow_mut().read_tls(&mut SyncIo(&self.tcp));
            match read {
                Ok(0) => {
                    self.ended.set(true);
                    self.process()?;
                }
                Ok(_) => {
                    self.process()?;
                    // Alerts, key updates: sent now if the socket takes them,
                    // else with the next write.
                    self.push_ciphertext()?;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    return if total > 0 { Ok(total) } else { Err(err) };
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Encrypts as much of `bufs` as rustls buffers, after what it already
    /// holds has gone out: at most one buffer of ciphertext waits per
    /// connection, and a full socket holds the writer back, as on TCP.
    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
            Poll::Pending => return Poll::Pending,
        }
        let written = self.tls.borrow_mut().writer().write_vectored(bufs);
        let written = match written {
            Ok(n) => n,
            Err(err) => return Poll::Ready(Err(err)),
        };
        // Sent now if the socket takes it; the rest on the next write or flush.
        if let Err(err) = self.push_ciphertext() {
            return Poll::Ready(Err(err));
        }
        Poll::Ready(Ok(written))
    }

    /// Writes everything rustls holds.
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match self.push_ciphertext() {
                Ok(true) => return Poll::Ready(Ok(())),
                Ok(false) => match self.tcp.poll_write_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                    Poll::Pending => return Poll::Pending,
                },
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }

    /// Sends close_notify after everything else, then shuts the socket's write
    /// side (the peer sees the end of the stream).
    pub(crate) fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tls.borrow_mut().send_close_notify();
        match self.poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let _ = socket2::SockRef::from(&self.tcp).shutdown(std::net::Shutdown::Write);
        Poll::Ready(Ok(()))
    }
}

impl DetachedTls {
    /// Registers the connection with the receiving shard's runtime.
    pub(crate) fn attach(self) -> io::Result<TlsConn> {
        let tcp = TcpStream::from_std(self.tcp)?;
        TlsConn::new(tcp, *self.tls)
    }
}
