//! Property tests for the sans-IO MSRP codec (`msrp_proto::codec`).
//!
//! Strategies generate *valid* frames (RFC 4975 §9 grammar, plus AUTH from RFC 4976 and
//! NICKNAME from RFC 7701) together with a model of what they say. The properties:
//!
//! - (a) a stream of 1–8 frames decodes to the same events however it is split (random
//!   cut points, and one byte at a time), and those events match the model;
//! - (b) `Encoder::head` + body + `Encoder::end_line` gives back every frame byte for
//!   byte;
//! - (c) arbitrary bytes (random, MSRP-shaped, and mutated valid streams), fed at random
//!   cut points and under random limits, never panic, the decoder loop always ends
//!   within a fixed number of calls, lost framing stays lost, and whatever frame the
//!   decoder accepts re-encodes to exactly the bytes it consumed;
//! - (d) `Encoder::forward` with a `Rewrite`, decoded again, yields the new transaction
//!   id and paths (and the new Message-ID / Byte-Range when given: in place, or right
//!   after From-Path when the head had none), every other header unchanged and in
//!   order, the same start line, body and flag.
//!
//! Bodies are random bytes mixed with near misses of the end-line (CRLF, dashes,
//! prefixes of the frame's id, the id followed by another ident character, other
//! frames' end-lines); never `-------` + id + flag.
//!
//! 256 cases per property; `PROPTEST_CASES=N` overrides. Failures are not persisted to
//! a regressions file: the minimal failing input is printed instead.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use msrp_proto::codec::{
    ByteRange, ContinuationFlag, Decoder, Encoder, FailureReport, Frame, Framing, Head, HeaderName,
    Item, Limits, MessageId, Method, MsrpUri, Rewrite, SuccessReport, TransactionId,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::string::string_regex;
use proptest::test_runner::Config as ProptestConfig;

// ---------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------
// The model: what a generated frame says
// ---------------------------------------------------------------------------------

/// One header of a generated frame, typed, so the test knows what each accessor must
/// return.
#[derive(Clone, Debug)]
enum H {
    To(Vec<String>),
    From(Vec<String>),
    MessageId(String),
    ByteRange(ByteRange),
    SuccessReport(SuccessReport, String),
    FailureReport(FailureReport, String),
    /// namespace, code, reason
    Status(String, u16, Option<String>),
    ContentType(String),
    ContentId(String),
    ContentDescription(String),
    ContentDisposition(String),
    Expires(u32),
    UseNickname(String),
    Authorization(String),
    /// A `Content-*` header the registry does not name.
    OtherContent(String, String),
    /// An extension header.
    Extension(String, String),
}

impl H {
    fn canonical_name(&self) -> String {
        match self {
            H::To(_) => "To-Path".into(),
            H::From(_) => "From-Path".into(),
            H::MessageId(_) => "Message-ID".into(),
            H::ByteRange(_) => "Byte-Range".into(),
            H::SuccessReport(..) => "Success-Report".into(),
            H::FailureReport(..) => "Failure-Report".into(),
            H::Status(..) => "Status".into(),
            H::ContentType(_) => "Content-Type".into(),
            H::ContentId(_) => "Content-ID".into(),
            H::ContentDescription(_) => "Content-Description".into(),
            H::ContentDisposition(_) => "Content-Disposition".into(),
            H::Expires(_) => "Expires".into(),
            H::UseNickname(_) => "Use-Nickname".into(),
            H::Authorization(_) => "Authorization".into(),
            H::OtherContent(name, _) | H::Extension(name, _) => name.clone(),
        }
    }

    fn value(&self) -> String {
        match self {
            H::To(uris) | H::From(uris) => uris.join(" "),
            H::ByteRange(range) => range.to_string(),
            H::Status(ns, code, reason) => match reason {
                Some(reason) => format!("{ns} {code} {reason}"),
                None => format!("{ns} {code}"),
            },
            H::Expires(secs) => secs.to_string(),
            H::MessageId(v)
            | H::SuccessReport(_, v)
            | H::FailureReport(_, v)
            | H::ContentType(v)
            | H::ContentId(v)
            | H::ContentDescription(v)
            | H::ContentDisposition(v)
            | H::UseNickname(v)
            | H::Authorization(v)
            | H::OtherContent(_, v)
            | H::Extension(_, v) => v.clone(),
        }
    }

    fn header_name(&self) -> HeaderName {
        HeaderName::from_bytes(self.canonical_name().as_bytes())
    }
}

/// A header line as generated: the name as spelled, the spaces after the colon, the
/// typed value.
#[derive(Clone, Debug)]
struct Line {
    name: String,
    sep: &'static str,
    h: H,
}

#[derive(Clone, Debug)]
enum Start {
    Request(String),
    /// code, comment
    Response(u16, Option<String>),
}

impl Start {
    fn text(&self) -> String {
        match self {
            Start::Request(method) => method.clone(),
            Start::Response(code, None) => code.to_string(),
            Start::Response(code, Some(comment)) => format!("{code} {comment}"),
        }
    }
}

/// A generated frame and its wire form.
#[derive(Clone, Debug)]
struct Spec {
    tid: String,
    start: Start,
    lines: Vec<Line>,
    /// `None`: no body (the end-line follows the headers); `Some`: a body, maybe empty.
    body: Option<Vec<u8>>,
    flag: u8,
}

impl Spec {
    fn wire(&self) -> Vec<u8> {
        let mut out = format!("MSRP {} {}\r\n", self.tid, self.start.text()).into_bytes();
        for line in &self.lines {
            out.extend_from_slice(
                format!("{}:{}{}\r\n", line.name, line.sep, line.h.value()).as_bytes(),
            );
        }
        if let Some(body) = &self.body {
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"-------");
        out.extend_from_slice(self.tid.as_bytes());
        out.push(self.flag);
        out.extend_from_slice(b"\r\n");
        out
    }

    fn headers(&self) -> Vec<(String, String)> {
        self.lines
            .iter()
            .map(|line| (line.name.clone(), line.h.value()))
            .collect()
    }

    /// The events a decoder must produce for this frame.
    fn events(&self) -> Vec<Ev> {
        let mut events = vec![Ev::Head {
            tid: self.tid.clone(),
            start: self.start.text(),
            headers: self.headers(),
            has_body: self.body.is_some(),
        }];
        if let Some(body) = self.body.as_ref().filter(|b| !b.is_empty()) {
            events.push(Ev::Body(body.clone()));
        }
        events.push(Ev::End(self.flag));
        events
    }
}

// ---------------------------------------------------------------------------------
// Decoding harness
// ---------------------------------------------------------------------------------

/// What the decoder said, with adjacent body pieces merged.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Head {
        tid: String,
        start: String,
        headers: Vec<(String, String)>,
        has_body: bool,
    },
    Body(Vec<u8>),
    End(u8),
    Error(String),
}

fn head_event(head: &Head) -> Ev {
    let start = match (head.method_name(), head.response_status()) {
        (Some(method), _) => method.to_owned(),
        (None, Some(code)) => match head.comment() {
            Some(comment) => format!("{} {comment}", code.as_u16()),
            None => code.as_u16().to_string(),
        },
        (None, None) => String::from("?"),
    };
    Ev::Head {
        tid: head.transaction_id().as_str().to_owned(),
        start,
        headers: head
            .headers()
            .map(|(_, name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
        has_body: head.has_body(),
    }
}

/// One decoded frame.
struct Decoded {
    head: Head,
    body: Vec<u8>,
    flag: ContinuationFlag,
    /// The bytes of the input this frame was decoded from, when known exactly (not
    /// after an error, whose skipped bytes the next head's call may also consume).
    span: Option<Range<usize>>,
}

#[derive(Default)]
struct Run {
    events: Vec<Ev>,
    frames: Vec<Decoded>,
    calls: usize,
    lost: bool,
    leftover: usize,
    between_frames: bool,
}

/// The input cut at `cuts` (sorted, deduplicated, within `0..=len`).
fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        out.push(&input[from..cut]);
        from = cut;
    }
    out
}

fn cut_points(len: usize, picks: &[Index]) -> Vec<usize> {
    let mut cuts: Vec<usize> = picks.iter().map(|pick| pick.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// Feeds `input` in the pieces `cuts` makes, calling `decode` after each until it
/// needs more bytes or framing is lost. Panics if the decoder is called more than a
/// bound linear in the input: an item either consumes bytes or is the one end-line
/// that a consuming call left pending.
fn run(input: &[u8], cuts: &[usize], limits: Limits) -> Run {
    let mut decoder = Decoder::new(limits);
    let mut buf = BytesMut::new();
    let mut out = Run::default();
    let bound = 3 * input.len() + 3 * (cuts.len() + 1) + 8;
    let mut fed = 0;
    let mut current: Option<(Head, Vec<u8>, Option<usize>)> = None;
    let mut dirty = false;
    'feed: for piece in pieces(input, cuts) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        loop {
            out.calls += 1;
            assert!(
                out.calls <= bound,
                "decoder looped: {} calls for {} bytes",
                out.calls,
                input.len()
            );
            let before = fed - buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(Item::Head(head))) => {
                    out.events.push(head_event(&head));
                    current = Some((head, Vec::new(), (!dirty).then_some(before)));
                    dirty = false;
                }
                Ok(Some(Item::Body(piece))) => {
                    assert!(!piece.is_empty(), "empty body piece");
                    match out.events.last_mut() {
                        Some(Ev::Body(body)) => body.extend_from_slice(&piece),
                        _ => out.events.push(Ev::Body(piece.to_vec())),
                    }
                    if let Some((_, body, _)) = &mut current {
                        body.extend_from_slice(&piece);
                    }
                }
                Ok(Some(Item::End(flag))) => {
                    out.events.push(Ev::End(flag.as_byte()));
                    if let Some((head, body, start)) = current.take() {
                        let end = fed - buf.len();
                        out.frames.push(Decoded {
                            head,
                            body,
                            flag,
                            span: start.map(|start| start..end),
                        });
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    out.events.push(Ev::Error(format!("{:?}", err.kind())));
                    current = None;
                    dirty = true;
                    if err.framing() == Framing::Lost {
                        out.lost = true;
                        // Lost stays lost.
                        let again = decoder.decode(&mut buf);
                        assert!(
                            matches!(&again, Err(e) if e.framing() == Framing::Lost),
                            "decoder recovered after lost framing: {again:?}"
                        );
                        break 'feed;
                    }
                }
            }
        }
    }
    out.leftover = buf.len();
    out.between_frames = decoder.is_between_frames();
    out
}

/// The frame written back with the encoder, as one buffer.
fn reencode(encoder: &mut Encoder, frame: &Decoded) -> Frame {
    Frame {
        head: encoder.head(&frame.head),
        body: Bytes::copy_from_slice(&frame.body),
        end_line: encoder.end_line(
            frame.head.transaction_id(),
            frame.flag,
            frame.head.has_body(),
        ),
    }
}

/// Checks every typed accessor of `head` against the model.
fn check_typed(head: &Head, spec: &Spec) -> Result<(), TestCaseError> {
    match &spec.start {
        Start::Request(name) => {
            let method = match name.as_str() {
                "SEND" => Method::Send,
                "REPORT" => Method::Report,
                "AUTH" => Method::Auth,
                "NICKNAME" => Method::Nickname,
                _ => Method::Other,
            };
            prop_assert!(head.is_request());
            prop_assert_eq!(head.method(), Some(method));
            prop_assert_eq!(head.method_name(), Some(name.as_str()));
            prop_assert_eq!(head.response_status(), None);
        }
        Start::Response(code, comment) => {
            prop_assert!(!head.is_request());
            prop_assert_eq!(head.response_status().map(|c| c.as_u16()), Some(*code));
            prop_assert_eq!(head.comment(), comment.as_deref());
            prop_assert_eq!(head.method(), None);
        }
    }
    let uris = |it: &mut dyn Iterator<Item = MsrpUri>| it.map(|u| u.to_string()).collect();
    let names: Vec<HeaderName> = head.headers().map(|(name, _, _)| name).collect();
    let expected_names: Vec<HeaderName> = spec.lines.iter().map(|l| l.h.header_name()).collect();
    prop_assert_eq!(names, expected_names);
    let mut saw = (false, false, false, false, false, false, false, false);
    for line in &spec.lines {
        match &line.h {
            H::To(path) => prop_assert_eq!(&uris(&mut head.to_path()) as &Vec<String>, path),
            H::From(path) => {
                prop_assert_eq!(&uris(&mut head.from_path()) as &Vec<String>, path)
            }
            H::MessageId(id) => {
                saw.0 = true;
                prop_assert_eq!(
                    head.message_id().map(|m| m.as_str().to_owned()),
                    Some(id.clone())
                );
            }
            H::ByteRange(range) => {
                saw.1 = true;
                prop_assert_eq!(head.byte_range(), Some(*range));
            }
            H::SuccessReport(report, _) => {
                saw.2 = true;
                prop_assert_eq!(head.success_report(), Some(*report));
            }
            H::FailureReport(report, _) => {
                saw.3 = true;
                prop_assert_eq!(head.failure_report(), Some(*report));
            }
            H::Status(ns, code, reason) => {
                saw.4 = true;
                let status = head.status();
                prop_assert!(status.is_some());
                if let Some(status) = status {
                    prop_assert_eq!(Ok(status.namespace), ns.parse::<u16>());
                    prop_assert_eq!(status.code.as_u16(), *code);
                    prop_assert_eq!(status.reason, reason.as_deref());
                }
            }
            H::ContentType(media) => {
                saw.5 = true;
                prop_assert_eq!(head.content_type(), Some(media.as_str()));
            }
            H::Expires(secs) => {
                saw.6 = true;
                prop_assert_eq!(head.expires(), Some(*secs));
            }
            H::UseNickname(nick) => {
                saw.7 = true;
                prop_assert_eq!(head.use_nickname(), Some(nick.as_str()));
            }
            H::ContentId(v)
            | H::ContentDescription(v)
            | H::ContentDisposition(v)
            | H::Authorization(v) => {
                prop_assert_eq!(head.value(line.h.header_name()), Some(v.as_str()));
            }
            H::OtherContent(..) | H::Extension(..) => {}
        }
    }
    if !saw.0 {
        prop_assert!(head.message_id().is_none());
    }
    if !saw.1 {
        prop_assert_eq!(head.byte_range(), None);
    }
    if !saw.2 {
        prop_assert_eq!(head.success_report(), None);
    }
    if !saw.3 {
        prop_assert_eq!(head.failure_report(), None);
    }
    if !saw.4 {
        prop_assert!(head.status().is_none());
    }
    if !saw.5 {
        prop_assert_eq!(head.content_type(), None);
    }
    if !saw.6 {
        prop_assert_eq!(head.expires(), None);
    }
    if !saw.7 {
        prop_assert_eq!(head.use_nickname(), None);
    }
    prop_assert_eq!(head.has_body(), spec.body.is_some());
    Ok(())
}

// ---------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------

/// A regex strategy, parsed once per thread and shared: a `&str` strategy parses its
/// regex again on every case, which dominated the run time.
fn re(pattern: &'static str) -> BoxedStrategy<String> {
    thread_local! {
        static CACHE: RefCell<HashMap<&'static str, BoxedStrategy<String>>> =
            RefCell::new(HashMap::new());
    }
    CACHE.with(|cache| {
        cache
            .borrow_mut()
            .entry(pattern)
            .or_insert_with(|| {
                string_regex(pattern)
                    .unwrap_or_else(|err| panic!("{pattern}: {err}"))
                    .boxed()
            })
            .clone()
    })
}

/// RFC 4975 `ident`: ALPHANUM then 3 to 31 of ALPHANUM . - + % =.
fn ident() -> impl Strategy<Value = String> {
    re("[A-Za-z0-9][A-Za-z0-9.+%=-]{3,31}")
}

fn hostname() -> impl Strategy<Value = String> {
    vec(re("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?"), 1..4).prop_map(|labels| labels.join("."))
}

fn host() -> BoxedStrategy<String> {
    prop_oneof![
        3 => hostname(),
        1 => any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
        1 => any::<[u16; 8]>().prop_map(|s| format!("[{}]", Ipv6Addr::from(s))),
        1 => Just("[::1]".to_owned()),
    ]
    .boxed()
}

/// `msrp[s]://[userinfo@]host[:port][/session-id];transport*(;param)`.
fn uri() -> BoxedStrategy<String> {
    (
        prop_oneof![3 => Just("msrp"), 1 => Just("msrps")],
        option::weighted(0.1, re("[a-z0-9]{1,8}")),
        host(),
        option::weighted(0.7, any::<u16>()),
        option::weighted(0.8, re("[A-Za-z0-9._~+=-][A-Za-z0-9._~+=/-]{0,19}")),
        prop_oneof![3 => Just("tcp"), 1 => Just("ws")],
        vec(re("[a-z0-9.!%*_+`'~-]{1,6}(=[a-z0-9.-]{1,6})?"), 0..3),
    )
        .prop_map(|(scheme, user, host, port, session, transport, params)| {
            let mut text = format!("{scheme}://");
            if let Some(user) = user {
                text.push_str(&user);
                text.push('@');
            }
            text.push_str(&host);
            if let Some(port) = port {
                text.push_str(&format!(":{port}"));
            }
            if let Some(session) = session {
                text.push('/');
                text.push_str(&session);
            }
            text.push(';');
            text.push_str(transport);
            for param in params {
                text.push(';');
                text.push_str(&param);
            }
            text
        })
        .boxed()
}

fn path() -> BoxedStrategy<Vec<String>> {
    vec(uri(), 1..=3).boxed()
}

/// A valid Byte-Range for a chunk of `len` octets (any length when `None`).
fn byte_range(len: Option<u64>) -> BoxedStrategy<ByteRange> {
    let len = match len {
        Some(len) => Just(len).boxed(),
        None => (0u64..100_000).boxed(),
    };
    (
        1u64..1_000_000,
        len,
        any::<bool>(),
        option::of(0u64..1_000_000),
    )
        .prop_map(|(start, len, star_end, extra)| {
            let end = (!star_end).then(|| start + len - 1);
            let total = extra.map(|extra| end.unwrap_or(start) + extra);
            ByteRange { start, end, total }
        })
        .boxed()
}

/// A known header name as the canonical spelling, or all lower / upper case.
/// How a known header name is spelled: canonical mostly, else all lower or upper case.
#[derive(Clone, Copy, Debug)]
enum Case {
    Canonical,
    Lower,
    Upper,
}

fn case() -> BoxedStrategy<Case> {
    prop_oneof![6 => Just(Case::Canonical), 1 => Just(Case::Lower), 1 => Just(Case::Upper)].boxed()
}

/// The spaces after the colon: one as written by everyone, none or two as tolerated.
fn sep() -> BoxedStrategy<&'static str> {
    prop_oneof![8 => Just(" "), 1 => Just(""), 1 => Just("  ")].boxed()
}

/// A known header with its name in some case and some spaces after the colon.
fn line(h: impl Strategy<Value = H> + 'static) -> BoxedStrategy<Line> {
    (h, case(), sep())
        .prop_map(|(h, case, sep)| {
            let name = h.canonical_name();
            let name = match case {
                Case::Canonical => name,
                Case::Lower => name.to_ascii_lowercase(),
                Case::Upper => name.to_ascii_uppercase(),
            };
            Line { name, sep, h }
        })
        .boxed()
}

/// utf8text without CR/LF and starting with a non-space (leading spaces are not part
/// of a value).
fn text_value() -> BoxedStrategy<String> {
    re("([!-~\t\u{e9}\u{4e2d}][ -~\t\u{e9}\u{4e2d}]{0,30})?").boxed()
}

fn extension() -> BoxedStrategy<Line> {
    let ext = prop_oneof![
        4 => (re("[A-Za-z][A-Za-z0-9.!%*_+`'~-]{0,15}"), text_value())
            .prop_filter("a known header name", |(name, _)| {
                HeaderName::from_bytes(name.as_bytes()) == HeaderName::Other
            })
            .prop_map(|(name, value)| H::Extension(name, value)),
        1 => (re("Content-[A-Za-z][A-Za-z-]{0,8}"), text_value())
            .prop_filter("a known Content header", |(name, _)| {
                HeaderName::from_bytes(name.as_bytes()) == HeaderName::OtherContent
            })
            .prop_map(|(name, value)| H::OtherContent(name, value)),
    ]
    .boxed();
    (ext, sep())
        .prop_map(|(h, sep)| Line {
            name: h.canonical_name(),
            sep,
            h,
        })
        .boxed()
}

fn success_report() -> BoxedStrategy<H> {
    prop_oneof![
        re("[yY][eE][sS]").prop_map(|v| H::SuccessReport(SuccessReport::Yes, v)),
        re("[nN][oO]").prop_map(|v| H::SuccessReport(SuccessReport::No, v)),
    ]
    .boxed()
}

fn failure_report() -> BoxedStrategy<H> {
    prop_oneof![
        re("[yY][eE][sS]").prop_map(|v| H::FailureReport(FailureReport::Yes, v)),
        re("[nN][oO]").prop_map(|v| H::FailureReport(FailureReport::No, v)),
        re("[pP]artial").prop_map(|v| H::FailureReport(FailureReport::Partial, v)),
    ]
    .boxed()
}

fn content_type() -> BoxedStrategy<H> {
    select(vec![
        "text/plain",
        "message/cpim",
        "application/octet-stream",
        "text/plain; charset=utf-8",
        "application/im-iscomposing+xml",
        "multipart/mixed;boundary=x9y8",
    ])
    .prop_map(|t| H::ContentType(t.to_owned()))
    .boxed()
}

/// Optional headers shared by requests, shuffled, plus extension headers.
fn middle(extra: Vec<BoxedStrategy<Line>>) -> BoxedStrategy<Vec<Line>> {
    (
        extra,
        option::of(line(success_report())),
        option::of(line(failure_report())),
        option::weighted(0.2, line(any::<u32>().prop_map(H::Expires))),
        vec(extension(), 0..3),
    )
        .prop_map(|(mut lines, success, failure, expires, ext)| {
            lines.extend(success);
            lines.extend(failure);
            lines.extend(expires);
            lines.extend(ext);
            lines
        })
        .prop_shuffle()
        .boxed()
}

/// `Content-*` headers for a body, Content-Type last.
fn content_headers() -> BoxedStrategy<Vec<Line>> {
    (
        option::weighted(
            0.2,
            line(re("<[a-z0-9]{1,8}@[a-z]{1,8}\\.example>").prop_map(H::ContentId)),
        ),
        option::weighted(0.2, line(text_value().prop_map(H::ContentDescription))),
        option::weighted(
            0.2,
            line(re("(inline|attachment; filename=\"a\\.txt\")").prop_map(H::ContentDisposition)),
        ),
        line(content_type()),
    )
        .prop_map(|(id, description, disposition, media)| {
            id.into_iter()
                .chain(description)
                .chain(disposition)
                .chain(std::iter::once(media))
                .collect()
        })
        .boxed()
}

/// Body bytes for a frame with this transaction id: random bytes mixed with near
/// misses of the end-line (CRLF, dashes, prefixes of our id, our id followed by an
/// ident character, other frames' end-lines). Never `-------` + id + flag, which would
/// end the body (or, not followed by CRLF, break framing).
fn body(tid: String) -> BoxedStrategy<Vec<u8>> {
    let prefix_tid = tid.clone();
    let longer_tid = tid.clone();
    let segment = prop_oneof![
        6 => vec(any::<u8>(), 0..64),
        1 => vec(any::<u8>(), 0..2048),
        1 => Just(b"\r\n".to_vec()),
        1 => Just(b"\r\n-------".to_vec()),
        1 => Just(b"-------".to_vec()),
        1 => (0..prefix_tid.len())
            .prop_map(move |k| format!("\r\n-------{}", &prefix_tid[..k]).into_bytes()),
        1 => re("[A-Za-z0-9.%=-]")
            .prop_map(move |x| format!("\r\n-------{longer_tid}{x}").into_bytes()),
        1 => ident().prop_map(|other| format!("\r\n-------{other}$\r\n").into_bytes()),
    ];
    vec(segment, 0..6)
        .prop_map(|segments| segments.concat())
        .prop_filter("body holds the end-line", move |body| {
            body_is_safe(body, &tid)
        })
        .boxed()
}

/// True if no `-------` + `tid` + flag occurs in `body`.
fn body_is_safe(body: &[u8], tid: &str) -> bool {
    let needle = format!("-------{tid}");
    let needle = needle.as_bytes();
    let mut from = 0;
    while let Some(at) = memchr_find(&body[from..], needle) {
        let next = from + at + needle.len();
        if matches!(body.get(next), Some(b'+' | b'$' | b'#')) {
            return false;
        }
        from += at + 1;
    }
    true
}

fn memchr_find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn flag() -> impl Strategy<Value = u8> {
    select(vec![b'$', b'+', b'#'])
}

fn paths() -> BoxedStrategy<Vec<Line>> {
    (line(path().prop_map(H::To)), line(path().prop_map(H::From)))
        .prop_map(|(to, from)| vec![to, from])
        .boxed()
}

fn assemble(
    tid: String,
    start: Start,
    parts: Vec<Vec<Line>>,
    body: Option<Vec<u8>>,
    flag: u8,
) -> Spec {
    Spec {
        tid,
        start,
        lines: parts.concat(),
        body,
        flag,
    }
}

/// SEND with a body (possibly empty).
fn send_with_body(tid: String) -> BoxedStrategy<Spec> {
    body(tid.clone())
        .prop_flat_map(move |body| {
            let len = body.len() as u64;
            let extra = vec![
                line(ident().prop_map(H::MessageId)).boxed(),
                line(byte_range(Some(len)).prop_map(H::ByteRange)).boxed(),
            ];
            (
                Just(tid.clone()),
                paths(),
                middle(extra),
                content_headers(),
                Just(body),
                flag(),
            )
        })
        .prop_map(|(tid, paths, middle, content, body, flag)| {
            assemble(
                tid,
                Start::Request("SEND".into()),
                vec![paths, middle, content],
                Some(body),
                flag,
            )
        })
        .boxed()
}

/// The bodiless SEND that binds a connection: `Byte-Range: 1-0/0`.
fn bodiless_send(tid: String) -> BoxedStrategy<Spec> {
    let extra = vec![
        line(ident().prop_map(H::MessageId)).boxed(),
        line(Just(H::ByteRange(ByteRange::whole(0)))).boxed(),
    ];
    (Just(tid), paths(), middle(extra), flag())
        .prop_map(|(tid, paths, middle, flag)| {
            assemble(
                tid,
                Start::Request("SEND".into()),
                vec![paths, middle],
                None,
                flag,
            )
        })
        .boxed()
}

fn report(tid: String) -> BoxedStrategy<Spec> {
    let status = (
        re("[0-9]{3}"),
        100u16..=999,
        option::of(re("[A-Za-z][A-Za-z ]{0,12}")),
    )
        .prop_map(|(ns, code, reason)| H::Status(ns, code, reason));
    let extra = vec![
        line(ident().prop_map(H::MessageId)).boxed(),
        line(byte_range(None).prop_map(H::ByteRange)).boxed(),
        line(status).boxed(),
    ];
    (Just(tid), paths(), middle(extra), flag())
        .prop_map(|(tid, paths, middle, flag)| {
            assemble(
                tid,
                Start::Request("REPORT".into()),
                vec![paths, middle],
                None,
                flag,
            )
        })
        .boxed()
}

fn auth(tid: String) -> BoxedStrategy<Spec> {
    let authorization =
        re("Digest username=\"[a-z]{1,8}\", realm=\"[a-z.]{1,12}\", response=\"[0-9a-f]{8}\"")
            .prop_map(H::Authorization);
    (
        Just(tid),
        paths(),
        option::of(line(authorization)),
        vec(extension(), 0..2),
        flag(),
    )
        .prop_map(|(tid, paths, authorization, ext, flag)| {
            let middle = authorization.into_iter().chain(ext).collect();
            assemble(
                tid,
                Start::Request("AUTH".into()),
                vec![paths, middle],
                None,
                flag,
            )
        })
        .boxed()
}

fn nickname(tid: String) -> BoxedStrategy<Spec> {
    let nick = re("\"([a-zA-Z0-9 ]|\\\\\"){1,12}\"").prop_map(H::UseNickname);
    let nick = prop_oneof![nick, re("\"[a-zA-Z0-9 ]{1,12}\"").prop_map(H::UseNickname)];
    (
        Just(tid),
        paths(),
        line(ident().prop_map(H::MessageId)),
        line(nick),
        vec(extension(), 0..2),
        flag(),
    )
        .prop_map(|(tid, paths, id, nick, ext, flag)| {
            let middle = [id, nick].into_iter().chain(ext).collect();
            assemble(
                tid,
                Start::Request("NICKNAME".into()),
                vec![paths, middle],
                None,
                flag,
            )
        })
        .boxed()
}

/// A method the codec does not know, with or without a body.
fn unknown_method(tid: String) -> BoxedStrategy<Spec> {
    let method = re("[A-Z]{1,12}").prop_filter("a known method", |m| {
        !matches!(m.as_str(), "SEND" | "REPORT" | "AUTH" | "NICKNAME")
    });
    (
        Just(tid.clone()),
        method,
        paths(),
        vec(extension(), 0..3),
        option::of((content_headers(), body(tid))),
        flag(),
    )
        .prop_map(|(tid, method, paths, ext, content, flag)| {
            let (content, body) = match content {
                Some((content, body)) => (content, Some(body)),
                None => (Vec::new(), None),
            };
            assemble(
                tid,
                Start::Request(method),
                vec![paths, ext, content],
                body,
                flag,
            )
        })
        .boxed()
}

fn response(tid: String) -> BoxedStrategy<Spec> {
    (
        Just(tid),
        100u16..=999,
        option::of(re("[ -~\u{e9}]{0,20}")),
        paths(),
        vec(extension(), 0..2),
    )
        .prop_map(|(tid, code, comment, paths, ext)| {
            assemble(
                tid,
                Start::Response(code, comment),
                vec![paths, ext],
                None,
                b'$',
            )
        })
        .boxed()
}

/// Any valid frame.
fn frame() -> impl Strategy<Value = Spec> {
    ident().prop_flat_map(|tid| {
        prop_oneof![
            4 => send_with_body(tid.clone()),
            1 => bodiless_send(tid.clone()),
            1 => report(tid.clone()),
            1 => auth(tid.clone()),
            1 => nickname(tid.clone()),
            1 => unknown_method(tid.clone()),
            2 => response(tid),
        ]
    })
}

fn stream(specs: &[Spec]) -> Vec<u8> {
    specs.iter().flat_map(Spec::wire).collect()
}

/// Random limits, from tight to default, all valid.
fn limits() -> BoxedStrategy<Limits> {
    prop_oneof![
        Just(Limits::default()),
        (
            256usize..2048,
            1usize..4,
            2usize..10,
            4usize..=64,
            1u64..512
        )
            .prop_map(|(head, uris, headers, tid, chunk)| Limits {
                max_head_bytes: head,
                max_uris_per_path: uris,
                max_headers: headers,
                max_transaction_id_bytes: tid,
                max_chunk_bytes: chunk,
            }),
    ]
    .boxed()
}

/// Inputs for the robustness property: random bytes, MSRP-shaped bytes, and valid
/// streams with a few bytes replaced, inserted or deleted.
fn hostile_input() -> BoxedStrategy<Vec<u8>> {
    let alphabet = b"MSRP \r\n-:$+#abcd0123/;@.SENDTo-Path".to_vec();
    prop_oneof![
        vec(any::<u8>(), 0..2048),
        vec(select(alphabet), 0..2048).prop_map(|bytes| [b"MSRP ".as_slice(), &bytes].concat()),
        (
            vec(frame(), 1..4),
            vec((any::<Index>(), any::<u8>(), 0..3u8), 0..6)
        )
            .prop_map(|(specs, edits)| {
                let mut bytes = stream(&specs);
                for (at, byte, op) in edits {
                    let at = at.index(bytes.len() + 1);
                    match op {
                        0 if at < bytes.len() => bytes[at] = byte,
                        1 => bytes.insert(at, byte),
                        _ if at < bytes.len() => {
                            bytes.remove(at);
                        }
                        _ => {}
                    }
                }
                bytes
            }),
    ]
    .boxed()
}

/// A rewrite for the next hop, as owned parts.
#[derive(Clone, Debug)]
struct RewriteSpec {
    tid: String,
    to: Vec<String>,
    from: Vec<String>,
    message_id: Option<String>,
    byte_range: Option<ByteRange>,
}

fn rewrite() -> BoxedStrategy<RewriteSpec> {
    (
        ident(),
        path(),
        path(),
        option::of(ident()),
        option::of(byte_range(None)),
    )
        .prop_map(|(tid, to, from, message_id, byte_range)| RewriteSpec {
            tid,
            to,
            from,
            message_id,
            byte_range,
        })
        .boxed()
}

/// The headers `Encoder::forward` must write for `head`: the paths replaced,
/// Message-ID and Byte-Range replaced when the rewrite gives them (or added right after
/// From-Path when the head has none), everything else as received, in order.
fn forwarded_headers(head: &Head, rewrite: &RewriteSpec) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, spelled, value) in head.headers() {
        match name {
            HeaderName::ToPath => out.push(("To-Path".to_owned(), rewrite.to.join(" "))),
            HeaderName::FromPath => {
                out.push(("From-Path".to_owned(), rewrite.from.join(" ")));
                if let Some(id) = &rewrite.message_id
                    && head.message_id().is_none()
                {
                    out.push(("Message-ID".to_owned(), id.clone()));
                }
                if let Some(range) = rewrite.byte_range
                    && head.byte_range().is_none()
                {
                    out.push(("Byte-Range".to_owned(), range.to_string()));
                }
            }
            HeaderName::MessageId if rewrite.message_id.is_some() => {
                out.push((
                    "Message-ID".to_owned(),
                    rewrite.message_id.clone().unwrap_or_default(),
                ));
            }
            HeaderName::ByteRange if rewrite.byte_range.is_some() => out.push((
                "Byte-Range".to_owned(),
                rewrite
                    .byte_range
                    .map(|r| r.to_string())
                    .unwrap_or_default(),
            )),
            _ => out.push((spelled.to_owned(), value.to_owned())),
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------

fn check_valid_run(run: &Run, expected: &[Ev], len: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(&run.events, expected);
    prop_assert!(!run.lost);
    prop_assert_eq!(run.leftover, 0, "bytes left in the read buffer of {}", len);
    prop_assert!(run.between_frames);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// (a) Split anywhere, or fed one byte at a time, a stream of valid frames decodes
    /// to the same events as whole, and those are the generator's model.
    #[test]
    fn split_streams_decode_like_the_model(
        specs in vec(frame(), 1..=8),
        picks in vec(any::<Index>(), 0..16),
    ) {
        let input = stream(&specs);
        let expected: Vec<Ev> = specs.iter().flat_map(Spec::events).collect();

        let whole = run(&input, &[], Limits::default());
        check_valid_run(&whole, &expected, input.len())?;
        prop_assert_eq!(whole.frames.len(), specs.len());
        for (frame, spec) in whole.frames.iter().zip(&specs) {
            check_typed(&frame.head, spec)?;
            prop_assert_eq!(frame.body.as_slice(), spec.body.as_deref().unwrap_or_default());
        }

        let split = run(&input, &cut_points(input.len(), &picks), Limits::default());
        check_valid_run(&split, &expected, input.len())?;

        let every_byte: Vec<usize> = (1..input.len()).collect();
        let bytewise = run(&input, &every_byte, Limits::default());
        check_valid_run(&bytewise, &expected, input.len())?;
    }

    /// (b) `Encoder::head` + body + `Encoder::end_line` writes every decoded frame back
    /// byte for byte.
    #[test]
    fn encode_of_decode_is_identity(
        specs in vec(frame(), 1..=8),
        picks in vec(any::<Index>(), 0..16),
    ) {
        let input = stream(&specs);
        let decoded = run(&input, &cut_points(input.len(), &picks), Limits::default());
        prop_assert_eq!(decoded.frames.len(), specs.len());
        let mut encoder = Encoder::new();
        for (frame, spec) in decoded.frames.iter().zip(&specs) {
            let wire = spec.wire();
            let written = reencode(&mut encoder, frame);
            prop_assert_eq!(written.len(), wire.len());
            prop_assert_eq!(written.to_vec(), wire);
            // The head alone is also what was received.
            let head_len = frame.head.as_bytes().len();
            prop_assert_eq!(&written.head[..head_len], &frame.head.as_bytes()[..]);
        }
    }

    /// (c) Hostile bytes under any limits: no panic, a bounded number of decode calls
    /// (asserted inside `run`), lost framing stays lost, and every frame the decoder
    /// accepts is written back exactly as the bytes it consumed.
    #[test]
    fn hostile_bytes_never_panic_and_progress(
        input in hostile_input(),
        picks in vec(any::<Index>(), 0..24),
        limits in limits(),
        bytewise in any::<bool>(),
    ) {
        let cuts = if bytewise {
            (1..input.len()).collect()
        } else {
            cut_points(input.len(), &picks)
        };
        let decoded = run(&input, &cuts, limits);
        prop_assert!(decoded.calls <= 3 * input.len() + 3 * (cuts.len() + 1) + 8);
        if !decoded.lost {
            // Everything was fed; whatever is left is an unfinished frame.
            prop_assert!(decoded.leftover <= input.len());
        }
        let mut encoder = Encoder::new();
        for frame in &decoded.frames {
            let Some(span) = frame.span.clone() else { continue };
            let consumed = &input[span];
            let written = reencode(&mut encoder, frame).to_vec();
            if written != consumed {
                // The one leniency: headers, blank line, then the end-line without the
                // CRLF that ends an (empty) body.
                prop_assert!(frame.head.has_body() && frame.body.is_empty());
                let mut lenient = encoder.head(&frame.head).to_vec();
                lenient.extend_from_slice(&encoder.end_line(
                    frame.head.transaction_id(),
                    frame.flag,
                    false,
                ));
                prop_assert_eq!(lenient, consumed);
            }
        }
    }

    /// (c) Plain arbitrary bytes, as the brief asks: up to 2 KiB, split anywhere.
    #[test]
    fn arbitrary_bytes_never_panic(
        input in vec(any::<u8>(), 0..2048),
        picks in vec(any::<Index>(), 0..24),
    ) {
        let cuts = cut_points(input.len(), &picks);
        let decoded = run(&input, &cuts, Limits::default());
        prop_assert!(decoded.calls <= 3 * input.len() + 3 * (cuts.len() + 1) + 8);
    }

    /// (d) A forwarded frame decodes with the new transaction id and paths (and the
    /// new Message-ID / Byte-Range when rewritten), the same start line, every other
    /// header unchanged and in order, and the identical body and flag.
    #[test]
    fn forward_rewrites_only_what_it_says(
        specs in vec(frame(), 1..=4),
        rewrite in rewrite(),
        picks in vec(any::<Index>(), 0..16),
    ) {
        for spec in &specs {
            if let Some(body) = &spec.body {
                prop_assume!(body_is_safe(body, &rewrite.tid));
            }
        }
        let input = stream(&specs);
        let original = run(&input, &[], Limits::default());
        prop_assert_eq!(original.frames.len(), specs.len());

        let parse = |uris: &[String]| -> Vec<MsrpUri> {
            uris.iter().map(|u| MsrpUri::parse_str(u).expect("generated URI")).collect()
        };
        let to_path = parse(&rewrite.to);
        let from_path = parse(&rewrite.from);
        let transaction_id = TransactionId::parse(rewrite.tid.as_bytes(), 32).expect("ident");
        let message_id = rewrite
            .message_id
            .as_ref()
            .map(|id| MessageId::parse(id.as_bytes(), 32).expect("ident"));
        let plan = Rewrite {
            transaction_id,
            to_path: &to_path,
            from_path: &from_path,
            message_id,
            byte_range: rewrite.byte_range,
        };

        let mut encoder = Encoder::new();
        let mut forwarded = Vec::new();
        let mut expected = Vec::new();
        for frame in &original.frames {
            let head = encoder.forward(&frame.head, &plan);
            let end = encoder.end_line(&plan.transaction_id, frame.flag, frame.head.has_body());
            forwarded.extend_from_slice(&head);
            forwarded.extend_from_slice(&frame.body);
            forwarded.extend_from_slice(&end);

            let Ev::Head { start, has_body, .. } = head_event(&frame.head) else {
                unreachable!()
            };
            let headers = forwarded_headers(&frame.head, &rewrite);
            expected.push(Ev::Head { tid: rewrite.tid.clone(), start, headers, has_body });
            if !frame.body.is_empty() {
                expected.push(Ev::Body(frame.body.clone()));
            }
            expected.push(Ev::End(frame.flag.as_byte()));
        }

        let cuts = cut_points(forwarded.len(), &picks);
        let again = run(&forwarded, &cuts, Limits::default());
        check_valid_run(&again, &expected, forwarded.len())?;
        for frame in &again.frames {
            prop_assert_eq!(frame.head.transaction_id(), &plan.transaction_id);
            let to: Vec<MsrpUri> = frame.head.to_path().collect();
            let from: Vec<MsrpUri> = frame.head.from_path().collect();
            prop_assert_eq!(&to, &to_path);
            prop_assert_eq!(&from, &from_path);
            if let Some(id) = plan.message_id {
                prop_assert_eq!(frame.head.message_id(), Some(id));
            }
            if let Some(range) = plan.byte_range {
                prop_assert_eq!(frame.head.byte_range(), Some(range));
            }
        }
    }
}
