//! Session kinds, each a type of its own that the endpoint calls through one enum
//! arm: [`SessionKind::OneToOne`] (`one_to_one.rs`, the switch as a B2BUA in the
//! media path), [`SessionKind::Group`] (`group.rs`, the RFC 7701 chat switch,
//! with `cpim.rs`) and [`SessionKind::LargeMessage`] (`large_message.rs`, OMA
//! SIMPLE IM Large Message Mode). A new kind gets its own file and arm; it never adds a branch to
//! another kind's code.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use smallvec::SmallVec;

use crate::codec::{MessageId, MsrpUri};
use crate::control::{ControlError, Counters};
use crate::ids::{ConnId, ParticipantId, SessionKey};
use crate::leg::Leg;
use crate::media::{Identity, LocalMedia, Policy, RemoteMedia};
use crate::report::Withheld;

pub mod cpim;
pub(crate) mod group;
pub(crate) mod large_message;
pub(crate) mod one_to_one;

use group::GroupMember;
use large_message::{LargeMember, Transfer};

/// What a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// Two participants, the switch in the media path between them.
    OneToOne,
    /// A chat room (RFC 7701): any number of participants, each message fanned out
    /// to the others, CPIM identities checked, private messages and nicknames.
    Group,
    /// OMA SIMPLE IM Large Message Mode: one message from one sender (the first
    /// participant added) to every other participant, streamed, stored for
    /// receivers that bind late, and reported delivered per receiver.
    LargeMessage,
}

impl SessionKind {
    /// Whether a participant with `identity` and media `remote` may join `session`
    /// (keyed `key`), and the state this kind keeps for it. Each kind's rules live
    /// in its own file.
    pub(crate) fn admit(
        self,
        key: SessionKey,
        session: &Session,
        identity: &Identity,
        remote: &RemoteMedia,
    ) -> Result<Member, ControlError> {
        match self {
            Self::OneToOne => one_to_one::admit(key, session),
            Self::Group => group::admit(identity, remote),
            Self::LargeMessage => Ok(large_message::admit(session)),
        }
    }

    /// The name used in metrics and the control API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneToOne => "one_to_one",
            Self::Group => "group",
            Self::LargeMessage => "large_message",
        }
    }
}

/// A session: its kind, policy and participants.
pub(crate) struct Session {
    pub(crate) kind: SessionKind,
    /// The IM Server's tag (a SIP Call-ID), on every event.
    pub(crate) correlation_tag: std::sync::Arc<str>,
    /// When the switch releases it by itself, if ever.
    pub(crate) limits: SessionLimits,
    /// When it was created (`None`: created without a time, in tests).
    pub(crate) created: Option<Instant>,
    /// When a participant last sent a request (or the session was created).
    pub(crate) last_request: Option<Instant>,
    /// Idleness was reported and no request came since.
    pub(crate) idle_reported: bool,
    pub(crate) group_identity: String,
    pub(crate) policy: Policy,
    pub(crate) participants: SmallVec<[ParticipantId; 2]>,
    /// Large Message Mode only: the one message and where each receiver is in it.
    pub(crate) transfer: Option<Box<Transfer>>,
    /// How many of its participants' legs are at the queue bound (each leg keeps
    /// it current): while none is, no sender waits, and the check is one load.
    pub(crate) full_legs: std::sync::Arc<crate::leg::FullLegs>,
}

/// When a session ends by itself (each `None`: never).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionLimits {
    /// Released this long after its creation.
    pub max_duration: Option<std::time::Duration>,
    /// Released after this long without a request from any participant.
    pub idle_release: Option<std::time::Duration>,
}

impl SessionLimits {
    /// When a session created at `created`, whose last request came at
    /// `last_request`, is to be released; `None`: never.
    pub(crate) fn deadline(&self, created: Instant, last_request: Instant) -> Option<Instant> {
        let by_duration = self.max_duration.map(|d| created + d);
        let by_idleness = self.idle_release.map(|d| last_request + d);
        match (by_duration, by_idleness) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A participant: its media, identity, leg and counters.
pub(crate) struct Participant {
    pub(crate) session: SessionKey,
    /// The IM Server's tag (the SIP dialog), on every event about it.
    pub(crate) correlation_tag: std::sync::Arc<str>,
    pub(crate) local_uri: MsrpUri,
    /// `[local_uri]`, as a slice for path rewriting.
    pub(crate) local_path: Vec<MsrpUri>,
    pub(crate) remote: RemoteMedia,
    pub(crate) identity: Identity,
    /// The switch's side of the media, in force: what the participant may send.
    pub(crate) local: LocalMedia,
    /// A modification offered by the IM Server, awaiting its commit (boxed: a
    /// re-INVITE is rare, and inline it would cost every idle leg 300 bytes).
    pub(crate) staged: Option<Box<Staged>>,
    /// Its connection, as far as the switch knows.
    pub(crate) link: Link,
    pub(crate) leg: Leg,
    pub(crate) counters: Counters,
    /// The message a 413 from this participant stopped: the rest is not sent.
    /// Boxed: a Message-ID is 66 bytes inline and almost every participant
    /// never stops one (issue 20: memory per idle leg).
    pub(crate) stopped: Option<Box<MessageId>>,
    /// What its session kind keeps for it.
    pub(crate) member: Member,
    /// 200s owed for its chunks, held while it sends on a shared connection and
    /// a leg it feeds is over the queue bound: the per-session hold-back of a
    /// connection that cannot stop being read for one session (see
    /// `endpoint/sharing.rs`). Each with the connection it is owed on.
    pub(crate) withheld: Withheld,
}

/// A modification the IM Server offered, until its 200 OK (commit) or failure
/// (abort).
pub(crate) enum Staged {
    /// The remote side's new offer, and the switch's answer to it.
    Answer {
        remote: RemoteMedia,
        local: LocalMedia,
    },
    /// The switch's own offer: the answer comes with the commit.
    Offer { local: LocalMedia },
}

impl Staged {
    /// The switch's media once it is in force.
    pub(crate) fn local(&self) -> &LocalMedia {
        match self {
            Self::Answer { local, .. } | Self::Offer { local } => local,
        }
    }
}

/// The state a participant's session kind keeps for it: one arm per kind, so a
/// new kind adds an arm and never a field to another kind's participants.
pub(crate) enum Member {
    /// A 1:1 participant needs nothing more.
    OneToOne,
    /// A group member (`group.rs`).
    Group(Box<GroupMember>),
    /// The sender or a receiver of a large message (`large_message.rs`).
    LargeMessage(LargeMember),
}

impl Participant {
    /// The Byte-Range of a SEND it sent (`1-*/*` if it has none), or 413 when
    /// the message is larger than the switch's `a=max-size` for it.
    pub(crate) fn send_range(
        &self,
        head: &crate::codec::Head,
    ) -> Result<crate::codec::ByteRange, crate::codec::StatusCode> {
        let range = head.byte_range().unwrap_or(crate::codec::ByteRange {
            start: 1,
            end: None,
            total: None,
        });
        match (self.local.max_size, range.total.or(range.end)) {
            (Some(max), Some(size)) if size > max => {
                Err(crate::codec::StatusCode::STOP_SENDING_MESSAGE)
            }
            _ => Ok(range),
        }
    }

    /// Its group state, if it is in a group.
    pub(crate) fn group(&self) -> Option<&GroupMember> {
        match &self.member {
            Member::Group(g) => Some(g),
            Member::OneToOne | Member::LargeMessage(_) => None,
        }
    }

    /// Its group state, if it is in a group.
    pub(crate) fn group_mut(&mut self) -> Option<&mut GroupMember> {
        match &mut self.member {
            Member::Group(g) => Some(g),
            Member::OneToOne | Member::LargeMessage(_) => None,
        }
    }

    /// The connection bound (or binding) to it.
    pub(crate) fn conn(&self) -> Option<ConnId> {
        match self.link {
            Link::Connected(conn) => Some(conn),
            Link::Offered | Link::Waiting | Link::Lost => None,
        }
    }
}

/// A participant's connection, as far as the switch knows.
///
/// ```text
///  Offered ──the remote answer (SetRemoteAnswer)──┐
///     │ no answer in time: removed                  │
///     ▼                                             ▼
///  Waiting ──a connection binds (RFC 4975 §7.3)──▶ Connected(conn)
///     ▲                                              │        ▲
///     └──────── a new path (re-INVITE) ──────────────┤        │ a connection
///                                                    ▼        │ binds again
///                                                   Lost ─────┘
///                                  (its connection closed or broke)
/// ```
/// While `Waiting`, messages for it queue up to the queue bound (its client is
/// about to dial in); once `Lost`, a 1:1 peer's requests are refused with 481
/// instead: nothing would read them, and a held-back sender must not wait for ever.
/// While `Offered` the switch knows no path for it: nothing binds to it and nothing
/// is queued for it (481 to a 1:1 peer; a group leaves it out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// The switch offered media; the remote side has not answered.
    Offered,
    /// Never bound yet.
    Waiting,
    /// A connection is bound or binding to it.
    Connected(ConnId),
    /// Its connection went away.
    Lost,
}

impl Link {
    /// True if messages for it may be queued: it has a path and a connection that
    /// is there or expected.
    pub(crate) fn takes_messages(self) -> bool {
        matches!(self, Self::Waiting | Self::Connected(_))
    }
}
