//! Group chats: the MSRP switch of RFC 7701. Every participant has its own MSRP
//! session with the switch; a SEND from one is answered hop by hop and copied to
//! the others as new transactions on their legs.
//!
//! ```text
//!  P ── SEND (CPIM From=P, To=room) ─▶ switch ── SEND tid=x, Message-ID=m ─▶ Q
//!                                            ── SEND tid=y, Message-ID=m ─▶ R
//!  P ◀── 200 ────────────────────────  switch ◀── 200 (absorbed) ─────────── Q, R
//! ```
//!
//! The CPIM headers at the start of a message's first chunk decide it (RFC 7701
//! §7): `From` must be the sender's identity (403), `To` the room (public: every
//! other bound participant whose accept-types allow it) or one participant
//! (private: 428 when the policy forbids it, 404 when nobody matches). An IMDN
//! (`message/imdn+xml` inside CPIM) always goes to its one recipient. Later chunks
//! follow the first one's decision.
//!
//! Each copy goes out as a whole chunk: the body pieces of an incoming chunk are
//! gathered (as shared `Bytes`, never copied) and written to every leg when the
//! chunk ends, or as soon as `fanout_chunk_bytes` are held, ended with `+` and
//! continued in a new chunk. So several senders never interleave inside one leg's
//! chunk and no sender's stall holds a leg. Responses and REPORTs from the legs end
//! at the switch (§7.3): a failing leg never turns into an error for the sender,
//! whose transaction is already answered; a 413 stops that message on that leg.
//!
//! A leg over its queue bound for longer than the grace period is a slow consumer:
//! with [`SlowConsumer::Drop`] its connection is closed at once and the others never
//! wait for it; with [`SlowConsumer::Pause`] the senders are not read until it
//! catches up.

use std::time::Instant;

use bytes::Bytes;
use tracing::debug;

use crate::codec::{
    ByteRange, ContinuationFlag, Encoder, FailureReport, Head, HeadBox, MessageId, Method, MsrpUri,
    Rewrite, StatusCode, SuccessReport,
};
use crate::conn::Inbound;
use crate::control::{ControlError, Event};
use crate::endpoint::Endpoint;
use crate::endpoint::frames::Route;
use crate::ids::{ConnId, ParticipantId, SessionKey};
use crate::media::{Identity, RemoteMedia, SlowConsumer, accepts};
use crate::report::{Reply, is_owed, owed_reply};
use crate::session::cpim::{self, Cpim, CpimHeaders};
use crate::session::{Link, Member, SessionKind};
use crate::stats::Stats;
use crate::transaction::{Sent, Timer};

/// A group member needs its authenticated IM address: every message's CPIM From
/// is checked against it (RFC 7701 §7).
pub(crate) fn admit(identity: &Identity, remote: &RemoteMedia) -> Result<Member, ControlError> {
    if identity.im_address.trim().is_empty() {
        return Err(ControlError::InvalidArgument {
            field: "identity.im_address",
            reason: "a group participant needs its authenticated IM address: \
                     the switch checks every message's CPIM From against it"
                .into(),
        });
    }
    Ok(Member::Group(Box::new(GroupMember::new(remote))))
}

/// What a group keeps for each member.
pub(crate) struct GroupMember {
    /// The nickname it holds (RFC 7701 §8).
    pub(crate) nickname: Option<String>,
    /// Messages it is sending, between their first and last chunk.
    pub(crate) sending: Vec<GroupMessage>,
    /// Since when its leg has been over the queue bound.
    pub(crate) over_since: Option<Instant>,
    /// Bytes its connection had taken (`Progress::taken`) at `over_since`: a
    /// member whose count moves on is reading, however slowly.
    pub(crate) over_taken: u64,
    /// Its media take every CPIM message, whatever it wraps (worked out once per
    /// media, not per member per message).
    takes_any_cpim: bool,
    /// The To-Path and From-Path lines of every copy it gets
    /// ([`Encoder::path_lines`]), written at its first copy.
    path_lines: Option<Bytes>,
}

impl GroupMember {
    /// A new member with media `remote`.
    pub(crate) fn new(remote: &RemoteMedia) -> Self {
        Self {
            nickname: None,
            sending: Vec::new(),
            over_since: None,
            over_taken: 0,
            takes_any_cpim: takes_any_cpim(remote),
            path_lines: None,
        }
    }

    /// Its media are replaced by `remote` (an answer, a modification): what was
    /// worked out from the old ones goes with them.
    pub(crate) fn media_changed(&mut self, remote: &RemoteMedia) {
        self.takes_any_cpim = takes_any_cpim(remote);
        self.path_lines = None;
    }

    /// Its paths' lines, written the first time they are asked for.
    fn path_lines(&mut self, to_path: &[MsrpUri], from_path: &[MsrpUri]) -> &[u8] {
        self.path_lines
            .get_or_insert_with(|| Encoder::path_lines(to_path, from_path))
    }
}

/// A message a group participant is sending, from its first chunk to its last.
pub(crate) struct GroupMessage {
    /// The sender's Message-ID.
    pub(crate) incoming: MessageId,
    /// The Message-ID on every recipient's leg: one per message, fresh, so that two
    /// senders' ids never meet in one leg's session.
    pub(crate) outgoing: MessageId,
    /// Who gets it, decided by the first chunk's CPIM headers.
    pub(crate) targets: Vec<ParticipantId>,
    /// The first chunk was refused: every later chunk gets the same answer.
    pub(crate) refused: Option<StatusCode>,
}

/// A group chunk being read: its body is gathered for the copies.
pub(crate) struct Fanout {
    pub(crate) from: ParticipantId,
    pub(crate) head: Option<HeadBox>,
    pub(crate) incoming: MessageId,
    /// Message position of the next body byte.
    pub(crate) position: u64,
    pub(crate) total: Option<u64>,
    /// Message position of the first byte in `pieces`.
    pub(crate) chunk_start: u64,
    /// Body held for the next copies: slices of the read buffer, shared by all.
    pub(crate) pieces: Vec<Bytes>,
    pub(crate) held: usize,
    /// The first chunk of a message whose CPIM headers are not all in yet.
    pub(crate) routing: bool,
    /// Why this chunk is refused; its body is discarded.
    pub(crate) refused: Option<StatusCode>,
    /// The hop-by-hop answer, with the status set at the end-line.
    pub(crate) reply: Reply,
}

impl Endpoint {
    /// A request in a group session, routed to participant `route.id`.
    pub(crate) fn group_request(
        &mut self,
        conn: ConnId,
        route: Route,
        method: Method,
        head: HeadBox,
    ) -> Inbound {
        match method {
            Method::Send => self.start_fanout(conn, route, head),
            Method::Nickname => self.nickname(&route, &head),
            // Group reports end here (RFC 7701 §7.3).
            Method::Report => Inbound::Answer(None),
            // AUTH is for relays (RFC 4976).
            Method::Auth => {
                Inbound::Answer(owed_reply(&head, StatusCode::ACTION_NOT_ALLOWED, &route))
            }
            Method::Other => {
                Inbound::Answer(owed_reply(&head, StatusCode::METHOD_NOT_UNDERSTOOD, &route))
            }
        }
    }

    /// A SEND from a group participant: checked, then gathered chunk by chunk.
    pub(crate) fn start_fanout(&mut self, conn: ConnId, route: Route, head: HeadBox) -> Inbound {
        let from = route.id;
        // A bodiless SEND binds or keeps alive; it is answered, not copied.
        if !head.has_body() {
            return Inbound::Answer(owed_reply(&head, StatusCode::OK, &route));
        }
        let refuse = |head: &Head, status| Inbound::Answer(owed_reply(head, status, &route));
        let Some(incoming) = head.message_id() else {
            return refuse(&head, StatusCode::UNINTELLIGIBLE);
        };
        let Some(p) = self.participants.get_mut(&from) else {
            return refuse(&head, StatusCode::SESSION_DOES_NOT_EXIST);
        };
        let content_type = head.content_type().unwrap_or_default();
        // RFC 7701 §7: every message in a chat is wrapped in Message/CPIM.
        if !is_cpim(content_type) || !accepts(&p.local.accept_types, content_type) {
            return refuse(&head, StatusCode::MIME_NOT_UNDERSTOOD);
        }
        let range = match p.send_range(&head) {
            Ok(range) => range,
            Err(status) => return refuse(&head, status),
        };
        // A later chunk follows its message's first; one whose first never came is
        // refused.
        let earlier = p
            .group()
            .and_then(|g| g.sending.iter().find(|m| m.incoming == incoming))
            .map(|m| m.refused);
        let (routing, refused) = if range.start == 1 {
            // A new message, or the first chunk sent again: decided afresh.
            self.finish_message(from, incoming);
            let outgoing = self.ids.message_id();
            if let Some(g) = self.participants.get_mut(&from).and_then(|p| p.group_mut()) {
                g.sending.push(GroupMessage {
                    incoming,
                    outgoing,
                    targets: Vec::new(),
                    refused: None,
                });
            }
            (true, None)
        } else {
            (false, earlier.unwrap_or(Some(StatusCode::UNINTELLIGIBLE)))
        };
        let tid = *head.transaction_id();
        let fanout = Fanout {
            from,
            head: Some(head),
            incoming,
            position: range.start,
            total: range.total,
            chunk_start: range.start,
            pieces: Vec::new(),
            held: 0,
            routing,
            refused,
            reply: Reply {
                tid,
                status: StatusCode::OK,
                to: route.previous_hop,
                from: route.responder,
            },
        };
        let fanout = match self
            .conns
            .get_mut(&conn)
            .and_then(|c| c.spare_fanout.take())
        {
            Some(mut spare) => {
                let pieces = std::mem::take(&mut spare.pieces);
                *spare = fanout;
                spare.pieces = pieces;
                spare
            }
            None => Box::new(fanout),
        };
        Inbound::Fanout(fanout)
    }

    /// A body piece of a group chunk.
    pub(crate) fn fanout_body(
        &mut self,
        conn: ConnId,
        mut f: Box<Fanout>,
        piece: Bytes,
        now: Instant,
    ) {
        let len = piece.len();
        if let Some(p) = self.participants.get_mut(&f.from) {
            p.counters.bytes_in += len as u64;
        }
        f.position += len as u64;
        if f.refused.is_none() {
            f.pieces.push(piece);
            f.held += len;
            if f.routing {
                self.route_message(&mut f);
            }
            if !f.routing && f.refused.is_none() && f.held >= self.config.fanout_chunk_bytes {
                self.copy_chunk(&mut f, ContinuationFlag::More, now);
            }
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.inbound = Inbound::Fanout(f);
        }
    }

    /// The end-line of a group chunk: the copies go out, the sender is answered.
    pub(crate) fn end_fanout(
        &mut self,
        conn: ConnId,
        mut f: Box<Fanout>,
        flag: ContinuationFlag,
        now: Instant,
    ) {
        if f.routing && f.refused.is_none() && flag != ContinuationFlag::Abort {
            // The chunk ended before its CPIM headers did.
            self.refuse_message(&mut f, StatusCode::UNINTELLIGIBLE);
        }
        if !f.routing && f.refused.is_none() {
            self.copy_chunk(&mut f, flag, now);
        }
        let status = f.refused.unwrap_or(StatusCode::OK);
        if let Some(head) = f.head.take() {
            if is_owed(&head, status) {
                let reply = Reply {
                    status,
                    ..f.reply.clone()
                };
                self.answer_sender(conn, f.from, Some(reply));
            }
            // RFC 7701 §7.3: a success report can only say the switch has it all,
            // and it says nothing true when no member took the message (every
            // other member dropped or unbound by its last chunk).
            if status.is_success()
                && flag == ContinuationFlag::End
                && !self.fanout_targets.is_empty()
                && head.success_report() == Some(SuccessReport::Yes)
            {
                let size = f.position.saturating_sub(1);
                let range = ByteRange {
                    start: 1,
                    end: Some(size),
                    total: Some(size),
                };
                self.report(f.from, &f.incoming, range, StatusCode::OK);
            }
        }
        if flag != ContinuationFlag::More {
            self.finish_message(f.from, f.incoming);
        }
        f.pieces.clear();
        f.held = 0;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.spare_fanout = Some(f);
        }
    }

    /// The sender's connection broke mid-chunk, or the chunk broke a limit: what
    /// went out of the message is ended with `#` on every leg.
    pub(crate) fn abort_fanout(&mut self, mut f: Box<Fanout>, now: Instant) {
        if !f.routing && f.refused.is_none() && f.chunk_start > 1 {
            f.pieces.clear();
            f.held = 0;
            self.copy_chunk(&mut f, ContinuationFlag::Abort, now);
        }
        self.finish_message(f.from, f.incoming);
    }

    /// The sender's message `incoming` is over (ended, aborted or begun again):
    /// its state goes, its recipient list is kept for the next message.
    pub(crate) fn finish_message(&mut self, from: ParticipantId, incoming: MessageId) {
        if let Some(g) = self.participants.get_mut(&from).and_then(|p| p.group_mut())
            && let Some(i) = g.sending.iter().position(|m| m.incoming == incoming)
        {
            let done = g.sending.swap_remove(i);
            self.recycle_targets(done.targets);
        }
    }

    /// Keeps a message's recipient list for the next message (a few, not one per
    /// message ever sent).
    pub(crate) fn recycle_targets(&mut self, mut targets: Vec<ParticipantId>) {
        if self.spare_targets.len() < SPARE_TARGET_LISTS && targets.capacity() > 0 {
            targets.clear();
            self.spare_targets.push(targets);
        }
    }

    /// Reads the CPIM headers once they are all in and decides the recipients.
    pub(crate) fn route_message(&mut self, f: &mut Fanout) {
        let Some(decision) = self.decide(f) else {
            return;
        };
        f.routing = false;
        if let Err(status) = decision {
            self.refuse_message(f, status);
        }
    }

    /// The recipients of `f`'s message, stored with it; `None` while its CPIM
    /// headers are not all in.
    pub(crate) fn decide(&mut self, f: &Fanout) -> Option<Result<(), StatusCode>> {
        let limit = self.config.limits.max_head_bytes;
        let scratch;
        let outcome = match f.pieces.as_slice() {
            [one] => cpim::parse(one),
            pieces => {
                // The headers span pieces: look at a copy of the first bytes (the
                // headers only; the pieces themselves go out as they are).
                let mut first = Vec::with_capacity(f.held.min(limit));
                for piece in pieces {
                    let room = limit.saturating_sub(first.len());
                    first.extend_from_slice(&piece[..piece.len().min(room)]);
                }
                scratch = first;
                cpim::parse(&scratch)
            }
        };
        let headers = match outcome {
            Cpim::Incomplete if f.held < limit => return None,
            Cpim::Incomplete => {
                debug!("CPIM headers longer than max_head_bytes");
                return Some(Err(StatusCode::UNINTELLIGIBLE));
            }
            Cpim::Malformed(why) => {
                debug!(why, "malformed CPIM");
                return Some(Err(StatusCode::UNINTELLIGIBLE));
            }
            Cpim::Headers(headers) => headers,
        };
        let mut targets = self.spare_targets.pop().unwrap_or_default();
        targets.clear();
        let decision = self.recipients(f.from, f.head.as_deref(), &headers, &mut targets);
        if let Some(m) = self
            .participants
            .get_mut(&f.from)
            .and_then(|p| p.group_mut())
            .and_then(|g| g.sending.iter_mut().find(|m| m.incoming == f.incoming))
        {
            std::mem::swap(&mut m.targets, &mut targets);
        }
        self.recycle_targets(targets);
        Some(decision)
    }

    pub(crate) fn refuse_message(&mut self, f: &mut Fanout, status: StatusCode) {
        Stats::add(&self.metrics.group_refusals, 1);
        f.routing = false;
        f.refused = Some(status);
        f.pieces.clear();
        f.held = 0;
        if let Some(m) = self
            .participants
            .get_mut(&f.from)
            .and_then(|p| p.group_mut())
            .and_then(|g| g.sending.iter_mut().find(|m| m.incoming == f.incoming))
        {
            m.refused = Some(status);
            m.targets.clear();
        }
    }

    /// RFC 7701 §7.1–7.2: who gets a message, from its CPIM headers.
    pub(crate) fn recipients(
        &self,
        from: ParticipantId,
        head: Option<&Head>,
        cpim: &CpimHeaders<'_>,
        chosen: &mut Vec<ParticipantId>,
    ) -> Result<(), StatusCode> {
        let sender = self
            .participants
            .get(&from)
            .ok_or(StatusCode::SESSION_DOES_NOT_EXIST)?;
        let session = self
            .sessions
            .get(&sender.session)
            .ok_or(StatusCode::SESSION_DOES_NOT_EXIST)?;
        // The authenticated address, or the anonymous one when privacy was asked
        // for: then the real one must not show.
        let expected = sender
            .identity
            .privacy_alias
            .as_deref()
            .unwrap_or(&sender.identity.im_address);
        if !cpim.from.as_ref().is_some_and(|f| f.is(expected)) {
            return Err(StatusCode::ACTION_NOT_ALLOWED);
        }
        let outer = head.and_then(Head::content_type).unwrap_or_default();
        let inner = cpim.content_type.unwrap_or("text/plain");
        // Once per message, not once per member (issue 20: 9 % of a fan-out's
        // instructions went to this check, made again for each of 99 members).
        let outer_is_cpim = is_cpim(outer);
        let takes = |q: &super::Participant| {
            if outer_is_cpim && q.group().is_some_and(|g| g.takes_any_cpim) {
                return true;
            }
            accepts(&q.remote.accept_types, outer)
                && (q.remote.accept_types.is_empty()
                    || accepts(&q.remote.accept_types, inner)
                    || (!q.remote.accept_wrapped_types.is_empty()
                        && accepts(&q.remote.accept_wrapped_types, inner)))
        };
        let mut named = cpim.to.iter().filter(|to| !to.is(&session.group_identity));
        let Some(to) = named.next() else {
            // Public: every other bound participant that can take it.
            chosen.extend(
                session
                    .participants
                    .iter()
                    .copied()
                    .filter(|&q| q != from)
                    .filter(|q| {
                        self.participants
                            .get(q)
                            .is_some_and(|q| q.conn().is_some() && takes(q))
                    }),
            );
            return Ok(());
        };
        // RFC 7701 §7.2: one recipient only.
        if named.next().is_some() {
            return Err(StatusCode::UNINTELLIGIBLE);
        }
        let imdn = inner.eq_ignore_ascii_case("message/imdn+xml");
        if !session.policy.private_messages && !imdn {
            return Err(StatusCode::PRIVATE_MESSAGES_NOT_SUPPORTED);
        }
        let target = session.participants.iter().copied().find(|&q| {
            q != from
                && self.participants.get(&q).is_some_and(|q| {
                    let public = q
                        .identity
                        .privacy_alias
                        .as_deref()
                        .unwrap_or(&q.identity.im_address);
                    to.is(public) && q.conn().is_some()
                })
        });
        let Some(target) = target else {
            return Err(StatusCode::FAILURE_TO_RESOLVE_RECIPIENT);
        };
        if !self.participants.get(&target).is_some_and(|p| takes(p)) {
            return Err(StatusCode::MIME_NOT_UNDERSTOOD);
        }
        chosen.push(target);
        Ok(())
    }

    /// Writes the body held in `f` as one chunk to every recipient still there,
    /// ended with `flag`; the pieces are shared, not copied.
    pub(crate) fn copy_chunk(&mut self, f: &mut Fanout, flag: ContinuationFlag, now: Instant) {
        let Some(head) = f.head.as_ref() else {
            return;
        };
        let Some(message) = self
            .participants
            .get(&f.from)
            .and_then(|p| p.group())
            .and_then(|g| g.sending.iter().find(|m| m.incoming == f.incoming))
        else {
            return;
        };
        let outgoing = message.outgoing;
        // Borrowed out of the sender's message while the legs are written (and
        // put back after), so that a chunk allocates nothing.
        let mut targets = std::mem::take(&mut self.fanout_targets);
        targets.clear();
        targets.extend_from_slice(&message.targets);
        let range = ByteRange {
            start: f.chunk_start,
            end: Some(f.position.saturating_sub(1)),
            total: f.total,
        };
        // The copies ask for errors only (RFC 4975 §7.1.2 `partial`): a 200 from
        // each member would end at the switch anyway (RFC 7701 §7.3), and reading
        // one per copy would double the work of a fan-out. Only a chunk with more
        // of its message to come is tracked, so that a 413 can stop the rest.
        let tracked = flag == ContinuationFlag::More;
        // The lines every copy shares, written once for all members.
        let shared = self
            .encoder
            .copy_shared(head, outgoing, range, FailureReport::Partial);
        for &q in &targets {
            let Some(leg) = self.participants.get_mut(&q) else {
                continue;
            };
            if leg.conn().is_none() || leg.stopped.as_deref() == Some(&outgoing) {
                continue;
            }
            let tid = self.ids.transaction_id();
            leg.leg.time_head(now);
            let end = if let Some(shared) = &shared {
                let (front, end) = match &mut leg.member {
                    Member::Group(g) => {
                        let lines = g.path_lines(&leg.remote.path, &leg.local_path);
                        self.encoder.copy_front_and_end(head, &tid, lines, flag)
                    }
                    // Not a group member (never in a group session): written out.
                    _ => {
                        let lines = Encoder::path_lines(&leg.remote.path, &leg.local_path);
                        self.encoder.copy_front_and_end(head, &tid, &lines, flag)
                    }
                };
                leg.leg.push_frame_part(front, false);
                leg.leg.push_frame_part(shared.clone(), false);
                end
            } else {
                let rewrite = Rewrite {
                    transaction_id: tid,
                    to_path: &leg.remote.path,
                    from_path: &leg.local_path,
                    message_id: Some(outgoing),
                    byte_range: Some(range),
                };
                let whole = self
                    .encoder
                    .copy_request(head, &rewrite, FailureReport::Partial);
                leg.leg.push_frame_part(whole, false);
                self.encoder.end_line(&tid, flag, true)
            };
            for piece in &f.pieces {
                leg.leg.push_frame_part(piece.clone(), false);
            }
            leg.leg.push_frame_part(end, true);
            leg.counters.frames_out += 1;
            leg.counters.bytes_out += f.held as u64;
            let conn = leg.conn();
            Stats::add(&self.metrics.frames_sent[0], 1);
            Stats::add(&self.metrics.group_copies, 1);
            if tracked {
                // Errors are counted and a 413 stops the message on this leg, never
                // reported to the sender (RFC 7701 §7.3); silence is no failure.
                self.transactions.insert(
                    tid,
                    Sent::Chunk {
                        to: q,
                        sender: f.from,
                        message_id: outgoing,
                        start: range.start,
                        end: range.end,
                        total: range.total,
                        failure_report: FailureReport::No,
                    },
                );
                self.transactions
                    .arm(tid, now, self.config.transaction_timeout);
            }
            self.wake(conn);
            self.check_slow_consumer(q, now);
        }
        self.fanout_targets = targets;
        f.chunk_start = f.position;
        f.pieces.clear();
        f.held = 0;
    }

    /// After writing to a group leg: is it falling behind?
    pub(crate) fn check_slow_consumer(&mut self, id: ParticipantId, now: Instant) {
        let limit = self.config.queue_bytes;
        let grace = self.config.slow_consumer_grace;
        // The leg first: after almost every copy it is under the bound, and one
        // lookup answers where three did (1,883 -> 1,822 instructions per group
        // delivery, issue 20).
        let Some(session) = self
            .participants
            .get(&id)
            .filter(|p| p.leg.queued_bytes() >= limit)
            .map(|p| p.session)
        else {
            return;
        };
        if !self.drops_slow_consumers(session) {
            return;
        }
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        let taken = p
            .conn()
            .and_then(|conn| self.conns.get(&conn))
            .map_or(0, |c| c.progress.taken);
        if let Some(g) = p.group_mut()
            && g.over_since.is_none()
        {
            g.over_since = Some(now);
            g.over_taken = taken;
            // Looked at again once it could count as stalled (its senders may
            // then go on without it), and at the end of the grace period.
            self.transactions
                .schedule(now + stall_after(grace), Timer::SlowConsumer(id));
            self.transactions
                .schedule(now + grace, Timer::SlowConsumer(id));
        }
        // No drop before the grace period ends, however much is queued: a live
        // reader's socket may look full for longer than `stall_after` (the kernel
        // reports it writable only once a good part of its buffer drains), and a
        // member that reads is never dropped. Memory stays bounded all the same:
        // past `slow_consumer_max_bytes` a stalled leg holds its senders back again
        // (`feeds_full_leg`) until it reads or its grace period ends.
    }

    /// True if `id`'s socket takes nothing (the transport found it full) and its
    /// connection has taken nothing since its leg went over the bound: it is not
    /// reading, so neither its senders wait for it nor does it stay.
    pub(crate) fn is_stalled(&self, id: ParticipantId) -> bool {
        let Some(p) = self.participants.get(&id) else {
            return true;
        };
        let Some(c) = p.conn().and_then(|conn| self.conns.get(&conn)) else {
            return true;
        };
        let Some(g) = p.group() else {
            return false;
        };
        let Some(since) = g.over_since else {
            return false;
        };
        c.write_blocked
            && c.progress.taken == g.over_taken
            && self.now.saturating_duration_since(since)
                >= stall_after(self.config.slow_consumer_grace)
    }

    /// The slow-consumer timer of `id` is due.
    pub(crate) fn slow_consumer_due(&mut self, id: ParticipantId, now: Instant) {
        let limit = self.config.queue_bytes;
        let grace = self.config.slow_consumer_grace;
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        let Some(since) = p.group().and_then(|g| g.over_since) else {
            return;
        };
        let taken = p
            .conn()
            .and_then(|conn| self.conns.get(&conn))
            .map_or(0, |c| c.progress.taken);
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        if p.leg.queued_bytes() < limit {
            if let Some(g) = p.group_mut() {
                g.over_since = None;
            }
        } else if now >= since + grace {
            // Over the bound for the whole grace period: dropped only if it took
            // nothing in it. A member still reading is slow, not stalled: it
            // paces its senders, and is looked at again a grace period on.
            match p.group_mut() {
                Some(g) if g.over_taken != taken => {
                    g.over_since = Some(now);
                    g.over_taken = taken;
                    self.transactions
                        .schedule(now + grace, Timer::SlowConsumer(id));
                }
                _ => self.drop_slow_consumer(id),
            }
        } else if self.is_stalled(id) {
            // Its senders no longer wait for it: let them read again.
            if let Some(session) = self.participants.get(&id).map(|p| p.session) {
                self.wake_session(session, id);
            }
        } else {
            // It caught up and fell behind again since this timer was set.
            self.transactions
                .schedule(since + grace, Timer::SlowConsumer(id));
        }
    }

    /// True if the session drops slow consumers rather than pausing its senders.
    pub(crate) fn drops_slow_consumers(&self, session: SessionKey) -> bool {
        self.sessions.get(&session).is_some_and(|s| {
            s.kind == SessionKind::Group && s.policy.slow_consumer == SlowConsumer::Drop
        })
    }

    /// Closes a slow consumer's connection now, discarding what waits for it.
    pub(crate) fn drop_slow_consumer(&mut self, id: ParticipantId) {
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        let queued = p.leg.queued_bytes() as u64;
        let session = p.session;
        if let Some(g) = p.group_mut() {
            g.over_since = None;
        }
        let conn = p.conn();
        debug!(participant = %id, queued, "slow consumer dropped");
        Stats::add(&self.metrics.slow_consumer_drops, 1);
        self.emit(Event::SlowConsumerDropped {
            session,
            participant: id,
            queued_bytes: queued,
        });
        match conn {
            // Other sessions share its connection: it alone goes (the rest of a
            // frame of its half written first), the connection stays for them.
            Some(conn) if self.conns.get(&conn).is_some_and(|c| c.is_shared()) => {
                self.leave(conn, id, false);
            }
            Some(conn) => self.abort_conn(conn),
            None => {}
        }
        self.unbind(id, Link::Lost);
    }

    /// NICKNAME (RFC 7701 §8): 200, 424 for a malformed one, 425 for one taken, 403
    /// when the policy offers none. An empty nickname clears it.
    pub(crate) fn nickname(&mut self, route: &Route, head: &Head) -> Inbound {
        let id = route.id;
        let status = self.set_nickname(id, head);
        Inbound::Answer(owed_reply(head, status, route))
    }

    pub(crate) fn set_nickname(&mut self, id: ParticipantId, head: &Head) -> StatusCode {
        let Some(session) = self.participants.get(&id).map(|p| p.session) else {
            return StatusCode::SESSION_DOES_NOT_EXIST;
        };
        let Some(entry) = self.sessions.get(&session) else {
            return StatusCode::SESSION_DOES_NOT_EXIST;
        };
        if !entry.policy.nicknames {
            return StatusCode::ACTION_NOT_ALLOWED;
        }
        let Some(nickname) = head.use_nickname().and_then(cpim::nickname) else {
            return StatusCode::MALFORMED_NICKNAME;
        };
        if nickname.chars().count() > MAX_NICKNAME_CHARS {
            return StatusCode::MALFORMED_NICKNAME;
        }
        // Unique in the room, ignoring case, so that nobody can pass for another.
        let taken = !nickname.is_empty()
            && entry.participants.iter().any(|&q| {
                q != id
                    && self
                        .participants
                        .get(&q)
                        .and_then(|p| p.group())
                        .and_then(|g| g.nickname.as_deref())
                        .is_some_and(|n| n.to_lowercase() == nickname.to_lowercase())
            });
        if taken {
            return StatusCode::NICKNAME_IN_USE;
        }
        if let Some(g) = self.participants.get_mut(&id).and_then(|p| p.group_mut()) {
            g.nickname = (!nickname.is_empty()).then(|| nickname.clone());
        }
        self.emit(Event::NicknameSet {
            session,
            participant: id,
            nickname,
        });
        StatusCode::OK
    }
}

/// Recipient lists kept for reuse.
const SPARE_TARGET_LISTS: usize = 16;

/// The longest nickname accepted, in characters.
const MAX_NICKNAME_CHARS: usize = 64;

/// True if media with these types take any message/cpim, whatever it wraps.
pub(crate) fn takes_any_cpim(remote: &RemoteMedia) -> bool {
    let any = |types: &[String]| types.iter().any(|t| t.trim() == "*");
    accepts(&remote.accept_types, "message/cpim")
        && (remote.accept_types.is_empty()
            || any(&remote.accept_types)
            || any(&remote.accept_wrapped_types))
}

fn is_cpim(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("message/cpim"))
}

/// How long a member over the queue bound whose socket takes nothing is waited
/// for before its senders go on without it: long enough for a live reader's full
/// socket buffer to drain a little (the transport then reports progress), short
/// enough that a stalled member costs the others a moment, not the grace period.
fn stall_after(grace: std::time::Duration) -> std::time::Duration {
    grace.min(std::time::Duration::from_millis(250))
}
