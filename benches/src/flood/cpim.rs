//! The Message/CPIM wrapper (RFC 3862) that every message in a group chat carries
//! (RFC 7701 §7): the sender writes it in front of the flood body, and a receiver
//! finds where the payload starts behind it, whatever the piece boundaries.
//!
//! ```text
//! From: <sip:member0@example.com>\r\n           message headers (RFC 3862 §3.1)
//! To: <sip:f1a2room0@flood.example.com>\r\n
//! \r\n
//! Content-Type: application/octet-stream\r\n    MIME headers of the payload
//! \r\n
//! <payload: the flood body, see super::body>
//! ```
//!
//! The receiver does not compare the headers with what the sender wrote (a switch
//! may rewrite them, e.g. for privacy, RFC 7701 §9): it only needs the two blank
//! lines, found within [`MAX_HEADER_BYTES`].

use super::wire::FLOOD_CONTENT_TYPE;

/// The MSRP Content-Type of a CPIM-wrapped message.
pub const CPIM_CONTENT_TYPE: &str = "message/cpim";

/// The most bytes a receiver scans for the end of the CPIM headers; a body whose
/// headers run longer is counted as a mismatch.
pub const MAX_HEADER_BYTES: usize = 4096;

/// Who a group message is from and to: the CPIM `From` and `To` headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The sender's IM address; the switch refuses a `From` other than the one
    /// given to AddParticipant (403).
    pub from: String,
    /// The room's identity: a public message to every other member.
    pub to: String,
}

impl Envelope {
    /// The header block written in front of every payload: message headers, a blank
    /// line, the payload's Content-Type, a blank line.
    pub fn header_block(&self) -> Vec<u8> {
        format!(
            "From: <{}>\r\nTo: <{}>\r\n\r\nContent-Type: {FLOOD_CONTENT_TYPE}\r\n\r\n",
            self.from, self.to
        )
        .into_bytes()
    }
}

/// The CPIM headers did not end in a blank line within [`MAX_HEADER_BYTES`], or a
/// line did not end in CRLF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Finds the payload behind a CPIM header block that arrives piece by piece: each
/// piece goes through [`CpimSkip::feed`], which returns the part of it that is
/// payload (empty while the headers are still arriving).
#[derive(Debug, Clone, Default)]
pub struct CpimSkip {
    /// Header bytes seen so far.
    seen: usize,
    /// Bytes on the current line before its CR.
    line_len: usize,
    /// The last byte was a CR.
    cr: bool,
    /// Blank lines seen: the second one ends the MIME headers.
    blank_lines: u8,
    /// The payload has started.
    done: bool,
}

impl CpimSkip {
    /// A scanner at the first byte of a body.
    pub fn new() -> Self {
        Self::default()
    }

    /// The payload bytes of `piece` (the next piece of the body, in order).
    pub fn feed<'a>(&mut self, piece: &'a [u8]) -> Result<&'a [u8], Malformed> {
        if self.done {
            return Ok(piece);
        }
        for (i, &byte) in piece.iter().enumerate() {
            self.seen += 1;
            if self.seen > MAX_HEADER_BYTES {
                return Err(Malformed);
            }
            if self.cr {
                // RFC 3862 §3: every header line, blank ones included, ends in CRLF.
                if byte != b'\n' {
                    return Err(Malformed);
                }
                self.cr = false;
                if self.line_len == 0 {
                    self.blank_lines += 1;
                    if self.blank_lines == 2 {
                        self.done = true;
                        return Ok(piece.get(i + 1..).unwrap_or_default());
                    }
                }
                self.line_len = 0;
            } else if byte == b'\r' {
                self.cr = true;
            } else if byte == b'\n' {
                return Err(Malformed);
            } else {
                self.line_len += 1;
            }
        }
        Ok(&[])
    }

    /// True once the whole header block has gone by.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Header bytes seen so far (all of them once [`CpimSkip::is_done`]).
    pub fn header_len(&self) -> usize {
        self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            from: "sip:member0@example.com".into(),
            to: "sip:room@flood.example.com".into(),
        }
    }

    #[test]
    fn the_header_block_is_what_rfc_7701_asks_for() {
        assert_eq!(
            envelope().header_block(),
            b"From: <sip:member0@example.com>\r\nTo: <sip:room@flood.example.com>\r\n\r\n\
              Content-Type: application/octet-stream\r\n\r\n"
        );
    }

    #[test]
    fn the_payload_is_found_whatever_the_piece_boundaries() {
        let mut body = envelope().header_block();
        let header_len = body.len();
        body.extend_from_slice(b"\r\n\r\npayload with blank lines\r\n\r\n");
        for split in 1..body.len() {
            let mut skip = CpimSkip::new();
            let mut payload = Vec::new();
            for piece in body.chunks(split) {
                payload.extend_from_slice(skip.feed(piece).unwrap());
            }
            assert!(skip.is_done(), "split {split}");
            assert_eq!(skip.header_len(), header_len);
            assert_eq!(payload, &body[header_len..], "split {split}");
        }
    }

    #[test]
    fn headers_without_an_end_or_with_bare_line_feeds_are_malformed() {
        let mut skip = CpimSkip::new();
        assert_eq!(
            skip.feed(b"From: <sip:a@b>\nTo: <sip:c@d>\r\n"),
            Err(Malformed)
        );

        let mut skip = CpimSkip::new();
        let endless = vec![b'x'; MAX_HEADER_BYTES + 1];
        assert_eq!(skip.feed(&endless), Err(Malformed));

        // Only the message headers: the payload has not started.
        let mut skip = CpimSkip::new();
        assert_eq!(skip.feed(b"From: <sip:a@b>\r\n\r\n"), Ok(&b""[..]));
        assert!(!skip.is_done());
    }
}
