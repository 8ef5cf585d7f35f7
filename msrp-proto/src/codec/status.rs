//! MSRP status codes (RFC 4975 §10, RFC 4976 §5, RFC 7701 §8), named as the IANA
//! "MSRP Status Codes" registry names them.

use std::fmt;

/// A three-digit MSRP status code. A newtype rather than an enum because a peer may
/// send any code from 100 to 999 and we must carry it through (h2's `Reason` does the
/// same for HTTP/2 error codes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

impl StatusCode {
    /// 200: the transaction succeeded (RFC 4975 §10.1).
    pub const OK: Self = Self(200);
    /// 400: the request could not be understood (RFC 4975 §10.2).
    pub const UNINTELLIGIBLE: Self = Self(400);
    /// 401: AUTH needs credentials (RFC 4976 §5).
    pub const UNAUTHORIZED: Self = Self(401);
    /// 403: the action is not allowed, e.g. a From-Path or CPIM From mismatch
    /// (RFC 4975 §10.3, RFC 7701 §7.1).
    pub const ACTION_NOT_ALLOWED: Self = Self(403);
    /// 404: the recipient of a private message cannot be resolved (RFC 7701 §7.2).
    pub const FAILURE_TO_RESOLVE_RECIPIENT: Self = Self(404);
    /// 408: the transaction did not complete downstream; only ever inside a REPORT's
    /// Status header, never a transaction response (RFC 4975 §10.4).
    pub const TRANSACTION_DID_NOT_COMPLETE: Self = Self(408);
    /// 413: stop sending this message: it is too large (RFC 4975 §10.5).
    pub const STOP_SENDING_MESSAGE: Self = Self(413);
    /// 415: the media type is not understood (RFC 4975 §10.6).
    pub const MIME_NOT_UNDERSTOOD: Self = Self(415);
    /// 423: a parameter is out of bounds, e.g. AUTH Expires (RFC 4976 §5).
    pub const PARAMETER_OUT_OF_BOUNDS: Self = Self(423);
    /// 424: the nickname is malformed (RFC 7701 §8).
    pub const MALFORMED_NICKNAME: Self = Self(424);
    /// 425: the nickname is reserved or already in use (RFC 7701 §8).
    pub const NICKNAME_IN_USE: Self = Self(425);
    /// 428: private messages are not supported (RFC 7701 §7.2).
    pub const PRIVATE_MESSAGES_NOT_SUPPORTED: Self = Self(428);
    /// 481: the session does not exist (RFC 4975 §10.7).
    pub const SESSION_DOES_NOT_EXIST: Self = Self(481);
    /// 501: the request method is not understood (RFC 4975 §10.8).
    pub const METHOD_NOT_UNDERSTOOD: Self = Self(501);
    /// 506: the session is already bound to another connection (RFC 4975 §10.9).
    pub const SESSION_ALREADY_IN_USE: Self = Self(506);

    /// A status code from its number; `None` outside the three-digit range 100..=999.
    pub const fn new(code: u16) -> Option<Self> {
        if code >= 100 && code <= 999 {
            Some(Self(code))
        } else {
            None
        }
    }

    /// The number, e.g. 481.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// True for 2xx.
    pub const fn is_success(self) -> bool {
        self.0 >= 200 && self.0 < 300
    }

    /// The comment we put after the code on a response line: the registry's
    /// description, or a generic one for codes the registry does not name.
    pub const fn reason(self) -> &'static str {
        match self.0 {
            200 => "OK",
            400 => "Unintelligible",
            401 => "Unauthorized",
            403 => "Action not allowed",
            404 => "Failure to resolve recipient's URI",
            408 => "Transaction did not complete",
            413 => "Stop sending message",
            415 => "Media type not understood",
            423 => "Parameter out of bounds",
            424 => "Malformed nickname",
            425 => "Nickname reserved or already in use",
            428 => "Private messages not supported",
            481 => "Session does not exist",
            501 => "Method not understood",
            506 => "Session already in use",
            201..=299 => "Success",
            _ => "Failure",
        }
    }

    /// The three ASCII digits, for writing without formatting machinery.
    pub(crate) const fn digits(self) -> [u8; 3] {
        [
            b'0' + (self.0 / 100) as u8,
            b'0' + ((self.0 / 10) % 10) as u8,
            b'0' + (self.0 % 10) as u8,
        ]
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.reason())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_is_three_digits() {
        assert_eq!(StatusCode::new(99), None);
        assert_eq!(StatusCode::new(1000), None);
        assert_eq!(
            StatusCode::new(481),
            Some(StatusCode::SESSION_DOES_NOT_EXIST)
        );
        assert_eq!(StatusCode::new(100).map(StatusCode::digits), Some(*b"100"));
        assert_eq!(StatusCode::SESSION_ALREADY_IN_USE.digits(), *b"506");
    }
}
