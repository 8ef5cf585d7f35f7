//! The head of a frame: the start line and the header block (RFC 4975 §7, §9), parsed
//! once when the decoder has found its end, then read through typed accessors.
//!
//! A `Head` owns the head's bytes (a `Bytes` slice of the read buffer) and keeps only
//! offsets into them, inline, so that decoding a typical frame allocates nothing.

use std::fmt;

use bytes::Bytes;
use smallvec::SmallVec;

use super::byte_range::{ByteRange, parse_digits};
use super::error::{Answer, DecodeError, ErrorKind};
use super::header::{
    FailureReport, HeaderName, PathError, SuccessReport, check_media_type, check_path,
    check_quoted_string, has_control_chars, is_header_name, parse_status,
};
use super::ident::{MessageId, TransactionId};
use super::limits::Limits;
use super::status::StatusCode;
use super::uri::MsrpUri;

/// A request method (RFC 4975 §7; AUTH from RFC 4976, NICKNAME from RFC 7701).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Method {
    /// SEND: carries a chunk.
    Send,
    /// REPORT: end-to-end delivery status; never answered.
    Report,
    /// AUTH: a client authenticates to its relay (RFC 4976 §5).
    Auth,
    /// NICKNAME: a chat participant asks for a nickname (RFC 7701 §8).
    Nickname,
    /// Any other `1*UPALPHA`; its name is [`Head::method_name`]. Answered 501.
    Other,
}

impl Method {
    fn from_name(name: &[u8]) -> Self {
        match name {
            b"SEND" => Self::Send,
            b"REPORT" => Self::Report,
            b"AUTH" => Self::Auth,
            b"NICKNAME" => Self::Nickname,
            _ => Self::Other,
        }
    }
}

/// The continuation flag of an end-line (RFC 4975 §7.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ContinuationFlag {
    /// `+`: more chunks of this message follow.
    More,
    /// `$`: the last chunk of the message.
    End,
    /// `#`: the sender aborts the message.
    Abort,
}

impl ContinuationFlag {
    /// The flag from its wire byte.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'+' => Some(Self::More),
            b'$' => Some(Self::End),
            b'#' => Some(Self::Abort),
            _ => None,
        }
    }

    /// The wire byte.
    pub fn as_byte(self) -> u8 {
        match self {
            Self::More => b'+',
            Self::End => b'$',
            Self::Abort => b'#',
        }
    }
}

/// The Status header of a REPORT: `namespace SP status-code [SP text-reason]`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Status<'a> {
    /// `000` for the codes of RFC 4975.
    pub namespace: u16,
    /// The status code.
    pub code: StatusCode,
    /// The reason text, if any.
    pub reason: Option<&'a str>,
}

/// Offsets into the head's bytes; u16 because a head is at most `max_head_bytes`,
/// which [`Limits::validate`] caps at 65,535. Small offsets keep `Head` small, and
/// a head is moved a few times on its way out of the decoder.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Span {
    start: u16,
    end: u16,
}

impl Span {
    fn new(start: usize, end: usize) -> Self {
        // Limits::validate keeps max_head_bytes within u16.
        Self {
            start: u16::try_from(start).unwrap_or(u16::MAX),
            end: u16::try_from(end).unwrap_or(u16::MAX),
        }
    }

    fn of(self, raw: &[u8]) -> &[u8] {
        raw.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// One header line: its name, the whole line (for writing it back unchanged) and
/// its value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    pub(crate) name: HeaderName,
    pub(crate) line: Span,
    pub(crate) value: Span,
}

/// Inline room for this many header lines; a head with more spills to the heap.
/// Typical SENDs carry 5 to 8.
const INLINE_FIELDS: usize = 8;

/// Request or response.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Request(Method),
    Response(StatusCode),
}

/// A parsed head. Reading it never fails: everything was checked at decode.
#[derive(Clone)]
pub struct Head {
    raw: Bytes,
    transaction_id: TransactionId,
    kind: Kind,
    /// The method name of a request, or the comment of a response.
    word: Option<Span>,
    fields: SmallVec<[Field; INLINE_FIELDS]>,
    has_body: bool,
    byte_range: Option<ByteRange>,
    /// Kept from the check at decode: read for every forwarded chunk, and parsing
    /// it again cost more than the copy.
    message_id: Option<MessageId>,
    success_report: Option<SuccessReport>,
    failure_report: Option<FailureReport>,
    status: Option<(u16, StatusCode, Option<Span>)>,
    expires: [Option<u32>; 3],
}

impl Head {
    /// A head with nothing in it: the slot a head is parsed into.
    pub(crate) fn empty() -> Self {
        Self {
            raw: Bytes::new(),
            // Never read: every parse writes the head's own.
            transaction_id: TransactionId::from_alphanumeric(b"none"),
            kind: Kind::Response(StatusCode::OK),
            word: None,
            fields: SmallVec::new(),
            has_body: false,
            byte_range: None,
            message_id: None,
            success_report: None,
            failure_report: None,
            status: None,
            expires: [None; 3],
        }
    }

    /// Lets go of the head's bytes (a slice of a read buffer) before the head is
    /// kept for reuse.
    pub(crate) fn release(&mut self) {
        self.raw = Bytes::new();
        self.fields.clear();
    }

    /// The transaction id of the start line.
    pub fn transaction_id(&self) -> &TransactionId {
        &self.transaction_id
    }

    /// True for a request, false for a response.
    pub fn is_request(&self) -> bool {
        matches!(self.kind, Kind::Request(_))
    }

    /// The method of a request.
    pub fn method(&self) -> Option<Method> {
        match self.kind {
            Kind::Request(method) => Some(method),
            Kind::Response(_) => None,
        }
    }

    /// The method name as written, e.g. `SEND` or an unknown `FOO`.
    pub fn method_name(&self) -> Option<&str> {
        self.is_request().then(|| self.word_text()).flatten()
    }

    /// The status code of a response.
    pub fn response_status(&self) -> Option<StatusCode> {
        match self.kind {
            Kind::Response(code) => Some(code),
            Kind::Request(_) => None,
        }
    }

    /// The comment after a response's status code.
    pub fn comment(&self) -> Option<&str> {
        (!self.is_request()).then(|| self.word_text()).flatten()
    }

    /// The method name or the comment as bytes: what the encoder writes back,
    /// without a UTF-8 check.
    pub(crate) fn word_bytes(&self) -> Option<&[u8]> {
        self.word.map(|span| span.of(&self.raw))
    }

    fn word_text(&self) -> Option<&str> {
        self.word.map(|span| self.text(span))
    }

    /// The URIs of To-Path, next hop first.
    pub fn to_path(&self) -> impl Iterator<Item = MsrpUri> + '_ {
        self.path(HeaderName::ToPath)
    }

    /// The URIs of From-Path, previous hop first, original sender last.
    pub fn from_path(&self) -> impl Iterator<Item = MsrpUri> + '_ {
        self.path(HeaderName::FromPath)
    }

    /// The URIs of Use-Path (RFC 4976 AUTH responses).
    pub fn use_path(&self) -> impl Iterator<Item = MsrpUri> + '_ {
        self.path(HeaderName::UsePath)
    }

    /// The URIs of a path header, as zero-copy slices of the head.
    pub fn path(&self, name: HeaderName) -> impl Iterator<Item = MsrpUri> + '_ {
        let value = self.field(name).map(|f| f.value);
        let bytes = value.map_or_else(Bytes::new, |v| {
            self.raw.slice(v.start as usize..v.end as usize)
        });
        split_uris(bytes)
    }

    /// The Message-ID.
    pub fn message_id(&self) -> Option<MessageId> {
        self.message_id
    }

    /// The Byte-Range, if present.
    pub fn byte_range(&self) -> Option<ByteRange> {
        self.byte_range
    }

    /// Success-Report as written; absent means `no` (RFC 4975 §7.1.2).
    pub fn success_report(&self) -> Option<SuccessReport> {
        self.success_report
    }

    /// Failure-Report as written; absent means `yes` (RFC 4975 §7.1.2).
    pub fn failure_report(&self) -> Option<FailureReport> {
        self.failure_report
    }

    /// The Status header of a REPORT.
    pub fn status(&self) -> Option<Status<'_>> {
        self.status.map(|(namespace, code, reason)| Status {
            namespace,
            code,
            reason: reason.map(|span| self.text(span)),
        })
    }

    /// The Content-Type of the body.
    pub fn content_type(&self) -> Option<&str> {
        self.value(HeaderName::ContentType)
    }

    /// Expires (RFC 4976), in seconds.
    pub fn expires(&self) -> Option<u32> {
        self.expires[0]
    }

    /// Min-Expires (RFC 4976), in seconds.
    pub fn min_expires(&self) -> Option<u32> {
        self.expires[1]
    }

    /// Max-Expires (RFC 4976), in seconds.
    pub fn max_expires(&self) -> Option<u32> {
        self.expires[2]
    }

    /// Use-Nickname (RFC 7701) as written, a quoted string.
    pub fn use_nickname(&self) -> Option<&str> {
        self.value(HeaderName::UseNickname)
    }

    /// The value of the first header with this name.
    pub fn value(&self, name: HeaderName) -> Option<&str> {
        self.field(name).map(|f| self.text(f.value))
    }

    /// Every header in order: its name as written and its value.
    pub fn headers(&self) -> impl Iterator<Item = (HeaderName, &str, &str)> + '_ {
        self.fields.iter().map(|f| {
            let line = self.text(f.line);
            let name = line.split(':').next().unwrap_or_default();
            (f.name, name, self.text(f.value))
        })
    }

    /// True when a body (possibly empty) follows the head.
    pub fn has_body(&self) -> bool {
        self.has_body
    }

    /// The head's bytes as received.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    pub(crate) fn fields(&self) -> &[Field] {
        &self.fields
    }

    pub(crate) fn span_bytes(&self, span: Span) -> &[u8] {
        span.of(&self.raw)
    }

    fn field(&self, name: HeaderName) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// A header's value as written (the whole head was checked to be UTF-8).
    pub fn value_bytes(&self, name: HeaderName) -> Option<&[u8]> {
        self.field(name).map(|f| f.value.of(&self.raw))
    }

    fn text(&self, span: Span) -> &str {
        // The whole head was checked to be UTF-8 at decode.
        std::str::from_utf8(span.of(&self.raw)).unwrap_or_default()
    }
}

impl fmt::Debug for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Head")
            .field("transaction_id", &self.transaction_id)
            .field("kind", &self.kind)
            .field("headers", &self.headers().collect::<Vec<_>>())
            .field("has_body", &self.has_body)
            .finish()
    }
}

/// Splits a path value on spaces into URIs. Values were validated at decode.
fn split_uris(value: Bytes) -> impl Iterator<Item = MsrpUri> {
    let mut rest = value;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            let end = memchr::memchr(b' ', &rest).unwrap_or(rest.len());
            let uri = rest.split_to(end);
            if !rest.is_empty() {
                bytes::Buf::advance(&mut rest, 1);
            }
            if let Ok(uri) = MsrpUri::parse(uri) {
                return Some(uri);
            }
        }
    })
}

/// What the start line says.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StartLine {
    pub(crate) transaction_id: TransactionId,
    kind: Kind,
    word: Option<Span>,
}

/// Parses `MSRP SP transact-id SP (method / status-code [SP comment])`, the line
/// without its CRLF. Every failure loses framing: nothing on the line can be trusted.
pub(crate) fn parse_start_line(line: &[u8], limits: &Limits) -> Result<StartLine, ErrorKind> {
    let rest = line.strip_prefix(b"MSRP ").ok_or(ErrorKind::BadStartLine)?;
    let tid_end = memchr::memchr(b' ', rest).ok_or(ErrorKind::BadStartLine)?;
    let transaction_id = TransactionId::parse(&rest[..tid_end], limits.max_transaction_id_bytes)
        .map_err(ErrorKind::BadTransactionId)?;
    let word_start = 5 + tid_end + 1;
    let word = &line[word_start..];
    if word.first().is_some_and(u8::is_ascii_digit) {
        // Response: 3DIGIT [SP comment]
        let code = word
            .get(..3)
            .and_then(parse_digits)
            .and_then(|n| u16::try_from(n).ok())
            .and_then(StatusCode::new)
            .ok_or(ErrorKind::BadStartLine)?;
        let comment = match word.get(3) {
            None => None,
            Some(b' ') => Some(Span::new(word_start + 4, line.len())),
            Some(_) => return Err(ErrorKind::BadStartLine),
        };
        return Ok(StartLine {
            transaction_id,
            kind: Kind::Response(code),
            word: comment,
        });
    }
    if word.is_empty() || !word.iter().all(u8::is_ascii_uppercase) {
        return Err(ErrorKind::BadStartLine);
    }
    Ok(StartLine {
        transaction_id,
        kind: Kind::Request(Method::from_name(word)),
        word: Some(Span::new(word_start, line.len())),
    })
}

/// Parses a delimited head: `raw` runs from the start line through the CRLF of the
/// last header, plus the blank line when `has_body`. The decoder has checked every
/// line ends in CRLF and the start line.
pub(crate) fn parse_head(
    head: &mut Head,
    raw: Bytes,
    start: StartLine,
    has_body: bool,
    limits: &Limits,
    known: &mut KnownLines,
    lines: Option<&[u16]>,
) -> Result<(), DecodeError> {
    // Written in place, field by field: a head is parsed into the slot it is
    // handed on in, not built here and copied out.
    head.raw = raw;
    head.transaction_id = start.transaction_id;
    head.kind = start.kind;
    head.word = start.word;
    head.fields.clear();
    head.has_body = has_body;
    head.byte_range = None;
    head.message_id = None;
    head.success_report = None;
    head.failure_report = None;
    head.status = None;
    head.expires = [None; 3];
    fill(head, limits, known, lines).map_err(|kind| DecodeError::new(kind, answer_for(head)))
}

/// Reads every header line into `head`, checking each value's grammar. `lines`,
/// when the decoder recorded them, are the LFs of the head's lines (the start
/// line's first): the head is then not searched for them again.
fn fill(
    head: &mut Head,
    limits: &Limits,
    known: &mut KnownLines,
    lines: Option<&[u16]>,
) -> Result<(), ErrorKind> {
    let raw = head.raw.clone();
    // Heads are almost always ASCII, which is checked a word at a time.
    let utf8 = raw.is_ascii() || std::str::from_utf8(&raw).is_ok();
    let mut recorded = lines.map(|lines| lines.iter().map(|&nl| usize::from(nl)));
    let mut next_lf = |at: usize| match recorded.as_mut() {
        Some(lfs) => lfs.next().map_or(raw.len(), |nl| nl.min(raw.len())),
        None => memchr::memchr(b'\n', &raw[at..]).map_or(raw.len(), |i| at + i),
    };
    let mut at = next_lf(0).saturating_add(1).min(raw.len());
    // Fields (by index, the first 32) whose line was found valid before: not
    // parsed or checked again.
    let mut recalled = 0u32;
    while at < raw.len() {
        let nl = next_lf(at);
        let line_end = nl.saturating_sub(1); // drop the CR, checked by the decoder
        if line_end == at {
            break; // the blank line before the body
        }
        let field = match known.recall(&raw[at..line_end]) {
            Some((name, value_at)) => {
                recalled |= 1u32.checked_shl(head.fields.len() as u32).unwrap_or(0);
                Field {
                    name,
                    line: Span::new(at, line_end),
                    value: Span::new(at + value_at, line_end),
                }
            }
            None => parse_field(&raw, at, line_end)?,
        };
        // Record first so an answer can still be addressed if a later check fails.
        if head.fields.len() == limits.max_headers {
            return Err(ErrorKind::TooManyHeaders);
        }
        if field.name.is_unique() && head.fields.iter().any(|f| f.name == field.name) {
            return Err(ErrorKind::DuplicateHeader(field.name));
        }
        head.fields.push(field);
        at = nl + 1;
    }
    if !utf8 {
        return Err(ErrorKind::NotUtf8);
    }
    for i in 0..head.fields.len() {
        let field = head.fields[i];
        if recalled & 1u32.checked_shl(i as u32).unwrap_or(0) != 0 {
            continue;
        }
        check_value(head, field, limits)?;
        known.remember(&head.raw, field);
    }
    if head.field(HeaderName::ToPath).is_none() {
        return Err(ErrorKind::MissingToPath);
    }
    if head.field(HeaderName::FromPath).is_none() {
        return Err(ErrorKind::MissingFromPath);
    }
    if head.has_body {
        if !head.is_request() {
            return Err(ErrorKind::ResponseWithBody);
        }
        if head.field(HeaderName::ContentType).is_none() {
            return Err(ErrorKind::BodyWithoutContentType);
        }
    }
    Ok(())
}

/// `hname ":" SP hval`; the space is optional on input, any extra kept.
fn parse_field(raw: &[u8], start: usize, end: usize) -> Result<Field, ErrorKind> {
    let line = &raw[start..end];
    let colon = memchr::memchr(b':', line).ok_or(ErrorKind::HeaderWithoutColon)?;
    let name = &line[..colon];
    if !is_header_name(name) {
        return Err(ErrorKind::HeaderWithoutColon);
    }
    let mut value_start = start + colon + 1;
    while raw.get(value_start) == Some(&b' ') && value_start < end {
        value_start += 1;
    }
    let name = HeaderName::from_bytes(name);
    if has_control_chars(&raw[value_start..end]) {
        return Err(ErrorKind::BadHeaderValue(name));
    }
    Ok(Field {
        name,
        line: Span::new(start, end),
        value: Span::new(value_start, end),
    })
}

/// Checks one value against its header's grammar and keeps the typed ones.
fn check_value(head: &mut Head, field: Field, limits: &Limits) -> Result<(), ErrorKind> {
    let value = field.value.of(&head.raw);
    let name = field.name;
    let bad = ErrorKind::BadHeaderValue(name);
    match name {
        HeaderName::ToPath | HeaderName::FromPath | HeaderName::UsePath => {
            check_path(value, limits.max_uris_per_path).map_err(|err| path_error(name, err))?
        }
        HeaderName::MessageId => {
            let id = MessageId::parse(value, limits.max_transaction_id_bytes).map_err(|_| bad)?;
            head.message_id = Some(id);
        }
        HeaderName::ByteRange => {
            head.byte_range = Some(ByteRange::parse(value).map_err(ErrorKind::BadByteRange)?);
        }
        HeaderName::SuccessReport => {
            head.success_report = Some(SuccessReport::parse(value).ok_or(bad)?)
        }
        HeaderName::FailureReport => {
            head.failure_report = Some(FailureReport::parse(value).ok_or(bad)?)
        }
        HeaderName::Status => {
            let (namespace, code, reason) = parse_status(value).ok_or(bad)?;
            let (start, end) = (usize::from(field.value.start), usize::from(field.value.end));
            let reason = reason.map(|offset| Span::new(start + offset, end));
            head.status = Some((namespace, code, reason));
        }
        HeaderName::ContentType => check_media_type(value).ok_or(bad)?,
        HeaderName::Expires | HeaderName::MinExpires | HeaderName::MaxExpires => {
            let secs = parse_digits(value)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or(bad)?;
            let slot = match name {
                HeaderName::Expires => 0,
                HeaderName::MinExpires => 1,
                _ => 2,
            };
            head.expires[slot] = Some(secs);
        }
        HeaderName::UseNickname => check_quoted_string(value).ok_or(bad)?,
        HeaderName::WwwAuthenticate
        | HeaderName::Authorization
        | HeaderName::AuthenticationInfo
            if value.is_empty() =>
        {
            return Err(bad);
        }
        _ => {}
    }
    Ok(())
}

/// The decode error for a path value refused by [`check_path`].
fn path_error(name: HeaderName, err: PathError) -> ErrorKind {
    match err {
        PathError::Empty => ErrorKind::BadHeaderValue(name),
        PathError::TooManyUris => ErrorKind::TooManyUris(name),
        PathError::Uri(err) => ErrorKind::BadUri(name, err),
    }
}

/// The To-Path, From-Path and Content-Type values a connection's decoder last found
/// valid on a line in the RFC's spelling (`To-Path: ` and so on: the name as
/// written in RFC 4975, one space). A peer writes the same paths on every frame,
/// and mostly the same Content-Type, so a line equal to the one remembered is
/// neither parsed nor checked again: a URI parse per path, the name's grammar and
/// lookup, the value's control characters. Every one of those checks is a function
/// of the line's bytes and the decoder's limits alone, which do not change, so the
/// answer cannot differ. A line that differs in any byte is parsed and checked as
/// usual, and remembered in its header's place once found valid. Only the values
/// are kept (the names are the constants below): an idle connection holds its two
/// paths and nothing more.
#[derive(Debug, Default, Clone)]
pub(crate) struct KnownLines([Vec<u8>; 3]);

/// The header of each place in [`KnownLines`], and the line's start before its value.
const KNOWN_LINES: [(HeaderName, &[u8]); 3] = [
    (HeaderName::ToPath, b"To-Path: "),
    (HeaderName::FromPath, b"From-Path: "),
    (HeaderName::ContentType, b"Content-Type: "),
];

impl KnownLines {
    /// The name and value offset of `line` (without its CRLF), if it is the line
    /// remembered for its header. The first byte picks the one place to compare
    /// with, so any other line costs a comparison of a byte or two.
    fn recall(&self, line: &[u8]) -> Option<(HeaderName, usize)> {
        let slot = match line.first()? {
            b'T' => 0,
            b'F' => 1,
            b'C' => 2,
            _ => return None,
        };
        let (name, prefix) = KNOWN_LINES[slot];
        let value = line.strip_prefix(prefix)?;
        let known = &self.0[slot];
        (!known.is_empty() && known.as_slice() == value).then_some((name, prefix.len()))
    }

    /// Remembers `field`'s value (of the head `raw`), found valid, in its header's
    /// place, if it has one and its line is in the RFC's spelling.
    fn remember(&mut self, raw: &[u8], field: Field) {
        let Some(slot) = KNOWN_LINES.iter().position(|(name, _)| *name == field.name) else {
            return;
        };
        let Some(value) = field.line.of(raw).strip_prefix(KNOWN_LINES[slot].1) else {
            return;
        };
        // A second space is part of the value as written, not of the prefix.
        if value != field.value.of(raw) {
            return;
        }
        let known = &mut self.0[slot];
        known.clear();
        known.extend_from_slice(value);
    }
}

/// The answer to a request whose head failed a check, if its transaction id and the
/// first URIs of both paths can be read.
fn answer_for(head: &Head) -> Option<Answer> {
    // Responses and REPORTs are never answered (RFC 4975 §7.1.2, §7.2).
    if !matches!(head.kind, Kind::Request(method) if method != Method::Report) {
        return None;
    }
    let raw = &head.raw;
    let mut to = None;
    let mut from = None;
    let mut at = memchr::memchr(b'\n', raw)? + 1;
    while at < raw.len() {
        let nl = memchr::memchr(b'\n', &raw[at..]).map_or(raw.len(), |i| at + i);
        let line = &raw[at..nl.saturating_sub(1).max(at)];
        if let Some(colon) = memchr::memchr(b':', line) {
            let value_start = line[colon + 1..]
                .iter()
                .position(|&b| b != b' ')
                .map_or(line.len(), |i| colon + 1 + i);
            let slot = match HeaderName::from_bytes(&line[..colon]) {
                HeaderName::ToPath => &mut to,
                HeaderName::FromPath => &mut from,
                // Failure-Report: no asks for no response at all, errors included.
                HeaderName::FailureReport if line[value_start..].eq_ignore_ascii_case(b"no") => {
                    return None;
                }
                _ => {
                    at = nl + 1;
                    continue;
                }
            };
            let value_end =
                memchr::memchr(b' ', &line[value_start..]).map_or(line.len(), |i| value_start + i);
            if slot.is_none() {
                *slot = MsrpUri::parse(raw.slice(at + value_start..at + value_end)).ok();
            }
        }
        at = nl + 1;
    }
    Some(Answer {
        transaction_id: head.transaction_id,
        responder: to,
        previous_hop: from?,
    })
}
