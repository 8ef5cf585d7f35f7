//! The raw TCP forwarder as a target: the ceiling of any user-space hop.
//!
//! `msrp-flood forward` pairs the 1st and 2nd connection it accepts, the 3rd and
//! 4th, and so on, and copies bytes both ways without parsing. So each session
//! connects its sender, then its receiver, in that order; the sender's To-Path is the
//! receiver's own URI and the receiver's 200s go straight back to the sender. The
//! frames on the wire are the same as through the switch.

use std::net::SocketAddr;

use super::{LOCAL_HOST, Leg, SessionLegs, Target, endpoint_uri, run_tag};
use crate::flood::wire::{MsrpConn, Paths};

/// Sessions through a raw forwarder at one address.
#[derive(Debug, Clone)]
pub struct RawTarget {
    addr: SocketAddr,
    tag: String,
}

impl RawTarget {
    /// A target for the forwarder at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            tag: run_tag(),
        }
    }
}

impl Target for RawTarget {
    fn name(&self) -> &'static str {
        "raw"
    }

    async fn open_session(&mut self, index: u32) -> anyhow::Result<SessionLegs> {
        let sender_uri = endpoint_uri(LOCAL_HOST, &self.tag, index, 'a');
        let receiver_uri = endpoint_uri(LOCAL_HOST, &self.tag, index, 'b');
        // connect() returns once the connection is in the listener's accept queue,
        // so connecting one after the other fixes the order the forwarder pairs in.
        let sender = MsrpConn::connect(self.addr).await?;
        let receiver = MsrpConn::connect(self.addr).await?;
        Ok(SessionLegs::pair(
            Leg {
                conn: sender,
                paths: Paths::new(receiver_uri.clone(), sender_uri.clone()),
            },
            Leg {
                conn: receiver,
                paths: Paths::new(sender_uri, receiver_uri),
            },
        ))
    }

    async fn close(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}
