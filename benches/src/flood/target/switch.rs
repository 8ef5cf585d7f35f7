//! msrp-switch as a target: sessions through its gRPC control API.
//!
//! Per session: `CreateSession{ONE_TO_ONE}`, then `AddParticipant` for the sender
//! and for the receiver with structured media (`a=setup:active`: the flooder
//! connects in). Each response's `local.structured.path[0]` is the switch's URI for
//! that participant: the leg's To-Path, and the URI its binding SEND names.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use control_api::pb;
use control_api::pb::switch_control_client::SwitchControlClient;
use tonic::transport::Channel;

use super::{LOCAL_HOST, Leg, SessionLegs, Target, address_of, endpoint_uri, run_tag};
use crate::flood::wire::{MsrpConn, Paths};

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

/// Connects a control API client to `url` (`http://host:port`).
pub async fn control_client(url: &str) -> anyhow::Result<SwitchControlClient<Channel>> {
    SwitchControlClient::connect(url.to_string())
        .await
        .with_context(|| format!("connecting to the control API at {url}"))
}

/// Creates a 1:1 session whose participants have the own URIs `a_path` and `b_path`.
pub async fn create_one_to_one(
    client: &mut SwitchControlClient<Channel>,
    a_path: &str,
    b_path: &str,
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
    let a = add_participant(client, &session_id, a_path).await?;
    let b = add_participant(client, &session_id, b_path).await?;
    Ok(OneToOne { session_id, a, b })
}

async fn add_participant(
    client: &mut SwitchControlClient<Channel>,
    session_id: &str,
    path: &str,
) -> anyhow::Result<Participant> {
    let media = pb::Media {
        path: vec![path.to_string()],
        accept_types: vec!["*".into()],
        setup: pb::Setup::Active as i32,
        transport: pb::Transport::Tcp as i32,
        ..Default::default()
    };
    let response = client
        .add_participant(pb::AddParticipantRequest {
            session_id: session_id.to_string(),
            identity: None,
            remote: Some(pb::RemoteMedia {
                media: Some(pb::remote_media::Media::Structured(media)),
            }),
        })
        .await
        .with_context(|| format!("AddParticipant {path}"))?
        .into_inner();
    let switch_uri = response
        .local
        .and_then(|local| local.structured)
        .and_then(|media| media.path.into_iter().next())
        .context("AddParticipant answered without local.structured.path")?;
    Ok(Participant {
        participant_id: response.participant_id,
        switch_uri,
        path: path.to_string(),
    })
}

/// Sessions through msrp-switch, created and released through its control API.
#[derive(Debug)]
pub struct SwitchTarget {
    client: SwitchControlClient<Channel>,
    msrp_addr: Option<SocketAddr>,
    tag: String,
    sessions: Vec<String>,
}

impl SwitchTarget {
    /// Connects to the control API at `control`. MSRP goes to `msrp_addr`, or to the
    /// host and port of the URIs the switch hands out.
    pub async fn connect(control: &str, msrp_addr: Option<SocketAddr>) -> anyhow::Result<Self> {
        Ok(Self {
            client: control_client(control).await?,
            msrp_addr,
            tag: run_tag(),
            sessions: Vec::new(),
        })
    }

    async fn leg(&self, participant: &Participant) -> anyhow::Result<Leg> {
        let addr = match self.msrp_addr {
            Some(addr) => addr,
            None => address_of(&participant.switch_uri).await?,
        };
        let mut conn = MsrpConn::connect(addr).await?;
        let paths = Paths::new(participant.switch_uri.clone(), participant.path.clone());
        conn.bind(&paths, BIND_LIMIT).await?;
        Ok(Leg { conn, paths })
    }
}

impl Target for SwitchTarget {
    fn name(&self) -> &'static str {
        "switch"
    }

    async fn open_session(&mut self, index: u32) -> anyhow::Result<SessionLegs> {
        let a = endpoint_uri(LOCAL_HOST, &self.tag, index, 'a');
        let b = endpoint_uri(LOCAL_HOST, &self.tag, index, 'b');
        let session = create_one_to_one(&mut self.client, &a, &b).await?;
        self.sessions.push(session.session_id.clone());
        // The receiver binds first, so nothing the sender sends waits for it.
        let receiver = self.leg(&session.b).await?;
        let sender = self.leg(&session.a).await?;
        Ok(SessionLegs { sender, receiver })
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
