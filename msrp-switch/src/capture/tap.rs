//! One direction of one captured connection: the bytes that pass are decoded
//! again (a decoder of the tap's own, so the switch's state is untouched) into
//! whole frames, each kept as its head, at most `max_body_bytes` of its body
//! and its end-line.

use bytes::{Bytes, BytesMut};

use msrp_proto::codec::{ContinuationFlag, Decoder, Item, Limits};

/// A frame being put together.
struct Partial {
    text: Vec<u8>,
    tid: String,
    has_body: bool,
    kept: usize,
    omitted: u64,
}

/// A direction's decoder and the frame it is in.
pub struct Tap {
    decoder: Decoder,
    buf: BytesMut,
    partial: Option<Partial>,
    max_body_bytes: usize,
    limits: Limits,
    /// Looking for a frame's start line: at first (a tap may start in the
    /// middle of a stream, at a capture started mid-chunk) and after bytes the
    /// decoder could not frame.
    syncing: bool,
}

impl Tap {
    /// A tap keeping `max_body_bytes` of each body.
    pub fn new(limits: Limits, max_body_bytes: usize) -> Self {
        Self {
            decoder: Decoder::new(limits.clone()),
            buf: BytesMut::new(),
            partial: None,
            max_body_bytes,
            limits,
            syncing: true,
        }
    }

    /// Takes `bytes` as they passed; calls `frame` with each frame they end
    /// (the frame's text and the body bytes left out).
    pub fn feed(&mut self, bytes: &[u8], mut frame: impl FnMut(Bytes, u64)) {
        let mut bytes = bytes;
        if self.syncing {
            match frame_start(bytes) {
                Some(at) => {
                    bytes = &bytes[at..];
                    self.syncing = false;
                }
                None => return,
            }
        }
        self.buf.extend_from_slice(bytes);
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(Item::Head(head))) => {
                    self.partial = Some(Partial {
                        text: head.as_bytes().to_vec(),
                        tid: head.transaction_id().to_string(),
                        has_body: head.has_body(),
                        kept: 0,
                        omitted: 0,
                    });
                }
                Ok(Some(Item::Body(piece))) => {
                    if let Some(p) = &mut self.partial {
                        let kept = piece.len().min(self.max_body_bytes.saturating_sub(p.kept));
                        p.text.extend_from_slice(&piece[..kept]);
                        p.kept += kept;
                        p.omitted += (piece.len() - kept) as u64;
                    }
                }
                Ok(Some(Item::End(flag))) => {
                    if let Some(mut p) = self.partial.take() {
                        let flag = match flag {
                            ContinuationFlag::End => '$',
                            ContinuationFlag::More => '+',
                            ContinuationFlag::Abort => '#',
                        };
                        // A body (even an empty one) ends with CRLF before the
                        // end-line (RFC 4975 §7.1).
                        if p.has_body {
                            p.text.extend_from_slice(b"\r\n");
                        }
                        p.text
                            .extend_from_slice(format!("-------{}{flag}\r\n", p.tid).as_bytes());
                        frame(Bytes::from(p.text), p.omitted);
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    // Lost: start again at the next start line.
                    self.syncing = true;
                    self.partial = None;
                    self.decoder = Decoder::new(self.limits.clone());
                    let rest = std::mem::take(&mut self.buf);
                    if let Some(at) = rest.get(1..).and_then(frame_start) {
                        self.syncing = false;
                        self.buf.extend_from_slice(&rest[1 + at..]);
                        continue;
                    }
                    break;
                }
            }
        }
    }
}

/// Where a start line (`MSRP ` at a line's start) begins in `bytes`.
fn frame_start(bytes: &[u8]) -> Option<usize> {
    if bytes.starts_with(b"MSRP ") {
        return Some(0);
    }
    memchr::memmem::find_iter(bytes, b"\nMSRP ")
        .next()
        .map(|at| at + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(tap: &mut Tap, bytes: &[u8]) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        tap.feed(bytes, |f, omitted| {
            out.push((String::from_utf8_lossy(&f).into_owned(), omitted))
        });
        out
    }

    #[test]
    fn frames_split_anywhere_come_out_whole_with_bodies_cut() {
        let send = "MSRP tid00001 SEND\r\nTo-Path: msrp://127.0.0.1:2855/sess1234;tcp\r\nFrom-Path: msrp://127.0.0.1:40002/peer5678;tcp\r\n\
                    Message-ID: msg00001\r\nByte-Range: 1-10/10\r\nContent-Type: text/plain\r\n\r\n\
                    0123456789\r\n-------tid00001$\r\n";
        let ok = "MSRP tid00001 200 OK\r\nTo-Path: msrp://127.0.0.1:40002/peer5678;tcp\r\nFrom-Path: msrp://127.0.0.1:2855/sess1234;tcp\r\n-------tid00001$\r\n";
        let stream = format!("{send}{ok}");
        let mut tap = Tap::new(Limits::default(), 4);
        let mut got = Vec::new();
        for piece in stream.as_bytes().chunks(7) {
            got.extend(frames(&mut tap, piece));
        }
        assert_eq!(got.len(), 2);
        assert!(
            got[0].0.starts_with("MSRP tid00001 SEND\r\n"),
            "{}",
            got[0].0
        );
        assert!(
            got[0].0.ends_with("\r\n\r\n0123\r\n-------tid00001$\r\n"),
            "{}",
            got[0].0
        );
        assert_eq!(got[0].1, 6, "six body bytes left out");
        assert_eq!(got[1].0, ok);
        assert_eq!(got[1].1, 0);
    }

    #[test]
    fn a_tap_started_mid_frame_finds_the_next_one() {
        let mut tap = Tap::new(Limits::default(), 4);
        let ok = "MSRP tid00001 200 OK\r\nTo-Path: msrp://127.0.0.1:40002/peer5678;tcp\r\nFrom-Path: msrp://127.0.0.1:2855/sess1234;tcp\r\n-------tid00001$\r\n";
        let stream = format!("of a body\r\n-------tid00000+\r\n{ok}");
        let got = frames(&mut tap, stream.as_bytes());
        assert_eq!(got, [(ok.to_owned(), 0)]);
    }
}
