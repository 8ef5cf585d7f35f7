//! Decode errors: each says which MSRP status answers it and whether the byte stream
//! is still framed (answer, skip the frame, go on) or lost (close the connection).

use super::byte_range::ByteRangeError;
use super::header::HeaderName;
use super::ident::{IdentError, TransactionId};
use super::status::StatusCode;
use super::uri::{MsrpUri, UriError};

/// What went wrong, one variant per cause. Lost-framing variants come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The first line is not `MSRP SP transact-id SP (method / status-code [SP comment])`
    /// (RFC 4975 §9; "MSRP" is case-sensitive).
    #[error("malformed start line")]
    BadStartLine,
    /// The transaction id on the start line is not an `ident` within the limit.
    #[error("bad transaction id: {0}")]
    BadTransactionId(IdentError),
    /// A line ends in LF without CR.
    #[error("line ends in a bare LF")]
    BareLineFeed,
    /// No end of head within `max_head_bytes`.
    #[error("head larger than max_head_bytes")]
    HeadTooLarge,
    /// A line in the head starts like an end-line but is not `-------<tid><flag>`.
    #[error("end-line does not match the transaction id and a flag")]
    EndLineMismatch,
    /// `CRLF -------<tid><flag>` in a body is not followed by CRLF.
    #[error("end-line flag not followed by CRLF")]
    MalformedEndLine,
    /// The decoder already lost framing on this stream.
    #[error("stream already failed")]
    Failed,
    /// No To-Path header (RFC 4975 §7.1).
    #[error("missing To-Path")]
    MissingToPath,
    /// No From-Path header (RFC 4975 §7.1).
    #[error("missing From-Path")]
    MissingFromPath,
    /// A URI in a path header is malformed.
    #[error("bad URI in {0}: {1}")]
    BadUri(HeaderName, UriError),
    /// A path holds more URIs than `max_uris_per_path`.
    #[error("more URIs in {0} than max_uris_per_path")]
    TooManyUris(HeaderName),
    /// More header lines than `max_headers`.
    #[error("more headers than max_headers")]
    TooManyHeaders,
    /// A header line without `name ":"`.
    #[error("header line without a name and colon")]
    HeaderWithoutColon,
    /// A header that may appear once appears twice.
    #[error("duplicate {0}")]
    DuplicateHeader(HeaderName),
    /// A Byte-Range value that does not parse or does not add up.
    #[error("bad Byte-Range: {0}")]
    BadByteRange(ByteRangeError),
    /// A header value that does not fit its grammar.
    #[error("bad {0} value")]
    BadHeaderValue(HeaderName),
    /// The head is not UTF-8 (RFC 4975 §9: header values are utf8text).
    #[error("head is not UTF-8")]
    NotUtf8,
    /// A body without Content-Type (RFC 4975 §9 content-stuff).
    #[error("body without Content-Type")]
    BodyWithoutContentType,
    /// A response carries a body; responses have none (RFC 4975 §9 msrp-response).
    #[error("response with a body")]
    ResponseWithBody,
    /// A chunk body longer than `max_chunk_bytes`.
    #[error("chunk larger than max_chunk_bytes")]
    ChunkTooLarge,
}

impl ErrorKind {
    /// Whether the stream can still be read frame by frame after this error.
    pub fn framing(self) -> Framing {
        match self {
            Self::BadStartLine
            | Self::BadTransactionId(_)
            | Self::BareLineFeed
            | Self::HeadTooLarge
            | Self::EndLineMismatch
            | Self::MalformedEndLine
            | Self::Failed => Framing::Lost,
            _ => Framing::Kept,
        }
    }

    /// The status this error maps to; `None` when framing is lost and the connection
    /// closes without an answer.
    pub fn status(self) -> Option<StatusCode> {
        match self.framing() {
            Framing::Lost => None,
            Framing::Kept if self == Self::ChunkTooLarge => Some(StatusCode::STOP_SENDING_MESSAGE),
            // RFC 7701 §8: a Use-Nickname that is no quoted-string is a malformed
            // nickname.
            Framing::Kept if self == Self::BadHeaderValue(HeaderName::UseNickname) => {
                Some(StatusCode::MALFORMED_NICKNAME)
            }
            Framing::Kept => Some(StatusCode::UNINTELLIGIBLE),
        }
    }
}

/// After an error: can the stream go on?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// The frame's extent is known; it is skipped and the next frame decodes.
    Kept,
    /// The frame's end cannot be found; the connection must close.
    Lost,
}

/// Where to send the error response: a request's transaction id and the first URIs
/// of its paths, when they could be read (RFC 4975 §7.2: the response goes to the
/// previous hop only).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The request's transaction id.
    pub transaction_id: TransactionId,
    /// The first To-Path URI of the request: the responder, i.e. us. `None` when
    /// To-Path is missing or unreadable: the responder answers from its own URI
    /// (RFC 4975 §7.3: such a request is still answered 400 when it can be
    /// addressed).
    pub responder: Option<MsrpUri>,
    /// The first From-Path URI of the request: the previous hop.
    pub previous_hop: MsrpUri,
}

/// A decode failure with what the caller needs to answer it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}")]
pub struct DecodeError {
    kind: ErrorKind,
    // Boxed: errors are rare, and a small error keeps every `Result` small.
    answer: Option<Box<Answer>>,
}

impl DecodeError {
    pub(crate) fn new(kind: ErrorKind, answer: Option<Answer>) -> Self {
        Self {
            kind,
            answer: answer.map(Box::new),
        }
    }

    pub(crate) fn lost(kind: ErrorKind) -> Self {
        Self { kind, answer: None }
    }

    /// The cause.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether the stream goes on.
    pub fn framing(&self) -> Framing {
        self.kind.framing()
    }

    /// The MSRP status for this error (see [`ErrorKind::status`]).
    pub fn status(&self) -> Option<StatusCode> {
        self.kind.status()
    }

    /// Where to send the error response; `None` for responses (never answered), for
    /// lost framing, and when the paths could not be read. Also `None` for
    /// [`ErrorKind::ChunkTooLarge`]: it is raised after the frame's `Head` was handed
    /// out, so the 413 is addressed from that head.
    pub fn answer(&self) -> Option<&Answer> {
        self.answer.as_deref()
    }
}
