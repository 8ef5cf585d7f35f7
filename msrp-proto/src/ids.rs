//! Identifiers: sessions and participants (named to the control API), connections
//! (named to the transport), and the random values that go on the wire.

use std::fmt;
use std::str::FromStr;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::codec::{MessageId, TransactionId};

/// Ids carry their shard in the top byte, so any thread can route a control call
/// to the owning shard without a shared table.
const SHARD_SHIFT: u32 = 56;

macro_rules! shard_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u64);

        impl $name {
            /// The id with this sequence number on this shard.
            pub fn new(shard: u8, seq: u64) -> Self {
                Self(u64::from(shard) << SHARD_SHIFT | (seq & ((1 << SHARD_SHIFT) - 1)))
            }

            /// The shard that owns it.
            pub fn shard(self) -> u8 {
                (self.0 >> SHARD_SHIFT) as u8
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{:x}", $prefix, self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(text: &str) -> Result<Self, ParseIdError> {
                let hex = text.strip_prefix($prefix).ok_or(ParseIdError)?;
                u64::from_str_radix(hex, 16).map(Self).map_err(|_| ParseIdError)
            }
        }
    };
}

shard_id!(
    /// A session (1:1 today; group and large-message later), as the control API names it.
    SessionKey,
    "s-"
);
shard_id!(
    /// A participant of a session, as the control API names it.
    ParticipantId,
    "p-"
);

/// A string that is not a session or participant id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an id issued by this switch")]
pub struct ParseIdError;

/// A connection on one shard.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Characters for random wire ids: ALPHANUM only, legal in a session-id, a
/// transaction id and a Message-ID alike.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Characters two at a time: entry `v` of the first 62² 12-bit values is
/// `ALPHABET[v / 62]` then `ALPHABET[v % 62]`, every pair once; the other 252
/// entries are filler that `WireIds::fill` writes and then overwrites, never
/// leaves. 8 KiB, built at compile time.
static PAIRS: [[u8; 2]; 4096] = pairs();

/// Builds [`PAIRS`].
const fn pairs() -> [[u8; 2]; 4096] {
    let mut table = [[b'_'; 2]; 4096];
    let mut value = 0;
    while value < VALID_PAIRS {
        table[value] = [ALPHABET[value / 62], ALPHABET[value % 62]];
        value += 1;
    }
    table
}

/// 12-bit values that are a pair of characters: 62².
const VALID_PAIRS: usize = ALPHABET.len() * ALPHABET.len();

/// Random characters per wire id: 22 base-62 characters hold 130 bits. RFC 4975 §14.1
/// asks 80 bits for a session-id; transaction ids get as many, because a peer that
/// could guess the id of a chunk we forward could close that chunk early from inside
/// its own body and inject a frame.
const RANDOM_CHARS: usize = 22;

/// A cryptographically secure generator of the random ids the switch puts on the wire.
pub struct WireIds {
    rng: StdRng,
}

impl WireIds {
    /// Seeded from the operating system.
    pub fn from_os() -> Self {
        Self {
            rng: StdRng::from_os_rng(),
        }
    }

    /// Seeded for a deterministic test.
    pub fn seeded(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Uniform base-62 characters, two at a time: each 64-bit draw gives five
    /// 12-bit values, and a value under 62² is a pair of characters while the
    /// rest (1 in 16) are skipped, so no pair, and no character at any position,
    /// is likelier than another. A table lookup instead of a division per
    /// character, and half the steps of one character per 6 bits: ids are made
    /// for every forwarded chunk and every group copy (issue 20). A skipped
    /// value's pair is written and then overwritten by the next, so the loop has
    /// no branch on the value; the scratch array has room for the second
    /// character of a last pair that does not fit `out`.
    fn fill<const N: usize>(&mut self, out: &mut [u8; N]) {
        const PER_DRAW: u32 = 5;
        const { assert!(N < 32, "ids are shorter than the scratch array") };
        let mut scratch = [0u8; 32];
        let mut filled = 0;
        while filled < N {
            let mut x = self.rng.next_u64();
            for _ in 0..PER_DRAW {
                let value = (x & 0xfff) as usize;
                x >>= 12;
                if filled < N {
                    let [first, second] = PAIRS[value];
                    scratch[filled] = first;
                    scratch[filled + 1] = second;
                    filled += 2 * usize::from(value < VALID_PAIRS);
                }
            }
        }
        out.copy_from_slice(&scratch[..N]);
    }

    /// A local session-id for a participant's URI: the owning shard as the first
    /// character (so a connection can be handed to it from its first frame) and
    /// 130 random bits.
    pub fn session_id(&mut self, shard: u8) -> String {
        let mut id = [0u8; 1 + RANDOM_CHARS];
        self.fill(&mut id);
        // The first character names the shard; the other 22 stay random.
        id[0] = ALPHABET[usize::from(shard) % ALPHABET.len()];
        String::from_utf8_lossy(&id).into_owned()
    }

    /// A fresh transaction id for a request the switch writes.
    pub fn transaction_id(&mut self) -> TransactionId {
        let mut id = [0u8; RANDOM_CHARS];
        self.fill(&mut id);
        // ALPHANUM of valid length: always an ident.
        TransactionId::from_alphanumeric(&id)
    }

    /// A fresh Message-ID for a message the switch originates (a bind SEND).
    pub fn message_id(&mut self) -> MessageId {
        let mut id = [0u8; RANDOM_CHARS];
        self.fill(&mut id);
        MessageId::from_alphanumeric(&id)
    }
}

/// The shard a local session-id names, from its first character.
pub fn shard_of_session_id(session_id: &str) -> Option<u8> {
    let first = *session_id.as_bytes().first()?;
    ALPHABET.iter().position(|&c| c == first).map(|i| i as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_shard_and_round_trip_as_text() {
        let id = ParticipantId::new(3, 42);
        assert_eq!(id.shard(), 3);
        assert_eq!(id.to_string().parse::<ParticipantId>(), Ok(id));
        assert!("s-1".parse::<ParticipantId>().is_err());
        assert!("p-zz".parse::<ParticipantId>().is_err());
    }

    #[test]
    fn wire_ids_are_random_and_name_the_shard() {
        let mut ids = WireIds::seeded(7);
        let a = ids.session_id(5);
        let b = ids.session_id(5);
        assert_ne!(a, b);
        assert_eq!(a.len(), 23);
        assert_eq!(shard_of_session_id(&a), Some(5));
        assert_ne!(ids.transaction_id(), ids.transaction_id());
        assert_eq!(ids.transaction_id().as_str().len(), 22);
        // Built without the ident check: they must pass it all the same.
        for _ in 0..1_000 {
            let tid = ids.transaction_id();
            assert_eq!(TransactionId::parse(tid.as_bytes(), 64), Ok(tid));
            let mid = ids.message_id();
            assert_eq!(MessageId::parse(mid.as_bytes(), 64), Ok(mid));
        }
    }

    /// The pairs `fill` draws from: each of the 62² pairs of characters once, so
    /// a pair is uniform, and the filler (never left in an id) only after them.
    #[test]
    fn the_pair_table_holds_every_pair_of_characters_once() {
        let mut seen = std::collections::HashSet::new();
        for pair in &PAIRS[..VALID_PAIRS] {
            assert!(pair.iter().all(|c| ALPHABET.contains(c)), "{pair:?}");
            assert!(seen.insert(*pair), "{pair:?} twice");
        }
        assert_eq!(seen.len(), 62 * 62);
        assert!(PAIRS[VALID_PAIRS..].iter().all(|pair| pair == b"__"));
    }

    /// Every character equally likely at every position: 28,182 ids, each of the
    /// 62 characters expected about 455 times per position; a biased or stuck
    /// position would be far off (bounds are about five standard deviations).
    #[test]
    fn wire_id_characters_are_uniform_at_every_position() {
        let mut ids = WireIds::seeded(11);
        let mut counts = [[0u32; 62]; 22];
        for _ in 0..28_182 {
            let tid = ids.transaction_id();
            for (position, c) in tid.as_str().bytes().enumerate() {
                let index = ALPHABET.iter().position(|&a| a == c).unwrap();
                counts[position][index] += 1;
            }
        }
        let total: u32 = counts.iter().flatten().sum();
        assert_eq!(total, 28_182 * 22);
        for (position, row) in counts.iter().enumerate() {
            // 28,182 draws over 62 characters: 454.5 expected, sd about 21.
            for (index, &n) in row.iter().enumerate() {
                assert!(
                    (350..=560).contains(&n),
                    "position {position}, {:?}: {n}",
                    ALPHABET[index] as char
                );
            }
        }
    }
}
