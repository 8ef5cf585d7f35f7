//! The decoder's work grows linearly with the bytes it decodes, however the stream is
//! split into reads.
//!
//! A peer that writes a frame one byte per TCP segment makes the decoder run once per
//! byte. If each run searched the partial head (or the held-back end of a body) from
//! its start again, a 16 KiB head would cost about 16 Ki * 16 Ki / 2 byte visits: a
//! cheap way to burn a core. [`Decoder::bytes_scanned`] counts every byte the decoder
//! looks at, so these tests bound the work itself, not a timing.

use bytes::BytesMut;
use msrp_proto::codec::{Decoder, Item, Limits};

/// Most byte visits allowed per byte decoded: the search for the frame's end, the
/// start line and one header parse, with room to spare. Rescanning from the start of
/// the head on every call exceeds it by orders of magnitude.
const MAX_VISITS_PER_BYTE: u64 = 4;

/// Generous limits so a 16 KiB head is legal; the defaults cap it.
fn big_limits() -> Limits {
    Limits {
        max_head_bytes: 32 * 1024,
        max_uris_per_path: 1024,
        max_headers: 1024,
        ..Limits::default()
    }
}

/// A SEND whose To-Path is one line of about 16 KiB (400 URIs), with `body`.
fn send_with_long_to_path(body: &[u8]) -> Vec<u8> {
    let uris: Vec<String> = (0..400)
        .map(|i| format!("msrp://relay{i:04}.example.com:2855/s{i:04};tcp"))
        .collect();
    let mut frame = format!(
        "MSRP t0001 SEND\r\nTo-Path: {}\r\nFrom-Path: msrp://a.example:1/s;tcp\r\n\
         Content-Type: text/plain\r\n\r\n",
        uris.join(" ")
    )
    .into_bytes();
    frame.extend_from_slice(body);
    frame.extend_from_slice(b"\r\n-------t0001$\r\n");
    frame
}

/// A SEND with about 16 KiB of short headers (400 extension headers), with `body`.
fn send_with_many_headers(body: &[u8]) -> Vec<u8> {
    let mut frame = String::from(
        "MSRP t0001 SEND\r\nTo-Path: msrp://b.example:2/t;tcp\r\n\
         From-Path: msrp://a.example:1/s;tcp\r\n",
    );
    for i in 0..400 {
        frame.push_str(&format!("X-Filler-{i:04}: value number {i:04} of many\r\n"));
    }
    frame.push_str("Content-Type: text/plain\r\n\r\n");
    let mut frame = frame.into_bytes();
    frame.extend_from_slice(body);
    frame.extend_from_slice(b"\r\n-------t0001$\r\n");
    frame
}

/// What feeding `input` in reads of `step` bytes produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// Bytes of the head, as handed out.
    head_len: usize,
    /// The body, pieces joined.
    body: Vec<u8>,
    /// Whether the end-line was seen.
    ended: bool,
    /// `bytes_scanned` once the head was out.
    scanned_for_head: u64,
    /// `bytes_scanned` spent after the head (the body and its end-line).
    scanned_for_body: u64,
}

fn feed(input: &[u8], step: usize, limits: &Limits) -> Outcome {
    let mut decoder = Decoder::new(limits.clone());
    let mut buf = BytesMut::new();
    let mut out = Outcome {
        head_len: 0,
        body: Vec::new(),
        ended: false,
        scanned_for_head: 0,
        scanned_for_body: 0,
    };
    for piece in input.chunks(step) {
        buf.extend_from_slice(piece);
        while let Some(item) = decoder.decode(&mut buf).expect("a valid frame") {
            match item {
                Item::Head(head) => {
                    out.head_len = head.as_bytes().len();
                    out.scanned_for_head = decoder.bytes_scanned();
                }
                Item::Body(piece) => out.body.extend_from_slice(&piece),
                Item::End(_) => out.ended = true,
            }
        }
    }
    out.scanned_for_body = decoder.bytes_scanned() - out.scanned_for_head;
    out
}

/// Feeds the frame whole and byte by byte; both decode the same, and the byte-by-byte
/// head costs at most `MAX_VISITS_PER_BYTE` visits per head byte.
fn assert_head_scan_is_linear(frame: &[u8]) {
    let limits = big_limits();
    let whole = feed(frame, frame.len(), &limits);
    assert!(
        whole.head_len > 16 * 1024,
        "head of {} bytes",
        whole.head_len
    );
    assert!(whole.ended);
    let bytewise = feed(frame, 1, &limits);
    assert_eq!(bytewise.head_len, whole.head_len);
    assert_eq!(bytewise.body, whole.body);
    assert!(bytewise.ended);
    let head_len = whole.head_len as u64;
    assert!(
        bytewise.scanned_for_head <= MAX_VISITS_PER_BYTE * head_len,
        "a {head_len}-byte head fed byte by byte cost {} byte visits ({}x; one read: {})",
        bytewise.scanned_for_head,
        bytewise.scanned_for_head / head_len,
        whole.scanned_for_head,
    );
}

#[test]
fn a_long_header_line_fed_byte_by_byte_is_scanned_linearly() {
    assert_head_scan_is_linear(&send_with_long_to_path(b"hi"));
}

#[test]
fn many_headers_fed_byte_by_byte_are_scanned_linearly() {
    assert_head_scan_is_linear(&send_with_many_headers(b"hi"));
}

#[test]
fn a_body_fed_byte_by_byte_is_searched_for_its_end_line_linearly() {
    // Text with line breaks, dashes and near-miss end-lines, so the search keeps
    // meeting a possible start of the end-line and must hold bytes back: a wrong
    // transaction id, a bad flag, a prefix of the id, runs of dashes.
    let mut body = Vec::new();
    while body.len() < 16 * 1024 {
        body.extend_from_slice(
            b"line of text\r\n-------t0002$ wrong id\r\n-------t0001x bad flag\r\n\
              -------t000 short\r\n--- dashes ---\r\n\r\n",
        );
    }
    let limits = big_limits();
    let frame = send_with_many_headers(&body);
    let whole = feed(&frame, frame.len(), &limits);
    assert_eq!(whole.body, body);
    assert!(whole.ended);
    let bytewise = feed(&frame, 1, &limits);
    assert_eq!(bytewise.body, body);
    assert!(bytewise.ended);
    // The body plus its end-line.
    let searched = (body.len() + b"\r\n-------t0001$\r\n".len()) as u64;
    assert!(
        bytewise.scanned_for_body <= MAX_VISITS_PER_BYTE * searched,
        "a {searched}-byte body fed byte by byte cost {} byte visits ({}x; one read: {})",
        bytewise.scanned_for_body,
        bytewise.scanned_for_body / searched,
        whole.scanned_for_body,
    );
}

#[test]
fn a_plain_body_fed_byte_by_byte_is_searched_linearly() {
    let body = vec![b'z'; 16 * 1024];
    let limits = big_limits();
    let frame = send_with_long_to_path(&body);
    let bytewise = feed(&frame, 1, &limits);
    assert_eq!(bytewise.body, body);
    assert!(bytewise.ended);
    let searched = (body.len() + b"\r\n-------t0001$\r\n".len()) as u64;
    assert!(
        bytewise.scanned_for_body <= MAX_VISITS_PER_BYTE * searched,
        "a {searched}-byte body fed byte by byte cost {} byte visits",
        bytewise.scanned_for_body,
    );
}

/// Reads of any size decode the same items and never cost more than the bound.
#[test]
fn every_read_size_costs_at_most_the_bound() {
    let limits = big_limits();
    let frame = send_with_long_to_path(b"body\r\n-------t00 text\r\n");
    let whole = feed(&frame, frame.len(), &limits);
    for step in [2, 3, 7, 64, 1000, 4096] {
        let split = feed(&frame, step, &limits);
        assert_eq!(split.head_len, whole.head_len, "step {step}");
        assert_eq!(split.body, whole.body, "step {step}");
        assert!(split.ended, "step {step}");
        let total = split.scanned_for_head + split.scanned_for_body;
        assert!(
            total <= MAX_VISITS_PER_BYTE * frame.len() as u64,
            "step {step}: {total} visits for {} bytes",
            frame.len()
        );
    }
}

/// The search resumes after bytes it held back; an end-line that begins at the very
/// byte which rules out a held one (a CR where the id or the flag should be) must
/// still be found, whatever the reads.
#[test]
fn an_end_line_that_begins_where_a_held_one_fails_is_found_at_any_split() {
    for body in [
        &b"text\r\n-------t00"[..],
        b"text\r\n-------t0001",
        b"text\r\n-------",
        b"text\r\n",
        b"text\r",
        b"\r\n-------t0002+",
    ] {
        let frame = send_with_many_headers(body);
        let limits = big_limits();
        for step in 1..=40 {
            let split = feed(&frame, step, &limits);
            assert_eq!(split.body, body, "step {step}");
            assert!(split.ended, "step {step}");
        }
    }
}
