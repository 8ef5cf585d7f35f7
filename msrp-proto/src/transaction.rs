//! Requests the switch wrote and waits on (RFC 4975 §7.1.1: a request with no response
//! within the timeout has failed), and the one timer queue of a shard.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap as HashMap;
use std::time::Instant;

use crate::codec::{FailureReport, MessageId, TransactionId};
use std::sync::Arc;

use crate::relay::ReportTo;

use crate::ids::{ConnId, ParticipantId, SessionKey};

/// What an outstanding request was.
#[derive(Debug, Clone)]
pub(crate) enum Sent {
    /// A forwarded chunk: on failure, the original sender may get a REPORT.
    Chunk {
        /// The participant the chunk went to.
        to: ParticipantId,
        /// The participant that sent the message.
        sender: ParticipantId,
        message_id: MessageId,
        /// Byte-Range of the chunk in the message: start, end (once known), total.
        start: u64,
        end: Option<u64>,
        total: Option<u64>,
        failure_report: FailureReport,
    },
    /// Our bodiless bind SEND after connecting out (RFC 4975 §5.4), on `conn`.
    Bind { to: ParticipantId, conn: ConnId },
    /// A chunk of a large message to one of its receivers (`large_message.rs`):
    /// its answer decides the receiver's delivery.
    Large {
        /// The receiver.
        to: ParticipantId,
        /// Its session.
        session: SessionKey,
    },
    /// A request the relay sent on whose response goes back to its sender (RFC
    /// 4976 §6.4.2, §6.4.3: AUTH to an outer relay, NICKNAME, other methods).
    EndToEnd {
        /// The connection its sender is on.
        back: ConnId,
        /// The sender's transaction id, which the response goes back under.
        tid: TransactionId,
        /// How many of the relay's URIs led the request's To-Path.
        ours: u8,
    },
    /// A SEND chunk the relay sent on (RFC 4976 §6.4.1): on failure its sender,
    /// on `back`, may get a REPORT.
    Relayed {
        /// The connection it went out on.
        to: ConnId,
        /// The connection its sender is on.
        back: ConnId,
        /// The REPORT's paths (shared: rarely used, the same for a client's
        /// requests, and the map's entries stay small).
        report_to: Arc<ReportTo>,
        message_id: MessageId,
        start: u64,
        end: u64,
        total: Option<u64>,
        failure_report: FailureReport,
    },
}

/// Something due at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// A transaction's response is due.
    Transaction(TransactionId),
    /// An accepted connection must have bound by now.
    Bind(ConnId),
    /// A session's idle period may have passed.
    Idle(SessionKey),
    /// A group participant's leg has been over its bound for the grace period.
    SlowConsumer(ParticipantId),
    /// A session's maximum duration or idle release time may have passed.
    Release(SessionKey),
    /// The switch's offer to a participant may have waited too long for its answer.
    Offer(ParticipantId),
}

/// A timer in the heap, ordered by its deadline and then by when it was
/// scheduled, never by what it is: a batch of chunks armed at one `now` shares a
/// deadline, and comparing their transaction ids (64 bytes each) would both cost
/// a memcmp per push and shuffle the heap for nothing. Equal deadlines fire in the
/// order they were set.
#[derive(Debug, Clone, Copy)]
struct Due {
    at: Instant,
    seq: u64,
    timer: Timer,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Heap size below which answered timers are left to expire on their own.
const COMPACT_ABOVE: usize = 1024;

/// Outstanding requests by transaction id, and every deadline in one heap. Entries
/// are removed lazily: a popped timer whose transaction is already answered is
/// ignored.
#[derive(Debug, Default)]
pub(crate) struct Transactions {
    /// Each request, and when it was queued whole (armed; `None` while a
    /// chunk still streams).
    sent: HashMap<TransactionId, (Sent, Option<Instant>)>,
    timers: BinaryHeap<Reverse<Due>>,
    /// The next timer's [`Due::seq`].
    scheduled: u64,
    /// When the request [`Transactions::expire`] last gave out was armed, for
    /// [`Transactions::hold`].
    expired_armed: Option<Instant>,
}

impl Transactions {
    /// Records a request whose response is not yet due (a chunk still streaming).
    pub(crate) fn insert(&mut self, tid: TransactionId, sent: Sent) {
        self.sent.insert(tid, (sent, None));
    }

    /// The request was queued whole at `now`: its response is due `timeout`
    /// later.
    pub(crate) fn arm(&mut self, tid: TransactionId, now: Instant, timeout: std::time::Duration) {
        self.arm_ending(tid, None, now, timeout);
    }

    /// Puts back the request [`Transactions::expire`] just gave out (its
    /// receiver is slow, not gone), due again at `until`.
    pub(crate) fn hold(&mut self, tid: TransactionId, sent: Sent, until: Instant) {
        self.sent.insert(tid, (sent, self.expired_armed));
        self.schedule(until, Timer::Transaction(tid));
    }

    /// Schedules any other timer.
    pub(crate) fn schedule(&mut self, deadline: Instant, timer: Timer) {
        let seq = self.scheduled;
        self.scheduled += 1;
        self.timers.push(Reverse(Due {
            at: deadline,
            seq,
            timer,
        }));
    }

    /// The response arrived: forget the request; what it was, and when it was
    /// queued whole.
    pub(crate) fn answer_timed(&mut self, tid: &TransactionId) -> Option<(Sent, Option<Instant>)> {
        let sent = self.sent.remove(tid);
        // Answered timers are dropped lazily; compact when they dominate, so the heap
        // holds O(outstanding) entries, not every chunk of the last timeout period.
        if self.timers.len() > COMPACT_ABOVE && self.timers.len() > 4 * self.sent.len() {
            let live = &self.sent;
            self.timers.retain(|Reverse(due)| match &due.timer {
                Timer::Transaction(tid) => live.contains_key(tid),
                Timer::Bind(_)
                | Timer::Idle(_)
                | Timer::SlowConsumer(_)
                | Timer::Release(_)
                | Timer::Offer(_) => true,
            });
        }
        sent
    }

    /// A forwarded chunk's end-line was queued at `now`: its range ends at
    /// `chunk_end` and its response is due `timeout` later. One lookup for both,
    /// as every 1:1 chunk ends this way.
    pub(crate) fn arm_chunk(
        &mut self,
        tid: TransactionId,
        chunk_end: u64,
        now: Instant,
        timeout: std::time::Duration,
    ) {
        self.arm_ending(tid, Some(chunk_end), now, timeout);
    }

    /// [`Transactions::arm`], setting a chunk's range end in the same lookup.
    fn arm_ending(
        &mut self,
        tid: TransactionId,
        chunk_end: Option<u64>,
        now: Instant,
        timeout: std::time::Duration,
    ) {
        if let Some((sent, armed)) = self.sent.get_mut(&tid) {
            if let (Some(chunk_end), Sent::Chunk { end, .. }) = (chunk_end, sent) {
                *end = Some(chunk_end);
            }
            *armed = Some(now);
        }
        self.schedule(now + timeout, Timer::Transaction(tid));
    }

    /// The earliest deadline, for the driver's sleep.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse(due)| due.at)
    }

    /// Pops the next timer due at `now`; transactions come with what was sent.
    pub(crate) fn expire(&mut self, now: Instant) -> Option<(Timer, Option<Sent>)> {
        loop {
            let Reverse(Due { at, timer, .. }) = *self.timers.peek()?;
            if at > now {
                return None;
            }
            self.timers.pop();
            match timer {
                Timer::Transaction(tid) => {
                    if let Some((sent, armed)) = self.sent.remove(&tid) {
                        self.expired_armed = armed;
                        return Some((timer, Some(sent)));
                    }
                }
                Timer::Bind(_)
                | Timer::Idle(_)
                | Timer::SlowConsumer(_)
                | Timer::Release(_)
                | Timer::Offer(_) => {
                    return Some((timer, None));
                }
            }
        }
    }

    /// Forgets every request sent to `to` (it was removed).
    pub(crate) fn forget_participant(&mut self, to: ParticipantId) {
        self.sent.retain(|_, (sent, _)| match sent {
            Sent::Chunk { to: t, .. } | Sent::Bind { to: t, .. } | Sent::Large { to: t, .. } => {
                *t != to
            }
            Sent::Relayed { .. } | Sent::EndToEnd { .. } => true,
        });
    }

    /// Takes out every outstanding request `pick` selects (their timers go
    /// lazily), ordered by message and position so REPORTs come out in a stable
    /// order whatever the map's.
    pub(crate) fn take_chunks(&mut self, pick: impl Fn(&Sent) -> bool) -> Vec<Sent> {
        let mut picked: Vec<Sent> = Vec::new();
        self.sent.retain(|_, (sent, _)| {
            if pick(sent) {
                picked.push(sent.clone());
                false
            } else {
                true
            }
        });
        picked.sort_by_key(|sent| match sent {
            Sent::Chunk {
                message_id, start, ..
            }
            | Sent::Relayed {
                message_id, start, ..
            } => (message_id.as_bytes().to_vec(), *start),
            Sent::Bind { .. } | Sent::EndToEnd { .. } | Sent::Large { .. } => (Vec::new(), 0),
        });
        picked
    }

    /// Outstanding requests.
    pub(crate) fn len(&self) -> usize {
        self.sent.len()
    }

    /// Timers in the heap, live or stale.
    pub(crate) fn timer_count(&self) -> usize {
        self.timers.len()
    }

    /// Drops every timer `keep` rejects (its session, participant or connection is
    /// gone) and every answered transaction's.
    pub(crate) fn compact(&mut self, keep: impl Fn(&Timer) -> bool) {
        let live = &self.sent;
        self.timers.retain(|Reverse(due)| match &due.timer {
            Timer::Transaction(tid) => live.contains_key(tid),
            other => keep(other),
        });
    }
}
