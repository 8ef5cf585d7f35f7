//! The encoder: heads and end-lines written into one reusable buffer, handed out as
//! `Bytes`, so a frame goes out as one vectored write of head, body and end-line and
//! the body is never touched, whatever the head says.

use std::io::IoSlice;

use bytes::{BufMut, Bytes, BytesMut};

use super::byte_range::ByteRange;
use super::head::{ContinuationFlag, Field, Head};
use super::header::{FailureReport, HeaderName};
use super::ident::{MessageId, TransactionId};
use super::limits::Limits;
use super::status::StatusCode;
use super::uri::MsrpUri;

/// The encoder writes into blocks of this many bytes, so that one allocation serves
/// many heads.
const BLOCK: usize = 16 * 1024;

/// Full blocks kept for reuse. Under pipelining a block fills while the heads cut
/// from it still wait in peers' queues, so it cannot be reused in place; it is
/// retired here and taken back once every `Bytes` of it is gone.
const RETIRED_BLOCKS: usize = 16;

/// Room for the longest end-line, `CRLF "-------" tid flag CRLF`. A head is written
/// with this much spare, so that its end-line never needs a fresh block while the
/// head is still held: that block could not be reused in place and would cost an
/// allocation.
const END_LINE_ROOM: usize = 2 + 7 + Limits::TRANSACTION_ID_CAPACITY + 1 + 2;

/// Room for a Message-ID or Byte-Range line that `forward` adds or rewrites.
const HEADER_LINE_ROOM: usize = 96;

/// The pieces of one frame, ready for one vectored write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// Start line, headers, and the blank line before a body.
    pub head: Bytes,
    /// The body, shared with the read buffer it came from (may be empty).
    pub body: Bytes,
    /// `[CRLF] "-------" tid flag CRLF`.
    pub end_line: Bytes,
}

impl Frame {
    /// Total bytes on the wire.
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len() + self.end_line.len()
    }

    /// True if the frame has no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pieces for `write_vectored`.
    pub fn io_slices(&self) -> [IoSlice<'_>; 3] {
        [
            IoSlice::new(&self.head),
            IoSlice::new(&self.body),
            IoSlice::new(&self.end_line),
        ]
    }

    /// The frame as one buffer (tests and logs; copies).
    pub fn to_vec(&self) -> Vec<u8> {
        [&self.head[..], &self.body[..], &self.end_line[..]].concat()
    }
}

/// What to change when a head is forwarded on another hop: the transaction id and
/// paths always, Message-ID and Byte-Range when given (replacing the head's, or added
/// after From-Path when the head has none). Every other header is copied unchanged
/// and in order.
#[derive(Clone, Copy, Debug)]
pub struct Rewrite<'a> {
    /// The new transaction id (RFC 4975 §7.1: a fresh one per hop).
    pub transaction_id: TransactionId,
    /// The new To-Path.
    pub to_path: &'a [MsrpUri],
    /// The new From-Path.
    pub from_path: &'a [MsrpUri],
    /// A new Message-ID (a switch leg that numbers its own messages), or keep.
    pub message_id: Option<MessageId>,
    /// A new Byte-Range (a resumed, interrupted chunk), or keep.
    pub byte_range: Option<ByteRange>,
}

/// The headers a forwarded head gets from the switch in place of (or beside)
/// its own.
struct Overrides {
    message_id: Option<MessageId>,
    byte_range: Option<ByteRange>,
    failure_report: Option<FailureReport>,
}

/// Writes heads, responses and end-lines.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: BytesMut,
    retired: Vec<BytesMut>,
}

impl Encoder {
    /// An encoder with an empty buffer; the first write allocates one block.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes a decoded head back: start line, each header line as received, and the
    /// blank line if a body follows. `encode(decode(x)) == x`.
    pub fn head(&mut self, head: &Head) -> Bytes {
        self.reserve(head.as_bytes().len() + 16 + END_LINE_ROOM);
        self.start_line(head, head.transaction_id());
        for field in head.fields() {
            self.buf.put_slice(head.span_bytes(field.line));
            self.buf.put_slice(b"\r\n");
        }
        self.finish(head.has_body())
    }

    /// Writes `head` for the next hop with the changes in `rewrite`.
    pub fn forward(&mut self, head: &Head, rewrite: &Rewrite<'_>) -> Bytes {
        self.rewrite(head, rewrite, None)
    }

    /// Writes `head` as a request the switch itself originates (a copy for a group
    /// member): as [`Encoder::forward`], with the switch's own Failure-Report in
    /// place of the sender's.
    pub fn copy_request(
        &mut self,
        head: &Head,
        rewrite: &Rewrite<'_>,
        failure_report: FailureReport,
    ) -> Bytes {
        self.rewrite(head, rewrite, Some(failure_report))
    }

    fn rewrite(
        &mut self,
        head: &Head,
        rewrite: &Rewrite<'_>,
        failure_report: Option<FailureReport>,
    ) -> Bytes {
        let paths = paths_len(rewrite.to_path, rewrite.from_path);
        // A new transaction id may be longer than the old one, and a Message-ID and a
        // Byte-Range line may be added.
        self.reserve(
            head.as_bytes().len()
                + paths
                + Limits::TRANSACTION_ID_CAPACITY
                + 2 * HEADER_LINE_ROOM
                + END_LINE_ROOM,
        );
        self.start_line(head, &rewrite.transaction_id);
        let overrides = Overrides {
            message_id: rewrite.message_id,
            byte_range: rewrite.byte_range,
            failure_report,
        };
        for field in head.fields() {
            match field.name {
                HeaderName::ToPath => self.path_line("To-Path", rewrite.to_path),
                HeaderName::FromPath => {
                    self.path_line("From-Path", rewrite.from_path);
                    self.added_after_paths(head, &overrides);
                }
                _ => self.kept_field(head, field, &overrides),
            }
        }
        self.finish(head.has_body())
    }

    /// A group copy's head is one member's own lines ([`Encoder::copy_front_and_end`]) and
    /// lines every member's copy shares, written here once per chunk: what
    /// [`Encoder::copy_request`] writes after From-Path. `None` unless the head
    /// starts with To-Path and From-Path (RFC 4975 §9 asks for that order; a head
    /// that differs is copied whole for each member).
    ///
    /// Issue 20: one Byte-Range, Message-ID and Content-Type written per chunk
    /// rather than per member, and sent as one shared piece.
    pub fn copy_shared(
        &mut self,
        head: &Head,
        message_id: MessageId,
        byte_range: ByteRange,
        failure_report: FailureReport,
    ) -> Option<Bytes> {
        let [to, from, rest @ ..] = head.fields() else {
            return None;
        };
        if to.name != HeaderName::ToPath || from.name != HeaderName::FromPath {
            return None;
        }
        self.reserve(head.as_bytes().len() + 3 * HEADER_LINE_ROOM);
        let overrides = Overrides {
            message_id: Some(message_id),
            byte_range: Some(byte_range),
            failure_report: Some(failure_report),
        };
        self.added_after_paths(head, &overrides);
        for field in rest {
            self.kept_field(head, field, &overrides);
        }
        Some(self.finish(head.has_body()))
    }

    /// One member's own parts of a group copy: the front of its head (the start
    /// line with its own transaction id, then its To-Path and From-Path lines as
    /// [`Encoder::path_lines`] wrote them; [`Encoder::copy_shared`] follows it),
    /// and its end-line with `flag`, as [`Encoder::end_line`] writes it after a
    /// body. Both are written together and cut once from the encoder's buffer:
    /// one cut is a reference count and some arithmetic, done for every copy.
    pub fn copy_front_and_end(
        &mut self,
        head: &Head,
        transaction_id: &TransactionId,
        path_lines: &[u8],
        flag: ContinuationFlag,
    ) -> (Bytes, Bytes) {
        self.reserve(
            path_lines.len() + 2 * Limits::TRANSACTION_ID_CAPACITY + HEADER_LINE_ROOM + 12,
        );
        self.start_line(head, transaction_id);
        self.buf.put_slice(path_lines);
        let front_len = self.buf.len();
        self.put_end_line(transaction_id, flag, true);
        let mut both = self.buf.split().freeze();
        let front = both.split_to(front_len);
        (front, both)
    }

    /// `To-Path` and `From-Path` lines, in a buffer of their own: a group member's
    /// paths are the same on every copy it gets, so they are written once and
    /// copied in whole ([`Encoder::copy_front_and_end`]) rather than formatted URI by URI
    /// for every copy. Not cut from the encoder's blocks, which it would pin.
    pub fn path_lines(to_path: &[MsrpUri], from_path: &[MsrpUri]) -> Bytes {
        let len = paths_len(to_path, from_path) + "To-Path: \r\nFrom-Path: \r\n".len();
        let mut lines = Vec::with_capacity(len);
        put_path_line(&mut lines, "To-Path", to_path);
        put_path_line(&mut lines, "From-Path", from_path);
        Bytes::from(lines)
    }

    /// The headers a forwarded head gains right after its paths when it lacks
    /// them, ahead of the content headers (RFC 4975 §9 order). Presence only:
    /// parsing the value again for every copy of a group's chunk cost 3 % of a
    /// fan-out (issue 20, perf).
    fn added_after_paths(&mut self, head: &Head, overrides: &Overrides) {
        if let Some(id) = &overrides.message_id
            && head.value_bytes(HeaderName::MessageId).is_none()
        {
            self.line("Message-ID", id.as_bytes());
        }
        if let Some(range) = &overrides.byte_range
            && head.byte_range().is_none()
        {
            self.byte_range_line(range);
        }
        if let Some(report) = overrides.failure_report
            && head.failure_report().is_none()
        {
            self.line("Failure-Report", report.as_str().as_bytes());
        }
    }

    /// A header other than the paths: replaced by its override, else written as
    /// received.
    fn kept_field(&mut self, head: &Head, field: &Field, overrides: &Overrides) {
        match field.name {
            HeaderName::FailureReport if overrides.failure_report.is_some() => {
                if let Some(report) = overrides.failure_report {
                    self.line("Failure-Report", report.as_str().as_bytes());
                }
            }
            HeaderName::MessageId if overrides.message_id.is_some() => {
                if let Some(id) = &overrides.message_id {
                    self.line("Message-ID", id.as_bytes());
                }
            }
            HeaderName::ByteRange if overrides.byte_range.is_some() => {
                if let Some(range) = &overrides.byte_range {
                    self.byte_range_line(range);
                }
            }
            _ => {
                self.buf.put_slice(head.span_bytes(field.line));
                self.buf.put_slice(b"\r\n");
            }
        }
    }

    /// The end-line of a frame; `after_body` adds the CRLF that ends the body data
    /// (RFC 4975 §9: `data CRLF end-line`).
    pub fn end_line(
        &mut self,
        transaction_id: &TransactionId,
        flag: ContinuationFlag,
        after_body: bool,
    ) -> Bytes {
        self.reserve(transaction_id.as_bytes().len() + 12);
        self.put_end_line(transaction_id, flag, after_body);
        self.buf.split().freeze()
    }

    /// Writes an end-line (see [`Encoder::end_line`]) where room is reserved.
    fn put_end_line(
        &mut self,
        transaction_id: &TransactionId,
        flag: ContinuationFlag,
        after_body: bool,
    ) {
        if after_body {
            self.buf.put_slice(b"\r\n");
        }
        self.buf.put_slice(b"-------");
        self.buf.put_slice(transaction_id.as_bytes());
        self.buf.put_u8(flag.as_byte());
        self.buf.put_slice(b"\r\n");
    }

    /// A whole response frame (RFC 4975 §7.2): To-Path is the previous hop (the
    /// request's first From-Path URI), From-Path the responder; end-line flag `$`.
    pub fn response(
        &mut self,
        transaction_id: &TransactionId,
        status: StatusCode,
        to: &MsrpUri,
        from: &MsrpUri,
    ) -> Bytes {
        // Start line and end-line each carry the id; the longest reason is 35 bytes.
        self.reserve(
            to.as_bytes().len() + from.as_bytes().len() + 2 * Limits::TRANSACTION_ID_CAPACITY + 128,
        );
        self.status_line(transaction_id, status);
        self.path_line("To-Path", std::slice::from_ref(to));
        self.path_line("From-Path", std::slice::from_ref(from));
        self.buf.put_slice(b"-------");
        self.buf.put_slice(transaction_id.as_bytes());
        self.buf.put_slice(b"$\r\n");
        self.buf.split().freeze()
    }

    /// Starts a response head with headers beyond the paths (an RFC 4976 AUTH
    /// answer: `WWW-Authenticate`, `Use-Path`, `Expires`): write To-Path, From-Path
    /// and the rest through the returned writer, `finish(false)`, then the end-line
    /// with flag `$`.
    pub fn response_head(
        &mut self,
        transaction_id: &TransactionId,
        status: StatusCode,
    ) -> HeadWriter<'_> {
        self.reserve(512);
        self.status_line(transaction_id, status);
        HeadWriter { encoder: self }
    }

    /// `MSRP <tid> <code> <reason>` CRLF: a response's start line.
    fn status_line(&mut self, transaction_id: &TransactionId, status: StatusCode) {
        self.buf.put_slice(b"MSRP ");
        self.buf.put_slice(transaction_id.as_bytes());
        self.buf.put_u8(b' ');
        self.buf.put_slice(&status.digits());
        self.buf.put_u8(b' ');
        self.buf.put_slice(status.reason().as_bytes());
        self.buf.put_slice(b"\r\n");
    }

    /// Starts a request head the switch originates (a REPORT, a bind SEND): write the
    /// headers through the returned writer, then `finish`.
    pub fn request(&mut self, transaction_id: &TransactionId, method: &str) -> HeadWriter<'_> {
        self.reserve(256);
        self.buf.put_slice(b"MSRP ");
        self.buf.put_slice(transaction_id.as_bytes());
        self.buf.put_u8(b' ');
        self.buf.put_slice(method.as_bytes());
        self.buf.put_slice(b"\r\n");
        HeadWriter { encoder: self }
    }

    fn start_line(&mut self, head: &Head, transaction_id: &TransactionId) {
        self.buf.put_slice(b"MSRP ");
        self.buf.put_slice(transaction_id.as_bytes());
        self.buf.put_u8(b' ');
        if let Some(code) = head.response_status() {
            self.buf.put_slice(&code.digits());
            // A comment may be empty (`200 `): written back as it came.
            if let Some(comment) = head.word_bytes() {
                self.buf.put_u8(b' ');
                self.buf.put_slice(comment);
            }
        } else {
            self.buf.put_slice(head.word_bytes().unwrap_or_default());
        }
        self.buf.put_slice(b"\r\n");
    }

    fn path_line(&mut self, name: &str, path: &[MsrpUri]) {
        put_path_line(&mut self.buf, name, path);
    }

    fn line(&mut self, name: &str, value: &[u8]) {
        self.buf.put_slice(name.as_bytes());
        self.buf.put_slice(b": ");
        self.buf.put_slice(value);
        self.buf.put_slice(b"\r\n");
    }

    fn byte_range_line(&mut self, range: &ByteRange) {
        self.buf.put_slice(b"Byte-Range: ");
        range.write_to(&mut self.buf);
        self.buf.put_slice(b"\r\n");
    }

    fn finish(&mut self, has_body: bool) -> Bytes {
        if has_body {
            self.buf.put_slice(b"\r\n");
        }
        self.buf.split().freeze()
    }

    /// Makes room for `needed` bytes: in the current block, else in a retired block
    /// no longer referenced, else in a new block.
    fn reserve(&mut self, needed: usize) {
        if self.buf.capacity() - self.buf.len() >= needed {
            return;
        }
        let want = needed.max(BLOCK);
        let full = std::mem::take(&mut self.buf);
        if full.capacity() > 0 && self.retired.len() < RETIRED_BLOCKS {
            if self.retired.capacity() == 0 {
                self.retired.reserve_exact(RETIRED_BLOCKS);
            }
            self.retired.push(full);
        }
        if let Some(free) = self.retired.iter_mut().position(|b| b.try_reclaim(want)) {
            self.buf = self.retired.swap_remove(free);
            return;
        }
        self.buf.reserve(want);
    }
}

/// Writes the headers of a request the switch originates. Call in wire order:
/// To-Path, From-Path, then the rest, Content-Type last if a body follows.
#[derive(Debug)]
pub struct HeadWriter<'a> {
    encoder: &'a mut Encoder,
}

impl HeadWriter<'_> {
    /// A path header (To-Path, From-Path, Use-Path).
    pub fn path(self, name: HeaderName, path: &[MsrpUri]) -> Self {
        self.encoder
            .path_line(name.as_str().unwrap_or("X-Path"), path);
        self
    }

    /// A header with a value written as given.
    pub fn header(self, name: &str, value: &str) -> Self {
        self.encoder.line(name, value.as_bytes());
        self
    }

    /// A header whose value is written as the bytes given (copied from a head
    /// that was decoded, so already valid).
    pub fn header_bytes(self, name: &str, value: &[u8]) -> Self {
        self.encoder.line(name, value);
        self
    }

    /// `Message-ID: id`.
    pub fn message_id(self, id: &MessageId) -> Self {
        self.encoder.line("Message-ID", id.as_bytes());
        self
    }

    /// `Byte-Range: start-end/total`.
    pub fn byte_range(self, range: &ByteRange) -> Self {
        self.encoder.byte_range_line(range);
        self
    }

    /// `Status: namespace code [reason]` (RFC 4975 §7.1.2, in REPORTs).
    pub fn status(self, namespace: u16, code: StatusCode, reason: Option<&str>) -> Self {
        let buf = &mut self.encoder.buf;
        buf.put_slice(b"Status: ");
        let ns = [
            b'0' + (namespace / 100 % 10) as u8,
            b'0' + (namespace / 10 % 10) as u8,
            b'0' + (namespace % 10) as u8,
        ];
        buf.put_slice(&ns);
        buf.put_u8(b' ');
        buf.put_slice(&code.digits());
        if let Some(reason) = reason {
            buf.put_u8(b' ');
            buf.put_slice(reason.as_bytes());
        }
        buf.put_slice(b"\r\n");
        self
    }

    /// Ends the head; with `has_body` the blank line that precedes the body.
    pub fn finish(self, has_body: bool) -> Bytes {
        self.encoder.finish(has_body)
    }
}

/// The bytes the URIs of two paths take, with a separator each.
fn paths_len(to_path: &[MsrpUri], from_path: &[MsrpUri]) -> usize {
    to_path
        .iter()
        .chain(from_path)
        .map(|uri| uri.as_bytes().len() + 1)
        .sum()
}

/// `name: uri uri ...` CRLF: a path header line.
fn put_path_line(buf: &mut impl BufMut, name: &str, path: &[MsrpUri]) {
    buf.put_slice(name.as_bytes());
    buf.put_slice(b": ");
    for (i, uri) in path.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b' ');
        }
        buf.put_slice(uri.as_bytes());
    }
    buf.put_slice(b"\r\n");
}
