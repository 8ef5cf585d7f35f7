//! Malformed input through the decoder, table-driven.
//!
//! Each row gives the input, the exact `ErrorKind` (with its payload), the status it
//! maps to, whether framing is kept, and whether the error carries an `Answer`. Every
//! row is fed in one piece and one byte at a time; both must fail with the same first
//! error. After a kept error a valid frame that follows must decode; after a lost one
//! every later call must fail with `ErrorKind::Failed`.

use bytes::BytesMut;
use msrp_proto::codec::{
    ByteRangeError, ContinuationFlag, DecodeError, Decoder, ErrorKind, Framing, HeaderName,
    IdentError, Item, Limits, StatusCode, UriError,
};

// ---------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------

/// The relay's URI: the first To-Path URI of every request here.
macro_rules! relay {
    () => {
        "msrp://relay.example.net:2855/s1;tcp"
    };
}
/// The client's URI: the first From-Path URI of every request here.
macro_rules! client {
    () => {
        "msrp://client.example.com:7777/c1;tcp"
    };
}
macro_rules! to {
    () => {
        concat!("To-Path: ", relay!(), "\r\n")
    };
}
macro_rules! from {
    () => {
        concat!("From-Path: ", client!(), "\r\n")
    };
}

const RELAY: &str = relay!();
const CLIENT: &str = client!();

/// A valid response that follows a malformed frame on the same stream.
const VALID_200: &[u8] = concat!(
    "MSRP ok000001 200 OK\r\n",
    "To-Path: ",
    client!(),
    "\r\n",
    "From-Path: ",
    relay!(),
    "\r\n",
    "-------ok000001$\r\n"
)
.as_bytes();

/// A bodiless SEND `t0001` with these extra header lines.
fn bodiless(extra: &str) -> Vec<u8> {
    format!(
        "MSRP t0001 SEND\r\n{}{}{extra}-------t0001$\r\n",
        to!(),
        from!()
    )
    .into_bytes()
}

/// A SEND `t0001` with a body and these extra header lines (Content-Type included).
fn with_body(extra: &str, body: &str) -> Vec<u8> {
    format!(
        "MSRP t0001 SEND\r\n{}{}{extra}\r\n{body}\r\n-------t0001$\r\n",
        to!(),
        from!()
    )
    .into_bytes()
}

/// A bodiless SEND `t0001` whose header block is exactly `headers`.
fn headers_only(headers: &str) -> Vec<u8> {
    format!("MSRP t0001 SEND\r\n{headers}-------t0001$\r\n").into_bytes()
}

fn limits_with(change: impl FnOnce(&mut Limits)) -> Limits {
    let mut limits = Limits::default();
    change(&mut limits);
    limits.validate().expect("test limits are valid");
    limits
}

// ---------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------

/// What the error's `answer()` must be.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// No answer.
    No,
    /// An answer to `t0001` from the relay to the client (the usual request here).
    Usual,
    /// An answer to `t0001` to the client with no responder: To-Path could not be
    /// read, so the receiver answers from its own URI.
    FromUs,
    /// An answer with exactly these values.
    Exact {
        tid: &'static str,
        responder: &'static str,
        previous_hop: &'static str,
    },
}

const K: Framing = Framing::Kept;
const L: Framing = Framing::Lost;

struct Row {
    name: &'static str,
    input: Vec<u8>,
    limits: Limits,
    kind: ErrorKind,
    status: Option<u16>,
    framing: Framing,
    answer: Answer,
    /// Heads handed out before the error when the input is fed whole.
    heads_before: usize,
}

fn row(
    name: &'static str,
    input: impl AsRef<[u8]>,
    kind: ErrorKind,
    status: Option<u16>,
    framing: Framing,
    answer: Answer,
) -> Row {
    Row {
        name,
        input: input.as_ref().to_vec(),
        limits: Limits::default(),
        kind,
        status,
        framing,
        answer,
        heads_before: 0,
    }
}

impl Row {
    fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    fn heads_before(mut self, heads: usize) -> Self {
        self.heads_before = heads;
        self
    }
}

#[allow(clippy::too_many_lines)]
fn rows() -> Vec<Row> {
    use Answer::{Exact, FromUs, No, Usual};
    use ErrorKind::*;
    let tls_client_hello: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03];
    let long_tid = "a".repeat(33);
    let padding = "p".repeat(300);
    let head_limit = limits_with(|l| l.max_head_bytes = 256);
    vec![
        // ---- start line: lost framing, no answer --------------------------------
        row(
            "lowercase msrp",
            b"msrp t0001 SEND\r\n",
            BadStartLine,
            None,
            L,
            No,
        ),
        row(
            "MSRP without tid",
            b"MSRP SEND\r\n",
            BadStartLine,
            None,
            L,
            No,
        ),
        row("MSRP alone", b"MSRP\r\n", BadStartLine, None, L, No),
        row(
            "two spaces before tid",
            b"MSRP  t0001 SEND\r\n",
            BadTransactionId(IdentError::TooShort),
            None,
            L,
            No,
        ),
        row(
            "tid too short",
            b"MSRP abc SEND\r\n",
            BadTransactionId(IdentError::TooShort),
            None,
            L,
            No,
        ),
        row(
            "tid too long",
            format!("MSRP {long_tid} SEND\r\n"),
            BadTransactionId(IdentError::TooLong(32)),
            None,
            L,
            No,
        ),
        row(
            "tid with a bad char",
            b"MSRP t0_01 SEND\r\n",
            BadTransactionId(IdentError::BadCharacter),
            None,
            L,
            No,
        ),
        row(
            "tid starting with a dot",
            b"MSRP .t0001 SEND\r\n",
            BadTransactionId(IdentError::BadCharacter),
            None,
            L,
            No,
        ),
        row(
            "method lowercase",
            b"MSRP t0001 send\r\n",
            BadStartLine,
            None,
            L,
            No,
        ),
        row(
            "method mixed case",
            b"MSRP t0001 Send\r\n",
            BadStartLine,
            None,
            L,
            No,
        ),
        row("no method", b"MSRP t0001 \r\n", BadStartLine, None, L, No),
        row(
            "no method nor space",
            b"MSRP t0001\r\n",
            BadStartLine,
            None,
            L,
            No,
        ),
        row(
            "status code 2 digits",
            b"MSRP t0001 20 OK\r\n",
            BadStartLine,
            None,
            L,
            No,
        ),
        row(
            "status code 4 digits",
            b"MSRP t0001 2000 OK\r\n",
            BadStartLine,
            None,
            L,
            No,
        ),
        row(
            "status code below 100",
            b"MSRP t0001 099 Hm\r\n",
            BadStartLine,
            None,
            L,
            No,
        ),
        row(
            "status code glued to comment",
            b"MSRP t0001 200OK\r\n",
            BadStartLine,
            None,
            L,
            No,
        ),
        row(
            "trailing space on request start line",
            b"MSRP t0001 SEND \r\n",
            BadStartLine,
            None,
            L,
            No,
        ),
        row(
            "TLS ClientHello",
            tls_client_hello,
            BadStartLine,
            None,
            L,
            No,
        ),
        row(
            "HTTP request",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            BadStartLine,
            None,
            L,
            No,
        ),
        // ---- line endings: lost ------------------------------------------------
        row(
            "bare LF at end of start line",
            format!("MSRP t0001 SEND\n{}{}-------t0001$\r\n", to!(), from!()),
            BareLineFeed,
            None,
            L,
            No,
        ),
        row(
            "bare LF inside headers",
            format!(
                "MSRP t0001 SEND\r\n{}From-Path: {CLIENT}\n-------t0001$\r\n",
                to!()
            ),
            BareLineFeed,
            None,
            L,
            No,
        ),
        row(
            "bare LF as the blank line",
            format!(
                "MSRP t0001 SEND\r\n{}{}Content-Type: text/plain\r\n\nhi\r\n",
                to!(),
                from!()
            ),
            BareLineFeed,
            None,
            L,
            No,
        ),
        // ---- end-lines: lost -----------------------------------------------------
        row(
            "end-line without tid after headers",
            format!("MSRP t0001 SEND\r\n{}{}-------$\r\n", to!(), from!()),
            EndLineMismatch,
            None,
            L,
            No,
        ),
        row(
            "end-line with wrong tid after headers",
            format!("MSRP t0001 SEND\r\n{}{}-------t0002$\r\n", to!(), from!()),
            EndLineMismatch,
            None,
            L,
            No,
        ),
        row(
            "end-line with a bad flag",
            format!("MSRP t0001 SEND\r\n{}{}-------t0001!\r\n", to!(), from!()),
            EndLineMismatch,
            None,
            L,
            No,
        ),
        row(
            "end-line after headers with trailing garbage",
            format!("MSRP t0001 SEND\r\n{}{}-------t0001$ \r\n", to!(), from!()),
            EndLineMismatch,
            None,
            L,
            No,
        ),
        row(
            "end-line flag followed by garbage in a body",
            with_body(
                "Content-Type: text/plain\r\n",
                "hello\r\n-------t0001$X\r\n",
            ),
            MalformedEndLine,
            None,
            L,
            No,
        )
        .heads_before(1),
        row(
            "end-line flag followed by CR and garbage in a body",
            format!(
                "MSRP t0001 SEND\r\n{}{}Content-Type: text/plain\r\n\r\nhello\r\n-------t0001+\rX",
                to!(),
                from!()
            ),
            MalformedEndLine,
            None,
            L,
            No,
        )
        .heads_before(1),
        // ---- head size: lost -----------------------------------------------------
        row(
            "head over max_head_bytes, complete",
            bodiless(&format!("X-Pad: {padding}\r\n")),
            HeadTooLarge,
            None,
            L,
            No,
        )
        .limits(head_limit.clone()),
        row(
            "head over max_head_bytes, incomplete",
            format!("MSRP t0001 SEND\r\n{}{}X-Pad: {padding}", to!(), from!()),
            HeadTooLarge,
            None,
            L,
            No,
        )
        .limits(head_limit.clone()),
        row(
            "head over max_head_bytes in many short lines",
            bodiless(&"X-A: b\r\n".repeat(40)),
            HeadTooLarge,
            None,
            L,
            No,
        )
        .limits(head_limit),
        // ---- header lines: kept, answered 400 ----------------------------------
        row(
            "header without colon",
            bodiless("Message-ID abcd1234\r\n"),
            HeaderWithoutColon,
            Some(400),
            K,
            Exact {
                tid: "t0001",
                responder: RELAY,
                previous_hop: CLIENT,
            },
        ),
        row(
            "header name starting with a digit",
            bodiless("1X-Thing: yes\r\n"),
            HeaderWithoutColon,
            Some(400),
            K,
            Usual,
        ),
        row(
            "header with an empty name",
            bodiless(": value\r\n"),
            HeaderWithoutColon,
            Some(400),
            K,
            Usual,
        ),
        row(
            "space before the colon",
            bodiless("Message-ID : abcd1234\r\n"),
            HeaderWithoutColon,
            Some(400),
            K,
            Usual,
        ),
        row(
            "Byte-Range syntax",
            bodiless("Byte-Range: 1-5\r\n"),
            BadByteRange(ByteRangeError::Syntax),
            Some(400),
            K,
            Usual,
        ),
        row(
            "Byte-Range zero start",
            with_body("Byte-Range: 0-5/5\r\nContent-Type: text/plain\r\n", "hello"),
            BadByteRange(ByteRangeError::ZeroStart),
            Some(400),
            K,
            Usual,
        ),
        row(
            "Byte-Range end before start",
            bodiless("Byte-Range: 10-5/20\r\n"),
            BadByteRange(ByteRangeError::EndBeforeStart),
            Some(400),
            K,
            Usual,
        ),
        row(
            "Byte-Range end past total",
            bodiless("Byte-Range: 1-6/5\r\n"),
            BadByteRange(ByteRangeError::EndPastTotal),
            Some(400),
            K,
            Usual,
        ),
        row(
            "Byte-Range star start",
            bodiless("Byte-Range: *-5/5\r\n"),
            BadByteRange(ByteRangeError::Syntax),
            Some(400),
            K,
            Usual,
        ),
        row(
            "Success-Report maybe",
            bodiless("Success-Report: maybe\r\n"),
            BadHeaderValue(HeaderName::SuccessReport),
            Some(400),
            K,
            Usual,
        ),
        row(
            "Failure-Report sometimes",
            bodiless("Failure-Report: sometimes\r\n"),
            BadHeaderValue(HeaderName::FailureReport),
            Some(400),
            K,
            Usual,
        ),
        // A REPORT is never answered (RFC 4975 §7.1.2): no answer, even for a 400.
        row(
            "Status without namespace",
            format!(
                "MSRP r0001 REPORT\r\n{}{}Message-ID: m0001\r\nStatus: 200 OK\r\n-------r0001$\r\n",
                to!(),
                from!()
            ),
            BadHeaderValue(HeaderName::Status),
            Some(400),
            K,
            No,
        ),
        // Failure-Report: no asks for no response, errors included (RFC 4975 §7.1.2).
        row(
            "bad Byte-Range with Failure-Report no",
            bodiless("Failure-Report: no\r\nByte-Range: 0-1/1\r\n"),
            BadByteRange(ByteRangeError::ZeroStart),
            Some(400),
            K,
            No,
        ),
        row(
            "Status code of 4 digits",
            bodiless("Status: 000 2000\r\n"),
            BadHeaderValue(HeaderName::Status),
            Some(400),
            K,
            Usual,
        ),
        row(
            "Expires not numeric",
            bodiless("Expires: soon\r\n"),
            BadHeaderValue(HeaderName::Expires),
            Some(400),
            K,
            Usual,
        ),
        row(
            "Min-Expires over u32",
            bodiless("Min-Expires: 4294967296\r\n"),
            BadHeaderValue(HeaderName::MinExpires),
            Some(400),
            K,
            Usual,
        ),
        row(
            "Use-Nickname unquoted",
            format!(
                "MSRP n0001 NICKNAME\r\n{}{}Use-Nickname: Alice\r\n-------n0001$\r\n",
                to!(),
                from!()
            ),
            BadHeaderValue(HeaderName::UseNickname),
            Some(424),
            K,
            Exact {
                tid: "n0001",
                responder: RELAY,
                previous_hop: CLIENT,
            },
        ),
        row(
            "Use-Nickname with an unescaped inner quote",
            bodiless("Use-Nickname: \"Al\"ice\"\r\n"),
            BadHeaderValue(HeaderName::UseNickname),
            Some(424),
            K,
            Usual,
        ),
        row(
            "empty Authorization",
            bodiless("Authorization:\r\n"),
            BadHeaderValue(HeaderName::Authorization),
            Some(400),
            K,
            Usual,
        ),
        row(
            "Content-Type without subtype",
            with_body("Content-Type: text\r\n", "hello"),
            BadHeaderValue(HeaderName::ContentType),
            Some(400),
            K,
            Usual,
        ),
        row(
            "Message-ID too short",
            bodiless("Message-ID: abc\r\n"),
            BadHeaderValue(HeaderName::MessageId),
            Some(400),
            K,
            Usual,
        ),
        row(
            "duplicate Message-ID",
            bodiless("Message-ID: abcd1234\r\nMessage-ID: abcd1235\r\n"),
            DuplicateHeader(HeaderName::MessageId),
            Some(400),
            K,
            Usual,
        ),
        row(
            "duplicate To-Path",
            headers_only(concat!(
                to!(),
                "To-Path: msrp://other.example.org:1/zz;tcp\r\n",
                from!()
            )),
            DuplicateHeader(HeaderName::ToPath),
            Some(400),
            K,
            Exact {
                tid: "t0001",
                responder: RELAY,
                previous_hop: CLIENT,
            },
        ),
        // ---- paths ---------------------------------------------------------------
        row(
            "missing To-Path",
            headers_only(from!()),
            MissingToPath,
            Some(400),
            K,
            FromUs,
        ),
        row(
            "missing From-Path",
            headers_only(to!()),
            MissingFromPath,
            Some(400),
            K,
            No,
        ),
        row(
            "no headers at all",
            b"MSRP t0001 SEND\r\n-------t0001$\r\n",
            MissingToPath,
            Some(400),
            K,
            No,
        ),
        row(
            "empty To-Path",
            headers_only(concat!("To-Path: \r\n", from!())),
            BadHeaderValue(HeaderName::ToPath),
            Some(400),
            K,
            FromUs,
        ),
        row(
            "To-Path bad scheme",
            headers_only(concat!(
                "To-Path: sip://relay.example.net:2855/s1;tcp\r\n",
                from!()
            )),
            BadUri(HeaderName::ToPath, UriError::Scheme),
            Some(400),
            K,
            FromUs,
        ),
        row(
            "To-Path missing transport",
            headers_only(concat!(
                "To-Path: msrp://relay.example.net:2855/s1\r\n",
                from!()
            )),
            BadUri(HeaderName::ToPath, UriError::Transport),
            Some(400),
            K,
            FromUs,
        ),
        row(
            "To-Path bad port",
            headers_only(concat!(
                "To-Path: msrp://relay.example.net:70000/s1;tcp\r\n",
                from!()
            )),
            BadUri(HeaderName::ToPath, UriError::Port),
            Some(400),
            K,
            FromUs,
        ),
        row(
            "To-Path bad session-id",
            headers_only(concat!(
                "To-Path: msrp://relay.example.net:2855/s@1;tcp\r\n",
                from!()
            )),
            BadUri(HeaderName::ToPath, UriError::SessionId),
            Some(400),
            K,
            FromUs,
        ),
        row(
            "To-Path IPv6 literal not closed",
            headers_only(concat!(
                "To-Path: msrp://[2001:db8::1:2855/s1;tcp\r\n",
                from!()
            )),
            BadUri(HeaderName::ToPath, UriError::Host),
            Some(400),
            K,
            FromUs,
        ),
        row(
            "From-Path bad host",
            headers_only(concat!(to!(), "From-Path: msrp://cli^ent:7777/c1;tcp\r\n")),
            BadUri(HeaderName::FromPath, UriError::Host),
            Some(400),
            K,
            No,
        ),
        row(
            "two spaces between URIs",
            headers_only(concat!(
                "To-Path: ",
                relay!(),
                "  msrp://next.example.org:1/n;tcp\r\n",
                from!()
            )),
            BadUri(HeaderName::ToPath, UriError::Scheme),
            Some(400),
            K,
            Usual,
        ),
        row(
            "Use-Path bad URI",
            format!(
                "MSRP u0001 200 OK\r\n{}{}Use-Path: msrps://intra.example.com:9000/x;\r\n-------u0001$\r\n",
                to!(),
                from!()
            ),
            BadUri(HeaderName::UsePath, UriError::Transport),
            Some(400),
            K,
            No,
        ),
        row(
            "more URIs than the limit",
            headers_only(concat!(
                "To-Path: ",
                relay!(),
                " msrp://b.example.org:1/b;tcp msrp://c.example.org:1/c;tcp\r\n",
                from!()
            )),
            TooManyUris(HeaderName::ToPath),
            Some(400),
            K,
            Usual,
        )
        .limits(limits_with(|l| l.max_uris_per_path = 2)),
        row(
            "more headers than the limit",
            bodiless("Message-ID: abcd1234\r\nByte-Range: 1-0/0\r\n"),
            TooManyHeaders,
            Some(400),
            K,
            Usual,
        )
        .limits(limits_with(|l| l.max_headers = 3)),
        // ---- bodies --------------------------------------------------------------
        row(
            "body without Content-Type",
            with_body("Message-ID: abcd1234\r\n", "hello"),
            BodyWithoutContentType,
            Some(400),
            K,
            Exact {
                tid: "t0001",
                responder: RELAY,
                previous_hop: CLIENT,
            },
        ),
        row(
            "response with a body",
            format!(
                "MSRP t0001 200 OK\r\n{}{}Content-Type: text/plain\r\n\r\nhello\r\n-------t0001$\r\n",
                to!(),
                from!()
            ),
            ResponseWithBody,
            Some(400),
            K,
            No,
        ),
        row(
            "chunk over max_chunk_bytes",
            with_body("Content-Type: text/plain\r\n", "hello world"),
            ChunkTooLarge,
            Some(413),
            K,
            No,
        )
        .limits(limits_with(|l| l.max_chunk_bytes = 4))
        .heads_before(1),
        // ---- bytes in values -------------------------------------------------------
        row(
            "non-UTF-8 in a header value",
            [
                &b"MSRP t0001 SEND\r\n"[..],
                to!().as_bytes(),
                from!().as_bytes(),
            ]
            .concat()
            .into_iter()
            .chain(*b"X-Note: caf\xe9\r\n-------t0001$\r\n")
            .collect::<Vec<u8>>(),
            NotUtf8,
            Some(400),
            K,
            Usual,
        ),
        row(
            "non-UTF-8 in a response comment",
            [
                &b"MSRP t0001 200 \xff\r\n"[..],
                to!().as_bytes(),
                from!().as_bytes(),
            ]
            .concat()
            .into_iter()
            .chain(*b"-------t0001$\r\n")
            .collect::<Vec<u8>>(),
            NotUtf8,
            Some(400),
            K,
            No,
        ),
        row(
            "control char in a header value",
            bodiless("X-Note: a\x01b\r\n"),
            BadHeaderValue(HeaderName::Other),
            Some(400),
            K,
            Usual,
        ),
        row(
            "bare CR in a header value",
            bodiless("Content-Description: a\rb\r\n"),
            BadHeaderValue(HeaderName::ContentDescription),
            Some(400),
            K,
            Usual,
        ),
        row(
            "DEL in a header value",
            bodiless("Message-ID: abcd\x7f\r\n"),
            BadHeaderValue(HeaderName::MessageId),
            Some(400),
            K,
            Usual,
        ),
    ]
}

// ---------------------------------------------------------------------------------
// Running a row
// ---------------------------------------------------------------------------------

/// Feeds `input` `step` bytes at a time until the first error; returns the items
/// before it (as text), the error, and the decoder and buffer for what follows.
fn first_error(
    input: &[u8],
    limits: &Limits,
    step: usize,
) -> (Vec<String>, DecodeError, Decoder, BytesMut) {
    let mut decoder = Decoder::new(limits.clone());
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for piece in input.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(item)) => items.push(describe(&item)),
                Ok(None) => break,
                Err(err) => return (items, err, decoder, buf),
            }
        }
    }
    panic!("no error; items {items:?}");
}

fn describe(item: &Item) -> String {
    match item {
        Item::Head(head) => format!(
            "head {} {}",
            head.transaction_id(),
            head.method_name().map_or_else(
                || head
                    .response_status()
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                str::to_owned
            )
        ),
        Item::Body(body) => {
            assert!(!body.is_empty(), "empty body piece");
            format!("body {}", body.len())
        }
        Item::End(flag) => format!("end {}", char::from(flag.as_byte())),
    }
}

fn check_answer(row: &Row, err: &DecodeError) {
    let answer = err.answer();
    match row.answer {
        Answer::No => assert!(answer.is_none(), "{}: answer {answer:?}", row.name),
        Answer::Usual | Answer::FromUs | Answer::Exact { .. } => {
            let (tid, responder, previous_hop) = match row.answer {
                Answer::Exact {
                    tid,
                    responder,
                    previous_hop,
                } => (tid, Some(responder), previous_hop),
                Answer::FromUs => ("t0001", None, CLIENT),
                _ => ("t0001", Some(RELAY), CLIENT),
            };
            let answer = answer.unwrap_or_else(|| panic!("{}: no answer", row.name));
            assert_eq!(answer.transaction_id.as_str(), tid, "{}", row.name);
            assert_eq!(
                answer.responder.as_ref().map(|u| u.as_str()),
                responder,
                "{}",
                row.name
            );
            assert_eq!(answer.previous_hop.as_str(), previous_hop, "{}", row.name);
        }
    }
}

/// Everything after the malformed frame: a kept error must let `VALID_200` decode,
/// a lost one must leave the decoder failed.
fn check_after(row: &Row, step: usize) {
    let name = row.name;
    match row.framing {
        Framing::Kept => {
            let input = [&row.input[..], VALID_200].concat();
            let mut decoder = Decoder::new(row.limits.clone());
            let mut buf = BytesMut::new();
            let mut errors = Vec::new();
            let mut after = Vec::new();
            for piece in input.chunks(step) {
                buf.extend_from_slice(piece);
                loop {
                    match decoder.decode(&mut buf) {
                        Ok(Some(item)) if !errors.is_empty() => after.push(describe(&item)),
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(err) => errors.push(err.kind()),
                    }
                }
            }
            assert_eq!(errors, [row.kind], "{name}: step {step}: errors");
            assert_eq!(
                after,
                ["head ok000001 200", "end $"],
                "{name}: step {step}: after the error"
            );
            assert!(buf.is_empty(), "{name}: step {step}: left over");
            assert!(decoder.is_between_frames(), "{name}: step {step}");
        }
        Framing::Lost => {
            let (_, _, mut decoder, mut buf) = first_error(&row.input, &row.limits, step);
            for _ in 0..2 {
                let err = decoder.decode(&mut buf).expect_err("stays failed");
                assert_eq!(err.kind(), ErrorKind::Failed, "{name}: step {step}");
                assert_eq!(err.framing(), Framing::Lost, "{name}");
                assert_eq!(err.status(), None, "{name}");
                assert!(err.answer().is_none(), "{name}");
            }
            let mut good = BytesMut::from(VALID_200);
            let err = decoder.decode(&mut good).expect_err("stays failed");
            assert_eq!(err.kind(), ErrorKind::Failed, "{name}: step {step}");
        }
    }
}

fn check_row(row: &Row) {
    let name = row.name;
    // Whole.
    let (items, err, _, _) = first_error(&row.input, &row.limits, row.input.len().max(1));
    assert_eq!(err.kind(), row.kind, "{name}: kind");
    assert_eq!(
        err.status().map(StatusCode::as_u16),
        row.status,
        "{name}: status"
    );
    assert_eq!(err.framing(), row.framing, "{name}: framing");
    assert_eq!(err.kind().framing(), row.framing, "{name}: kind framing");
    assert_eq!(
        err.kind().status().map(StatusCode::as_u16),
        row.status,
        "{name}: kind status"
    );
    check_answer(row, &err);
    let heads = items.iter().filter(|i| i.starts_with("head ")).count();
    assert_eq!(
        heads, row.heads_before,
        "{name}: heads before, items {items:?}"
    );
    if row.heads_before == 0 {
        assert!(items.is_empty(), "{name}: items before {items:?}");
    }
    assert!(!err.to_string().is_empty(), "{name}: Display");

    // One byte at a time: the same first error, answer and heads.
    let (items_1, err_1, _, _) = first_error(&row.input, &row.limits, 1);
    assert_eq!(err_1.kind(), row.kind, "{name}: kind, byte by byte");
    check_answer(row, &err_1);
    let heads_1 = items_1.iter().filter(|i| i.starts_with("head ")).count();
    assert_eq!(heads_1, row.heads_before, "{name}: heads, byte by byte");

    for step in [row.input.len() + VALID_200.len(), 1] {
        check_after(row, step);
    }
}

#[test]
fn malformed_corpus() {
    let rows = rows();
    assert!(rows.len() >= 45, "only {} rows", rows.len());
    let mut names: Vec<&str> = rows.iter().map(|r| r.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), rows.len(), "row names are unique");
    for row in &rows {
        check_row(row);
    }
}

#[test]
fn every_error_kind_is_covered() {
    // Every variant except Failed (checked after each lost row) appears in the table.
    let rows = rows();
    let has = |pred: &dyn Fn(ErrorKind) -> bool| rows.iter().any(|r| pred(r.kind));
    assert!(has(&|k| k == ErrorKind::BadStartLine));
    assert!(has(&|k| matches!(k, ErrorKind::BadTransactionId(_))));
    assert!(has(&|k| k == ErrorKind::BareLineFeed));
    assert!(has(&|k| k == ErrorKind::HeadTooLarge));
    assert!(has(&|k| k == ErrorKind::EndLineMismatch));
    assert!(has(&|k| k == ErrorKind::MalformedEndLine));
    assert!(has(&|k| k == ErrorKind::MissingToPath));
    assert!(has(&|k| k == ErrorKind::MissingFromPath));
    assert!(has(&|k| matches!(k, ErrorKind::BadUri(..))));
    assert!(has(&|k| matches!(k, ErrorKind::TooManyUris(_))));
    assert!(has(&|k| k == ErrorKind::TooManyHeaders));
    assert!(has(&|k| k == ErrorKind::HeaderWithoutColon));
    assert!(has(&|k| matches!(k, ErrorKind::DuplicateHeader(_))));
    for e in [
        ByteRangeError::Syntax,
        ByteRangeError::ZeroStart,
        ByteRangeError::EndBeforeStart,
        ByteRangeError::EndPastTotal,
    ] {
        assert!(has(&|k| k == ErrorKind::BadByteRange(e)), "{e:?}");
    }
    assert!(has(&|k| matches!(k, ErrorKind::BadHeaderValue(_))));
    assert!(has(&|k| k == ErrorKind::NotUtf8));
    assert!(has(&|k| k == ErrorKind::BodyWithoutContentType));
    assert!(has(&|k| k == ErrorKind::ResponseWithBody));
    assert!(has(&|k| k == ErrorKind::ChunkTooLarge));
}

// ---------------------------------------------------------------------------------
// Cases the table cannot express
// ---------------------------------------------------------------------------------

#[test]
fn empty_and_partial_input_is_not_an_error() {
    let mut decoder = Decoder::new(Limits::default());
    let mut buf = BytesMut::new();
    assert!(matches!(decoder.decode(&mut buf), Ok(None)));
    assert!(decoder.is_between_frames());
    // Every proper prefix of a valid frame only asks for more bytes.
    for len in 0..VALID_200.len() {
        let mut decoder = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(&VALID_200[..len]);
        match decoder.decode(&mut buf) {
            Ok(None) => {}
            other => panic!("prefix of {len} bytes: {other:?}"),
        }
    }
}

#[test]
fn body_with_its_own_end_line_ends_the_frame_early() {
    let input = format!(
        "MSRP t0001 SEND\r\n{}{}Content-Type: text/plain\r\n\r\n\
         first part\r\n-------t0001$\r\nrest of the body\r\n-------t0001$\r\n",
        to!(),
        from!()
    );
    for step in [input.len(), 1, 5] {
        let mut decoder = Decoder::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut seen: Vec<String> = Vec::new();
        let mut body = Vec::new();
        let mut error = None;
        'feed: for piece in input.as_bytes().chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                match decoder.decode(&mut buf) {
                    Ok(Some(Item::Body(piece))) => {
                        body.extend_from_slice(&piece);
                        if seen.last().map(String::as_str) != Some("body") {
                            seen.push("body".into());
                        }
                    }
                    Ok(Some(item)) => seen.push(describe(&item)),
                    Ok(None) => break,
                    Err(err) => {
                        error = Some(err);
                        break 'feed;
                    }
                }
            }
        }
        assert_eq!(seen, ["head t0001 SEND", "body", "end $"], "step {step}");
        assert_eq!(body, b"first part", "step {step}");
        let err = error.expect("the rest fails");
        assert_eq!(err.kind(), ErrorKind::BadStartLine, "step {step}");
        assert_eq!(err.framing(), Framing::Lost);
        assert!(err.answer().is_none());
        let err = decoder.decode(&mut buf).expect_err("failed");
        assert_eq!(err.kind(), ErrorKind::Failed);
    }
}

#[test]
fn chunk_at_the_limit_decodes_and_one_more_byte_does_not() {
    let limits = limits_with(|l| l.max_chunk_bytes = 5);
    let at = with_body("Content-Type: text/plain\r\n", "hello");
    let over = with_body("Content-Type: text/plain\r\n", "hello!");
    for step in [at.len(), 1] {
        let mut decoder = Decoder::new(limits.clone());
        let mut buf = BytesMut::new();
        let mut seen = Vec::new();
        let mut body = Vec::new();
        for piece in at.chunks(step) {
            buf.extend_from_slice(piece);
            while let Some(item) = decoder.decode(&mut buf).expect("at the limit") {
                if let Item::Body(piece) = &item {
                    body.extend_from_slice(piece);
                } else {
                    seen.push(describe(&item));
                }
            }
        }
        assert_eq!(seen, ["head t0001 SEND", "end $"], "step {step}");
        assert_eq!(body, b"hello");
    }
    for step in [over.len(), 1] {
        let (_, err, _, _) = first_error(&over, &limits, step);
        assert_eq!(err.kind(), ErrorKind::ChunkTooLarge, "step {step}");
        assert_eq!(err.status(), Some(StatusCode::STOP_SENDING_MESSAGE));
    }
    // Fed byte by byte, at most max_chunk_bytes of body is handed out before the error.
    let mut decoder = Decoder::new(limits.clone());
    let mut buf = BytesMut::new();
    let mut handed_out = 0;
    'feed: for &b in &over {
        buf.extend_from_slice(&[b]);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(Item::Body(piece))) => handed_out += piece.len(),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    assert!(handed_out <= 5, "{handed_out} body bytes handed out");
}

#[test]
fn head_size_limit_boundary() {
    // A head of exactly max_head_bytes (start line, headers, blank line) decodes; one
    // byte more is HeadTooLarge.
    let limits = limits_with(|l| l.max_head_bytes = 256);
    let build = |pad: usize| {
        format!(
            "MSRP t0001 SEND\r\n{}{}X-Pad: {}\r\nContent-Type: text/plain\r\n\r\nx\r\n-------t0001$\r\n",
            to!(),
            from!(),
            "p".repeat(pad)
        )
    };
    let unpadded = build(0).find("\r\n\r\n").expect("blank line") + 4;
    let exact = build(256 - unpadded);
    let over = build(257 - unpadded);
    assert_eq!(exact.find("\r\n\r\n").expect("blank line") + 4, 256);
    for step in [exact.len(), 1] {
        let mut decoder = Decoder::new(limits.clone());
        let mut buf = BytesMut::new();
        let mut heads = 0;
        for piece in exact.as_bytes().chunks(step) {
            buf.extend_from_slice(piece);
            while let Some(item) = decoder.decode(&mut buf).expect("at the limit") {
                if let Item::Head(head) = item {
                    assert_eq!(head.as_bytes().len(), 256);
                    heads += 1;
                }
            }
        }
        assert_eq!(heads, 1, "step {step}");
        let (items, err, _, _) = first_error(over.as_bytes(), &limits, step);
        assert!(items.is_empty());
        assert_eq!(err.kind(), ErrorKind::HeadTooLarge, "step {step}");
    }

    // Without a body the end-line counts against the limit (Limits docs): headers
    // plus end-line of exactly max_head_bytes decode, one byte more does not.
    let bodiless_of = |len: usize| {
        let unpadded = bodiless("X-Pad: \r\n").len();
        bodiless(&format!("X-Pad: {}\r\n", "p".repeat(len - unpadded)))
    };
    let exact = bodiless_of(256);
    let over = bodiless_of(257);
    assert_eq!((exact.len(), over.len()), (256, 257));
    for step in [exact.len(), 1] {
        let mut decoder = Decoder::new(limits.clone());
        let mut buf = BytesMut::new();
        let mut seen = Vec::new();
        for piece in exact.chunks(step) {
            buf.extend_from_slice(piece);
            while let Some(item) = decoder.decode(&mut buf).expect("at the limit") {
                seen.push(describe(&item));
            }
        }
        assert_eq!(seen, ["head t0001 SEND", "end $"], "step {step}");
        let (items, err, _, _) = first_error(&over, &limits, step);
        assert!(items.is_empty());
        assert_eq!(err.kind(), ErrorKind::HeadTooLarge, "step {step}");
    }
}

#[test]
fn kept_head_error_skips_a_body_holding_the_next_frame_prefix() {
    // The refused frame's body contains text that looks like a start line; skipping
    // goes by the end-line, not by what the body holds.
    let input = [
        &with_body(
            "Message-ID: abcd1234\r\n",
            "MSRP evil0001 SEND\r\nTo-Path: x\r\n",
        )[..],
        VALID_200,
    ]
    .concat();
    for step in [input.len(), 1, 4] {
        let mut decoder = Decoder::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut seen = Vec::new();
        for piece in input.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                match decoder.decode(&mut buf) {
                    Ok(Some(item)) => seen.push(describe(&item)),
                    Ok(None) => break,
                    Err(err) => seen.push(format!("error {:?}", err.kind())),
                }
            }
        }
        assert_eq!(
            seen,
            ["error BodyWithoutContentType", "head ok000001 200", "end $"],
            "step {step}"
        );
    }
}

#[test]
fn continuation_flags_in_error_follow_up() {
    // A refused frame ending in `+` or `#` is skipped just like one ending in `$`.
    for flag in [ContinuationFlag::More, ContinuationFlag::Abort] {
        let frame = format!(
            "MSRP t0001 SEND\r\n{}{}\r\nhello\r\n-------t0001{}\r\n",
            to!(),
            from!(),
            char::from(flag.as_byte())
        );
        let input = [frame.as_bytes(), VALID_200].concat();
        let mut decoder = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(&input[..]);
        let err = decoder.decode(&mut buf).expect_err("no Content-Type");
        assert_eq!(err.kind(), ErrorKind::BodyWithoutContentType);
        let Ok(Some(Item::Head(head))) = decoder.decode(&mut buf) else {
            panic!("{flag:?}: the next frame does not decode");
        };
        assert_eq!(head.transaction_id().as_str(), "ok000001");
        assert!(matches!(
            decoder.decode(&mut buf),
            Ok(Some(Item::End(ContinuationFlag::End)))
        ));
        assert!(matches!(decoder.decode(&mut buf), Ok(None)));
    }
}
