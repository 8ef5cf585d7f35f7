//! The endpoint of one shard: every session, participant and connection the shard
//! owns, and the one timer queue. It routes frames to sessions and binds
//! connections; the session kinds (`session/`) decide what a frame does.
//!
//! The transport feeds it bytes ([`Endpoint::handle_input`]), closes
//! ([`Endpoint::handle_close`]) and the time ([`Endpoint::handle_timeout`]); it
//! drains, in this order after every call, output per connection
//! ([`Endpoint::take_output`]), [`Action`]s (connect out, wake a connection) and
//! control-plane [`Event`]s ([`Endpoint::poll_event`]), then sleeps until
//! [`Endpoint::poll_timeout`]. Tests drive it the same way on a fake clock.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rustc_hash::FxHashMap as HashMap;
use smallvec::SmallVec;
use tracing::debug;

use crate::codec::{Decoder, Encoder, Framing, HeadBox, Limits, Step};
use crate::conn::{Bind, Conn, Inbound, State};
use crate::control::{Event, TaggedEvent};
use crate::ids::{ConnId, ParticipantId, SessionKey, WireIds};
use crate::media::Fingerprint;
use crate::relay::{Credentials, Relay, RelayConfig};
use crate::security::Security;
use crate::session::{Link, Participant, Session, SessionLimits};
use crate::stats::Stats;
use crate::transaction::{Sent, Timer, Transactions};

mod binding;
pub mod capture;
mod control;
mod delivery;
pub(crate) mod frames;
mod idle;
mod output;
mod sharing;

/// The settings one shard's switch runs with.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Codec limits for every connection.
    pub limits: Limits,
    /// Host written into participants' local URIs (the address clients connect to).
    pub local_host: String,
    /// Port written into participants' local URIs.
    pub local_port: u16,
    /// Port written into the `msrps:` URIs of TLS participants; `None`: the
    /// daemon has no TLS listener, and TLS media are not acceptable.
    pub tls_port: Option<u16>,
    /// Port written into the `msrp:...;ws` URIs of participants over plain
    /// WebSocket (RFC 7977); `None`: no WebSocket listener, and such media are
    /// not acceptable.
    pub ws_port: Option<u16>,
    /// Likewise for secure WebSocket (`msrps:...;ws`, WSS).
    pub wss_port: Option<u16>,
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
    /// Group chats: the most bytes queued for a leg whose socket takes nothing
    /// while the others go on without it; past it its senders wait again until it
    /// reads or its grace period ends (it is then dropped). At least `queue_bytes`.
    pub slow_consumer_max_bytes: usize,
    /// The first sequence number of session and participant ids. The daemon
    /// derives it from the wall clock at start, so ids of a new run never repeat a
    /// former run's (a stale RemoveParticipant after a restart finds nothing).
    pub id_base: u64,
    /// How long a participant the switch offered to may wait for its answer
    /// before it is removed (an `OfferExpired` event says so).
    pub offer_timeout: Duration,
    /// When sessions end by themselves, unless a session sets its own.
    pub session_limits: SessionLimits,
    /// RFC 4976 relay mode (used on shard [`crate::relay::RELAY_SHARD`]).
    pub relay: RelayConfig,
    /// Large Message Mode: how long a complete session (every receiver has the
    /// message or failed) stays for the IM Server's BYE before the switch
    /// releases it by itself.
    pub large_message_linger: Duration,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            local_host: "127.0.0.1".into(),
            local_port: 2855,
            tls_port: None,
            ws_port: None,
            wss_port: None,
            transaction_timeout: Duration::from_secs(30),
            bind_timeout: Duration::from_secs(30),
            queue_bytes: 1024 * 1024,
            session_idle: Some(Duration::from_secs(1800)),
            slow_consumer_grace: Duration::from_secs(5),
            fanout_chunk_bytes: 256 * 1024,
            slow_consumer_max_bytes: 4 * 1024 * 1024,
            id_base: 1,
            // SIP's INVITE transaction may ring for three minutes (RFC 3261 timer C).
            offer_timeout: Duration::from_secs(180),
            session_limits: SessionLimits::default(),
            relay: RelayConfig::default(),
            large_message_linger: Duration::from_secs(30),
        }
    }
}

/// What the transport may read from a connection now ([`Endpoint::readiness`]).
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
    /// Open a connection for `conn` (active setup role), then report it with
    /// [`Endpoint::connected`], or [`Endpoint::connect_failed`] once the
    /// transport gives up.
    Connect {
        /// The connection id to use.
        conn: ConnId,
        /// Host to connect to.
        host: String,
        /// Port to connect to.
        port: u16,
        /// `Some` to run TLS over it, checking the peer's certificate.
        tls: Option<TlsTarget>,
    },
    /// The connection has output, may read again, or should close.
    Wake(ConnId),
    /// Large Message Mode: append `bytes` (at `offset`, right after what was
    /// stored before) to the session's message store, creating it on the first
    /// call; then report with [`Endpoint::large_message_stored`], or
    /// [`Endpoint::large_message_store_failed`].
    Store {
        /// The session whose message it is.
        session: SessionKey,
        /// Where the bytes go in the message (0-based).
        offset: u64,
        /// The bytes (shared with the receivers' legs).
        bytes: bytes::Bytes,
    },
    /// Large Message Mode: read `len` bytes at `offset` back from the session's
    /// store for a receiver, after every `Store` asked before; report with
    /// [`Endpoint::large_message_replayed`].
    Replay {
        /// The session whose message it is.
        session: SessionKey,
        /// The receiver the bytes are for.
        participant: ParticipantId,
        /// Where they start (0-based).
        offset: u64,
        /// How many.
        len: usize,
    },
    /// Large Message Mode: the session's store is no longer needed (its file is
    /// removed).
    ReleaseStore {
        /// The session.
        session: SessionKey,
    },
}

/// What a TLS connection the switch opens must check (RFC 4975 §14.2, RFC 8122).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsTarget {
    /// The name sent as SNI: the host of the participant's first path URI
    /// (a DNS name; an IP address sends none).
    pub server_name: String,
    /// The certificates the peer may present: the strongest-hash fingerprints
    /// of a participant's media (the media are refused without one). Empty for
    /// an RFC 4976 relay's next hop, whose certificate the transport verifies
    /// against its CA bundle for `server_name`.
    pub fingerprints: Vec<Fingerprint>,
}

/// The state of one shard. See the module docs for the data flow.
pub struct Endpoint {
    pub(crate) config: EndpointConfig,
    pub(crate) shard: u8,
    pub(crate) ids: WireIds,
    pub(crate) encoder: Encoder,
    pub(crate) metrics: Arc<Stats>,
    pub(crate) next_seq: u64,
    pub(crate) sessions: HashMap<SessionKey, Session>,
    /// Timers of released sessions still in the heap, at most (see
    /// `forget_timers_of_released`).
    pub(crate) stale_timers: usize,
    /// Every session key in order, for listing a page at a time.
    pub(crate) session_order: std::collections::BTreeSet<SessionKey>,
    /// Boxed: a table of inline participants (over a kilobyte each) keeps up to
    /// twice their room in empty buckets; boxed, an empty bucket costs 8 bytes
    /// (issue 20: memory per idle leg).
    pub(crate) participants: HashMap<ParticipantId, Box<Participant>>,
    /// Participants by the session-id of their URI at the switch, as bytes: the
    /// forwarding path looks one up from a To-Path without a UTF-8 check.
    pub(crate) by_session_id: HashMap<Box<[u8]>, ParticipantId>,
    /// Boxed, as `participants` is.
    pub(crate) conns: HashMap<ConnId, Box<Conn>>,
    pub(crate) transactions: Transactions,
    pub(crate) events: VecDeque<TaggedEvent>,
    pub(crate) actions: VecDeque<Action>,
    /// Participants with whole frames held behind an open chunk, to interrupt once
    /// the chunk's sender has nothing more to read.
    pub(crate) held: Vec<ParticipantId>,
    /// The time of the last call that gave one (for paths called without it).
    pub(crate) now: Instant,
    /// Group fan-out: the recipients of the chunk being copied (reused).
    pub(crate) fanout_targets: Vec<ParticipantId>,
    /// Group fan-out: recipient lists of finished messages, for the next ones.
    pub(crate) spare_targets: Vec<Vec<ParticipantId>>,
    /// RFC 4976 relay mode: its grants and per-connection state.
    pub(crate) relay: Relay,
    /// Sessions whose frames are captured (`capture.rs`).
    pub(crate) captured: std::collections::HashSet<SessionKey>,
}

impl Endpoint {
    /// An empty switch for shard `shard`, created at `now` (the core reads no clock:
    /// every later call brings its time too).
    pub fn new(
        config: EndpointConfig,
        shard: u8,
        ids: WireIds,
        metrics: Arc<Stats>,
        now: Instant,
    ) -> Self {
        Self {
            next_seq: config.id_base.max(1),
            relay: Relay::new(config.relay.clone()),
            captured: std::collections::HashSet::new(),
            config,
            shard,
            ids,
            encoder: Encoder::new(),
            metrics,
            sessions: HashMap::default(),
            session_order: std::collections::BTreeSet::new(),
            stale_timers: 0,
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
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Who may AUTH to the relay (RFC 4976 Digest); replaced whole, e.g. when
    /// the daemon reloads its credentials file. Grants already made stay.
    pub fn set_relay_credentials(&mut self, credentials: Credentials) {
        self.relay.credentials = credentials;
    }

    /// Relay URIs granted and not yet gone.
    pub fn relay_bindings(&self) -> usize {
        self.relay.bindings.len()
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// A TCP connection was accepted; it must bind within the bind timeout.
    pub fn open_connection(&mut self, now: Instant) -> ConnId {
        self.open_connection_with(Security::Plain, now)
    }

    /// A connection was accepted (a TLS one after its handshake, with what the
    /// peer presented); it must bind within the bind timeout, and binds only
    /// participants its security satisfies.
    pub fn open_connection_with(&mut self, security: Security, now: Instant) -> ConnId {
        let id = ConnId(self.next_seq());
        let mut conn = self.new_conn(State::Accepted);
        conn.security = security;
        self.conns.insert(id, conn);
        self.transactions
            .schedule(now + self.config.bind_timeout, Timer::Bind(id));
        Stats::shift(&self.metrics.connections, 1);
        Stats::add(&self.metrics.connections_accepted, 1);
        id
    }

    /// A WebSocket connection (RFC 7977) was accepted and upgraded, over TLS or
    /// not as `security` says: as [`Endpoint::open_connection_with`], and it may
    /// bind WebSocket participants (whose paths say transport `ws`).
    pub fn open_websocket_connection(&mut self, security: Security, now: Instant) -> ConnId {
        let id = self.open_connection_with(security, now);
        if let Some(c) = self.conns.get_mut(&id) {
            c.websocket = true;
        }
        id
    }

    /// The outgoing connection asked for by [`Action::Connect`] is up; its bind SEND
    /// is already queued.
    pub fn connected(&mut self, conn: ConnId) {
        self.connected_with(conn, Security::Plain);
    }

    /// [`Endpoint::connected`], with what the peer presented over TLS: a later
    /// participant may share the connection (`a=connection:existing`) only if
    /// its media accept that certificate.
    pub fn connected_with(&mut self, conn: ConnId, security: Security) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.security = security;
        match c.state {
            State::Connecting(id) => {
                c.state = State::Binding(id, Bind::Awaiting);
                Stats::shift(&self.metrics.connections, 1);
                Stats::add(&self.metrics.connections_opened, 1);
            }
            State::RelayConnecting => {
                c.state = State::Relay;
                Stats::shift(&self.metrics.connections, 1);
                Stats::add(&self.metrics.connections_opened, 1);
            }
            _ => {}
        }
        self.actions.push_back(Action::Wake(conn));
    }

    /// Decodes and handles everything in `buf` that backpressure allows; what is
    /// left stays in `buf` until [`Endpoint::wants_read`] is true again.
    pub fn handle_input(&mut self, conn: ConnId, buf: &mut BytesMut, now: Instant) {
        self.now = now;
        // Heads are parsed into a pooled box and handed on in it (`head_box.rs`).
        let mut slot = HeadBox::new();
        loop {
            let Some(c) = self.conns.get(&conn) else {
                return;
            };
            // An end-line whose body is all in is taken whatever the queues hold
            // (`may_read_held`), and an empty buffer has nothing to give: neither
            // needs the queue check, which looks up every leg the connection feeds.
            // Answers, read even while requests are held back, skip it too.
            if !c.decoder.is_at_end_line() {
                if buf.is_empty() {
                    break;
                }
                // The queue check first: it almost always allows the read, and
                // then the look at the next start line is not needed.
                if !self.wants_read(conn) && !self.may_read_held(conn, buf) {
                    break;
                }
            }
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            match c.decoder.decode_into(buf, &mut slot) {
                Ok(Some(Step::Head)) => self.on_head(conn, std::mem::take(&mut slot), now),
                Ok(Some(Step::Body(piece))) => self.on_body(conn, piece, now),
                Ok(Some(Step::End(flag))) => self.on_end(conn, flag, now),
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
        self.relay_flush(conn);
    }

    /// The connection closed (by the peer, an I/O error, or after `closing`).
    pub fn handle_close(&mut self, conn: ConnId, now: Instant) {
        self.now = now;
        self.abort_inbound(conn);
        // Dropping it takes its queued bytes off the gauge.
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        // A connection that never came up was never counted.
        if !matches!(c.state, State::Connecting(_) | State::RelayConnecting) {
            Stats::shift(&self.metrics.connections, -1);
        }
        self.relay_conn_closed(conn);
        // Every participant on it is lost. Only those still on this connection: a
        // participant moved to a new path (or bound again) may already have its
        // next one.
        for id in c.all_participants() {
            if self
                .participants
                .get(&id)
                .is_some_and(|p| p.conn() == Some(conn))
            {
                self.unbind(id, Link::Lost);
            }
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        while let Some((timer, sent)) = self.transactions.expire(now) {
            match (timer, sent) {
                (Timer::Transaction(tid), Some(sent @ Sent::Chunk { .. })) => {
                    self.chunk_overdue(tid, sent, now);
                }
                (Timer::Transaction(tid), Some(sent @ Sent::Large { .. })) => {
                    self.large_chunk_overdue(tid, sent, now);
                }
                (Timer::Transaction(_), Some(sent @ Sent::Relayed { .. })) => {
                    self.relay_answered(sent, None);
                }
                // No response came back: nobody is owed one (§6.4.2).
                (Timer::Transaction(_), Some(Sent::EndToEnd { .. })) => {}
                (Timer::Transaction(_), Some(Sent::Bind { conn, to })) => {
                    // The peer never answered our bind SEND: the connection it went
                    // on is useless to it. Only that one: by now the participant may
                    // have dialled in, or been given a new path, on another.
                    self.bind_send_failed(conn, to);
                }
                (Timer::Idle(key), _) => self.check_idle(key, now),
                (Timer::Release(key), _) => self.check_release(key, now),
                (Timer::Offer(id), _) => self.offer_expired(id),
                (Timer::SlowConsumer(id), _) => self.slow_consumer_due(id, now),
                (Timer::Bind(conn), _) => {
                    if self
                        .conns
                        .get(&conn)
                        .is_some_and(|c| c.state == State::Accepted)
                    {
                        Stats::add(&self.metrics.bind_timeouts, 1);
                        debug!(conn = conn.0, "no bind within the bind timeout");
                        self.close_conn(conn);
                    }
                }
                (Timer::Transaction(_), None) => {}
            }
        }
        self.interrupt_held(now);
    }

    /// When [`Endpoint::handle_timeout`] next needs calling.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.transactions.next_deadline()
    }

    /// The next thing the transport must do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next event for the control plane, without its correlation tags.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front().map(|tagged| tagged.event)
    }

    /// The next event for the control plane, with the correlation tags of its
    /// session and participant.
    pub fn poll_tagged_event(&mut self) -> Option<TaggedEvent> {
        self.events.pop_front()
    }

    /// Queues `event` with the tags its session and participant carry now: call it
    /// before either is removed.
    pub(crate) fn emit(&mut self, event: Event) {
        let empty = || Arc::<str>::from("");
        let correlation_tag = self
            .sessions
            .get(&event.session())
            .map_or_else(empty, |s| Arc::clone(&s.correlation_tag));
        let participant_tag = event
            .participant()
            .and_then(|p| self.participants.get(&p))
            .map_or_else(empty, |p| Arc::clone(&p.correlation_tag));
        self.events.push_back(TaggedEvent {
            event,
            correlation_tag,
            participant_tag,
        });
    }

    /// True while no request has named a participant on `conn` (state
    /// `Accepted`): a request refused so far (481, 403) left it free, so its next
    /// request may still bind it, to a session of this endpoint or another's.
    pub fn is_unbound(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| c.state == State::Accepted)
    }

    /// The session and participant `conn` is bound or binding to, if any (for
    /// the transport's log lines).
    pub fn conn_participant(&self, conn: ConnId) -> Option<(SessionKey, ParticipantId)> {
        let id = self.conns.get(&conn)?.participant()?;
        Some((self.participants.get(&id)?.session, id))
    }

    /// True once the connection should close (after its output is written).
    pub fn is_closing(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_none_or(|c| c.is_closing())
    }

    /// The transport's last write to `conn` could not go (`true`: the socket buffer
    /// is full) or went again (`false`). A group that drops slow consumers holds its
    /// senders back only for legs whose sockets still take data: a burst waits for
    /// readers that keep up, never for one that has stopped.
    pub fn set_write_blocked(&mut self, conn: ConnId, blocked: bool) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        // A full socket that takes bytes again is a live reader's: progress, as
        // much as a batch taken (a slow group member must not look stalled while
        // the transport still holds its last batch).
        if c.write_blocked && !blocked {
            c.progress.taken = c.progress.taken.wrapping_add(1);
        }
        c.write_blocked = blocked;
        if !blocked {
            return;
        }
        for id in c.all_participants() {
            if let Some(session) = self.participants.get(&id).map(|p| p.session)
                && self.drops_slow_consumers(session)
            {
                self.wake_session(session, id);
            }
        }
    }

    /// True if the connection must close now, without writing what is left (a
    /// dropped slow consumer).
    pub fn is_aborted(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| c.state == State::Aborted)
    }

    /// Backpressure: false while a queue this connection's requests feed is over
    /// the queue bound (a peer's leg), or while its own answers pile up unread.
    /// Its own leg is not counted: a peer that reads only between writing its
    /// answers would never get to read it down (see [`Endpoint::readiness`]).
    ///
    /// A connection shared by several sessions cannot stop for one of them: it is
    /// read on, its sessions are paced by their answers (`sharing.rs`), and it
    /// stops only inside a chunk whose receiver's leg holds twice the bound.
    pub fn wants_read(&self, conn: ConnId) -> bool {
        let Some(c) = self.conns.get(&conn) else {
            return false;
        };
        let limit = self.config.queue_bytes;
        if c.is_closing() || c.out.bytes() >= limit || self.relay_held_back(conn) {
            return false;
        }
        if c.is_shared() {
            let hard = limit.saturating_mul(2);
            return match &c.inbound {
                Inbound::Forward(f) => self
                    .participants
                    .get(&f.to)
                    .is_none_or(|q| q.leg.queued_bytes() < hard),
                Inbound::Fanout(f) => !self.feeds_full_leg(f.from, hard),
                _ => true,
            };
        }
        c.participant().is_none_or(|id| !self.holds_back(id, limit))
    }

    /// True if a leg `id`'s requests feed (its peers') holds `limit` bytes or
    /// more. A group that drops slow consumers does not wait for a stalled one
    /// (its socket takes nothing and it has taken nothing since it went over the
    /// bound) until `slow_consumer_max_bytes` wait for it; then its senders wait
    /// again until it reads or its grace period ends and it is dropped. A member
    /// still reading, however slowly, paces its senders.
    pub(crate) fn feeds_full_leg(&self, id: ParticipantId, limit: usize) -> bool {
        self.participants
            .get(&id)
            .is_some_and(|p| self.feeds_full_leg_of(id, p, limit))
    }

    /// True if `id`'s requests must wait (`wants_read`, on every read: one
    /// lookup of the participant): a leg they feed is full, or, for a large
    /// message's sender, its store is behind.
    fn holds_back(&self, id: ParticipantId, limit: usize) -> bool {
        let Some(p) = self.participants.get(&id) else {
            return false;
        };
        match p.member {
            crate::session::Member::LargeMessage(_) => self.large_store_behind(p),
            _ => self.feeds_full_leg_of(id, p, limit),
        }
    }

    /// [`Endpoint::feeds_full_leg`] for participant `p` (`id`).
    fn feeds_full_leg_of(&self, id: ParticipantId, p: &Participant, limit: usize) -> bool {
        // A large message's receivers are fed from its store as they drain:
        // they never hold its sender back.
        if matches!(p.member, crate::session::Member::LargeMessage(_)) {
            return false;
        }
        // No leg of the session at the queue bound: none at `limit` either. One
        // load, where the scan below looks up every peer (twice a message).
        let full = p.leg.session_full_legs();
        if full.count() == 0 && limit >= full.threshold() {
            debug_assert!(
                !self.scan_for_full_leg(id, p, limit),
                "a full leg of {id}'s session is not counted"
            );
            return false;
        }
        self.scan_for_full_leg(id, p, limit)
    }

    /// [`Endpoint::feeds_full_leg_of`] by looking at every peer's leg.
    fn scan_for_full_leg(&self, id: ParticipantId, p: &Participant, limit: usize) -> bool {
        let most = self.config.slow_consumer_max_bytes.max(limit);
        // The session's policy is looked up only for a leg over the bound: on
        // every read of a 1:1 sender, none is.
        !self.peers(p.session, Some(id)).all(|q| {
            self.participants.get(&q).is_none_or(|qp| {
                let queued = qp.leg.queued_bytes();
                queued < limit
                    || (queued < most && self.drops_slow_consumers(p.session) && self.is_stalled(q))
            })
        })
    }

    /// What the transport may read from `conn` now. Responses feed no queue, so
    /// they are read even while requests are held back: two peers that each
    /// stop reading while they write would otherwise wait on each other forever.
    pub fn readiness(&self, conn: ConnId) -> Readiness {
        match self.conns.get(&conn) {
            None => Readiness::Nothing,
            Some(c) if c.is_closing() => Readiness::Nothing,
            Some(_) if self.wants_read(conn) => Readiness::Everything,
            Some(_) => Readiness::ResponsesOnly,
        }
    }

    /// True if the next thing to decode from `buf` may be taken from a held-back
    /// connection: part of a response, or the end of a request whose body is all
    /// in (a few bytes, and the requests behind it may be answers).
    pub(crate) fn may_read_held(&self, conn: ConnId, buf: &[u8]) -> bool {
        let Some(c) = self.conns.get(&conn) else {
            return false;
        };
        if c.is_closing() {
            return false;
        }
        if matches!(c.inbound, Inbound::Response) || c.decoder.is_at_end_line() {
            return true;
        }
        c.decoder.is_between_frames() && Decoder::next_is_response(buf) == Some(true)
    }

    /// Outstanding requests the switch wrote (for tests and stats).
    pub fn outstanding_transactions(&self) -> usize {
        self.transactions.len()
    }

    pub(crate) fn peers(
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

    /// The other participant of a 1:1 session, unless its connection is lost or it
    /// has not answered the switch's offer: nothing would read what is sent to it,
    /// so a request for it is refused (481) rather than queued and its sender held
    /// back for ever.
    pub(crate) fn peer(&self, id: ParticipantId) -> Option<ParticipantId> {
        let session = self.participants.get(&id)?.session;
        self.peers(session, Some(id)).next().filter(|q| {
            self.participants
                .get(q)
                .is_some_and(|q| q.link.takes_messages())
        })
    }

    pub(crate) fn wake(&mut self, conn: Option<ConnId>) {
        if let Some(conn) = conn {
            self.actions.push_back(Action::Wake(conn));
        }
    }

    pub(crate) fn wake_session(&mut self, session: SessionKey, except: ParticipantId) {
        let conns: SmallVec<[ConnId; 2]> = self
            .peers(session, Some(except))
            .filter_map(|p| self.participants.get(&p).and_then(|p| p.conn()))
            .collect();
        for conn in conns {
            self.actions.push_back(Action::Wake(conn));
        }
        // On a shared connection they were paced by their answers instead.
        self.release_session_withheld(session, except);
    }
}
