//! 1:1 sessions: the switch in the media path between two participants (a B2BUA,
//! RFC 4975 §7 on each leg).
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

use std::time::Instant;

use bytes::Bytes;
use smallvec::SmallVec;

use crate::codec::{
    ByteRange, ContinuationFlag, FailureReport, Head, HeadBox, MessageId, Method, Rewrite,
    StatusCode, TransactionId,
};
use crate::conn::Inbound;
use crate::control::ControlError;
use crate::endpoint::Endpoint;
use crate::endpoint::frames::Route;
use crate::ids::{ConnId, ParticipantId, SessionKey};
use crate::media::{accepts, accepts_anything};
use crate::report::{Reply, is_owed, owed_reply};
use crate::session::{Member, Session, SessionKind};
use crate::stats::Stats;
use crate::transaction::Sent;

/// A 1:1 session takes two participants.
pub(crate) fn admit(key: SessionKey, session: &Session) -> Result<Member, ControlError> {
    if session.participants.len() >= 2 {
        return Err(ControlError::SessionFull(key));
    }
    Ok(Member::OneToOne)
}

/// A chunk being forwarded from the connection that is reading it.
pub(crate) struct Forward {
    pub(crate) from: ParticipantId,
    pub(crate) to: ParticipantId,
    /// The incoming head, rewritten for each outgoing chunk; dropped when the
    /// chunk ends so the reused box does not pin the read buffer it slices.
    pub(crate) head: Option<HeadBox>,
    pub(crate) message_id: MessageId,
    /// Position in the message of the next body byte.
    pub(crate) position: u64,
    pub(crate) total: Option<u64>,
    pub(crate) failure_report: FailureReport,
    /// The open outgoing chunk, if one is; `None` before the first piece after an
    /// interruption.
    pub(crate) out: Option<TransactionId>,
    /// Owed to the sender once the end-line arrives.
    pub(crate) reply: Option<Reply>,
}

impl Endpoint {
    /// A request in a 1:1 session, routed to participant `route.id`.
    pub(crate) fn one_to_one_request(
        &mut self,
        conn: ConnId,
        route: Route,
        method: Method,
        head: HeadBox,
    ) -> Inbound {
        match method {
            Method::Send => self.start_send(conn, route, head),
            Method::Report => match self.peer(route.id) {
                Some(to) => Inbound::Report { to, head },
                None => Inbound::Answer(None),
            },
            // AUTH is for relays (RFC 4976), NICKNAME for group chats.
            Method::Auth | Method::Nickname => {
                Inbound::Answer(owed_reply(&head, StatusCode::ACTION_NOT_ALLOWED, &route))
            }
            Method::Other => {
                Inbound::Answer(owed_reply(&head, StatusCode::METHOD_NOT_UNDERSTOOD, &route))
            }
        }
    }

    /// A body piece of a chunk being forwarded: it goes to the receiver's leg as
    /// it is (cut-through), in a chunk opened for it if none is.
    pub(crate) fn forward_body(&mut self, conn: ConnId, mut f: Box<Forward>, piece: Bytes) {
        let len = piece.len() as u64;
        if let Some(p) = self.participants.get_mut(&f.from) {
            p.counters.bytes_in += len;
        }
        if self.refusal(&f).is_none() {
            if f.out.is_none() {
                self.open_chunk(conn, &mut f);
            }
            if let Some(q) = self.participants.get_mut(&f.to) {
                q.leg.push_chunk_part(piece);
                q.counters.bytes_out += len;
                let conn = q.conn();
                self.wake(conn);
            }
        }
        f.position += len;
        self.set_inbound(conn, Inbound::Forward(f));
    }

    /// The end-line of a chunk being forwarded: the outgoing chunk ends with the
    /// same flag, and the sender gets its answer.
    pub(crate) fn end_forward(
        &mut self,
        conn: ConnId,
        mut f: Box<Forward>,
        flag: ContinuationFlag,
        now: Instant,
    ) {
        if let Some(status) = self.refusal(&f) {
            let reply = f.reply.take().map(|r| Reply { status, ..r });
            self.send_reply(conn, reply);
            return;
        }
        if f.out.is_none() {
            // Interrupted and nothing came since: the end-line still has
            // to reach the receiver, on an empty chunk at the position.
            self.open_chunk(conn, &mut f);
        }
        self.end_chunk(&mut f, flag, Some(now));
        let reply = f
            .reply
            .take()
            .filter(|_| f.failure_report == FailureReport::Yes);
        self.answer_sender(conn, f.from, reply);
        f.head = None;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.spare = Some(f);
        }
    }

    /// A chunk broke a limit after its head was taken: what was forwarded ends
    /// with `#`, the sender gets `status`.
    pub(crate) fn refuse_forward(&mut self, conn: ConnId, mut f: Box<Forward>, status: StatusCode) {
        self.end_chunk(&mut f, ContinuationFlag::Abort, None);
        let reply = f.reply.take().map(|r| Reply { status, ..r });
        self.send_reply(conn, reply);
    }

    /// The one place an outgoing chunk ends: its end-line with `flag` goes to the
    /// receiver's leg, frames held behind it may follow, the receiver is woken, and
    /// (with `now`) its transaction's clock starts (RFC 4975 §7.1.1). Nothing to do
    /// if no chunk is open.
    pub(crate) fn end_chunk(
        &mut self,
        f: &mut Forward,
        flag: ContinuationFlag,
        now: Option<Instant>,
    ) {
        let Some(tid) = f.out.take() else {
            return;
        };
        let end = self.encoder.end_line(&tid, flag, true);
        if let Some(q) = self.participants.get_mut(&f.to) {
            q.leg.push_chunk_end(end);
            q.leg.close_chunk();
            let conn = q.conn();
            self.wake(conn);
        }
        if let Some(now) = now {
            let chunk_end = f.position.saturating_sub(1);
            let timeout = self.config.transaction_timeout;
            self.transactions.arm_chunk(tid, chunk_end, now, timeout);
        }
    }

    /// Why the rest of `f`'s message is refused, if it is: a 413 stopped it
    /// (RFC 4975 §7.1.1), or the receiver's connection is gone (481).
    fn refusal(&self, f: &Forward) -> Option<StatusCode> {
        let q = self.participants.get(&f.to)?;
        if q.stopped.as_deref() == Some(&f.message_id) {
            Some(StatusCode::STOP_SENDING_MESSAGE)
        } else if !q.link.takes_messages() {
            Some(StatusCode::SESSION_DOES_NOT_EXIST)
        } else {
            None
        }
    }

    pub(crate) fn start_send(&mut self, conn: ConnId, route: Route, head: HeadBox) -> Inbound {
        let from = route.id;
        // The answer's addresses, moved out of the route: the chunk's reply takes
        // them as they are (a refusal, rare, takes a copy), so forwarding a chunk
        // clones no URI.
        let addressed = Reply {
            tid: *head.transaction_id(),
            status: StatusCode::OK,
            to: route.previous_hop,
            from: route.responder,
        };
        let answer = |head: &Head, status| {
            is_owed(head, status).then(|| Reply {
                status,
                ..addressed.clone()
            })
        };
        // A bodiless SEND binds or keeps alive; it is answered, not forwarded.
        if !head.has_body() {
            return Inbound::Answer(is_owed(&head, StatusCode::OK).then_some(addressed));
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
        // Read only for a list that is not `*`.
        let allows = |types: &[String]| {
            accepts_anything(types) || accepts(types, head.content_type().unwrap_or_default())
        };
        // What the switch's answer stated for the sender: its accept-types and
        // the session's max-size. One lookup for both.
        let sender = self.participants.get(&from);
        if !sender.is_none_or(|p| allows(&p.local.accept_types)) {
            return Inbound::Answer(answer(&head, StatusCode::MIME_NOT_UNDERSTOOD));
        }
        let size = range.total.or(range.end);
        let sender_max = sender.and_then(|p| p.local.max_size);
        if let (Some(max), Some(size)) = (sender_max, size)
            && size > max
        {
            return Inbound::Answer(answer(&head, StatusCode::STOP_SENDING_MESSAGE));
        }
        if let Some(q) = self.participants.get(&to) {
            if q.stopped.as_deref() == Some(&message_id) {
                return Inbound::Answer(answer(&head, StatusCode::STOP_SENDING_MESSAGE));
            }
            let size = range.total.or(range.end);
            if let (Some(max), Some(size)) = (q.remote.max_size, size)
                && size > max
            {
                return Inbound::Answer(answer(&head, StatusCode::STOP_SENDING_MESSAGE));
            }
            if !allows(&q.remote.accept_types) {
                return Inbound::Answer(answer(&head, StatusCode::MIME_NOT_UNDERSTOOD));
            }
        }
        let failure_report = head.failure_report().unwrap_or(FailureReport::Yes);
        // Addressed now for whatever the end brings: with `partial` no 200 is
        // owed, but an error is (RFC 4975 §7.1.2), so the reply is kept unless
        // the sender wants none; `end_forward` sends a 200 only for `yes`.
        let owed =
            is_owed(&head, StatusCode::OK) || is_owed(&head, StatusCode::SESSION_DOES_NOT_EXIST);
        let reply = owed.then_some(addressed);
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
    pub(crate) fn open_chunk(&mut self, conn: ConnId, f: &mut Forward) {
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
        q.leg.time_head(self.now);
        q.leg.push_chunk_part(head);
        q.leg.open = true;
        q.leg.feeder = Some(conn);
        q.counters.frames_out += 1;
        let conn = q.conn();
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
        Stats::add(&self.metrics.frames_sent[0], 1);
        f.out = Some(tid);
        self.wake(conn);
    }

    /// The connections whose frame being read is a chunk forwarded to `to`.
    ///
    /// Only two can be: the connection feeding the chunk open on `to`'s leg
    /// (`open_chunk` sets it with the chunk's transaction), and the one of `to`'s
    /// 1:1 peer, the only sender of such chunks, read on its own connection: a
    /// participant's chunk stops being read for it when it leaves a connection
    /// (closed: `abort_inbound`; removed or given a new path:
    /// `abort_inbound_from`). Looking at those two, not at every connection of
    /// the shard, keeps a disconnect or a removal constant in the shard's
    /// connections: the scan made a mass disconnect quadratic (18,000 legs
    /// going at once cost 2 s of CPU, 250,000 would have cost minutes).
    pub(crate) fn feeding(&self, to: ParticipantId) -> SmallVec<[ConnId; 2]> {
        let mut feeding: SmallVec<[ConnId; 2]> = SmallVec::new();
        if let Some(p) = self.participants.get(&to) {
            let peer = self
                .sessions
                .get(&p.session)
                .filter(|s| s.kind == SessionKind::OneToOne)
                .into_iter()
                .flat_map(|s| s.participants.iter())
                .filter(|&&q| q != to)
                .filter_map(|q| self.participants.get(q).and_then(|q| q.conn()));
            for conn in p.leg.feeder.into_iter().chain(peer) {
                let forwards_to = self
                    .conns
                    .get(&conn)
                    .is_some_and(|c| matches!(&c.inbound, Inbound::Forward(f) if f.to == to));
                if forwards_to && !feeding.contains(&conn) {
                    feeding.push(conn);
                }
            }
        }
        debug_assert!(
            self.conns
                .iter()
                .filter(|(_, c)| matches!(&c.inbound, Inbound::Forward(f) if f.to == to))
                .all(|(conn, _)| feeding.contains(conn)),
            "a chunk forwarded to {to:?} from a connection that is neither its leg's feeder nor its peer's"
        );
        feeding
    }

    /// RFC 4975 §7.1.1 / §10.5: after a 413 nothing more of the message goes to `to`;
    /// a chunk of it still streaming is ended with `#`.
    pub(crate) fn stop_message(&mut self, to: ParticipantId, message_id: MessageId) {
        if let Some(q) = self.participants.get_mut(&to) {
            q.stopped = Some(Box::new(message_id));
        }
        let streaming: SmallVec<[ConnId; 2]> = self
            .feeding(to)
            .into_iter()
            .filter(|conn| {
                self.conns.get(conn).is_some_and(
                    |c| matches!(&c.inbound, Inbound::Forward(f) if f.message_id == message_id),
                )
            })
            .collect();
        for conn in streaming {
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            if let Inbound::Forward(mut f) = std::mem::replace(&mut c.inbound, Inbound::Idle) {
                self.end_chunk(&mut f, ContinuationFlag::Abort, None);
                self.set_inbound(conn, Inbound::Forward(f));
            }
        }
    }

    /// A REPORT from one leg goes to the other with that leg's paths (RFC 4975
    /// §7.1.2: REPORTs are end to end; the Message-ID is the same on both legs).
    pub(crate) fn map_report(&mut self, to: ParticipantId, head: &Head, flag: ContinuationFlag) {
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
        let held = q.leg.open;
        q.leg.push_frame_part(head_bytes, false);
        if held {
            q.leg.push_frame_part(end, true);
            self.held.push(to);
        } else {
            q.leg.push_chunk_end(end);
        }
        q.counters.frames_out += 1;
        Stats::add(&self.metrics.frames_sent[1], 1);
        let conn = q.conn();
        self.wake(conn);
    }

    /// Interrupts every open chunk that whole frames wait behind. Called when no
    /// input is being read, so each such chunk's sender has stalled: it has nothing
    /// more for now, or backpressure holds it.
    pub(crate) fn interrupt_held(&mut self, now: Instant) {
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
    /// receiving leg (or, on a connection shared with other sessions, for the
    /// connection), end the outgoing chunk with `+` so they can go; the rest of the
    /// chunk follows later as a new chunk from the position reached.
    pub(crate) fn interrupt_if_waited_on(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let Inbound::Forward(f) = &c.inbound else {
            return;
        };
        if f.out.is_none() || !self.is_waited_on(f.to) {
            return;
        }
        self.now = now;
        let to = f.to;
        self.interrupt_chunk_to(to);
    }

    /// True if frames wait behind the chunk open on `id`'s leg: on the leg
    /// itself, or on the connection it shares with other sessions.
    fn is_waited_on(&self, id: ParticipantId) -> bool {
        let Some(q) = self.participants.get(&id) else {
            return false;
        };
        q.leg.has_held()
            || q.conn().is_some_and(|conn| {
                self.conns.get(&conn).is_some_and(|c| c.is_shared()) && self.others_wait(conn, id)
            })
    }

    /// Ends the chunk open on `id`'s leg with `+` (its sender has nothing more
    /// for now); true if there was one. Its transaction's clock starts now.
    pub(crate) fn interrupt_chunk_to(&mut self, id: ParticipantId) -> bool {
        let Some(feeder) = self
            .participants
            .get(&id)
            .filter(|q| q.leg.open)
            .and_then(|q| q.leg.feeder)
        else {
            return false;
        };
        let Some(c) = self.conns.get_mut(&feeder) else {
            return false;
        };
        if !matches!(&c.inbound, Inbound::Forward(f) if f.to == id && f.out.is_some()) {
            return false;
        }
        let Inbound::Forward(mut f) = std::mem::replace(&mut c.inbound, Inbound::Idle) else {
            return false;
        };
        let now = self.now;
        self.end_chunk(&mut f, ContinuationFlag::More, Some(now));
        self.set_inbound(feeder, Inbound::Forward(f));
        true
    }
}
