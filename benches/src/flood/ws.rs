//! MSRP over WebSocket (RFC 7977) on the flooder's side (`--transport ws`): a
//! browser's connection, upgraded with subprotocol `msrp` by tokio-tungstenite,
//! adapted into the byte stream the flood tasks already read and write.
//!
//! - Writes: the tasks write whole MSRP frames, many per batch. Each frame goes
//!   as one binary WebSocket message (RFC 7977 §5.1: one chunk per message, never
//!   two; §4.2 lets either side send binary frames), cut at its end-line
//!   `-------<tid><flag>\r\n`. MSRP has no Content-Length (RFC 4975 §7.1), so the
//!   cut is found as a receiver finds it: by scanning for the transaction id of
//!   the frame's start line. A frame not yet whole waits for the rest.
//! - Reads: the payloads of the switch's messages, concatenated, for the MSRP
//!   decoder (which does not need the message boundaries).
//!
//! Cost per frame beyond TCP: one copy into the pending buffer (the frame is then
//! a reference-counted slice of it, no allocation) and tungstenite's own copy and
//! mask into its write buffer; on reading, one copy out of the message tungstenite
//! allocated.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use anyhow::Context as _;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Sink, Stream};
use memchr::memmem;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Pending bytes at which a write first hands the whole frames it holds to the
/// WebSocket, whose readiness then holds the writer back (the batches written
/// between two flushes stay below it).
const PENDING_HIGH_BYTES: usize = 256 * 1024;

/// The longest transaction id looked for in a start line (RFC 4975 §9 allows 32
/// characters; relays make longer ones). A start line without its id's end by
/// then is not MSRP.
const MAX_TID_BYTES: usize = 64;

/// The end-line's first bytes, from the CRLF that ends the headers or the body.
const END_LINE_START: &[u8] = b"\r\n-------";

/// One WebSocket connection to the switch, read and written as MSRP bytes.
#[derive(Debug)]
pub struct WsStream {
    ws: WebSocketStream<TcpStream>,
    /// Written and not yet handed to the WebSocket: whole frames, then maybe the
    /// start of one.
    pending: BytesMut,
    /// Bytes of `pending`'s first frame already searched for its end-line.
    searched: usize,
    end_line: memmem::Finder<'static>,
    /// What is left of the last message received.
    inbound: Bytes,
    /// A read error that came after bytes a read returned: the next read's.
    read_error: Option<io::Error>,
}

/// tungstenite's settings for a flood connection: its defaults (128 KiB read
/// buffer, writes gathered up to 128 KiB).
pub fn flood_config() -> WebSocketConfig {
    WebSocketConfig::default()
}

/// tungstenite's settings for a connection that stays idle (`msrp-idle`): a 4 KiB
/// read buffer instead of 128 KiB, so that thousands of them fit the flooder.
pub fn idle_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4 * 1024)
}

impl WsStream {
    /// Connects to the switch's WebSocket listener (`--ws-listen`) at `addr`, Nagle
    /// off, and upgrades with subprotocol `msrp` (RFC 7977 §4.1; tungstenite fails
    /// the upgrade unless the switch agrees to it).
    pub async fn connect(addr: SocketAddr, config: WebSocketConfig) -> anyhow::Result<Self> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        tcp.set_nodelay(true)?;
        let mut request = format!("ws://{addr}/")
            .into_client_request()
            .context("the WebSocket request")?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("msrp"));
        let (ws, _response) =
            tokio_tungstenite::client_async_with_config(request, tcp, Some(config))
                .await
                .with_context(|| format!("WebSocket upgrade with {addr}"))?;
        Ok(Self {
            ws,
            pending: BytesMut::with_capacity(PENDING_HIGH_BYTES),
            searched: 0,
            end_line: memmem::Finder::new(END_LINE_START),
            inbound: Bytes::new(),
            read_error: None,
        })
    }

    /// The local address, for logs.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.ws.get_ref().local_addr()
    }

    /// Hands every whole frame pending to the WebSocket, one message each.
    fn poll_send_frames(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(Pin::new(&mut self.ws).poll_ready(cx)).map_err(into_io)?;
            let Some(len) = frame_len(&self.pending, &mut self.searched, &self.end_line)? else {
                return Poll::Ready(Ok(()));
            };
            let frame = self.pending.split_to(len).freeze();
            self.searched = 0;
            Pin::new(&mut self.ws)
                .start_send(Message::Binary(frame))
                .map_err(into_io)?;
        }
    }
}

impl AsyncRead for WsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(err) = this.read_error.take() {
            return Poll::Ready(Err(err));
        }
        let start = buf.filled().len();
        // Several messages per read when they are there, so the decoder sees
        // batches as it does over TCP; wait only while nothing was read.
        while buf.remaining() > 0 {
            if !this.inbound.is_empty() {
                let n = this.inbound.len().min(buf.remaining());
                buf.put_slice(&this.inbound[..n]);
                this.inbound.advance(n);
                continue;
            }
            let next = match Pin::new(&mut this.ws).poll_next(cx) {
                Poll::Ready(next) => next,
                Poll::Pending if buf.filled().len() > start => break,
                Poll::Pending => return Poll::Pending,
            };
            match next {
                Some(Ok(Message::Binary(payload))) => this.inbound = payload,
                Some(Ok(Message::Text(text))) => this.inbound = text.into(),
                // Pings are answered by tungstenite; pongs and raw frames carry
                // no MSRP.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                // A close, or the stream's end: end of stream once the bytes
                // read are taken.
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => break,
                Some(Err(err)) if buf.filled().len() > start => {
                    // What was read goes first; the error is the next read's.
                    this.read_error = Some(into_io(err));
                    break;
                }
                Some(Err(err)) => return Poll::Ready(Err(into_io(err))),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for WsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.len() >= PENDING_HIGH_BYTES {
            ready!(this.poll_send_frames(cx))?;
        }
        this.pending.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    /// Sends every whole frame written, then flushes the WebSocket. A frame
    /// written only in part stays pending: sending it would split a chunk over
    /// two messages.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send_frames(cx))?;
        Pin::new(&mut this.ws).poll_flush(cx).map_err(into_io)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().ws)
            .poll_close(cx)
            .map_err(into_io)
    }
}

/// The length of the first MSRP frame in `bytes` if it is whole, found by its
/// end-line `\r\n-------<tid><flag>\r\n` (RFC 4975 §7.1: the CRLF before the
/// seven dashes ends the last header or the body). `searched` is how far an
/// earlier call looked without finding it: the scan resumes there, so a frame
/// written in many pieces is scanned once.
fn frame_len(
    bytes: &[u8],
    searched: &mut usize,
    end_line: &memmem::Finder<'_>,
) -> io::Result<Option<usize>> {
    const START: &[u8] = b"MSRP ";
    let Some(rest) = bytes.get(START.len()..) else {
        return Ok(None);
    };
    if !bytes.starts_with(START) {
        return Err(not_msrp("a write that does not start with \"MSRP \""));
    }
    let Some(tid_len) = memchr::memchr(b' ', &rest[..rest.len().min(MAX_TID_BYTES + 1)]) else {
        return match rest.len() > MAX_TID_BYTES {
            true => Err(not_msrp("no transaction id in the start line")),
            false => Ok(None),
        };
    };
    let tid = &rest[..tid_len];
    let mut from = (*searched).max(START.len() + tid_len);
    // "\r\n-------" + tid + flag + "\r\n"
    let tail = tid.len() + 3;
    while let Some(at) = end_line.find(&bytes[from..]) {
        let tid_at = from + at + END_LINE_START.len();
        let Some(candidate) = bytes.get(tid_at..tid_at + tail) else {
            // The end-line may still be coming: look here again next time.
            *searched = from + at;
            return Ok(None);
        };
        if candidate.starts_with(tid)
            && matches!(candidate[tid.len()], b'$' | b'+' | b'#')
            && candidate.ends_with(b"\r\n")
        {
            return Ok(Some(tid_at + tail));
        }
        from += at + 1;
    }
    // A partial "\r\n-------" at the end is looked at again.
    *searched = bytes
        .len()
        .saturating_sub(END_LINE_START.len() - 1)
        .max(from);
    Ok(None)
}

fn not_msrp(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("WebSocket stream: {why}; only whole MSRP frames can be sent"),
    )
}

/// tungstenite's error as an I/O error (its own I/O errors unwrapped).
fn into_io(err: WsError) -> io::Error {
    match err {
        WsError::Io(err) => err,
        other => io::Error::other(other),
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

    use super::*;
    use crate::flood::wire::{Paths, Tid, put_bind, put_end_line};
    use msrp_switch::codec::ContinuationFlag;

    /// A SEND whose body holds decoys: a CRLF and dashes, another id's end-line,
    /// and its own id followed by no flag.
    fn send(tid: Tid) -> Vec<u8> {
        let mut out = b"MSRP ".to_vec();
        tid.put(&mut out);
        out.extend_from_slice(
            b" SEND\r\nTo-Path: msrp://a:1/x;ws\r\nFrom-Path: msrp://b:2/y;ws\r\n",
        );
        out.extend_from_slice(b"Byte-Range: 1-*/*\r\nContent-Type: text/plain\r\n\r\n");
        out.extend_from_slice(b"body\r\n-------\r\n-------t9$\r\n\r\n-------");
        tid.put(&mut out);
        out.extend_from_slice(b"1$\r\n\r\n-------");
        tid.put(&mut out);
        out.extend_from_slice(b"x\r\n");
        put_end_line(&mut out, tid, ContinuationFlag::More);
        out
    }

    fn cuts(bytes: &[u8]) -> Vec<usize> {
        let finder = memmem::Finder::new(END_LINE_START);
        let (mut at, mut searched, mut lens) = (0, 0, Vec::new());
        while let Some(len) = frame_len(&bytes[at..], &mut searched, &finder).unwrap() {
            lens.push(len);
            at += len;
            searched = 0;
        }
        lens
    }

    #[test]
    fn a_batch_is_cut_at_each_frames_own_end_line() {
        let (a, b) = (send(Tid(1000)), send(Tid(10001)));
        let mut bind = Vec::new();
        put_bind(
            &mut bind,
            Tid(7),
            &Paths::new("msrp://a:1/x;ws", "msrp://b:2/y;ws"),
        );
        let batch = [a.clone(), bind.clone(), b.clone()].concat();
        assert_eq!(cuts(&batch), [a.len(), bind.len(), b.len()]);
    }

    #[test]
    fn a_frame_written_in_pieces_is_cut_once_whole() {
        let frame = send(Tid(1234));
        let finder = memmem::Finder::new(END_LINE_START);
        for step in [1, 2, 3, 7, 64] {
            let mut searched = 0;
            let mut found = None;
            for end in (0..=frame.len()).step_by(step).chain([frame.len()]) {
                found = frame_len(&frame[..end], &mut searched, &finder).unwrap();
                if found.is_some() {
                    assert_eq!(end, frame.len(), "step {step}: cut before the end");
                    break;
                }
                assert!(searched <= end, "step {step}");
            }
            assert_eq!(found, Some(frame.len()), "step {step}");
        }
    }

    #[test]
    fn bytes_that_are_not_a_frame_are_refused() {
        let finder = memmem::Finder::new(END_LINE_START);
        let mut searched = 0;
        assert!(frame_len(b"HTTP/1.1 200 OK\r\n", &mut searched, &finder).is_err());
        assert!(
            frame_len(&[b'M'; 3], &mut searched, &finder)
                .unwrap()
                .is_none()
        );
        let long = [b"MSRP ".as_slice(), &[b'a'; MAX_TID_BYTES + 1]].concat();
        assert!(frame_len(&long, &mut searched, &finder).is_err());
    }

    /// The server's side of the upgrade: it agrees to `msrp`.
    // The signature is tungstenite's server callback, large error and all.
    #[allow(clippy::result_large_err)]
    fn agree(_: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
        response
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("msrp"));
        Ok(response)
    }

    /// Over a real upgrade: a batch of three frames and the start of a fourth
    /// gives three messages at the flush, the fourth its own once whole; the
    /// server's messages come back as one byte stream.
    #[tokio::test]
    async fn each_frame_is_one_message_each_way() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_hdr_async(tcp, agree)
                .await
                .unwrap();
            let mut got = Vec::new();
            for _ in 0..4 {
                got.push(ws.next().await.unwrap().unwrap().into_data());
            }
            for part in [&b"MSRP t1 200"[..], b" OK\r\n", b"-------t1$\r\n"] {
                futures_util::SinkExt::send(&mut ws, Message::binary(part.to_vec()))
                    .await
                    .unwrap();
            }
            got
        });
        let mut client = WsStream::connect(addr, flood_config()).await.unwrap();
        let frames: Vec<Vec<u8>> = (0..4).map(|i| send(Tid(2000 + i))).collect();
        let fourth = &frames[3];
        client.write_all(&frames[..3].concat()).await.unwrap();
        client.write_all(&fourth[..10]).await.unwrap();
        client.flush().await.unwrap();
        client.write_all(&fourth[10..]).await.unwrap();
        client.flush().await.unwrap();
        let got = server.await.unwrap();
        assert_eq!(got, frames);
        let expected = b"MSRP t1 200 OK\r\n-------t1$\r\n";
        let mut back = Vec::new();
        while back.len() < expected.len() {
            let mut buf = [0u8; 64];
            let n = tokio::io::AsyncReadExt::read(&mut client, &mut buf)
                .await
                .unwrap();
            assert!(n > 0, "ended early");
            back.extend_from_slice(&buf[..n]);
        }
        assert_eq!(back, expected);
    }
}
