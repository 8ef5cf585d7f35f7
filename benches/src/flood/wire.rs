//! MSRP on the flooder's side of the wire: frames written straight into one batch
//! buffer (one `write` per batch, no formatting machinery on the hot path), and a
//! connection that reads frames with the switch's own decoder.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::BytesMut;
use msrp_switch::codec::{
    ContinuationFlag, Decoder, FailureReport, Head, HeaderName, Item, Limits,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::stream::{FloodRead, FloodStream, FloodWrite};

/// The Content-Type of flood bodies: binary, so nothing on the path may touch them.
pub const FLOOD_CONTENT_TYPE: &str = "application/octet-stream";

/// Free room below which the read buffer grows by [`READ_BYTES`].
const MIN_READ_ROOM: usize = 16 * 1024;
/// How much the read buffer grows at a time: one read takes up to this much.
const READ_BYTES: usize = 256 * 1024;

/// The To-Path and From-Path of one endpoint, kept both as text and as the header
/// block every request it writes starts with.
#[derive(Clone, Debug)]
pub struct Paths {
    /// To-Path: next hop first, final receiver last (space-separated URIs).
    pub to_path: String,
    /// This endpoint's own URI (its From-Path).
    pub from_path: String,
    block: Vec<u8>,
}

impl Paths {
    /// The paths of an endpoint that writes `to_path` and is `from_path`.
    pub fn new(to_path: impl Into<String>, from_path: impl Into<String>) -> Self {
        let to_path = to_path.into();
        let from_path = from_path.into();
        let block = format!("To-Path: {to_path}\r\nFrom-Path: {from_path}\r\n").into_bytes();
        Self {
            to_path,
            from_path,
            block,
        }
    }

    /// `To-Path: …\r\nFrom-Path: …\r\n`.
    pub fn header_block(&self) -> &[u8] {
        &self.block
    }
}

/// A transaction id from a per-connection counter: `t` and at least four digits, so
/// it is always a valid `ident` of 5 to 21 characters (RFC 4975 §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tid(pub u64);

impl Tid {
    /// The first id of a connection.
    pub const FIRST: Tid = Tid(1000);

    /// This id, and advances the counter.
    pub fn advance(&mut self) -> Tid {
        let tid = *self;
        self.0 += 1;
        tid
    }

    /// Appends the id's text.
    pub fn put(self, out: &mut Vec<u8>) {
        out.push(b't');
        put_u64(out, self.0);
    }

    /// The id's text.
    pub fn text(self) -> String {
        format!("t{}", self.0)
    }
}

/// The Byte-Range of one chunk: 1-based, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRange {
    /// First octet, from 1.
    pub start: u64,
    /// Last octet (`start - 1` for an empty body).
    pub end: u64,
    /// The message size.
    pub total: u64,
}

/// Appends the head of a SEND that carries a body, up to and including the blank
/// line; the body and [`put_end_line`] follow.
pub fn put_send_head(
    out: &mut Vec<u8>,
    tid: Tid,
    paths: &Paths,
    message_id: &[u8],
    range: ChunkRange,
    content_type: &[u8],
) {
    out.extend_from_slice(b"MSRP ");
    tid.put(out);
    out.extend_from_slice(b" SEND\r\n");
    out.extend_from_slice(paths.header_block());
    out.extend_from_slice(b"Message-ID: ");
    out.extend_from_slice(message_id);
    out.extend_from_slice(b"\r\nByte-Range: ");
    put_u64(out, range.start);
    out.push(b'-');
    put_u64(out, range.end);
    out.push(b'/');
    put_u64(out, range.total);
    out.extend_from_slice(b"\r\nContent-Type: ");
    out.extend_from_slice(content_type);
    out.extend_from_slice(b"\r\n\r\n");
}

/// Appends the end-line after a body: `\r\n-------<tid><flag>\r\n`.
pub fn put_end_line(out: &mut Vec<u8>, tid: Tid, flag: ContinuationFlag) {
    out.extend_from_slice(b"\r\n-------");
    tid.put(out);
    out.push(flag.as_byte());
    out.extend_from_slice(b"\r\n");
}

/// Appends the bodiless SEND that binds a connection (RFC 4975 §5.4, §7.3).
pub fn put_bind(out: &mut Vec<u8>, tid: Tid, paths: &Paths) {
    out.extend_from_slice(b"MSRP ");
    tid.put(out);
    out.extend_from_slice(b" SEND\r\n");
    out.extend_from_slice(paths.header_block());
    out.extend_from_slice(b"Message-ID: bind");
    put_u64(out, tid.0);
    out.extend_from_slice(b"\r\nByte-Range: 1-0/0\r\n-------");
    tid.put(out);
    out.extend_from_slice(b"$\r\n");
}

/// Appends the hop-by-hop `200 OK` for `request` (RFC 4975 §7.2): To-Path is the
/// request's previous hop (the first URI of its From-Path), From-Path is us.
pub fn put_ok(out: &mut Vec<u8>, request: &Head, own_path: &str) {
    let tid = request.transaction_id().as_bytes();
    let previous_hop = request
        .value(HeaderName::FromPath)
        .and_then(|v| v.split_ascii_whitespace().next())
        .unwrap_or_default();
    out.extend_from_slice(b"MSRP ");
    out.extend_from_slice(tid);
    out.extend_from_slice(b" 200 OK\r\nTo-Path: ");
    out.extend_from_slice(previous_hop.as_bytes());
    out.extend_from_slice(b"\r\nFrom-Path: ");
    out.extend_from_slice(own_path.as_bytes());
    out.extend_from_slice(b"\r\n-------");
    out.extend_from_slice(tid);
    out.extend_from_slice(b"$\r\n");
}

/// True when a request wants a 200 (RFC 4975 §7.1.2: Failure-Report absent or
/// `yes`; `no` and `partial` get no success response).
pub fn wants_ok(request: &Head) -> bool {
    matches!(request.failure_report(), None | Some(FailureReport::Yes))
}

/// Appends the Message-ID of message `seq` of `session`: `m<session>.<seq>`.
pub fn put_message_id(out: &mut Vec<u8>, session: u32, seq: u64) {
    out.push(b'm');
    put_u64(out, u64::from(session));
    out.push(b'.');
    put_u64(out, seq);
}

/// Appends `n` in decimal.
pub fn put_u64(out: &mut Vec<u8>, n: u64) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(n).as_bytes());
}

/// The read side of an MSRP connection: a buffer and the switch's decoder.
#[derive(Debug)]
pub struct FrameReader {
    decoder: Decoder,
    buf: BytesMut,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameReader {
    /// A reader with the codec's default limits, except that transaction ids may be
    /// up to 64 characters (relays and switches make long ones).
    pub fn new() -> Self {
        let limits = Limits {
            max_transaction_id_bytes: Limits::TRANSACTION_ID_CAPACITY,
            ..Limits::default()
        };
        Self {
            decoder: Decoder::new(limits),
            buf: BytesMut::with_capacity(READ_BYTES),
        }
    }

    /// The next item already buffered, or `None` when more bytes are needed.
    pub fn next_item(&mut self) -> anyhow::Result<Option<Item>> {
        self.decoder
            .decode(&mut self.buf)
            .map_err(|err| anyhow::anyhow!("undecodable MSRP from the peer: {err}"))
    }

    /// Reads once from `stream` into the buffer; `Ok(0)` is end of stream.
    pub async fn fill<R: AsyncRead + Unpin>(&mut self, stream: &mut R) -> std::io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < MIN_READ_ROOM {
            self.buf.reserve(READ_BYTES);
        }
        stream.read_buf(&mut self.buf).await
    }
}

/// One whole frame, body collected (for the one-shot modes and binding, never on the
/// flood path).
#[derive(Debug)]
pub struct WholeFrame {
    /// Start line and headers.
    pub head: Head,
    /// The body, empty for a bodiless frame.
    pub body: Vec<u8>,
    /// The end-line's flag.
    pub flag: ContinuationFlag,
}

/// A connected MSRP endpoint, before its two halves go to separate tasks.
#[derive(Debug)]
pub struct MsrpConn {
    stream: FloodStream,
    reader: FrameReader,
    tid: Tid,
    /// Frames that arrived before the answer to the binding SEND.
    early: VecDeque<WholeFrame>,
}

impl MsrpConn {
    /// Connects to `addr` with Nagle off (the flooder batches its own writes).
    pub async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self::over(stream))
    }

    /// Wraps an established TCP stream.
    pub fn over(stream: TcpStream) -> Self {
        Self::over_stream(FloodStream::Tcp(stream))
    }

    /// Wraps an established stream (TCP, or TLS after its handshake).
    pub fn over_stream(stream: FloodStream) -> Self {
        Self {
            stream,
            reader: FrameReader::new(),
            tid: Tid::FIRST,
            early: VecDeque::new(),
        }
    }

    /// A fresh transaction id for a request on this connection.
    pub fn next_tid(&mut self) -> Tid {
        self.tid.advance()
    }

    /// Writes all of `bytes` (and flushes what TLS holds back).
    pub async fn write_all(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        Ok(())
    }

    /// Reads the next whole frame; an error at end of stream.
    pub async fn read_frame(&mut self) -> anyhow::Result<WholeFrame> {
        if let Some(frame) = self.early.pop_front() {
            return Ok(frame);
        }
        self.read_from_stream().await
    }

    async fn read_from_stream(&mut self) -> anyhow::Result<WholeFrame> {
        let mut head = None;
        let mut body = Vec::new();
        loop {
            while let Some(item) = self.reader.next_item()? {
                match item {
                    Item::Head(h) => head = Some(h),
                    Item::Body(piece) => body.extend_from_slice(&piece),
                    Item::End(flag) => {
                        let Some(head) = head.take() else {
                            bail!("an end-line without a head");
                        };
                        return Ok(WholeFrame { head, body, flag });
                    }
                }
            }
            if self.reader.fill(&mut self.stream).await? == 0 {
                bail!("the peer closed the connection");
            }
        }
    }

    /// Binds the connection with a bodiless SEND and waits (at most `limit`) for its
    /// 200. A switch that held messages for this endpoint may write them before that
    /// answer: they are kept, in order, for [`MsrpConn::read_frame`].
    pub async fn bind(&mut self, paths: &Paths, limit: Duration) -> anyhow::Result<()> {
        let tid = self.next_tid();
        let tid_text = tid.text();
        let mut frame = Vec::with_capacity(256);
        put_bind(&mut frame, tid, paths);
        self.write_all(&frame).await?;
        let answer = tokio::time::timeout(limit, async {
            loop {
                let frame = self.read_from_stream().await?;
                if frame.head.response_status().is_some()
                    && frame.head.transaction_id().as_bytes() == tid_text.as_bytes()
                {
                    return anyhow::Ok(frame);
                }
                self.early.push_back(frame);
            }
        })
        .await
        .with_context(|| format!("no answer to the binding SEND within {limit:?}"))??;
        match answer.head.response_status() {
            Some(code) if code.is_success() => Ok(()),
            code => bail!(
                "binding SEND to {} answered {} {}",
                paths.to_path,
                code.map_or(0, |c| c.as_u16()),
                answer.head.comment().unwrap_or_default()
            ),
        }
    }

    /// Splits into the read half with its decoder state, and the write half. Fails
    /// if frames arrived before the binding answer: the flood tasks read items, not
    /// whole frames, and a flood receiver binds before its sender sends anything.
    pub fn into_split(self) -> anyhow::Result<(FloodRead, FrameReader, FloodWrite)> {
        if !self.early.is_empty() {
            bail!(
                "{} frame(s) arrived before the binding answer",
                self.early.len()
            );
        }
        let (read, write) = self.stream.into_split();
        Ok((read, self.reader, write))
    }

    /// The local address, for logs.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.stream.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_head_decodes_with_the_switch_codec() {
        let paths = Paths::new(
            "msrp://127.0.0.1:2855/abcd;tcp",
            "msrp://127.0.0.1:9/me01;tcp",
        );
        let mut out = Vec::new();
        let tid = Tid::FIRST;
        let mut mid = Vec::new();
        put_message_id(&mut mid, 3, 42);
        put_send_head(
            &mut out,
            tid,
            &paths,
            &mid,
            ChunkRange {
                start: 1,
                end: 5,
                total: 10,
            },
            FLOOD_CONTENT_TYPE.as_bytes(),
        );
        out.extend_from_slice(b"hello");
        put_end_line(&mut out, tid, ContinuationFlag::More);
        let mut reader = FrameReader::new();
        reader.buf.extend_from_slice(&out);
        let Some(Item::Head(head)) = reader.next_item().unwrap() else {
            panic!("no head")
        };
        assert_eq!(head.transaction_id().as_str(), "t1000");
        assert_eq!(head.message_id().unwrap().as_str(), "m3.42");
        let range = head.byte_range().unwrap();
        assert_eq!(
            (range.start, range.end, range.total),
            (1, Some(5), Some(10))
        );
        assert_eq!(head.content_type(), Some(FLOOD_CONTENT_TYPE));
        let Some(Item::Body(body)) = reader.next_item().unwrap() else {
            panic!("no body")
        };
        assert_eq!(&body[..], b"hello");
        assert!(matches!(
            reader.next_item().unwrap(),
            Some(Item::End(ContinuationFlag::More))
        ));

        // And the 200 we would answer it with.
        let mut ok = Vec::new();
        put_ok(&mut ok, &head, "msrp://127.0.0.1:9/you1;tcp");
        assert_eq!(
            ok,
            b"MSRP t1000 200 OK\r\nTo-Path: msrp://127.0.0.1:9/me01;tcp\r\n\
              From-Path: msrp://127.0.0.1:9/you1;tcp\r\n-------t1000$\r\n"
        );
    }

    #[test]
    fn a_bind_is_a_bodiless_send() {
        let paths = Paths::new(
            "msrp://127.0.0.1:2855/abcd;tcp",
            "msrp://127.0.0.1:9/me01;tcp",
        );
        let mut out = Vec::new();
        put_bind(&mut out, Tid(1234), &paths);
        assert_eq!(
            out,
            b"MSRP t1234 SEND\r\nTo-Path: msrp://127.0.0.1:2855/abcd;tcp\r\n\
              From-Path: msrp://127.0.0.1:9/me01;tcp\r\nMessage-ID: bind1234\r\n\
              Byte-Range: 1-0/0\r\n-------t1234$\r\n"
        );
    }
}
