//! An RFC 4976 relay (Kamailio's msrp module) as a target: **not implemented yet.**
//!
//! The hook is here so that the relay is one more [`Target`] and nothing else in the
//! flooder changes. The wire flow is worked out in `benches/kamailio/README.md`
//! ("The flow the flooder's `relay` target implements"); in short, what
//! [`RelayTarget::open_session`] has to do:
//!
//! 1. Receiver (B): connect to the relay and send `AUTH` (no body, no
//!    Authorization header: Kamailio 5.6 then answers 423) with
//!    `To-Path: msrp://<relay host:port>;tcp` and `From-Path: <B's URI>`; keep the
//!    `Use-Path` of the 200. Kamailio routes by the session id of that URI to the
//!    connection the AUTH came on, so B must read on this same connection.
//! 2. Sender (A): connect; no AUTH is needed. Its To-Path is
//!    `<B's Use-Path> <B's URI>` (one relay URI: with A's own Use-Path in front,
//!    Kamailio relays every message through itself twice), its From-Path its own URI.
//! 3. Return the two [`Leg`](super::Leg)s, B with `Paths::new(<A's URI>, <B's URI>)`.
//!    The relay answers A's SENDs itself, before forwarding, so latency is only
//!    meaningful at B, which is where the receiver measures it anyway; B's 200s go to
//!    the first From-Path URI (the relay), which drops them. The sender and receiver
//!    loops need no change.
//!
//! When it lands, drop "(not implemented yet)" from the `relay` value's help in
//! `src/bin/msrp-flood.rs`: `benches/compare.sh` reads that text to decide whether to
//! run Kamailio. Compare large transfers with `--chunk-size 8192`: Kamailio answers 413
//! to frames of 11239 bytes or more with the shipped config.

use std::net::SocketAddr;

use anyhow::bail;

use super::{SessionLegs, Target};

/// Sessions through an RFC 4976 relay at one address (to do: see the module doc).
#[derive(Debug, Clone)]
pub struct RelayTarget {
    addr: SocketAddr,
}

impl RelayTarget {
    /// A target for the relay at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr }
    }
}

impl Target for RelayTarget {
    fn name(&self) -> &'static str {
        "relay"
    }

    async fn open_session(&mut self, _index: u32) -> anyhow::Result<SessionLegs> {
        bail!(
            "the relay target ({}) is not implemented yet: AUTH and Use-Path go in \
             benches/src/flood/target/relay.rs",
            self.addr
        )
    }

    async fn close(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}
