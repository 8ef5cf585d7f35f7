//! msrp-switch as a target: sessions through its gRPC control API.
//!
//! Per session: `CreateSession{ONE_TO_ONE}`, then `AddParticipant` for the sender
//! and for the receiver with structured media (`a=setup:active`: the flooder
//! connects in). Each response's `local.structured.path[0]` is the switch's URI for
//! that participant: the leg's To-Path, and the URI its binding SEND names.
//!
//! With [`SwitchTarget::with_group`], each session is a group (RFC 7701):
//! `CreateSession{GROUP, group_identity, policy{slow_consumer: DROP}}` and one
//! `AddParticipant` per member, each with its IM address (`sip:member<k>@…`, which
//! the switch checks against the CPIM `From`) and `accept-types: message/cpim`,
//! `accept-wrapped-types: *`. Members bind in order: receivers, stalled members,
//! then the sender, each waiting for the 200 to its binding SEND, so that every
//! member is bound before the first message.
//!
//! Over TLS ([`SwitchTarget::with_tls`]) the own paths are `msrps` and the media
//! `TCP/TLS/MSRP`; over WebSocket ([`SwitchTarget::with_websocket`]) the own paths
//! end in `;ws` (RFC 7977 §5.2: that is what marks a WebSocket client), the
//! switch answers with a URI on its WebSocket port, and each leg connects there
//! and upgrades before it binds.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use control_api::auth::BearerToken;
use control_api::pb;
use control_api::pb::switch_control_client::SwitchControlClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use super::{LOCAL_HOST, Leg, SessionLegs, Target, address_of, endpoint_uri, member_uri, run_tag};
use crate::flood::config::GroupShape;
use crate::flood::cpim::{CPIM_CONTENT_TYPE, Envelope};
use crate::flood::stream::{FloodStream, FloodTls, handshake};
use crate::flood::wire::{MsrpConn, Paths};
use crate::flood::ws::{self, WsStream};

/// How long one leg may take to bind.
const BIND_LIMIT: Duration = Duration::from_secs(10);

/// One participant as the switch sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// The participant id, for RemoveParticipant.
    pub participant_id: String,
    /// The switch's URI for this participant: the To-Path its requests carry.
    pub switch_uri: String,
    /// The participant's own URI: the From-Path its requests carry.
    pub path: String,
    /// Over TLS: the switch's certificate fingerprint from the answer, to pin.
    pub fingerprint: Option<String>,
}

/// A 1:1 session created through the control API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneToOne {
    /// The session id, for ReleaseSession.
    pub session_id: String,
    /// The first participant (the flooder's sender).
    pub a: Participant,
    /// The second participant (the flooder's receiver).
    pub b: Participant,
}

/// A group session created through the control API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The session id, for ReleaseSession.
    pub session_id: String,
    /// The room's identity (the CPIM `To` of a public message).
    pub group_identity: String,
    /// The members, in the order they were added.
    pub members: Vec<Participant>,
}

/// One group member to add: its IM address and its own URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSpec {
    /// The IM address (`sip:…`) the switch checks the CPIM `From` against.
    pub im_address: String,
    /// The member's own URI: the From-Path its requests carry.
    pub path: String,
}

/// A control API client that sends the bearer token, if any, with every call.
pub type Control = SwitchControlClient<InterceptedService<Channel, BearerToken>>;

/// Connects a control API client to `url` (`http://host:port`), with `token`.
pub async fn control_client(url: &str, token: Option<&str>) -> anyhow::Result<Control> {
    let token = BearerToken::new(token).map_err(|why| anyhow::anyhow!("--token: {why}"))?;
    let channel = Channel::from_shared(url.to_string())
        .with_context(|| format!("the control API URL {url}"))?
        .connect()
        .await
        .with_context(|| format!("connecting to the control API at {url}"))?;
    Ok(SwitchControlClient::with_interceptor(channel, token))
}

/// Creates a 1:1 session whose participants have the own URIs `a_path` and `b_path`.
pub async fn create_one_to_one(
    client: &mut Control,
    a_path: &str,
    b_path: &str,
) -> anyhow::Result<OneToOne> {
    create_one_to_one_over(client, a_path, b_path, None).await
}

/// Creates a 1:1 session as [`create_one_to_one`] does; with `tls` (the flooder's
/// certificate fingerprint) both participants are `TCP/TLS/MSRP` with
/// `msrps` paths.
pub async fn create_one_to_one_over(
    client: &mut Control,
    a_path: &str,
    b_path: &str,
    tls: Option<&str>,
) -> anyhow::Result<OneToOne> {
    let session_id = client
        .create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::OneToOne as i32,
            ..Default::default()
        })
        .await
        .context("CreateSession")?
        .into_inner()
        .session_id;
    let a = add_participant(client, &session_id, a_path, None, tls).await?;
    let b = add_participant(client, &session_id, b_path, None, tls).await?;
    Ok(OneToOne { session_id, a, b })
}

/// Creates a group session for `group_identity` that drops slow consumers, with
/// `members` in order.
pub async fn create_group(
    client: &mut Control,
    group_identity: &str,
    members: &[MemberSpec],
    tls: Option<&str>,
) -> anyhow::Result<Group> {
    let session_id = client
        .create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::Group as i32,
            group_identity: group_identity.to_string(),
            policy: Some(pb::Policy {
                slow_consumer: pb::SlowConsumer::Drop as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .context("CreateSession (group)")?
        .into_inner()
        .session_id;
    let mut added = Vec::with_capacity(members.len());
    for member in members {
        let identity = pb::Identity {
            im_address: member.im_address.clone(),
            privacy_alias: String::new(),
        };
        let member = add_participant(client, &session_id, &member.path, Some(identity), tls);
        added.push(member.await?);
    }
    Ok(Group {
        session_id,
        group_identity: group_identity.to_string(),
        members: added,
    })
}

/// Adds a participant that connects in; one with an identity is a group member
/// (CPIM messages, any type inside), one without a 1:1 participant (any type).
/// With `tls` (the flooder's fingerprint) its media are `TCP/TLS/MSRP`.
pub(crate) async fn add_participant(
    client: &mut Control,
    session_id: &str,
    path: &str,
    identity: Option<pb::Identity>,
    tls: Option<&str>,
) -> anyhow::Result<Participant> {
    let (accept_types, accept_wrapped_types) = match identity {
        Some(_) => (vec![CPIM_CONTENT_TYPE.into()], vec!["*".into()]),
        None => (vec!["*".into()], Vec::new()),
    };
    let media = pb::Media {
        path: vec![path.to_string()],
        accept_types,
        accept_wrapped_types,
        setup: pb::Setup::Active as i32,
        transport: match tls {
            Some(_) => pb::Transport::Tls as i32,
            None => pb::Transport::Tcp as i32,
        },
        fingerprint: tls.unwrap_or_default().to_owned(),
        ..Default::default()
    };
    let response = client
        .add_participant(pb::AddParticipantRequest {
            session_id: session_id.to_string(),
            identity,
            remote: Some(pb::RemoteMedia {
                media: Some(pb::remote_media::Media::Structured(media)),
            }),
            ..Default::default()
        })
        .await
        .with_context(|| format!("AddParticipant {path}"))?
        .into_inner();
    let local = response
        .local
        .and_then(|local| local.structured)
        .context("AddParticipant answered without local.structured")?;
    let switch_uri = local
        .path
        .into_iter()
        .next()
        .context("AddParticipant answered without local.structured.path")?;
    let fingerprint = match tls {
        Some(_) if local.fingerprint.is_empty() => {
            anyhow::bail!("AddParticipant answered TLS media without a fingerprint")
        }
        Some(_) => Some(local.fingerprint),
        None => None,
    };
    Ok(Participant {
        participant_id: response.participant_id,
        switch_uri,
        path: path.to_string(),
        fingerprint,
    })
}

/// Sessions through msrp-switch, created and released through its control API.
#[derive(Debug)]
pub struct SwitchTarget {
    client: Control,
    msrp_addr: Option<SocketAddr>,
    tag: String,
    sessions: Vec<String>,
    group: Option<GroupShape>,
    tls: Option<FloodTls>,
    websocket: bool,
}

impl SwitchTarget {
    /// Connects to the control API at `control`. MSRP goes to `msrp_addr`, or to the
    /// host and port of the URIs the switch hands out.
    pub async fn connect(
        control: &str,
        token: Option<&str>,
        msrp_addr: Option<SocketAddr>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            client: control_client(control, token).await?,
            msrp_addr,
            tag: run_tag(),
            sessions: Vec::new(),
            group: None,
            tls: None,
            websocket: false,
        })
    }

    /// Runs every participant over TLS (`msrps`), presenting `identity`.
    pub fn with_tls(mut self, identity: Option<FloodTls>) -> Self {
        self.tls = identity;
        self
    }

    /// The flooder's fingerprint when the run is over TLS.
    fn tls_fingerprint(&self) -> Option<&str> {
        self.tls.as_ref().map(FloodTls::fingerprint)
    }

    /// Runs every participant over WebSocket (`;ws` paths, RFC 7977).
    pub fn with_websocket(mut self, websocket: bool) -> Self {
        self.websocket = websocket;
        self
    }

    /// An own URI in the scheme and transport of the run's transport.
    fn own_uri(&self, uri: String) -> String {
        let uri = match self.tls {
            Some(_) => uri.replacen("msrp://", "msrps://", 1),
            None => uri,
        };
        match uri.strip_suffix(";tcp") {
            Some(base) if self.websocket => format!("{base};ws"),
            _ => uri,
        }
    }

    /// Makes every session a group of this shape instead of a 1:1 session.
    pub fn with_group(mut self, group: Option<GroupShape>) -> Self {
        self.group = group;
        self
    }

    async fn leg(&self, participant: &Participant) -> anyhow::Result<Leg> {
        let addr = match self.msrp_addr {
            Some(addr) => addr,
            None => address_of(&participant.switch_uri).await?,
        };
        let mut conn = match (&self.tls, &participant.fingerprint) {
            _ if self.websocket => MsrpConn::over_stream(FloodStream::Ws(Box::new(
                WsStream::connect(addr, ws::flood_config()).await?,
            ))),
            (Some(tls), Some(pinned)) => {
                let tcp = tokio::net::TcpStream::connect(addr)
                    .await
                    .with_context(|| format!("connecting to {addr}"))?;
                tcp.set_nodelay(true)?;
                let host = addr.ip().to_string();
                MsrpConn::over_stream(handshake(&tls.connector(pinned)?, tcp, &host).await?)
            }
            _ => MsrpConn::connect(addr).await?,
        };
        let paths = Paths::new(participant.switch_uri.clone(), participant.path.clone());
        conn.bind(&paths, BIND_LIMIT).await?;
        Ok(Leg { conn, paths })
    }
}

impl SwitchTarget {
    /// Session `index` as a group: member 0 sends, members 1 to `size - 1` receive,
    /// the `stalled` members after them never read.
    async fn open_group(&mut self, index: u32, shape: GroupShape) -> anyhow::Result<SessionLegs> {
        let room = format!("sip:{}room{index}@flood.example.com", self.tag);
        let members: Vec<MemberSpec> = (0..shape.size.saturating_add(shape.stalled))
            .map(|k| MemberSpec {
                im_address: format!("sip:member{k}@example.com"),
                path: self.own_uri(member_uri(LOCAL_HOST, &self.tag, index, k)),
            })
            .collect();
        let tls = self.tls_fingerprint().map(str::to_owned);
        let group = create_group(&mut self.client, &room, &members, tls.as_deref()).await?;
        self.sessions.push(group.session_id.clone());
        let (sender, others) = group
            .members
            .split_first()
            .context("a group session without members")?;
        let (receivers, stalled) = others.split_at(others.len().min(shape.receivers() as usize));
        // Every member that gets copies is bound before the sender is, so the
        // first message already reaches them all.
        let mut receiver_legs = Vec::with_capacity(receivers.len());
        for (k, member) in (1..).zip(receivers) {
            let leg = self.leg(member).await;
            receiver_legs.push(leg.with_context(|| format!("binding member {k}"))?);
        }
        let mut stalled_legs = Vec::with_capacity(stalled.len());
        for (k, member) in (1 + receivers.len()..).zip(stalled) {
            let leg = self.leg(member).await;
            stalled_legs.push(leg.with_context(|| format!("binding stalled member {k}"))?);
        }
        let sender_leg = self.leg(sender).await.context("binding member 0")?;
        let envelope = Envelope {
            from: members
                .first()
                .map(|m| m.im_address.clone())
                .unwrap_or_default(),
            to: group.group_identity,
        };
        Ok(SessionLegs {
            sender: sender_leg,
            receivers: receiver_legs,
            stalled: stalled_legs,
            envelope: Some(envelope),
        })
    }
}

impl Target for SwitchTarget {
    fn name(&self) -> &'static str {
        "switch"
    }

    async fn open_session(&mut self, index: u32) -> anyhow::Result<SessionLegs> {
        if let Some(shape) = self.group {
            return self.open_group(index, shape).await;
        }
        let a = self.own_uri(endpoint_uri(LOCAL_HOST, &self.tag, index, 'a'));
        let b = self.own_uri(endpoint_uri(LOCAL_HOST, &self.tag, index, 'b'));
        let tls = self.tls_fingerprint().map(str::to_owned);
        let session = create_one_to_one_over(&mut self.client, &a, &b, tls.as_deref()).await?;
        self.sessions.push(session.session_id.clone());
        // The receiver binds first, so nothing the sender sends waits for it.
        let receiver = self.leg(&session.b).await?;
        let sender = self.leg(&session.a).await?;
        Ok(SessionLegs::pair(sender, receiver))
    }

    async fn close(&mut self) -> anyhow::Result<()> {
        for session_id in std::mem::take(&mut self.sessions) {
            self.client
                .release_session(pb::ReleaseSessionRequest {
                    session_id: session_id.clone(),
                })
                .await
                .with_context(|| format!("ReleaseSession {session_id}"))?;
        }
        Ok(())
    }
}
