//! A WebSocket connection after its upgrade, as the driver's reader and writer
//! use it: the client's frames (masked, RFC 6455 §5.3) are decoded into the
//! MSRP byte stream the switch reads, pings are answered, a close ends the
//! stream; what the switch writes comes already framed ([`super::ws::Framer`])
//! and goes to the socket as it is. Control frames owed (pong, close) wait in
//! [`WsConn::take_control`] until the driver, which reads and writes from one
//! task, takes its next batch of output.
//!
//! RFC 7977 §5.1 puts each chunk in one message; the switch does not rely on
//! it when reading (the MSRP decoder finds frames in the byte stream), so a
//! client that splits a chunk is still understood.

use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice};
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::net::TcpStream;
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};

use super::stream::{READ_BYTES, ReadSide};
use super::tls_stream::{DetachedTls, TlsConn};

/// What a WebSocket connection runs over: the socket itself (`ws`), or TLS on
/// it (`wss`).
#[derive(Debug)]
pub(crate) enum Carrier {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS after its handshake (boxed: its state is large).
    Tls(Box<TlsConn>),
}

/// A carrier taken off its shard.
#[derive(Debug)]
enum DetachedCarrier {
    Tcp(std::net::TcpStream),
    Tls(DetachedTls),
}

/// The upgrade reads the request with it, a WebSocket connection its frames.
impl ReadSide for Carrier {
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Self::Tcp(tcp) => tcp.poll_read_ready(cx),
            Self::Tls(tls) => tls.poll_readable(cx),
        }
    }

    /// Reads what is there (decrypted over TLS) without waiting.
    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Self::Tcp(tcp) => tcp.try_read_buf(buf),
            Self::Tls(tls) => tls.try_read_buf(buf),
        }
    }
}

impl Carrier {
    fn tcp(&self) -> &TcpStream {
        match self {
            Self::Tcp(tcp) => tcp,
            Self::Tls(tls) => tls.tcp(),
        }
    }

    /// Writes all of `bytes` (the upgrade's answer), flushed.
    pub(crate) async fn write_all(&self, mut bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Tcp(tcp) => {
                while !bytes.is_empty() {
                    tcp.writable().await?;
                    match tcp.try_write(bytes) {
                        Ok(n) => bytes = &bytes[n..],
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                        Err(err) => return Err(err),
                    }
                }
                Ok(())
            }
            Self::Tls(tls) => {
                while !bytes.is_empty() {
                    let n = std::future::poll_fn(|cx| {
                        tls.poll_write_vectored(cx, &[IoSlice::new(bytes)])
                    })
                    .await?;
                    bytes = &bytes[n..];
                }
                std::future::poll_fn(|cx| tls.poll_flush(cx)).await
            }
        }
    }

    fn detach(self) -> io::Result<DetachedCarrier> {
        match self {
            Self::Tcp(tcp) => tcp.into_std().map(DetachedCarrier::Tcp),
            Self::Tls(tls) => tls.detach().map(DetachedCarrier::Tls),
        }
    }
}

/// The most read-buffer capacity a WebSocket connection keeps while nothing
/// waits in it.
const IDLE_RAW_BYTES: usize = 256;

/// One WebSocket connection: its socket, the client's bytes not yet decoded,
/// and the control frames owed to it.
#[derive(Debug)]
pub(crate) struct WsConn {
    tcp: Carrier,
    raw: RefCell<BytesMut>,
    control: RefCell<Vec<u8>>,
    /// The client closed (a close frame) or broke the protocol.
    ended: Cell<bool>,
    /// The largest frame payload taken from the client.
    max_payload: u64,
}

/// A WebSocket connection taken off its shard (a move to another shard).
#[derive(Debug)]
pub(crate) struct DetachedWs {
    tcp: DetachedCarrier,
    raw: BytesMut,
    control: Vec<u8>,
    max_payload: u64,
}

impl DetachedWs {
    /// Registers it with the current (receiving) shard's runtime.
    pub(crate) fn attach(self) -> io::Result<WsConn> {
        let tcp = match self.tcp {
            DetachedCarrier::Tcp(tcp) => Carrier::Tcp(TcpStream::from_std(tcp)?),
            DetachedCarrier::Tls(tls) => Carrier::Tls(Box::new(tls.attach()?)),
        };
        Ok(WsConn {
            tcp,
            raw: RefCell::new(self.raw),
            control: RefCell::new(self.control),
            ended: Cell::new(false),
            max_payload: self.max_payload,
        })
    }
}

impl WsConn {
    /// A connection whose upgrade is done; `early` is what the client sent
    /// after its request (frames already).
    pub(crate) fn new(tcp: Carrier, early: BytesMut, max_payload: u64) -> Self {
        Self {
            tcp,
            raw: RefCell::new(early),
            control: RefCell::new(Vec::new()),
            ended: Cell::new(false),
            max_payload,
        }
    }

    /// The socket.
    pub(crate) fn tcp(&self) -> &TcpStream {
        self.tcp.tcp()
    }

    /// The TLS under it, for `wss`.
    pub(crate) fn tls(&self) -> Option<&TlsConn> {
        match &self.tcp {
            Carrier::Tls(tls) => Some(tls),
            Carrier::Tcp(_) => None,
        }
    }

    /// Takes the connection off this runtime.
    pub(crate) fn detach(self) -> io::Result<DetachedWs> {
        Ok(DetachedWs {
            tcp: self.tcp.detach()?,
            raw: self.raw.into_inner(),
            control: self.control.into_inner(),
            max_payload: self.max_payload,
        })
    }

    /// The control frames owed, for the writer to send between messages.
    pub(crate) fn take_control(&self) -> Vec<u8> {
        std::mem::take(&mut *self.control.borrow_mut())
    }

    /// Ready once a read may return something; otherwise the task is woken
    /// when the socket is readable.
    pub(crate) fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.ended.get() || self.has_frame() {
            return Poll::Ready(Ok(()));
        }
        self.tcp.poll_readable(cx)
    }

    /// True if a whole frame waits undecoded.
    fn has_frame(&self) -> bool {
        let raw = self.raw.borrow();
        let mut cursor = io::Cursor::new(&raw[..]);
        match FrameHeader::parse(&mut cursor) {
            Ok(Some((_, len))) => (raw.len() as u64).saturating_sub(cursor.position()) >= len,
            _ => false,
        }
    }

    /// Appends the MSRP bytes of every whole frame to `buf`, reading the socket
    /// once; `Ok(0)` at the end of the stream, `WouldBlock` if no MSRP byte came.
    pub(crate) fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        if self.ended.get() {
            return Ok(0);
        }
        let mut socket_done = false;
        {
            let mut raw = self.raw.borrow_mut();
            raw.reserve(READ_BYTES.min(64 * 1024));
            match self.tcp.try_read_buf(&mut raw) {
                Ok(0) => socket_done = true,
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
        }
        let appended = self.decode(buf)?;
        {
            // An idle connection keeps no read buffer (as TCP's driver gives
            // its own back): the next read reserves one again.
            let mut raw = self.raw.borrow_mut();
            if raw.is_empty() && raw.capacity() > IDLE_RAW_BYTES {
                *raw = BytesMut::new();
            }
        }
        if appended > 0 {
            return Ok(appended);
        }
        if self.ended.get() || socket_done {
            self.ended.set(true);
            return Ok(0);
        }
        Err(io::ErrorKind::WouldBlock.into())
    }

    /// Decodes the whole frames in `raw`; their data goes to `buf`.
    fn decode(&self, buf: &mut BytesMut) -> io::Result<usize> {
        let mut raw = self.raw.borrow_mut();
        let mut appended = 0;
        loop {
            let mut cursor = io::Cursor::new(&raw[..]);
            let (header, len) = match FrameHeader::parse(&mut cursor) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => break,
                Err(err) => return Err(self.protocol_error(CloseCode::Protocol, err)),
            };
            let start = cursor.position() as usize;
            if len > self.max_payload {
                return Err(self.protocol_error(CloseCode::Size, "frame too large"));
            }
            let Some(mask) = header.mask else {
                // RFC 6455 §5.1: a client's frames are masked.
                return Err(self.protocol_error(CloseCode::Protocol, "unmasked client frame"));
            };
            if header.rsv1 || header.rsv2 || header.rsv3 {
                return Err(self.protocol_error(CloseCode::Protocol, "reserved bits set"));
            }
            let len = len as usize;
            if raw.len() < start + len {
                break;
            }
            raw.advance(start);
            let mut payload = raw.split_to(len);
            unmask(&mut payload, mask);
            match header.opcode {
                OpCode::Data(Data::Text | Data::Binary | Data::Continue) => {
                    appended += payload.len();
                    buf.extend_from_slice(&payload);
                }
                OpCode::Control(Control::Ping) => {
                    self.queue_control(OpCode::Control(Control::Pong), &payload);
                }
                OpCode::Control(Control::Pong) => {}
                OpCode::Control(Control::Close) => {
                    // Echo the code (RFC 6455 §5.5.1), then the stream ends.
                    let code = payload.get(..2).map(<[u8]>::to_vec).unwrap_or_default();
                    self.queue_control(OpCode::Control(Control::Close), &code);
                    self.ended.set(true);
                    break;
                }
                _ => return Err(self.protocol_error(CloseCode::Protocol, "unknown opcode")),
            }
        }
        Ok(appended)
    }

    /// Queues a close with `code` and ends the stream: the error the read fails with.
    fn protocol_error(&self, code: CloseCode, why: impl std::fmt::Display) -> io::Error {
        let code: u16 = code.into();
        self.queue_control(OpCode::Control(Control::Close), &code.to_be_bytes());
        self.ended.set(true);
        io::Error::new(io::ErrorKind::InvalidData, format!("WebSocket: {why}"))
    }

    fn queue_control(&self, opcode: OpCode, payload: &[u8]) {
        let header = FrameHeader {
            is_final: true,
            opcode,
            ..FrameHeader::default()
        };
        let mut control = self.control.borrow_mut();
        // Into a Vec: cannot fail.
        let _ = header.format(payload.len() as u64, &mut *control);
        control.extend_from_slice(payload);
    }

    /// Writes already framed bytes.
    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let tcp = match &self.tcp {
            Carrier::Tcp(tcp) => tcp,
            Carrier::Tls(tls) => return tls.poll_write_vectored(cx, bufs),
        };
        loop {
            match tcp.try_write_vectored(bufs) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    match tcp.poll_write_ready(cx) {
                        Poll::Ready(Ok(())) => continue,
                        Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                done => return Poll::Ready(done),
            }
        }
    }

    /// Writes what TLS holds (nothing is buffered over plain TCP).
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &self.tcp {
            Carrier::Tcp(_) => Poll::Ready(Ok(())),
            Carrier::Tls(tls) => tls.poll_flush(cx),
        }
    }

    /// Ends the sending side: TLS's close_notify; over TCP the socket closes
    /// with the connection, after the last write.
    pub(crate) fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &self.tcp {
            Carrier::Tcp(_) => Poll::Ready(Ok(())),
            Carrier::Tls(tls) => tls.poll_shutdown(cx),
        }
    }
}

/// RFC 6455 §5.3: XOR with the four-byte key, cycled.
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    // Eight bytes at a time (the compiler widens it further): a byte loop
    // with `i % 4` cost more CPU per 64 KiB chunk than the rest of the read.
    let [a, b, c, d] = mask;
    let wide = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut words = payload.chunks_exact_mut(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        word.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ wide).to_ne_bytes());
    }
    // The rest starts at a multiple of 8, so the mask starts over.
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::unmask;

    #[test]
    fn unmasking_wide_matches_the_byte_rule_at_every_length() {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..40 {
            let plain: Vec<u8> = (0..len).map(|i| (i * 13 + 5) as u8).collect();
            let mut masked: Vec<u8> = plain
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            unmask(&mut masked, mask);
            assert_eq!(masked, plain, "length {len}");
        }
    }
}
