//! What msrp-switch's integration tests share: a switch on loopback, its control
//! API, MSRP test peers over real TCP and the frame reader they decode with.
//! A dev-dependency only (`publish = false`), as h2 keeps `tests/h2-support`.
//!
//! Module map:
//! - [`engine`]: a real engine on `127.0.0.1:0` ([`start_engine`]), stopped on drop,
//!   and sessions set up on it directly ([`one_to_one`]); its metrics ([`metric`]).
//! - [`control`]: the gRPC control API served for that engine ([`ControlServer`]),
//!   an SDP offer to add participants with ([`sdp_offer`], [`add_with_sdp`]) and
//!   the switch's URI read back from an answer ([`switch_uri`]).
//! - [`daemon`]: the daemon binary on loopback, its addresses and log lines.
//! - [`cluster`]: several daemons at once, as the nodes of a placement cluster.
//! - [`http`]: the control API over HTTP/JSON on the HTTP port, and a script's
//!   HTTP client.
//! - [`frame`]: [`Frame`], one decoded frame, and [`FrameReader`], which reads
//!   whole frames off any byte stream with the switch's own decoder.
//! - [`wire`]: the literal frames a test peer writes (a SEND chunk, the bind SEND,
//!   a response), so each is spelled once.
//! - [`peer`]: [`Peer`], an MSRP endpoint on one TCP (or TLS) connection.
//! - [`ws`]: a browser's side of MSRP over WebSocket (RFC 7977).
//! - [`sip`]: a small SIP user agent over UDP, for calls through a real proxy.
//! - [`relay`]: an RFC 4976 relay client's AUTH (the Digest answer to a 401).
//! - [`tls`]: certificates, a rustls client pinning the switch's fingerprint, a
//!   TLS engine and the acceptor of a listening TLS peer.
//! - [`process`]: stopping a daemon a test started, its children with it.
//! - [`pki`]: a test CA and the certificates signed by it, as PEM files in a
//!   [`TempDir`], for the control port's TLS.
//!
//! Every wait is bounded by [`LIMIT`]: a test that hangs fails instead.

#![forbid(unsafe_code)]

pub mod cluster;
pub mod control;
pub mod daemon;
pub mod engine;
pub mod frame;
pub mod http;
pub mod peer;
pub mod pki;
pub mod process;
pub mod relay;
pub mod sip;
pub mod tls;
pub mod wire;
pub mod ws;

use std::time::Duration;

pub use control::{
    ControlServer, add_with_sdp, create_one_to_one, sdp_media, sdp_offer, switch_uri,
};
pub use engine::{
    TestEngine, bound_one_to_one, metric, one_to_one, remote, start_engine, start_engine_with,
    start_ws_engine,
};
pub use frame::{Frame, FrameReader};
pub use peer::Peer;
pub use pki::{Pki, TempDir};

/// Every wait in the integration tests is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(20);

/// The `a=path` (and MSRP URI) of test participant A; port 40001 matches the
/// `m=` line of [`sdp_offer`].
pub const PATH_A: &str = "msrp://127.0.0.1:40001/aaaa1111;tcp";

/// The `a=path` (and MSRP URI) of test participant B.
pub const PATH_B: &str = "msrp://127.0.0.1:40002/bbbb2222;tcp";

/// SHA-256-free content check: FNV-1a 64 over the bytes, enough to tell bodies
/// apart and cheap enough for 10 MiB bodies in a debug build.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// `len` bytes of xorshift noise: a body with no period, so a byte out of
/// place shows in a comparison or a [`hash`].
pub fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_fnv1a_64() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(hash(b""), 0xcbf29ce484222325);
        assert_eq!(hash(b"a"), 0xaf63dc4c8601ec8c);
        assert_ne!(hash(b"ab"), hash(b"ba"));
    }
}
