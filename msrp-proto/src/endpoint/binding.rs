//! Connections and the participants bound to them (RFC 4975 §7.3): bind, unbind,
//! close, abort, and connecting out for the active setup role (§5.4).

use std::time::Instant;

use bytes::Bytes;

use crate::codec::{ByteRange, ContinuationFlag, HeaderName};
use crate::conn::{Bind, Conn, Inbound, State};
use crate::control::Event;
use crate::ids::{ConnId, ParticipantId};
use crate::session::Link;
use crate::transaction::Sent;

use super::{Action, Endpoint};

impl Endpoint {
    /// A connection's state, new, in `state`.
    pub(crate) fn new_conn(&self, state: State) -> Conn {
        Conn::new(&self.config.limits, &self.metrics, state)
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
            c.state = State::Bound(id);
            // Frames queued while it was unbound can go now.
            self.wake(Some(conn));
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
        p.link = link;
        // Half-written frames cannot continue on another connection; what was
        // queued is dropped and its transactions time out into REPORTs.
        p.leg.clear();
        let session = p.session;
        self.emit(Event::ConnectionLost {
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
            _ => {}
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
    pub(crate) fn connect_out(&mut self, id: ParticipantId, now: Instant) {
        let conn = ConnId(self.next_seq());
        let tid = self.ids.transaction_id();
        let message_id = self.ids.message_id();
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        let Some(target) = p.remote.path.first() else {
            return;
        };
        let (host, port) = (target.host().to_string(), target.port().unwrap_or(2855));
        p.link = Link::Connected(conn);
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
        let mut c = self.new_conn(State::Connecting(id));
        c.out.push(Bytes::from([head, end].concat()), true);
        self.conns.insert(conn, c);
        self.transactions.insert(tid, Sent::Bind { to: id });
        self.transactions
            .arm(tid, now + self.config.transaction_timeout);
        self.actions.push_back(Action::Connect { conn, host, port });
    }
}
