//! What the control plane sees of the core: participants' and sessions' state, the
//! counters a removal returns, why a control call failed, and the events the IM
//! Server watches.

use std::sync::Arc;

use crate::codec::MsrpUri;
use crate::ids::{ParticipantId, SessionKey};
use crate::media::{Identity, LocalMedia, Policy, RemoteMedia, Transport};
use crate::security::BindRefusal;
use crate::session::{SessionKind, SessionLimits};

/// Body bytes and frames, per participant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Requests received from the participant.
    pub frames_in: u64,
    /// Body bytes received from the participant.
    pub bytes_in: u64,
    /// Requests written to the participant.
    pub frames_out: u64,
    /// Body bytes written to the participant.
    pub bytes_out: u64,
}

/// A participant as the control API sees it.
#[derive(Debug, Clone)]
pub struct ParticipantInfo {
    /// Its id.
    pub id: ParticipantId,
    /// Its session.
    pub session: SessionKey,
    /// The switch's URI for it: the a=path of the switch's SDP for this participant.
    pub local_uri: MsrpUri,
    /// True while a connection is bound to it.
    pub bound: bool,
    /// Its counters.
    pub counters: Counters,
    /// Who it is.
    pub identity: Identity,
    /// The switch's media for it, in force.
    pub local: LocalMedia,
    /// The switch's media for a staged modification, if one waits for its commit.
    pub staged: Option<LocalMedia>,
    /// True while the switch's offer (`local`) waits for the remote answer.
    pub pending: bool,
    /// The IM Server's tag for it.
    pub correlation_tag: Arc<str>,
}

/// A session as the control API sees it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Its key.
    pub key: SessionKey,
    /// Its kind.
    pub kind: SessionKind,
    /// The group identity given at creation.
    pub group_identity: String,
    /// The policy given at creation.
    pub policy: Policy,
    /// Its participants.
    pub participants: Vec<ParticipantInfo>,
    /// The IM Server's tag for it.
    pub correlation_tag: Arc<str>,
    /// When the switch releases it by itself.
    pub limits: SessionLimits,
}

/// What the IM Server gives for a new participant's media.
#[derive(Debug, Clone)]
pub enum Negotiation {
    /// The remote side offered; the switch answers. With `answer_with`, another
    /// participant of the session whose answer is known, the answer is "selected
    /// from both" (OMA IM 7.2.1.2): a B2BUA's answer to its originating leg.
    Answer {
        /// The remote side's offer.
        offer: RemoteMedia,
        /// The other leg whose answer joins the selection.
        answer_with: Option<ParticipantId>,
    },
    /// The switch offers (`a=setup:actpass`); the participant is pending until its
    /// answer ([`crate::endpoint::Endpoint::set_remote_answer`]). With
    /// `offer_from`, another participant whose offer the IM Server forwards, the
    /// offer carries that offer's types under the policy.
    Offer {
        /// The leg whose offer is forwarded.
        offer_from: Option<ParticipantId>,
        /// The transport offered; `None`: `offer_from`'s, or TCP.
        transport: Option<Transport>,
        /// Offer over WebSocket (RFC 7977): a `;ws` URI on the switch's
        /// WebSocket listener (secure with TLS), the switch passive, since a
        /// WebSocket client always connects. Never taken from `offer_from`.
        websocket: bool,
        /// With `websocket`, spell the transport `TCP/WS/MSRP` or
        /// `TCP/WSS/MSRP` (see [`crate::media::RemoteMedia::ws_proto`]).
        ws_proto: bool,
    },
}

/// What a new session is given besides its kind.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// The group identity (chat room URI) of a group.
    pub group_identity: String,
    /// What it allows.
    pub policy: Policy,
    /// The IM Server's tag.
    pub correlation_tag: String,
    /// When the switch releases it by itself; `None` fields take the endpoint's
    /// defaults.
    pub limits: SessionLimits,
}

/// Sessions matching every given filter, for a listing.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// Only this kind.
    pub kind: Option<SessionKind>,
    /// Only sessions with a participant of this IM address.
    pub im_address: Option<String>,
    /// Only sessions with this tag, or a participant with it.
    pub correlation_tag: Option<String>,
}

/// Why a control call failed; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No such session on this switch.
    #[error("no session {0}")]
    NoSuchSession(SessionKey),
    /// No such participant on this switch.
    #[error("no participant {0}")]
    NoSuchParticipant(ParticipantId),
    /// The session has all the participants its kind allows.
    #[error("session {0} is full")]
    SessionFull(SessionKey),
    /// The media cannot be accepted (no common type, max-size too small, ...): the
    /// IM Server answers SIP 488.
    #[error("not acceptable here: {0}")]
    NotAcceptable(String),
    /// Commit or abort with no staged modification.
    #[error("participant {0} has no staged modification")]
    NothingStaged(ParticipantId),
    /// The switch's offer to the participant still waits for its answer: it has no
    /// remote media to modify, answer or join to another leg's.
    #[error("participant {0} has not answered the switch's offer yet")]
    OfferPending(ParticipantId),
    /// A remote answer for a participant the switch made no offer to (or whose
    /// answer already came).
    #[error("participant {0} has no offer waiting for an answer")]
    NoOfferPending(ParticipantId),
    /// An argument is malformed.
    #[error("{field}: {reason}")]
    InvalidArgument {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// What the control plane hears about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A connection bound to the participant (its first request, or our bind SEND
    /// answered).
    ParticipantBound {
        /// The session.
        session: SessionKey,
        /// The participant.
        participant: ParticipantId,
    },
    /// The participant's connection closed or broke.
    ConnectionLost {
        /// The session.
        session: SessionKey,
        /// The participant.
        participant: ParticipantId,
    },
    /// The participant was removed by the control plane.
    ParticipantRemoved {
        /// The session.
        session: SessionKey,
        /// The participant.
        participant: ParticipantId,
    },
    /// No participant of the session sent a request for the idle period.
    SessionIdle {
        /// The session.
        session: SessionKey,
    },
    /// A group participant's NICKNAME request was accepted (empty: cleared).
    NicknameSet {
        /// The session.
        session: SessionKey,
        /// The participant.
        participant: ParticipantId,
        /// The nickname, unquoted.
        nickname: String,
    },
    /// A group participant stayed over its queue bound past the grace period and
    /// its connection was closed (policy [`crate::media::SlowConsumer::Drop`]).
    SlowConsumerDropped {
        /// The session.
        session: SessionKey,
        /// The participant.
        participant: ParticipantId,
        /// Bytes that were waiting for it, discarded.
        queued_bytes: u64,
    },
    /// The switch's offer got no answer in time: the participant was removed.
    OfferExpired {
        /// The session.
        session: SessionKey,
        /// The participant.
        participant: ParticipantId,
    },
    /// A connection could not bind to the participant: its media ask for TLS or
    /// a certificate fingerprint the connection does not satisfy (answered 403).
    BindRefused {
        /// The session.
        session: SessionKey,
        /// The participant.
        participant: ParticipantId,
        /// Why.
        reason: BindRefusal,
    },
    /// The switch, the active party, could not open the participant's
    /// connection (after its retries); `ConnectionLost` follows.
    ConnectFailed {
        /// The session.
        session: SessionKey,
        /// The participant.
        participant: ParticipantId,
        /// What went wrong, for the operator.
        reason: String,
    },
    /// Large Message Mode: the switch has the whole message from its sender
    /// (every byte stored), before any receiver need have it.
    MessageReceived {
        /// The session.
        session: SessionKey,
        /// The sender.
        participant: ParticipantId,
        /// The message's size in bytes.
        bytes: u64,
    },
    /// Large Message Mode: a receiver has the whole message (every chunk
    /// answered 200, and covered by success REPORTs when they were asked for).
    MessageDelivered {
        /// The session.
        session: SessionKey,
        /// The receiver.
        participant: ParticipantId,
        /// The message's size in bytes.
        bytes: u64,
    },
    /// Large Message Mode: the message will not reach a receiver (its error
    /// response, no response in time, its connection lost, the sender gone
    /// mid-message, or the switch could not store the message).
    MessageFailed {
        /// The session.
        session: SessionKey,
        /// The receiver.
        participant: ParticipantId,
        /// The MSRP status that failed it.
        status: u16,
        /// What happened, for the operator.
        reason: String,
    },
    /// Large Message Mode: every receiver has the message or failed; the IM
    /// Server may send BYE (the switch releases the session itself after its
    /// linger time otherwise).
    LargeMessageComplete {
        /// The session.
        session: SessionKey,
        /// Receivers that have the whole message.
        delivered: u32,
        /// Receivers that failed.
        failed: u32,
    },
    /// The switch released the session by itself (its participants are gone too,
    /// without an event each).
    SessionReleased {
        /// The session.
        session: SessionKey,
        /// Why.
        reason: ReleaseReason,
    },
}

/// Why the switch released a session by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseReason {
    /// Its maximum duration passed.
    MaxDuration,
    /// No participant sent a request for its idle release time.
    Idle,
    /// A large message session was complete and nobody released it within
    /// its linger time.
    Complete,
}

impl Event {
    /// The session the event is about.
    pub fn session(&self) -> SessionKey {
        match self {
            Self::ParticipantBound { session, .. }
            | Self::ConnectionLost { session, .. }
            | Self::ParticipantRemoved { session, .. }
            | Self::NicknameSet { session, .. }
            | Self::SlowConsumerDropped { session, .. }
            | Self::OfferExpired { session, .. }
            | Self::BindRefused { session, .. }
            | Self::ConnectFailed { session, .. }
            | Self::SessionReleased { session, .. }
            | Self::MessageReceived { session, .. }
            | Self::MessageDelivered { session, .. }
            | Self::MessageFailed { session, .. }
            | Self::LargeMessageComplete { session, .. }
            | Self::SessionIdle { session } => *session,
        }
    }

    /// The participant the event is about, if it is about one.
    pub fn participant(&self) -> Option<ParticipantId> {
        match self {
            Self::ParticipantBound { participant, .. }
            | Self::ConnectionLost { participant, .. }
            | Self::ParticipantRemoved { participant, .. }
            | Self::NicknameSet { participant, .. }
            | Self::SlowConsumerDropped { participant, .. }
            | Self::OfferExpired { participant, .. }
            | Self::BindRefused { participant, .. }
            | Self::ConnectFailed { participant, .. }
            | Self::MessageReceived { participant, .. }
            | Self::MessageDelivered { participant, .. }
            | Self::MessageFailed { participant, .. } => Some(*participant),
            Self::SessionReleased { .. }
            | Self::SessionIdle { .. }
            | Self::LargeMessageComplete { .. } => None,
        }
    }
}

/// An event with the correlation tags the IM Server gave its session and
/// participant, taken when it happened (a removed participant's tag goes with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedEvent {
    /// What happened.
    pub event: Event,
    /// The session's tag.
    pub correlation_tag: Arc<str>,
    /// The participant's tag (empty for a session event).
    pub participant_tag: Arc<str>,
}
