//! The Byte-Range header (RFC 4975 §7.1.1, §9): which octets of a message a chunk
//! carries.

use bytes::BufMut;
use std::fmt;

/// `Byte-Range: range-start "-" range-end "/" total`, 1-based and inclusive. `None`
/// stands for `*`: the end is unknown while a sender streams, the total when the size
/// is unknown. Real clients send `1-*/5000` on every chunk (msrplib), so both must parse.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ByteRange {
    /// The position of the chunk's first octet in the message, from 1.
    pub start: u64,
    /// The position of the chunk's last octet, or `None` for `*`.
    pub end: Option<u64>,
    /// The message size, or `None` for `*`.
    pub total: Option<u64>,
}

/// Why a Byte-Range value is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ByteRangeError {
    /// Not `digits "-" (digits / "*") "/" (digits / "*")`.
    #[error("not of the form start-end/total")]
    Syntax,
    /// A start of 0: ranges count from 1.
    #[error("range-start is 0; ranges count from 1")]
    ZeroStart,
    /// An end before the start (other than the empty `n-(n-1)`).
    #[error("range-end is before range-start")]
    EndBeforeStart,
    /// An end past the total.
    #[error("range-end is past total")]
    EndPastTotal,
}

impl ByteRange {
    /// The whole of a message of `len` octets in one chunk; `1-0/0` for an empty one
    /// (the bodiless SEND that binds a connection).
    pub fn whole(len: u64) -> Self {
        Self {
            start: 1,
            end: Some(len),
            total: Some(len),
        }
    }

    /// Parses the header value in one pass over its bytes: it is read for every
    /// chunk.
    pub fn parse(value: &[u8]) -> Result<Self, ByteRangeError> {
        let (start, at) = digits_at(value, 0).ok_or(ByteRangeError::Syntax)?;
        let at = expect(value, at, b'-')?;
        let (end, at) = digits_or_star_at(value, at)?;
        let at = expect(value, at, b'/')?;
        let (total, at) = digits_or_star_at(value, at)?;
        if at != value.len() {
            return Err(ByteRangeError::Syntax);
        }
        let range = Self { start, end, total };
        range.check()?;
        Ok(range)
    }

    fn check(&self) -> Result<(), ByteRangeError> {
        if self.start == 0 {
            return Err(ByteRangeError::ZeroStart);
        }
        if let Some(end) = self.end {
            // `n-(n-1)` is an empty chunk at position n; `1-0/0` is the empty SEND.
            if end + 1 < self.start {
                return Err(ByteRangeError::EndBeforeStart);
            }
            if self.total.is_some_and(|total| end > total) {
                return Err(ByteRangeError::EndPastTotal);
            }
        }
        Ok(())
    }

    /// Writes the value (without the header name) in wire form, a number at a
    /// time: the encoder writes one for every forwarded chunk.
    pub fn write_to(&self, out: &mut impl BufMut) {
        let mut num = itoa::Buffer::new();
        out.put_slice(num.format(self.start).as_bytes());
        out.put_u8(b'-');
        match self.end {
            Some(end) => out.put_slice(num.format(end).as_bytes()),
            None => out.put_u8(b'*'),
        }
        out.put_u8(b'/');
        match self.total {
            Some(total) => out.put_slice(num.format(total).as_bytes()),
            None => out.put_u8(b'*'),
        }
    }
}

/// The offset after `byte`, if `byte` is at `at`.
fn expect(value: &[u8], at: usize, byte: u8) -> Result<usize, ByteRangeError> {
    match value.get(at) {
        Some(&b) if b == byte => Ok(at + 1),
        _ => Err(ByteRangeError::Syntax),
    }
}

/// `1*19DIGIT` starting at `at`, and the offset after it; `None` without a digit
/// or with more than 19 (the most that always fit a u64, as in [`parse_digits`]).
fn digits_at(value: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut n = 0u64;
    let mut end = at;
    while let Some(&b) = value.get(end) {
        if !b.is_ascii_digit() {
            break;
        }
        if end - at == 19 {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
        end += 1;
    }
    (end > at).then_some((n, end))
}

/// `1*19DIGIT / "*"` starting at `at` (`None` for the star), and the offset after it.
fn digits_or_star_at(value: &[u8], at: usize) -> Result<(Option<u64>, usize), ByteRangeError> {
    if value.get(at) == Some(&b'*') {
        return Ok((None, at + 1));
    }
    let (n, end) = digits_at(value, at).ok_or(ByteRangeError::Syntax)?;
    Ok((Some(n), end))
}

/// `1*DIGIT` into a u64; `None` if empty, not all digits, or too large.
pub(crate) fn parse_digits(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

impl fmt::Display for ByteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = Vec::with_capacity(24);
        self.write_to(&mut text);
        f.write_str(&String::from_utf8_lossy(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_back() {
        for (text, range) in [
            ("1-2048/5000", (1, Some(2048), Some(5000))),
            ("1-*/5000", (1, None, Some(5000))),
            ("1-*/*", (1, None, None)),
            ("2049-5000/5000", (2049, Some(5000), Some(5000))),
            ("1-0/0", (1, Some(0), Some(0))),
            ("5-4/10", (5, Some(4), Some(10))),
            ("1-25/*", (1, Some(25), None)),
        ] {
            let parsed = ByteRange::parse(text.as_bytes()).unwrap();
            assert_eq!((parsed.start, parsed.end, parsed.total), range);
            assert_eq!(parsed.to_string(), text);
        }
    }

    #[test]
    fn refuses_bad_ranges() {
        for (text, err) in [
            ("", ByteRangeError::Syntax),
            ("1-2", ByteRangeError::Syntax),
            ("1/2-3", ByteRangeError::Syntax),
            ("*-5/5", ByteRangeError::Syntax),
            ("a-5/5", ByteRangeError::Syntax),
            ("1-5/5 ", ByteRangeError::Syntax),
            ("-1-5/5", ByteRangeError::Syntax),
            ("1-5/99999999999999999999", ByteRangeError::Syntax),
            ("0-5/5", ByteRangeError::ZeroStart),
            ("10-5/20", ByteRangeError::EndBeforeStart),
            ("1-6/5", ByteRangeError::EndPastTotal),
        ] {
            assert_eq!(ByteRange::parse(text.as_bytes()), Err(err), "{text:?}");
        }
    }

    /// The two-scan parser this one replaced: find the first `-` and the first
    /// `/`, then parse the three parts.
    fn reference(value: &[u8]) -> Result<ByteRange, ByteRangeError> {
        let find = |c: u8| value.iter().position(|&b| b == c);
        let or_star = |text: &[u8]| {
            if text == b"*" {
                return Ok(None);
            }
            parse_digits(text).map(Some).ok_or(ByteRangeError::Syntax)
        };
        let dash = find(b'-').ok_or(ByteRangeError::Syntax)?;
        let slash = find(b'/').ok_or(ByteRangeError::Syntax)?;
        if slash < dash {
            return Err(ByteRangeError::Syntax);
        }
        let start = parse_digits(&value[..dash]).ok_or(ByteRangeError::Syntax)?;
        let end = or_star(&value[dash + 1..slash])?;
        let total = or_star(&value[slash + 1..])?;
        let range = ByteRange { start, end, total };
        range.check()?;
        Ok(range)
    }

    #[test]
    fn the_one_pass_parser_agrees_with_the_two_scan_one_on_every_short_value() {
        const ALPHABET: &[u8] = b"019-/*x";
        let mut checked = 0;
        for len in 0..=7u32 {
            for mut n in 0..ALPHABET.len().pow(len) {
                let mut value = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    value.push(ALPHABET[n % ALPHABET.len()]);
                    n /= ALPHABET.len();
                }
                assert_eq!(ByteRange::parse(&value), reference(&value), "{value:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, (0..=7).map(|l| 7usize.pow(l)).sum::<usize>());
        let nineteen = "9".repeat(19);
        for text in [
            format!("1-{nineteen}/{nineteen}"),
            format!("1-{nineteen}9/{nineteen}9"),
            format!("{nineteen}-*/*"),
            format!("{nineteen}9-*/*"),
        ] {
            assert_eq!(
                ByteRange::parse(text.as_bytes()),
                reference(text.as_bytes()),
                "{text}"
            );
        }
    }
}
