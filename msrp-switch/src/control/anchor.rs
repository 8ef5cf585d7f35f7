//! `Anchor`: a SIP script's one call per SIP message, the way rtpengine's
//! offer/answer/delete anchor RTP. The script (Kamailio's `http_client`,
//! OpenSIPS's `rest_client`) hands over the SDP body of an INVITE, re-INVITE or
//! UPDATE, or of its 2xx, with the dialog's Call-ID and From tag; it gets back
//! the body to forward, its `m=message` section rewritten to the switch and
//! every other section untouched. The steps are the control API's own calls,
//! joined (each checked and audited as when called alone):
//!
//! ```text
//! 1:1, the first offer (INVITE A -> B)
//!   OFFER   CreateSession(tag = Call-ID)
//!           AddParticipant(A, A's offer)          tag "<Call-ID>;ftag=<A's tag>"
//!           AddParticipant(B, offer_from A)       tag "<Call-ID>;callee", pending
//!           -> the INVITE's body with the switch's offer for B
//!   ANSWER  SetRemoteAnswer(B, B's answer)
//!           AnswerFromBoth(A, answer_with B)
//!           -> the 200's body with the switch's answer for A
//!           (again later, with no offer staged: a 200 after a reliable 18x
//!           or a retransmission; the same answer for A, nothing changes)
//! 1:1, a later offer from either side (its From tag says which)
//!   OFFER   ModifyParticipant(offerer, its offer, staged)
//!           ModifyParticipant(other, the switch's offer, staged)
//!           -> the body with the switch's offer for the other side
//!   ANSWER  CommitModification(other, its answer)
//!           CommitModification(offerer)          nothing changes before this
//!           -> the body with the switch's answer for the offerer
//! group (group_identity: the INVITE's Request-URI)
//!   OFFER   the group of that identity, found or created (tag = identity);
//!           AddParticipant(member, its offer)     tag "<Call-ID>"
//!           (a re-INVITE: ModifyParticipant, committed)
//!           -> the focus's answer: the switch's section, other media refused
//! RELEASE   ReleaseSession of the 1:1 session, or RemoveParticipant of the
//!           group member, of the Call-ID
//! ```
//!
//! Anchor calls run one at a time (a lock), so two copies of one INVITE cannot
//! make two sessions; an OFFER while the callee's first answer is still awaited
//! is a retransmission and gets the same offer again.

use std::time::{SystemTime, UNIX_EPOCH};

use control_api::error as api;
use control_api::limits;
use control_api::pb;
use control_api::pb::switch_control_server::SwitchControl;
use control_api::sdp;
use tonic::transport::server::TcpConnectInfo;
use tonic::{Request, Status};

use super::grpc::ControlService;

/// The longest Call-ID an Anchor call takes.
const MAX_CALL_ID_BYTES: usize = 120;

/// The longest From tag an Anchor call takes.
const MAX_FROM_TAG_BYTES: usize = 128;

/// Where an Anchor call was made from, for the audit lines of the calls it
/// makes.
type Peer = Option<std::net::SocketAddr>;

impl ControlService {
    /// Serves one Anchor call.
    pub(super) async fn anchor_call(
        &self,
        peer: Peer,
        request: pb::AnchorRequest,
    ) -> Result<pb::AnchorResponse, Status> {
        if request.call_id.trim().is_empty() {
            return Err(api::invalid_argument(
                "call_id",
                "the dialog's Call-ID is required: it finds the session",
            ));
        }
        // The participants' tags are built from both (see `caller_tag`) and
        // must fit a tag's limit.
        limits::check_text("call_id", &request.call_id, MAX_CALL_ID_BYTES)?;
        limits::check_text("from_tag", &request.from_tag, MAX_FROM_TAG_BYTES)?;
        let _one_at_a_time = self.anchor_lock().lock().await;
        let step = pb::AnchorStep::try_from(request.step)
            .map_err(|_| api::invalid_argument("step", "unknown step"))?;
        let group = !request.group_identity.is_empty();
        match step {
            pb::AnchorStep::Offer if group => self.group_offer(peer, &request).await,
            pb::AnchorStep::Offer => self.offer(peer, &request).await,
            pb::AnchorStep::Answer if group => Err(api::invalid_argument(
                "step",
                "a group member's OFFER is answered at once (the switch is the focus's MSRP \
                 end): there is no ANSWER step for it",
            )),
            pb::AnchorStep::Answer => self.answer(peer, &request).await,
            pb::AnchorStep::Release => self.release(peer, &request).await,
            pb::AnchorStep::Unspecified => Err(api::invalid_argument(
                "step",
                "ANCHOR_STEP_OFFER, ANCHOR_STEP_ANSWER or ANCHOR_STEP_RELEASE",
            )),
        }
    }

    /// A 1:1 offer: the call's first, or a later one from either side.
    async fn offer(
        &self,
        peer: Peer,
        request: &pb::AnchorRequest,
    ) -> Result<pb::AnchorResponse, Status> {
        let body = sdp_of(request)?;
        let from_tag = from_tag_of(request)?;
        let Some(session) = self.one_to_one_of(peer, &request.call_id).await? else {
            return self.first_offer(peer, request, body, from_tag).await;
        };
        // The callee's first answer is still awaited: a copy of the INVITE.
        if let Some(pending) = session.participants.iter().find(|p| p.pending) {
            return forwarded(body, &session, pending);
        }
        let (offerer, other) = sides(&session, &request.call_id, from_tag)?;
        for p in [offerer, other] {
            if p.modification_staged {
                // An offer whose answer never came (a failed re-INVITE): gone.
                self.abort_modification(inner(
                    peer,
                    pb::AbortModificationRequest {
                        participant_id: p.participant_id.clone(),
                    },
                ))
                .await?;
            }
        }
        self.modify_participant(inner(
            peer,
            pb::ModifyParticipantRequest {
                participant_id: offerer.participant_id.clone(),
                remote: Some(sdp_media(body)),
                commit: false,
            },
        ))
        .await?;
        let offer = self
            .modify_participant(inner(
                peer,
                pb::ModifyParticipantRequest {
                    participant_id: other.participant_id.clone(),
                    remote: None,
                    commit: false,
                },
            ))
            .await?
            .into_inner();
        respond(body, &session.session_id, other, offer.local.as_ref())
    }

    /// The call's first offer: the session, the caller with its offer, the
    /// callee with the switch's offer. Nothing stays if a step fails.
    async fn first_offer(
        &self,
        peer: Peer,
        request: &pb::AnchorRequest,
        body: &str,
        from_tag: &str,
    ) -> Result<pb::AnchorResponse, Status> {
        let session = self
            .create_session(inner(
                peer,
                pb::CreateSessionRequest {
                    kind: pb::SessionKind::OneToOne as i32,
                    policy: request.policy.clone(),
                    correlation_tag: request.call_id.clone(),
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .session_id;
        let added = async {
            let caller = self
                .add_participant(inner(
                    peer,
                    pb::AddParticipantRequest {
                        session_id: session.clone(),
                        identity: identity_of(request),
                        remote: Some(sdp_media(body)),
                        correlation_tag: caller_tag(&request.call_id, from_tag),
                        ..Default::default()
                    },
                ))
                .await?
                .into_inner();
            self.add_participant(inner(
                peer,
                pb::AddParticipantRequest {
                    session_id: session.clone(),
                    offer_from: caller.participant_id,
                    correlation_tag: callee_tag(&request.call_id),
                    ..Default::default()
                },
            ))
            .await
            .map(tonic::Response::into_inner)
        }
        .await;
        let callee = match added {
            Ok(callee) => callee,
            Err(status) => {
                self.release_quietly(peer, &session).await;
                return Err(status);
            }
        };
        let body = rewrite(body, callee.local.as_ref())?;
        Ok(pb::AnchorResponse {
            sdp: body,
            session_id: session,
            participant_id: callee.participant_id,
            released: false,
        })
    }

    /// A 1:1 answer: to the first offer, or to a later one.
    async fn answer(
        &self,
        peer: Peer,
        request: &pb::AnchorRequest,
    ) -> Result<pb::AnchorResponse, Status> {
        let body = sdp_of(request)?;
        let from_tag = from_tag_of(request)?;
        let session = self
            .one_to_one_of(peer, &request.call_id)
            .await?
            .ok_or_else(|| api::not_found("call", &request.call_id))?;
        if let Some(callee) = session.participants.iter().find(|p| p.pending) {
            let caller = session
                .participants
                .iter()
                .find(|p| p.participant_id != callee.participant_id)
                .ok_or_else(|| Status::internal("a 1:1 session without its caller"))?;
            self.set_remote_answer(inner(
                peer,
                pb::SetRemoteAnswerRequest {
                    participant_id: callee.participant_id.clone(),
                    remote: Some(sdp_media(body)),
                },
            ))
            .await?;
            let answer = self
                .answer_from_both(inner(
                    peer,
                    pb::AnswerFromBothRequest {
                        participant_id: caller.participant_id.clone(),
                        answer_with: callee.participant_id.clone(),
                    },
                ))
                .await?
                .into_inner();
            return respond(body, &session.session_id, caller, answer.local.as_ref());
        }
        let (offerer, other) = sides(&session, &request.call_id, from_tag)?;
        if !other.modification_staged {
            // No offer awaits an answer: the 200 that repeats a reliable 18x's
            // answer (RFC 3262), or a retransmitted 200. The answer in force
            // is the one to forward again; never the callee's own body, which
            // would take the MSRP around the switch.
            return respond(body, &session.session_id, offerer, offerer.local.as_ref());
        }
        self.commit_modification(inner(
            peer,
            pb::CommitModificationRequest {
                participant_id: other.participant_id.clone(),
                remote: Some(sdp_media(body)),
            },
        ))
        .await?;
        let answer = self
            .commit_modification(inner(
                peer,
                pb::CommitModificationRequest {
                    participant_id: offerer.participant_id.clone(),
                    remote: None,
                },
            ))
            .await?
            .into_inner();
        respond(body, &session.session_id, offerer, answer.local.as_ref())
    }

    /// A group member's offer: the group found or made, the member added (or
    /// its media changed), and the focus's answer.
    async fn group_offer(
        &self,
        peer: Peer,
        request: &pb::AnchorRequest,
    ) -> Result<pb::AnchorResponse, Status> {
        let body = sdp_of(request)?;
        let identity = &request.group_identity;
        let found = self
            .list_sessions(inner(
                peer,
                pb::ListSessionsRequest {
                    kind: pb::SessionKind::Group as i32,
                    correlation_tag: identity.clone(),
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .sessions
            .into_iter()
            .find(|s| &s.group_identity == identity);
        let session = match found {
            Some(session) => session,
            None => {
                let policy = request.policy.clone().unwrap_or_else(|| pb::Policy {
                    accept_types: vec!["message/cpim".to_owned()],
                    accept_wrapped_types: vec!["*".to_owned()],
                    private_messages: true,
                    nicknames: true,
                    ..Default::default()
                });
                let id = self
                    .create_session(inner(
                        peer,
                        pb::CreateSessionRequest {
                            kind: pb::SessionKind::Group as i32,
                            group_identity: identity.clone(),
                            policy: Some(policy),
                            correlation_tag: identity.clone(),
                            ..Default::default()
                        },
                    ))
                    .await?
                    .into_inner()
                    .session_id;
                pb::Session {
                    session_id: id,
                    ..Default::default()
                }
            }
        };
        let member = session
            .participants
            .iter()
            .find(|p| p.correlation_tag == request.call_id);
        let (participant_id, local) = match member {
            Some(member) => {
                let changed = self
                    .modify_participant(inner(
                        peer,
                        pb::ModifyParticipantRequest {
                            participant_id: member.participant_id.clone(),
                            remote: Some(sdp_media(body)),
                            commit: true,
                        },
                    ))
                    .await?
                    .into_inner();
                (member.participant_id.clone(), changed.local)
            }
            None => {
                let added = self
                    .add_participant(inner(
                        peer,
                        pb::AddParticipantRequest {
                            session_id: session.session_id.clone(),
                            identity: identity_of(request),
                            remote: Some(sdp_media(body)),
                            correlation_tag: request.call_id.clone(),
                            ..Default::default()
                        },
                    ))
                    .await?
                    .into_inner();
                (added.participant_id, added.local)
            }
        };
        let local = local.ok_or_else(|| Status::internal("an answer without media"))?;
        let address = local
            .structured
            .as_ref()
            .map(|m| m.connection_address.clone())
            .unwrap_or_default();
        let answer = sdp::answer_with_message_section(
            body,
            &local.sdp,
            &address,
            origin_id(&participant_id),
            origin_version(),
        );
        Ok(pb::AnchorResponse {
            sdp: answer,
            session_id: session.session_id,
            participant_id,
            released: false,
        })
    }

    /// RELEASE: the 1:1 session of the Call-ID, or the group member of it.
    async fn release(
        &self,
        peer: Peer,
        request: &pb::AnchorRequest,
    ) -> Result<pb::AnchorResponse, Status> {
        let sessions = self
            .list_sessions(inner(
                peer,
                pb::ListSessionsRequest {
                    correlation_tag: request.call_id.clone(),
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .sessions;
        let mut released = false;
        let mut session_id = String::new();
        for session in sessions {
            if session.correlation_tag == request.call_id
                && session.kind == pb::SessionKind::OneToOne as i32
            {
                self.release_session(inner(
                    peer,
                    pb::ReleaseSessionRequest {
                        session_id: session.session_id.clone(),
                    },
                ))
                .await?;
                released = true;
                session_id = session.session_id;
                continue;
            }
            for member in session
                .participants
                .iter()
                .filter(|p| p.correlation_tag == request.call_id)
            {
                self.remove_participant(inner(
                    peer,
                    pb::RemoveParticipantRequest {
                        participant_id: member.participant_id.clone(),
                    },
                ))
                .await?;
                released = true;
                session_id.clone_from(&session.session_id);
            }
        }
        Ok(pb::AnchorResponse {
            session_id,
            released,
            ..Default::default()
        })
    }

    /// The 1:1 session tagged with `call_id`, with its participants.
    async fn one_to_one_of(
        &self,
        peer: Peer,
        call_id: &str,
    ) -> Result<Option<pb::Session>, Status> {
        let sessions = self
            .list_sessions(inner(
                peer,
                pb::ListSessionsRequest {
                    kind: pb::SessionKind::OneToOne as i32,
                    correlation_tag: call_id.to_owned(),
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .sessions;
        Ok(sessions.into_iter().find(|s| s.correlation_tag == call_id))
    }

    /// Releases a session a failed first offer made; a failure to do so
    /// changes nothing for the caller, who gets the first error.
    async fn release_quietly(&self, peer: Peer, session: &str) {
        let _ = self
            .release_session(inner(
                peer,
                pb::ReleaseSessionRequest {
                    session_id: session.to_owned(),
                },
            ))
            .await;
    }
}

/// The tag of a 1:1 call's caller: the From tag of its INVITE.
fn caller_tag(call_id: &str, from_tag: &str) -> String {
    format!("{call_id};ftag={from_tag}")
}

/// The tag of a 1:1 call's callee (its To tag is not known at the INVITE).
fn callee_tag(call_id: &str) -> String {
    format!("{call_id};callee")
}

/// The offering side (the From tag names the caller, or else it is the
/// callee) and the other side of a 1:1 session.
fn sides<'a>(
    session: &'a pb::Session,
    call_id: &str,
    from_tag: &str,
) -> Result<(&'a pb::Participant, &'a pb::Participant), Status> {
    let caller = caller_tag(call_id, from_tag);
    let callee = callee_tag(call_id);
    let find = |tag: &str| {
        session
            .participants
            .iter()
            .find(|p| p.correlation_tag == tag)
    };
    let other_of = |one: &pb::Participant| {
        session
            .participants
            .iter()
            .find(|p| p.participant_id != one.participant_id)
    };
    let offerer = find(&caller)
        .or_else(|| find(&callee))
        .ok_or_else(|| Status::internal("an anchored call without its participants"))?;
    let other =
        other_of(offerer).ok_or_else(|| Status::internal("an anchored call with one side"))?;
    Ok((offerer, other))
}

/// The SDP body of an OFFER or ANSWER.
fn sdp_of(request: &pb::AnchorRequest) -> Result<&str, Status> {
    if request.sdp.trim().is_empty() {
        return Err(api::invalid_argument(
            "sdp",
            "an OFFER or ANSWER needs the SIP message's SDP body",
        ));
    }
    limits::check_len("sdp", &request.sdp, limits::MAX_SDP_BYTES)?;
    Ok(&request.sdp)
}

/// The From tag a 1:1 OFFER or ANSWER must give.
fn from_tag_of(request: &pb::AnchorRequest) -> Result<&str, Status> {
    if request.from_tag.is_empty() {
        return Err(api::invalid_argument(
            "from_tag",
            "a 1:1 OFFER or ANSWER needs the From tag: it tells the caller's offers from the \
             callee's",
        ));
    }
    Ok(&request.from_tag)
}

/// The participant's identity, if the script gave one.
fn identity_of(request: &pb::AnchorRequest) -> Option<pb::Identity> {
    (!request.im_address.is_empty()).then(|| pb::Identity {
        im_address: request.im_address.clone(),
        privacy_alias: String::new(),
    })
}

fn sdp_media(body: &str) -> pb::RemoteMedia {
    pb::RemoteMedia {
        media: Some(pb::remote_media::Media::Sdp(body.to_owned())),
    }
}

/// A request made on the Anchor caller's behalf, from its address.
fn inner<T>(peer: Peer, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(TcpConnectInfo {
        local_addr: None,
        remote_addr: peer,
    });
    request
}

/// `body` with its message section replaced by the switch's `local` one.
fn rewrite(body: &str, local: Option<&pb::LocalMedia>) -> Result<String, Status> {
    let local = local.ok_or_else(|| Status::internal("no media from the switch"))?;
    sdp::replace_message_section(body, &local.sdp)
        .ok_or_else(|| api::invalid_argument("sdp", "no m=message section"))
}

/// The response that forwards `body` rewritten with `participant`'s media.
fn respond(
    body: &str,
    session: &str,
    participant: &pb::Participant,
    local: Option<&pb::LocalMedia>,
) -> Result<pb::AnchorResponse, Status> {
    Ok(pb::AnchorResponse {
        sdp: rewrite(body, local)?,
        session_id: session.to_owned(),
        participant_id: participant.participant_id.clone(),
        released: false,
    })
}

/// The same offer again, for a copy of an INVITE.
fn forwarded(
    body: &str,
    session: &pb::Session,
    pending: &pb::Participant,
) -> Result<pb::AnchorResponse, Status> {
    respond(body, &session.session_id, pending, pending.local.as_ref())
}

/// The `o=` session id of the focus's answers for a participant: stable for
/// it, from its id.
fn origin_id(participant: &str) -> u64 {
    participant
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
        >> 1
}

/// The `o=` version: milliseconds since the epoch, so a later answer's is
/// higher (RFC 3264 §8).
fn origin_version() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
