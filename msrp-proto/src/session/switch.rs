//! One shard's switch: sessions, participants, connections and the forwarding rules
//! of a 1:1 session with the switch in the media path (a B2BUA, RFC 4975 §7 on each
//! leg).
//!
//! A SEND from participant P is answered hop by hop and written to P's peer Q as a new
//! transaction: its own transaction id, Q's To-Path and From-Path, Message-ID and the
//! other headers copied, `Byte-Range: start-*/total` (so the chunk may be interrupted),
//! and the body pieces as they arrive (cut-through):
//!
//! ```text
//!  P ── SEND tid=a (head) ──▶ switch ── SEND tid=x (head, rewritten) ──▶ Q
//!  P ── body piece ─────────▶ switch ── same Bytes ───────────────────▶ Q
//!  P ── -------a$ ──────────▶ switch ── -------x$ ────────────────────▶ Q
//!  P ◀── 200 (tid a) ──────── switch ◀── 200 (tid x) ────────────────── Q   (absorbed)
//!  P ◀── REPORT (P's paths) ─ switch ◀── REPORT (Q's paths) ─────────── Q   (mapped)
//! ```
//! An error response from Q, or none within the transaction timeout, becomes a REPORT
//! to P when P's Failure-Report asks for it (RFC 4975 §7.1.2, RFC 4976 §6.4.1); a 413
//! also aborts the rest of that message to Q with `#`.

use std::collections::VecDeque;

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;
use tracing::{debug, trace};

use crate::codec::{
    ByteRange, ContinuationFlag, Decoder, Encoder, FailureReport, Framing, Head, HeaderName, Item,
    Limits, MessageId, Method, MsrpUri, Rewrite, Scheme, StatusCode, TransactionId,
};
use crate::stats::{Stats as ShardMetrics, frame_kind};

use super::ids::{ConnId, ParticipantId, SessionKey, WireIds};
use super::leg::Leg;
use super::media::{accepts, negotiate};
use super::transaction::{Sent, Timer, Transactions};

mod group;

use group::{Fanout, GroupMessage};

/// The settings one shard's switch runs with.
#[derive(Debug, Clone)]
pub struct SwitchConfig {
    /// Codec limits for every connection.
    pub limits: Limits,
    /// Host written into participants' local URIs (the address clients connect to).
    pub local_host: String,
    /// Port written into participants' local URIs.
    pub local_port: u16,
    /// How long a request the switch wrote may wait for its response (RFC 4975
    /// §7.1.1 suggests 30 s).
    pub transaction_timeout: Duration,
    /// How long an accepted connection may stay unbound before it is closed.
    pub bind_timeout: Duration,
    /// Bytes that may wait for one participant (and for one connection) before the
    /// connections feeding it stop being read: TCP flow control then slows the sender.
    pub queue_bytes: usize,
    /// A session with no request from any participant for this long is reported
    /// idle (once, until traffic resumes); `None` never reports.
    pub session_idle: Option<Duration>,
    /// Group chats: how long a participant's leg may stay over `queue_bytes`
    /// before it is a slow consumer (dropped, or its senders paused, per policy).
    pub slow_consumer_grace: Duration,
    /// Group chats: the most body bytes of one incoming chunk held before copies
    /// go out. A longer chunk goes out to each leg cut into chunks of this size
    /// (ended with `+`, RFC 4975 §7.1), so memory per sender stays bounded.
    pub fanout_chunk_bytes: usize,
    /// Group chats: a leg whose socket takes nothing is dropped at once when this
    /// much is queued for it, before its grace period ends (memory stays bounded
    /// while the others go on without it). At least `queue_bytes`.
    pub slow_consumer_max_bytes: usize,
}

impl Default for SwitchConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            local_host: "127.0.0.1".into(),
            local_port: 2855,
            transaction_timeout: Duration::from_secs(30),
            bind_timeout: Duration::from_secs(30),
            queue_bytes: 1024 * 1024,
            session_idle: Some(Duration::from_secs(1800)),
            slow_consumer_grace: Duration::from_secs(5),
            fanout_chunk_bytes: 256 * 1024,
            slow_consumer_max_bytes: 4 * 1024 * 1024,
        }
    }
}

/// What a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// Two participants, the switch in the media path between them.
    OneToOne,
    /// A chat room (RFC 7701): any number of participants, each message fanned out
    /// to the others, CPIM identities checked, private messages and nicknames.
    Group,
}

impl SessionKind {
    /// The name used in metrics and the control API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneToOne => "one_to_one",
            Self::Group => "group",
        }
    }
}

/// Which side opens the connection (RFC 6135 / RFC 4145 `a=setup`), from the switch's
/// point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetupRole {
    /// The participant connects to the switch's URI (the default, RFC 4975 §5.4).
    #[default]
    Passive,
    /// The switch connects to the participant's path and binds with an empty SEND.
    Active,
}

/// The remote side's MSRP media, from its SDP.
#[derive(Debug, Clone)]
pub struct RemoteMedia {
    /// `a=path`: the participant's URIs, the participant's own last.
    pub path: Vec<MsrpUri>,
    /// `a=accept-types`; empty means no restriction.
    pub accept_types: Vec<String>,
    /// `a=accept-wrapped-types`: types allowed inside wrappers such as message/cpim.
    pub accept_wrapped_types: Vec<String>,
    /// `a=max-size`: the largest message the participant accepts, in bytes.
    pub max_size: Option<u64>,
    /// Who connects.
    pub setup: SetupRole,
    /// RFC 6714 CEMA: match the switch's URI by session-id alone.
    pub cema: bool,
}

/// What a session allows; empty lists mean no restriction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Media types the session carries; offers are intersected with these.
    pub accept_types: Vec<String>,
    /// Types allowed inside wrappers such as message/cpim.
    pub accept_wrapped_types: Vec<String>,
    /// Largest message the switch accepts from a participant, in bytes.
    pub max_size: Option<u64>,
    /// Smallest `a=max-size` an offer may state: a participant that cannot receive
    /// messages that large cannot take part.
    pub min_max_size: Option<u64>,
    /// Group chats: participants may send private messages (CPIM `To` naming one
    /// participant, RFC 7701 §7.2); when false they get 428. IMDNs are routed to
    /// their one recipient either way.
    pub private_messages: bool,
    /// Group chats: NICKNAME requests are served (RFC 7701 §8); when false they get
    /// 403.
    pub nicknames: bool,
    /// Group chats: what happens to a participant whose leg stays over its bound
    /// past the grace period.
    pub slow_consumer: SlowConsumer,
}

/// What a group does with a slow consumer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SlowConsumer {
    /// Drop its connection (an event tells the IM Server); the others never wait.
    #[default]
    Drop,
    /// Stop reading the senders until it catches up: nobody is dropped, everybody
    /// goes at its pace.
    Pause,
}

/// Who a participant is, as the IM Server authenticated it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The authenticated IM address (SIP or tel URI).
    pub im_address: String,
    /// The anonymous address assigned when privacy was requested.
    pub privacy_alias: Option<String>,
}

/// The switch's side of the media for one participant: what goes into the SDP
/// answer.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    /// `a=path`: the switch's URI for this participant.
    pub uri: MsrpUri,
    /// `a=accept-types`: the offer intersected with the session policy.
    pub accept_types: Vec<String>,
    /// `a=accept-wrapped-types`: likewise.
    pub accept_wrapped_types: Vec<String>,
    /// `a=max-size`: the session policy's, if any.
    pub max_size: Option<u64>,
    /// `a=chatroom` tokens (RFC 7701 §9) a group offers: `private-messages` and
    /// `nickname`, as the policy allows; empty for a 1:1 session.
    pub chatroom: Vec<String>,
    /// Who connects: the switch's role.
    pub setup: SetupRole,
}

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

/// What the transport may read from a connection now ([`Switch::readiness`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Anything: nothing it feeds is over its bound.
    Everything,
    /// Only responses: its requests are held back, but answers must still flow.
    /// The transport reads a bounded amount ahead to find them.
    ResponsesOnly,
    /// Nothing: it is closing or gone.
    Nothing,
}

/// What the transport must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection for `conn` (active setup role), then report it with
    /// [`Switch::connected`] or [`Switch::handle_close`].
    Connect {
        /// The connection id to use.
        conn: ConnId,
        /// Host to connect to.
        host: String,
        /// Port to connect to.
        port: u16,
    },
    /// The connection has output, may read again, or should close.
    Wake(ConnId),
}

struct Session {
    kind: SessionKind,
    /// When a participant last sent a request (or the session was created).
    last_request: Option<Instant>,
    /// Idleness was reported and no request came since.
    idle_reported: bool,
    group_identity: String,
    policy: Policy,
    participants: SmallVec<[ParticipantId; 2]>,
}

struct Participant {
    session: SessionKey,
    local_uri: MsrpUri,
    /// `[local_uri]`, as a slice for path rewriting.
    local_path: Vec<MsrpUri>,
    remote: RemoteMedia,
    identity: Identity,
    /// The switch's side of the media, in force: what the participant may send.
    local: LocalMedia,
    /// A modification offered by the IM Server, awaiting its commit.
    staged: Option<(RemoteMedia, LocalMedia)>,
    conn: Option<ConnId>,
    leg: Leg,
    counters: Counters,
    /// The message a 413 from this participant stopped: the rest is not sent.
    stopped: Option<MessageId>,
    /// Group: the nickname it holds (RFC 7701 §8).
    nickname: Option<String>,
    /// Group: messages it is sending, between their first and last chunk.
    sending: Vec<GroupMessage>,
    /// Group: since when its leg has been over the queue bound.
    over_since: Option<Instant>,
    /// Group: its media take every CPIM message, whatever it wraps (worked out
    /// once per media, not per member per message).
    takes_any_cpim: bool,
}

/// The hop-by-hop response owed for a request.
#[derive(Clone)]
struct Reply {
    tid: TransactionId,
    status: StatusCode,
    /// The request's first From-Path URI (the previous hop).
    to: MsrpUri,
    /// The request's first To-Path URI (us).
    from: MsrpUri,
}

/// A chunk being forwarded from the connection that is reading it.
struct Forward {
    from: ParticipantId,
    to: ParticipantId,
    /// The incoming head, rewritten for each outgoing chunk; dropped when the
    /// chunk ends so the reused box does not pin the read buffer it slices.
    head: Option<Head>,
    message_id: MessageId,
    /// Position in the message of the next body byte.
    position: u64,
    total: Option<u64>,
    failure_report: FailureReport,
    /// The open outgoing chunk, if one is; `None` before the first piece after an
    /// interruption.
    out: Option<TransactionId>,
    /// Owed to the sender once the end-line arrives.
    reply: Option<Reply>,
}

/// What to do with the rest of the frame being read. One per connection, so the
/// inline head in `Report` costs memory once, not an allocation per frame.
#[allow(clippy::large_enum_variant)]
enum Inbound {
    Idle,
    Forward(Box<Forward>),
    /// Refused or handled locally: answer (if owed) at the end-line.
    Answer(Option<Reply>),
    /// A REPORT to map onto the peer leg at its end-line.
    Report {
        to: ParticipantId,
        head: Head,
    },
    /// A group chunk being gathered for fan-out.
    Fanout(Box<Fanout>),
}

struct Conn {
    decoder: Decoder,
    /// Frames for a connection no participant is bound to (error responses).
    out: VecDeque<Bytes>,
    out_bytes: usize,
    bound: Option<ParticipantId>,
    inbound: Inbound,
    /// The box of the last finished `Forward`, reused by the next chunk so that
    /// forwarding allocates nothing per chunk.
    spare: Option<Box<Forward>>,
    /// Likewise for group chunks.
    spare_fanout: Option<Box<Fanout>>,
    /// The socket took nothing on the last write (its peer is not reading).
    write_blocked: bool,
    /// Closed at once, output discarded (a slow consumer): the transport drops the
    /// socket without writing the rest.
    aborted: bool,
    /// A response is being decoded: it may finish even while requests are held
    /// back (see [`Switch::readiness`]).
    in_response: bool,
    closing: bool,
}

/// The state of one shard. See the module docs for the data flow.
pub struct Switch {
    config: SwitchConfig,
    shard: u8,
    ids: WireIds,
    encoder: Encoder,
    metrics: Arc<ShardMetrics>,
    next_seq: u64,
    sessions: HashMap<SessionKey, Session>,
    participants: HashMap<ParticipantId, Participant>,
    by_session_id: HashMap<String, ParticipantId>,
    conns: HashMap<ConnId, Conn>,
    transactions: Transactions,
    events: VecDeque<Event>,
    actions: VecDeque<Action>,
    /// Participants with whole frames held behind an open chunk, to interrupt once
    /// the chunk's sender has nothing more to read.
    held: Vec<ParticipantId>,
    /// The time of the last call that gave one (for paths called without it).
    now: Instant,
    /// Group fan-out: the recipients of the chunk being copied (reused).
    fanout_targets: Vec<ParticipantId>,
    /// Group fan-out: recipient lists of finished messages, for the next ones.
    spare_targets: Vec<Vec<ParticipantId>>,
}

impl Switch {
    /// An empty switch for shard `shard`, created at `now` (the core reads no clock:
    /// every later call brings its time too).
    pub fn new(
        config: SwitchConfig,
        shard: u8,
        ids: WireIds,
        metrics: Arc<ShardMetrics>,
        now: Instant,
    ) -> Self {
        Self {
            config,
            shard,
            ids,
            encoder: Encoder::new(),
            metrics,
            next_seq: 1,
            sessions: HashMap::default(),
            participants: HashMap::default(),
            by_session_id: HashMap::default(),
            conns: HashMap::default(),
            transactions: Transactions::default(),
            events: VecDeque::new(),
            actions: VecDeque::new(),
            held: Vec::new(),
            now,
            fanout_targets: Vec::new(),
            spare_targets: Vec::new(),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &SwitchConfig {
        &self.config
    }

    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    // ---------------------------------------------------------------- control

    /// Creates an empty session with no policy restrictions. With no `now`, its
    /// idle clock starts at its first request.
    pub fn create_session(&mut self, kind: SessionKind) -> SessionKey {
        self.create_session_at(kind, String::new(), Policy::default(), None)
    }

    /// Creates an empty session with its group identity and policy; `now` starts its
    /// idle clock.
    pub fn create_session_with(
        &mut self,
        kind: SessionKind,
        group_identity: String,
        policy: Policy,
        now: Instant,
    ) -> SessionKey {
        self.create_session_at(kind, group_identity, policy, Some(now))
    }

    fn create_session_at(
        &mut self,
        kind: SessionKind,
        group_identity: String,
        policy: Policy,
        now: Option<Instant>,
    ) -> SessionKey {
        let key = SessionKey::new(self.shard, self.next_seq());
        if let (Some(idle), Some(now)) = (self.config.session_idle, now) {
            self.transactions.schedule(now + idle, Timer::Idle(key));
        }
        self.sessions.insert(
            key,
            Session {
                kind,
                last_request: now,
                idle_reported: now.is_none(),
                group_identity,
                policy,
                participants: SmallVec::new(),
            },
        );
        ShardMetrics::shift(sessions_gauge(&self.metrics, kind), 1);
        key
    }

    /// Adds a participant with the remote side's media; returns the switch's URI for
    /// it. With [`SetupRole::Active`] the switch connects out at once.
    pub fn add_participant(
        &mut self,
        session: SessionKey,
        remote: RemoteMedia,
        now: Instant,
    ) -> Result<ParticipantInfo, ControlError> {
        self.add_participant_as(session, Identity::default(), remote, now)
    }

    /// Adds a participant with its identity; see [`Switch::add_participant`].
    /// Nothing changes if the media are refused.
    pub fn add_participant_as(
        &mut self,
        session: SessionKey,
        identity: Identity,
        remote: RemoteMedia,
        now: Instant,
    ) -> Result<ParticipantInfo, ControlError> {
        let entry = self
            .sessions
            .get(&session)
            .ok_or(ControlError::NoSuchSession(session))?;
        if entry.kind == SessionKind::OneToOne && entry.participants.len() >= 2 {
            return Err(ControlError::SessionFull(session));
        }
        check_remote(&remote)?;
        // A group checks every message's CPIM From against this address.
        if entry.kind == SessionKind::Group && identity.im_address.trim().is_empty() {
            return Err(ControlError::InvalidArgument {
                field: "identity.im_address",
                reason: "a group participant needs its authenticated IM address: \
                         the switch checks every message's CPIM From against it"
                    .into(),
            });
        }
        let Negotiated {
            accept_types,
            accept_wrapped_types,
            max_size,
        } = answer_media(&entry.policy, &remote)?;
        let chatroom = chatroom(entry.kind, &entry.policy);
        let takes_any_cpim = group::takes_any_cpim(&remote);
        let id = ParticipantId::new(self.shard, self.next_seq());
        let session_id = self.ids.session_id(self.shard);
        let scheme = remote.path.first().map_or(Scheme::Msrp, MsrpUri::scheme);
        let local_uri = MsrpUri::from_parts(
            scheme,
            &self.config.local_host,
            Some(self.config.local_port),
            Some(&session_id),
            "tcp",
        )
        .map_err(|err| ControlError::InvalidArgument {
            field: "local_host",
            reason: err.to_string(),
        })?;
        let setup = remote.setup;
        let local = LocalMedia {
            uri: local_uri.clone(),
            accept_types,
            accept_wrapped_types,
            max_size,
            chatroom,
            setup,
        };
        self.participants.insert(
            id,
            Participant {
                session,
                local_path: vec![local_uri.clone()],
                local_uri,
                remote,
                identity,
                local,
                staged: None,
                conn: None,
                leg: Leg::default(),
                counters: Counters::default(),
                stopped: None,
                nickname: None,
                sending: Vec::new(),
                over_since: None,
                takes_any_cpim,
            },
        );
        self.by_session_id.insert(session_id, id);
        if let Some(entry) = self.sessions.get_mut(&session) {
            entry.participants.push(id);
        }
        let kind = self.sessions.get(&session).map(|s| s.kind);
        ShardMetrics::shift(participants_gauge(&self.metrics, kind), 1);
        if setup == SetupRole::Active {
            self.connect_out(id, now);
        }
        self.participant_info(id)
    }

    /// Replaces a participant's remote media (a re-INVITE or UPDATE). New
    /// accept-types and max-size apply from the next message; a new path means a new
    /// MSRP session (RFC 4975 §8.4), so the old connection is closed and the
    /// participant binds again.
    pub fn modify_participant(
        &mut self,
        id: ParticipantId,
        remote: RemoteMedia,
        now: Instant,
    ) -> Result<ParticipantInfo, ControlError> {
        let local = self.answer_for(id, &remote)?;
        let participant = self
            .participants
            .get_mut(&id)
            .ok_or(ControlError::NoSuchParticipant(id))?;
        participant.local = local;
        participant.staged = None;
        let path_changed = participant.remote.path.len() != remote.path.len()
            || participant
                .remote
                .path
                .iter()
                .zip(&remote.path)
                .any(|(a, b)| !a.matches(b));
        let setup = remote.setup;
        participant.takes_any_cpim = group::takes_any_cpim(&remote);
        participant.remote = remote;
        let conn = participant.conn;
        if path_changed && let Some(conn) = conn {
            self.close_conn(conn);
            self.unbind(id);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.bound = None;
            }
        }
        // The switch is now the active party and has no connection to the (new)
        // path: it connects out, as AddParticipant would have.
        if setup == SetupRole::Active && (path_changed || conn.is_none()) {
            self.connect_out(id, now);
        }
        self.participant_info(id)
    }

    /// Stages a modification the IM Server offered: checked and answered now, in force
    /// only after [`Switch::commit_modification`]. The current media stay meanwhile.
    pub fn stage_modification(
        &mut self,
        id: ParticipantId,
        remote: RemoteMedia,
    ) -> Result<ParticipantInfo, ControlError> {
        let local = self.answer_for(id, &remote)?;
        let participant = self
            .participants
            .get_mut(&id)
            .ok_or(ControlError::NoSuchParticipant(id))?;
        participant.staged = Some((remote, local));
        self.participant_info(id)
    }

    /// Applies the staged modification (the SIP 200 OK arrived).
    pub fn commit_modification(
        &mut self,
        id: ParticipantId,
        now: Instant,
    ) -> Result<ParticipantInfo, ControlError> {
        let participant = self
            .participants
            .get_mut(&id)
            .ok_or(ControlError::NoSuchParticipant(id))?;
        let (remote, _) = participant
            .staged
            .take()
            .ok_or(ControlError::NothingStaged(id))?;
        self.modify_participant(id, remote, now)
    }

    /// Drops the staged modification; the media in force stay.
    pub fn abort_modification(&mut self, id: ParticipantId) -> Result<(), ControlError> {
        let participant = self
            .participants
            .get_mut(&id)
            .ok_or(ControlError::NoSuchParticipant(id))?;
        participant
            .staged
            .take()
            .map(drop)
            .ok_or(ControlError::NothingStaged(id))
    }

    /// The switch's answer to `remote` for participant `id`, under its session's policy,
    /// after checking `remote` itself.
    fn answer_for(
        &self,
        id: ParticipantId,
        remote: &RemoteMedia,
    ) -> Result<LocalMedia, ControlError> {
        check_remote(remote)?;
        let participant = self
            .participants
            .get(&id)
            .ok_or(ControlError::NoSuchParticipant(id))?;
        let session = self
            .sessions
            .get(&participant.session)
            .ok_or(ControlError::NoSuchSession(participant.session))?;
        let Negotiated {
            accept_types,
            accept_wrapped_types,
            max_size,
        } = answer_media(&session.policy, remote)?;
        Ok(LocalMedia {
            uri: participant.local_uri.clone(),
            accept_types,
            accept_wrapped_types,
            max_size,
            chatroom: chatroom(session.kind, &session.policy),
            setup: remote.setup,
        })
    }

    /// Removes a participant: a chunk being written to it ends with `#`, its
    /// connection closes, later requests for its session-id get 481.
    pub fn remove_participant(&mut self, id: ParticipantId) -> Result<Counters, ControlError> {
        if !self.participants.contains_key(&id) {
            return Err(ControlError::NoSuchParticipant(id));
        }
        // A chunk being forwarded *to* it: end it with '#', discard the rest, and
        // tell its sender the session is gone when its end-line comes.
        let feeding: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(&c.inbound, Inbound::Forward(f) if f.to == id))
            .map(|(id, _)| *id)
            .collect();
        for conn in feeding {
            if let Some(c) = self.conns.get_mut(&conn)
                && let Inbound::Forward(f) = std::mem::replace(&mut c.inbound, Inbound::Idle)
            {
                if let Some(tid) = f.out {
                    let end = self.encoder.end_line(&tid, ContinuationFlag::Abort, true);
                    if let Some(p) = self.participants.get_mut(&id) {
                        p.leg.push_chunk_part(end);
                        p.leg.close_chunk();
                    }
                }
                let reply = f.reply.map(|r| Reply {
                    status: StatusCode::SESSION_DOES_NOT_EXIST,
                    ..r
                });
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.inbound = Inbound::Answer(reply);
                }
            }
        }
        // A chunk being forwarded *from* it: end it with '#'.
        if let Some(conn) = self.participants.get(&id).and_then(|p| p.conn) {
            self.abort_inbound(conn);
        }
        let Some(mut participant) = self.participants.remove(&id) else {
            return Err(ControlError::NoSuchParticipant(id));
        };
        if let Some(conn) = participant.conn
            && let Some(c) = self.conns.get_mut(&conn)
        {
            // Flush what is queued (the '#' end-line above) and close.
            let mut rest = Vec::new();
            participant.leg.take(&mut rest, usize::MAX);
            for piece in rest {
                c.out_bytes += piece.len();
                c.out.push_back(piece);
            }
            c.bound = None;
            c.closing = true;
            self.actions.push_back(Action::Wake(conn));
        }
        let dropped = participant.leg.clear();
        ShardMetrics::shift(&self.metrics.queue_bytes, -(dropped as i64));
        if let Some(sid) = participant.local_uri.session_id() {
            self.by_session_id.remove(sid);
        }
        if let Some(session) = self.sessions.get_mut(&participant.session) {
            session.participants.retain(|p| *p != id);
        }
        self.transactions.forget_participant(id);
        let kind = self.sessions.get(&participant.session).map(|s| s.kind);
        ShardMetrics::shift(participants_gauge(&self.metrics, kind), -1);
        self.events.push_back(Event::ParticipantRemoved {
            session: participant.session,
            participant: id,
        });
        Ok(participant.counters)
    }

    /// Releases a session: every participant is removed.
    pub fn release_session(
        &mut self,
        key: SessionKey,
    ) -> Result<Vec<(ParticipantId, Counters)>, ControlError> {
        let session = self
            .sessions
            .get(&key)
            .ok_or(ControlError::NoSuchSession(key))?;
        let members = session.participants.clone();
        let mut counters = Vec::with_capacity(members.len());
        for id in members {
            counters.push((id, self.remove_participant(id)?));
        }
        if let Some(session) = self.sessions.remove(&key) {
            ShardMetrics::shift(sessions_gauge(&self.metrics, session.kind), -1);
        }
        Ok(counters)
    }

    /// A participant's state.
    pub fn participant_info(&self, id: ParticipantId) -> Result<ParticipantInfo, ControlError> {
        let p = self
            .participants
            .get(&id)
            .ok_or(ControlError::NoSuchParticipant(id))?;
        Ok(ParticipantInfo {
            id,
            session: p.session,
            local_uri: p.local_uri.clone(),
            bound: p.conn.is_some() && !p.leg.awaiting_bind,
            counters: p.counters,
            identity: p.identity.clone(),
            local: p.local.clone(),
            staged: p.staged.as_ref().map(|(_, local)| local.clone()),
        })
    }

    /// A session's state.
    pub fn session_info(&self, key: SessionKey) -> Result<SessionInfo, ControlError> {
        let session = self
            .sessions
            .get(&key)
            .ok_or(ControlError::NoSuchSession(key))?;
        let participants = session
            .participants
            .iter()
            .map(|id| self.participant_info(*id))
            .collect::<Result<_, _>>()?;
        Ok(SessionInfo {
            key,
            kind: session.kind,
            group_identity: session.group_identity.clone(),
            policy: session.policy.clone(),
            participants,
        })
    }

    /// Every session key on this shard.
    pub fn session_keys(&self) -> Vec<SessionKey> {
        self.sessions.keys().copied().collect()
    }

    /// True if `session_id` names a participant of this shard.
    pub fn owns_session_id(&self, session_id: &str) -> bool {
        self.by_session_id.contains_key(session_id)
    }

    // ---------------------------------------------------------------- I/O

    /// A connection was accepted; it must bind within the bind timeout.
    pub fn open_connection(&mut self, now: Instant) -> ConnId {
        let id = ConnId(self.next_seq());
        self.conns.insert(id, self.new_conn());
        self.transactions
            .schedule(now + self.config.bind_timeout, Timer::Bind(id));
        ShardMetrics::shift(&self.metrics.connections, 1);
        ShardMetrics::add(&self.metrics.connections_accepted, 1);
        id
    }

    /// The outgoing connection asked for by [`Action::Connect`] is up; its bind SEND
    /// is already queued.
    pub fn connected(&mut self, conn: ConnId) {
        ShardMetrics::shift(&self.metrics.connections, 1);
        ShardMetrics::add(&self.metrics.connections_opened, 1);
        self.actions.push_back(Action::Wake(conn));
    }

    /// Decodes and handles everything in `buf` that backpressure allows; what is
    /// left stays in `buf` until [`Switch::wants_read`] is true again.
    pub fn handle_input(&mut self, conn: ConnId, buf: &mut BytesMut, now: Instant) {
        self.now = now;
        loop {
            if !self.wants_read(conn) && !self.may_read_held(conn, buf) {
                break;
            }
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            match c.decoder.decode(buf) {
                Ok(Some(Item::Head(head))) => self.on_head(conn, head, now),
                Ok(Some(Item::Body(piece))) => self.on_body(conn, piece, now),
                Ok(Some(Item::End(flag))) => self.on_end(conn, flag, now),
                Ok(None) => break,
                Err(err) => {
                    debug!(conn = conn.0, error = %err, "refused frame");
                    if err.framing() == Framing::Lost {
                        self.close_conn(conn);
                        return;
                    }
                    self.on_refused(conn, &err);
                }
            }
        }
        self.interrupt_if_waited_on(conn, now);
        self.interrupt_held(now);
    }

    /// The connection closed (by the peer, an I/O error, or after `closing`).
    pub fn handle_close(&mut self, conn: ConnId, now: Instant) {
        self.now = now;
        self.abort_inbound(conn);
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        ShardMetrics::shift(&self.metrics.connections, -1);
        ShardMetrics::shift(&self.metrics.queue_bytes, -(c.out_bytes as i64));
        // Only if it is still this connection's: a participant moved to a new path
        // (or bound again) may already have its next one.
        if let Some(id) = c.bound
            && self
                .participants
                .get(&id)
                .is_some_and(|p| p.conn == Some(conn))
        {
            self.unbind(id);
        }
        let _ = now;
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        while let Some((timer, sent)) = self.transactions.expire(now) {
            match (timer, sent) {
                (
                    Timer::Transaction(tid),
                    Some(Sent::Chunk {
                        sender,
                        message_id,
                        start,
                        end,
                        total,
                        failure_report,
                        to,
                    }),
                ) => {
                    let _ = to;
                    // With `partial` (and group copies) the receiver answers errors
                    // only: silence is no failure (RFC 4975 §7.1.2), so only `yes`
                    // times out and gets a 408.
                    if failure_report == FailureReport::Yes {
                        debug!(%tid, "transaction timed out");
                        ShardMetrics::add(&self.metrics.transaction_timeouts, 1);
                        let range = ByteRange {
                            start,
                            end: Some(end.unwrap_or(start.saturating_sub(1))),
                            total,
                        };
                        self.report(
                            sender,
                            &message_id,
                            range,
                            StatusCode::TRANSACTION_DID_NOT_COMPLETE,
                        );
                    }
                }
                (Timer::Transaction(_), Some(Sent::Bind { to })) => {
                    // The peer never answered our bind SEND: the connection is useless.
                    if let Some(conn) = self.participants.get(&to).and_then(|p| p.conn) {
                        self.close_conn(conn);
                    }
                }
                (Timer::Idle(key), _) => self.check_idle(key, now),
                (Timer::SlowConsumer(id), _) => self.slow_consumer_due(id, now),
                (Timer::Bind(conn), _) => {
                    if self
                        .conns
                        .get(&conn)
                        .is_some_and(|c| c.bound.is_none() && !c.closing)
                    {
                        ShardMetrics::add(&self.metrics.bind_timeouts, 1);
                        debug!(conn = conn.0, "no bind within the bind timeout");
                        self.close_conn(conn);
                    }
                }
                (Timer::Transaction(_), None) => {}
            }
        }
        self.interrupt_held(now);
    }

    /// When [`Switch::handle_timeout`] next needs calling.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.transactions.next_deadline()
    }

    /// The next thing the transport must do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next event for the control plane.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Moves up to `max_bytes` of output for `conn` into `into` (for one vectored
    /// write); returns the bytes moved.
    pub fn take_output(&mut self, conn: ConnId, into: &mut Vec<Bytes>, max_bytes: usize) -> usize {
        let Some(c) = self.conns.get_mut(&conn) else {
            return 0;
        };
        let mut taken = 0;
        while let Some(piece) = c.out.front() {
            if taken > 0 && taken + piece.len() > max_bytes {
                break;
            }
            taken += piece.len();
            if let Some(piece) = c.out.pop_front() {
                into.push(piece);
            }
        }
        c.out_bytes -= taken;
        if let Some(id) = c.bound
            && taken < max_bytes
            && let Some(p) = self.participants.get_mut(&id)
        {
            let limit = self.config.queue_bytes;
            let was_full = p.leg.queued_bytes() >= limit;
            let from_leg = p.leg.take(into, max_bytes - taken);
            taken += from_leg;
            let full = p.leg.queued_bytes() >= limit;
            if !full {
                p.over_since = None;
            }
            // Whoever feeds this leg was held back while it was full: let them read
            // again. Only then, or writers would wake each other forever (and a
            // group's every member on each write).
            if was_full && !full {
                let session = p.session;
                self.wake_session(session, id);
            }
        }
        ShardMetrics::shift(&self.metrics.queue_bytes, -(taken as i64));
        taken
    }

    /// True if output is waiting for `conn`.
    pub fn has_output(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| {
            !c.out.is_empty()
                || c.bound
                    .and_then(|p| self.participants.get(&p))
                    .is_some_and(|p| p.leg.has_output())
        })
    }

    /// True once the connection should close (after its output is written).
    pub fn is_closing(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_none_or(|c| c.closing)
    }

    /// The transport's last write to `conn` could not go (`true`: the socket buffer
    /// is full) or went again (`false`). A group that drops slow consumers holds its
    /// senders back only for legs whose sockets still take data: a burst waits for
    /// readers that keep up, never for one that has stopped.
    pub fn set_write_blocked(&mut self, conn: ConnId, blocked: bool) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.write_blocked = blocked;
        if blocked
            && let Some(id) = c.bound
            && let Some(session) = self.participants.get(&id).map(|p| p.session)
            && self.drops_slow_consumers(session)
        {
            self.wake_session(session, id);
        }
    }

    /// True if the connection must close now, without writing what is left (a
    /// dropped slow consumer).
    pub fn is_aborted(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.aborted)
    }

    /// Backpressure: false while a queue this connection's requests feed is over
    /// the queue bound (a peer's leg), or while its own answers pile up unread.
    /// Its own leg is not counted: a peer that reads only between writing its
    /// answers would never get to read it down (see [`Switch::readiness`]).
    pub fn wants_read(&self, conn: ConnId) -> bool {
        let Some(c) = self.conns.get(&conn) else {
            return false;
        };
        let limit = self.config.queue_bytes;
        if c.closing || c.out_bytes >= limit {
            return false;
        }
        let Some(p) = c.bound.and_then(|id| self.participants.get(&id)) else {
            return true;
        };
        // A group that drops slow consumers never waits for one: a leg whose
        // socket takes nothing does not count (it is dropped after the grace
        // period, or at once past `slow_consumer_max_bytes`).
        let drops = self.drops_slow_consumers(p.session);
        self.peers(p.session, c.bound).all(|q| {
            self.participants.get(&q).is_none_or(|q| {
                q.leg.queued_bytes() < limit
                    || (drops
                        && q.conn
                            .and_then(|qc| self.conns.get(&qc))
                            .is_none_or(|qc| qc.write_blocked))
            })
        })
    }

    /// What the transport may read from `conn` now. Responses feed no queue, so
    /// they are read even while requests are held back: two peers that each
    /// stop reading while they write would otherwise wait on each other forever.
    pub fn readiness(&self, conn: ConnId) -> Readiness {
        match self.conns.get(&conn) {
            None => Readiness::Nothing,
            Some(c) if c.closing => Readiness::Nothing,
            Some(_) if self.wants_read(conn) => Readiness::Everything,
            Some(_) => Readiness::ResponsesOnly,
        }
    }

    /// True if the next thing to decode from `buf` may be taken from a held-back
    /// connection: part of a response, or the end of a request whose body is all
    /// in (a few bytes, and the requests behind it may be answers).
    fn may_read_held(&mut self, conn: ConnId, buf: &[u8]) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        if c.closing {
            return false;
        }
        if c.in_response || c.decoder.is_at_end_line() {
            return true;
        }
        c.decoder.is_between_frames() && Decoder::next_is_response(buf) == Some(true)
    }

    /// Outstanding requests the switch wrote (for tests and stats).
    pub fn outstanding_transactions(&self) -> usize {
        self.transactions.len()
    }

    // ---------------------------------------------------------------- frames

    fn on_head(&mut self, conn: ConnId, head: Head, now: Instant) {
        ShardMetrics::add(&self.metrics.frames_received[frame_kind(head.method())], 1);
        let Some(method) = head.method() else {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.in_response = true;
            }
            self.on_response(conn, &head);
            self.set_inbound(conn, Inbound::Answer(None));
            return;
        };
        trace!(conn = conn.0, tid = %head.transaction_id(), ?method, "request");
        let inbound = match self.route(conn, &head) {
            Err(status) => Inbound::Answer(reply_to(&head, status)),
            Ok(route) => {
                let id = route.id;
                if let Some(p) = self.participants.get_mut(&id) {
                    p.counters.frames_in += 1;
                    let session = p.session;
                    self.session_active(session, now);
                }
                let group = self.is_group(id);
                match method {
                    Method::Send if group => self.start_fanout(conn, route, head),
                    Method::Send => self.start_send(conn, route, head),
                    Method::Nickname if group => self.nickname(&route, &head),
                    // Group reports end here (RFC 7701 §7.3).
                    Method::Report if group => Inbound::Answer(None),
                    Method::Report => match self.peer(id) {
                        Some(to) => Inbound::Report { to, head },
                        None => Inbound::Answer(None),
                    },
                    // AUTH is for relays (RFC 4976), NICKNAME for group chats.
                    Method::Auth | Method::Nickname => {
                        Inbound::Answer(owed_reply(&head, StatusCode::ACTION_NOT_ALLOWED, &route))
                    }
                    Method::Other => Inbound::Answer(owed_reply(
                        &head,
                        StatusCode::METHOD_NOT_UNDERSTOOD,
                        &route,
                    )),
                }
            }
        };
        self.set_inbound(conn, inbound);
    }

    /// Finds the participant a request is for and binds the connection to it
    /// (RFC 4975 §7.3), or the status that refuses it.
    fn route(&mut self, conn: ConnId, head: &Head) -> Result<Route, StatusCode> {
        let route = match self.route_as_given(head) {
            Some(route) => route,
            None => self.route_parsed(head)?,
        };
        let Some(p) = self.participants.get(&route.id) else {
            return Err(StatusCode::SESSION_DOES_NOT_EXIST);
        };
        match (p.conn, self.conns.get(&conn).and_then(|c| c.bound)) {
            (Some(bound), _) if bound == conn => Ok(route),
            (Some(_), _) => Err(StatusCode::SESSION_ALREADY_IN_USE),
            // One session per connection: sharing is not offered yet, and keeping
            // sessions apart keeps TCP flow control per session.
            (None, Some(_)) => Err(StatusCode::ACTION_NOT_ALLOWED),
            (None, None) => {
                self.bind(conn, route.id);
                Ok(route)
            }
        }
    }

    /// The common case, without parsing a URI: To-Path is exactly the switch's URI
    /// for a participant and From-Path exactly the path it gave in SDP, byte for
    /// byte (peers repeat what they were given). Anything else takes the parsing
    /// path, which applies RFC 4975 §6.1 and CEMA.
    fn route_as_given(&self, head: &Head) -> Option<Route> {
        let to = head.value_bytes(HeaderName::ToPath)?;
        let from = head.value_bytes(HeaderName::FromPath)?;
        // msrp://host:port/SESSION-ID;tcp: the session-id sits after the last '/'.
        let slash = memchr::memrchr(b'/', to)?;
        let sid_end = memchr::memchr(b';', &to[slash..])? + slash;
        let sid = std::str::from_utf8(&to[slash + 1..sid_end]).ok()?;
        let id = *self.by_session_id.get(sid)?;
        let p = self.participants.get(&id)?;
        let [remote] = p.remote.path.as_slice() else {
            return None;
        };
        (to == p.local_uri.as_str().as_bytes() && from == remote.as_str().as_bytes()).then(|| {
            Route {
                id,
                responder: p.local_uri.clone(),
                previous_hop: remote.clone(),
            }
        })
    }

    fn route_parsed(&self, head: &Head) -> Result<Route, StatusCode> {
        let to = head
            .to_path()
            .next()
            .ok_or(StatusCode::SESSION_DOES_NOT_EXIST)?;
        let id = to
            .session_id()
            .and_then(|sid| self.by_session_id.get(sid))
            .copied()
            .ok_or(StatusCode::SESSION_DOES_NOT_EXIST)?;
        let p = self
            .participants
            .get(&id)
            .ok_or(StatusCode::SESSION_DOES_NOT_EXIST)?;
        // CEMA (RFC 6714): a middlebox may have rewritten host and port.
        if !p.remote.cema && !to.matches(&p.local_uri) {
            return Err(StatusCode::SESSION_DOES_NOT_EXIST);
        }
        // From-Path must be the path the participant gave in SDP. Its first URI is
        // the previous hop, kept for the hop-by-hop answer.
        let mut previous_hop = None;
        let from_ok = {
            let mut from = head.from_path();
            let mut remote = p.remote.path.iter();
            loop {
                match (from.next(), remote.next()) {
                    (None, None) => break true,
                    (Some(a), Some(b))
                        if a.matches(b) || (p.remote.cema && a.matches_session_id(b)) =>
                    {
                        previous_hop.get_or_insert(a);
                    }
                    _ => break false,
                }
            }
        };
        let (true, Some(previous_hop)) = (from_ok, previous_hop) else {
            return Err(StatusCode::ACTION_NOT_ALLOWED);
        };
        Ok(Route {
            id,
            responder: to,
            previous_hop,
        })
    }

    fn start_send(&mut self, conn: ConnId, route: Route, head: Head) -> Inbound {
        let from = route.id;
        let answer = |head: &Head, status| owed_reply(head, status, &route);
        let reply = answer(&head, StatusCode::OK);
        // A bodiless SEND binds or keeps alive; it is answered, not forwarded.
        if !head.has_body() {
            return Inbound::Answer(reply);
        }
        let Some(to) = self.peer(from) else {
            return Inbound::Answer(answer(&head, StatusCode::SESSION_DOES_NOT_EXIST));
        };
        let Some(message_id) = head.message_id() else {
            return Inbound::Answer(answer(&head, StatusCode::UNINTELLIGIBLE));
        };
        let range = head.byte_range().unwrap_or(ByteRange {
            start: 1,
            end: None,
            total: None,
        });
        let content_type = head.content_type().unwrap_or_default();
        let sender_may = self
            .participants
            .get(&from)
            .is_none_or(|p| accepts(&p.local.accept_types, content_type));
        if !sender_may {
            return Inbound::Answer(answer(&head, StatusCode::MIME_NOT_UNDERSTOOD));
        }
        // The session's max-size, as the switch stated it in its answer.
        let size = range.total.or(range.end);
        let sender_max = self.participants.get(&from).and_then(|p| p.local.max_size);
        if let (Some(max), Some(size)) = (sender_max, size)
            && size > max
        {
            return Inbound::Answer(answer(&head, StatusCode::STOP_SENDING_MESSAGE));
        }
        if let Some(q) = self.participants.get(&to) {
            if q.stopped == Some(message_id) {
                return Inbound::Answer(answer(&head, StatusCode::STOP_SENDING_MESSAGE));
            }
            let size = range.total.or(range.end);
            if let (Some(max), Some(size)) = (q.remote.max_size, size)
                && size > max
            {
                return Inbound::Answer(answer(&head, StatusCode::STOP_SENDING_MESSAGE));
            }
            if !accepts(
                &q.remote.accept_types,
                head.content_type().unwrap_or_default(),
            ) {
                return Inbound::Answer(answer(&head, StatusCode::MIME_NOT_UNDERSTOOD));
            }
        }
        let failure_report = head.failure_report().unwrap_or(FailureReport::Yes);
        let forward = Forward {
            from,
            to,
            head: Some(head),
            message_id,
            position: range.start,
            total: range.total,
            failure_report,
            out: None,
            reply,
        };
        let mut forward = match self.conns.get_mut(&conn).and_then(|c| c.spare.take()) {
            Some(mut spare) => {
                *spare = forward;
                spare
            }
            None => Box::new(forward),
        };
        self.open_chunk(conn, &mut forward);
        Inbound::Forward(forward)
    }

    /// Writes the head of a new outgoing chunk for `f`, at its current position.
    fn open_chunk(&mut self, conn: ConnId, f: &mut Forward) {
        let (Some(q), Some(head)) = (self.participants.get_mut(&f.to), f.head.as_ref()) else {
            return;
        };
        let tid = self.ids.transaction_id();
        let rewrite = Rewrite {
            transaction_id: tid,
            to_path: &q.remote.path,
            from_path: &q.local_path,
            message_id: None,
            // `*` for the end: the chunk streams and may be interrupted.
            byte_range: Some(ByteRange {
                start: f.position,
                end: None,
                total: f.total,
            }),
        };
        let head = self.encoder.forward(head, &rewrite);
        ShardMetrics::shift(&self.metrics.queue_bytes, head.len() as i64);
        q.leg.push_chunk_part(head);
        q.leg.open = true;
        q.leg.feeder = Some(conn);
        q.counters.frames_out += 1;
        let conn = q.conn;
        self.transactions.insert(
            tid,
            Sent::Chunk {
                to: f.to,
                sender: f.from,
                message_id: f.message_id,
                start: f.position,
                end: None,
                total: f.total,
                failure_report: f.failure_report,
            },
        );
        ShardMetrics::add(&self.metrics.frames_sent[0], 1);
        f.out = Some(tid);
        self.wake(conn);
    }

    fn on_body(&mut self, conn: ConnId, piece: Bytes, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if matches!(c.inbound, Inbound::Fanout(_)) {
            self.fanout_body(conn, piece, now);
            return;
        }
        // Only a forwarded chunk uses its body; a refused one waits for its end-line.
        if !matches!(c.inbound, Inbound::Forward(_)) {
            return;
        }
        let Inbound::Forward(mut f) = std::mem::replace(&mut c.inbound, Inbound::Idle) else {
            return;
        };
        let len = piece.len() as u64;
        if let Some(p) = self.participants.get_mut(&f.from) {
            p.counters.bytes_in += len;
        }
        let stopped = self
            .participants
            .get(&f.to)
            .is_some_and(|q| q.stopped == Some(f.message_id));
        if !stopped {
            if f.out.is_none() {
                self.open_chunk(conn, &mut f);
            }
            if let Some(q) = self.participants.get_mut(&f.to) {
                ShardMetrics::shift(&self.metrics.queue_bytes, piece.len() as i64);
                q.leg.push_chunk_part(piece);
                q.counters.bytes_out += len;
                let conn = q.conn;
                self.wake(conn);
            }
        }
        f.position += len;
        self.set_inbound(conn, Inbound::Forward(f));
    }

    fn on_end(&mut self, conn: ConnId, flag: ContinuationFlag, now: Instant) {
        let inbound = match self.conns.get_mut(&conn) {
            Some(c) => {
                c.in_response = false;
                std::mem::replace(&mut c.inbound, Inbound::Idle)
            }
            None => return,
        };
        match inbound {
            Inbound::Idle => {}
            Inbound::Answer(reply) => self.send_reply(conn, reply),
            Inbound::Report { to, head } => self.map_report(to, &head, flag),
            Inbound::Fanout(f) => self.end_fanout(conn, f, flag, now),
            Inbound::Forward(mut f) => {
                let stopped = self
                    .participants
                    .get(&f.to)
                    .is_some_and(|q| q.stopped == Some(f.message_id));
                if stopped {
                    let reply = f.reply.take().map(|r| Reply {
                        status: StatusCode::STOP_SENDING_MESSAGE,
                        ..r
                    });
                    self.send_reply(conn, reply);
                    return;
                }
                if f.out.is_none() {
                    // Interrupted and nothing came since: the end-line still has
                    // to reach the receiver, on an empty chunk at the position.
                    self.open_chunk(conn, &mut f);
                }
                if let Some(tid) = f.out {
                    self.close_chunk(&f, tid, flag, now);
                }
                let reply = f
                    .reply
                    .take()
                    .filter(|_| f.failure_report == FailureReport::Yes);
                self.send_reply(conn, reply);
                f.head = None;
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.spare = Some(f);
                }
            }
        }
    }

    /// Writes the end-line of `f`'s open chunk and starts its transaction clock.
    fn close_chunk(
        &mut self,
        f: &Forward,
        tid: TransactionId,
        flag: ContinuationFlag,
        now: Instant,
    ) {
        let end = self.encoder.end_line(&tid, flag, true);
        if let Some(q) = self.participants.get_mut(&f.to) {
            ShardMetrics::shift(&self.metrics.queue_bytes, end.len() as i64);
            q.leg.push_chunk_part(end);
            q.leg.close_chunk();
            let conn = q.conn;
            self.wake(conn);
        }
        self.transactions
            .set_chunk_end(&tid, f.position.saturating_sub(1));
        self.transactions
            .arm(tid, now + self.config.transaction_timeout);
    }

    /// A refused frame (kept framing): answer it if it can be addressed and asks for
    /// an answer.
    fn on_refused(&mut self, conn: ConnId, err: &crate::codec::DecodeError) {
        let inbound = match self.conns.get_mut(&conn) {
            Some(c) => std::mem::replace(&mut c.inbound, Inbound::Idle),
            None => return,
        };
        match inbound {
            // A chunk over max_chunk_bytes after its head was taken: end what was
            // forwarded with '#', answer the sender with the error.
            Inbound::Forward(mut f) => {
                if let Some(tid) = f.out.take() {
                    let end = self.encoder.end_line(&tid, ContinuationFlag::Abort, true);
                    if let Some(q) = self.participants.get_mut(&f.to) {
                        q.leg.push_chunk_part(end);
                        q.leg.close_chunk();
                    }
                }
                let status = err.status().unwrap_or(StatusCode::UNINTELLIGIBLE);
                let reply = f.reply.take().map(|r| Reply { status, ..r });
                self.send_reply(conn, reply);
            }
            Inbound::Fanout(f) => {
                let status = err.status().unwrap_or(StatusCode::UNINTELLIGIBLE);
                let reply = Reply {
                    status,
                    ..f.reply.clone()
                };
                let owed = f.head.as_ref().is_none_or(|h| is_owed(h, status));
                self.abort_fanout(f, self.now);
                if owed {
                    self.send_reply(conn, Some(reply));
                }
            }
            _ => {
                if let (Some(answer), Some(status)) = (err.answer(), err.status()) {
                    let reply = Reply {
                        tid: answer.transaction_id,
                        status,
                        to: answer.previous_hop.clone(),
                        from: answer.responder.clone(),
                    };
                    self.send_reply(conn, Some(reply));
                }
            }
        }
    }

    /// A response to a request the switch wrote.
    fn on_response(&mut self, conn: ConnId, head: &Head) {
        let Some(code) = head.response_status() else {
            return;
        };
        self.metrics.response_received(code);
        match self.transactions.answer(head.transaction_id()) {
            None => {
                trace!(conn = conn.0, tid = %head.transaction_id(), "response to nothing outstanding")
            }
            Some(Sent::Bind { to }) => {
                if code.is_success() {
                    if let Some(p) = self.participants.get_mut(&to) {
                        p.leg.bind_answered();
                        let event = Event::ParticipantBound {
                            session: p.session,
                            participant: to,
                        };
                        self.events.push_back(event);
                    }
                    self.actions.push_back(Action::Wake(conn));
                } else {
                    debug!(conn = conn.0, %code, "bind SEND refused");
                    self.close_conn(conn);
                }
            }
            Some(Sent::Chunk {
                sender,
                message_id,
                start,
                end,
                total,
                failure_report,
                to,
            }) => {
                if code.is_success() {
                    return;
                }
                if failure_report != FailureReport::No {
                    let range = ByteRange {
                        start,
                        end: Some(end.unwrap_or(start.saturating_sub(1))),
                        total,
                    };
                    self.report(sender, &message_id, range, code);
                }
                if code == StatusCode::STOP_SENDING_MESSAGE {
                    self.stop_message(to, message_id);
                }
            }
        }
    }

    /// RFC 4975 §7.1.1 / §10.5: after a 413 nothing more of the message goes to `to`;
    /// a chunk of it still streaming is ended with `#`.
    fn stop_message(&mut self, to: ParticipantId, message_id: MessageId) {
        if let Some(q) = self.participants.get_mut(&to) {
            q.stopped = Some(message_id);
        }
        let streaming: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                matches!(&c.inbound, Inbound::Forward(f) if f.to == to && f.message_id == message_id && f.out.is_some())
            })
            .map(|(id, _)| *id)
            .collect();
        for conn in streaming {
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            if let Inbound::Forward(f) = &mut c.inbound
                && let Some(tid) = f.out.take()
            {
                let end = self.encoder.end_line(&tid, ContinuationFlag::Abort, true);
                if let Some(q) = self.participants.get_mut(&to) {
                    q.leg.push_chunk_part(end);
                    q.leg.close_chunk();
                    let conn = q.conn;
                    self.wake(conn);
                }
            }
        }
    }

    /// A REPORT from one leg goes to the other with that leg's paths (RFC 4975
    /// §7.1.2: REPORTs are end to end; the Message-ID is the same on both legs).
    fn map_report(&mut self, to: ParticipantId, head: &Head, flag: ContinuationFlag) {
        let Some(q) = self.participants.get_mut(&to) else {
            return;
        };
        let tid = self.ids.transaction_id();
        let rewrite = Rewrite {
            transaction_id: tid,
            to_path: &q.remote.path,
            from_path: &q.local_path,
            message_id: None,
            byte_range: None,
        };
        let head_bytes = self.encoder.forward(head, &rewrite);
        // A REPORT has no body; drop the blank line a stray body would have left.
        let end = self.encoder.end_line(&tid, flag, head.has_body());
        ShardMetrics::shift(
            &self.metrics.queue_bytes,
            (head_bytes.len() + end.len()) as i64,
        );
        let held = q.leg.open;
        q.leg.push_frame(head_bytes);
        if held {
            q.leg.push_frame(end);
            self.held.push(to);
        } else {
            q.leg.push_chunk_part(end);
        }
        q.counters.frames_out += 1;
        ShardMetrics::add(&self.metrics.frames_sent[1], 1);
        let conn = q.conn;
        self.wake(conn);
    }

    /// Generates a REPORT to `sender` about its message (RFC 4975 §7.1.2).
    fn report(
        &mut self,
        sender: ParticipantId,
        message_id: &MessageId,
        range: ByteRange,
        status: StatusCode,
    ) {
        let Some(p) = self.participants.get_mut(&sender) else {
            return;
        };
        let tid = self.ids.transaction_id();
        let head = self
            .encoder
            .request(&tid, "REPORT")
            .path(HeaderName::ToPath, &p.remote.path)
            .path(HeaderName::FromPath, &p.local_path)
            .message_id(message_id)
            .byte_range(&range)
            .status(0, status, Some(status.reason()))
            .finish(false);
        let end = self.encoder.end_line(&tid, ContinuationFlag::End, false);
        let frame = [head, end].concat();
        ShardMetrics::shift(&self.metrics.queue_bytes, frame.len() as i64);
        if p.leg.push_frame(Bytes::from(frame)) {
            self.held.push(sender);
        }
        self.metrics.report_generated(status);
        let conn = p.conn;
        self.wake(conn);
    }

    fn send_reply(&mut self, conn: ConnId, reply: Option<Reply>) {
        let Some(reply) = reply else {
            return;
        };
        let frame = self
            .encoder
            .response(&reply.tid, reply.status, &reply.to, &reply.from);
        self.metrics.response_sent(reply.status);
        ShardMetrics::shift(&self.metrics.queue_bytes, frame.len() as i64);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match c
            .bound
            .and_then(|id| self.participants.get_mut(&id).map(|p| (id, p)))
        {
            Some((id, p)) => {
                if p.leg.push_frame(frame) {
                    self.held.push(id);
                }
            }
            None => {
                c.out_bytes += frame.len();
                c.out.push_back(frame);
            }
        }
        self.wake(Some(conn));
    }

    /// Interrupts every open chunk that whole frames wait behind. Called when no
    /// input is being read, so each such chunk's sender has stalled: it has nothing
    /// more for now, or backpressure holds it.
    fn interrupt_held(&mut self, now: Instant) {
        while let Some(id) = self.held.pop() {
            let feeder = self
                .participants
                .get(&id)
                .filter(|p| p.leg.open && p.leg.has_held())
                .and_then(|p| p.leg.feeder);
            if let Some(conn) = feeder {
                self.interrupt_if_waited_on(conn, now);
            }
        }
    }

    /// RFC 4975 §7.1: when the sender stalls mid-chunk and whole frames wait for the
    /// receiving leg, end the outgoing chunk with `+` so they can go; the rest of the
    /// chunk follows later as a new chunk from the position reached.
    fn interrupt_if_waited_on(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Inbound::Forward(f) = &mut c.inbound else {
            return;
        };
        let Some(q) = self.participants.get_mut(&f.to) else {
            return;
        };
        if !q.leg.has_held() {
            return;
        }
        let Some(tid) = f.out.take() else {
            return;
        };
        let end = self.encoder.end_line(&tid, ContinuationFlag::More, true);
        ShardMetrics::shift(&self.metrics.queue_bytes, end.len() as i64);
        q.leg.push_chunk_part(end);
        q.leg.close_chunk();
        let to_conn = q.conn;
        self.transactions
            .set_chunk_end(&tid, f.position.saturating_sub(1));
        self.transactions
            .arm(tid, now + self.config.transaction_timeout);
        self.wake(to_conn);
    }

    // ---------------------------------------------------------------- idleness

    /// A participant of `key` sent a request.
    fn session_active(&mut self, key: SessionKey, now: Instant) {
        let Some(idle) = self.config.session_idle else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        session.last_request = Some(now);
        if session.idle_reported {
            // Reported (or never armed): watch again from now.
            session.idle_reported = false;
            self.transactions.schedule(now + idle, Timer::Idle(key));
        }
    }

    /// The idle timer of `key` fired: report it, or re-arm for the last request.
    fn check_idle(&mut self, key: SessionKey, now: Instant) {
        let Some(idle) = self.config.session_idle else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        if session.idle_reported {
            return;
        }
        let Some(last) = session.last_request else {
            return;
        };
        let due = last + idle;
        if due > now {
            self.transactions.schedule(due, Timer::Idle(key));
            return;
        }
        session.idle_reported = true;
        self.events.push_back(Event::SessionIdle { session: key });
    }

    // ---------------------------------------------------------------- helpers

    fn new_conn(&self) -> Conn {
        Conn {
            decoder: Decoder::new(self.config.limits.clone()),
            out: VecDeque::new(),
            out_bytes: 0,
            bound: None,
            inbound: Inbound::Idle,
            spare: None,
            spare_fanout: None,
            write_blocked: false,
            aborted: false,
            in_response: false,
            closing: false,
        }
    }

    fn set_inbound(&mut self, conn: ConnId, inbound: Inbound) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.inbound = inbound;
        }
    }

    fn bind(&mut self, conn: ConnId, id: ParticipantId) {
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        p.conn = Some(conn);
        let session = p.session;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.bound = Some(id);
        }
        self.events.push_back(Event::ParticipantBound {
            session,
            participant: id,
        });
        // Frames queued while it was unbound can go now.
        self.wake(Some(conn));
    }

    fn unbind(&mut self, id: ParticipantId) {
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        if p.conn.take().is_none() {
            return;
        }
        // Half-written frames cannot continue on another connection; what was
        // queued is dropped and its transactions time out into REPORTs.
        let dropped = p.leg.clear();
        ShardMetrics::shift(&self.metrics.queue_bytes, -(dropped as i64));
        let session = p.session;
        self.events.push_back(Event::ConnectionLost {
            session,
            participant: id,
        });
        // A chunk being forwarded to it restarts with a new head if it binds again.
        for c in self.conns.values_mut() {
            if let Inbound::Forward(f) = &mut c.inbound
                && f.to == id
            {
                f.out = None;
            }
        }
        self.wake_session(session, id);
    }

    /// The sender broke off mid-chunk: the receiver gets the chunk ended with `#`.
    fn abort_inbound(&mut self, conn: ConnId) {
        let inbound = match self.conns.get_mut(&conn) {
            Some(c) => std::mem::replace(&mut c.inbound, Inbound::Idle),
            None => return,
        };
        if let Inbound::Fanout(f) = inbound {
            self.abort_fanout(f, self.now);
            return;
        }
        if let Inbound::Forward(f) = inbound
            && let Some(tid) = f.out
        {
            let end = self.encoder.end_line(&tid, ContinuationFlag::Abort, true);
            if let Some(q) = self.participants.get_mut(&f.to) {
                ShardMetrics::shift(&self.metrics.queue_bytes, end.len() as i64);
                q.leg.push_chunk_part(end);
                q.leg.close_chunk();
                let conn = q.conn;
                self.wake(conn);
            }
        }
    }

    /// Closes a connection now: nothing more is written to it, what waits is
    /// discarded. It no longer belongs to any participant.
    fn abort_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.closing = true;
            c.aborted = true;
            c.bound = None;
            ShardMetrics::shift(&self.metrics.queue_bytes, -(c.out_bytes as i64));
            c.out.clear();
            c.out_bytes = 0;
            self.actions.push_back(Action::Wake(conn));
        }
    }

    /// Marks a connection to close once its output is written.
    fn close_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.closing = true;
            self.actions.push_back(Action::Wake(conn));
        }
    }

    fn connect_out(&mut self, id: ParticipantId, now: Instant) {
        let conn = ConnId(self.next_seq());
        let mut c = self.new_conn();
        c.bound = Some(id);
        self.conns.insert(conn, c);
        let tid = self.ids.transaction_id();
        let message_id = self.ids.message_id();
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        let Some(target) = p.remote.path.first() else {
            return;
        };
        let (host, port) = (target.host().to_string(), target.port().unwrap_or(2855));
        p.conn = Some(conn);
        p.leg.awaiting_bind = true;
        // RFC 4975 §5.4: the active side sends a SEND at once, bodiless if it has
        // nothing to say, so the passive side can bind the connection.
        let head = self
            .encoder
            .request(&tid, "SEND")
            .path(HeaderName::ToPath, &p.remote.path)
            .path(HeaderName::FromPath, &p.local_path)
            .message_id(&message_id)
            .byte_range(&ByteRange::whole(0))
            .finish(false);
        let end = self.encoder.end_line(&tid, ContinuationFlag::End, false);
        p.leg.push_control(Bytes::from([head, end].concat()));
        self.transactions.insert(tid, Sent::Bind { to: id });
        self.transactions
            .arm(tid, now + self.config.transaction_timeout);
        self.actions.push_back(Action::Connect { conn, host, port });
    }

    fn peers(
        &self,
        session: SessionKey,
        except: Option<ParticipantId>,
    ) -> impl Iterator<Item = ParticipantId> + '_ {
        self.sessions
            .get(&session)
            .into_iter()
            .flat_map(|s| s.participants.iter().copied())
            .filter(move |p| Some(*p) != except)
    }

    /// The other participant of a 1:1 session.
    fn peer(&self, id: ParticipantId) -> Option<ParticipantId> {
        let session = self.participants.get(&id)?.session;
        self.peers(session, Some(id)).next()
    }

    fn wake(&mut self, conn: Option<ConnId>) {
        if let Some(conn) = conn {
            self.actions.push_back(Action::Wake(conn));
        }
    }

    fn wake_session(&mut self, session: SessionKey, except: ParticipantId) {
        let conns: SmallVec<[ConnId; 2]> = self
            .peers(session, Some(except))
            .filter_map(|p| self.participants.get(&p).and_then(|p| p.conn))
            .collect();
        for conn in conns {
            self.actions.push_back(Action::Wake(conn));
        }
    }
}

/// A request's participant, with the URIs its hop-by-hop answer goes between:
/// parsed once by `route`, used by every answer to the request.
struct Route {
    id: ParticipantId,
    /// The request's first To-Path URI (us).
    responder: MsrpUri,
    /// The request's first From-Path URI (the previous hop).
    previous_hop: MsrpUri,
}

/// Whether a request is owed a response with `status`, honouring Failure-Report
/// (RFC 4975 §7.1.2): `no` never gets one, `partial` only errors, `yes` always.
/// REPORTs never do.
fn is_owed(head: &Head, status: StatusCode) -> bool {
    if head.method() == Some(Method::Report) {
        return false;
    }
    match head.failure_report().unwrap_or(FailureReport::Yes) {
        FailureReport::No => false,
        FailureReport::Partial => !status.is_success(),
        FailureReport::Yes => true,
    }
}

/// The response a request is owed, if any, parsing its paths.
fn reply_to(head: &Head, status: StatusCode) -> Option<Reply> {
    if !is_owed(head, status) {
        return None;
    }
    Some(Reply {
        tid: *head.transaction_id(),
        status,
        to: head.from_path().next()?,
        from: head.to_path().next()?,
    })
}

/// The response a routed request is owed, if any, from the URIs `route` parsed.
fn owed_reply(head: &Head, status: StatusCode, route: &Route) -> Option<Reply> {
    is_owed(head, status).then(|| Reply {
        tid: *head.transaction_id(),
        status,
        to: route.previous_hop.clone(),
        from: route.responder.clone(),
    })
}

/// The open-sessions gauge of a kind.
fn sessions_gauge(metrics: &ShardMetrics, kind: SessionKind) -> &std::sync::atomic::AtomicI64 {
    match kind {
        SessionKind::OneToOne => &metrics.sessions_one_to_one,
        SessionKind::Group => &metrics.sessions_group,
    }
}

/// The participants gauge of a session kind.
fn participants_gauge(
    metrics: &ShardMetrics,
    kind: Option<SessionKind>,
) -> &std::sync::atomic::AtomicI64 {
    match kind {
        Some(SessionKind::Group) => &metrics.participants_group,
        _ => &metrics.participants_one_to_one,
    }
}

/// The `a=chatroom` tokens of a session's SDP answers (RFC 7701 §9).
fn chatroom(kind: SessionKind, policy: &Policy) -> Vec<String> {
    let mut tokens = Vec::new();
    if kind == SessionKind::Group {
        if policy.nicknames {
            tokens.push("nickname".to_owned());
        }
        if policy.private_messages {
            tokens.push("private-messages".to_owned());
        }
    }
    tokens
}

fn check_remote(remote: &RemoteMedia) -> Result<(), ControlError> {
    if remote.path.is_empty() {
        return Err(ControlError::InvalidArgument {
            field: "path",
            reason: "must hold at least one MSRP URI".into(),
        });
    }
    if remote.setup == SetupRole::Active
        && remote.path.first().is_some_and(|uri| uri.port().is_none())
    {
        return Err(ControlError::InvalidArgument {
            field: "path",
            reason: "the switch connects out (setup active) but the first URI has no port".into(),
        });
    }
    Ok(())
}

/// Negotiates the switch's accept-types, accept-wrapped-types and max-size for an
/// offer under a policy; refuses what the switch cannot accept (SIP 488).
fn answer_media(policy: &Policy, remote: &RemoteMedia) -> Result<Negotiated, ControlError> {
    let accept_types = negotiate(&remote.accept_types, &policy.accept_types);
    if accept_types.is_empty() {
        return Err(ControlError::NotAcceptable(format!(
            "no media type in common: offered [{}], the session carries [{}]",
            remote.accept_types.join(" "),
            policy.accept_types.join(" ")
        )));
    }
    let accept_wrapped_types =
        negotiate(&remote.accept_wrapped_types, &policy.accept_wrapped_types);
    if let (Some(min), Some(offered)) = (policy.min_max_size, remote.max_size)
        && offered < min
    {
        return Err(ControlError::NotAcceptable(format!(
            "a=max-size:{offered} is below the session's minimum of {min} bytes"
        )));
    }
    Ok(Negotiated {
        accept_types,
        accept_wrapped_types,
        max_size: policy.max_size,
    })
}

/// The negotiated part of the switch's answer.
struct Negotiated {
    accept_types: Vec<String>,
    accept_wrapped_types: Vec<String>,
    max_size: Option<u64>,
}
