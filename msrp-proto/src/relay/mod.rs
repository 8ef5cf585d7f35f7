//! RFC 4976 relay mode, beside the switch on the same connections: a frame is the
//! relay's when its first To-Path URI is one of the relay's (an AUTH to the relay's
//! own URI, or a URI the relay handed a client in `Use-Path`); every other frame is
//! the switch's.
//!
//! - `digest`: the HTTP Digest challenge and check (RFC 7616, `qop=auth`).
//! - `auth`: AUTH (§5, §6.1): 401, then 200 with `Use-Path` and `Expires`, or 423.
//! - `forward`: requests through the relay (§6.3, §7): answered hop by hop, our URI
//!   moved from To-Path to From-Path, sent on the client's connection or to the
//!   next hop; error responses and timeouts become REPORTs (§6.4.1).
//!
//! A client's relay connection goes through these states (`RelayConn`):
//!
//! ```text
//!   Accepted ── AUTH (no credentials) ──▶ 401 + nonce ──┐
//!      │                                                │ AUTH with Authorization
//!      │                         wrong answer (≤ max) ◀─┤
//!      │                         max failures: 403, closed
//!      │                                                ▼
//!      │                         Expires out of bounds: 423 + Min/Max-Expires
//!      │                                                ▼
//!      │                           200 Use-Path: msrp(s)://relay/<id>;tcp, Expires
//!      ▼                                                ▼
//!   a request for a relay URI ─────────────────▶ State::Relay (binding timer gone)
//!                                   bindings expire at Expires, or with the connection
//! ```
//!
//! The relay runs on shard [`RELAY_SHARD`]: the transport hands every connection
//! whose first request is an AUTH to the relay's URI there, and the session-ids of
//! its URIs name that shard, so frames for them arrive there too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap as HashMap;
use smallvec::SmallVec;

use crate::ids::ConnId;

mod auth;
pub mod digest;
mod forward;

pub use digest::{Algorithm, Credentials, CredentialsError};
pub(crate) use forward::{RelayForward, ReportTo};

/// The shard the relay runs on.
pub const RELAY_SHARD: u8 = 0;

/// How AUTH is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayAuth {
    /// HTTP Digest against [`Credentials`] (the default).
    Digest,
    /// Every AUTH is granted without a challenge: trusted networks and benchmarks.
    None,
}

/// The relay's settings.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// How AUTH is checked.
    pub auth: RelayAuth,
    /// The Digest realm.
    pub realm: String,
    /// The shortest grant a client may ask for (`Min-Expires` in a 423).
    pub min_expires: Duration,
    /// The longest grant (`Max-Expires` in a 423).
    pub max_expires: Duration,
    /// The grant when the AUTH asks for none.
    pub default_expires: Duration,
    /// How long a nonce may be answered.
    pub nonce_lifetime: Duration,
    /// Failed answers on one connection before it is refused (403) and closed.
    pub max_auth_failures: u32,
    /// Relay URIs one connection may hold at once; an AUTH beyond gets 403.
    pub max_bindings_per_connection: usize,
    /// Connections the relay may have open to next hops (other relays,
    /// endpoints); a request needing one more gets 481.
    pub max_hop_connections: usize,
    /// At the end of each read, a relayed chunk holding at least this many body
    /// bytes sends them on at once (ended `+`, the rest follows as the next
    /// chunk): long chunks stream through with at most one read's delay, short
    /// messages go on whole.
    pub flush_bytes: usize,
    /// A relayed chunk is written on once this many of its body bytes are in (and
    /// the rest follows as the next chunk, RFC 4976 §7.1 allows re-chunking), so a
    /// relay holds at most this much per sending connection.
    pub rechunk_bytes: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            auth: RelayAuth::Digest,
            realm: "msrp-switch".into(),
            // Kamailio's msrp module: 60 s to 3600 s.
            min_expires: Duration::from_secs(60),
            max_expires: Duration::from_secs(3600),
            default_expires: Duration::from_secs(1800),
            nonce_lifetime: Duration::from_secs(30),
            max_auth_failures: 3,
            max_bindings_per_connection: 16,
            max_hop_connections: 1024,
            flush_bytes: 16 * 1024,
            rechunk_bytes: 256 * 1024,
        }
    }
}

/// A relay URI handed to a client in `Use-Path`.
#[derive(Debug, Clone)]
pub(crate) struct Binding {
    /// The connection the client authenticated on: requests toward the client go
    /// out on it.
    pub(crate) conn: ConnId,
    /// When the grant ends.
    pub(crate) expires_at: Instant,
}

/// The nonce a connection was last challenged with.
#[derive(Debug, Clone)]
pub(crate) struct Nonce {
    pub(crate) value: String,
    pub(crate) issued_at: Instant,
    /// The highest `nc` answered with it: each count is used once.
    pub(crate) last_nc: u32,
}

/// The relay's view of one connection.
#[derive(Debug, Default)]
pub(crate) struct RelayConn {
    pub(crate) nonce: Option<Nonce>,
    pub(crate) failures: u32,
    /// Session-ids of the relay URIs granted on it.
    pub(crate) bindings: SmallVec<[String; 1]>,
    /// The connection the last request relayed from it went to: while that one's
    /// queue is over its bound this one is not read (TCP flow control then slows
    /// its sender).
    pub(crate) feeding: Option<ConnId>,
    /// The next hop the relay opened it to, if it did.
    pub(crate) hop: Option<Hop>,
    /// The REPORT paths of its last relayed request, reused while they repeat.
    pub(crate) last_report_to: Option<Arc<ReportTo>>,
}

/// A next hop: host (lower case), port, and TLS (`msrps`) or not.
pub(crate) type Hop = (String, u16, bool);

/// The relay's state in one endpoint.
#[derive(Debug)]
pub(crate) struct Relay {
    pub(crate) config: RelayConfig,
    pub(crate) credentials: Credentials,
    /// Granted relay URIs by session-id.
    pub(crate) bindings: HashMap<String, Binding>,
    pub(crate) conns: HashMap<ConnId, RelayConn>,
    /// Connections not read while the one they relay to is over its bound, by
    /// that one: woken when it drains.
    pub(crate) waiting: HashMap<ConnId, SmallVec<[ConnId; 2]>>,
    /// Connections the relay opened to next hops, reused by every request
    /// that goes there (RFC 4976 §7.4).
    pub(crate) hops: HashMap<Hop, ConnId>,
}

impl Relay {
    pub(crate) fn new(config: RelayConfig) -> Self {
        Self {
            config,
            credentials: Credentials::new(),
            bindings: HashMap::default(),
            conns: HashMap::default(),
            waiting: HashMap::default(),
            hops: HashMap::default(),
        }
    }

    /// The binding `session_id` names, if granted and not expired at `now`.
    pub(crate) fn binding(&self, session_id: &str, now: Instant) -> Option<&Binding> {
        self.bindings.get(session_id).filter(|b| b.expires_at > now)
    }
}
