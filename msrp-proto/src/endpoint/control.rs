//! The control operations the IM Server drives (through the daemon's engine):
//! sessions, participants, modifications, and what the operators read back.

use std::sync::Arc;
use std::time::Instant;

use tracing::debug;

use smallvec::SmallVec;

use crate::codec::{ContinuationFlag, MsrpUri, Scheme, StatusCode};
use crate::control::{
    ControlError, Counters, Event, Negotiation, ParticipantInfo, SessionFilter, SessionInfo,
    SessionOptions,
};
use crate::ids::{ParticipantId, SessionKey};
use crate::leg::{FullLegs, Leg};
use crate::media::{
    Identity, LocalMedia, Negotiated, Policy, RemoteMedia, SetupRole, Transport, answer_connection,
    answer_from_both, answer_media, chatroom, check_answer, check_remote, offer_media,
};
use crate::report::Withheld;
use crate::session::large_message::Transfer;
use crate::session::{Link, Participant, Session, SessionKind, SessionLimits, Staged};
use crate::stats::Stats;
use crate::transaction::Timer;

use super::Endpoint;

impl Endpoint {
    /// Creates an empty session with no policy restrictions. With no `now`, its
    /// idle clock starts at its first request.
    pub fn create_session(&mut self, kind: SessionKind) -> SessionKey {
        self.create_session_at(kind, SessionOptions::default(), None)
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
        let options = SessionOptions {
            group_identity,
            policy,
            ..SessionOptions::default()
        };
        self.create_session_at(kind, options, Some(now))
    }

    /// Creates an empty session with everything the control API can give it; `now`
    /// starts its idle and duration clocks.
    pub fn create_session_opts(
        &mut self,
        kind: SessionKind,
        options: SessionOptions,
        now: Instant,
    ) -> SessionKey {
        self.create_session_at(kind, options, Some(now))
    }

    pub(crate) fn create_session_at(
        &mut self,
        kind: SessionKind,
        options: SessionOptions,
        now: Option<Instant>,
    ) -> SessionKey {
        let key = SessionKey::new(self.shard, self.next_seq());
        let limits = SessionLimits {
            max_duration: options
                .limits
                .max_duration
                .or(self.config.session_limits.max_duration),
            idle_release: options
                .limits
                .idle_release
                .or(self.config.session_limits.idle_release),
        };
        if let Some(now) = now {
            if let Some(idle) = self.config.session_idle {
                self.transactions.schedule(now + idle, Timer::Idle(key));
            }
            if let Some(first) = limits.deadline(now, now) {
                self.transactions.schedule(first, Timer::Release(key));
            }
        }
        self.sessions.insert(
            key,
            Session {
                kind,
                correlation_tag: options.correlation_tag.into(),
                limits,
                created: now,
                last_request: now,
                idle_reported: now.is_none(),
                group_identity: options.group_identity,
                policy: options.policy,
                participants: SmallVec::new(),
                transfer: (kind == SessionKind::LargeMessage)
                    .then(|| Box::new(Transfer::new(self.ids.message_id()))),
                full_legs: FullLegs::new(self.config.queue_bytes),
            },
        );
        self.session_order.insert(key);
        Stats::shift(sessions_gauge(&self.metrics, kind), 1);
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

    /// Adds a participant with its identity; see [`Endpoint::add_participant`].
    /// Nothing changes if the media are refused.
    pub fn add_participant_as(
        &mut self,
        session: SessionKey,
        identity: Identity,
        remote: RemoteMedia,
        now: Instant,
    ) -> Result<ParticipantInfo, ControlError> {
        let negotiation = Negotiation::Answer {
            offer: remote,
            answer_with: None,
        };
        self.add(session, identity, negotiation, String::new(), now)
    }

    /// Adds a participant: the switch answers its offer, or offers to it (then it is
    /// pending until [`Endpoint::set_remote_answer`], or removed after the offer
    /// timeout). Nothing changes if anything is refused.
    pub fn add(
        &mut self,
        session: SessionKey,
        identity: Identity,
        negotiation: Negotiation,
        correlation_tag: String,
        now: Instant,
    ) -> Result<ParticipantInfo, ControlError> {
        let entry = self
            .sessions
            .get(&session)
            .ok_or(ControlError::NoSuchSession(session))?;
        let (remote, negotiated, setup, transport, ws_proto) = match negotiation {
            Negotiation::Answer { offer, answer_with } => {
                check_remote(&offer)?;
                let negotiated = match answer_with {
                    None => answer_media(&entry.policy, &offer)?,
                    Some(other) => {
                        let other = self.answered_peer(session, other, "answer_with")?;
                        answer_from_both(&entry.policy, &offer, &other.remote)?
                    }
                };
                let setup = offer.setup;
                let transport = offer.transport;
                let ws_proto = offer.ws_proto;
                (offer, negotiated, Some(setup), transport, ws_proto)
            }
            Negotiation::Offer {
                offer_from,
                transport,
                websocket,
                ws_proto,
            } => {
                let forwarded = match offer_from {
                    Some(other) => Some(&self.answered_peer(session, other, "offer_from")?.remote),
                    None => None,
                };
                let negotiated = offer_media(&entry.policy, forwarded)?;
                let transport = transport
                    .or(forwarded.map(|f| f.transport))
                    .unwrap_or_default();
                let remote = RemoteMedia {
                    websocket,
                    ..RemoteMedia::not_answered()
                };
                (remote, negotiated, None, transport, websocket && ws_proto)
            }
        };
        let (scheme, port, uri_transport) = self.local_address(transport, remote.websocket)?;
        // The session kind decides who may join and what it keeps for them.
        let member = entry.kind.admit(session, entry, &identity, &remote)?;
        let Negotiated {
            accept_types,
            accept_wrapped_types,
            max_size,
        } = negotiated;
        let chatroom = chatroom(entry.kind, &entry.policy);
        let id = ParticipantId::new(self.shard, self.next_seq());
        let session_id = self.ids.session_id(self.shard);
        let local_uri = MsrpUri::from_parts(
            scheme,
            &self.config.local_host,
            Some(port),
            Some(&session_id),
            uri_transport,
        )
        .map_err(|err| ControlError::InvalidArgument {
            field: "local_host",
            reason: err.to_string(),
        })?;
        let local = LocalMedia {
            uri: local_uri.clone(),
            accept_types,
            accept_wrapped_types,
            max_size,
            chatroom,
            setup,
            transport,
            connection: answer_connection(&remote, false),
            ws_proto,
        };
        let link = match setup {
            Some(_) => Link::Waiting,
            None => {
                self.transactions
                    .schedule(now + self.config.offer_timeout, Timer::Offer(id));
                Link::Offered
            }
        };
        // A participant's leg counts into its session's full legs; without a
        // session it has no peers to hold back, and counts into its own.
        let full_legs = self.sessions.get(&session).map_or_else(
            || FullLegs::new(self.config.queue_bytes),
            |s| Arc::clone(&s.full_legs),
        );
        self.participants.insert(
            id,
            Box::new(Participant {
                session,
                correlation_tag: correlation_tag.into(),
                local_path: vec![local_uri.clone()],
                local_uri,
                remote,
                identity,
                local,
                staged: None,
                link,
                leg: Leg::new(&self.metrics, &full_legs),
                counters: Counters::default(),
                stopped: None,
                member,
                withheld: Withheld::new(&self.metrics),
            }),
        );
        self.by_session_id
            .insert(session_id.into_bytes().into_boxed_slice(), id);
        if let Some(entry) = self.sessions.get_mut(&session) {
            entry.participants.push(id);
        }
        let kind = self.sessions.get(&session).map(|s| s.kind);
        Stats::shift(participants_gauge(&self.metrics, kind), 1);
        if setup == Some(SetupRole::Active) {
            let reused = self.connect_out(id, now);
            self.answer_connection_with(id, reused);
        }
        if kind == Some(SessionKind::LargeMessage) {
            self.now = now;
            self.large_joined(session, id);
        }
        self.participant_info(id)
    }

    /// The switch's `a=connection` for `id` once it knows whether it reuses a
    /// connection as the active side (RFC 6135): `existing` only then.
    fn answer_connection_with(&mut self, id: ParticipantId, reused: bool) {
        if let Some(p) = self.participants.get_mut(&id) {
            p.local.connection = answer_connection(&p.remote, reused);
        }
    }

    /// The scheme, port and URI transport of the switch's URIs for `transport`
    /// (over WebSocket with `websocket`, RFC 7977): each only when the daemon
    /// listens for it.
    fn local_address(
        &self,
        transport: Transport,
        websocket: bool,
    ) -> Result<(Scheme, u16, &'static str), ControlError> {
        let not_enabled = |what: &str| {
            ControlError::NotAcceptable(format!("{what} is not enabled on this switch"))
        };
        match (transport, websocket) {
            (Transport::Tcp, false) => Ok((Scheme::Msrp, self.config.local_port, "tcp")),
            (Transport::Tls, false) => self
                .config
                .tls_port
                .map(|port| (Scheme::Msrps, port, "tcp"))
                .ok_or_else(|| not_enabled("MSRP over TLS (msrps, TCP/TLS/MSRP)")),
            (Transport::Tcp, true) => self
                .config
                .ws_port
                .map(|port| (Scheme::Msrp, port, "ws"))
                .ok_or_else(|| not_enabled("MSRP over WebSocket (msrp: with transport ws)")),
            (Transport::Tls, true) => self
                .config
                .wss_port
                .map(|port| (Scheme::Msrps, port, "ws"))
                .ok_or_else(|| {
                    not_enabled("MSRP over secure WebSocket (msrps: with transport ws)")
                }),
        }
    }

    /// Another participant of `session` that has remote media of its own (not a
    /// pending offer): the leg an offer is forwarded from or an answer joined with.
    fn answered_peer(
        &self,
        session: SessionKey,
        other: ParticipantId,
        field: &'static str,
    ) -> Result<&Participant, ControlError> {
        let p = self
            .participants
            .get(&other)
            .filter(|p| p.session == session)
            .ok_or_else(|| ControlError::InvalidArgument {
                field,
                reason: format!("{other} is not a participant of session {session}"),
            })?;
        if p.link == Link::Offered {
            return Err(ControlError::OfferPending(other));
        }
        Ok(p)
    }

    /// The remote side's answer to the switch's offer: checked against the offer (it
    /// may narrow the types, never widen them), then in force. The answer's setup
    /// role decides who connects; when the switch does, it connects now.
    pub fn set_remote_answer(
        &mut self,
        id: ParticipantId,
        answer: RemoteMedia,
        now: Instant,
    ) -> Result<ParticipantInfo, ControlError> {
        let p = self
            .participants
            .get(&id)
            .ok_or(ControlError::NoSuchParticipant(id))?;
        if p.link != Link::Offered {
            return Err(ControlError::NoOfferPending(id));
        }
        check_remote(&answer)?;
        check_answer(&p.local, &answer)?;
        check_transport(&p.local, &answer)?;
        let Some(p) = self.participants.get_mut(&id) else {
            return Err(ControlError::NoSuchParticipant(id));
        };
        let setup = answer.setup;
        if let Some(g) = p.group_mut() {
            g.media_changed(&answer);
        }
        p.remote = answer;
        p.local.setup = Some(setup);
        p.link = Link::Waiting;
        let session = p.session;
        if setup == SetupRole::Active {
            self.connect_out(id, now);
        }
        // A large message's receiver may now be fed what there is.
        self.now = now;
        self.feed_receiver(session, id, now);
        self.participant_info(id)
    }

    /// Puts in force the answer to `id`'s offer "selected from both" that offer and
    /// `other`'s answer (OMA IM 7.2.1.2 step 2b): a B2BUA answers its originating
    /// leg once the terminating leg answered.
    pub fn answer_from_both_legs(
        &mut self,
        id: ParticipantId,
        other: ParticipantId,
    ) -> Result<ParticipantInfo, ControlError> {
        if other == id {
            return Err(ControlError::InvalidArgument {
                field: "answer_with",
                reason: "names the participant being answered".into(),
            });
        }
        let (p, session) = self.answered_with_session(id)?;
        let peer = self.answered_peer(p.session, other, "answer_with")?;
        let Negotiated {
            accept_types,
            accept_wrapped_types,
            max_size,
        } = answer_from_both(&session.policy, &p.remote, &peer.remote)?;
        let Some(p) = self.participants.get_mut(&id) else {
            return Err(ControlError::NoSuchParticipant(id));
        };
        p.local.accept_types = accept_types;
        p.local.accept_wrapped_types = accept_wrapped_types;
        p.local.max_size = max_size;
        self.participant_info(id)
    }

    /// The offer timer of `id` fired: still no answer, so it goes.
    pub(crate) fn offer_expired(&mut self, id: ParticipantId) {
        let Some(p) = self.participants.get(&id) else {
            return;
        };
        if p.link != Link::Offered {
            return;
        }
        let session = p.session;
        debug!(participant = %id, "the switch's offer got no answer in time");
        self.emit(Event::OfferExpired {
            session,
            participant: id,
        });
        let _ = self.remove(id, false);
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
        if let Some(g) = participant.group_mut() {
            g.media_changed(&remote);
        }
        participant.remote = remote;
        let conn = participant.conn();
        if path_changed {
            match conn {
                // The participant leaves the old connection before it is unbound
                // (which closes unless other sessions share it), so its close
                // later changes nothing. A chunk it is sending there ends with '#'
                // now, as the close would end it: a connection others share stays
                // open, and what it sends of that chunk no longer goes anywhere.
                Some(conn) => {
                    self.abort_inbound_from(conn, id);
                    self.leave(conn, id, false);
                    self.unbind(id, Link::Waiting);
                }
                // A new path for a participant whose connection was lost: it is
                // expected to dial in again, so its peers' messages wait for it.
                None => participant.link = Link::Waiting,
            }
        }
        // The switch is now the active party and has no connection to the (new)
        // path: it connects out, as AddParticipant would have.
        if setup == SetupRole::Active && (path_changed || conn.is_none()) {
            let reused = self.connect_out(id, now);
            self.answer_connection_with(id, reused);
        }
        self.participant_info(id)
    }

    /// Stages a modification the IM Server offered: checked and answered now, in force
    /// only after [`Endpoint::commit_modification`]. The current media stay meanwhile.
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
        participant.staged = Some(Box::new(Staged::Answer { remote, local }));
        self.participant_info(id)
    }

    /// Stages the switch's own offer to a participant (an IM Server's re-INVITE or
    /// UPDATE): the session policy's types, the current setup role. In force only
    /// after [`Endpoint::commit_modification_with`] brings the answer.
    pub fn stage_offer(&mut self, id: ParticipantId) -> Result<ParticipantInfo, ControlError> {
        let (p, session) = self.answered_with_session(id)?;
        let Negotiated {
            accept_types,
            accept_wrapped_types,
            max_size,
        } = offer_media(&session.policy, None)?;
        let local = LocalMedia {
            accept_types,
            accept_wrapped_types,
            max_size,
            ..p.local.clone()
        };
        if let Some(p) = self.participants.get_mut(&id) {
            p.staged = Some(Box::new(Staged::Offer { local }));
        }
        self.participant_info(id)
    }

    /// Applies the staged modification (the SIP 200 OK arrived).
    pub fn commit_modification(
        &mut self,
        id: ParticipantId,
        now: Instant,
    ) -> Result<ParticipantInfo, ControlError> {
        self.commit_modification_with(id, None, now)
    }

    /// Applies the staged modification. A staged offer of the switch's needs the
    /// remote answer (`answer`), checked against it like any answer (it may
    /// narrow the types, never widen them); a staged answer takes none. Nothing
    /// changes if the answer is refused.
    pub fn commit_modification_with(
        &mut self,
        id: ParticipantId,
        answer: Option<RemoteMedia>,
        now: Instant,
    ) -> Result<ParticipantInfo, ControlError> {
        let participant = self
            .participants
            .get(&id)
            .ok_or(ControlError::NoSuchParticipant(id))?;
        match (participant.staged.as_deref(), answer) {
            (None, _) => Err(ControlError::NothingStaged(id)),
            (Some(Staged::Answer { remote, .. }), None) => {
                let remote = remote.clone();
                if let Some(p) = self.participants.get_mut(&id) {
                    p.staged = None;
                }
                self.modify_participant(id, remote, now)
            }
            (Some(Staged::Answer { .. }), Some(_)) => Err(ControlError::InvalidArgument {
                field: "remote",
                reason: "the staged modification was the remote side's offer, already \
                         answered: commit it without media"
                    .into(),
            }),
            (Some(Staged::Offer { .. }), None) => Err(ControlError::InvalidArgument {
                field: "remote",
                reason: "the staged modification is the switch's offer: give the answer \
                         (the 200 OK's SDP)"
                    .into(),
            }),
            (Some(Staged::Offer { local }), Some(answer)) => {
                let offer = local.clone();
                check_remote(&answer)?;
                check_answer(&offer, &answer)?;
                check_transport(&offer, &answer)?;
                self.modify_participant(id, answer, now)?;
                if let Some(p) = self.participants.get_mut(&id) {
                    p.local.accept_types = offer.accept_types;
                    p.local.accept_wrapped_types = offer.accept_wrapped_types;
                    p.local.max_size = offer.max_size;
                }
                self.participant_info(id)
            }
        }
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

    /// Participant `id`, which has answered (or made) an offer, and its session.
    fn answered_with_session(
        &self,
        id: ParticipantId,
    ) -> Result<(&Participant, &Session), ControlError> {
        let p = self
            .participants
            .get(&id)
            .ok_or(ControlError::NoSuchParticipant(id))?;
        if p.link == Link::Offered {
            return Err(ControlError::OfferPending(id));
        }
        let session = self
            .sessions
            .get(&p.session)
            .ok_or(ControlError::NoSuchSession(p.session))?;
        Ok((p, session))
    }

    /// The switch's answer to `remote` for participant `id`, under its session's policy,
    /// after checking `remote` itself.
    pub(crate) fn answer_for(
        &self,
        id: ParticipantId,
        remote: &RemoteMedia,
    ) -> Result<LocalMedia, ControlError> {
        check_remote(remote)?;
        let (participant, session) = self.answered_with_session(id)?;
        check_transport(&participant.local, remote)?;
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
            setup: Some(remote.setup),
            transport: participant.local.transport,
            // As the active side the switch keeps (or joins) a connection to the
            // same hop if one is bound.
            connection: answer_connection(remote, self.reuse_target(remote, None).is_some()),
            ws_proto: remote.ws_proto,
        })
    }

    /// Removes a participant: a chunk being written to it ends with `#`, its
    /// connection closes, later requests for its session-id get 481.
    pub fn remove_participant(&mut self, id: ParticipantId) -> Result<Counters, ControlError> {
        self.remove(id, true)
    }

    /// Removes a participant; `announce`: with a `ParticipantRemoved` event (not
    /// when another event already says why it went).
    pub(crate) fn remove(
        &mut self,
        id: ParticipantId,
        announce: bool,
    ) -> Result<Counters, ControlError> {
        if !self.participants.contains_key(&id) {
            return Err(ControlError::NoSuchParticipant(id));
        }
        // A large message's receiver fails; its sender fails it mid-message.
        let now = self.now;
        self.large_left(id, StatusCode::SESSION_DOES_NOT_EXIST, now);
        // A chunk being forwarded *to* it: end it with '#', discard the rest, and
        // tell its sender the session is gone when its end-line comes.
        self.end_chunks_to(id, ContinuationFlag::Abort, true);
        // A chunk being forwarded *from* it: end it with '#' (on a shared
        // connection the frame being read may be another session's).
        if let Some(conn) = self.participants.get(&id).and_then(|p| p.conn()) {
            self.abort_inbound_from(conn, id);
        }
        // Whoever its queue held back reads again, and learns it is gone.
        if let Some(session) = self.participants.get(&id).map(|p| p.session) {
            self.wake_session(session, id);
            if announce {
                self.emit(Event::ParticipantRemoved {
                    session,
                    participant: id,
                });
            }
        }
        // Flush what is queued for it (ending with the '#' above); the
        // connection is no longer the participant's, and closes unless other
        // sessions share it.
        if let Some(conn) = self.participants.get(&id).and_then(|p| p.conn()) {
            self.leave(conn, id, true);
        }
        let Some(participant) = self.participants.remove(&id) else {
            return Err(ControlError::NoSuchParticipant(id));
        };
        // What could not be written goes (and off the queue gauge) with the leg.
        drop(participant.leg);
        if let Some(sid) = participant.local_uri.session_id() {
            self.by_session_id.remove(sid.as_bytes());
        }
        if let Some(session) = self.sessions.get_mut(&participant.session) {
            session.participants.retain(|p| *p != id);
        }
        // What was sent to it and not acknowledged will never be: its senders get
        // the REPORTs they asked for (the session is gone for that leg: 481).
        self.report_unacknowledged(Some(id), StatusCode::SESSION_DOES_NOT_EXIST);
        self.transactions.forget_participant(id);
        let kind = self.sessions.get(&participant.session).map(|s| s.kind);
        Stats::shift(participants_gauge(&self.metrics, kind), -1);
        Ok(participant.counters)
    }

    /// Releases a session: every participant is removed.
    pub fn release_session(
        &mut self,
        key: SessionKey,
    ) -> Result<Vec<(ParticipantId, Counters)>, ControlError> {
        self.release(key, true)
    }

    /// Releases a session; `announce`: a `ParticipantRemoved` event per participant.
    pub(crate) fn release(
        &mut self,
        key: SessionKey,
        announce: bool,
    ) -> Result<Vec<(ParticipantId, Counters)>, ControlError> {
        let session = self
            .sessions
            .get(&key)
            .ok_or(ControlError::NoSuchSession(key))?;
        let members = session.participants.clone();
        let mut counters = Vec::with_capacity(members.len());
        for id in members {
            counters.push((id, self.remove(id, announce)?));
        }
        self.release_store(key);
        if let Some(session) = self.sessions.remove(&key) {
            Stats::shift(sessions_gauge(&self.metrics, session.kind), -1);
        }
        self.captured.remove(&key);
        self.session_order.remove(&key);
        self.forget_timers_of_released(1 + counters.len());
        Ok(counters)
    }

    /// A released session leaves its idle and release timers (and its
    /// participants' offer timers) in the heap until they fire, which may be
    /// hours: once such stale timers could be half the heap, they are swept, so a
    /// released session costs nothing for long.
    fn forget_timers_of_released(&mut self, timers: usize) {
        self.stale_timers += timers;
        if self.stale_timers <= STALE_TIMERS_SWEPT_ABOVE
            || 2 * self.stale_timers <= self.transactions.timer_count()
        {
            return;
        }
        self.stale_timers = 0;
        let (sessions, participants, conns) = (&self.sessions, &self.participants, &self.conns);
        self.transactions.compact(|timer| match timer {
            Timer::Idle(key) | Timer::Release(key) => sessions.contains_key(key),
            Timer::Offer(id) | Timer::SlowConsumer(id) => participants.contains_key(id),
            Timer::Bind(conn) => conns.contains_key(conn),
            Timer::Transaction(_) => true,
        });
    }

    /// Timers waiting in the heap, live or stale (diagnostics and tests).
    pub fn pending_timers(&self) -> usize {
        self.transactions.timer_count()
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
            bound: p
                .conn()
                .and_then(|conn| self.conns.get(&conn))
                .is_some_and(|c| c.is_writable(id)),
            counters: p.counters,
            identity: p.identity.clone(),
            local: p.local.clone(),
            staged: p.staged.as_ref().map(|staged| staged.local().clone()),
            pending: p.link == Link::Offered,
            correlation_tag: Arc::clone(&p.correlation_tag),
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
            correlation_tag: Arc::clone(&session.correlation_tag),
            limits: session.limits,
        })
    }

    /// Every session key on this shard, in order.
    pub fn session_keys(&self) -> Vec<SessionKey> {
        self.session_order.iter().copied().collect()
    }

    /// Up to `limit` sessions after `after` (in key order) that match `filter`, and
    /// whether more may follow.
    pub fn list_sessions(
        &self,
        after: Option<SessionKey>,
        limit: usize,
        filter: &SessionFilter,
    ) -> (Vec<SessionInfo>, bool) {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut page = Vec::new();
        for key in self.session_order.range((from, Bound::Unbounded)) {
            if !self.matches(*key, filter) {
                continue;
            }
            if page.len() == limit {
                return (page, true);
            }
            if let Ok(info) = self.session_info(*key) {
                page.push(info);
            }
        }
        (page, false)
    }

    fn matches(&self, key: SessionKey, filter: &SessionFilter) -> bool {
        let Some(session) = self.sessions.get(&key) else {
            return false;
        };
        let members = || {
            session
                .participants
                .iter()
                .filter_map(|id| self.participants.get(id))
        };
        filter.kind.is_none_or(|kind| kind == session.kind)
            && filter.im_address.as_deref().is_none_or(|address| {
                members().any(|p| {
                    p.identity.im_address == address
                        || p.identity.privacy_alias.as_deref() == Some(address)
                })
            })
            && filter.correlation_tag.as_deref().is_none_or(|tag| {
                &*session.correlation_tag == tag || members().any(|p| &*p.correlation_tag == tag)
            })
    }

    /// The participant whose local URI has session-id `session_id`.
    pub fn participant_by_session_id(&self, session_id: &str) -> Option<ParticipantId> {
        self.by_session_id.get(session_id.as_bytes()).copied()
    }

    /// True if `session_id` names a participant of this shard.
    pub fn owns_session_id(&self, session_id: &str) -> bool {
        self.by_session_id.contains_key(session_id.as_bytes())
            || self.is_relay_session_id(session_id)
    }
}

/// Stale timers (of released sessions) tolerated before a sweep is considered.
const STALE_TIMERS_SWEPT_ABOVE: usize = 1024;

/// The open-sessions gauge of a kind.
fn sessions_gauge(metrics: &Stats, kind: SessionKind) -> &std::sync::atomic::AtomicI64 {
    match kind {
        SessionKind::OneToOne => &metrics.sessions_one_to_one,
        SessionKind::Group => &metrics.sessions_group,
        SessionKind::LargeMessage => &metrics.sessions_large_message,
    }
}

/// The participants gauge of a session kind.
fn participants_gauge(metrics: &Stats, kind: Option<SessionKind>) -> &std::sync::atomic::AtomicI64 {
    match kind {
        Some(SessionKind::Group) => &metrics.participants_group,
        Some(SessionKind::LargeMessage) => &metrics.participants_large_message,
        _ => &metrics.participants_one_to_one,
    }
}

/// The remote media keep the transport of the switch's side: the switch's URI
/// (its scheme and port) is fixed for a participant, so a change of transport
/// is a new participant (a new MSRP session, RFC 4975 §8.4).
fn check_transport(local: &LocalMedia, remote: &RemoteMedia) -> Result<(), ControlError> {
    // The switch's URI says how it is reached: a WebSocket client needs a ws
    // one, anybody else a tcp one (RFC 7977 §5.2.1).
    let local_websocket = local.uri.transport().eq_ignore_ascii_case("ws");
    if local_websocket != remote.websocket {
        return Err(ControlError::NotAcceptable(format!(
            "the media change {} WebSocket (transport ws in a=path): add a new participant \
             for that",
            if remote.websocket { "to" } else { "from" }
        )));
    }
    if local.transport == remote.transport {
        return Ok(());
    }
    let name = |t: Transport| match t {
        Transport::Tcp => "TCP/MSRP",
        Transport::Tls => "TCP/TLS/MSRP",
    };
    Err(ControlError::NotAcceptable(format!(
        "the media change the transport from {} to {}: add a new participant for that",
        name(local.transport),
        name(remote.transport)
    )))
}
