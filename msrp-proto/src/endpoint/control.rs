//! The control operations the IM Server drives (through the daemon's engine):
//! sessions, participants, modifications, and what the operators read back.

use std::time::Instant;

use smallvec::SmallVec;

use crate::codec::{ContinuationFlag, MsrpUri, Scheme, StatusCode};
use crate::conn::Inbound;
use crate::control::{ControlError, Counters, Event, ParticipantInfo, SessionInfo};
use crate::ids::{ConnId, ParticipantId, SessionKey};
use crate::leg::Leg;
use crate::media::{
    Identity, LocalMedia, Negotiated, Policy, RemoteMedia, SetupRole, answer_media, chatroom,
    check_remote,
};
use crate::report::Reply;
use crate::session::group::takes_any_cpim;
use crate::session::{Link, Participant, Session, SessionKind};
use crate::stats::Stats;
use crate::transaction::Timer;

use super::{Action, Endpoint};

impl Endpoint {
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

    pub(crate) fn create_session_at(
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
        let entry = self
            .sessions
            .get(&session)
            .ok_or(ControlError::NoSuchSession(session))?;
        // The session kind decides who may join and what it keeps for them.
        let member = entry.kind.admit(session, entry, &identity, &remote)?;
        check_remote(&remote)?;
        let Negotiated {
            accept_types,
            accept_wrapped_types,
            max_size,
        } = answer_media(&entry.policy, &remote)?;
        let chatroom = chatroom(entry.kind, &entry.policy);
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
                link: Link::Waiting,
                leg: Leg::new(&self.metrics),
                counters: Counters::default(),
                stopped: None,
                member,
            },
        );
        self.by_session_id.insert(session_id, id);
        if let Some(entry) = self.sessions.get_mut(&session) {
            entry.participants.push(id);
        }
        let kind = self.sessions.get(&session).map(|s| s.kind);
        Stats::shift(participants_gauge(&self.metrics, kind), 1);
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
        if let Some(g) = participant.group_mut() {
            g.takes_any_cpim = takes_any_cpim(&remote);
        }
        participant.remote = remote;
        let conn = participant.conn();
        if path_changed {
            match conn {
                // The old connection leaves the participant before it is unbound,
                // so its close later changes nothing.
                Some(conn) => {
                    self.close_conn(conn);
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
            self.connect_out(id, now);
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
    pub(crate) fn answer_for(
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
                && let Inbound::Forward(mut f) = std::mem::replace(&mut c.inbound, Inbound::Idle)
            {
                self.end_chunk(&mut f, ContinuationFlag::Abort, None);
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
        if let Some(conn) = self.participants.get(&id).and_then(Participant::conn) {
            self.abort_inbound(conn);
        }
        // Whoever its queue held back reads again, and learns it is gone.
        if let Some(session) = self.participants.get(&id).map(|p| p.session) {
            self.wake_session(session, id);
        }
        let Some(mut participant) = self.participants.remove(&id) else {
            return Err(ControlError::NoSuchParticipant(id));
        };
        if let Some(conn) = participant.conn()
            && let Some(c) = self.conns.get_mut(&conn)
        {
            // Flush what is queued (ending with the '#' above) and close; the
            // connection is no longer the participant's.
            if c.bound() == Some(id) {
                participant.leg.drain_into(&mut c.out);
            }
            c.close();
            self.actions.push_back(Action::Wake(conn));
        }
        // What could not be written goes (and off the queue gauge) with the leg.
        drop(participant.leg);
        if let Some(sid) = participant.local_uri.session_id() {
            self.by_session_id.remove(sid);
        }
        if let Some(session) = self.sessions.get_mut(&participant.session) {
            session.participants.retain(|p| *p != id);
        }
        self.transactions.forget_participant(id);
        let kind = self.sessions.get(&participant.session).map(|s| s.kind);
        Stats::shift(participants_gauge(&self.metrics, kind), -1);
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
            Stats::shift(sessions_gauge(&self.metrics, session.kind), -1);
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
            bound: p
                .conn()
                .and_then(|conn| self.conns.get(&conn))
                .is_some_and(|c| c.bound() == Some(id)),
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
}

/// The open-sessions gauge of a kind.
fn sessions_gauge(metrics: &Stats, kind: SessionKind) -> &std::sync::atomic::AtomicI64 {
    match kind {
        SessionKind::OneToOne => &metrics.sessions_one_to_one,
        SessionKind::Group => &metrics.sessions_group,
    }
}

/// The participants gauge of a session kind.
fn participants_gauge(metrics: &Stats, kind: Option<SessionKind>) -> &std::sync::atomic::AtomicI64 {
    match kind {
        Some(SessionKind::Group) => &metrics.participants_group,
        _ => &metrics.participants_one_to_one,
    }
}
