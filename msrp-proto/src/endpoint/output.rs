//! A connection's writer: what [`Endpoint::take_output`] hands the transport, in
//! what order.
//!
//! A connection has its own queue (answers before a bind completes, bind SENDs,
//! what a participant leaving it had queued) and the legs of the participants it
//! carries. Frames never interleave inside one another (RFC 4975 §7.1: a frame
//! ends only at its end-line), so the source a frame is half written from is
//! taken from next ([`Writing`]). Between frames the connection's own queue goes
//! first, then the legs in turn:
//!
//! ```text
//!  own queue ──▶ leg p ──▶ leg q ──▶ leg r ──▶ leg p ──▶ …   one frame per leg per turn
//!                 │
//!                 └─ a chunk streaming cut-through whose sender stalls while
//!                    another source waits: ended with `+` (§7.1) so the turn
//!                    can move on; the rest follows as a new chunk
//! ```
//!
//! A connection that carries one leg (the common case) takes whole batches from
//! it, as it always did; only a shared connection (RFC 6135
//! `a=connection:existing`) takes one frame per leg per turn, so one session
//! streaming a large message in chunks cannot starve another's small ones.
//! Each leg keeps its own queue bound: a leg taken below it wakes the senders
//! it held back (and releases the answers withheld from them, see `sharing.rs`).

use smallvec::SmallVec;

use crate::conn::Writing;
use crate::ids::{ConnId, ParticipantId, SessionKey};
use crate::leg::{Budget, Transmits};

use super::Endpoint;

impl Endpoint {
    /// [`Endpoint::take_output`] for a write at `now` (the forwarding latency
    /// histogram times chunks up to their write).
    pub fn take_output_at(
        &mut self,
        conn: ConnId,
        into: &mut impl Transmits,
        max_bytes: usize,
        now: std::time::Instant,
    ) -> usize {
        self.now = self.now.max(now);
        self.take_output(conn, into, max_bytes)
    }

    /// Moves up to `max_bytes` of output for `conn` into `into` (for one vectored
    /// write, or, with frame ends, one message per frame); returns the bytes moved.
    /// Chunks are timed up to the time of the last call that gave one.
    pub fn take_output(
        &mut self,
        conn: ConnId,
        into: &mut impl Transmits,
        max_bytes: usize,
    ) -> usize {
        let mut taken: usize = 0;
        // Legs drained below their bound: the senders they held back may go on.
        let mut drained: SmallVec<[(SessionKey, ParticipantId); 1]> = SmallVec::new();
        // Legs visited in a row that had nothing: a whole turn of them ends it.
        let mut idle_visits = 0;
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return taken;
            };
            if taken > 0 && taken >= max_bytes {
                break;
            }
            // A shared connection takes one frame per leg per turn.
            let budget = Budget {
                max_bytes: max_bytes - taken,
                one_frame: c.is_shared(),
                first: taken == 0,
            };
            let source = match c.writing {
                // Closing without it: the rest of the frame can no longer come.
                Writing::Leg(_) if c.is_closing() => break,
                Writing::Own | Writing::Leg(_) => c.writing,
                Writing::Idle if !c.out.is_empty() => Writing::Own,
                Writing::Idle => {
                    let bound = c.bound();
                    if idle_visits >= bound.len() {
                        break;
                    }
                    let i = c.next_leg % bound.len();
                    let id = bound[i];
                    c.next_leg = i + 1;
                    idle_visits += 1;
                    if !self
                        .participants
                        .get(&id)
                        .is_some_and(|p| p.leg.has_output())
                    {
                        continue;
                    }
                    idle_visits = 0;
                    Writing::Leg(id)
                }
            };
            let step = match source {
                Writing::Leg(id) => {
                    let Some(p) = self.participants.get_mut(&id) else {
                        // Gone without handing its frame over: nothing can end it.
                        c.writing = Writing::Idle;
                        continue;
                    };
                    let limit = self.config.queue_bytes;
                    let was_full = p.leg.queued_bytes() >= limit;
                    let step = p.leg.take_frames(into, budget, self.now);
                    let full = p.leg.queued_bytes() >= limit;
                    if !full && let Some(g) = p.group_mut() {
                        g.over_since = None;
                    }
                    // Whoever feeds this leg was held back while it was full: let
                    // them read again. Only then, or writers would wake each other
                    // forever (and a group's every member on each write).
                    if was_full && !full {
                        drained.push((p.session, id));
                    }
                    // In a chunk whose sender has not sent the rest yet (not merely
                    // out of budget): on a shared connection, if anything else
                    // waits, the chunk is interrupted so the turn moves on.
                    if step.bytes == 0
                        && !p.leg.has_output()
                        && budget.one_frame
                        && self.others_wait(conn, id)
                        && self.interrupt_chunk_to(id)
                    {
                        continue;
                    }
                    step
                }
                _ => c.out.take_frames(
                    into,
                    Budget {
                        one_frame: false,
                        ..budget
                    },
                ),
            };
            if step.bytes == 0 {
                break;
            }
            taken += step.bytes;
            if let Some(c) = self.conns.get_mut(&conn) {
                c.writing = if step.mid_frame {
                    source
                } else {
                    Writing::Idle
                };
            }
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.progress.taken += taken as u64;
            // Relay senders held back while this queue was over its bound.
            if !self.relay.waiting.is_empty()
                && c.out.bytes() < self.config.queue_bytes
                && self.relay.waiting.contains_key(&conn)
            {
                self.relay_drained(conn);
            }
        }
        for (session, id) in drained {
            self.wake_session(session, id);
            // A large message's receiver takes its next chunks as it drains.
            let now = self.now;
            self.feed_receiver(session, id, now);
        }
        taken
    }

    /// True if output is waiting for `conn`.
    pub fn has_output(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| {
            !c.out.is_empty()
                || c.bound()
                    .iter()
                    .any(|p| self.participants.get(p).is_some_and(|p| p.leg.has_output()))
        })
    }

    /// True if `conn` has output waiting elsewhere than on `id`'s leg: its own
    /// queue or another participant's leg.
    pub(crate) fn others_wait(&self, conn: ConnId, id: ParticipantId) -> bool {
        self.conns.get(&conn).is_some_and(|c| {
            !c.out.is_empty()
                || c.bound().iter().any(|&q| {
                    q != id
                        && self
                            .participants
                            .get(&q)
                            .is_some_and(|q| q.leg.has_output())
                })
        })
    }
}
