//! The table of malformed (and a few boundary) inputs the adversarial suite writes
//! to the switch, one row per case: a name, the RFC 4975 section the bytes break (or,
//! for a control row, the rule at its boundary), the exact bytes, and what the
//! switch must do with them.
//!
//! The bytes are a template: each `{name}` below is replaced by the case's own
//! values before it is written, so every case can run against its own live 1:1
//! session on its own connection.
//!
//! | placeholder | value |
//! |---|---|
//! | `{tid}` | the case's transaction id, `t042adv` for case 42 |
//! | `{to}` | the switch's URI for participant X of the case's session (X's To-Path) |
//! | `{from}` | X's own path, as given in SDP (X's From-Path) |
//! | `{port}`, `{sid}` | the port and session-id of `{to}`; `{SID}` is `{sid}` with every letter's case swapped, `{sidcut}` without its last character |
//! | `{xsid}`, `{XSID}` | the session-id of `{from}`, and it with the case of its letters swapped |
//! | `{own}` | the switch's own URI, without a session-id: the responder when To-Path cannot be read |
//! | `{yto}`, `{yfrom}` | the same for the session's other participant Y (which accepts `text/plain` only, at most 100,000 bytes, and never connects) |
//! | `{hato}`, `{hafrom}`, `{hbto}`, `{hbfrom}` | the same for participants A and B of the healthy session that streams beside the cases |
//! | `{bind}` | a whole bodiless SEND from X (tid `b042bnd`) that binds the connection first; its 200 is expected before anything else |
//!
//! After the case's bytes the harness writes a probe in the same write: the bodiless
//! SEND from X that binds the connection (tid `p042prb`). A connection that goes on
//! answers it 200; one the switch closed never does, so "ignored" and "closed" are
//! told apart by bytes, not by waiting.

/// Status codes the switch writes on responses, with the comment it puts after them.
pub const REASONS: &[(u16, &str)] = &[
    (200, "OK"),
    (400, "Unintelligible"),
    (403, "Action not allowed"),
    (413, "Stop sending message"),
    (415, "Media type not understood"),
    (424, "Malformed nickname"),
    (481, "Session does not exist"),
    (501, "Method not understood"),
    (506, "Session already in use"),
];

/// One case.
pub struct Case {
    /// What is wrong with the bytes, in a few words.
    pub name: &'static str,
    /// The RFC 4975 (or 7701) section whose rule the bytes break.
    pub section: &'static str,
    /// The bytes, as a template.
    pub wire: Wire,
    /// What the switch must do.
    pub expect: Expect,
    /// `Some(what the switch does now)` for a row whose expectation is the RFC's and
    /// which the switch does not meet yet: it fails until the switch is fixed.
    pub bug: Option<&'static str>,
}

/// The bytes of a case.
pub enum Wire {
    /// Written out in the table.
    Text(&'static [u8]),
    /// Too long to write out (a limit is the point): built by the function.
    Built(fn() -> Vec<u8>),
}

/// What the switch must do with a case's bytes.
pub enum Expect {
    /// Answer with `status`, hop by hop (RFC 4975 §7.2): the exact response
    /// `MSRP tid status reason`, To-Path `to`, From-Path `from`, end-line `$`. The
    /// connection goes on (the probe is answered 200).
    Answer {
        status: u16,
        tid: &'static str,
        to: &'static str,
        from: &'static str,
    },
    /// No answer at all, and the connection goes on.
    Ignored,
    /// No answer, and the switch closes the connection at once (framing lost, or
    /// nothing to address an answer to on a connection that has not bound).
    Closed,
}

/// Answered `status`, To-Path the request's From-Path (`{from}`), From-Path its
/// To-Path (`{to}`).
const fn answer(status: u16) -> Expect {
    answer_at(status, "{from}", "{to}")
}

/// Answered `status` to `{from}`, from `from` (a To-Path written otherwise, or the
/// switch's own URI when To-Path could not be read).
const fn answer_from(status: u16, from: &'static str) -> Expect {
    answer_at(status, "{from}", from)
}

const fn answer_at(status: u16, to: &'static str, from: &'static str) -> Expect {
    Expect::Answer {
        status,
        tid: "{tid}",
        to,
        from,
    }
}

fn row(name: &'static str, section: &'static str, bytes: &'static [u8], expect: Expect) -> Case {
    Case {
        name,
        section,
        wire: Wire::Text(bytes),
        expect,
        bug: None,
    }
}

fn built(
    name: &'static str,
    section: &'static str,
    build: fn() -> Vec<u8>,
    expect: Expect,
) -> Case {
    Case {
        name,
        section,
        wire: Wire::Built(build),
        expect,
        bug: None,
    }
}

impl Case {
    /// Marks a row whose expectation the switch does not meet yet.
    fn bug(mut self, now: &'static str) -> Self {
        self.bug = Some(now);
        self
    }
}

/// Every case, in table order.
pub fn cases() -> Vec<Case> {
    [
        start_lines(),
        headers(),
        to_paths(),
        from_paths(),
        healthy_session_ids(),
        byte_ranges(),
        end_lines(),
        encodings(),
        methods(),
        stray_responses(),
        reports(),
        failure_reports(),
        sizes_and_media(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

const START: &str = "§7.1 start line";

fn start_lines() -> Vec<Case> {
    vec![
        row(
            "lowercase MSRP token",
            START,
            b"msrp {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "misspelt MSRP token",
            START,
            b"MSRQ {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "protocol version after the MSRP token",
            START,
            b"MSRP/1.0 {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "an HTTP request",
            START,
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            Expect::Closed,
        ),
        row(
            "a TLS ClientHello on the plain port",
            START,
            b"\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03\x00\x01\x02\x03\x04\x05\x06\x07\r\n",
            Expect::Closed,
        ),
        row(
            "CRLF before the start line",
            START,
            b"\r\nMSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "space before the start line",
            START,
            b" MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "UTF-8 byte order mark before the start line",
            START,
            b"\xef\xbb\xbfMSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "NUL before the start line",
            START,
            b"\0MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "lowercase method",
            START,
            b"MSRP {tid} send\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "mixed-case method",
            START,
            b"MSRP {tid} Send\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "no method",
            START,
            b"MSRP {tid}\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "empty method after the space",
            START,
            b"MSRP {tid} \r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "no transaction id",
            START,
            b"MSRP SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "two spaces after MSRP",
            START,
            b"MSRP  {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "two spaces before the method",
            START,
            b"MSRP {tid}  SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "space after the method",
            START,
            b"MSRP {tid} SEND \r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "tab as the separator",
            START,
            b"MSRP\t{tid}\tSEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "transaction id of 3 characters (ident is 4 to 32)",
            START,
            b"MSRP ab1 SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------ab1$\r\n",
            Expect::Closed,
        ),
        row(
            "transaction id of 33 characters",
            START,
            b"MSRP abcdefghijklmnopqrstuvwxyz0123456 SEND\r\nTo-Path: {to}\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n\
              -------abcdefghijklmnopqrstuvwxyz0123456$\r\n",
            Expect::Closed,
        ),
        row(
            "underscore in the transaction id",
            START,
            b"MSRP ab_cd123 SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------ab_cd123$\r\n",
            Expect::Closed,
        ),
        row(
            "slash in the transaction id",
            START,
            b"MSRP ab/cd123 SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------ab/cd123$\r\n",
            Expect::Closed,
        ),
        row(
            "transaction id starting with a dash",
            START,
            b"MSRP -abcd123 SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n--------abcd123$\r\n",
            Expect::Closed,
        ),
        row(
            "transaction id starting with a dot",
            START,
            b"MSRP .abcd123 SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------.abcd123$\r\n",
            Expect::Closed,
        ),
        row(
            "NUL in the transaction id",
            START,
            b"MSRP ab\0cd123 SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------ab\0cd123$\r\n",
            Expect::Closed,
        ),
        row(
            "non-UTF-8 byte in the transaction id",
            START,
            b"MSRP ab\xffcd123 SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------ab\xffcd123$\r\n",
            Expect::Closed,
        ),
        row(
            "digit in the method",
            START,
            b"MSRP {tid} SEND2\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "dash in the method",
            START,
            b"MSRP {tid} X-SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "two-digit status code",
            START,
            b"MSRP {tid} 20 OK\r\nTo-Path: {from}\r\nFrom-Path: {to}\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "four-digit status code",
            START,
            b"MSRP {tid} 2000 OK\r\nTo-Path: {from}\r\nFrom-Path: {to}\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "status code below 100",
            START,
            b"MSRP {tid} 099 Low\r\nTo-Path: {from}\r\nFrom-Path: {to}\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "status code run into its comment",
            START,
            b"MSRP {tid} 200OK\r\nTo-Path: {from}\r\nFrom-Path: {to}\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "NUL after the method",
            START,
            b"MSRP {tid} SEND\0\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "bare LF ending the start line",
            START,
            b"MSRP {tid} SEND\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "CR CR LF ending the start line",
            START,
            b"MSRP {tid} SEND\r\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        // Controls at the edges of `ident` (RFC 4975 §9): these are valid.
        row(
            "control: transaction id of 4 characters",
            START,
            b"MSRP ab12 SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------ab12$\r\n",
            Expect::Answer {
                status: 200,
                tid: "ab12",
                to: "{from}",
                from: "{to}",
            },
        ),
        row(
            "control: transaction id of 32 characters",
            START,
            b"MSRP abcdefghijklmnopqrstuvwxyz012345 SEND\r\nTo-Path: {to}\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n\
              -------abcdefghijklmnopqrstuvwxyz012345$\r\n",
            Expect::Answer {
                status: 200,
                tid: "abcdefghijklmnopqrstuvwxyz012345",
                to: "{from}",
                from: "{to}",
            },
        ),
        row(
            "control: every ident-char in the transaction id",
            START,
            b"MSRP a.b-c+d%e=f SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------a.b-c+d%e=f$\r\n",
            Expect::Answer {
                status: 200,
                tid: "a.b-c+d%e=f",
                to: "{from}",
                from: "{to}",
            },
        ),
    ]
}

const HEADER: &str = "§9 ABNF header";

fn headers() -> Vec<Case> {
    vec![
        row(
            "header line without a colon",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\nGarbage line\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "space before the colon",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              X-Extra : value\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "empty header name",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              : value\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "header name starting with a digit",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              1X-Extra: value\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "'@' in a header name",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              X@Extra: value\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "obs-fold: a continuation line starting with a space",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              X-Extra: first part\r\n second part\r\nByte-Range: 1-5/5\r\n\
              Content-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "obs-fold: a continuation line starting with a tab",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              X-Extra: first part\r\n\tsecond: part\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "NUL in a header value",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              X-Extra: a\0b\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "control character 0x01 in a header value",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              X-Extra: a\x01b\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "DEL in a header value",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              X-Extra: a\x7fb\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "CR inside a header value",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              X-Extra: a\rb\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "non-UTF-8 header value",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              X-Extra: \xff\xfe\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "overlong UTF-8 in a header value",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              X-Extra: \xc0\xaf\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "UTF-8-encoded surrogate in a header value",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              X-Extra: \xed\xa0\x80\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "non-UTF-8 header name",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              X-\xff: value\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "NUL in a header name",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              X-\0Extra: value\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "To-Path twice",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "From-Path twice",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nFrom-Path: {from}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Message-ID twice",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Message-ID: n{tid}\r\nByte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range twice",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\nByte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Content-Type twice",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\n\r\n\
              hello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Success-Report twice",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Success-Report: yes\r\nSuccess-Report: no\r\nByte-Range: 1-0/0\r\n\
              -------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Failure-Report twice",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Failure-Report: yes\r\nFailure-Report: yes\r\nByte-Range: 1-0/0\r\n\
              -------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Success-Report neither yes nor no",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Success-Report: maybe\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Failure-Report neither yes, no nor partial",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Failure-Report: sometimes\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Status without a namespace",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Status: 200 OK\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Message-ID of 2 characters",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: ab\r\n\
              Byte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "space in the Message-ID",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: ab cd\r\n\
              Byte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Message-ID of 33 characters",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
              Message-ID: abcdefghijklmnopqrstuvwxyz0123456\r\nByte-Range: 1-5/5\r\n\
              Content-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "empty Message-ID",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: \r\n\
              Byte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "SEND with a body and no Message-ID",
            "§7.1.1 Message-ID",
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nByte-Range: 1-5/5\r\n\
              Content-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Content-Type without a subtype",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\nContent-Type: text\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "empty Content-Type",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\nContent-Type: \r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "space in the Content-Type",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\nContent-Type: text /plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Expires not a number (RFC 4976 header)",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Expires: soon\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Use-Nickname not a quoted string, on a SEND (RFC 7701 §8: 424)",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Use-Nickname: bare\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(424),
        ),
        built(
            "65 header lines (max_headers is 64)",
            HEADER,
            || many_headers(65),
            answer(400),
        ),
        built(
            "control: 64 header lines",
            HEADER,
            || many_headers(64),
            answer(200),
        ),
        built(
            "one header line longer than max_head_bytes",
            HEADER,
            || {
                let mut head = b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
                    X-Long: "
                    .to_vec();
                head.resize(head.len() + 17_000, b'v');
                head.extend_from_slice(b"\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n");
                head
            },
            Expect::Closed,
        ),
        built(
            "no line end within max_head_bytes",
            HEADER,
            || {
                let mut head = b"MSRP {tid} SEND".to_vec();
                head.resize(20_000, b'S');
                head
            },
            Expect::Closed,
        ),
        built(
            "control: a head of exactly max_head_bytes",
            HEADER,
            || head_of(16 * 1024),
            answer(200),
        ),
        built(
            "a head one byte over max_head_bytes",
            HEADER,
            || head_of(16 * 1024 + 1),
            Expect::Closed,
        ),
        // Leniency the switch allows on input (robustness), not errors.
        row(
            "control: header names in other cases",
            HEADER,
            b"MSRP {tid} SEND\r\nto-path: {to}\r\nFROM-PATH: {from}\r\nmessage-id: m{tid}\r\n\
              byte-range: 1-5/5\r\ncontent-TYPE: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "control: no space after the colon",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path:{to}\r\nFrom-Path:{from}\r\nMessage-ID:m{tid}\r\n\
              Byte-Range:1-0/0\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "control: From-Path before To-Path (ABNF order, accepted)",
            HEADER,
            b"MSRP {tid} SEND\r\nFrom-Path: {from}\r\nTo-Path: {to}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "control: an unknown extension header, twice (§12: ignored)",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              X-Whatever: one\r\nX-Whatever: two\r\nByte-Range: 1-5/5\r\n\
              Content-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "control: UTF-8 in an extension header value (utf8text)",
            HEADER,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              X-Name: h\xc3\xa9llo \xe2\x9c\x93\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(200),
        ),
    ]
}

/// A bodiless SEND of `lines` header lines in all: To-Path, From-Path,
/// Message-ID, Byte-Range and fillers.
fn many_headers(lines: usize) -> Vec<u8> {
    let mut head =
        b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n".to_vec();
    for i in 0..lines - 4 {
        head.extend_from_slice(format!("X-Filler-{i:02}: {i}\r\n").as_bytes());
    }
    head.extend_from_slice(b"Byte-Range: 1-0/0\r\n-------{tid}$\r\n");
    head
}

/// A bodiless SEND whose head, end-line included, is `len` bytes once rendered
/// (the end-line counts against max_head_bytes when there is no body). The
/// placeholders' lengths are not known here, so the filler is sized by the harness:
/// `{pad:N}` stands for filler bringing the rendered frame to N bytes.
fn head_of(len: usize) -> Vec<u8> {
    format!(
        "MSRP {{tid}} SEND\r\nTo-Path: {{to}}\r\nFrom-Path: {{from}}\r\nMessage-ID: m{{tid}}\r\n\
         X-Pad: {{pad:{len}}}\r\nByte-Range: 1-0/0\r\n-------{{tid}}$\r\n"
    )
    .into_bytes()
}

const TO_PATH: &str = "§6/§7.3 To-Path";

fn to_paths() -> Vec<Case> {
    vec![
        row(
            "no To-Path",
            TO_PATH,
            b"MSRP {tid} SEND\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n\
              -------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "empty To-Path",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: \r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path not a URI",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: hello\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path a sip: URI",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: sip:alice@127.0.0.1\r\nFrom-Path: {from}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path with an http scheme",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: http://127.0.0.1:{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path msrp:/ with one slash",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp:/127.0.0.1:{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path msrps: for an msrp: session (§6.1: another URI)",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrps://127.0.0.1:{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(481, "msrps://127.0.0.1:{port}/{sid};tcp"),
        ),
        row(
            "control: To-Path scheme in capitals (§6.1: case-insensitive)",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: MSRP://127.0.0.1:{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(200, "MSRP://127.0.0.1:{port}/{sid};tcp"),
        ),
        row(
            "To-Path port over 65535",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:99999/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path port not numeric",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:28a5/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path empty port",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path port with a sign",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:+{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path without the port (§6.1: never equals one with a port)",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(481, "msrp://127.0.0.1/{sid};tcp"),
        ),
        row(
            "control: To-Path port with a leading zero (same number)",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:0{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(200, "msrp://127.0.0.1:0{port}/{sid};tcp"),
        ),
        row(
            "To-Path without a session-id",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(481, "msrp://127.0.0.1:{port};tcp"),
        ),
        row(
            "To-Path empty session-id",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/;tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path session-id with a percent-escape (§9: unreserved / + = /)",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/{sid}%41;tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path session-id with '?'",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/{sid}?x;tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path unknown session-id",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/nosuchsession42;tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(481, "msrp://127.0.0.1:{port}/nosuchsession42;tcp"),
        ),
        row(
            "To-Path session-id in the other case (§6.1: case-sensitive)",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/{SID};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(481, "msrp://127.0.0.1:{port}/{SID};tcp"),
        ),
        row(
            "To-Path session-id with a character added",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/{sid}x;tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(481, "msrp://127.0.0.1:{port}/{sid}x;tcp"),
        ),
        row(
            "To-Path session-id one character short",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/{sidcut};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(481, "msrp://127.0.0.1:{port}/{sidcut};tcp"),
        ),
        row(
            "To-Path another IPv4 host",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.2:{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(481, "msrp://127.0.0.2:{port}/{sid};tcp"),
        ),
        row(
            "To-Path a host name for the address (§6.1: no resolution)",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://localhost:{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(481, "msrp://localhost:{port}/{sid};tcp"),
        ),
        row(
            "control: To-Path host percent-encoded (§6.1 normalisation)",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://%31%32%37.0.0.1:{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(200, "msrp://%31%32%37.0.0.1:{port}/{sid};tcp"),
        ),
        row(
            "To-Path host with a broken percent-escape",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://%zz7.0.0.1:{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(481, "msrp://%zz7.0.0.1:{port}/{sid};tcp"),
        ),
        row(
            "To-Path IPv6 bracket not closed",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://[::1:{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path IPv6 literal not an address",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://[zz::1]:{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path IPv6 literal without brackets",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://::1:{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path junk after the IPv6 bracket",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://[::1]x:{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path another IPv6 host",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://[::1]:{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(481, "msrp://[::1]:{port}/{sid};tcp"),
        ),
        row(
            "control: To-Path with userinfo (ignored when comparing)",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://alice@127.0.0.1:{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(200, "msrp://alice@127.0.0.1:{port}/{sid};tcp"),
        ),
        row(
            "To-Path authority with two '@'",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://a@b@127.0.0.1:{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path space inside the authority",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1 :{port}/{sid};tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path without ;transport",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/{sid}\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path empty transport",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/{sid};\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "control: To-Path transport in capitals (§6.1: case-insensitive)",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/{sid};TCP\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(200, "msrp://127.0.0.1:{port}/{sid};TCP"),
        ),
        row(
            "To-Path another transport (ws)",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/{sid};ws\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(481, "msrp://127.0.0.1:{port}/{sid};ws"),
        ),
        row(
            "To-Path transport with a dash",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/{sid};t-cp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "control: To-Path with an extra URI parameter (ignored)",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/{sid};tcp;foo=bar\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(200, "msrp://127.0.0.1:{port}/{sid};tcp;foo=bar"),
        ),
        row(
            "To-Path empty URI parameter",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/{sid};tcp;\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "To-Path URI parameter without a name",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/{sid};tcp;=x\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        // BUG: RFC 4975 §7.3: "When the request is received, the To-Path will have
        // exactly one URI, which MUST map to an existing session ... If this is not
        // true, the receiver MUST generate a 481 error". The switch routes on the
        // first URI and forwards the message. (Being fixed on main.)
        row(
            "To-Path with two URIs at the final hop",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: {to} msrp://127.0.0.1:9/relay42;tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-5/5\r\n\
              Content-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(481),
        )
        .bug("answers 200 and forwards the message (routes on the first URI)"),
        row(
            "To-Path a relay's URI first",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:9/relay42;tcp {to}\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(481, "msrp://127.0.0.1:9/relay42;tcp"),
        ),
        row(
            "To-Path second URI malformed",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: {to} garbage\r\nFrom-Path: {from}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "To-Path two spaces between URIs",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: {to}  {to}\r\nFrom-Path: {from}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "To-Path trailing space",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: {to} \r\nFrom-Path: {from}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "To-Path URIs separated by a tab",
            TO_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\t{to}\r\nFrom-Path: {from}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        built(
            "To-Path of 17 URIs (max_uris_per_path is 16)",
            TO_PATH,
            || long_path(true),
            answer(400),
        ),
    ]
}

/// A bodiless SEND whose To-Path (`to`) or From-Path holds 17 URIs, ours first.
fn long_path(to: bool) -> Vec<u8> {
    let relays: String = (0..16)
        .map(|i| format!(" msrp://127.0.0.1:9/relay{i:02};tcp"))
        .collect();
    let (to_path, from_path) = if to {
        (format!("{{to}}{relays}"), "{from}".to_string())
    } else {
        ("{to}".to_string(), format!("{{from}}{relays}"))
    };
    format!(
        "MSRP {{tid}} SEND\r\nTo-Path: {to_path}\r\nFrom-Path: {from_path}\r\n\
         Message-ID: m{{tid}}\r\nByte-Range: 1-0/0\r\n-------{{tid}}$\r\n"
    )
    .into_bytes()
}

const FROM_PATH: &str = "§6/§7.3 From-Path";

fn from_paths() -> Vec<Case> {
    vec![
        row(
            "no From-Path",
            FROM_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n\
              -------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "no From-Path, on a bound connection",
            FROM_PATH,
            b"{bind}MSRP {tid} SEND\r\nTo-Path: {to}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "neither To-Path nor From-Path",
            FROM_PATH,
            b"MSRP {tid} SEND\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "empty From-Path",
            FROM_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: \r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "From-Path not a URI",
            FROM_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: garbage\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "From-Path first URI good, second malformed",
            FROM_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from} garbage\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "From-Path not the participant's",
            FROM_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: msrp://127.0.0.1:9/evil;tcp\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------{tid}$\r\n",
            answer_at(403, "msrp://127.0.0.1:9/evil;tcp", "{to}"),
        ),
        row(
            "From-Path the participant's session-id on another port",
            FROM_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: msrp://127.0.0.1:9/{xsid};tcp\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_at(403, "msrp://127.0.0.1:9/{xsid};tcp", "{to}"),
        ),
        row(
            "From-Path the participant's session-id in the other case",
            FROM_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: msrp://127.0.0.1:{xport}/{XSID};tcp\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_at(403, "msrp://127.0.0.1:{xport}/{XSID};tcp", "{to}"),
        ),
        row(
            "From-Path the participant's path and one URI more",
            FROM_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from} msrp://127.0.0.1:9/x;tcp\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer(403),
        ),
        row(
            "From-Path the healthy participant A's path",
            FROM_PATH,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {hafrom}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_at(403, "{hafrom}", "{to}"),
        ),
        built(
            "From-Path of 17 URIs (max_uris_per_path is 16)",
            FROM_PATH,
            || long_path(false),
            answer(400),
        ),
    ]
}

const HEALTHY: &str = "§7.3/§10.9 session binding";

/// Requests on separate connections that name the healthy session's own
/// session-ids: none may reach A or B.
fn healthy_session_ids() -> Vec<Case> {
    vec![
        row(
            "spoofed From-Path to A's session",
            HEALTHY,
            b"MSRP {tid} SEND\r\nTo-Path: {hato}\r\nFrom-Path: msrp://127.0.0.1:9/evil;tcp\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\n\
              spoof\r\n-------{tid}$\r\n",
            answer_at(403, "msrp://127.0.0.1:9/evil;tcp", "{hato}"),
        ),
        row(
            "B's path claiming A's session",
            HEALTHY,
            b"MSRP {tid} SEND\r\nTo-Path: {hato}\r\nFrom-Path: {hbfrom}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\nspoof\r\n-------{tid}$\r\n",
            answer_at(403, "{hbfrom}", "{hato}"),
        ),
        row(
            "A's exact paths from a second connection",
            HEALTHY,
            b"MSRP {tid} SEND\r\nTo-Path: {hato}\r\nFrom-Path: {hafrom}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_at(506, "{hafrom}", "{hato}"),
        ),
        row(
            "A's exact paths from a second connection, with a body",
            HEALTHY,
            b"MSRP {tid} SEND\r\nTo-Path: {hato}\r\nFrom-Path: {hafrom}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-8/8\r\nContent-Type: text/plain\r\n\r\nhijacked\r\n-------{tid}$\r\n",
            answer_at(506, "{hafrom}", "{hato}"),
        ),
        row(
            "a REPORT with A's exact paths from a second connection",
            HEALTHY,
            b"MSRP {tid} REPORT\r\nTo-Path: {hato}\r\nFrom-Path: {hafrom}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-5/5\r\nStatus: 000 200 OK\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "an unknown method with B's exact paths from a second connection",
            HEALTHY,
            b"MSRP {tid} FOO\r\nTo-Path: {hbto}\r\nFrom-Path: {hbfrom}\r\nMessage-ID: m{tid}\r\n\
              -------{tid}$\r\n",
            answer_at(506, "{hbfrom}", "{hbto}"),
        ),
        row(
            "a malformed Byte-Range naming A's session",
            HEALTHY,
            b"MSRP {tid} SEND\r\nTo-Path: {hato}\r\nFrom-Path: {hafrom}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 9-1/5\r\nContent-Type: text/plain\r\n\r\noops!\r\n-------{tid}$\r\n",
            answer_at(400, "{hafrom}", "{hato}"),
        ),
        row(
            "a stray response between A's URIs",
            HEALTHY,
            b"MSRP {tid} 200 OK\r\nTo-Path: {hato}\r\nFrom-Path: {hafrom}\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "a SEND for A's session on a connection bound to another",
            HEALTHY,
            b"{bind}MSRP {tid} SEND\r\nTo-Path: {hato}\r\nFrom-Path: {hafrom}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------{tid}$\r\n",
            answer_at(506, "{hafrom}", "{hato}"),
        ),
        // RFC 4975 §7.3: the To-Path "MUST map to an existing session that is
        // associated with the connection on which the request arrived. If this is
        // not true, the receiver MUST generate a 481 error". Y's media do not say
        // a=connection:existing (RFC 6135), so it may not share X's connection.
        row(
            "a SEND for an unbound session on a connection bound to another",
            HEALTHY,
            b"{bind}MSRP {tid} SEND\r\nTo-Path: {yto}\r\nFrom-Path: {yfrom}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_at(481, "{yfrom}", "{yto}"),
        ),
    ]
}

const RANGE: &str = "§7.1.1 Byte-Range";

fn byte_ranges() -> Vec<Case> {
    // Each refused range is on a SEND with a 5-byte body; the body is skipped.
    vec![
        row(
            "Byte-Range start not a number",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: a-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range end not a number",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-x/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range total not a number",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/x\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range end before start",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 5-2/10\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range start 0 (ranges count from 1)",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 0-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range end past the total",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-6/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range without a total",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range without an end",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range '*' as the start",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: *-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range '*' after digits",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5*/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range total 2^64",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/18446744073709551616\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range start 2^64",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 18446744073709551616-*/*\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range negative start",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: -1-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range with spaces",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1 - 5 / 5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range trailing junk",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5x\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "empty Byte-Range",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: \r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range in hexadecimal",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 0x1-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "Byte-Range start with a '+' sign",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: +1-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        // Ranges the switch forwards: RFC 4975 gives a receiver no rule for them.
        row(
            "control: a body longer than its Byte-Range (forwarded as 1-*/5)",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\nhello world\r\n\
              -------{tid}$\r\n",
            answer(200),
        ),
        row(
            "control: Byte-Range 1-*/*",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-*/*\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "control: Byte-Range start past the total with end '*'",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 7-*/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "control: Byte-Range 1-0/0 with a body",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "control: no Byte-Range (the whole message in one chunk)",
            RANGE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Content-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "Byte-Range total over the receiver's max-size",
            "§10.5 413",
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/200000\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
              -------{tid}+\r\n",
            answer(413),
        ),
        row(
            "Byte-Range end over the receiver's max-size, total unknown",
            "§10.5 413",
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 149996-150000/*\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
              -------{tid}$\r\n",
            answer(413),
        ),
    ]
}

const END: &str = "§7.1 end-line";

fn end_lines() -> Vec<Case> {
    vec![
        // Right after the headers (no body): the end-line is a line of the head.
        row(
            "end-line with another transaction id",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------zzzz9999$\r\n",
            Expect::Closed,
        ),
        row(
            "end-line without a flag",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}\r\n",
            Expect::Closed,
        ),
        row(
            "end-line flag '!'",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}!\r\n",
            Expect::Closed,
        ),
        row(
            "end-line of six dashes (the frame never ends)",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "end-line of eight dashes",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n--------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "end-line with a space after the flag",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$ \r\n",
            Expect::Closed,
        ),
        row(
            "end-line ended by a bare LF",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\n",
            Expect::Closed,
        ),
        row(
            "end-line with the transaction id in capitals",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{TID}$\r\n",
            Expect::Closed,
        ),
        // After a body: what is not this transaction's end-line is body.
        row(
            "lookalike end-line with another id in the body",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-*/*\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------zzzz9999$\r\nmore\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "lookalike end-line without a flag in the body",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-*/*\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------{tid}\r\nmore\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "lookalike end-line with flag '!' in the body",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-*/*\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------{tid}!\r\nmore\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "lookalike end-line with a longer id in the body",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-*/*\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------{tid}x$\r\nmore\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "seven dashes alone on a body line",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-*/*\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------\r\nmore\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "end-line not preceded by CRLF is body",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-*/*\r\nContent-Type: text/plain\r\n\r\n\
              hello-------{tid}$\r\n\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "end-line preceded by a bare LF is body",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-*/*\r\nContent-Type: text/plain\r\n\r\n\
              hello\n-------{tid}$\r\n\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "end-line flag followed by junk",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$x\r\n",
            Expect::Closed,
        ),
        row(
            "end-line flag followed by a bare LF",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\n",
            Expect::Closed,
        ),
        row(
            "end-line flag followed by CR and junk",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\rX",
            Expect::Closed,
        ),
        row(
            "control: empty body, end-line right after the blank line",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\nContent-Type: text/plain\r\n\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "control: a chunk ended with '#'",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/10\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}#\r\n",
            answer(200),
        ),
        row(
            "control: a chunk ended with '+' and never continued",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/10\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------{tid}+\r\n",
            answer(200),
        ),
        row(
            "control: NUL and non-UTF-8 bytes in the body",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-6/6\r\nContent-Type: text/plain\r\n\r\n\
              \0\xff\xfe\0\xc0\xaf\r\n-------{tid}$\r\n",
            answer(200),
        ),
        row(
            "control: bare LF and lone CR in the body",
            END,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-7/7\r\nContent-Type: text/plain\r\n\r\na\nb\rc\n\r\r\n-------{tid}$\r\n",
            answer(200),
        ),
    ]
}

const CRLF: &str = "§9 CRLF / utf8text";

fn encodings() -> Vec<Case> {
    vec![
        row(
            "bare LF ending a header line",
            CRLF,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "bare LF as the blank line before the body",
            CRLF,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\nhello\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "CR-only line ends",
            CRLF,
            b"MSRP {tid} SEND\rTo-Path: {to}\rFrom-Path: {from}\rMessage-ID: m{tid}\r\
              Byte-Range: 1-0/0\r-------{tid}$\r",
            Expect::Closed,
        ),
        row(
            "non-UTF-8 in To-Path",
            CRLF,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/{sid}\xff;tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(400, "{own}"),
        ),
        row(
            "non-UTF-8 comment on a stray response, bound connection",
            CRLF,
            b"{bind}MSRP {tid} 200 \xff\xfe\r\nTo-Path: {from}\r\nFrom-Path: {to}\r\n\
              -------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "non-UTF-8 comment on a stray response, unbound connection",
            CRLF,
            b"MSRP {tid} 200 \xff\xfe\r\nTo-Path: {from}\r\nFrom-Path: {to}\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
    ]
}

const METHOD: &str = "§12 methods";

fn methods() -> Vec<Case> {
    vec![
        row(
            "unknown method",
            METHOD,
            b"MSRP {tid} FOO\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              -------{tid}$\r\n",
            answer(501),
        ),
        row(
            "unknown method of 26 letters",
            METHOD,
            b"MSRP {tid} ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
              -------{tid}$\r\n",
            answer(501),
        ),
        row(
            "unknown method with a body",
            METHOD,
            b"MSRP {tid} PUBLISH\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Content-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(501),
        ),
        row(
            "unknown method with Failure-Report: no",
            METHOD,
            b"MSRP {tid} FOO\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nFailure-Report: no\r\n\
              -------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "unknown method with Failure-Report: partial",
            METHOD,
            b"MSRP {tid} FOO\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nFailure-Report: partial\r\n\
              -------{tid}$\r\n",
            answer(501),
        ),
        row(
            "unknown method for an unknown session (§7.3: To-Path first)",
            METHOD,
            b"MSRP {tid} FOO\r\nTo-Path: msrp://127.0.0.1:{port}/nosuchsession42;tcp\r\n\
              From-Path: {from}\r\n-------{tid}$\r\n",
            answer_from(481, "msrp://127.0.0.1:{port}/nosuchsession42;tcp"),
        ),
        row(
            "HTTP-like method name",
            METHOD,
            b"MSRP {tid} GET\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n-------{tid}$\r\n",
            answer(501),
        ),
        row(
            "AUTH (RFC 4976) at a 1:1 session, not a relay",
            METHOD,
            b"MSRP {tid} AUTH\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n-------{tid}$\r\n",
            answer(403),
        ),
        row(
            "NICKNAME (RFC 7701) at a 1:1 session, not a chat",
            METHOD,
            b"MSRP {tid} NICKNAME\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
              Use-Nickname: \"nick\"\r\n-------{tid}$\r\n",
            answer(403),
        ),
    ]
}

const STRAY: &str = "§7.2 responses";

fn stray_responses() -> Vec<Case> {
    vec![
        row(
            "a 200 for no outstanding transaction",
            STRAY,
            b"MSRP {tid} 200 OK\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "a 481 for no outstanding transaction",
            STRAY,
            b"MSRP {tid} 481 Session does not exist\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
              -------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "a response without a comment",
            STRAY,
            b"MSRP {tid} 200\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "a response with code 299",
            STRAY,
            b"MSRP {tid} 299 Odd\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "a response with code 999",
            STRAY,
            b"MSRP {tid} 999 Odd\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "a response ended with '+'",
            STRAY,
            b"MSRP {tid} 200 OK\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n-------{tid}+\r\n",
            Expect::Ignored,
        ),
        row(
            "a response with a body, unbound connection",
            STRAY,
            b"MSRP {tid} 200 OK\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
              Content-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "a response with a body, bound connection",
            STRAY,
            b"{bind}MSRP {tid} 200 OK\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
              Content-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "a response without To-Path, unbound connection",
            STRAY,
            b"MSRP {tid} 200 OK\r\nFrom-Path: {from}\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "a response with a malformed To-Path, bound connection",
            STRAY,
            b"{bind}MSRP {tid} 200 OK\r\nTo-Path: nonsense\r\nFrom-Path: {from}\r\n\
              -------{tid}$\r\n",
            Expect::Ignored,
        ),
    ]
}

const REPORT: &str = "§7.1.2 REPORT";

fn reports() -> Vec<Case> {
    vec![
        row(
            "a REPORT from the client (mapped, never answered)",
            REPORT,
            b"MSRP {tid} REPORT\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\nStatus: 000 200 OK\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "a REPORT without Status",
            REPORT,
            b"MSRP {tid} REPORT\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "a REPORT with a malformed Status, unbound connection",
            REPORT,
            b"MSRP {tid} REPORT\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\nStatus: 200\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "a REPORT with a malformed Status, bound connection",
            REPORT,
            b"{bind}MSRP {tid} REPORT\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-5/5\r\nStatus: 200\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "a REPORT with a body",
            REPORT,
            b"MSRP {tid} REPORT\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\nStatus: 000 200 OK\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "a REPORT for an unknown session (no 481 for a REPORT)",
            REPORT,
            b"MSRP {tid} REPORT\r\nTo-Path: msrp://127.0.0.1:{port}/nosuchsession42;tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nByte-Range: 1-5/5\r\n\
              Status: 000 200 OK\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "a REPORT with a spoofed From-Path (no 403 for a REPORT)",
            REPORT,
            b"MSRP {tid} REPORT\r\nTo-Path: {to}\r\nFrom-Path: msrp://127.0.0.1:9/evil;tcp\r\n\
              Message-ID: m{tid}\r\nByte-Range: 1-5/5\r\nStatus: 000 200 OK\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "a REPORT with a bad Byte-Range, unbound connection",
            REPORT,
            b"MSRP {tid} REPORT\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 5-1/5\r\nStatus: 000 200 OK\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "a REPORT asking for a failure report",
            REPORT,
            b"MSRP {tid} REPORT\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Failure-Report: yes\r\nByte-Range: 1-5/5\r\nStatus: 000 200 OK\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
    ]
}

const FAILURE: &str = "§7.1.2 Failure-Report";

fn failure_reports() -> Vec<Case> {
    vec![
        row(
            "Failure-Report: no on a good SEND",
            FAILURE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Failure-Report: no\r\nByte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "Failure-Report: partial on a good SEND",
            FAILURE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Failure-Report: partial\r\nByte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "Failure-Report: NO in capitals",
            FAILURE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Failure-Report: NO\r\nByte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "Failure-Report: partial for an unknown session",
            FAILURE,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/nosuchsession42;tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nFailure-Report: partial\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            answer_from(481, "msrp://127.0.0.1:{port}/nosuchsession42;tcp"),
        ),
        row(
            "Failure-Report: no for an unknown session",
            FAILURE,
            b"MSRP {tid} SEND\r\nTo-Path: msrp://127.0.0.1:{port}/nosuchsession42;tcp\r\n\
              From-Path: {from}\r\nMessage-ID: m{tid}\r\nFailure-Report: no\r\n\
              Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
        row(
            "Failure-Report: no with a bad Byte-Range, unbound connection",
            FAILURE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Failure-Report: no\r\nByte-Range: 5-1/5\r\nContent-Type: text/plain\r\n\r\n\
              hello\r\n-------{tid}$\r\n",
            Expect::Closed,
        ),
        row(
            "Failure-Report: no with a bad Byte-Range, bound connection",
            FAILURE,
            b"{bind}MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
              Message-ID: m{tid}\r\nFailure-Report: no\r\nByte-Range: 5-1/5\r\n\
              Content-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n",
            Expect::Ignored,
        ),
    ]
}

const SIZE: &str = "§7.1 chunk size and media";

fn sizes_and_media() -> Vec<Case> {
    vec![
        row(
            "a body without Content-Type",
            SIZE,
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(400),
        ),
        row(
            "a Content-Type the receiver did not accept",
            "§10.6 415",
            b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
              Byte-Range: 1-5/5\r\nContent-Type: image/png\r\n\r\nhello\r\n-------{tid}$\r\n",
            answer(415),
        ),
        built(
            "a chunk one byte over max_chunk_bytes",
            SIZE,
            || chunk_of(super::MAX_CHUNK_BYTES + 1),
            answer(413),
        ),
        built(
            "control: a chunk of exactly max_chunk_bytes",
            SIZE,
            || chunk_of(super::MAX_CHUNK_BYTES),
            answer(200),
        ),
    ]
}

/// A SEND carrying `len` body bytes (`1-*/*`: no total for max-size to refuse).
fn chunk_of(len: usize) -> Vec<u8> {
    let mut frame = b"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
        Message-ID: m{tid}\r\nByte-Range: 1-*/*\r\nContent-Type: text/plain\r\n\r\n"
        .to_vec();
    frame.resize(frame.len() + len, b'z');
    frame.extend_from_slice(b"\r\n-------{tid}$\r\n");
    frame
}
