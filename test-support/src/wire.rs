//! The literal frames a test peer writes, each spelled once. The paths are the
//! peer's: To-Path is the switch's URI for it, From-Path its own.

/// One SEND chunk (RFC 4975 §7.1.1) with the head fields the tests vary.
#[derive(Debug, Clone, Copy)]
pub struct SendChunk<'a> {
    /// The To-Path: the switch's URI for the sender.
    pub to_path: &'a str,
    /// The From-Path: the sender's own URI.
    pub from_path: &'a str,
    /// The transaction id, repeated in the end-line.
    pub tid: &'a str,
    /// The Message-ID every chunk of the message shares.
    pub message_id: &'a str,
    /// The 1-based Byte-Range start of this chunk's body.
    pub start: usize,
    /// The Byte-Range total of the whole message.
    pub total: usize,
    /// Whole header lines (each ending in CRLF) written before Content-Type.
    pub extra_headers: &'a str,
    /// The Content-Type.
    pub content_type: &'a str,
    /// The continuation flag: `$` (end), `+` (more) or `#` (abort).
    pub flag: char,
}

impl<'a> SendChunk<'a> {
    /// The head of an empty one-chunk `text/plain` SEND from `from_path` to
    /// `to_path` (`Byte-Range: 1-0/0`, flag `$`); a test sets the fields its
    /// chunk differs in.
    pub fn text(to_path: &'a str, from_path: &'a str, tid: &'a str, message_id: &'a str) -> Self {
        SendChunk {
            to_path,
            from_path,
            tid,
            message_id,
            start: 1,
            total: 0,
            extra_headers: "",
            content_type: "text/plain",
            flag: '$',
        }
    }

    /// The frame with `body`: `Byte-Range: start-end/total` where `end` is the
    /// last byte of this body (`1-0/0` for an empty first chunk).
    pub fn encode(&self, body: &[u8]) -> Vec<u8> {
        let Self {
            to_path,
            from_path,
            tid,
            message_id,
            start,
            total,
            extra_headers,
            content_type,
            flag,
        } = *self;
        let mut frame = format!(
            "MSRP {tid} SEND\r\nTo-Path: {to_path}\r\nFrom-Path: {from_path}\r\n\
             Message-ID: {message_id}\r\nByte-Range: {start}-{}/{total}\r\n\
             {extra_headers}Content-Type: {content_type}\r\n\r\n",
            start + body.len() - 1
        )
        .into_bytes();
        frame.extend_from_slice(body);
        frame.extend_from_slice(format!("\r\n-------{tid}{flag}\r\n").as_bytes());
        frame
    }
}

/// The bodiless SEND that binds a connection to a participant (RFC 4975 §5.4).
pub fn bind_frame(tid: &str, to_path: &str, from_path: &str) -> String {
    format!(
        "MSRP {tid} SEND\r\nTo-Path: {to_path}\r\nFrom-Path: {from_path}\r\n\
         Message-ID: bind{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n"
    )
}

/// A response (RFC 4975 §7.2) such as `200 OK`: hop by hop, so To-Path is the
/// request's first From-Path URI and From-Path the answering hop.
pub fn response_frame(tid: &str, status: &str, to_path: &str, from_path: &str) -> String {
    format!(
        "MSRP {tid} {status}\r\nTo-Path: {to_path}\r\nFrom-Path: {from_path}\r\n-------{tid}$\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TO: &str = "msrp://127.0.0.1:2855/s;tcp";
    const FROM: &str = "msrp://127.0.0.1:40001/p;tcp";

    #[test]
    fn a_chunk_names_its_byte_range_and_ends_with_its_flag() {
        let chunk = SendChunk {
            to_path: TO,
            from_path: FROM,
            tid: "t1",
            message_id: "m1",
            start: 11,
            total: 20,
            extra_headers: "Failure-Report: no\r\n",
            content_type: "text/plain",
            flag: '+',
        };
        assert_eq!(
            chunk.encode(b"0123456789"),
            b"MSRP t1 SEND\r\nTo-Path: msrp://127.0.0.1:2855/s;tcp\r\n\
              From-Path: msrp://127.0.0.1:40001/p;tcp\r\nMessage-ID: m1\r\n\
              Byte-Range: 11-20/20\r\nFailure-Report: no\r\nContent-Type: text/plain\r\n\
              \r\n0123456789\r\n-------t1+\r\n"
        );
    }

    #[test]
    fn bind_and_response_frames_are_bodiless() {
        assert_eq!(
            bind_frame("t2", TO, FROM),
            "MSRP t2 SEND\r\nTo-Path: msrp://127.0.0.1:2855/s;tcp\r\n\
             From-Path: msrp://127.0.0.1:40001/p;tcp\r\nMessage-ID: bindt2\r\n\
             Byte-Range: 1-0/0\r\n-------t2$\r\n"
        );
        assert_eq!(
            response_frame("t3", "200 OK", FROM, TO),
            "MSRP t3 200 OK\r\nTo-Path: msrp://127.0.0.1:40001/p;tcp\r\n\
             From-Path: msrp://127.0.0.1:2855/s;tcp\r\n-------t3$\r\n"
        );
    }
}
