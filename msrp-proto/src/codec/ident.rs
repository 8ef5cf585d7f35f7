//! `ident` values (RFC 4975 §9): transaction ids and Message-IDs.
//!
//! ```text
//! ident      = ALPHANUM 3*31ident-char
//! ident-char = ALPHANUM / "." / "-" / "+" / "%" / "="
//! ```
//! Both are kept inline (no heap) so that making a fresh one per forwarded chunk
//! costs no allocation.

use std::fmt;

use super::limits::Limits;

const CAPACITY: usize = Limits::TRANSACTION_ID_CAPACITY;

/// An `ident` of at most [`Limits::TRANSACTION_ID_CAPACITY`] bytes, stored inline.
#[derive(Clone, Copy, PartialOrd, Ord)]
struct Ident {
    len: u8,
    bytes: [u8; CAPACITY],
}

impl Ident {
    fn parse(text: &[u8], max_len: usize) -> Result<Self, IdentError> {
        let max_len = max_len.min(CAPACITY);
        if text.len() < 4 {
            return Err(IdentError::TooShort);
        }
        if text.len() > max_len {
            return Err(IdentError::TooLong(max_len));
        }
        if !text[0].is_ascii_alphanumeric() {
            return Err(IdentError::BadCharacter);
        }
        if !text.iter().all(|&b| is_ident_char(b)) {
            return Err(IdentError::BadCharacter);
        }
        let mut bytes = [0; CAPACITY];
        bytes[..text.len()].copy_from_slice(text);
        Ok(Self {
            len: text.len() as u8,
            bytes,
        })
    }

    /// An ident from bytes the caller made of ALPHANUM only (the switch's own
    /// random ids), without checking each one again: this runs for every chunk
    /// the switch forwards.
    fn from_alphanumeric(text: &[u8]) -> Self {
        debug_assert!(text.len() >= 4 && text.iter().all(u8::is_ascii_alphanumeric));
        let len = text.len().min(CAPACITY);
        let mut bytes = [0; CAPACITY];
        bytes[..len].copy_from_slice(&text[..len]);
        Self {
            len: len as u8,
            bytes,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    fn as_str(&self) -> &str {
        // Only ASCII ident-chars are ever stored, so this cannot fail.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

// Compare only the characters in use (the rest is zero in both): a transaction
// table lookup compares ids for every answered chunk, and 22 bytes are a third
// of the inline 65.
impl PartialEq for Ident {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Ident {}

// Hash only the characters in use: the inline array is 64 bytes and these ids key
// the switch's transaction table on every forwarded chunk. Equal ids have equal
// used bytes (the rest is zero), so this agrees with `Eq`.
impl std::hash::Hash for Ident {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

/// `ident-char` as a table: every transaction id and Message-ID of every frame is
/// checked byte by byte, and a lookup is a third of the comparisons.
const IDENT_CHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'+' | b'%' | b'=');
        b += 1;
    }
    table
};

/// True for `ident-char`.
pub(crate) fn is_ident_char(b: u8) -> bool {
    IDENT_CHAR[usize::from(b)]
}

/// Why a string is not an `ident`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    /// Fewer than 4 characters.
    #[error("shorter than 4 characters")]
    TooShort,
    /// More characters than the limit allows.
    #[error("longer than {0} characters")]
    TooLong(usize),
    /// Not alphanumeric first, or a character outside `ident-char`.
    #[error("character outside ALPHANUM . - + % =")]
    BadCharacter,
}

macro_rules! ident_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Ident);

        impl $name {
            /// Parses an `ident` of at most `max_len` bytes (capped at 64).
            pub fn parse(text: &[u8], max_len: usize) -> Result<Self, IdentError> {
                Ident::parse(text, max_len).map(Self)
            }

            /// An id the switch made itself from 4 to 64 ALPHANUM characters
            /// (anything longer is cut at 64), built without checking them again.
            pub(crate) fn from_alphanumeric(text: &[u8]) -> Self {
                Self(Ident::from_alphanumeric(text))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// The id as bytes, for writing on the wire.
            pub fn as_bytes(&self) -> &[u8] {
                self.0.as_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.as_str())
            }
        }
    };
}

ident_type!(
    /// A transaction id (RFC 4975 §7.1: `transact-id`): names one request, its response
    /// and its end-line. A switch makes a fresh one for every request it writes.
    TransactionId
);

ident_type!(
    /// A Message-ID (RFC 4975 §7.1.1): shared by every chunk of one message, end to end.
    MessageId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rfc_examples() {
        for text in [
            "a786hjs2",
            "d93kswow",
            "12339sdqwer",
            "dkei38sd",
            "a+b=c.d-e%f",
        ] {
            let tid = TransactionId::parse(text.as_bytes(), 32).unwrap();
            assert_eq!(tid.as_str(), text);
        }
    }

    #[test]
    fn rejects_bad_idents() {
        assert_eq!(TransactionId::parse(b"abc", 32), Err(IdentError::TooShort));
        assert_eq!(
            TransactionId::parse(&[b'a'; 33], 32),
            Err(IdentError::TooLong(32))
        );
        assert!(TransactionId::parse(&[b'a'; 33], 64).is_ok());
        assert_eq!(
            TransactionId::parse(&[b'a'; 65], 200),
            Err(IdentError::TooLong(64))
        );
        assert_eq!(
            TransactionId::parse(b".abc", 32),
            Err(IdentError::BadCharacter)
        );
        assert_eq!(
            MessageId::parse(b"ab cd", 32),
            Err(IdentError::BadCharacter)
        );
        assert_eq!(
            MessageId::parse("abcé".as_bytes(), 32),
            Err(IdentError::BadCharacter)
        );
    }
}
