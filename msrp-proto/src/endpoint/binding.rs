//! Connections and the participants bound to them (RFC 4975 §7.3): bind, unbind,
//! close, abort, and connecting out for the active setup role (§5.4).

use std::time::Instant;

use bytes::Bytes;

use crate::codec::{ByteRange, ContinuationFlag, HeaderName, StatusCode};
use crate::conn::{Bind, Conn, Inbound, Members, State};
use crate::control::Event;
use crate::ids::{ConnId, ParticipantId};
use crate::session::Link;
use crate::transaction::Sent;

use crate::media::Transport;
use crate::security::BindRefusal;
use crate::stats::Stats;

use super::{Action, Endpoint, TlsTarget};

impl Endpoint {
    /// A connection's state, new, in `state`.
    /// A connection in `state`, boxed as [`Endpoint::conns`] keeps it.
    pub(crate) fn new_conn(&self, state: State) -> Box<Conn> {
        Box::new(Conn::new(
            &self.config.limits,
            &self.metrics,
            state,
            self.now,
        ))
    }

    pub(crate) fn set_inbound(&mut self, conn: ConnId, inbound: Inbound) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.inbound = inbound;
        }
    }

    /// The connection's first request named participant `id` (RFC 4975 §7.3): it
    /// binds, and is bound once the answer to that request is queued
    /// ([`Endpoint::bind_answered`]), so the answer goes before anything queued for
    /// the participant.
    pub(crate) fn bind(&mut self, conn: ConnId, id: ParticipantId) {
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        p.link = Link::Connected(conn);
        let session = p.session;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = State::Binding(id, Bind::Answering);
        }
        self.emit(Event::ParticipantBound {
            session,
            participant: id,
        });
    }

    /// The request that bound `conn` has its answer queued (or owed none), or the
    /// switch's bind SEND was answered 200: the participant's leg may be written.
    pub(crate) fn bind_answered(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn)
            && let State::Binding(id, _) = c.state
        {
            c.state = State::Bound(Members::one(id));
            // Frames queued while it was unbound can go now.
            self.wake(Some(conn));
        }
    }

    /// Our bind SEND for `to` was answered 200 on `conn`: its leg may be written,
    /// whether `conn` is its own or one it joined.
    pub(crate) fn bind_send_answered(&mut self, conn: ConnId, to: ParticipantId) {
        if self.is_joining(conn, to) {
            self.join_complete(conn, to);
        } else {
            self.bind_answered(conn);
        }
    }

    /// The participant's connection is gone (`link` says what it is now: `Lost` when
    /// it closed or broke, `Waiting` for a new path).
    pub(crate) fn unbind(&mut self, id: ParticipantId, link: Link) {
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        if p.conn().is_none() {
            return;
        }
        // A large message's receiver fails, its sender fails it mid-message.
        let now = self.now;
        self.large_left(id, StatusCode::TRANSACTION_DID_NOT_COMPLETE, now);
        // Before the leg is cleared: it names the connection feeding its open chunk.
        let feeding = self.feeding(id);
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        p.link = link;
        // Half-written frames cannot continue on another connection; what was
        // queued is dropped. No response can come for what was sent on the
        // connection either: the senders get their REPORTs now rather than at
        // the transaction timeout (chunks still arriving are answered 481 to
        // their senders instead, see `one_to_one::refusal`).
        p.leg.clear();
        let session = p.session;
        self.report_unacknowledged(Some(id), StatusCode::TRANSACTION_DID_NOT_COMPLETE);
        self.forget_unfinished(id);
        self.emit(Event::ConnectionLost {
            session,
            participant: id,
        });
        // A chunk being forwarded to it restarts with a new head if it binds again.
        for conn in feeding {
            if let Some(c) = self.conns.get_mut(&conn)
                && let Inbound::Forward(f) = &mut c.inbound
                && f.to == id
            {
                f.out = None;
            }
        }
        // Whoever was held back by its queue may read again (and learns it is gone).
        self.wake_session(session, id);
    }

    /// The sender broke off mid-chunk: the receiver gets the chunk ended with `#`.
    pub(crate) fn abort_inbound(&mut self, conn: ConnId) {
        let inbound = match self.conns.get_mut(&conn) {
            Some(c) => std::mem::replace(&mut c.inbound, Inbound::Idle),
            None => return,
        };
        match inbound {
            Inbound::Fanout(f) => self.abort_fanout(f, self.now),
            Inbound::Forward(mut f) => self.end_chunk(&mut f, ContinuationFlag::Abort, None),
            Inbound::Relay(f) => self.relay_abort(conn, f, None),
            Inbound::Large(f) => self.abort_large_chunk(conn, f, None, self.now),
            _ => {}
        }
    }

    /// Participant `id` is going: the chunk it is sending on `conn`, if the frame
    /// being read is one, ends with `#` for its receivers (another session's
    /// frame on a shared connection is left alone).
    pub(crate) fn abort_inbound_from(&mut self, conn: ConnId, id: ParticipantId) {
        let from_it = self.conns.get(&conn).is_some_and(|c| match &c.inbound {
            Inbound::Forward(f) => f.from == id,
            Inbound::Fanout(f) => f.from == id,
            Inbound::Large(f) => f.from == id,
            _ => false,
        });
        if from_it {
            self.abort_inbound(conn);
        }
    }

    /// Closes a connection now: nothing more is written to it, what waits is
    /// discarded. It no longer belongs to any participant.
    pub(crate) fn abort_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.abort();
            self.actions.push_back(Action::Wake(conn));
        }
    }

    /// Marks a connection to close once its output is written.
    pub(crate) fn close_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.close();
            self.actions.push_back(Action::Wake(conn));
        }
    }

    /// The active setup role: the switch connects to the participant's path and
    /// binds with a bodiless SEND (RFC 4975 §5.4) written before anything else.
    /// With `a=connection:existing` and a connection to the same hop bound on
    /// this shard, the bind SEND goes on that one instead (RFC 6135) and nothing
    /// is dialled; returns true then.
    pub(crate) fn connect_out(&mut self, id: ParticipantId, now: Instant) -> bool {
        let Some(p) = self.participants.get(&id) else {
            return false;
        };
        if let Some(conn) = self.reuse_target(&p.remote, Some(id)) {
            let Some(frame) = self.bind_send(id, conn, now) else {
                return false;
            };
            self.join(conn, id, Bind::Awaiting);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.out.push(frame, true);
            }
            self.wake(Some(conn));
            return true;
        }
        let Some((host, port)) = p.remote.connect_target() else {
            return false;
        };
        let tls = (p.remote.transport == Transport::Tls).then(|| TlsTarget {
            server_name: p
                .remote
                .path
                .first()
                .map(|uri| uri.host().to_string())
                .unwrap_or_default(),
            fingerprints: p.remote.strongest_fingerprints().cloned().collect(),
        });
        let conn = ConnId(self.next_seq());
        let Some(frame) = self.bind_send(id, conn, now) else {
            return false;
        };
        if let Some(p) = self.participants.get_mut(&id) {
            p.link = Link::Connected(conn);
        }
        let mut c = self.new_conn(State::Connecting(id));
        c.out.push(frame, true);
        self.conns.insert(conn, c);
        self.actions.push_back(Action::Connect {
            conn,
            host,
            port,
            tls,
        });
        false
    }

    /// The bodiless SEND that binds `id` (RFC 4975 §5.4: the active side sends a
    /// SEND at once, bodiless if it has nothing to say, so the passive side can
    /// bind the connection), to go on `conn`; its transaction is tracked from
    /// `now`.
    fn bind_send(&mut self, id: ParticipantId, conn: ConnId, now: Instant) -> Option<Bytes> {
        let tid = self.ids.transaction_id();
        let message_id = self.ids.message_id();
        let p = self.participants.get(&id)?;
        let head = self
            .encoder
            .request(&tid, "SEND")
            .path(HeaderName::ToPath, &p.remote.path)
            .path(HeaderName::FromPath, &p.local_path)
            .message_id(&message_id)
            .byte_range(&ByteRange::whole(0))
            .finish(false);
        let end = self.encoder.end_line(&tid, ContinuationFlag::End, false);
        self.transactions.insert(tid, Sent::Bind { to: id, conn });
        self.transactions
            .arm(tid, now, self.config.transaction_timeout);
        Some(Bytes::from([head, end].concat()))
    }

    /// The connection asked for by [`Action::Connect`] could not be opened (the
    /// transport tried as often as it may): the control plane hears why, then
    /// the participant's connection is lost as if it had closed.
    pub fn connect_failed(&mut self, conn: ConnId, reason: String, now: Instant) {
        if self
            .conns
            .get(&conn)
            .is_some_and(|c| c.state == State::RelayConnecting)
        {
            // A relay's next hop: what waited for it is REPORTed as it closes.
            Stats::add(&self.metrics.connect_failures, 1);
            tracing::debug!(conn = conn.0, %reason, "relay next hop unreachable");
        }
        if let Some(id) = self.conns.get(&conn).and_then(|c| c.participant())
            && let Some(session) = self.participants.get(&id).map(|p| p.session)
        {
            Stats::add(&self.metrics.connect_failures, 1);
            self.emit(Event::ConnectFailed {
                session,
                participant: id,
                reason,
            });
        }
        self.handle_close(conn, now);
    }

    /// A connection may not bind to `id`: the participant's media ask for TLS
    /// or a certificate it does not have. Counted, and the control plane told.
    pub(crate) fn bind_refused(&mut self, id: ParticipantId, refusal: BindRefusal) {
        Stats::add(&self.metrics.bind_refusals[refusal.index()], 1);
        if let Some(session) = self.participants.get(&id).map(|p| p.session) {
            self.emit(Event::BindRefused {
                session,
                participant: id,
                reason: refusal,
            });
        }
    }
}
