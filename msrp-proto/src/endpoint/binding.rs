//! Connections and the participants bound to them (RFC 4975 §7.3): bind, unbind,
//! close, abort, and connecting out for the active setup role (§5.4).

use std::time::Instant;

use bytes::Bytes;

use std::collections::VecDeque;

use crate::codec::{ByteRange, ContinuationFlag, Decoder, HeaderName};
use crate::conn::{Conn, Inbound};
use crate::control::Event;
use crate::ids::{ConnId, ParticipantId};
use crate::stats::Stats;
use crate::transaction::Sent;

use super::{Action, Endpoint};

impl Endpoint {
    pub(crate) fn new_conn(&self) -> Conn {
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

    pub(crate) fn set_inbound(&mut self, conn: ConnId, inbound: Inbound) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.inbound = inbound;
        }
    }

    pub(crate) fn bind(&mut self, conn: ConnId, id: ParticipantId) {
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

    pub(crate) fn unbind(&mut self, id: ParticipantId) {
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        if p.conn.take().is_none() {
            return;
        }
        // Half-written frames cannot continue on another connection; what was
        // queued is dropped and its transactions time out into REPORTs.
        let dropped = p.leg.clear();
        Stats::shift(&self.metrics.queue_bytes, -(dropped as i64));
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
    pub(crate) fn abort_inbound(&mut self, conn: ConnId) {
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
                Stats::shift(&self.metrics.queue_bytes, end.len() as i64);
                q.leg.push_chunk_part(end);
                q.leg.close_chunk();
                let conn = q.conn;
                self.wake(conn);
            }
        }
    }

    /// Closes a connection now: nothing more is written to it, what waits is
    /// discarded. It no longer belongs to any participant.
    pub(crate) fn abort_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.closing = true;
            c.aborted = true;
            c.bound = None;
            Stats::shift(&self.metrics.queue_bytes, -(c.out_bytes as i64));
            c.out.clear();
            c.out_bytes = 0;
            self.actions.push_back(Action::Wake(conn));
        }
    }

    /// Marks a connection to close once its output is written.
    pub(crate) fn close_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.closing = true;
            self.actions.push_back(Action::Wake(conn));
        }
    }

    pub(crate) fn connect_out(&mut self, id: ParticipantId, now: Instant) {
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
}
