//! An RFC 4976 relay (Kamailio's msrp module) as a target.
//!
//! The wire flow is worked out in `benches/kamailio/README.md` ("The flow the
//! flooder's `relay` target implements"); per session, [`RelayTarget::open_session`]:
//!
//! 1. Receiver (B): connects to the relay and sends `AUTH` (no body, no
//!    Authorization header: Kamailio 5.6 then answers 423) with
//!    `To-Path: msrp://<relay host:port>;tcp` and `From-Path: <B's URI>`, and keeps
//!    the `Use-Path` of the 200. Kamailio routes by the session id of that URI to the
//!    connection the AUTH came on, so B reads on this same connection.
//! 2. Sender (A): connects; no AUTH is needed. Its To-Path is
//!    `<B's Use-Path> <B's URI>` (one relay URI: with A's own Use-Path in front,
//!    Kamailio relays every message through itself twice), its From-Path its own URI.
//! 3. Returns the two [`Leg`]s, B with `Paths::new(<A's URI>, <B's URI>)`. The relay
//!    answers A's SENDs itself, before forwarding, so latency is only meaningful at
//!    B, which is where the receiver measures it anyway; B's 200s go to the first
//!    From-Path URI (the relay), which drops them. The sender and receiver loops need
//!    no change.
//!
//! Compare large transfers with `--chunk-size 8192`: Kamailio answers 413 to frames
//! of 11239 bytes or more with the shipped config.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use msrp_switch::codec::HeaderName;

use super::{LOCAL_HOST, Leg, SessionLegs, Target, endpoint_uri, run_tag};
use crate::flood::wire::{MsrpConn, Paths};

/// How long the receiver's AUTH may take to be answered.
const AUTH_LIMIT: Duration = Duration::from_secs(10);

/// Sessions through an RFC 4976 relay at one address.
#[derive(Debug, Clone)]
pub struct RelayTarget {
    addr: SocketAddr,
    relay_uri: String,
    tag: String,
}

impl RelayTarget {
    /// A target for the relay at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            relay_uri: relay_uri(addr),
            tag: run_tag(),
        }
    }
}

/// The relay's own URI, as an AUTH's To-Path names it: `msrp://ip:port;tcp`.
pub fn relay_uri(addr: SocketAddr) -> String {
    format!("msrp://{addr};tcp")
}

/// Appends a bodiless `AUTH` from `own_uri` to the relay at `relay_uri`, without an
/// Authorization header (RFC 4976 §5.1; Kamailio 5.6 answers 423 to one that has it).
pub fn put_auth(out: &mut Vec<u8>, tid: &str, relay_uri: &str, own_uri: &str) {
    out.extend_from_slice(b"MSRP ");
    out.extend_from_slice(tid.as_bytes());
    out.extend_from_slice(b" AUTH\r\nTo-Path: ");
    out.extend_from_slice(relay_uri.as_bytes());
    out.extend_from_slice(b"\r\nFrom-Path: ");
    out.extend_from_slice(own_uri.as_bytes());
    out.extend_from_slice(b"\r\n-------");
    out.extend_from_slice(tid.as_bytes());
    out.extend_from_slice(b"$\r\n");
}

/// Sends AUTH on `conn` as `own_uri` and returns the Use-Path the relay grants.
pub async fn authenticate(
    conn: &mut MsrpConn,
    relay_uri: &str,
    own_uri: &str,
) -> anyhow::Result<String> {
    let tid = conn.next_tid().text();
    let mut frame = Vec::with_capacity(256);
    put_auth(&mut frame, &tid, relay_uri, own_uri);
    conn.write_all(&frame).await?;
    let answer = tokio::time::timeout(AUTH_LIMIT, async {
        loop {
            let frame = conn.read_frame().await?;
            if frame.head.response_status().is_some()
                && frame.head.transaction_id().as_bytes() == tid.as_bytes()
            {
                return anyhow::Ok(frame);
            }
            // Nothing else can arrive before the session exists: skip it.
        }
    })
    .await
    .with_context(|| format!("no answer to the AUTH within {AUTH_LIMIT:?}"))??;
    match answer.head.response_status() {
        Some(code) if code.is_success() => {}
        code => bail!(
            "AUTH to {relay_uri} answered {} {}",
            code.map_or(0, |c| c.as_u16()),
            answer.head.comment().unwrap_or_default()
        ),
    }
    let use_path = answer
        .head
        .value(HeaderName::UsePath)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .with_context(|| format!("AUTH to {relay_uri} answered 200 without a Use-Path"))?;
    // Kamailio hands out one URI; a relay chain would list several, in order.
    Ok(use_path
        .split_ascii_whitespace()
        .collect::<Vec<_>>()
        .join(" "))
}

impl Target for RelayTarget {
    fn name(&self) -> &'static str {
        "relay"
    }

    async fn open_session(&mut self, index: u32) -> anyhow::Result<SessionLegs> {
        let sender_uri = endpoint_uri(LOCAL_HOST, &self.tag, index, 'a');
        let receiver_uri = endpoint_uri(LOCAL_HOST, &self.tag, index, 'b');
        // The receiver authenticates first, on the connection it then reads on.
        let mut receiver = MsrpConn::connect(self.addr).await?;
        let use_path = authenticate(&mut receiver, &self.relay_uri, &receiver_uri)
            .await
            .with_context(|| format!("session {index}: receiver AUTH"))?;
        let sender = MsrpConn::connect(self.addr).await?;
        Ok(SessionLegs::pair(
            Leg {
                conn: sender,
                paths: Paths::new(format!("{use_path} {receiver_uri}"), sender_uri.clone()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_auth_is_the_readme_frame() {
        let addr: SocketAddr = "127.0.0.1:2855".parse().unwrap();
        let mut out = Vec::new();
        put_auth(
            &mut out,
            "abob",
            &relay_uri(addr),
            "msrp://127.0.0.1:33746/bob;tcp",
        );
        assert_eq!(
            out,
            b"MSRP abob AUTH\r\nTo-Path: msrp://127.0.0.1:2855;tcp\r\n\
              From-Path: msrp://127.0.0.1:33746/bob;tcp\r\n-------abob$\r\n"
        );
    }
}
