//! Whole frames read off a byte stream with the switch's own decoder.

use std::time::Duration;

use bytes::BytesMut;
use msrp_switch::codec::{ContinuationFlag, Decoder, Head, Item, Limits};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::timeout;

use crate::LIMIT;

/// How much room each read reserves in the buffer.
const READ_BYTES: usize = 64 * 1024;

/// One decoded frame: its head, its whole body and its continuation flag.
#[derive(Debug)]
pub struct Frame {
    /// The start line and headers.
    pub head: Head,
    /// Every body piece the decoder yielded, joined.
    pub body: Vec<u8>,
    /// The flag of the end-line.
    pub flag: ContinuationFlag,
}

impl Frame {
    /// The transaction id.
    pub fn tid(&self) -> String {
        self.head.transaction_id().to_string()
    }

    /// The To-Path URIs, as text.
    pub fn target_path(&self) -> Vec<String> {
        self.head.to_path().map(|u| u.to_string()).collect()
    }

    /// The From-Path URIs, as text.
    pub fn sender_path(&self) -> Vec<String> {
        self.head.from_path().map(|u| u.to_string()).collect()
    }

    /// The status code of a response; `None` for a request.
    pub fn status(&self) -> Option<u16> {
        self.head.response_status().map(|s| s.as_u16())
    }

    /// The method of a request; `None` for a response.
    pub fn method(&self) -> Option<String> {
        self.head.method_name().map(str::to_string)
    }
}

/// Reads whole frames from `io` (a socket or its read half). Bytes read past a
/// frame stay buffered for the next one.
pub struct FrameReader<R> {
    io: R,
    decoder: Decoder,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader with the default decoder limits and nothing buffered.
    pub fn new(io: R) -> FrameReader<R> {
        FrameReader {
            io,
            decoder: Decoder::new(Limits::default()),
            buf: BytesMut::new(),
        }
    }

    /// The stream, to inspect it.
    pub fn get_ref(&self) -> &R {
        &self.io
    }

    /// The stream, and the bytes read from it but not yet decoded are dropped.
    pub fn into_inner(self) -> R {
        self.io
    }

    /// The stream, to write to it (a whole socket) or to inspect it.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.io
    }

    /// The next whole frame, or a panic after [`LIMIT`] or if the connection closes.
    pub async fn read_frame(&mut self) -> Frame {
        timeout(LIMIT, self.try_read_frame())
            .await
            .expect("no frame in time")
            .expect("connection closed")
    }

    /// The next whole frame; `None` if the connection closes first. A frame the
    /// decoder refuses is a panic: the switch must never send one.
    pub async fn try_read_frame(&mut self) -> Option<Frame> {
        let mut head = None;
        let mut body = Vec::new();
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(Item::Head(h))) => head = Some(h),
                Ok(Some(Item::Body(piece))) => body.extend_from_slice(&piece),
                Ok(Some(Item::End(flag))) => {
                    let head = head.take().expect("end-line before head");
                    return Some(Frame { head, body, flag });
                }
                Ok(None) => {
                    if !self.fill().await {
                        return None;
                    }
                }
                Err(err) => panic!("the switch sent a malformed frame: {err}"),
            }
        }
    }

    /// Waits until at least `n` bytes not yet decoded have arrived (for example the
    /// start of a chunk still streaming); panics after [`LIMIT`] or on close.
    pub async fn await_bytes(&mut self, n: usize) {
        timeout(LIMIT, async {
            while self.buf.len() < n {
                assert!(self.fill().await, "connection closed");
            }
        })
        .await
        .expect("bytes did not arrive in time");
    }

    /// Waits until the frame being received has at least `n` body bytes buffered
    /// (counted after its blank line); panics after [`LIMIT`] or on close.
    pub async fn await_body_bytes(&mut self, n: usize) {
        timeout(LIMIT, async {
            loop {
                let body = memchr::memmem::find(&self.buf, b"\r\n\r\n")
                    .map_or(0, |at| self.buf.len() - at - 4);
                if body >= n {
                    return;
                }
                assert!(self.fill().await, "connection closed");
            }
        })
        .await
        .expect("body bytes did not arrive in time");
    }

    /// True if the connection closes within `wait` (what arrives first is read and
    /// thrown away).
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let mut sink = vec![0u8; READ_BYTES];
        timeout(wait, async {
            loop {
                match self.io.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }

    /// Reads once into the buffer; false if the connection closed or failed.
    async fn fill(&mut self) -> bool {
        self.buf.reserve(READ_BYTES);
        matches!(self.io.read_buf(&mut self.buf).await, Ok(n) if n > 0)
    }
}
