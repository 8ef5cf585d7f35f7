//! A group that outgrows its node. The group lives on one node (A); a member
//! that joins once A holds `max_participants` is carried by another node (B)
//! instead: B holds a 1:1 session between the member and an uplink, and the
//! uplink is A's participant for that member (its identity, so the group's
//! CPIM From check holds). That is two chained switches, as
//! `msrp-switch/tests/group_chat.rs` runs them; here the two legs are wired
//! by an SDP offer and answer between the nodes:
//!
//! ```text
//!  member ──MSRP──▶ B: 1:1 { member, uplink } ──MSRP (A connects)──▶ A: group { …, member' }
//!
//!  1. B  CreateSession(1:1)            the member's session on B
//!  2. B  AddParticipant(member offer)  B's answer, for the member's SIP answer
//!  3. A  AddParticipant(no media)      A offers (a=setup:actpass): member'
//!  4. B  AddParticipant(A's offer)     B answers passive: the uplink, its path A's URI
//!  5. A  SetRemoteAnswer(B's answer)   member' has B's URI as its path; A connects
//! ```
//!
//! The member's connection, TLS and memory are B's; A still fans each message
//! out to one participant per member (the uplink legs run A to B).

use tonic::Status;

use crate::pb;

use super::clients::NodeClient;

/// A member joining a group: what the signalling plane has from its INVITE.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Its authenticated IM address (and privacy alias): the group checks
    /// every CPIM From against it.
    pub identity: pb::Identity,
    /// Its SDP offer.
    pub remote: pb::RemoteMedia,
    /// Its dialog's tag (the Call-ID), for the sessions and participants made.
    pub correlation_tag: String,
}

/// A member carried by another node than its group's.
#[derive(Debug, Clone, PartialEq)]
pub struct Chained {
    /// The 1:1 session on the overflow node (B).
    pub session_id: String,
    /// The member's participant on B, with B's answer to its offer (the body
    /// of the member's SIP answer).
    pub member: pb::AddParticipantResponse,
    /// B's participant facing the group's node: its path is A's URI.
    pub uplink_id: String,
    /// The group node's (A's) participant for the member: its path is B's URI.
    pub group_participant_id: String,
}

/// Where a member was added.
#[derive(Debug, Clone, PartialEq)]
pub enum Joined {
    /// On the group's own node, as usual: the answer for the member.
    Local(pb::AddParticipantResponse),
    /// On the overflow node, chained to the group.
    Chained(Chained),
}

impl Joined {
    /// The answer to the member's offer, wherever it was added.
    pub fn answer(&self) -> &pb::AddParticipantResponse {
        match self {
            Self::Local(added) => added,
            Self::Chained(chained) => &chained.member,
        }
    }
}

/// Adds `member` to `group_session` on `group_node` while that session has
/// fewer than `max_participants` participants (a chained member counts: it is
/// one of the group's participants), else chains it through
/// `overflow_node` ([`chain_member`]).
///
/// # Errors
///
/// A call failed (the group does not exist, the member's offer is not
/// acceptable, a node is draining): its status.
pub async fn join_group(
    group_node: &mut NodeClient,
    group_session: &str,
    max_participants: usize,
    overflow_node: &mut NodeClient,
    member: Member,
) -> Result<Joined, Status> {
    let group = group_node
        .get_session(pb::GetSessionRequest {
            session_id: group_session.to_owned(),
        })
        .await?
        .into_inner();
    if group.participants.len() < max_participants {
        let added = group_node
            .add_participant(pb::AddParticipantRequest {
                session_id: group_session.to_owned(),
                identity: Some(member.identity),
                remote: Some(member.remote),
                correlation_tag: member.correlation_tag,
                ..Default::default()
            })
            .await?
            .into_inner();
        return Ok(Joined::Local(added));
    }
    chain_member(group_node, group_session, overflow_node, member)
        .await
        .map(Joined::Chained)
}

/// Carries `member` on `overflow_node`, chained into `group_session` on
/// `group_node` (steps 1-5 of the module's diagram). On a failure what was
/// made is released again (best effort) and the failing call's status
/// returned.
///
/// # Errors
///
/// A call failed: its status.
pub async fn chain_member(
    group_node: &mut NodeClient,
    group_session: &str,
    overflow_node: &mut NodeClient,
    member: Member,
) -> Result<Chained, Status> {
    let session_id = overflow_node
        .create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::OneToOne as i32,
            correlation_tag: member.correlation_tag.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .session_id;
    let mut made = Made {
        overflow_session: session_id.clone(),
        group_participant: None,
    };
    match wire(
        group_node,
        group_session,
        overflow_node,
        &session_id,
        member,
        &mut made,
    )
    .await
    {
        Ok(chained) => Ok(chained),
        Err(status) => {
            made.release(group_node, overflow_node).await;
            Err(status)
        }
    }
}

/// Steps 2-5, on the overflow node's new session `session_id`.
async fn wire(
    group_node: &mut NodeClient,
    group_session: &str,
    overflow_node: &mut NodeClient,
    session_id: &str,
    member: Member,
    made: &mut Made,
) -> Result<Chained, Status> {
    let member_leg = overflow_node
        .add_participant(pb::AddParticipantRequest {
            session_id: session_id.to_owned(),
            identity: Some(member.identity.clone()),
            remote: Some(member.remote),
            correlation_tag: member.correlation_tag.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    // A offers first: its URI for the member is in the offer, so B's uplink
    // can point at it; a=setup:actpass lets B's answer decide who connects.
    let offered = group_node
        .add_participant(pb::AddParticipantRequest {
            session_id: group_session.to_owned(),
            identity: Some(member.identity),
            correlation_tag: member.correlation_tag.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    made.group_participant = Some(offered.participant_id.clone());
    let offer = structured(&offered.local, "the group node's offer")?;
    // B answers an actpass offer passive (RFC 6135): A will connect.
    let uplink = overflow_node
        .add_participant(pb::AddParticipantRequest {
            session_id: session_id.to_owned(),
            remote: Some(pb::RemoteMedia {
                media: Some(pb::remote_media::Media::Structured(offer)),
            }),
            correlation_tag: member.correlation_tag,
            ..Default::default()
        })
        .await?
        .into_inner();
    let answer = structured(&uplink.local, "the overflow node's answer")?;
    group_node
        .set_remote_answer(pb::SetRemoteAnswerRequest {
            participant_id: offered.participant_id.clone(),
            remote: Some(pb::RemoteMedia {
                media: Some(pb::remote_media::Media::Structured(answer)),
            }),
        })
        .await?;
    Ok(Chained {
        session_id: session_id.to_owned(),
        member: member_leg,
        uplink_id: uplink.participant_id,
        group_participant_id: offered.participant_id,
    })
}

/// The structured media of a node's offer or answer.
fn structured(local: &Option<pb::LocalMedia>, what: &str) -> Result<pb::Media, Status> {
    local
        .as_ref()
        .and_then(|local| local.structured.clone())
        .ok_or_else(|| Status::internal(format!("{what} has no structured media")))
}

/// What [`chain_member`] made so far, to release on a failure.
struct Made {
    overflow_session: String,
    group_participant: Option<String>,
}

impl Made {
    async fn release(self, group_node: &mut NodeClient, overflow_node: &mut NodeClient) {
        let released = overflow_node
            .release_session(pb::ReleaseSessionRequest {
                session_id: self.overflow_session,
            })
            .await;
        if let Err(status) = released {
            tracing::debug!(%status, "placement: releasing a half-chained session failed");
        }
        if let Some(participant_id) = self.group_participant {
            let removed = group_node
                .remove_participant(pb::RemoveParticipantRequest { participant_id })
                .await;
            if let Err(status) = removed {
                tracing::debug!(%status, "placement: removing a half-chained member failed");
            }
        }
    }
}
