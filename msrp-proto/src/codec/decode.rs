//! The incremental decoder: bytes in, [`Item`]s out.
//!
//! MSRP has no Content-Length (RFC 4975 §7.1): a body ends at
//! `CRLF "-------" transact-id flag CRLF`, so the end-line is the only boundary. The
//! decoder searches for the constant prefix `\r\n-------` (memchr's SIMD search for
//! its CR, then memchr's `memmem` for a body with many CRs that start none) and then
//! compares the transaction id, so body bytes are never scanned one by one in Rust.
//! Body bytes that cannot be the start of the end-line are handed out at once as
//! `Bytes` slices of the read buffer: a chunk of any size streams through in pieces.
//!
//! ```text
//!            head complete, body follows           end-line found
//!   ┌──────┐ ───────────────────────────▶ ┌──────┐ ──────────────▶ back to Head
//!   │ Head │                              │ Body │ ── Item::Body(piece) ──┐
//!   └──────┘ ── head + end-line, no body ─┴──────┘ ◀──────────────────────┘
//!      │ kept error with a body                 │ chunk over max_chunk_bytes
//!      ▼                                        ▼
//!   ┌──────┐  (discard to the end-line, then Head)
//!   │ Skip │
//!   └──────┘        any lost-framing error ──▶ Failed (every later call errs)
//! ```

use std::sync::LazyLock;

use bytes::{Buf, Bytes, BytesMut};
use memchr::memmem::Finder;

use super::error::{DecodeError, ErrorKind, Framing};
use super::head::{ContinuationFlag, Head, KnownLines, StartLine, parse_head, parse_start_line};
use super::ident::TransactionId;
use super::limits::Limits;

/// `CRLF "-------"`: what every end-line after a body starts with.
const END_PREFIX: &[u8] = b"\r\n-------";
/// `"-------"`: what an end-line right after the headers starts with.
const DASHES: &[u8] = b"-------";

/// Built once: the searcher for [`END_PREFIX`]. A `Finder` holds no per-call state,
/// so one shared instance serves every connection.
static END_FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(END_PREFIX));

/// What the decoder yields, in order, per frame: one `Head`, zero or more `Body`
/// pieces, one `End`.
#[derive(Debug)]
// Boxing the head would cost an allocation per frame; moving ~450 bytes is cheaper.
#[allow(clippy::large_enum_variant)]
pub enum Item {
    /// The start line and headers.
    Head(Head),
    /// A piece of the body: never empty, a zero-copy slice of the read buffer.
    Body(Bytes),
    /// The end-line, with its continuation flag.
    End(ContinuationFlag),
}

/// What [`Decoder::decode_into`] found: [`Item`] with the head left in the slot
/// it was parsed into.
#[derive(Debug)]
pub(crate) enum Step {
    /// The start line and headers, now in the caller's slot.
    Head,
    /// A piece of the body, as [`Item::Body`].
    Body(Bytes),
    /// The end-line, as [`Item::End`].
    End(ContinuationFlag),
}

/// Decodes one byte stream (one connection). Feed it the read buffer after every
/// read; call [`Decoder::decode`] until it returns `Ok(None)`.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    state: State,
    pending_end: Option<ContinuationFlag>,
    /// Header lines (the paths, Content-Type) already found valid on this
    /// connection.
    known: KnownLines,
    /// See [`Decoder::bytes_scanned`].
    scanned_total: u64,
}

#[derive(Debug)]
enum State {
    /// Waiting for a whole head. `buf[..line_start]` is whole header lines, and
    /// `buf[line_start..searched]` the start of the next one, already searched for its
    /// LF: a head that arrives in many reads is searched once, not once per read.
    /// `start` is set once the start line is read (its offsets hold for the head's
    /// own bytes too: a head starts at the front of the buffer).
    Head {
        line_start: usize,
        searched: usize,
        start: Option<StartLine>,
    },
    /// Streaming the body of a chunk. `held`: see [`scan_body`].
    Body {
        tid: TransactionId,
        received: u64,
        held: usize,
    },
    /// Discarding the rest of a refused frame. `held`: see [`scan_body`].
    Skip {
        tid: TransactionId,
        at_start: bool,
        held: usize,
    },
    /// Framing was lost.
    Failed,
}

/// Between frames: nothing of the buffer searched yet.
const IDLE: State = State::Head {
    line_start: 0,
    searched: 0,
    start: None,
};

impl Decoder {
    /// A decoder with these limits (checked with [`Limits::validate`] by the caller).
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: IDLE,
            pending_end: None,
            known: KnownLines::default(),
            scanned_total: 0,
        }
    }

    /// Diagnostic: how many bytes the decoder has examined so far, counting each time
    /// a byte is looked at again (the search for a head's end, the start line, the
    /// header parse, the search for a body's end-line). Divided by the bytes decoded
    /// it shows how often the same bytes were rescanned: a stream split into tiny
    /// reads must not cost more per byte than one read.
    pub fn bytes_scanned(&self) -> u64 {
        self.scanned_total
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// True between frames: nothing of a frame has been handed out unfinished.
    pub fn is_between_frames(&self) -> bool {
        matches!(self.state, State::Head { start: None, .. }) && self.pending_end.is_none()
    }

    /// True when the next item is the end of a frame whose body is all out: its
    /// end-line has been read already.
    pub fn is_at_end_line(&self) -> bool {
        self.pending_end.is_some()
    }

    /// Whether the frame at the front of `buf` is a response (`MSRP tid 200 ...`),
    /// judged from its start-line alone; `None` until enough bytes are there. Only
    /// meaningful [between frames](Decoder::is_between_frames). The switch uses it
    /// to go on reading answers from a connection whose requests it must hold back.
    pub fn next_is_response(buf: &[u8]) -> Option<bool> {
        let Some(rest) = buf.strip_prefix(b"MSRP ") else {
            // A prefix of "MSRP " may still turn into one.
            return if b"MSRP ".starts_with(buf) {
                None
            } else {
                Some(false)
            };
        };
        // RFC 4975 §9 allows 32 characters in a transaction-id; the decoder takes
        // up to 64 (`TransactionId`), and so does this look.
        let scan = &rest[..rest.len().min(65)];
        let Some(space) = memchr::memchr2(b' ', b'\r', scan) else {
            return if scan.len() < 65 { None } else { Some(false) };
        };
        let after = &rest[space..];
        if after.len() < 5 {
            return None;
        }
        Some(
            after[0] == b' '
                && after[1..4].iter().all(u8::is_ascii_digit)
                && matches!(after[4], b' ' | b'\r'),
        )
    }

    /// Takes the next item from the front of `buf`. `Ok(None)` means "need more
    /// bytes", never an error. After an error whose framing is
    /// [`Framing::Kept`] decoding goes on with the next frame;
    /// after a lost one every call fails.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Item>, DecodeError> {
        let mut head = Head::empty();
        Ok(match self.decode_into(buf, &mut head)? {
            None => None,
            Some(Step::Head) => Some(Item::Head(head)),
            Some(Step::Body(piece)) => Some(Item::Body(piece)),
            Some(Step::End(flag)) => Some(Item::End(flag)),
        })
    }

    /// [`Decoder::decode`], parsing a head into `slot` (whatever it held is
    /// replaced) instead of returning it: the switch's endpoint keeps its heads in
    /// boxes it passes on, and a head is never copied on its way out.
    pub(crate) fn decode_into(
        &mut self,
        buf: &mut BytesMut,
        slot: &mut Head,
    ) -> Result<Option<Step>, DecodeError> {
        loop {
            if let Some(flag) = self.pending_end.take() {
                return Ok(Some(Step::End(flag)));
            }
            let result = match self.state {
                State::Head { .. } => self.decode_head(buf, slot),
                State::Body { .. } => self.decode_body(buf),
                State::Skip {
                    tid,
                    at_start,
                    held,
                } => match self.skip(buf, tid, at_start, held) {
                    Ok(true) => continue,
                    Ok(false) => Ok(None),
                    Err(err) => Err(err),
                },
                State::Failed => Err(DecodeError::lost(ErrorKind::Failed)),
            };
            if let Err(err) = &result
                && err.framing() == Framing::Lost
            {
                self.state = State::Failed;
            }
            return result;
        }
    }

    fn decode_head(
        &mut self,
        buf: &mut BytesMut,
        slot: &mut Head,
    ) -> Result<Option<Step>, DecodeError> {
        let State::Head {
            mut line_start,
            mut searched,
            mut start,
        } = self.state
        else {
            return Ok(None);
        };
        if searched > buf.len() {
            // The caller took bytes the decoder had not consumed; nothing remembered
            // about them holds, so the head is searched again from the front.
            (line_start, searched, start) = (0, 0, None);
        }
        // Fail fast on a stream that is not MSRP (a TLS hello, HTTP, garbage) instead
        // of buffering max_head_bytes of it. Bytes before `searched` passed this
        // probe in an earlier call.
        let probe = buf.len().min(5);
        let probed = searched.min(probe);
        self.scanned_total += (probe - probed) as u64;
        if buf[probed..probe] != b"MSRP "[probed..probe] {
            return Err(DecodeError::lost(ErrorKind::BadStartLine));
        }
        // The LF of every line this call finds, for the header parse to reuse
        // instead of searching the head again; only when the call sees the head
        // from its first line (the usual single read), and only up to its size.
        let mut lines = LineEnds::default();
        let whole = line_start == 0;
        loop {
            let Some(offset) = memchr::memchr(b'\n', &buf[searched..]) else {
                self.scanned_total += (buf.len() - searched) as u64;
                self.state = State::Head {
                    line_start,
                    searched: buf.len(),
                    start,
                };
                if buf.len() > self.limits.max_head_bytes {
                    return Err(DecodeError::lost(ErrorKind::HeadTooLarge));
                }
                return Ok(None);
            };
            self.scanned_total += offset as u64 + 1;
            let newline = searched + offset;
            // The size cap first: a read that stops short of this line's LF has already
            // failed with HeadTooLarge above, so any other order would make the error
            // depend on how the stream was split into reads (found by fuzzing).
            if newline + 1 > self.limits.max_head_bytes {
                return Err(DecodeError::lost(ErrorKind::HeadTooLarge));
            }
            if newline == line_start || buf[newline - 1] != b'\r' {
                return Err(DecodeError::lost(ErrorKind::BareLineFeed));
            }
            if whole {
                lines.push(newline);
            }
            let this_line = line_start;
            searched = newline + 1;
            line_start = searched;
            let line = &buf[this_line..newline - 1];
            // By reference: a start line (with its inline transaction id) is
            // copied once, when the head is finished, not on every line.
            let Some(first) = start.as_ref() else {
                self.scanned_total += line.len() as u64;
                start = Some(parse_start_line(line, &self.limits).map_err(DecodeError::lost)?);
                continue;
            };
            if line.is_empty() {
                // The blank line: a body follows.
                let first = *first;
                return self.finish_head(buf, slot, first, searched, None, lines.get(whole));
            }
            if line.starts_with(DASHES) {
                let flag =
                    parse_end_line(line, &first.transaction_id).ok_or(ErrorKind::EndLineMismatch);
                let flag = flag.map_err(DecodeError::lost)?;
                let end_len = searched - this_line;
                let lines = lines.get(whole);
                let end = Some((flag, end_len));
                let first = *first;
                return self.finish_head(buf, slot, first, this_line, end, lines);
            }
        }
    }

    /// The head is `buf[..head_len]`; `end` is the end-line right after it (no body);
    /// `lines`, when known, the LF of each of its lines (see [`LineEnds`]).
    fn finish_head(
        &mut self,
        buf: &mut BytesMut,
        slot: &mut Head,
        start: StartLine,
        head_len: usize,
        end: Option<(ContinuationFlag, usize)>,
        lines: Option<&[u16]>,
    ) -> Result<Option<Step>, DecodeError> {
        let raw = buf.split_to(head_len).freeze();
        // The header parse reads the head once more.
        self.scanned_total += raw.len() as u64;
        if let Some((_, end_len)) = end {
            buf.advance(end_len);
        }
        let tid = start.transaction_id;
        let has_body = end.is_none();
        let known = &mut self.known;
        let result = parse_head(slot, raw, start, has_body, &self.limits, known, lines);
        self.state = match (&result, end) {
            (_, Some(_)) => IDLE,
            (Ok(_), None) => State::Body {
                tid,
                received: 0,
                held: 0,
            },
            (Err(_), None) => State::Skip {
                tid,
                at_start: true,
                held: 0,
            },
        };
        result?;
        if let Some((flag, _)) = end {
            self.pending_end = Some(flag);
        }
        Ok(Some(Step::Head))
    }

    fn decode_body(&mut self, buf: &mut BytesMut) -> Result<Option<Step>, DecodeError> {
        let State::Body {
            tid,
            received,
            held,
        } = self.state
        else {
            return Ok(None);
        };
        let scan = scan_body(buf, &tid, received == 0, held, &mut self.scanned_total);
        let body_len = match scan {
            Scan::End { body_len, .. }
            | Scan::Partial { body_len }
            | Scan::Malformed { body_len, .. } => body_len,
        };
        // The cap is checked before a malformed end-line is reported: fed in smaller
        // reads, the body bytes before it would have failed the cap first, and the
        // error must not depend on the reads (found by fuzzing).
        if received + body_len as u64 > self.limits.max_chunk_bytes {
            // `held` still describes the front of `buf`, which is left as it is.
            self.state = State::Skip {
                tid,
                at_start: received == 0,
                held,
            };
            return Err(DecodeError::new(ErrorKind::ChunkTooLarge, None));
        }
        match scan {
            Scan::Malformed { kind, .. } => Err(DecodeError::lost(kind)),
            Scan::End { flag, end_len, .. } => {
                let piece = buf.split_to(body_len).freeze();
                buf.advance(end_len);
                self.state = IDLE;
                if piece.is_empty() {
                    return Ok(Some(Step::End(flag)));
                }
                self.pending_end = Some(flag);
                Ok(Some(Step::Body(piece)))
            }
            Scan::Partial { body_len } => {
                // Whatever stays in `buf` was searched: the next call resumes after it.
                self.state = State::Body {
                    tid,
                    received: received + body_len as u64,
                    held: buf.len() - body_len,
                };
                if body_len == 0 {
                    return Ok(None);
                }
                Ok(Some(Step::Body(buf.split_to(body_len).freeze())))
            }
        }
    }

    /// Discards body bytes of a refused frame; true once its end-line is consumed.
    fn skip(
        &mut self,
        buf: &mut BytesMut,
        tid: TransactionId,
        at_start: bool,
        held: usize,
    ) -> Result<bool, DecodeError> {
        match scan_body(buf, &tid, at_start, held, &mut self.scanned_total) {
            Scan::Malformed { kind, .. } => Err(DecodeError::lost(kind)),
            Scan::End {
                body_len, end_len, ..
            } => {
                buf.advance(body_len + end_len);
                self.state = IDLE;
                Ok(true)
            }
            Scan::Partial { body_len } => {
                buf.advance(body_len);
                self.state = State::Skip {
                    tid,
                    at_start: at_start && body_len == 0,
                    held: buf.len(),
                };
                Ok(false)
            }
        }
    }
}

/// Where each line of a head ends (its LF), as the decoder finds them: a head of
/// up to this many lines is searched once, not again by the header parse.
const RECORDED_LINES: usize = 32;

/// The LFs of a head's lines (the start line's first; the end-line's, if any,
/// last), kept on the stack while one call to [`Decoder::decode_into`] finds them.
#[derive(Default)]
struct LineEnds {
    len: usize,
    at: [u16; RECORDED_LINES],
}

impl LineEnds {
    /// Records a line's LF; a head with more lines than fit is not recorded.
    fn push(&mut self, newline: usize) {
        match (self.at.get_mut(self.len), u16::try_from(newline)) {
            (Some(slot), Ok(newline)) => {
                *slot = newline;
                self.len += 1;
            }
            // Past the end `get` finds nothing: the record is incomplete.
            _ => self.len = RECORDED_LINES + 1,
        }
    }

    /// Every line's LF, if all were recorded from the head's first line on.
    fn get(&self, whole: bool) -> Option<&[u16]> {
        if !whole {
            return None;
        }
        self.at.get(..self.len)
    }
}

/// `"-------" tid flag` (the line without CRLF) → the flag.
fn parse_end_line(line: &[u8], tid: &TransactionId) -> Option<ContinuationFlag> {
    let rest = line.strip_prefix(DASHES)?.strip_prefix(tid.as_bytes())?;
    match rest {
        [flag] => ContinuationFlag::from_byte(*flag),
        _ => None,
    }
}

/// Where the body in `buf` ends, as far as the bytes tell.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// `buf[..body_len]` is body, then `end_len` bytes of end-line.
    End {
        body_len: usize,
        flag: ContinuationFlag,
        end_len: usize,
    },
    /// `buf[..body_len]` is certainly body; the rest may start the end-line.
    Partial { body_len: usize },
    /// `buf[..body_len]` is body, then a malformed end-line: framing is lost.
    Malformed { body_len: usize, kind: ErrorKind },
}

/// Finds where the body at the front of `buf` ends. `held` bytes at the front were
/// searched by the previous call and are the start of a possible end-line (a prefix
/// of it, still undecided); the search resumes after them, so a body that arrives a
/// byte at a time is searched once, not once per byte.
///
/// Why resuming is sound: an end-line begins with CR (or, right after the head, with
/// a dash), and no byte of `-------`, of a transaction id (`ident`) or of a flag is a
/// CR. So no other end-line can begin inside a possible one before the CR that
/// follows its flag, and once that CR is matched the candidate either ends the body
/// or is malformed: it is never ruled out.
fn scan_body(
    buf: &[u8],
    tid: &TransactionId,
    at_start: bool,
    held: usize,
    scanned: &mut u64,
) -> Scan {
    let tid = tid.as_bytes();
    // The possible end-line at the front: one held back by the last call, or, right
    // after the head, a body-less frame written as headers, blank line, end-line (one
    // CRLF short of an empty body), which is accepted as an empty body.
    let front = if at_start && buf.first() == Some(&b'-') {
        Some(DASHES)
    } else if held > 0 {
        Some(END_PREFIX)
    } else {
        None
    };
    let mut from = 0;
    if let Some(prefix) = front {
        match match_end_line(buf, prefix, tid, held, scanned) {
            Ok(Candidate::End { flag, len }) => {
                return Scan::End {
                    body_len: 0,
                    flag,
                    end_len: len,
                };
            }
            Ok(Candidate::Undecided) => return Scan::Partial { body_len: 0 },
            // The held bytes cannot start another end-line (see above).
            Ok(Candidate::NotEnd) => from = held.max(1),
            Err(kind) => return Scan::Malformed { body_len: 0, kind },
        }
    }
    let mut misses = 0;
    while let Some(at) = find_end_prefix(buf, from, &mut misses) {
        *scanned += (at - from + END_PREFIX.len()) as u64;
        match match_end_line(&buf[at..], END_PREFIX, tid, END_PREFIX.len(), scanned) {
            Ok(Candidate::End { flag, len }) => {
                return Scan::End {
                    body_len: at,
                    flag,
                    end_len: len,
                };
            }
            Ok(Candidate::Undecided) => return Scan::Partial { body_len: at },
            // Past the prefix: only its first byte is a CR.
            Ok(Candidate::NotEnd) => from = at + END_PREFIX.len(),
            Err(kind) => return Scan::Malformed { body_len: at, kind },
        }
    }
    *scanned += (buf.len() - from) as u64;
    // No end-line starts in `buf[from..]`, but its last bytes may begin one: hold back
    // exactly those (a CR and what follows it, if that is a prefix of END_PREFIX) and
    // hand out the rest now. Only the last CR can begin one, as END_PREFIX holds no
    // other CR.
    let tail = from.max(buf.len().saturating_sub(END_PREFIX.len() - 1));
    *scanned += (buf.len() - tail) as u64;
    let body_len = match memchr::memrchr(b'\r', &buf[tail..]) {
        Some(cr) if END_PREFIX.starts_with(&buf[tail + cr..]) => tail + cr,
        _ => buf.len(),
    };
    Scan::Partial { body_len }
}

/// A call's CRs that begin no [`END_PREFIX`] before [`find_end_prefix`] turns to
/// the substring search. Text bodies (CPIM's header block, chat lines) hold a few
/// CRLFs; a body of nothing but CRs would otherwise cost a `memchr` call per byte.
const CR_MISSES: u32 = 16;

/// Where the first [`END_PREFIX`] in `buf[from..]` starts. Most bodies hold few
/// CRs, so `memchr` for the prefix's CR (one byte, a SIMD loop) finds it faster
/// than memmem's two-byte prefilter over the same bytes. After [`CR_MISSES`]
/// CRs that start no prefix (counted in `misses`, over a whole
/// [`scan_body`] call), the memmem [`END_FINDER`] takes over, so no body costs
/// more than it did before. The answer is the same either way: the first
/// occurrence.
fn find_end_prefix(buf: &[u8], mut from: usize, misses: &mut u32) -> Option<usize> {
    while *misses < CR_MISSES {
        let cr = from + memchr::memchr(b'\r', buf.get(from..)?)?;
        if buf.get(cr..cr + END_PREFIX.len()) == Some(END_PREFIX) {
            return Some(cr);
        }
        *misses += 1;
        from = cr + 1;
    }
    END_FINDER.find(buf.get(from..)?).map(|found| from + found)
}

enum Candidate {
    End { flag: ContinuationFlag, len: usize },
    Undecided,
    NotEnd,
}

/// Is `candidate` `prefix tid flag CRLF` (as far as its bytes go)? Its first `from`
/// bytes were compared already (by memmem or an earlier call) and are not compared
/// again.
fn match_end_line(
    candidate: &[u8],
    prefix: &[u8],
    tid: &[u8],
    from: usize,
    scanned: &mut u64,
) -> Result<Candidate, ErrorKind> {
    let flag_at = prefix.len() + tid.len();
    let len = flag_at + 3;
    let have = candidate.len().min(len);
    *scanned += have.saturating_sub(from) as u64;
    for (start, part) in [(0, prefix), (prefix.len(), tid)] {
        let lo = from.max(start);
        let hi = have.min(start + part.len());
        // A longer token that starts with our id is body text, not our end-line.
        if lo < hi && candidate.get(lo..hi) != part.get(lo - start..hi - start) {
            return Ok(Candidate::NotEnd);
        }
    }
    let Some(&flag_byte) = candidate.get(flag_at) else {
        return Ok(Candidate::Undecided);
    };
    let Some(flag) = ContinuationFlag::from_byte(flag_byte) else {
        return Ok(Candidate::NotEnd);
    };
    match candidate.get(flag_at + 1..len) {
        Some(b"\r\n") => Ok(Candidate::End { flag, len }),
        Some(_) => Err(ErrorKind::MalformedEndLine),
        None if candidate.get(flag_at + 1).is_none_or(|&b| b == b'\r') => Ok(Candidate::Undecided),
        None => Err(ErrorKind::MalformedEndLine),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_is_response_tells_answers_from_requests_by_the_start_line() {
        for (bytes, want) in [
            (&b"MSRP a786hjs2 200 OK\r\n"[..], Some(true)),
            (b"MSRP a786hjs2 408\r\n", Some(true)),
            (b"MSRP a786hjs2 SEND\r\n", Some(false)),
            (b"MSRP a786hjs2 REPORT\r\n", Some(false)),
            (b"MSRP a786hjs2 2000 OK\r\n", Some(false)),
            (b"HTTP/1.1 200 OK\r\n", Some(false)),
            (b"MSR", None),
            (b"MSRP a786hj", None),
            (b"MSRP a786hjs2 20", None),
            (b"", None),
        ] {
            assert_eq!(
                Decoder::next_is_response(bytes),
                want,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let long = [b'x'; 80];
        let mut frame = b"MSRP ".to_vec();
        frame.extend_from_slice(&long);
        assert_eq!(Decoder::next_is_response(&frame), Some(false));
    }

    use super::*;
    use crate::codec::{Encoder, FailureReport, Method, StatusCode};

    const SEND: &[u8] = b"MSRP a786hjs2 SEND\r\n\
        To-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp\r\n\
        From-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp\r\n\
        Message-ID: 87652491\r\n\
        Byte-Range: 1-25/25\r\n\
        Content-Type: text/plain\r\n\
        \r\n\
        Hey Bob, are you there?\r\n\
        -------a786hjs2$\r\n";

    const OK: &[u8] = b"MSRP a786hjs2 200 OK\r\n\
        To-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp\r\n\
        From-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp\r\n\
        -------a786hjs2$\r\n";

    /// Paths found valid once are not parsed again on the same connection; a path
    /// that differs in any byte, or is empty, is checked as usual.
    #[test]
    fn paths_seen_before_skip_the_check_and_changed_ones_do_not() {
        let bad_from = String::from_utf8_lossy(OK).replace(
            "From-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp",
            "From-Path: msrp://bob.example.com:88x8/9di4eae923wzd;tcp",
        );
        let empty_to = String::from_utf8_lossy(OK).replace(
            "To-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp",
            "To-Path: ",
        );
        let input = [OK, OK, bad_from.as_bytes(), empty_to.as_bytes(), OK].concat();
        let items = decode_all(&input, input.len());
        let errors: Vec<&String> = items.iter().filter(|i| i.starts_with("error")).collect();
        assert_eq!(errors.len(), 2, "{items:?}");
        assert!(errors[0].contains("BadUri(FromPath"), "{items:?}");
        assert!(errors[1].contains("ToPath"), "{items:?}");
        assert_eq!(items.iter().filter(|i| i.starts_with("head")).count(), 3);
    }

    /// The CR search finds the same first end-line prefix as the substring search,
    /// whether it answers itself or hands over after too many CRs that start none.
    #[test]
    fn the_cr_search_finds_the_first_end_prefix_as_memmem_does() {
        // A fixed xorshift: the same bodies on every run.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut found = 0;
        for round in 0..20_000 {
            let len = (next() % 48) as usize;
            // Mostly the prefix's own bytes, so near-misses are common.
            let mut body: Vec<u8> = (0..len)
                .map(|_| match next() % 8 {
                    0..=2 => b'-',
                    3 | 4 => b'\r',
                    5 => b'\n',
                    _ => b'x',
                })
                .collect();
            if round % 3 == 0 {
                let at = (next() as usize) % (body.len() + 1);
                body.splice(at..at, END_PREFIX.iter().copied());
            }
            for from in [0, 1.min(body.len()), body.len() / 2, body.len()] {
                let want = END_FINDER.find(&body[from..]).map(|f| from + f);
                for spent in [0, CR_MISSES - 1, CR_MISSES] {
                    let mut misses = spent;
                    assert_eq!(
                        find_end_prefix(&body, from, &mut misses),
                        want,
                        "{body:?} from {from}"
                    );
                }
                found += usize::from(want.is_some());
            }
        }
        assert!(found > 10_000, "{found}");
        // More CRs than the budget before the prefix: the substring search finds it.
        let mut body = vec![b'\r'; 100];
        body.extend_from_slice(b"x\r\n-------abcd$\r\n");
        let mut misses = 0;
        assert_eq!(find_end_prefix(&body, 0, &mut misses), Some(101));
        assert_eq!(misses, CR_MISSES);
    }

    /// A remembered line is recalled only when every byte matches, still counts
    /// towards duplicates, and does not stand in for another header that starts
    /// with the same letter.
    #[test]
    fn remembered_lines_are_recalled_only_whole_and_still_count_as_headers() {
        let send = String::from_utf8_lossy(SEND).into_owned();
        let bad_type = send.replace("Content-Type: text/plain", "Content-Type: text");
        let other_type = send.replace("Content-Type: text/plain", "Content-Type: text/html");
        let to_line = "To-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp\r\n";
        let twice = send.replace(to_line, &format!("{to_line}{to_line}"));
        let failure_first = send.replace("To-Path:", "Failure-Report: no\r\nTo-Path:");
        let input = [
            SEND,
            bad_type.as_bytes(),
            other_type.as_bytes(),
            twice.as_bytes(),
            failure_first.as_bytes(),
            SEND,
        ]
        .concat();
        let items = decode_all(&input, input.len());
        let errors: Vec<&String> = items.iter().filter(|i| i.starts_with("error")).collect();
        assert_eq!(errors.len(), 2, "{items:?}");
        assert!(
            errors[0].contains("BadHeaderValue(ContentType)"),
            "{items:?}"
        );
        assert!(errors[1].contains("DuplicateHeader(ToPath)"), "{items:?}");
        assert_eq!(items.iter().filter(|i| i.starts_with("head")).count(), 4);

        // The Content-Type a recalled line stands for is the line's own.
        let mut decoder = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(&[SEND, other_type.as_bytes(), SEND][..].concat()[..]);
        let mut types = Vec::new();
        while let Ok(Some(item)) = decoder.decode(&mut buf) {
            if let Item::Head(head) = item {
                types.push(head.content_type().map(str::to_owned));
            }
        }
        let plain = Some("text/plain".to_owned());
        assert_eq!(types, [plain.clone(), Some("text/html".to_owned()), plain]);
        let mut buf = BytesMut::from(&[SEND, failure_first.as_bytes()][..].concat()[..]);
        let mut heads = Vec::new();
        while let Ok(Some(item)) = decoder.decode(&mut buf) {
            if let Item::Head(head) = item {
                heads.push((head.failure_report(), head.from_path().count()));
            }
        }
        assert_eq!(heads, [(None, 1), (Some(FailureReport::No), 1)]);
    }

    /// Decodes everything, merging adjacent body pieces so any split compares equal.
    fn decode_all(input: &[u8], step: usize) -> Vec<String> {
        let mut decoder = Decoder::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut out: Vec<String> = Vec::new();
        for piece in input.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            loop {
                match decoder.decode(&mut buf) {
                    Ok(Some(Item::Head(head))) => out.push(format!(
                        "head {} {:?}",
                        head.transaction_id(),
                        head.method().map_or(String::new(), |m| format!("{m:?}"))
                            + &head
                                .response_status()
                                .map_or(String::new(), |s| s.to_string())
                    )),
                    Ok(Some(Item::Body(body))) => {
                        assert!(!body.is_empty());
                        let text = String::from_utf8_lossy(&body).into_owned();
                        match out.last_mut() {
                            Some(last) if last.starts_with("body ") => last.push_str(&text),
                            _ => out.push(format!("body {text}")),
                        }
                    }
                    Ok(Some(Item::End(flag))) => out.push(format!("end {flag:?}")),
                    Ok(None) => break,
                    Err(err) => {
                        out.push(format!("error {:?} {:?}", err.kind(), err.status()));
                        if err.framing() == Framing::Lost {
                            return out;
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn send_and_response_decode_the_same_at_any_split() {
        let input = [SEND, OK].concat();
        let whole = decode_all(&input, input.len());
        assert_eq!(
            whole,
            [
                "head a786hjs2 \"Send\"",
                "body Hey Bob, are you there?",
                "end End",
                "head a786hjs2 \"200\"",
                "end End",
            ]
        );
        for step in 1..40 {
            assert_eq!(decode_all(&input, step), whole, "step {step}");
        }
    }

    #[test]
    fn typed_headers_are_read() {
        let mut decoder = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(SEND);
        let Ok(Some(Item::Head(head))) = decoder.decode(&mut buf) else {
            panic!("no head");
        };
        assert_eq!(head.method(), Some(Method::Send));
        assert_eq!(head.message_id().unwrap().as_str(), "87652491");
        assert_eq!(head.byte_range(), Some(ByteRangeWhole25()));
        assert_eq!(head.content_type(), Some("text/plain"));
        let to: Vec<_> = head.to_path().map(|u| u.to_string()).collect();
        assert_eq!(to, ["msrp://bob.example.com:8888/9di4eae923wzd;tcp"]);
        let from: Vec<_> = head.from_path().map(|u| u.to_string()).collect();
        assert_eq!(from, ["msrp://alicepc.example.com:7777/iau39soe2843z;tcp"]);
        assert!(head.has_body());
        // Round trip through the encoder.
        let mut encoder = Encoder::new();
        let head_len = memchr::memmem::find(SEND, b"\r\n\r\n").unwrap() + 4;
        assert_eq!(&encoder.head(&head)[..], &SEND[..head_len]);
    }

    #[allow(non_snake_case)]
    fn ByteRangeWhole25() -> crate::codec::ByteRange {
        crate::codec::ByteRange::whole(25)
    }

    #[test]
    fn a_large_chunk_streams_in_bounded_pieces() {
        let body_len = 10 * 1024 * 1024;
        let head = b"MSRP big1 SEND\r\nTo-Path: msrp://a.example:1/s;tcp\r\n\
            From-Path: msrp://b.example:2/t;tcp\r\nContent-Type: application/octet-stream\r\n\r\n";
        let mut decoder = Decoder::new(Limits::default());
        let mut buf = BytesMut::new();
        buf.extend_from_slice(head);
        assert!(matches!(decoder.decode(&mut buf), Ok(Some(Item::Head(_)))));
        let read = vec![b'z'; 64 * 1024];
        let mut received = 0;
        let mut sent = 0;
        while sent < body_len {
            buf.extend_from_slice(&read);
            sent += read.len();
            while let Ok(Some(Item::Body(piece))) = decoder.decode(&mut buf) {
                received += piece.len();
            }
            // Never more than one read plus the end-line guard is held back.
            assert!(buf.len() < END_PREFIX.len(), "held {} bytes", buf.len());
        }
        buf.extend_from_slice(b"\r\n-------big1$\r\n");
        let mut end = None;
        while let Ok(Some(item)) = decoder.decode(&mut buf) {
            match item {
                Item::Body(piece) => received += piece.len(),
                Item::End(flag) => end = Some(flag),
                Item::Head(_) => panic!("unexpected head"),
            }
        }
        assert_eq!(received, body_len);
        assert_eq!(end, Some(ContinuationFlag::End));
        assert!(decoder.is_between_frames());
    }

    #[test]
    fn a_refused_head_skips_its_body_and_decoding_goes_on() {
        let bad = b"MSRP bad1 SEND\r\nTo-Path: msrp://a.example:1/s;tcp\r\n\
            From-Path: msrp://b.example:2/t;tcp\r\nByte-Range: 0-3/3\r\n\
            Content-Type: text/plain\r\n\r\nabc\r\n-------bad1$\r\n";
        let input = [&bad[..], OK].concat();
        for step in [1, 3, 7, input.len()] {
            assert_eq!(
                decode_all(&input, step),
                [
                    "error BadByteRange(ZeroStart) Some(400 Unintelligible)",
                    "head a786hjs2 \"200\"",
                    "end End",
                ],
                "step {step}"
            );
        }
        let mut decoder = Decoder::new(Limits::default());
        let err = decoder.decode(&mut BytesMut::from(&bad[..])).unwrap_err();
        let answer = err.answer().unwrap();
        assert_eq!(answer.transaction_id.as_str(), "bad1");
        assert_eq!(answer.previous_hop.as_str(), "msrp://b.example:2/t;tcp");
        assert_eq!(
            answer.responder.as_ref().map(crate::codec::MsrpUri::as_str),
            Some("msrp://a.example:1/s;tcp")
        );
        assert_eq!(err.status(), Some(StatusCode::UNINTELLIGIBLE));
    }

    #[test]
    fn lost_framing_stays_lost() {
        let mut decoder = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        let err = decoder.decode(&mut buf).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadStartLine);
        assert_eq!(err.framing(), Framing::Lost);
        assert_eq!(err.status(), None);
        let mut good = BytesMut::from(OK);
        assert_eq!(
            decoder.decode(&mut good).unwrap_err().kind(),
            ErrorKind::Failed
        );
    }
}
