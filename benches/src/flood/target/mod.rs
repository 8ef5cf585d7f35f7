//! Targets: what a flood goes through, and how a session on it is set up.
//!
//! A [`Target`] turns "session *i*" into connected, ready [`Leg`]s: a sender whose
//! requests reach the receivers, and one receiver (a group: several, plus stalled
//! members) that answers them. Everything after that (windowed SENDs, verification,
//! latency) is the same for every target, because only the To-Path / From-Path and
//! the signalling differ:
//!
//! | target | signalling | sender's To-Path | binding |
//! |---|---|---|---|
//! | [`switch::SwitchTarget`] | gRPC CreateSession + AddParticipant ×2 | the switch's URI for the sender | bodiless SEND per leg |
//! | [`switch::SwitchTarget`], group | CreateSession(GROUP) + AddParticipant ×N | the switch's URI for member 0 | bodiless SEND per member, sender last |
//! | [`raw::RawTarget`] | none: the forwarder pairs connections in accept order | the receiver's own URI | none |
//! | [`relay::RelayTarget`] | AUTH from the receiver (RFC 4976 §5) | the receiver's Use-Path, then the receiver's URI | AUTH (receiver only) |
//!
//! Adding a target is one file here implementing [`Target`], a variant of
//! [`super::TargetSpec`] and one arm in [`super::run`].

pub mod raw;
pub mod relay;
pub mod switch;

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use msrp_switch::codec::MsrpUri;

use super::cpim::Envelope;
use super::wire::{MsrpConn, Paths};

/// One endpoint of a session: its connection (bound if the target needs it) and the
/// paths its requests carry.
#[derive(Debug)]
pub struct Leg {
    /// The connection, with anything read past the binding still buffered.
    pub conn: MsrpConn,
    /// To-Path and From-Path of the requests this endpoint writes; `from_path` is
    /// also the From-Path of its responses.
    pub paths: Paths,
}

/// Every end of one session, each connected and bound.
#[derive(Debug)]
pub struct SessionLegs {
    /// Writes the SENDs.
    pub sender: Leg,
    /// Receive every message and answer each SEND with a 200: one in a 1:1 session,
    /// the other members in a group.
    pub receivers: Vec<Leg>,
    /// Group members that never read (see [`super::config::GroupShape::stalled`]).
    pub stalled: Vec<Leg>,
    /// For a group: the CPIM headers every message must carry (RFC 7701 §7).
    pub envelope: Option<Envelope>,
}

impl SessionLegs {
    /// A 1:1 session: one sender, one receiver, bare bodies.
    pub fn pair(sender: Leg, receiver: Leg) -> Self {
        Self {
            sender,
            receivers: vec![receiver],
            stalled: Vec::new(),
            envelope: None,
        }
    }
}

/// A system under test that can carry flood sessions.
pub trait Target: Send {
    /// The name in reports: `switch`, `raw`, `relay`.
    fn name(&self) -> &'static str;

    /// Sets session `index` (0-based) up and returns its two legs, connected and
    /// ready for the sender's first SEND.
    fn open_session(
        &mut self,
        index: u32,
    ) -> impl Future<Output = anyhow::Result<SessionLegs>> + Send;

    /// Releases whatever the target created for the run's sessions (best effort,
    /// after the legs are closed).
    fn close(&mut self) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// A tag unique to this process and moment, so that paths and ids of concurrent or
/// repeated runs never collide.
pub fn run_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or_default();
    format!("f{:x}{:x}", std::process::id(), nanos)
}

/// An endpoint's own MSRP URI on `host`. Nothing ever connects to it (the endpoint
/// always connects out, `a=setup:active`), so the port is a placeholder.
pub fn endpoint_uri(host: &str, tag: &str, session: u32, side: char) -> String {
    format!("msrp://{host}:9/{tag}s{session}{side};tcp")
}

/// The own MSRP URI of member `member` of a group session (see [`endpoint_uri`]).
pub fn member_uri(host: &str, tag: &str, session: u32, member: u32) -> String {
    format!("msrp://{host}:9/{tag}s{session}m{member};tcp")
}

/// The host of the flooder's own URIs.
pub const LOCAL_HOST: &str = "127.0.0.1";

/// The address to connect to for `uri` (its host and port, resolved).
pub async fn address_of(uri: &str) -> anyhow::Result<SocketAddr> {
    let parsed = MsrpUri::parse_str(uri).with_context(|| format!("{uri:?} is not an MSRP URI"))?;
    let port = parsed
        .port()
        .with_context(|| format!("{uri} has no port to connect to"))?;
    if let Some(ip) = parsed.ip() {
        return Ok(SocketAddr::new(ip, port));
    }
    tokio::net::lookup_host((parsed.host(), port))
        .await
        .with_context(|| format!("resolving {}", parsed.host()))?
        .next()
        .with_context(|| format!("{} resolves to no address", parsed.host()))
}
