//! What the control plane sees of the core: participants' and sessions' state, the
//! counters a removal returns, why a control call failed, and the events the IM
//! Server watches.

use crate::codec::MsrpUri;
use crate::ids::{ParticipantId, SessionKey};
use crate::media::{Identity, LocalMedia, Policy};
use crate::session::SessionKind;

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
    /// its connection was closed (policy [`SlowConsumer::Drop`]).
    SlowConsumerDropped {
        /// The session.
        session: SessionKey,
        /// The participant.
        participant: ParticipantId,
        /// Bytes that were waiting for it, discarded.
        queued_bytes: u64,
    },
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
            | Self::SessionIdle { session } => *session,
        }
    }
}
