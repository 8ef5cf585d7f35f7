// The decoder fuzz harness, shared by the cargo-fuzz target
// (`fuzz/fuzz_targets/decode.rs`) and the replay test (`tests/fuzz_replay.rs`), which
// both `include!` this file so the two can never drift apart. Plain `//` comments only:
// an included file cannot carry inner attributes or `//!` docs.
//
// What one run checks (any violation panics, which libFuzzer reports as a crash):
// - the decode loop ends: a bounded number of `decode` calls per piece of input;
// - items come in frame order: `Head`, `Body`*, `End`, or an error between frames;
// - every `Body` piece is non-empty and is exactly the next bytes of the input, every
//   `Head` is exactly the next bytes of the input, and the bytes handed out (heads,
//   bodies, minimal end-lines) never add up to more than the input;
// - a head without a body is followed at once by its `End`;
// - after a lost-framing error every later call errs, whatever bytes arrive;
// - the same input fed whole and fed in pieces gives the same events (head tid,
//   merged body bytes, end flag, error kind).

use bytes::BytesMut;
use msrp_proto::codec::{ContinuationFlag, Decoder, ErrorKind, Framing, Item, Limits};

/// One observable event of a decode run, with adjacent body pieces merged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A head, by transaction id and whether a body follows.
    Head { tid: String, has_body: bool },
    /// The body bytes between a head and its end-line (merged pieces).
    Body(Vec<u8>),
    /// An end-line.
    End(ContinuationFlag),
    /// A decode error.
    Error(ErrorKind),
}

/// How the input is cut into the reads that feed the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// One read with everything.
    Whole,
    /// Reads of this many bytes (the last one may be shorter).
    Step(usize),
    /// Reads of pseudo-random sizes from this seed: mostly 1 to 16 bytes, sometimes
    /// up to 1 KiB.
    Irregular(u32),
}

impl Split {
    /// The read sizes for an input of `len` bytes; they add up to `len`.
    pub fn pieces(self, len: usize) -> Vec<usize> {
        let mut sizes = Vec::new();
        let mut left = len;
        let mut state = match self {
            Split::Irregular(seed) => seed.wrapping_mul(0x9E37_79B9) | 1,
            _ => 1,
        };
        while left > 0 {
            let size = match self {
                Split::Whole => left,
                Split::Step(step) => step.max(1),
                Split::Irregular(_) => {
                    // xorshift32
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    let r = state as usize;
                    if r & 7 == 0 {
                        1 + (r >> 3) % 1024
                    } else {
                        1 + (r >> 3) % 16
                    }
                }
            };
            let size = size.min(left);
            sizes.push(size);
            left -= size;
        }
        sizes
    }
}

/// Small limits, so that the head, header-count, URI-count, id-length and chunk-size
/// caps are all within reach of a fuzz input of a few KiB.
pub fn small_limits() -> Limits {
    let limits = Limits {
        max_head_bytes: 512,
        max_uris_per_path: 2,
        max_headers: 8,
        max_transaction_id_bytes: 12,
        max_chunk_bytes: 256,
    };
    assert_eq!(limits.validate(), Ok(()));
    limits
}

/// Most `decode` calls allowed after one read of `held` buffered bytes. Every item
/// but `End` (always right after a `Head` or `Body`) and a kept error (at most one per
/// frame, and a frame is at least a few bytes) consumes bytes, so a few calls per
/// byte is far more than a terminating decoder needs.
fn call_bound(held: usize) -> usize {
    4 * held + 16
}

/// Where the decoder is in the frame grammar, as seen from its items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Between frames: a `Head` or an error may come.
    Frame,
    /// After a head without a body: its `End` must come next.
    EndNow,
    /// After a head with a body, or a body piece: `Body`, `End` or an error.
    BodyOrEnd,
}

/// Decodes `input` fed in the reads `split` gives, checking every per-item invariant,
/// and returns the events with body pieces merged.
pub fn run(input: &[u8], limits: &Limits, split: Split) -> Vec<Event> {
    let mut decoder = Decoder::new(limits.clone());
    let mut buf = BytesMut::new();
    let mut events: Vec<Event> = Vec::new();
    let mut fed = 0usize;
    let mut handed_out = 0usize;
    let mut expect = Expect::Frame;
    let mut lost = false;

    // The flag of an end-line already consumed whose `End` item is still to come.
    let mut pending_flag: Option<u8> = None;

    'reads: for size in split.pieces(input.len()) {
        buf.extend_from_slice(&input[fed..fed + size]);
        fed += size;
        let bound = call_bound(buf.len());
        let mut calls = 0;
        loop {
            calls += 1;
            assert!(
                calls <= bound,
                "decode looped {calls} times on {} held bytes ({split:?})",
                buf.len()
            );
            // The front of `buf` is always input[offset..fed].
            let offset = fed - buf.len();
            let result = decoder.decode(&mut buf);
            assert!(buf.len() <= fed - offset, "decode grew the buffer");
            let consumed = (fed - offset) - buf.len();
            let taken = &input[offset..offset + consumed];
            // Bytes may be discarded without an item only while skipping the rest of a
            // frame refused with a kept error.
            let after_kept_error = matches!(events.last(), Some(Event::Error(_)));
            match result {
                Ok(None) => {
                    assert_ne!(
                        expect,
                        Expect::EndNow,
                        "a bodiless head's End must not wait"
                    );
                    assert!(
                        consumed == 0 || after_kept_error,
                        "{consumed} bytes dropped without an item"
                    );
                    break;
                }
                Ok(Some(Item::Head(head))) => {
                    assert_eq!(expect, Expect::Frame, "Head inside a frame");
                    let raw = head.as_bytes();
                    assert!(!raw.is_empty(), "empty head");
                    let tid = head.transaction_id().as_str().to_owned();
                    // A bodiless head is followed by its end-line, consumed with it.
                    let end_len = if head.has_body() {
                        0
                    } else {
                        7 + tid.len() + 3
                    };
                    assert!(consumed >= raw.len() + end_len, "head not consumed");
                    let head_at = consumed - end_len - raw.len();
                    assert!(
                        head_at == 0 || after_kept_error,
                        "bytes skipped before a head"
                    );
                    assert_eq!(&raw[..], &taken[head_at..head_at + raw.len()], "head bytes");
                    assert!(!decoder.is_between_frames(), "between frames after a Head");
                    handed_out += raw.len() + end_len;
                    expect = if head.has_body() {
                        Expect::BodyOrEnd
                    } else {
                        let end = &taken[consumed - end_len..];
                        pending_flag = Some(end_line_flag(end, &tid, false));
                        Expect::EndNow
                    };
                    events.push(Event::Head {
                        tid,
                        has_body: head.has_body(),
                    });
                }
                Ok(Some(Item::Body(piece))) => {
                    assert_eq!(expect, Expect::BodyOrEnd, "Body outside a frame");
                    assert!(!piece.is_empty(), "empty body piece");
                    assert!(
                        consumed >= piece.len(),
                        "body longer than what was consumed"
                    );
                    assert_eq!(&piece[..], &taken[..piece.len()], "body bytes");
                    if consumed > piece.len() {
                        // The end-line came with the last piece.
                        let end = &taken[piece.len()..];
                        pending_flag = Some(end_line_flag(end, frame_tid(&events), true));
                    }
                    handed_out += consumed;
                    match events.last_mut() {
                        Some(Event::Body(body)) => body.extend_from_slice(&piece),
                        _ => events.push(Event::Body(piece.to_vec())),
                    }
                }
                Ok(Some(Item::End(flag))) => {
                    assert_ne!(expect, Expect::Frame, "End outside a frame");
                    let byte = if consumed == 0 {
                        pending_flag.take().expect("End with no end-line consumed")
                    } else {
                        assert_eq!(pending_flag, None, "two end-lines");
                        // An empty body: CRLF and the end-line, or (lenient) the end-line
                        // right after the blank line.
                        let lenient = matches!(events.last(), Some(Event::Head { .. }))
                            && !taken.starts_with(b"\r\n");
                        handed_out += consumed;
                        end_line_flag(taken, frame_tid(&events), !lenient)
                    };
                    assert_eq!(flag.as_byte(), byte, "End flag differs from its end-line");
                    assert!(decoder.is_between_frames(), "not between frames after End");
                    expect = Expect::Frame;
                    events.push(Event::End(flag));
                }
                Err(err) => {
                    assert_ne!(expect, Expect::EndNow, "error between a head and its End");
                    events.push(Event::Error(err.kind()));
                    expect = Expect::Frame;
                    pending_flag = None;
                    if err.framing() == Framing::Lost {
                        assert_eq!(err.status(), None, "a lost-framing error has no answer");
                        lost = true;
                        break 'reads;
                    }
                    assert!(err.status().is_some(), "a kept error must be answered");
                }
            }
            assert!(
                handed_out <= fed,
                "handed out {handed_out} bytes of {fed} fed ({split:?})"
            );
        }
    }

    if lost {
        // Every later call errs, with the bytes left and with fresh ones.
        for _ in 0..2 {
            let err = decoder.decode(&mut buf);
            assert!(
                matches!(&err, Err(e) if e.kind() == ErrorKind::Failed),
                "decode after lost framing: {err:?}"
            );
        }
        let mut fresh = BytesMut::from(&b"MSRP abcd 200 OK\r\n-------abcd$\r\n"[..]);
        assert!(
            decoder.decode(&mut fresh).is_err(),
            "decode after lost framing"
        );
        assert!(decoder.decode(&mut BytesMut::new()).is_err());
    }
    events
}

/// Checks that `line` is exactly an end-line of `tid` (after a body: with the CRLF
/// that ends the body) and returns its flag byte.
fn end_line_flag(line: &[u8], tid: &str, after_body: bool) -> u8 {
    let rest = if after_body {
        line.strip_prefix(b"\r\n")
    } else {
        Some(line)
    };
    let rest = rest
        .and_then(|r| r.strip_prefix(b"-------"))
        .and_then(|r| r.strip_prefix(tid.as_bytes()))
        .and_then(|r| r.strip_suffix(b"\r\n"));
    match rest {
        Some([flag @ (b'+' | b'$' | b'#')]) => *flag,
        _ => panic!(
            "not an end-line of {tid:?}: {:?}",
            String::from_utf8_lossy(line)
        ),
    }
}

/// The transaction id of the last head in `events`.
fn frame_tid(events: &[Event]) -> &str {
    events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::Head { tid, .. } => Some(tid.as_str()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The events with what legitimately depends on the split removed: a decoder fed in
/// pieces streams body bytes out before it can see that the chunk is too large or its
/// end-line malformed, while fed whole it reports the error with no body before it.
/// So a body right before an error is dropped.
fn normalize(events: &[Event]) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::with_capacity(events.len());
    for event in events {
        if matches!(event, Event::Error(_)) && matches!(out.last(), Some(Event::Body(_))) {
            out.pop();
        }
        out.push(event.clone());
    }
    out
}

/// Runs `input` whole and in the reads of `split`; both must give the same events.
pub fn check(input: &[u8], limits: &Limits, split: Split) -> Vec<Event> {
    let whole = run(input, limits, Split::Whole);
    if split != Split::Whole {
        let pieces = run(input, limits, split);
        assert_eq!(
            normalize(&whole),
            normalize(&pieces),
            "whole and {split:?} decode differently"
        );
    }
    whole
}

/// The fuzz entry point. An input whose first byte has the high bit set starts with a
/// control byte; any other input (a plain MSRP stream such as the seeds, which start
/// with 'M') is all data, with control 0. Control bits: bit 0 picks the small limits;
/// bits 1-6 (`m`) pick the split: `m` 1..=31 is a fixed step of `m` bytes, anything
/// else irregular reads seeded by `m`.
pub fn fuzz_one(raw: &[u8]) {
    let (control, data) = match raw.split_first() {
        Some((&first, rest)) if first & 0x80 != 0 => (first, rest),
        _ => (0, raw),
    };
    let limits = if control & 1 == 1 {
        small_limits()
    } else {
        Limits::default()
    };
    let m = usize::from((control >> 1) & 0x3F);
    let split = match m {
        1..=31 => Split::Step(m),
        _ => Split::Irregular(m as u32),
    };
    check(data, &limits, split);
}

/// The splits the replay test runs every stored input through, on top of
/// [`fuzz_one`]'s own.
pub const REPLAY_SPLITS: &[Split] = &[
    Split::Step(1),
    Split::Step(2),
    Split::Step(3),
    Split::Step(7),
    Split::Step(9),
    Split::Step(64),
    Split::Irregular(0),
    Split::Irregular(1),
    Split::Irregular(42),
];
