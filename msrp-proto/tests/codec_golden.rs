//! Golden frames through the codec.
//!
//! The RFC example frames in `tests/golden/*.msrp` and frames built here from the
//! RFC 4975 §9 / RFC 4976 / RFC 7701 ABNF are decoded whole and one byte at a time
//! (the results must agree once adjacent body pieces are merged). Every field is then
//! checked against an explicit expectation, and the frames are re-encoded with
//! `Encoder::head` + body + `Encoder::end_line`, which must give back the input byte
//! for byte. The encoder's `forward`, `response` and `request` are checked against
//! exact expected bytes.
//!
//! Note (tests/golden/README.md): the RFC examples' Byte-Range totals count the CRLF
//! before the end-line (`1-25/25` for a 23-octet body); the codec does not compare
//! Byte-Range with the body length, so those frames decode as they are.

use bytes::{Bytes, BytesMut};
use msrp_proto::codec::{
    ByteRange, ContinuationFlag, Decoder, Encoder, FailureReport, Head, HeaderName, Item, Limits,
    MessageId, Method, MsrpUri, Rewrite, Scheme, StatusCode, SuccessReport, TransactionId,
};

// ---------------------------------------------------------------------------------
// Decoding helpers
// ---------------------------------------------------------------------------------

/// One decoded frame: its head, its body (pieces merged) and its end-line flag.
struct Decoded {
    head: Head,
    body: Vec<u8>,
    flag: ContinuationFlag,
}

/// Decodes `input` fed `step` bytes at a time; any error fails the test. Returns the
/// frames in order and checks nothing is left over.
fn decode_frames(input: &[u8], step: usize) -> Vec<Decoded> {
    let mut decoder = Decoder::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut frames: Vec<Decoded> = Vec::new();
    let mut open: Option<(Head, Vec<u8>)> = None;
    for piece in input.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(Item::Head(head))) => {
                    assert!(open.is_none(), "step {step}: head inside a frame");
                    open = Some((head, Vec::new()));
                }
                Ok(Some(Item::Body(piece))) => {
                    assert!(!piece.is_empty(), "step {step}: empty body piece");
                    let (head, body) = open.as_mut().expect("body before head");
                    assert!(head.has_body(), "step {step}: body for a bodiless head");
                    body.extend_from_slice(&piece);
                }
                Ok(Some(Item::End(flag))) => {
                    let (head, body) = open.take().expect("end before head");
                    frames.push(Decoded { head, body, flag });
                }
                Ok(None) => break,
                Err(err) => panic!("step {step}: unexpected error {err:?}"),
            }
        }
    }
    assert!(open.is_none(), "step {step}: input ends inside a frame");
    assert!(buf.is_empty(), "step {step}: {} bytes left over", buf.len());
    assert!(decoder.is_between_frames(), "step {step}");
    frames
}

/// A comparable summary of decoded frames.
fn summary(frames: &[Decoded]) -> Vec<(Vec<u8>, bool, Vec<u8>, ContinuationFlag)> {
    frames
        .iter()
        .map(|f| {
            (
                f.head.as_bytes().to_vec(),
                f.head.has_body(),
                f.body.clone(),
                f.flag,
            )
        })
        .collect()
}

/// Decodes whole and byte by byte (and at a few other splits); all must agree.
fn decode_everywhere(input: &[u8]) -> Vec<Decoded> {
    let whole = decode_frames(input, input.len());
    let expected = summary(&whole);
    for step in [1, 2, 3, 7, 13] {
        let split = decode_frames(input, step);
        assert_eq!(summary(&split), expected, "fed {step} byte(s) at a time");
    }
    whole
}

/// Re-encodes decoded frames: head, body, end-line.
fn reencode(frames: &[Decoded]) -> Vec<u8> {
    let mut encoder = Encoder::new();
    let mut out = Vec::new();
    for frame in frames {
        out.extend_from_slice(&encoder.head(&frame.head));
        out.extend_from_slice(&frame.body);
        out.extend_from_slice(&encoder.end_line(
            frame.head.transaction_id(),
            frame.flag,
            frame.head.has_body(),
        ));
    }
    out
}

// ---------------------------------------------------------------------------------
// Expectations
// ---------------------------------------------------------------------------------

/// Every part of one MSRP URI.
struct Uri {
    text: &'static str,
    scheme: Scheme,
    userinfo: Option<&'static str>,
    host: &'static str,
    port: Option<u16>,
    session_id: Option<&'static str>,
    transport: &'static str,
    params: &'static str,
}

#[allow(clippy::too_many_arguments)]
const fn uri(
    text: &'static str,
    scheme: Scheme,
    userinfo: Option<&'static str>,
    host: &'static str,
    port: Option<u16>,
    session_id: Option<&'static str>,
    transport: &'static str,
) -> Uri {
    Uri {
        text,
        scheme,
        userinfo,
        host,
        port,
        session_id,
        transport,
        params: "",
    }
}

fn check_uris(what: &str, actual: impl Iterator<Item = MsrpUri>, expected: &[Uri]) {
    let actual: Vec<MsrpUri> = actual.collect();
    let texts: Vec<&str> = actual.iter().map(MsrpUri::as_str).collect();
    let wanted: Vec<&str> = expected.iter().map(|u| u.text).collect();
    assert_eq!(texts, wanted, "{what}");
    for (a, e) in actual.iter().zip(expected) {
        assert_eq!(a.to_string(), e.text, "{what} Display");
        assert_eq!(a.as_bytes(), e.text.as_bytes(), "{what} bytes");
        assert_eq!(a.scheme(), e.scheme, "{what} {} scheme", e.text);
        assert_eq!(a.userinfo(), e.userinfo, "{what} {} userinfo", e.text);
        assert_eq!(a.host(), e.host, "{what} {} host", e.text);
        assert_eq!(a.port(), e.port, "{what} {} port", e.text);
        assert_eq!(a.session_id(), e.session_id, "{what} {} session-id", e.text);
        assert_eq!(a.transport(), e.transport, "{what} {} transport", e.text);
        assert_eq!(a.params(), e.params, "{what} {} params", e.text);
    }
}

/// Every field a head can carry.
struct Expect {
    tid: &'static str,
    /// `Some` for a request.
    method: Option<Method>,
    method_name: Option<&'static str>,
    /// `Some` for a response.
    status: Option<u16>,
    comment: Option<&'static str>,
    to_path: &'static [Uri],
    from_path: &'static [Uri],
    use_path: &'static [Uri],
    message_id: Option<&'static str>,
    byte_range: Option<ByteRange>,
    success_report: Option<SuccessReport>,
    failure_report: Option<FailureReport>,
    /// The Status header: namespace, code, reason.
    status_header: Option<(u16, u16, Option<&'static str>)>,
    content_type: Option<&'static str>,
    www_authenticate: Option<&'static str>,
    authorization: Option<&'static str>,
    authentication_info: Option<&'static str>,
    expires: Option<u32>,
    min_expires: Option<u32>,
    max_expires: Option<u32>,
    use_nickname: Option<&'static str>,
    /// Every header line in order: the typed name, the name as written, the value.
    headers: &'static [(HeaderName, &'static str, &'static str)],
    has_body: bool,
    body: &'static [u8],
    flag: ContinuationFlag,
}

/// A bodiless request with nothing but what the fields below override; used with
/// struct update syntax by the inline cases (every field is still asserted).
const BARE: Expect = Expect {
    tid: "",
    method: None,
    method_name: None,
    status: None,
    comment: None,
    to_path: &[],
    from_path: &[],
    use_path: &[],
    message_id: None,
    byte_range: None,
    success_report: None,
    failure_report: None,
    status_header: None,
    content_type: None,
    www_authenticate: None,
    authorization: None,
    authentication_info: None,
    expires: None,
    min_expires: None,
    max_expires: None,
    use_nickname: None,
    headers: &[],
    has_body: false,
    body: b"",
    flag: ContinuationFlag::End,
};

const fn range(start: u64, end: Option<u64>, total: Option<u64>) -> Option<ByteRange> {
    Some(ByteRange { start, end, total })
}

fn check_frame(frame: &Decoded, e: &Expect) {
    let head = &frame.head;
    let tid = e.tid;
    assert_eq!(head.transaction_id().as_str(), tid);
    assert_eq!(head.transaction_id().as_bytes(), tid.as_bytes());
    assert_eq!(head.is_request(), e.method.is_some(), "{tid} is_request");
    assert_eq!(head.method(), e.method, "{tid} method");
    assert_eq!(head.method_name(), e.method_name, "{tid} method_name");
    assert_eq!(
        head.response_status().map(StatusCode::as_u16),
        e.status,
        "{tid} response status"
    );
    assert_eq!(head.comment(), e.comment, "{tid} comment");
    check_uris("To-Path", head.to_path(), e.to_path);
    check_uris("To-Path by name", head.path(HeaderName::ToPath), e.to_path);
    check_uris("From-Path", head.from_path(), e.from_path);
    check_uris(
        "From-Path by name",
        head.path(HeaderName::FromPath),
        e.from_path,
    );
    check_uris("Use-Path", head.use_path(), e.use_path);
    assert_eq!(
        head.message_id()
            .map(|id| id.as_str().to_owned())
            .as_deref(),
        e.message_id,
        "{tid} Message-ID"
    );
    assert_eq!(
        head.value(HeaderName::MessageId),
        e.message_id,
        "{tid} Message-ID value"
    );
    assert_eq!(head.byte_range(), e.byte_range, "{tid} Byte-Range");
    assert_eq!(
        head.value(HeaderName::ByteRange),
        e.byte_range.map(|r| r.to_string()).as_deref(),
        "{tid} Byte-Range written back"
    );
    assert_eq!(
        head.success_report(),
        e.success_report,
        "{tid} Success-Report"
    );
    assert_eq!(
        head.failure_report(),
        e.failure_report,
        "{tid} Failure-Report"
    );
    assert_eq!(
        head.status()
            .map(|s| (s.namespace, s.code.as_u16(), s.reason)),
        e.status_header,
        "{tid} Status header"
    );
    assert_eq!(head.content_type(), e.content_type, "{tid} Content-Type");
    assert_eq!(
        head.value(HeaderName::WwwAuthenticate),
        e.www_authenticate,
        "{tid} WWW-Authenticate"
    );
    assert_eq!(
        head.value(HeaderName::Authorization),
        e.authorization,
        "{tid} Authorization"
    );
    assert_eq!(
        head.value(HeaderName::AuthenticationInfo),
        e.authentication_info,
        "{tid} Authentication-Info"
    );
    assert_eq!(head.expires(), e.expires, "{tid} Expires");
    assert_eq!(head.min_expires(), e.min_expires, "{tid} Min-Expires");
    assert_eq!(head.max_expires(), e.max_expires, "{tid} Max-Expires");
    assert_eq!(head.use_nickname(), e.use_nickname, "{tid} Use-Nickname");
    let headers: Vec<(HeaderName, &str, &str)> = head.headers().collect();
    assert_eq!(headers, e.headers, "{tid} headers in order");
    assert_eq!(head.has_body(), e.has_body, "{tid} has_body");
    assert_eq!(frame.body, e.body, "{tid} body");
    assert_eq!(frame.flag, e.flag, "{tid} continuation flag");
}

/// Decodes `input` (whole and split), checks each frame against `expected`, and
/// checks the re-encoded frames equal `input` byte for byte.
fn golden(input: &[u8], expected: &[Expect]) {
    for step in [input.len(), 1] {
        let frames = decode_frames(input, step);
        assert_eq!(frames.len(), expected.len(), "frames, fed {step} at a time");
        for (frame, e) in frames.iter().zip(expected) {
            check_frame(frame, e);
        }
    }
    let frames = decode_everywhere(input);
    let again = reencode(&frames);
    assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(input),
        "re-encoded text"
    );
    assert_eq!(again, input, "re-encoded bytes");
    // Each head written back alone is exactly the head's bytes as received.
    let mut encoder = Encoder::new();
    for frame in &frames {
        let head = encoder.head(&frame.head);
        assert_eq!(&head[..], &frame.head.as_bytes()[..]);
    }
}

// ---------------------------------------------------------------------------------
// URIs of the RFC examples
// ---------------------------------------------------------------------------------

const BILOXI: Uri = uri(
    "msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp",
    Scheme::Msrp,
    None,
    "biloxi.example.com",
    Some(12763),
    Some("kjhd37s2s20w2a"),
    "tcp",
);
const ATLANTA: Uri = uri(
    "msrp://atlanta.example.com:7654/jshA7weztas;tcp",
    Scheme::Msrp,
    None,
    "atlanta.example.com",
    Some(7654),
    Some("jshA7weztas"),
    "tcp",
);
const BOB: Uri = uri(
    "msrp://bob.example.com:8888/9di4eae923wzd;tcp",
    Scheme::Msrp,
    None,
    "bob.example.com",
    Some(8888),
    Some("9di4eae923wzd"),
    "tcp",
);
const ALICEPC: Uri = uri(
    "msrp://alicepc.example.com:7777/iau39soe2843z;tcp",
    Scheme::Msrp,
    None,
    "alicepc.example.com",
    Some(7777),
    Some("iau39soe2843z"),
    "tcp",
);
const INTRA: Uri = uri(
    "msrps://alice@intra.example.com;tcp",
    Scheme::Msrps,
    Some("alice"),
    "intra.example.com",
    None,
    None,
    "tcp",
);
const ALICE_TLS: Uri = uri(
    "msrps://alice.example.com:9892/98cjs;tcp",
    Scheme::Msrps,
    None,
    "alice.example.com",
    Some(9892),
    Some("98cjs"),
    "tcp",
);

// ---------------------------------------------------------------------------------
// The golden files
// ---------------------------------------------------------------------------------

const RFC4975_4_SEND: &[u8] = include_bytes!("golden/rfc4975_4_send.msrp");
const RFC4975_4_OK: &[u8] = include_bytes!("golden/rfc4975_4_ok.msrp");
const RFC4975_11_1_SEND: &[u8] = include_bytes!("golden/rfc4975_11_1_send.msrp");
const RFC4975_11_1_OK: &[u8] = include_bytes!("golden/rfc4975_11_1_ok.msrp");
const RFC4975_REPORT: &[u8] = include_bytes!("golden/rfc4975_report.msrp");
const RFC4976_AUTH_1: &[u8] = include_bytes!("golden/rfc4976_auth_1.msrp");
const RFC4976_AUTH_401: &[u8] = include_bytes!("golden/rfc4976_auth_401.msrp");
const RFC4976_AUTH_2: &[u8] = include_bytes!("golden/rfc4976_auth_2.msrp");

#[test]
fn every_golden_file_is_covered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/golden")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("utf-8")
        })
        .filter(|name| name.ends_with(".msrp"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "rfc4975_11_1_ok.msrp",
            "rfc4975_11_1_send.msrp",
            "rfc4975_4_ok.msrp",
            "rfc4975_4_send.msrp",
            "rfc4975_report.msrp",
            "rfc4976_auth_1.msrp",
            "rfc4976_auth_2.msrp",
            "rfc4976_auth_401.msrp",
        ],
        "a new golden file needs a test here"
    );
}

#[test]
fn rfc4975_4_send() {
    golden(
        RFC4975_4_SEND,
        &[Expect {
            tid: "a786hjs2",
            method: Some(Method::Send),
            method_name: Some("SEND"),
            status: None,
            comment: None,
            to_path: &[BILOXI],
            from_path: &[ATLANTA],
            use_path: &[],
            message_id: Some("87652491"),
            // 25 counts the CRLF before the end-line: the body is 23 octets.
            byte_range: range(1, Some(25), Some(25)),
            success_report: None,
            failure_report: None,
            status_header: None,
            content_type: Some("text/plain"),
            www_authenticate: None,
            authorization: None,
            authentication_info: None,
            expires: None,
            min_expires: None,
            max_expires: None,
            use_nickname: None,
            headers: &[
                (
                    HeaderName::ToPath,
                    "To-Path",
                    "msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp",
                ),
                (
                    HeaderName::FromPath,
                    "From-Path",
                    "msrp://atlanta.example.com:7654/jshA7weztas;tcp",
                ),
                (HeaderName::MessageId, "Message-ID", "87652491"),
                (HeaderName::ByteRange, "Byte-Range", "1-25/25"),
                (HeaderName::ContentType, "Content-Type", "text/plain"),
            ],
            has_body: true,
            body: b"Hey Bob, are you there?",
            flag: ContinuationFlag::End,
        }],
    );
}

#[test]
fn rfc4975_4_ok() {
    golden(
        RFC4975_4_OK,
        &[Expect {
            tid: "a786hjs2",
            method: None,
            method_name: None,
            status: Some(200),
            comment: Some("OK"),
            to_path: &[ATLANTA],
            from_path: &[BILOXI],
            use_path: &[],
            message_id: None,
            byte_range: None,
            success_report: None,
            failure_report: None,
            status_header: None,
            content_type: None,
            www_authenticate: None,
            authorization: None,
            authentication_info: None,
            expires: None,
            min_expires: None,
            max_expires: None,
            use_nickname: None,
            headers: &[
                (
                    HeaderName::ToPath,
                    "To-Path",
                    "msrp://atlanta.example.com:7654/jshA7weztas;tcp",
                ),
                (
                    HeaderName::FromPath,
                    "From-Path",
                    "msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp",
                ),
            ],
            has_body: false,
            body: b"",
            flag: ContinuationFlag::End,
        }],
    );
}

#[test]
fn rfc4975_11_1_send() {
    golden(
        RFC4975_11_1_SEND,
        &[Expect {
            tid: "d93kswow",
            method: Some(Method::Send),
            method_name: Some("SEND"),
            status: None,
            comment: None,
            to_path: &[BOB],
            from_path: &[ALICEPC],
            use_path: &[],
            message_id: Some("12339sdqwer"),
            // 16 counts the CRLF before the end-line: the body is 14 octets.
            byte_range: range(1, Some(16), Some(16)),
            success_report: None,
            failure_report: None,
            status_header: None,
            content_type: Some("text/plain"),
            www_authenticate: None,
            authorization: None,
            authentication_info: None,
            expires: None,
            min_expires: None,
            max_expires: None,
            use_nickname: None,
            headers: &[
                (
                    HeaderName::ToPath,
                    "To-Path",
                    "msrp://bob.example.com:8888/9di4eae923wzd;tcp",
                ),
                (
                    HeaderName::FromPath,
                    "From-Path",
                    "msrp://alicepc.example.com:7777/iau39soe2843z;tcp",
                ),
                (HeaderName::MessageId, "Message-ID", "12339sdqwer"),
                (HeaderName::ByteRange, "Byte-Range", "1-16/16"),
                (HeaderName::ContentType, "Content-Type", "text/plain"),
            ],
            has_body: true,
            body: b"Hi, I'm Alice!",
            flag: ContinuationFlag::End,
        }],
    );
}

#[test]
fn rfc4975_11_1_ok() {
    golden(
        RFC4975_11_1_OK,
        &[Expect {
            tid: "d93kswow",
            method: None,
            method_name: None,
            status: Some(200),
            comment: Some("OK"),
            to_path: &[ALICEPC],
            from_path: &[BOB],
            use_path: &[],
            message_id: None,
            byte_range: None,
            success_report: None,
            failure_report: None,
            status_header: None,
            content_type: None,
            www_authenticate: None,
            authorization: None,
            authentication_info: None,
            expires: None,
            min_expires: None,
            max_expires: None,
            use_nickname: None,
            headers: &[
                (
                    HeaderName::ToPath,
                    "To-Path",
                    "msrp://alicepc.example.com:7777/iau39soe2843z;tcp",
                ),
                (
                    HeaderName::FromPath,
                    "From-Path",
                    "msrp://bob.example.com:8888/9di4eae923wzd;tcp",
                ),
            ],
            has_body: false,
            body: b"",
            flag: ContinuationFlag::End,
        }],
    );
}

#[test]
fn rfc4975_report() {
    golden(
        RFC4975_REPORT,
        &[Expect {
            tid: "dkei38sd",
            method: Some(Method::Report),
            method_name: Some("REPORT"),
            status: None,
            comment: None,
            to_path: &[ALICEPC],
            from_path: &[BOB],
            use_path: &[],
            message_id: Some("12339sdqwer"),
            byte_range: range(1, Some(106), Some(106)),
            success_report: None,
            failure_report: None,
            status_header: Some((0, 200, Some("OK"))),
            content_type: None,
            www_authenticate: None,
            authorization: None,
            authentication_info: None,
            expires: None,
            min_expires: None,
            max_expires: None,
            use_nickname: None,
            headers: &[
                (
                    HeaderName::ToPath,
                    "To-Path",
                    "msrp://alicepc.example.com:7777/iau39soe2843z;tcp",
                ),
                (
                    HeaderName::FromPath,
                    "From-Path",
                    "msrp://bob.example.com:8888/9di4eae923wzd;tcp",
                ),
                (HeaderName::MessageId, "Message-ID", "12339sdqwer"),
                (HeaderName::ByteRange, "Byte-Range", "1-106/106"),
                (HeaderName::Status, "Status", "000 200 OK"),
            ],
            has_body: false,
            body: b"",
            flag: ContinuationFlag::End,
        }],
    );
    let frames = decode_frames(RFC4975_REPORT, RFC4975_REPORT.len());
    let status = frames[0].head.status().expect("Status");
    assert_eq!(status.code, StatusCode::OK);
}

#[test]
fn rfc4976_auth_1() {
    golden(
        RFC4976_AUTH_1,
        &[Expect {
            tid: "49fh",
            method: Some(Method::Auth),
            method_name: Some("AUTH"),
            status: None,
            comment: None,
            to_path: &[INTRA],
            from_path: &[ALICE_TLS],
            use_path: &[],
            message_id: None,
            byte_range: None,
            success_report: None,
            failure_report: None,
            status_header: None,
            content_type: None,
            www_authenticate: None,
            authorization: None,
            authentication_info: None,
            expires: None,
            min_expires: None,
            max_expires: None,
            use_nickname: None,
            headers: &[
                (
                    HeaderName::ToPath,
                    "To-Path",
                    "msrps://alice@intra.example.com;tcp",
                ),
                (
                    HeaderName::FromPath,
                    "From-Path",
                    "msrps://alice.example.com:9892/98cjs;tcp",
                ),
            ],
            has_body: false,
            body: b"",
            flag: ContinuationFlag::End,
        }],
    );
}

const WWW_AUTHENTICATE: &str = "Digest realm=\"intra.example.com\", qop=\"auth\", \
    nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\"";

#[test]
fn rfc4976_auth_401() {
    golden(
        RFC4976_AUTH_401,
        &[Expect {
            tid: "49fh",
            method: None,
            method_name: None,
            status: Some(401),
            comment: Some("Unauthorized"),
            to_path: &[ALICE_TLS],
            from_path: &[INTRA],
            use_path: &[],
            message_id: None,
            byte_range: None,
            success_report: None,
            failure_report: None,
            status_header: None,
            content_type: None,
            www_authenticate: Some(WWW_AUTHENTICATE),
            authorization: None,
            authentication_info: None,
            expires: None,
            min_expires: None,
            max_expires: None,
            use_nickname: None,
            headers: &[
                (
                    HeaderName::ToPath,
                    "To-Path",
                    "msrps://alice.example.com:9892/98cjs;tcp",
                ),
                (
                    HeaderName::FromPath,
                    "From-Path",
                    "msrps://alice@intra.example.com;tcp",
                ),
                (
                    HeaderName::WwwAuthenticate,
                    "WWW-Authenticate",
                    WWW_AUTHENTICATE,
                ),
            ],
            has_body: false,
            body: b"",
            flag: ContinuationFlag::End,
        }],
    );
}

const AUTHORIZATION: &str = "Digest username=\"Alice\", realm=\"intra.example.com\", \
    nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", qop=auth, nc=00000001, \
    cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\"";

#[test]
fn rfc4976_auth_2() {
    golden(
        RFC4976_AUTH_2,
        &[Expect {
            tid: "49fi",
            method: Some(Method::Auth),
            method_name: Some("AUTH"),
            status: None,
            comment: None,
            to_path: &[INTRA],
            from_path: &[ALICE_TLS],
            use_path: &[],
            message_id: None,
            byte_range: None,
            success_report: None,
            failure_report: None,
            status_header: None,
            content_type: None,
            www_authenticate: None,
            authorization: Some(AUTHORIZATION),
            authentication_info: None,
            expires: None,
            min_expires: None,
            max_expires: None,
            use_nickname: None,
            headers: &[
                (
                    HeaderName::ToPath,
                    "To-Path",
                    "msrps://alice@intra.example.com;tcp",
                ),
                (
                    HeaderName::FromPath,
                    "From-Path",
                    "msrps://alice.example.com:9892/98cjs;tcp",
                ),
                (HeaderName::Authorization, "Authorization", AUTHORIZATION),
            ],
            has_body: false,
            body: b"",
            flag: ContinuationFlag::End,
        }],
    );
}

#[test]
fn all_golden_files_in_one_stream() {
    // The files back to back on one connection decode to the same frames in order.
    let files = [
        RFC4975_4_SEND,
        RFC4975_4_OK,
        RFC4975_11_1_SEND,
        RFC4975_11_1_OK,
        RFC4975_REPORT,
        RFC4976_AUTH_1,
        RFC4976_AUTH_401,
        RFC4976_AUTH_2,
    ];
    let stream = files.concat();
    let frames = decode_everywhere(&stream);
    assert_eq!(frames.len(), files.len());
    let tids: Vec<&str> = frames
        .iter()
        .map(|f| f.head.transaction_id().as_str())
        .collect();
    assert_eq!(
        tids,
        [
            "a786hjs2", "a786hjs2", "d93kswow", "d93kswow", "dkei38sd", "49fh", "49fh", "49fi"
        ]
    );
    assert_eq!(reencode(&frames), stream);
}

// ---------------------------------------------------------------------------------
// Inline golden frames built from the ABNF
// ---------------------------------------------------------------------------------

const RELAY_1: Uri = uri(
    "msrps://intra.example.com:9000/jui787s2f;tcp",
    Scheme::Msrps,
    None,
    "intra.example.com",
    Some(9000),
    Some("jui787s2f"),
    "tcp",
);
const RELAY_2: Uri = uri(
    "msrps://relay2.example.net:9001/7gh3kd;tcp",
    Scheme::Msrps,
    None,
    "relay2.example.net",
    Some(9001),
    Some("7gh3kd"),
    "tcp",
);

/// RFC 4976 §5-style: the relay accepts the second AUTH and gives the client the
/// path to put in its SDP (here two relays) and the lifetime of that path.
const AUTH_200: &[u8] = b"MSRP 49fi 200 OK\r\n\
To-Path: msrps://alice.example.com:9892/98cjs;tcp\r\n\
From-Path: msrps://alice@intra.example.com;tcp\r\n\
Use-Path: msrps://intra.example.com:9000/jui787s2f;tcp msrps://relay2.example.net:9001/7gh3kd;tcp\r\n\
Expires: 900\r\n\
-------49fi$\r\n";

#[test]
fn auth_200_with_use_path_and_expires() {
    golden(
        AUTH_200,
        &[Expect {
            tid: "49fi",
            status: Some(200),
            comment: Some("OK"),
            to_path: &[ALICE_TLS],
            from_path: &[INTRA],
            use_path: &[RELAY_1, RELAY_2],
            expires: Some(900),
            headers: &[
                (
                    HeaderName::ToPath,
                    "To-Path",
                    "msrps://alice.example.com:9892/98cjs;tcp",
                ),
                (
                    HeaderName::FromPath,
                    "From-Path",
                    "msrps://alice@intra.example.com;tcp",
                ),
                (
                    HeaderName::UsePath,
                    "Use-Path",
                    "msrps://intra.example.com:9000/jui787s2f;tcp \
                     msrps://relay2.example.net:9001/7gh3kd;tcp",
                ),
                (HeaderName::Expires, "Expires", "900"),
            ],
            ..BARE
        }],
    );
}

/// RFC 4976: an AUTH whose Expires is out of bounds is refused with 423 and the
/// bounds the relay accepts.
const AUTH_423: &[u8] = b"MSRP 49fj 423 Parameter out of bounds\r\n\
To-Path: msrps://alice.example.com:9892/98cjs;tcp\r\n\
From-Path: msrps://alice@intra.example.com;tcp\r\n\
Min-Expires: 600\r\n\
Max-Expires: 3600\r\n\
-------49fj$\r\n";

#[test]
fn auth_423_with_min_and_max_expires() {
    golden(
        AUTH_423,
        &[Expect {
            tid: "49fj",
            status: Some(423),
            comment: Some("Parameter out of bounds"),
            to_path: &[ALICE_TLS],
            from_path: &[INTRA],
            min_expires: Some(600),
            max_expires: Some(3600),
            headers: &[
                (
                    HeaderName::ToPath,
                    "To-Path",
                    "msrps://alice.example.com:9892/98cjs;tcp",
                ),
                (
                    HeaderName::FromPath,
                    "From-Path",
                    "msrps://alice@intra.example.com;tcp",
                ),
                (HeaderName::MinExpires, "Min-Expires", "600"),
                (HeaderName::MaxExpires, "Max-Expires", "3600"),
            ],
            ..BARE
        }],
    );
}

const CHAT: Uri = uri(
    "msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp",
    Scheme::Msrp,
    None,
    "chat.example.com",
    Some(12763),
    Some("kjhd37s2s20w2a"),
    "tcp",
);
const ALICE_CHAT: Uri = uri(
    "msrp://alice.example.com:7654/jshA7weztas;tcp",
    Scheme::Msrp,
    None,
    "alice.example.com",
    Some(7654),
    Some("jshA7weztas"),
    "tcp",
);

/// RFC 7701 §8: a participant asks the chat room for a nickname.
const NICKNAME: &[u8] = b"MSRP nick7701 NICKNAME\r\n\
To-Path: msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
From-Path: msrp://alice.example.com:7654/jshA7weztas;tcp\r\n\
Use-Nickname: \"Alice the Great\"\r\n\
-------nick7701$\r\n";

const NICKNAME_200: &[u8] = b"MSRP nick7701 200 OK\r\n\
To-Path: msrp://alice.example.com:7654/jshA7weztas;tcp\r\n\
From-Path: msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
-------nick7701$\r\n";

const NICKNAME_425: &[u8] = b"MSRP nick7701 425 Nickname reserved or already in use\r\n\
To-Path: msrp://alice.example.com:7654/jshA7weztas;tcp\r\n\
From-Path: msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
-------nick7701$\r\n";

const NICK_RESPONSE_HEADERS: &[(HeaderName, &str, &str)] = &[
    (
        HeaderName::ToPath,
        "To-Path",
        "msrp://alice.example.com:7654/jshA7weztas;tcp",
    ),
    (
        HeaderName::FromPath,
        "From-Path",
        "msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp",
    ),
];

#[test]
fn nickname_request_and_its_responses() {
    golden(
        NICKNAME,
        &[Expect {
            tid: "nick7701",
            method: Some(Method::Nickname),
            method_name: Some("NICKNAME"),
            to_path: &[CHAT],
            from_path: &[ALICE_CHAT],
            use_nickname: Some("\"Alice the Great\""),
            headers: &[
                (
                    HeaderName::ToPath,
                    "To-Path",
                    "msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp",
                ),
                (
                    HeaderName::FromPath,
                    "From-Path",
                    "msrp://alice.example.com:7654/jshA7weztas;tcp",
                ),
                (
                    HeaderName::UseNickname,
                    "Use-Nickname",
                    "\"Alice the Great\"",
                ),
            ],
            ..BARE
        }],
    );
    golden(
        NICKNAME_200,
        &[Expect {
            tid: "nick7701",
            status: Some(200),
            comment: Some("OK"),
            to_path: &[ALICE_CHAT],
            from_path: &[CHAT],
            headers: NICK_RESPONSE_HEADERS,
            ..BARE
        }],
    );
    golden(
        NICKNAME_425,
        &[Expect {
            tid: "nick7701",
            status: Some(425),
            comment: Some("Nickname reserved or already in use"),
            to_path: &[ALICE_CHAT],
            from_path: &[CHAT],
            headers: NICK_RESPONSE_HEADERS,
            ..BARE
        }],
    );
    let frames = decode_frames(NICKNAME_425, NICKNAME_425.len());
    assert_eq!(
        frames[0].head.response_status(),
        Some(StatusCode::NICKNAME_IN_USE)
    );
}

/// RFC 4975 §5.1 style: "abcdEFGH" in two chunks; the first does not know its end
/// yet (`1-*/8`) and ends `+`, the second has a new transaction id, the same
/// Message-ID and ends `$`.
const TWO_CHUNKS: &[u8] = b"MSRP dkei38sd SEND\r\n\
To-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp\r\n\
From-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp\r\n\
Message-ID: 4564dpWd\r\n\
Byte-Range: 1-*/8\r\n\
Content-Type: text/plain\r\n\
\r\n\
abcd\r\n\
-------dkei38sd+\r\n\
MSRP dkei38ia SEND\r\n\
To-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp\r\n\
From-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp\r\n\
Message-ID: 4564dpWd\r\n\
Byte-Range: 5-8/8\r\n\
Content-Type: text/plain\r\n\
\r\n\
EFGH\r\n\
-------dkei38ia$\r\n";

#[test]
fn chunked_message_in_two_chunks() {
    const fn chunk_headers(range: &'static str) -> [(HeaderName, &'static str, &'static str); 5] {
        [
            (
                HeaderName::ToPath,
                "To-Path",
                "msrp://bob.example.com:8888/9di4eae923wzd;tcp",
            ),
            (
                HeaderName::FromPath,
                "From-Path",
                "msrp://alicepc.example.com:7777/iau39soe2843z;tcp",
            ),
            (HeaderName::MessageId, "Message-ID", "4564dpWd"),
            (HeaderName::ByteRange, "Byte-Range", range),
            (HeaderName::ContentType, "Content-Type", "text/plain"),
        ]
    }
    const FIRST: [(HeaderName, &str, &str); 5] = chunk_headers("1-*/8");
    const SECOND: [(HeaderName, &str, &str); 5] = chunk_headers("5-8/8");
    golden(
        TWO_CHUNKS,
        &[
            Expect {
                tid: "dkei38sd",
                method: Some(Method::Send),
                method_name: Some("SEND"),
                to_path: &[BOB],
                from_path: &[ALICEPC],
                message_id: Some("4564dpWd"),
                byte_range: range(1, None, Some(8)),
                content_type: Some("text/plain"),
                headers: &FIRST,
                has_body: true,
                body: b"abcd",
                flag: ContinuationFlag::More,
                ..BARE
            },
            Expect {
                tid: "dkei38ia",
                method: Some(Method::Send),
                method_name: Some("SEND"),
                to_path: &[BOB],
                from_path: &[ALICEPC],
                message_id: Some("4564dpWd"),
                byte_range: range(5, Some(8), Some(8)),
                content_type: Some("text/plain"),
                headers: &SECOND,
                has_body: true,
                body: b"EFGH",
                flag: ContinuationFlag::End,
                ..BARE
            },
        ],
    );
}

const CLIENT: Uri = uri(
    "msrp://client.example.com:7777/c1;tcp",
    Scheme::Msrp,
    None,
    "client.example.com",
    Some(7777),
    Some("c1"),
    "tcp",
);
const SWITCH: Uri = uri(
    "msrp://sw.example.net:2855/s1;tcp",
    Scheme::Msrp,
    None,
    "sw.example.net",
    Some(2855),
    Some("s1"),
    "tcp",
);
const SW_TO: (HeaderName, &str, &str) = (
    HeaderName::ToPath,
    "To-Path",
    "msrp://sw.example.net:2855/s1;tcp",
);
const CLIENT_FROM: (HeaderName, &str, &str) = (
    HeaderName::FromPath,
    "From-Path",
    "msrp://client.example.com:7777/c1;tcp",
);

/// RFC 4975 §7.1: the sender gives up on a message: the chunk ends with `#`.
const ABORT: &[u8] = b"MSRP abrt0001 SEND\r\n\
To-Path: msrp://sw.example.net:2855/s1;tcp\r\n\
From-Path: msrp://client.example.com:7777/c1;tcp\r\n\
Message-ID: abort-msg-1\r\n\
Byte-Range: 1-*/*\r\n\
Failure-Report: no\r\n\
Content-Type: application/octet-stream\r\n\
\r\n\
partial da\r\n\
-------abrt0001#\r\n";

#[test]
fn aborted_chunk() {
    golden(
        ABORT,
        &[Expect {
            tid: "abrt0001",
            method: Some(Method::Send),
            method_name: Some("SEND"),
            to_path: &[SWITCH],
            from_path: &[CLIENT],
            message_id: Some("abort-msg-1"),
            byte_range: range(1, None, None),
            failure_report: Some(FailureReport::No),
            content_type: Some("application/octet-stream"),
            headers: &[
                SW_TO,
                CLIENT_FROM,
                (HeaderName::MessageId, "Message-ID", "abort-msg-1"),
                (HeaderName::ByteRange, "Byte-Range", "1-*/*"),
                (HeaderName::FailureReport, "Failure-Report", "no"),
                (
                    HeaderName::ContentType,
                    "Content-Type",
                    "application/octet-stream",
                ),
            ],
            has_body: true,
            body: b"partial da",
            flag: ContinuationFlag::Abort,
            ..BARE
        }],
    );
}

/// RFC 4975 §5.4 / §7.3.1: the active side binds the connection with a SEND without
/// a body: no Content-Type, `Byte-Range: 1-0/0`, the end-line right after the headers.
const BIND_SEND: &[u8] = b"MSRP bind0001 SEND\r\n\
To-Path: msrp://sw.example.net:2855/s1;tcp\r\n\
From-Path: msrp://client.example.com:7777/c1;tcp\r\n\
Message-ID: bind-msg-1\r\n\
Byte-Range: 1-0/0\r\n\
-------bind0001$\r\n";

#[test]
fn bodiless_bind_send() {
    golden(
        BIND_SEND,
        &[Expect {
            tid: "bind0001",
            method: Some(Method::Send),
            method_name: Some("SEND"),
            to_path: &[SWITCH],
            from_path: &[CLIENT],
            message_id: Some("bind-msg-1"),
            byte_range: Some(ByteRange::whole(0)),
            headers: &[
                SW_TO,
                CLIENT_FROM,
                (HeaderName::MessageId, "Message-ID", "bind-msg-1"),
                (HeaderName::ByteRange, "Byte-Range", "1-0/0"),
            ],
            ..BARE
        }],
    );
}

/// `other-method = 1*UPALPHA`: an unknown method decodes (the switch answers 501).
const FOO: &[u8] = b"MSRP foo00001 FOO\r\n\
To-Path: msrp://sw.example.net:2855/s1;tcp\r\n\
From-Path: msrp://client.example.com:7777/c1;tcp\r\n\
-------foo00001$\r\n";

#[test]
fn unknown_method() {
    golden(
        FOO,
        &[Expect {
            tid: "foo00001",
            method: Some(Method::Other),
            method_name: Some("FOO"),
            to_path: &[SWITCH],
            from_path: &[CLIENT],
            headers: &[SW_TO, CLIENT_FROM],
            ..BARE
        }],
    );
}

/// RFC 4975 §12: unknown headers are kept, in order, and written back unchanged.
const UNKNOWN_HEADERS: &[u8] = b"MSRP xhdr0001 SEND\r\n\
To-Path: msrp://sw.example.net:2855/s1;tcp\r\n\
X-Hop-Count: 3\r\n\
From-Path: msrp://client.example.com:7777/c1;tcp\r\n\
Message-ID: xhdr-msg-1\r\n\
x-lower-case: Some Value, with; punctuation=\"q\"\r\n\
Byte-Range: 1-5/5\r\n\
X-Empty:\r\n\
X-Hop-Count: 4\r\n\
Content-Type: text/plain\r\n\
\r\n\
hello\r\n\
-------xhdr0001$\r\n";

#[test]
fn unknown_headers_kept_in_order() {
    golden(
        UNKNOWN_HEADERS,
        &[Expect {
            tid: "xhdr0001",
            method: Some(Method::Send),
            method_name: Some("SEND"),
            to_path: &[SWITCH],
            from_path: &[CLIENT],
            message_id: Some("xhdr-msg-1"),
            byte_range: Some(ByteRange::whole(5)),
            content_type: Some("text/plain"),
            headers: &[
                SW_TO,
                (HeaderName::Other, "X-Hop-Count", "3"),
                CLIENT_FROM,
                (HeaderName::MessageId, "Message-ID", "xhdr-msg-1"),
                (
                    HeaderName::Other,
                    "x-lower-case",
                    "Some Value, with; punctuation=\"q\"",
                ),
                (HeaderName::ByteRange, "Byte-Range", "1-5/5"),
                (HeaderName::Other, "X-Empty", ""),
                (HeaderName::Other, "X-Hop-Count", "4"),
                (HeaderName::ContentType, "Content-Type", "text/plain"),
            ],
            has_body: true,
            body: b"hello",
            ..BARE
        }],
    );
    // `value` gives the first of repeated extension headers.
    let frames = decode_frames(UNKNOWN_HEADERS, UNKNOWN_HEADERS.len());
    assert_eq!(frames[0].head.value(HeaderName::Other), Some("3"));
}

/// RFC 4975 §9 content-stuff: `*(Other-Mime-header CRLF) Content-Type 2CRLF`.
const MIME_HEADERS: &[u8] = b"MSRP mime0001 SEND\r\n\
To-Path: msrp://sw.example.net:2855/s1;tcp\r\n\
From-Path: msrp://client.example.com:7777/c1;tcp\r\n\
Message-ID: mime-msg-0001\r\n\
Success-Report: yes\r\n\
Failure-Report: partial\r\n\
Byte-Range: 1-11/11\r\n\
Content-ID: <part1@client.example.com>\r\n\
Content-Description: A short greeting\r\n\
Content-Disposition: inline\r\n\
Content-Language: en\r\n\
Content-Type: text/plain;charset=UTF-8\r\n\
\r\n\
Hello there\r\n\
-------mime0001$\r\n";

#[test]
fn send_with_mime_content_headers() {
    golden(
        MIME_HEADERS,
        &[Expect {
            tid: "mime0001",
            method: Some(Method::Send),
            method_name: Some("SEND"),
            to_path: &[SWITCH],
            from_path: &[CLIENT],
            message_id: Some("mime-msg-0001"),
            byte_range: Some(ByteRange::whole(11)),
            success_report: Some(SuccessReport::Yes),
            failure_report: Some(FailureReport::Partial),
            content_type: Some("text/plain;charset=UTF-8"),
            headers: &[
                SW_TO,
                CLIENT_FROM,
                (HeaderName::MessageId, "Message-ID", "mime-msg-0001"),
                (HeaderName::SuccessReport, "Success-Report", "yes"),
                (HeaderName::FailureReport, "Failure-Report", "partial"),
                (HeaderName::ByteRange, "Byte-Range", "1-11/11"),
                (
                    HeaderName::ContentId,
                    "Content-ID",
                    "<part1@client.example.com>",
                ),
                (
                    HeaderName::ContentDescription,
                    "Content-Description",
                    "A short greeting",
                ),
                (
                    HeaderName::ContentDisposition,
                    "Content-Disposition",
                    "inline",
                ),
                (HeaderName::OtherContent, "Content-Language", "en"),
                (
                    HeaderName::ContentType,
                    "Content-Type",
                    "text/plain;charset=UTF-8",
                ),
            ],
            has_body: true,
            body: b"Hello there",
            ..BARE
        }],
    );
    let frames = decode_frames(MIME_HEADERS, MIME_HEADERS.len());
    let head = &frames[0].head;
    assert_eq!(
        head.value(HeaderName::ContentId),
        Some("<part1@client.example.com>")
    );
    assert_eq!(
        head.value(HeaderName::ContentDescription),
        Some("A short greeting")
    );
    assert_eq!(head.value(HeaderName::ContentDisposition), Some("inline"));
    assert_eq!(head.value(HeaderName::OtherContent), Some("en"));
}

/// Lenient input, kept as documented: `Name:value` without the SP the ABNF asks for,
/// header names in any case, and a response with an empty comment. Each is written
/// back exactly as received.
const LENIENT: &[u8] = b"MSRP lnt00001 SEND\r\n\
to-path:msrp://sw.example.net:2855/s1;tcp\r\n\
FROM-PATH: msrp://client.example.com:7777/c1;tcp\r\n\
Byte-Range:1-3/3\r\n\
content-type:text/plain\r\n\
\r\n\
abc\r\n\
-------lnt00001$\r\n\
MSRP lnt00001 200 \r\n\
To-Path: msrp://client.example.com:7777/c1;tcp\r\n\
From-Path: msrp://sw.example.net:2855/s1;tcp\r\n\
-------lnt00001$\r\n";

#[test]
fn lenient_spacing_and_case_round_trip() {
    golden(
        LENIENT,
        &[
            Expect {
                tid: "lnt00001",
                method: Some(Method::Send),
                method_name: Some("SEND"),
                to_path: &[SWITCH],
                from_path: &[CLIENT],
                byte_range: Some(ByteRange::whole(3)),
                content_type: Some("text/plain"),
                headers: &[
                    (
                        HeaderName::ToPath,
                        "to-path",
                        "msrp://sw.example.net:2855/s1;tcp",
                    ),
                    (
                        HeaderName::FromPath,
                        "FROM-PATH",
                        "msrp://client.example.com:7777/c1;tcp",
                    ),
                    (HeaderName::ByteRange, "Byte-Range", "1-3/3"),
                    (HeaderName::ContentType, "content-type", "text/plain"),
                ],
                has_body: true,
                body: b"abc",
                ..BARE
            },
            Expect {
                tid: "lnt00001",
                status: Some(200),
                comment: Some(""),
                to_path: &[CLIENT],
                from_path: &[SWITCH],
                headers: &[
                    (
                        HeaderName::ToPath,
                        "To-Path",
                        "msrp://client.example.com:7777/c1;tcp",
                    ),
                    (
                        HeaderName::FromPath,
                        "From-Path",
                        "msrp://sw.example.net:2855/s1;tcp",
                    ),
                ],
                ..BARE
            },
        ],
    );
}

/// A body that holds CRLF, dashes and the transaction id in ways that are not the
/// end-line, and a response without a comment.
const TRICKY_BODY: &[u8] = b"MSRP trky0001 SEND\r\n\
To-Path: msrp://sw.example.net:2855/s1;tcp\r\n\
From-Path: msrp://client.example.com:7777/c1;tcp\r\n\
Content-Type: text/plain\r\n\
\r\n\
-------\r\n--------trky0001$\r\n-------trky00012$\r\n-------trky0001x\r\n\r\n\
-------trky0001$\r\n\
MSRP trky0001 200\r\n\
To-Path: msrp://client.example.com:7777/c1;tcp\r\n\
From-Path: msrp://sw.example.net:2855/s1;tcp\r\n\
-------trky0001$\r\n";

#[test]
fn body_with_near_end_lines() {
    golden(
        TRICKY_BODY,
        &[
            Expect {
                tid: "trky0001",
                method: Some(Method::Send),
                method_name: Some("SEND"),
                to_path: &[SWITCH],
                from_path: &[CLIENT],
                content_type: Some("text/plain"),
                headers: &[
                    SW_TO,
                    CLIENT_FROM,
                    (HeaderName::ContentType, "Content-Type", "text/plain"),
                ],
                has_body: true,
                body: b"-------\r\n--------trky0001$\r\n-------trky00012$\r\n-------trky0001x\r\n",
                ..BARE
            },
            Expect {
                tid: "trky0001",
                status: Some(200),
                comment: None,
                to_path: &[CLIENT],
                from_path: &[SWITCH],
                headers: &[
                    (
                        HeaderName::ToPath,
                        "To-Path",
                        "msrp://client.example.com:7777/c1;tcp",
                    ),
                    (
                        HeaderName::FromPath,
                        "From-Path",
                        "msrp://sw.example.net:2855/s1;tcp",
                    ),
                ],
                ..BARE
            },
        ],
    );
}

#[test]
fn ipv6_and_parameters_in_paths() {
    const V6: &[u8] = b"MSRP ipv6abcd SEND\r\n\
To-Path: msrp://[2001:db8::1]:2855/s1/x+y=;tcp msrps://bob@Bob.Example.com:9/b-2;ws;rel=x;flag\r\n\
From-Path: msrp://10.0.0.7:40112/uA4;tcp\r\n\
Content-Type: message/cpim\r\n\
\r\n\
x\r\n\
-------ipv6abcd$\r\n";
    const V6_TO: Uri = uri(
        "msrp://[2001:db8::1]:2855/s1/x+y=;tcp",
        Scheme::Msrp,
        None,
        "2001:db8::1",
        Some(2855),
        Some("s1/x+y="),
        "tcp",
    );
    const BOB_WS: Uri = Uri {
        params: "rel=x;flag",
        ..uri(
            "msrps://bob@Bob.Example.com:9/b-2;ws;rel=x;flag",
            Scheme::Msrps,
            Some("bob"),
            "Bob.Example.com",
            Some(9),
            Some("b-2"),
            "ws",
        )
    };
    const V4_FROM: Uri = uri(
        "msrp://10.0.0.7:40112/uA4;tcp",
        Scheme::Msrp,
        None,
        "10.0.0.7",
        Some(40112),
        Some("uA4"),
        "tcp",
    );
    golden(
        V6,
        &[Expect {
            tid: "ipv6abcd",
            method: Some(Method::Send),
            method_name: Some("SEND"),
            to_path: &[V6_TO, BOB_WS],
            from_path: &[V4_FROM],
            content_type: Some("message/cpim"),
            headers: &[
                (
                    HeaderName::ToPath,
                    "To-Path",
                    "msrp://[2001:db8::1]:2855/s1/x+y=;tcp \
                     msrps://bob@Bob.Example.com:9/b-2;ws;rel=x;flag",
                ),
                (
                    HeaderName::FromPath,
                    "From-Path",
                    "msrp://10.0.0.7:40112/uA4;tcp",
                ),
                (HeaderName::ContentType, "Content-Type", "message/cpim"),
            ],
            has_body: true,
            body: b"x",
            ..BARE
        }],
    );
    let frames = decode_frames(V6, V6.len());
    let to: Vec<MsrpUri> = frames[0].head.to_path().collect();
    assert_eq!(to[0].ip(), Some("2001:db8::1".parse().expect("ip")));
    let from: Vec<MsrpUri> = frames[0].head.from_path().collect();
    assert_eq!(from[0].ip(), Some("10.0.0.7".parse().expect("ip")));
}

// ---------------------------------------------------------------------------------
// Encoder: forward, response, request
// ---------------------------------------------------------------------------------

fn tid(text: &str) -> TransactionId {
    TransactionId::parse(text.as_bytes(), 32).expect("tid")
}

fn parse_uri(text: &str) -> MsrpUri {
    MsrpUri::parse_str(text).expect("uri")
}

#[test]
fn forward_rewrites_tid_and_paths_and_keeps_the_rest() {
    let frames = decode_frames(MIME_HEADERS, MIME_HEADERS.len());
    let frame = &frames[0];
    let to = [parse_uri("msrps://bob.example.org:2856/b0b5e55;tcp")];
    let from = [
        parse_uri("msrps://sw.example.net:2855/legB77;tcp"),
        parse_uri("msrp://client.example.com:7777/c1;tcp"),
    ];
    let rewrite = Rewrite {
        transaction_id: tid("fw9x2k7q"),
        to_path: &to,
        from_path: &from,
        message_id: None,
        byte_range: None,
    };
    let mut encoder = Encoder::new();
    let head = encoder.forward(&frame.head, &rewrite);
    let end = encoder.end_line(&rewrite.transaction_id, frame.flag, true);
    let wire = [&head[..], &frame.body, &end[..]].concat();
    let expected: &[u8] = b"MSRP fw9x2k7q SEND\r\n\
To-Path: msrps://bob.example.org:2856/b0b5e55;tcp\r\n\
From-Path: msrps://sw.example.net:2855/legB77;tcp msrp://client.example.com:7777/c1;tcp\r\n\
Message-ID: mime-msg-0001\r\n\
Success-Report: yes\r\n\
Failure-Report: partial\r\n\
Byte-Range: 1-11/11\r\n\
Content-ID: <part1@client.example.com>\r\n\
Content-Description: A short greeting\r\n\
Content-Disposition: inline\r\n\
Content-Language: en\r\n\
Content-Type: text/plain;charset=UTF-8\r\n\
\r\n\
Hello there\r\n\
-------fw9x2k7q$\r\n";
    assert_eq!(
        String::from_utf8_lossy(&wire),
        String::from_utf8_lossy(expected)
    );
    assert_eq!(wire, expected);

    // The forwarded frame decodes to the same body under the new id and paths.
    let again = decode_everywhere(&wire);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].head.transaction_id().as_str(), "fw9x2k7q");
    assert_eq!(again[0].body, frame.body);
    let to_again: Vec<MsrpUri> = again[0].head.to_path().collect();
    assert_eq!(to_again, to);
    let from_again: Vec<MsrpUri> = again[0].head.from_path().collect();
    assert_eq!(from_again, from);
}

#[test]
fn forward_with_new_message_id_and_byte_range() {
    let frames = decode_frames(TWO_CHUNKS, TWO_CHUNKS.len());
    let frame = &frames[0];
    let to = [parse_uri("msrp://b.example.org:1/legB;tcp")];
    let from = [parse_uri("msrp://sw.example.net:2855/legA;tcp")];
    let rewrite = Rewrite {
        transaction_id: tid("fwd2abcd"),
        to_path: &to,
        from_path: &from,
        message_id: Some(MessageId::parse(b"legB-msg-7", 32).expect("id")),
        byte_range: Some(ByteRange {
            start: 1,
            end: Some(4),
            total: Some(8),
        }),
    };
    let mut encoder = Encoder::new();
    let head = encoder.forward(&frame.head, &rewrite);
    let end = encoder.end_line(&rewrite.transaction_id, frame.flag, true);
    let wire = [&head[..], &frame.body, &end[..]].concat();
    let expected: &[u8] = b"MSRP fwd2abcd SEND\r\n\
To-Path: msrp://b.example.org:1/legB;tcp\r\n\
From-Path: msrp://sw.example.net:2855/legA;tcp\r\n\
Message-ID: legB-msg-7\r\n\
Byte-Range: 1-4/8\r\n\
Content-Type: text/plain\r\n\
\r\n\
abcd\r\n\
-------fwd2abcd+\r\n";
    assert_eq!(
        String::from_utf8_lossy(&wire),
        String::from_utf8_lossy(expected)
    );

    // A bodiless head forwards without the blank line.
    let bind = decode_frames(BIND_SEND, BIND_SEND.len());
    let rewrite = Rewrite {
        transaction_id: tid("fwd3abcd"),
        to_path: &to,
        from_path: &from,
        message_id: None,
        byte_range: None,
    };
    let head = encoder.forward(&bind[0].head, &rewrite);
    let end = encoder.end_line(&rewrite.transaction_id, bind[0].flag, false);
    let wire = [&head[..], &end[..]].concat();
    let expected: &[u8] = b"MSRP fwd3abcd SEND\r\n\
To-Path: msrp://b.example.org:1/legB;tcp\r\n\
From-Path: msrp://sw.example.net:2855/legA;tcp\r\n\
Message-ID: bind-msg-1\r\n\
Byte-Range: 1-0/0\r\n\
-------fwd3abcd$\r\n";
    assert_eq!(
        String::from_utf8_lossy(&wire),
        String::from_utf8_lossy(expected)
    );
}

#[test]
fn response_bytes_200_and_481() {
    // Answer the RFC 4975 §4 SEND: To-Path = its first From-Path URI (the previous
    // hop), From-Path = the responder (its first To-Path URI).
    let frames = decode_frames(RFC4975_4_SEND, RFC4975_4_SEND.len());
    let head = &frames[0].head;
    let previous_hop = head.from_path().next().expect("From-Path");
    let responder = head.to_path().next().expect("To-Path");
    let mut encoder = Encoder::new();
    let ok = encoder.response(
        head.transaction_id(),
        StatusCode::OK,
        &previous_hop,
        &responder,
    );
    assert_eq!(&ok[..], RFC4975_4_OK, "the RFC's own 200 OK");

    let gone = encoder.response(
        &tid("z9y8x7w6"),
        StatusCode::SESSION_DOES_NOT_EXIST,
        &parse_uri("msrp://client.example.com:7777/c1;tcp"),
        &parse_uri("msrp://sw.example.net:2855/s1;tcp"),
    );
    let expected: &[u8] = b"MSRP z9y8x7w6 481 Session does not exist\r\n\
To-Path: msrp://client.example.com:7777/c1;tcp\r\n\
From-Path: msrp://sw.example.net:2855/s1;tcp\r\n\
-------z9y8x7w6$\r\n";
    assert_eq!(
        String::from_utf8_lossy(&gone),
        String::from_utf8_lossy(expected)
    );
    assert_eq!(&gone[..], expected);

    // Both decode back as responses with the given codes.
    let both = decode_everywhere(&[&ok[..], &gone[..]].concat());
    let codes: Vec<Option<StatusCode>> = both.iter().map(|f| f.head.response_status()).collect();
    assert_eq!(
        codes,
        [
            Some(StatusCode::OK),
            Some(StatusCode::SESSION_DOES_NOT_EXIST)
        ]
    );
}

#[test]
fn request_writer_builds_the_rfc_report() {
    let mut encoder = Encoder::new();
    let head = encoder
        .request(&tid("dkei38sd"), "REPORT")
        .path(HeaderName::ToPath, &[parse_uri(ALICEPC.text)])
        .path(HeaderName::FromPath, &[parse_uri(BOB.text)])
        .message_id(&MessageId::parse(b"12339sdqwer", 32).expect("id"))
        .byte_range(&ByteRange::whole(106))
        .status(0, StatusCode::OK, Some("OK"))
        .finish(false);
    let end = encoder.end_line(&tid("dkei38sd"), ContinuationFlag::End, false);
    let wire: Bytes = [&head[..], &end[..]].concat().into();
    assert_eq!(&wire[..], RFC4975_REPORT);
}

/// A group copy is written as each member's own lines and lines shared by every
/// member (issue 20): the two together are byte for byte the copy written whole,
/// with the switch's Message-ID, Byte-Range and `Failure-Report: partial` in the
/// places `copy_request` puts them (replacing the sender's, or after From-Path).
#[test]
fn a_group_copy_in_two_parts_is_the_copy_written_whole() {
    let to = [parse_uri("msrp://m7.example.org:4107/m0007;tcp")];
    let from = [parse_uri("msrp://sw.example.net:2855/legM7;tcp")];
    let message_id = MessageId::parse(b"grp-out-41", 32).expect("id");
    let range = ByteRange {
        start: 1,
        end: Some(11),
        total: Some(11),
    };
    for input in [MIME_HEADERS, TWO_CHUNKS] {
        let frames = decode_frames(input, input.len());
        let head = &frames[0].head;
        let mut encoder = Encoder::new();
        let rewrite = Rewrite {
            transaction_id: tid("cp7a9z2q"),
            to_path: &to,
            from_path: &from,
            message_id: Some(message_id),
            byte_range: Some(range),
        };
        let whole = encoder.copy_request(head, &rewrite, FailureReport::Partial);
        let shared = encoder
            .copy_shared(head, message_id, range, FailureReport::Partial)
            .expect("To-Path and From-Path lead the head");
        let lines = Encoder::path_lines(&to, &from);
        assert_eq!(
            &lines[..],
            b"To-Path: msrp://m7.example.org:4107/m0007;tcp\r\n\
From-Path: msrp://sw.example.net:2855/legM7;tcp\r\n"
        );
        let (front, end) =
            encoder.copy_front_and_end(head, &tid("cp7a9z2q"), &lines, ContinuationFlag::More);
        assert_eq!(
            end,
            encoder.end_line(&tid("cp7a9z2q"), ContinuationFlag::More, true)
        );
        assert_eq!(&end[..], b"\r\n-------cp7a9z2q+\r\n");
        let parts = [&front[..], &shared[..]].concat();
        assert_eq!(
            String::from_utf8_lossy(&parts),
            String::from_utf8_lossy(&whole)
        );
        let text = String::from_utf8_lossy(&shared);
        assert!(text.contains("Message-ID: grp-out-41\r\n"), "{text}");
        assert!(text.contains("Byte-Range: 1-11/11\r\n"), "{text}");
        assert!(text.contains("Failure-Report: partial\r\n"), "{text}");
        assert!(
            !text.contains("To-Path") && !text.contains("From-Path"),
            "{text}"
        );
    }
}

/// A head whose first two headers are not To-Path and From-Path has no shared
/// part: each member's copy is then written whole.
#[test]
fn a_head_not_led_by_its_paths_has_no_shared_copy_part() {
    let input: &[u8] = b"MSRP odd1 SEND\r\n\
From-Path: msrp://a.example.com:7654/jshA7we;tcp\r\n\
To-Path: msrp://b.example.com:8888/9di4ea;tcp\r\n\
Message-ID: odd-1\r\n\
Byte-Range: 1-2/2\r\n\
Content-Type: text/plain\r\n\
\r\n\
hi\r\n\
-------odd1$\r\n";
    let frames = decode_frames(input, input.len());
    assert_eq!(frames.len(), 1);
    let range = ByteRange {
        start: 1,
        end: Some(2),
        total: Some(2),
    };
    let id = MessageId::parse(b"grp-out-42", 32).expect("id");
    let mut encoder = Encoder::new();
    assert!(
        encoder
            .copy_shared(&frames[0].head, id, range, FailureReport::Partial)
            .is_none()
    );
}
