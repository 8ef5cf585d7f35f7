//! Large Message Mode (OMA SIMPLE IM 9.2.3, 9.3.2.1): a session that carries
//! exactly one message, from its sender (the first participant added) to every
//! other participant (the receivers), each on an MSRP session of its own with
//! the switch. The IM Server sends BYE once the switch says every receiver has
//! it ([`Event::LargeMessageComplete`]).
//!
//! ```text
//!  sender ── SEND chunks ──▶ switch ──▶ window (recent pieces, shared Bytes) ──▶ receivers that keep up
//!     ▲                        │
//!     │ 200 once stored        └─ Action::Store ──▶ message store (memory, then a spill file)
//!     │                                                   │
//!     └── REPORT (its Success-/Failure-Report)            └─ Action::Replay ──▶ receivers behind
//! ```
//!
//! The core keeps no body beyond a small window of the latest pieces: every piece
//! goes to the transport's store ([`Action::Store`]), and a receiver that is
//! behind the window (it bound late, or reads slower than the sender writes) is
//! fed from the store ([`Action::Replay`]) one chunk at a time, as its leg drains.
//! So a slow receiver never holds the sender or the other receivers back; only
//! the store does, when its writes fall more than the queue bound behind.
//!
//! Each receiver gets the message in chunks of at most `fanout_chunk_bytes`, each
//! its own transaction with an exact `Byte-Range: start-end/total`, ended with `+`
//! and the last with `$`; the headers of the sender's first chunk are copied. A
//! receiver's state:
//!
//! ```text
//!  Pending ──every chunk answered 200 (and, when the sender asked for them,
//!     │       success REPORTs cover the message)──▶ Delivered
//!     └──an error response, no response in time, its connection lost, removed,
//!          the sender gone mid-message, the store failed──▶ Failed(status)
//! ```
//!
//! The sender's chunks are answered 200 once their bytes are stored (a 200 is a
//! promise); a store that fails (a full disk) answers 413 and fails the message.
//! The sender's Success-Report is answered once every receiver has the message,
//! its Failure-Report with the first failure.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use smallvec::SmallVec;
use tracing::debug;

use crate::codec::{
    ByteRange, ContinuationFlag, FailureReport, Head, HeadBox, MessageId, Method, Rewrite,
    StatusCode, SuccessReport,
};
use crate::conn::Inbound;
use crate::control::Event;
use crate::endpoint::frames::Route;
use crate::endpoint::{Action, Endpoint};
use crate::ids::{ConnId, ParticipantId, SessionKey};
use crate::media::accepts;
use crate::report::{Reply, owed_reply};
use crate::session::{Link, Member, Participant, Session, SessionKind};
use crate::stats::Stats;
use crate::transaction::{Sent, Timer};

/// The first participant of a large message session is its sender, every later
/// one a receiver.
pub(crate) fn admit(session: &Session) -> Member {
    let has_sender = session
        .transfer
        .as_ref()
        .is_some_and(|t| t.sender.is_some());
    Member::LargeMessage(if has_sender {
        LargeMember::Receiver(Box::default())
    } else {
        LargeMember::Sender
    })
}

/// A participant's part in the message.
pub(crate) enum LargeMember {
    /// It sends the message.
    Sender,
    /// It receives it.
    Receiver(Box<Receiving>),
}

/// Where a receiver is in the message.
#[derive(Default)]
pub(crate) struct Receiving {
    /// Offset (0-based) of the next byte to write to it.
    pub(crate) next: u64,
    /// Its chunks written and not yet answered.
    pub(crate) outstanding: u32,
    /// A chunk is being read back from the store for it.
    pub(crate) replaying: bool,
    /// Its last chunk (ended `$`) or a `#` went out.
    pub(crate) ended: bool,
    /// Bytes its success REPORTs cover, from the start.
    pub(crate) reported: u64,
    /// Whether it has the message.
    pub(crate) outcome: Outcome,
}

/// A receiver's outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Not yet known.
    #[default]
    Pending,
    /// It has every byte.
    Delivered,
    /// It will not have it.
    Failed(StatusCode),
}

/// The message of a large message session.
///
/// ```text
///  Waiting ──first chunk──▶ Receiving ──`$`──▶ Received
///                               │
///                               └── `#`, sender gone, store failed ──▶ Failed(status)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// No chunk yet.
    Waiting,
    /// Chunks are arriving.
    Receiving,
    /// The sender's last chunk came: `received` is the size.
    Received,
    /// It will never be whole.
    Failed(StatusCode),
}

/// A 200 owed to the sender once its chunk's bytes are stored.
struct Owed {
    /// Stored must reach this many bytes.
    upto: u64,
    conn: ConnId,
    reply: Reply,
}

/// The one message of a large message session.
pub(crate) struct Transfer {
    /// Its sender, once added.
    pub(crate) sender: Option<ParticipantId>,
    pub(crate) state: State,
    /// The sender's first chunk: its headers are copied to every receiver's.
    head: Option<HeadBox>,
    /// The sender's Message-ID.
    incoming: Option<MessageId>,
    /// The Message-ID on every receiver's session.
    outgoing: MessageId,
    /// The size, once known (from the sender's Byte-Range or its last chunk).
    total: Option<u64>,
    /// Bytes received in order.
    pub(crate) received: u64,
    /// Bytes the store has confirmed.
    stored: u64,
    /// The sender's chunk being read (between its head and end-line).
    inside_chunk: bool,
    /// The latest pieces, from `window_start`: receivers that keep up are fed
    /// from here without the store.
    window: VecDeque<Bytes>,
    window_start: u64,
    window_bytes: usize,
    /// 200s waiting for the store.
    owed: VecDeque<Owed>,
    /// What the sender asked for.
    success_report: bool,
    failure_report: FailureReport,
    /// The first failure was reported to the sender.
    failure_reported: bool,
    /// `MessageReceived` was emitted.
    received_reported: bool,
    /// `LargeMessageComplete` was emitted.
    complete_reported: bool,
    /// When the switch releases the session by itself, once complete.
    pub(crate) release_at: Option<Instant>,
    /// The store exists in the transport (something was stored).
    store_open: bool,
}

impl Transfer {
    /// A transfer whose receivers see Message-ID `outgoing`.
    pub(crate) fn new(outgoing: MessageId) -> Self {
        Self {
            sender: None,
            state: State::Waiting,
            head: None,
            incoming: None,
            outgoing,
            total: None,
            received: 0,
            stored: 0,
            inside_chunk: false,
            window: VecDeque::new(),
            window_start: 0,
            window_bytes: 0,
            owed: VecDeque::new(),
            success_report: false,
            failure_report: FailureReport::Yes,
            failure_reported: false,
            received_reported: false,
            complete_reported: false,
            release_at: None,
            store_open: false,
        }
    }

    /// True while receivers may still get bytes: the message is, or is
    /// becoming, whole.
    fn is_live(&self) -> bool {
        matches!(self.state, State::Receiving | State::Received)
    }

    /// True if the whole message is in.
    fn is_whole(&self) -> bool {
        self.state == State::Received
    }

    /// The window's pieces covering `[from, from + len)`, as slices (shared).
    fn slices(&self, from: u64, len: u64) -> SmallVec<[Bytes; 8]> {
        let mut out = SmallVec::new();
        let end = from + len;
        let mut at = self.window_start;
        for piece in &self.window {
            let piece_end = at + piece.len() as u64;
            if piece_end > from && at < end {
                let a = from.saturating_sub(at) as usize;
                let b = (end.min(piece_end) - at) as usize;
                out.push(piece.slice(a..b));
            }
            at = piece_end;
            if at >= end {
                break;
            }
        }
        out
    }
}

/// Why receiver media `remote` cannot take the message of `t` (RFC 4975
/// §8.6: its a=accept-types, §8.7: its a=max-size), if they cannot.
fn refusal_by(remote: &crate::media::RemoteMedia, t: &Transfer) -> Option<(StatusCode, String)> {
    let content_type = t.head.as_ref()?.content_type().unwrap_or_default();
    if !accepts(&remote.accept_types, content_type) {
        return Some((
            StatusCode::MIME_NOT_UNDERSTOOD,
            format!("the receiver does not accept {content_type}"),
        ));
    }
    let size = t.total?;
    match remote.max_size {
        Some(max) if size > max => Some((
            StatusCode::STOP_SENDING_MESSAGE,
            format!("the message's {size} bytes exceed the receiver's a=max-size {max}"),
        )),
        _ => None,
    }
}

/// A sender's chunk being read.
pub(crate) struct LargeChunk {
    pub(crate) from: ParticipantId,
    pub(crate) session: SessionKey,
    /// Bytes at its start the switch already has (a chunk sent again).
    skip: u64,
    /// Why it is refused; its body is discarded.
    refused: Option<StatusCode>,
    /// The hop-by-hop answer (`None`: not owed).
    reply: Option<Reply>,
}

impl Endpoint {
    /// The message of large message session `session`.
    fn transfer(&self, session: SessionKey) -> Option<&Transfer> {
        self.sessions.get(&session)?.transfer.as_deref()
    }

    /// The message of large message session `session`, to change.
    fn transfer_mut(&mut self, session: SessionKey) -> Option<&mut Transfer> {
        self.sessions.get_mut(&session)?.transfer.as_deref_mut()
    }

    /// A request in a large message session, routed to participant `route.id`.
    pub(crate) fn large_message_request(
        &mut self,
        route: Route,
        method: Method,
        head: HeadBox,
    ) -> Inbound {
        let is_sender = self
            .participants
            .get(&route.id)
            .is_some_and(|p| matches!(p.member, Member::LargeMessage(LargeMember::Sender)));
        match method {
            Method::Send if is_sender => self.start_large_chunk(route, head),
            // A receiver's bodiless SEND binds or keeps alive; it sends nothing else.
            Method::Send if !head.has_body() => {
                Inbound::Answer(owed_reply(&head, StatusCode::OK, &route))
            }
            Method::Send => {
                Inbound::Answer(owed_reply(&head, StatusCode::ACTION_NOT_ALLOWED, &route))
            }
            Method::Report => {
                if !is_sender {
                    self.receiver_report(route.id, &head);
                }
                Inbound::Answer(None)
            }
            Method::Auth | Method::Nickname => {
                Inbound::Answer(owed_reply(&head, StatusCode::ACTION_NOT_ALLOWED, &route))
            }
            Method::Other => {
                Inbound::Answer(owed_reply(&head, StatusCode::METHOD_NOT_UNDERSTOOD, &route))
            }
        }
    }

    /// A SEND from the sender: checked, then its body stored and streamed.
    fn start_large_chunk(&mut self, route: Route, head: HeadBox) -> Inbound {
        if !head.has_body() {
            return Inbound::Answer(owed_reply(&head, StatusCode::OK, &route));
        }
        let from = route.id;
        let refuse = |head: &Head, status| Inbound::Answer(owed_reply(head, status, &route));
        let Some(incoming) = head.message_id() else {
            return refuse(&head, StatusCode::UNINTELLIGIBLE);
        };
        let Some(p) = self.participants.get(&from) else {
            return refuse(&head, StatusCode::SESSION_DOES_NOT_EXIST);
        };
        let session = p.session;
        let content_type = head.content_type().unwrap_or_default();
        if !accepts(&p.local.accept_types, content_type) {
            return refuse(&head, StatusCode::MIME_NOT_UNDERSTOOD);
        }
        let range = match p.send_range(&head) {
            Ok(range) => range,
            Err(status) => return refuse(&head, status),
        };
        let Some(t) = self.transfer_mut(session) else {
            return refuse(&head, StatusCode::SESSION_DOES_NOT_EXIST);
        };
        match t.state {
            State::Waiting => {
                t.state = State::Receiving;
                t.incoming = Some(incoming);
                t.total = range.total;
                t.success_report = head.success_report() == Some(SuccessReport::Yes);
                t.failure_report = head.failure_report().unwrap_or(FailureReport::Yes);
            }
            // One message per session (a second one is refused).
            _ if t.incoming != Some(incoming) => {
                return refuse(&head, StatusCode::ACTION_NOT_ALLOWED);
            }
            State::Failed(status) => return refuse(&head, status),
            State::Receiving | State::Received => {}
        }
        // The chunk must continue what the switch has (or repeat part of it).
        let Some(skip) = (t.received + 1).checked_sub(range.start) else {
            debug!(%session, start = range.start, have = t.received, "large message chunk leaves a gap");
            return refuse(&head, StatusCode::UNINTELLIGIBLE);
        };
        if t.head.is_none() {
            t.head = Some(HeadBox::copy_of(&head));
        }
        t.inside_chunk = true;
        let reply = owed_reply(&head, StatusCode::OK, &route);
        Inbound::Large(Box::new(LargeChunk {
            from,
            session,
            skip,
            refused: None,
            reply,
        }))
    }

    /// A body piece of the sender's chunk: stored, and written to every receiver
    /// that keeps up.
    pub(crate) fn large_body(&mut self, conn: ConnId, mut c: Box<LargeChunk>, mut piece: Bytes) {
        if let Some(p) = self.participants.get_mut(&c.from) {
            p.counters.bytes_in += piece.len() as u64;
        }
        if c.skip > 0 {
            let skipped = (c.skip as usize).min(piece.len());
            piece = piece.slice(skipped..);
            c.skip -= skipped as u64;
        }
        let window_limit = 2 * self.config.queue_bytes.max(self.config.fanout_chunk_bytes);
        let session = c.session;
        let mut store = None;
        if let Some(t) = self.transfer_mut(session) {
            // Bytes past the total the sender declared: its chunk is refused
            // (400) and nothing more of it is taken.
            if c.refused.is_none()
                && t.total
                    .is_some_and(|total| t.received + piece.len() as u64 > total)
            {
                c.refused = Some(StatusCode::UNINTELLIGIBLE);
            }
            if c.refused.is_none() && t.state == State::Receiving && !piece.is_empty() {
                let offset = t.received;
                t.received += piece.len() as u64;
                t.window_bytes += piece.len();
                t.window.push_back(piece.clone());
                while t.window_bytes > window_limit
                    && let Some(front) = t.window.front()
                    && t.window_bytes - front.len() >= window_limit
                {
                    t.window_start += front.len() as u64;
                    t.window_bytes -= front.len();
                    t.window.pop_front();
                }
                t.store_open = true;
                store = Some(offset);
            } else if t.state != State::Receiving && c.refused.is_none() {
                c.refused = Some(match t.state {
                    State::Failed(status) => status,
                    _ => StatusCode::ACTION_NOT_ALLOWED,
                });
            }
        }
        if let Some(offset) = store {
            self.actions.push_back(Action::Store {
                session,
                offset,
                bytes: piece,
            });
            self.feed_receivers(session);
        }
        self.set_inbound(conn, Inbound::Large(c));
    }

    /// The end-line of the sender's chunk: answered once stored; `$` makes the
    /// message whole, `#` fails it.
    pub(crate) fn end_large_chunk(
        &mut self,
        conn: ConnId,
        c: Box<LargeChunk>,
        flag: ContinuationFlag,
        now: Instant,
    ) {
        let session = c.session;
        let Some(t) = self.transfer_mut(session) else {
            return;
        };
        t.inside_chunk = false;
        if let Some(status) = c.refused {
            let reply = c.reply.map(|r| Reply { status, ..r });
            self.send_reply(conn, reply);
            return;
        }
        match flag {
            ContinuationFlag::End if t.state == State::Receiving => {
                t.state = State::Received;
                t.total = Some(t.received);
            }
            ContinuationFlag::Abort if t.state == State::Receiving => {
                self.send_reply(conn, c.reply);
                self.fail_transfer(
                    session,
                    StatusCode::TRANSACTION_DID_NOT_COMPLETE,
                    "the sender aborted the message",
                    now,
                );
                return;
            }
            _ => {}
        }
        let stored = t.stored;
        let upto = t.received;
        match c.reply {
            Some(reply) if stored < upto => t.owed.push_back(Owed { upto, conn, reply }),
            reply => self.answer_sender(conn, c.from, reply),
        }
        self.check_received(session);
        self.feed_receivers(session);
        self.check_all_delivered(session, now);
    }

    /// The sender's chunk broke off (its connection closed, or the chunk broke a
    /// limit: `status` answers it then).
    pub(crate) fn abort_large_chunk(
        &mut self,
        conn: ConnId,
        c: Box<LargeChunk>,
        status: Option<StatusCode>,
        now: Instant,
    ) {
        if let Some(status) = status {
            let reply = c.reply.map(|r| Reply { status, ..r });
            self.send_reply(conn, reply);
        }
        self.fail_transfer(
            c.session,
            StatusCode::TRANSACTION_DID_NOT_COMPLETE,
            "the sender broke off mid-chunk",
            now,
        );
    }

    /// The transport stored the message's bytes up to `upto` (its
    /// [`Action::Store`]s, in order). Owed 200s go to the sender.
    pub fn large_message_stored(&mut self, session: SessionKey, upto: u64, now: Instant) {
        self.now = now;
        let mut answers: SmallVec<[(ConnId, Reply); 2]> = SmallVec::new();
        let (sender, behind_before) = {
            let Some(t) = self.transfer_mut(session) else {
                return;
            };
            let behind_before = t.received - t.stored;
            t.stored = t.stored.max(upto);
            while t.owed.front().is_some_and(|o| o.upto <= t.stored) {
                if let Some(o) = t.owed.pop_front() {
                    answers.push((o.conn, o.reply));
                }
            }
            (t.sender, behind_before)
        };
        if let Some(sender) = sender {
            for (conn, reply) in answers {
                self.answer_sender(conn, sender, Some(reply));
            }
            // The sender was held back while the store was behind: read again.
            if behind_before as usize >= self.config.queue_bytes {
                let conn = self.participants.get(&sender).and_then(|p| p.conn());
                self.wake(conn);
            }
        }
        self.check_received(session);
        self.check_all_delivered(session, now);
    }

    /// The transport could not store the message (`reason`: a full disk, most
    /// often): the sender's unanswered chunks get 413, the message fails.
    pub fn large_message_store_failed(&mut self, session: SessionKey, reason: &str, now: Instant) {
        self.now = now;
        debug!(%session, reason, "large message store failed");
        self.fail_transfer(
            session,
            StatusCode::STOP_SENDING_MESSAGE,
            &format!("the switch could not store the message: {reason}"),
            now,
        );
    }

    /// The transport read back `bytes` at `offset` for `receiver` (its
    /// [`Action::Replay`]), or could not (`Err`, why).
    pub fn large_message_replayed(
        &mut self,
        receiver: ParticipantId,
        offset: u64,
        bytes: Result<Bytes, String>,
        now: Instant,
    ) {
        self.now = now;
        let Some(session) = self.participants.get(&receiver).map(|p| p.session) else {
            return;
        };
        let Some(r) = self.receiving_mut(receiver) else {
            return;
        };
        r.replaying = false;
        match bytes {
            Ok(bytes) if r.outcome == Outcome::Pending && r.next == offset && !bytes.is_empty() => {
                Stats::add(&self.metrics.large_message_replays, 1);
                let len = bytes.len() as u64;
                self.write_chunk(session, receiver, offset, len, &[bytes], now);
            }
            Ok(_) => {}
            Err(why) => {
                self.fail_receiver(
                    receiver,
                    StatusCode::TRANSACTION_DID_NOT_COMPLETE,
                    &format!("the switch could not read the stored message: {why}"),
                    now,
                );
                return;
            }
        }
        self.feed_receiver(session, receiver, now);
    }

    /// A receiver's state, if `id` is one.
    fn receiving_mut(&mut self, id: ParticipantId) -> Option<&mut Receiving> {
        match &mut self.participants.get_mut(&id)?.member {
            Member::LargeMessage(LargeMember::Receiver(r)) => Some(r),
            _ => None,
        }
    }

    /// True if the sender's reads wait for the store (more than the queue bound
    /// unconfirmed): the disk sets the sender's pace, never a receiver.
    pub(crate) fn large_store_behind(&self, p: &Participant) -> bool {
        if !matches!(p.member, Member::LargeMessage(LargeMember::Sender)) {
            return false;
        }
        self.sessions
            .get(&p.session)
            .and_then(|s| s.transfer.as_deref())
            .is_some_and(|t| (t.received - t.stored) as usize >= self.config.queue_bytes)
    }

    /// Feeds every receiver of `session` what it can take.
    pub(crate) fn feed_receivers(&mut self, session: SessionKey) {
        let Some(s) = self.sessions.get(&session) else {
            return;
        };
        if s.kind != SessionKind::LargeMessage {
            return;
        }
        let sender = s.transfer.as_ref().and_then(|t| t.sender);
        let receivers: SmallVec<[ParticipantId; 8]> = s
            .participants
            .iter()
            .copied()
            .filter(|&p| Some(p) != sender)
            .collect();
        let now = self.now;
        for q in receivers {
            self.feed_receiver(session, q, now);
        }
    }

    /// Writes chunks to receiver `q` while its leg is under the queue bound and
    /// there is something for it: from the window, or asks the store for it.
    pub(crate) fn feed_receiver(&mut self, session: SessionKey, q: ParticipantId, now: Instant) {
        let limit = self.config.queue_bytes;
        let chunk_bytes = self.config.fanout_chunk_bytes.max(1) as u64;
        loop {
            let Some(p) = self.participants.get(&q) else {
                return;
            };
            if !p.link.takes_messages() || p.leg.queued_bytes() >= limit {
                return;
            }
            let Member::LargeMessage(LargeMember::Receiver(r)) = &p.member else {
                return;
            };
            if r.outcome != Outcome::Pending || r.replaying || r.ended {
                return;
            }
            let next = r.next;
            let Some(t) = self.transfer(session) else {
                return;
            };
            if !t.is_live() {
                return;
            }
            // Before its first chunk: does its media take this message?
            if next == 0
                && let Some((status, reason)) = refusal_by(&p.remote, t)
            {
                self.fail_receiver(q, status, &reason, now);
                return;
            }
            let available = t.received - next;
            let last = t.is_whole();
            // Whole chunks while the sender streams; the rest when its chunk
            // ends (so a receiver draining fast never gets a chunk per piece).
            let flushing = last || !t.inside_chunk;
            // (An empty last chunk still carries the `$` of a whole message.)
            if available == 0 && !last {
                return;
            }
            if available < chunk_bytes && !flushing {
                return;
            }
            let len = available.min(chunk_bytes);
            // The message's last bytes wait for the sender's end-line, so they
            // go out flagged `$` rather than `+` and an empty `$` chunk.
            if !last && t.total == Some(next + len) {
                return;
            }
            if next < t.window_start {
                // Behind the window: from the store (which has it: its writes and
                // reads are done in order).
                let len = len.min(t.window_start - next);
                self.actions.push_back(Action::Replay {
                    session,
                    participant: q,
                    offset: next,
                    len: len as usize,
                });
                if let Some(r) = self.receiving_mut(q) {
                    r.replaying = true;
                }
                return;
            }
            let pieces = t.slices(next, len);
            self.write_chunk(session, q, next, len, &pieces, now);
        }
    }

    /// Writes `[offset, offset + len)` of the message to receiver `q` as one
    /// chunk (its own transaction), ended `$` if it is the message's last.
    fn write_chunk(
        &mut self,
        session: SessionKey,
        q: ParticipantId,
        offset: u64,
        len: u64,
        pieces: &[Bytes],
        now: Instant,
    ) {
        // Fields borrowed apart: the transfer, the leg, the encoder.
        let Some(t) = self
            .sessions
            .get(&session)
            .and_then(|s| s.transfer.as_deref())
        else {
            return;
        };
        let Some(head) = t.head.as_ref() else {
            return;
        };
        let Some(p) = self.participants.get_mut(&q) else {
            return;
        };
        let Member::LargeMessage(LargeMember::Receiver(r)) = &mut p.member else {
            return;
        };
        let end = offset + len;
        let flag = if t.is_whole() && t.total == Some(end) {
            ContinuationFlag::End
        } else {
            ContinuationFlag::More
        };
        let tid = self.ids.transaction_id();
        let range = ByteRange {
            start: offset + 1,
            end: Some(end),
            total: t.total,
        };
        let rewrite = Rewrite {
            transaction_id: tid,
            to_path: &p.remote.path,
            from_path: &p.local_path,
            message_id: Some(t.outgoing),
            byte_range: Some(range),
        };
        // Every chunk asks for its 200: delivery is known from them.
        let head = self
            .encoder
            .copy_request(head, &rewrite, FailureReport::Yes);
        let end_line = self.encoder.end_line(&tid, flag, true);
        p.leg.time_head(now);
        p.leg.push_frame_part(head, false);
        for piece in pieces {
            p.leg.push_frame_part(piece.clone(), false);
        }
        p.leg.push_frame_part(end_line, true);
        p.counters.frames_out += 1;
        p.counters.bytes_out += len;
        r.next = end;
        r.outstanding += 1;
        r.ended = flag == ContinuationFlag::End;
        let conn = p.conn();
        Stats::add(&self.metrics.frames_sent[0], 1);
        Stats::add(&self.metrics.large_message_chunks, 1);
        self.transactions
            .insert(tid, Sent::Large { to: q, session });
        self.transactions
            .arm(tid, now, self.config.transaction_timeout);
        self.wake(conn);
    }

    /// A receiver answered one of its chunks.
    pub(crate) fn large_chunk_answered(
        &mut self,
        q: ParticipantId,
        session: SessionKey,
        status: StatusCode,
        now: Instant,
    ) {
        let Some(r) = self.receiving_mut(q) else {
            return;
        };
        r.outstanding = r.outstanding.saturating_sub(1);
        if status.is_success() {
            self.check_delivered(session, q, now);
        } else {
            self.fail_receiver(q, status, &format!("the receiver answered {status}"), now);
        }
    }

    /// A receiver's chunk got no response in time.
    pub(crate) fn large_chunk_overdue(
        &mut self,
        tid: crate::codec::TransactionId,
        sent: Sent,
        now: Instant,
    ) {
        let Sent::Large { to, .. } = sent else {
            return;
        };
        match self.overdue_for(to, now) {
            Some(at) => {
                self.transactions.hold(tid, sent, at);
            }
            None => {
                Stats::add(&self.metrics.transaction_timeouts, 1);
                self.fail_receiver(
                    to,
                    StatusCode::TRANSACTION_DID_NOT_COMPLETE,
                    "no response within the transaction timeout",
                    now,
                );
            }
        }
    }

    /// A success REPORT from a receiver: how much of the message it covers.
    fn receiver_report(&mut self, q: ParticipantId, head: &Head) {
        let ok = head.status().is_some_and(|s| s.code.is_success());
        let Some(range) = head.byte_range() else {
            return;
        };
        let Some(r) = self.receiving_mut(q) else {
            return;
        };
        if ok && range.start <= r.reported + 1 {
            let end = range.end.unwrap_or(range.start.saturating_sub(1));
            r.reported = r.reported.max(end);
        }
        let session = self.participants.get(&q).map(|p| p.session);
        if let Some(session) = session {
            self.check_delivered(session, q, self.now);
        }
    }

    /// Does receiver `q` have the whole message now?
    fn check_delivered(&mut self, session: SessionKey, q: ParticipantId, now: Instant) {
        let Some(t) = self.transfer(session) else {
            return;
        };
        // Delivered only once received: the IM Server sees message_received first.
        let (whole, total, success) = (t.received_reported, t.received, t.success_report);
        let Some(r) = self.receiving_mut(q) else {
            return;
        };
        let done = whole
            && r.outcome == Outcome::Pending
            && r.ended
            && r.outstanding == 0
            && r.next == total
            && (!success || r.reported >= total);
        if !done {
            return;
        }
        r.outcome = Outcome::Delivered;
        Stats::add(&self.metrics.large_message_deliveries, 1);
        self.emit(Event::MessageDelivered {
            session,
            participant: q,
            bytes: total,
        });
        self.check_all_delivered(session, now);
    }

    /// Receiver `q` will not have the message.
    pub(crate) fn fail_receiver(
        &mut self,
        q: ParticipantId,
        status: StatusCode,
        reason: &str,
        now: Instant,
    ) {
        let Some(p) = self.participants.get_mut(&q) else {
            return;
        };
        let session = p.session;
        let bound = p.conn().is_some();
        let Member::LargeMessage(LargeMember::Receiver(r)) = &mut p.member else {
            return;
        };
        if r.outcome != Outcome::Pending {
            return;
        }
        r.outcome = Outcome::Failed(status);
        r.replaying = false;
        // What went out of the message ends with `#` (RFC 4975 §7.1), if the
        // leg can still carry it; a receiver that never bound gets nothing.
        let abort = r.next > 0 && !r.ended && bound;
        if p.link == Link::Waiting {
            p.leg.clear();
        }
        r.ended = true;
        if abort
            && let Some(t) = self
                .sessions
                .get(&session)
                .and_then(|s| s.transfer.as_deref())
            && let Some(head) = t.head.as_ref()
        {
            let tid = self.ids.transaction_id();
            let start = match &p.member {
                Member::LargeMessage(LargeMember::Receiver(r)) => r.next + 1,
                _ => 1,
            };
            let rewrite = Rewrite {
                transaction_id: tid,
                to_path: &p.remote.path,
                from_path: &p.local_path,
                message_id: Some(t.outgoing),
                byte_range: Some(ByteRange {
                    start,
                    end: Some(start - 1),
                    total: t.total,
                }),
            };
            let head = self.encoder.copy_request(head, &rewrite, FailureReport::No);
            // The copied head ends where a body would start: an empty one.
            let end_line = self.encoder.end_line(&tid, ContinuationFlag::Abort, true);
            p.leg.push_frame_part(head, false);
            p.leg.push_frame_part(end_line, true);
            let conn = p.conn();
            self.wake(conn);
        }
        self.transactions
            .take_chunks(|sent| matches!(sent, Sent::Large { to, .. } if *to == q));
        Stats::add(&self.metrics.large_message_failures, 1);
        debug!(%session, participant = %q, %status, reason, "large message failed for a receiver");
        self.emit(Event::MessageFailed {
            session,
            participant: q,
            status: status.as_u16(),
            reason: reason.to_owned(),
        });
        // The sender's Failure-Report: the first failure.
        let report = self
            .transfer_mut(session)
            .filter(|t| !t.failure_reported && t.failure_report != FailureReport::No)
            .and_then(|t| {
                t.failure_reported = true;
                Some((t.sender?, t.incoming?, t.received, t.total))
            });
        if let Some((sender, incoming, received, total)) = report {
            let range = ByteRange {
                start: 1,
                end: Some(received),
                total,
            };
            self.report(sender, &incoming, range, status);
        }
        self.check_all_delivered(session, now);
    }

    /// The message can never be whole: every receiver fails with `status`, the
    /// sender's waiting chunks are answered with it, the store is released.
    pub(crate) fn fail_transfer(
        &mut self,
        session: SessionKey,
        status: StatusCode,
        reason: &str,
        now: Instant,
    ) {
        let (owed, sender, receivers) = {
            let Some(s) = self.sessions.get_mut(&session) else {
                return;
            };
            let receivers: SmallVec<[ParticipantId; 8]> = s.participants.iter().copied().collect();
            let Some(t) = s.transfer.as_deref_mut() else {
                return;
            };
            if !t.is_live() {
                return;
            }
            t.state = State::Failed(status);
            t.window.clear();
            t.window_bytes = 0;
            (std::mem::take(&mut t.owed), t.sender, receivers)
        };
        if let Some(sender) = sender {
            for o in owed {
                self.answer_sender(o.conn, sender, Some(Reply { status, ..o.reply }));
            }
        }
        for q in receivers {
            if Some(q) != sender {
                self.fail_receiver(q, status, reason, now);
            }
        }
        self.release_store(session);
        self.check_all_delivered(session, now);
    }

    /// Tells the transport to drop the session's store (and its file).
    pub(crate) fn release_store(&mut self, session: SessionKey) {
        if let Some(t) = self.transfer_mut(session)
            && t.store_open
        {
            t.store_open = false;
            self.actions.push_back(Action::ReleaseStore { session });
        }
    }

    /// `MessageReceived` once every byte of a whole message is stored.
    fn check_received(&mut self, session: SessionKey) {
        let Some(t) = self.transfer_mut(session) else {
            return;
        };
        if !t.is_whole() || t.received_reported || t.stored < t.received {
            return;
        }
        t.received_reported = true;
        let (bytes, sender) = (t.received, t.sender);
        Stats::add(&self.metrics.large_messages_received, 1);
        if let Some(sender) = sender {
            self.emit(Event::MessageReceived {
                session,
                participant: sender,
                bytes,
            });
        }
        // Receivers that had every chunk answered before the store caught up.
        let receivers: SmallVec<[ParticipantId; 8]> = self
            .sessions
            .get(&session)
            .map(|s| s.participants.iter().copied().collect())
            .unwrap_or_default();
        let now = self.now;
        for q in receivers {
            self.check_delivered(session, q, now);
        }
    }

    /// Once every receiver has the message or failed: `LargeMessageComplete`,
    /// the sender's success REPORT when all have it, and the linger timer.
    fn check_all_delivered(&mut self, session: SessionKey, now: Instant) {
        let Some(s) = self.sessions.get(&session) else {
            return;
        };
        let Some(t) = s.transfer.as_deref() else {
            return;
        };
        if t.complete_reported || !(t.is_whole() || matches!(t.state, State::Failed(_))) {
            return;
        }
        if t.is_whole() && !t.received_reported {
            return;
        }
        let (mut delivered, mut failed, mut receivers) = (0u32, 0u32, 0u32);
        for q in &s.participants {
            if Some(*q) == t.sender {
                continue;
            }
            let Some(Member::LargeMessage(LargeMember::Receiver(r))) =
                self.participants.get(q).map(|p| &p.member)
            else {
                continue;
            };
            receivers += 1;
            match r.outcome {
                Outcome::Pending => return,
                Outcome::Delivered => delivered += 1,
                Outcome::Failed(_) => failed += 1,
            }
        }
        if receivers == 0 {
            return;
        }
        let success = t.success_report && failed == 0;
        let report = success
            .then(|| Some((t.sender?, t.incoming?, t.received)))
            .flatten();
        let linger = self.config.large_message_linger;
        if let Some(t) = self.transfer_mut(session) {
            t.complete_reported = true;
            t.release_at = Some(now + linger);
            t.window.clear();
            t.window_bytes = 0;
        }
        self.transactions
            .schedule(now + linger, Timer::Release(session));
        if let Some((sender, incoming, size)) = report {
            let range = ByteRange {
                start: 1,
                end: Some(size),
                total: Some(size),
            };
            self.report(sender, &incoming, range, StatusCode::OK);
        }
        self.release_store(session);
        self.emit(Event::LargeMessageComplete {
            session,
            delivered,
            failed,
        });
    }

    /// Participant `id` joined a large message session: the sender is noted, a
    /// receiver fed what there is.
    pub(crate) fn large_joined(&mut self, session: SessionKey, id: ParticipantId) {
        let is_sender = self
            .participants
            .get(&id)
            .is_some_and(|p| matches!(p.member, Member::LargeMessage(LargeMember::Sender)));
        if is_sender {
            if let Some(t) = self.transfer_mut(session) {
                t.sender = Some(id);
            }
        } else {
            // A receiver added after the others were done makes it not done.
            if let Some(t) = self.transfer_mut(session)
                && t.complete_reported
                && t.is_whole()
            {
                t.complete_reported = false;
                t.release_at = None;
            }
            let now = self.now;
            self.feed_receiver(session, id, now);
        }
    }

    /// Participant `id`'s connection went, or it is being removed (`status`
    /// says which): a receiver fails, the sender fails the message unless it
    /// was whole.
    pub(crate) fn large_left(&mut self, id: ParticipantId, status: StatusCode, now: Instant) {
        let Some(p) = self.participants.get(&id) else {
            return;
        };
        let session = p.session;
        match &p.member {
            Member::LargeMessage(LargeMember::Sender) => {
                let live = self
                    .transfer(session)
                    .is_some_and(|t| t.state == State::Receiving);
                if live {
                    self.fail_transfer(session, status, "the sender left mid-message", now);
                }
            }
            // Every chunk answered (and reported, if asked): it has the
            // message, whatever becomes of its connection now.
            Member::LargeMessage(LargeMember::Receiver(r))
                if r.ended && r.outstanding == 0 && self.fully_reported(session, r) => {}
            Member::LargeMessage(LargeMember::Receiver(_)) => {
                let reason = if status == StatusCode::SESSION_DOES_NOT_EXIST {
                    "the receiver was removed"
                } else {
                    "the receiver's connection was lost"
                };
                self.fail_receiver(id, status, reason, now);
            }
            _ => {}
        }
    }

    /// True if `r`'s success REPORTs cover the message, or none were asked for.
    fn fully_reported(&self, session: SessionKey, r: &Receiving) -> bool {
        self.transfer(session)
            .is_some_and(|t| t.is_whole() && (!t.success_report || r.reported >= t.received))
    }

    /// Drain: every receiver still waiting fails with 408, and its sender gets
    /// the Failure-Report it asked for. Returns the receivers failed.
    pub(crate) fn fail_pending_receivers(&mut self, now: Instant) -> usize {
        let pending: Vec<ParticipantId> = self
            .participants
            .iter()
            .filter(|(_, p)| {
                matches!(&p.member, Member::LargeMessage(LargeMember::Receiver(r)) if r.outcome == Outcome::Pending)
            })
            .map(|(id, _)| *id)
            .collect();
        for &q in &pending {
            self.fail_receiver(
                q,
                StatusCode::TRANSACTION_DID_NOT_COMPLETE,
                "the switch is shutting down",
                now,
            );
        }
        pending.len()
    }

    /// True while a large message has receivers still waiting for it.
    pub(crate) fn large_pending(&self) -> bool {
        self.participants.values().any(|p| {
            matches!(&p.member, Member::LargeMessage(LargeMember::Receiver(r)) if r.outcome == Outcome::Pending)
        }) && self
            .sessions
            .values()
            .any(|s| s.transfer.as_deref().is_some_and(Transfer::is_live))
    }

    /// The linger release of a complete large message session, if due.
    pub(crate) fn large_release_due(&self, key: SessionKey, now: Instant) -> bool {
        self.transfer(key)
            .and_then(|t| t.release_at)
            .is_some_and(|at| at <= now)
    }
}
