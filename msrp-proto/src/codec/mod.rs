//! The sans-IO MSRP codec (RFC 4975 §7, §9): bytes in, frames out, and back.
//!
//! - [`Decoder`] turns a read buffer into [`Item`]s: a [`Head`], the body as zero-copy
//!   `Bytes` pieces as they arrive, then the end-line's [`ContinuationFlag`].
//! - [`Encoder`] writes heads (as received, or rewritten for the next hop with
//!   [`Rewrite`]), responses and end-lines, for one vectored write per [`Frame`].
//! - [`Limits`] caps everything a peer could make us buffer; every [`DecodeError`]
//!   says which [`StatusCode`] answers it and whether the stream is still [`Framing`]
//!   (answer and go on) or lost (close).
//!
//! Nothing here knows of sockets, runtimes or clocks.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod byte_range;
mod decode;
mod encode;
mod error;
mod head;
mod head_box;
mod header;
mod ident;
mod limits;
mod status;
mod uri;

pub use byte_range::{ByteRange, ByteRangeError};
pub(crate) use decode::Step;
pub use decode::{Decoder, Item};
pub use encode::{Encoder, Frame, HeadWriter, Rewrite};
pub use error::{Answer, DecodeError, ErrorKind, Framing};
pub use head::{ContinuationFlag, Head, Method, Status};
pub(crate) use head_box::HeadBox;
pub use header::{FailureReport, HeaderName, SuccessReport};
pub use ident::{IdentError, MessageId, TransactionId};
pub use limits::{Limits, LimitsError};
pub use status::StatusCode;
pub use uri::{MsrpUri, Scheme, UriError};
