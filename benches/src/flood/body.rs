//! What a flood message body carries, and how its receiver checks it without the
//! sender's copy.
//!
//! ```text
//!  0        8          12       16        24                      size
//!  ┌────────┬──────────┬────────┬─────────┬─────────────────────────┐
//!  │sent_ns │ session  │ flags  │   seq   │ fill(seed(session, seq)) │
//!  └────────┴──────────┴────────┴─────────┴─────────────────────────┘
//!     u64 LE   u32 LE    u32 LE   u64 LE    word k = mix(seed, k), LE
//! ```
//!
//! The fill is position-addressable: the 8-byte word at body offset `8k` depends only
//! on the message's seed and `k`, so a receiver checks every piece where it lands,
//! whatever the chunking and read boundaries, and a body that belongs to another
//! message (other seed) or is shifted (other `k`) fails. A receiver keeps 24 bytes of
//! state per message in flight and never stores a body.

/// Bytes at the start of every body before the fill: sent time, session, flags, seq.
pub const HEADER_LEN: usize = 24;

/// Flag bit: the message was sent inside the measured window (not warm-up).
pub const FLAG_MEASURED: u32 = 1;

/// The fixed fields at the start of a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyHeader {
    /// When the message was sent (or, when paced, when it was due), in nanoseconds
    /// since the process-wide base of [`super::clock::now_ns`].
    pub sent_ns: u64,
    /// The session (0-based) whose sender wrote it.
    pub session: u32,
    /// [`FLAG_MEASURED`] or 0.
    pub flags: u32,
    /// The message's number within its session, from 0.
    pub seq: u64,
}

impl BodyHeader {
    /// The header as it goes on the wire.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0; HEADER_LEN];
        out[0..8].copy_from_slice(&self.sent_ns.to_le_bytes());
        out[8..12].copy_from_slice(&self.session.to_le_bytes());
        out[12..16].copy_from_slice(&self.flags.to_le_bytes());
        out[16..24].copy_from_slice(&self.seq.to_le_bytes());
        out
    }

    /// Reads a header back.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Self {
        let word = |at: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let half = |at: usize| {
            let mut w = [0; 4];
            w.copy_from_slice(&bytes[at..at + 4]);
            u32::from_le_bytes(w)
        };
        Self {
            sent_ns: word(0),
            session: half(8),
            flags: half(12),
            seq: word(16),
        }
    }

    /// True when the message counts in the figures.
    pub fn is_measured(&self) -> bool {
        self.flags & FLAG_MEASURED != 0
    }

    /// The seed of this message's fill.
    pub fn seed(&self) -> u64 {
        seed(self.session, self.seq)
    }
}

/// The fill seed of message `seq` of `session`.
pub fn seed(session: u32, seq: u64) -> u64 {
    splitmix64(splitmix64(u64::from(session)) ^ seq)
}

/// Appends bytes `range` of the body of a message of `size` bytes with `header` to
/// `out`. Sending a message in chunks calls this once per chunk.
pub fn write_range(out: &mut Vec<u8>, header: &BodyHeader, range: std::ops::Range<usize>) {
    let start = out.len();
    out.resize(start + range.len(), 0);
    fill_slice(&mut out[start..], header, range.start);
}

/// Writes the body bytes that begin at offset `pos` into `dst`.
pub fn fill_slice(dst: &mut [u8], header: &BodyHeader, pos: usize) {
    let mut done = 0;
    if pos < HEADER_LEN {
        let encoded = header.encode();
        let n = (HEADER_LEN - pos).min(dst.len());
        dst[..n].copy_from_slice(&encoded[pos..pos + n]);
        done = n;
    }
    fill_words(&mut dst[done..], header.seed(), pos + done);
}

/// Checks a message body as it arrives, piece by piece.
#[derive(Debug, Clone)]
pub struct BodyCheck {
    header_bytes: [u8; HEADER_LEN],
    header: Option<BodyHeader>,
    received: usize,
    intact: bool,
}

impl Default for BodyCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl BodyCheck {
    /// A check at offset 0 of a new message.
    pub fn new() -> Self {
        Self {
            header_bytes: [0; HEADER_LEN],
            header: None,
            received: 0,
            intact: true,
        }
    }

    /// Feeds the next piece of the body, in order.
    pub fn feed(&mut self, mut piece: &[u8]) {
        if self.received < HEADER_LEN {
            let n = (HEADER_LEN - self.received).min(piece.len());
            self.header_bytes[self.received..self.received + n].copy_from_slice(&piece[..n]);
            self.received += n;
            piece = &piece[n..];
            if self.received == HEADER_LEN {
                self.header = Some(BodyHeader::decode(&self.header_bytes));
            }
        }
        if piece.is_empty() {
            return;
        }
        if let Some(header) = self.header
            && self.intact
        {
            self.intact = words_match(piece, header.seed(), self.received);
        }
        self.received += piece.len();
    }

    /// Bytes fed so far.
    pub fn received(&self) -> usize {
        self.received
    }

    /// The header, once its 24 bytes have arrived.
    pub fn header(&self) -> Option<BodyHeader> {
        self.header
    }

    /// True when a header arrived and every fill byte so far was the expected one.
    pub fn is_intact(&self) -> bool {
        self.intact && self.header.is_some()
    }
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Word `k` of the fill: cheap (one multiply), and different for every position and
/// every seed.
#[inline]
fn word(seed: u64, k: u64) -> u64 {
    let x = seed ^ k.wrapping_mul(GOLDEN);
    x ^ (x >> 29)
}

/// The fill bytes of body offsets `pos..pos + dst.len()`.
fn fill_words(dst: &mut [u8], seed: u64, pos: usize) {
    let mut at = 0;
    let mut pos = pos;
    // Leading bytes up to a word boundary.
    while at < dst.len() && pos % 8 != 0 {
        dst[at] = word(seed, (pos / 8) as u64).to_le_bytes()[pos % 8];
        at += 1;
        pos += 1;
    }
    let mut k = (pos / 8) as u64;
    let mut words = dst[at..].chunks_exact_mut(8);
    for chunk in &mut words {
        chunk.copy_from_slice(&word(seed, k).to_le_bytes());
        k += 1;
    }
    let tail = words.into_remainder();
    let last = word(seed, k).to_le_bytes();
    let n = tail.len();
    tail.copy_from_slice(&last[..n]);
}

/// True when `piece`, found at body offset `pos`, is the expected fill.
fn words_match(piece: &[u8], seed: u64, pos: usize) -> bool {
    let mut at = 0;
    let mut pos = pos;
    while at < piece.len() && pos % 8 != 0 {
        if piece[at] != word(seed, (pos / 8) as u64).to_le_bytes()[pos % 8] {
            return false;
        }
        at += 1;
        pos += 1;
    }
    let mut k = (pos / 8) as u64;
    let mut words = piece[at..].chunks_exact(8);
    let mut diff = 0u64;
    for chunk in &mut words {
        let mut w = [0; 8];
        w.copy_from_slice(chunk);
        diff |= u64::from_le_bytes(w) ^ word(seed, k);
        k += 1;
    }
    let tail = words.remainder();
    let last = word(seed, k).to_le_bytes();
    diff == 0 && tail == &last[..tail.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(seq: u64) -> BodyHeader {
        BodyHeader {
            sent_ns: 123_456_789,
            session: 7,
            flags: FLAG_MEASURED,
            seq,
        }
    }

    fn body(h: &BodyHeader, size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        write_range(&mut out, h, 0..size);
        out
    }

    #[test]
    fn header_round_trips() {
        let h = header(99);
        assert_eq!(BodyHeader::decode(&h.encode()), h);
    }

    #[test]
    fn a_body_checks_whatever_the_piece_boundaries() {
        let h = header(3);
        let whole = body(&h, 1000);
        for split in [1, 3, 7, 8, 13, 24, 25, 64, 999, 1000] {
            let mut check = BodyCheck::new();
            for piece in whole.chunks(split) {
                check.feed(piece);
            }
            assert!(check.is_intact(), "split {split}");
            assert_eq!(check.received(), 1000);
            assert_eq!(check.header(), Some(h));
        }
    }

    #[test]
    fn chunks_written_separately_equal_the_whole_body() {
        let h = header(5);
        let whole = body(&h, 777);
        let mut pieces = Vec::new();
        for start in (0..777).step_by(50) {
            write_range(&mut pieces, &h, start..(start + 50).min(777));
        }
        assert_eq!(pieces, whole);
    }

    #[test]
    fn a_changed_or_foreign_body_fails() {
        let h = header(1);
        let mut bad = body(&h, 300);
        bad[200] ^= 1;
        let mut check = BodyCheck::new();
        check.feed(&bad);
        assert!(!check.is_intact());

        // The body of another message with this one's header.
        let mut foreign = body(&header(2), 300);
        foreign[..HEADER_LEN].copy_from_slice(&h.encode());
        let mut check = BodyCheck::new();
        check.feed(&foreign);
        assert!(!check.is_intact());
    }
}
