//! Output queues: a participant's leg (the frames and chunk parts waiting to be
//! written to its connection, in order) and the byte [`Queue`] both a leg and a
//! connection are built from.
//!
//! One rule for the queue gauge lives here: every byte enters a [`Queue`] through
//! [`Queue::push`] and leaves through [`Queue::take`], [`Queue::clear`] or drop, and
//! each of those moves `msrp_switch_queue_bytes` by exactly its length. No caller
//! counts queued bytes, so the gauge cannot drift.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::ids::ConnId;
use crate::stats::Stats;

/// Bytes waiting to be written, counted into the shard's queue gauge.
#[derive(Debug)]
pub(crate) struct Queue {
    pieces: VecDeque<Bytes>,
    bytes: usize,
    stats: Arc<Stats>,
}

impl Queue {
    /// An empty queue counting into `stats`.
    pub(crate) fn new(stats: Arc<Stats>) -> Self {
        Self {
            pieces: VecDeque::new(),
            bytes: 0,
            stats,
        }
    }

    /// Bytes queued.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// True if nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Appends a piece; empty pieces are dropped (they would be empty iovecs).
    pub(crate) fn push(&mut self, piece: Bytes) {
        if piece.is_empty() {
            return;
        }
        self.bytes += piece.len();
        Stats::shift(&self.stats.queue_bytes, piece.len() as i64);
        self.pieces.push_back(piece);
    }

    /// Moves every piece of `other` to the end of this queue (the gauge is
    /// unchanged: the bytes stay queued).
    pub(crate) fn append(&mut self, other: &mut Queue) {
        self.bytes += other.bytes;
        other.bytes = 0;
        self.pieces.append(&mut other.pieces);
    }

    /// Moves up to `max_bytes` (at least one piece, if any) into `into`; returns
    /// the bytes moved.
    pub(crate) fn take(&mut self, into: &mut Vec<Bytes>, max_bytes: usize) -> usize {
        let mut taken = 0;
        while let Some(piece) = self.pieces.front() {
            if taken > 0 && taken + piece.len() > max_bytes {
                break;
            }
            taken += piece.len();
            if let Some(piece) = self.pieces.pop_front() {
                into.push(piece);
            }
        }
        self.bytes -= taken;
        Stats::shift(&self.stats.queue_bytes, -(taken as i64));
        taken
    }

    /// Drops everything; returns the bytes dropped.
    pub(crate) fn clear(&mut self) -> usize {
        let dropped = self.bytes;
        self.pieces.clear();
        self.bytes = 0;
        Stats::shift(&self.stats.queue_bytes, -(dropped as i64));
        dropped
    }
}

impl Drop for Queue {
    /// A queue that goes away (its connection closed, its participant removed)
    /// takes its bytes off the gauge.
    fn drop(&mut self) {
        self.clear();
    }
}

/// What is queued for one participant.
///
/// A chunk is forwarded cut-through: its head goes out before its body has arrived,
/// so while a chunk is *open* nothing else may be written to the leg. Whole frames
/// that arrive meanwhile (responses, REPORTs) wait in `held` until the chunk ends,
/// or until the switch interrupts it (RFC 4975 §7.1: end it with `+`, resume later).
#[derive(Debug)]
pub(crate) struct Leg {
    out: Queue,
    held: Queue,
    /// A forwarded chunk's head is written and its end-line is not.
    pub(crate) open: bool,
    /// The connection whose input feeds the open chunk.
    pub(crate) feeder: Option<ConnId>,
}

impl Leg {
    /// An empty leg counting into `stats`.
    pub(crate) fn new(stats: &Arc<Stats>) -> Self {
        Self {
            out: Queue::new(Arc::clone(stats)),
            held: Queue::new(Arc::clone(stats)),
            open: false,
            feeder: None,
        }
    }

    /// Bytes queued and not yet handed to the socket.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.out.bytes() + self.held.bytes()
    }

    /// True if anything is ready to write.
    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Whole frames wait behind an open chunk.
    pub(crate) fn has_held(&self) -> bool {
        !self.held.is_empty()
    }

    /// Appends part of the open chunk (its head, a body piece, its end-line).
    pub(crate) fn push_chunk_part(&mut self, part: Bytes) {
        self.out.push(part);
    }

    /// Appends a whole frame: now if no chunk is open, else after it; true if held.
    pub(crate) fn push_frame(&mut self, frame: Bytes) -> bool {
        if self.open {
            self.held.push(frame);
            return true;
        }
        self.out.push(frame);
        false
    }

    /// The open chunk ended (or was interrupted): held frames may go.
    pub(crate) fn close_chunk(&mut self) {
        self.open = false;
        self.feeder = None;
        self.out.append(&mut self.held);
    }

    /// Moves up to `max_bytes` (at least one piece) into `into`.
    pub(crate) fn take(&mut self, into: &mut Vec<Bytes>, max_bytes: usize) -> usize {
        self.out.take(into, max_bytes)
    }

    /// Moves everything ready to write to the end of `queue` (a connection's, when
    /// the participant leaves it).
    pub(crate) fn drain_into(&mut self, queue: &mut Queue) {
        queue.append(&mut self.out);
    }

    /// Drops everything: the connection it was written to is gone, and a half
    /// written frame cannot be continued on a new one.
    pub(crate) fn clear(&mut self) -> usize {
        let dropped = self.out.clear() + self.held.clear();
        self.open = false;
        self.feeder = None;
        dropped
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    #[test]
    fn frames_wait_behind_an_open_chunk() {
        let stats = Arc::new(Stats::default());
        let mut leg = Leg::new(&stats);
        leg.open = true;
        leg.push_chunk_part(Bytes::from_static(b"head"));
        leg.push_frame(Bytes::from_static(b"report"));
        leg.push_chunk_part(Bytes::from_static(b"body"));
        leg.close_chunk();
        let mut out = Vec::new();
        assert_eq!(leg.take(&mut out, 1 << 20), 14);
        assert_eq!(out, ["head", "body", "report"]);
        assert_eq!(leg.queued_bytes(), 0);
        assert_eq!(stats.queue_bytes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_gauge_follows_every_byte_in_and_out() {
        let stats = Arc::new(Stats::default());
        let gauge = || stats.queue_bytes.load(Ordering::Relaxed);
        let mut conn = Queue::new(Arc::clone(&stats));
        let mut leg = Leg::new(&stats);
        leg.push_frame(Bytes::from_static(b"12345"));
        conn.push(Bytes::from_static(b"abc"));
        assert_eq!(gauge(), 8);
        leg.drain_into(&mut conn);
        assert_eq!((gauge(), conn.bytes(), leg.queued_bytes()), (8, 8, 0));
        let mut out = Vec::new();
        assert_eq!(conn.take(&mut out, 4), 3, "whole pieces only");
        assert_eq!(gauge(), 5);
        leg.push_frame(Bytes::from_static(b"zz"));
        drop(leg);
        assert_eq!(gauge(), 5, "a dropped leg takes its bytes off");
        drop(conn);
        assert_eq!(gauge(), 0);
    }
}
