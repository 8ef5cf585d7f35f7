//! Output queues: a participant's leg (the frames and chunk parts waiting to be
//! written to its connection, in order) and the byte [`Queue`] both a leg and a
//! connection are built from.
//!
//! Each piece carries whether it ends a frame, so a message-oriented writer
//! (WebSocket, RFC 7977: one chunk per message) can cut the output at chunk
//! boundaries while a stream writer (TCP, TLS) still writes many frames in one
//! vectored write; see [`Transmits`].
//!
//! One rule for the queue gauge lives here: every byte enters a [`Queue`] through
//! [`Queue::push`] and leaves through [`Queue::take_frames`], [`Queue::clear`] or drop, and
//! each of those moves `msrp_switch_queue_bytes` by exactly its length. No caller
//! counts queued bytes, so the gauge cannot drift.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;

use crate::ids::ConnId;
use crate::stats::Stats;

/// Where a connection's output goes when the transport takes it
/// ([`crate::endpoint::Endpoint::take_output`]). A stream writer takes the pieces
/// as they are (`Vec<Bytes>`); a message writer also learns where each frame (a
/// chunk, a response, a REPORT) ends, and puts one frame in one message.
pub trait Transmits {
    /// The next piece of output; `ends_frame` is true for the last piece of a
    /// frame (its end-line).
    fn push_piece(&mut self, piece: Bytes, ends_frame: bool);
}

impl Transmits for Vec<Bytes> {
    fn push_piece(&mut self, piece: Bytes, _ends_frame: bool) {
        self.push(piece);
    }
}

/// How much one take may move ([`Queue::take_frames`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Bytes at most: a piece that would go over stays (but see `first`).
    pub(crate) max_bytes: usize,
    /// No further than the end of the first frame.
    pub(crate) one_frame: bool,
    /// The first take of a write: at least one piece goes, whatever its size,
    /// so every write makes progress.
    pub(crate) first: bool,
}

#[cfg(test)]
impl Budget {
    /// Up to `max_bytes`, frames in a row, at least one piece.
    pub(crate) fn bytes(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            one_frame: false,
            first: true,
        }
    }
}

/// What [`Queue::take_frames`] moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Taken {
    /// Bytes moved.
    pub(crate) bytes: usize,
    /// The last piece moved did not end its frame: the writer goes on with the
    /// same queue, whatever else waits.
    pub(crate) mid_frame: bool,
}

/// Bytes waiting to be written, counted into the shard's queue gauge.
#[derive(Debug)]
pub(crate) struct Queue {
    /// Each piece, and whether it ends its frame.
    pieces: VecDeque<(Bytes, bool)>,
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

    /// Appends a piece; `ends_frame` marks a frame's last piece. Empty pieces are
    /// dropped (they would be empty iovecs).
    pub(crate) fn push(&mut self, piece: Bytes, ends_frame: bool) {
        if piece.is_empty() {
            return;
        }
        self.bytes += piece.len();
        Stats::shift(&self.stats.queue_bytes, piece.len() as i64);
        if self.pieces.capacity() == 0 {
            // Room for one piece first, not the four a first push makes: most
            // legs are idle after their binding's 200, and kept capacity is
            // 120 bytes of every idle leg (issue 20). A busy queue grows as
            // usual, once.
            self.pieces.reserve_exact(1);
        }
        self.pieces.push_back((piece, ends_frame));
    }

    /// Moves every piece of `other` to the end of this queue (the gauge is
    /// unchanged: the bytes stay queued).
    pub(crate) fn append(&mut self, other: &mut Queue) {
        self.bytes += other.bytes;
        other.bytes = 0;
        self.pieces.append(&mut other.pieces);
    }

    /// Moves what `budget` allows into `into`: a connection shared by several
    /// legs interleaves them at frame ends only (`one_frame`).
    pub(crate) fn take_frames(&mut self, into: &mut impl Transmits, budget: Budget) -> Taken {
        let mut taken = Taken {
            bytes: 0,
            mid_frame: false,
        };
        while let Some((piece, _)) = self.pieces.front() {
            let nothing_yet = budget.first && taken.bytes == 0;
            if !nothing_yet && taken.bytes.saturating_add(piece.len()) > budget.max_bytes {
                break;
            }
            taken.bytes += piece.len();
            let Some((piece, ends_frame)) = self.pieces.pop_front() else {
                break;
            };
            into.push_piece(piece, ends_frame);
            taken.mid_frame = !ends_frame;
            if ends_frame && budget.one_frame {
                break;
            }
        }
        self.bytes -= taken.bytes;
        Stats::shift(&self.stats.queue_bytes, -(taken.bytes as i64));
        taken
    }

    /// Moves the pieces up to the end of the first frame (all of them if none
    /// ends one) to the front of `to`, ahead of what it holds: the rest of a
    /// frame half written from this queue, which must be the next bytes on the
    /// wire. Returns true if the frame's end was among them. The gauge is
    /// unchanged (the bytes stay queued).
    pub(crate) fn move_rest_of_frame(&mut self, to: &mut Queue) -> bool {
        let end = self.pieces.iter().position(|(_, ends_frame)| *ends_frame);
        let count = end.map_or(self.pieces.len(), |i| i + 1);
        for (piece, ends_frame) in self.pieces.drain(..count).rev() {
            self.bytes -= piece.len();
            to.bytes += piece.len();
            to.pieces.push_front((piece, ends_frame));
        }
        end.is_some()
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

/// How many of one session's legs hold `threshold` bytes (the queue bound) or
/// more: every leg of the session shares it and keeps it current as bytes enter
/// and leave ([`Leg::recount`]). A sender's queue check ([`crate::endpoint::
/// Endpoint::wants_read`]) runs on every read; it looked up every peer's leg (99
/// lookups in a group of 100), and while no leg is full it now reads one number.
///
/// An atomic only so an endpoint stays `Send`: one shard thread owns the session
/// and touches it, and only when a leg crosses the bound.
#[derive(Debug)]
pub(crate) struct FullLegs {
    threshold: usize,
    count: AtomicUsize,
}

impl FullLegs {
    /// A session's count, for legs full at `threshold` bytes.
    pub(crate) fn new(threshold: usize) -> Arc<Self> {
        Arc::new(Self {
            threshold,
            count: AtomicUsize::new(0),
        })
    }

    /// Legs holding the threshold or more.
    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// The bytes at which a leg counts as full.
    pub(crate) fn threshold(&self) -> usize {
        self.threshold
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
    /// The chunk being timed for the forwarding latency histogram: the bytes
    /// queued ahead of its head, and when the head was queued. One at a time,
    /// so timing costs a comparison per push and per take.
    probe: Option<(usize, Instant)>,
    /// Its session's count of full legs, and whether this leg is in it.
    full: Arc<FullLegs>,
    counted: bool,
}

impl Leg {
    /// An empty leg counting its bytes into `stats` and, while it is full, itself
    /// into its session's `full`.
    pub(crate) fn new(stats: &Arc<Stats>, full: &Arc<FullLegs>) -> Self {
        Self {
            out: Queue::new(Arc::clone(stats)),
            held: Queue::new(Arc::clone(stats)),
            open: false,
            feeder: None,
            probe: None,
            full: Arc::clone(full),
            counted: false,
        }
    }

    /// Its session's count of full legs.
    pub(crate) fn session_full_legs(&self) -> &FullLegs {
        &self.full
    }

    /// Puts the leg in or takes it out of its session's count of full legs, after
    /// every change to what it holds. A comparison, and an atomic add only when
    /// the leg crosses the bound.
    fn recount(&mut self) {
        let full = self.queued_bytes() >= self.full.threshold;
        if full != self.counted {
            self.counted = full;
            if full {
                self.full.count.fetch_add(1, Ordering::Relaxed);
            } else {
                self.full.count.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// A chunk's head is about to be queued at `now`: timed, unless another
    /// is (or it would wait behind an open chunk).
    pub(crate) fn time_head(&mut self, now: Instant) {
        if self.probe.is_none() && !self.open {
            self.probe = Some((self.out.bytes(), now));
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

    /// Appends part of the open chunk: its head or a body piece.
    pub(crate) fn push_chunk_part(&mut self, part: Bytes) {
        self.out.push(part, false);
        self.recount();
    }

    /// Appends the open chunk's end-line.
    pub(crate) fn push_chunk_end(&mut self, end: Bytes) {
        self.out.push(end, true);
        self.recount();
    }

    /// Appends a whole frame: now if no chunk is open, else after it; true if held.
    pub(crate) fn push_frame(&mut self, frame: Bytes) -> bool {
        self.push_frame_part(frame, true)
    }

    /// Appends a piece of a frame written whole (`ends_frame` on its last piece):
    /// now if no chunk is open, else after it; true if held.
    pub(crate) fn push_frame_part(&mut self, part: Bytes, ends_frame: bool) -> bool {
        let held = self.open;
        if held {
            self.held.push(part, ends_frame);
        } else {
            self.out.push(part, ends_frame);
        }
        self.recount();
        held
    }

    /// The open chunk ended (or was interrupted): held frames may go.
    pub(crate) fn close_chunk(&mut self) {
        self.open = false;
        self.feeder = None;
        self.out.append(&mut self.held);
    }

    /// Moves what `budget` allows into `into` (see [`Queue::take_frames`]) at
    /// `now`; a timed head that goes is observed.
    pub(crate) fn take_frames(
        &mut self,
        into: &mut impl Transmits,
        budget: Budget,
        now: Instant,
    ) -> Taken {
        let taken = self.out.take_frames(into, budget);
        if let Some((ahead, at)) = &mut self.probe {
            if taken.bytes > *ahead {
                self.out
                    .stats
                    .forward_latency
                    .observe(now.saturating_duration_since(*at));
                self.probe = None;
            } else {
                *ahead -= taken.bytes;
            }
        }
        self.recount();
        taken
    }

    /// True if the next piece ready continues a frame up to its end: the rest of
    /// the frame the writer is in is all queued.
    pub(crate) fn has_rest_of_frame(&self) -> bool {
        self.out.pieces.iter().any(|(_, ends_frame)| *ends_frame)
    }

    /// Hands what the leg has ready to `queue`, its connection's, as the
    /// participant leaves the connection: with `mid_frame` (the writer is in the
    /// middle of one of the leg's frames) the rest of that frame goes first, ahead
    /// of what `queue` holds; with `all` every later frame follows at its end.
    pub(crate) fn hand_over(&mut self, queue: &mut Queue, mid_frame: bool, all: bool) {
        self.probe = None;
        if mid_frame {
            self.out.move_rest_of_frame(queue);
        }
        if all {
            queue.append(&mut self.out);
        }
        self.recount();
    }

    /// Drops everything: the connection it was written to is gone, and a half
    /// written frame cannot be continued on a new one.
    pub(crate) fn clear(&mut self) -> usize {
        let dropped = self.out.clear() + self.held.clear();
        self.probe = None;
        self.open = false;
        self.feeder = None;
        self.recount();
        dropped
    }
}

impl Drop for Leg {
    /// A leg that goes away while full leaves its session's count.
    fn drop(&mut self) {
        if self.counted {
            self.full.count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod probe_tests {
    use super::*;

    #[test]
    fn a_timed_head_is_observed_when_its_first_byte_is_taken() {
        let stats = Arc::new(Stats::default());
        let mut leg = Leg::new(&stats, &FullLegs::new(usize::MAX));
        let t0 = Instant::now();
        leg.push_frame(Bytes::from_static(b"ahead-of-it"));
        leg.time_head(t0);
        leg.push_frame(Bytes::from_static(b"timed"));
        // A second head is not timed while the first is.
        leg.time_head(t0 + std::time::Duration::from_secs(5));
        leg.push_frame(Bytes::from_static(b"later"));
        let mut out = Vec::new();
        let mut counts = [0u64; crate::stats::LATENCY_BUCKETS.len() + 1];
        let mut sum = 0.0;
        // The bytes ahead go: nothing observed yet.
        leg.take_frames(&mut out, Budget::bytes(11), t0);
        stats.forward_latency.add_to(&mut counts, &mut sum);
        assert_eq!(counts.iter().sum::<u64>(), 0);
        leg.take_frames(
            &mut out,
            Budget::bytes(usize::MAX),
            t0 + std::time::Duration::from_millis(3),
        );
        stats.forward_latency.add_to(&mut counts, &mut sum);
        assert_eq!(counts.iter().sum::<u64>(), 1, "one chunk timed");
        // 3 ms: the 5 ms bucket (index 8).
        assert_eq!(counts[8], 1, "{counts:?}");
        assert!((sum - 0.003).abs() < 1e-9, "{sum}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    #[test]
    fn frames_wait_behind_an_open_chunk() {
        let stats = Arc::new(Stats::default());
        let mut leg = Leg::new(&stats, &FullLegs::new(usize::MAX));
        leg.open = true;
        leg.push_chunk_part(Bytes::from_static(b"head"));
        leg.push_frame(Bytes::from_static(b"report"));
        leg.push_chunk_end(Bytes::from_static(b"body"));
        leg.close_chunk();
        let mut out = Vec::new();
        assert_eq!(
            leg.take_frames(&mut out, Budget::bytes(1 << 20), Instant::now())
                .bytes,
            14
        );
        assert_eq!(out, ["head", "body", "report"]);
        assert_eq!(leg.queued_bytes(), 0);
        assert_eq!(stats.queue_bytes.load(Ordering::Relaxed), 0);
    }

    /// Records where frames end, as a WebSocket writer would.
    struct Framed(Vec<(Bytes, bool)>);

    impl Transmits for Framed {
        fn push_piece(&mut self, piece: Bytes, ends_frame: bool) {
            self.0.push((piece, ends_frame));
        }
    }

    #[test]
    fn frame_ends_survive_holding_and_taking() {
        let stats = Arc::new(Stats::default());
        let mut leg = Leg::new(&stats, &FullLegs::new(usize::MAX));
        leg.open = true;
        leg.push_chunk_part(Bytes::from_static(b"head"));
        leg.push_frame(Bytes::from_static(b"200"));
        leg.push_frame_part(Bytes::from_static(b"report-head"), false);
        leg.push_frame_part(Bytes::from_static(b"report-end"), true);
        leg.push_chunk_part(Bytes::from_static(b"body"));
        leg.push_chunk_end(Bytes::from_static(b"end"));
        leg.close_chunk();
        let mut out = Framed(Vec::new());
        leg.take_frames(&mut out, Budget::bytes(usize::MAX), Instant::now());
        let shape: Vec<(&[u8], bool)> = out.0.iter().map(|(b, e)| (&b[..], *e)).collect();
        assert_eq!(
            shape,
            [
                (&b"head"[..], false),
                (b"body", false),
                (b"end", true),
                (b"200", true),
                (b"report-head", false),
                (b"report-end", true),
            ]
        );
    }

    #[test]
    fn the_gauge_follows_every_byte_in_and_out() {
        let stats = Arc::new(Stats::default());
        let gauge = || stats.queue_bytes.load(Ordering::Relaxed);
        let mut conn = Queue::new(Arc::clone(&stats));
        let mut leg = Leg::new(&stats, &FullLegs::new(usize::MAX));
        leg.push_frame(Bytes::from_static(b"12345"));
        conn.push(Bytes::from_static(b"abc"), true);
        assert_eq!(gauge(), 8);
        leg.hand_over(&mut conn, false, true);
        assert_eq!((gauge(), conn.bytes(), leg.queued_bytes()), (8, 8, 0));
        let mut out = Vec::new();
        assert_eq!(
            conn.take_frames(&mut out, Budget::bytes(4)).bytes,
            3,
            "whole pieces only"
        );
        assert_eq!(gauge(), 5);
        leg.push_frame(Bytes::from_static(b"zz"));
        drop(leg);
        assert_eq!(gauge(), 5, "a dropped leg takes its bytes off");
        drop(conn);
        assert_eq!(gauge(), 0);
    }

    /// Frames as a writer sees them: each piece, and whether it ends its frame.
    fn pieces(out: &Framed) -> Vec<(&[u8], bool)> {
        out.0.iter().map(|(b, e)| (&b[..], *e)).collect()
    }

    #[test]
    fn one_frame_at_a_time_and_the_rest_of_a_half_written_frame_goes_first() {
        let stats = Arc::new(Stats::default());
        let mut leg = Leg::new(&stats, &FullLegs::new(usize::MAX));
        leg.push_frame_part(Bytes::from_static(b"h1"), false);
        leg.push_frame_part(Bytes::from_static(b"e1"), true);
        leg.push_frame(Bytes::from_static(b"f2"));
        let mut out = Framed(Vec::new());
        let taken = leg.take_frames(
            &mut out,
            Budget {
                one_frame: true,
                ..Budget::bytes(usize::MAX)
            },
            Instant::now(),
        );
        assert_eq!((taken.bytes, taken.mid_frame), (4, false));
        assert_eq!(pieces(&out), [(&b"h1"[..], false), (b"e1", true)]);
        // A budget that ends inside a frame leaves the writer in it.
        leg.push_frame_part(Bytes::from_static(b"h3"), false);
        leg.push_frame_part(Bytes::from_static(b"e3"), true);
        let mut out = Framed(Vec::new());
        let taken = leg.take_frames(&mut out, Budget::bytes(2), Instant::now());
        assert_eq!((taken.bytes, taken.mid_frame), (2, false), "f2 whole");
        let taken = leg.take_frames(&mut out, Budget::bytes(2), Instant::now());
        assert_eq!((taken.bytes, taken.mid_frame), (2, true), "h3 of h3 e3");
        // The participant leaves: the rest of its frame goes before what the
        // connection holds, the frames after it behind.
        leg.push_frame(Bytes::from_static(b"f4"));
        let mut conn = Queue::new(Arc::clone(&stats));
        conn.push(Bytes::from_static(b"own"), true);
        assert!(leg.has_rest_of_frame());
        leg.hand_over(&mut conn, true, true);
        let mut out = Framed(Vec::new());
        conn.take_frames(&mut out, Budget::bytes(usize::MAX));
        assert_eq!(
            pieces(&out),
            [(&b"e3"[..], true), (b"own", true), (b"f4", true)]
        );
        assert_eq!(stats.queue_bytes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_count_of_full_legs_follows_every_way_bytes_enter_and_leave() {
        let stats = Arc::new(Stats::default());
        let full = FullLegs::new(10);
        let mut a = Leg::new(&stats, &full);
        let mut b = Leg::new(&stats, &full);
        a.push_chunk_part(Bytes::from_static(b"123456789"));
        assert_eq!(full.count(), 0, "9 bytes are under the bound");
        a.push_chunk_end(Bytes::from_static(b"0"));
        assert_eq!(full.count(), 1, "10 bytes are at the bound: full");
        b.push_frame(Bytes::from_static(b"0123456789ab"));
        assert_eq!(full.count(), 2);
        // Taken by the writer: under the bound again.
        let mut out = Vec::new();
        b.take_frames(&mut out, Budget::bytes(100), Instant::now());
        assert_eq!(full.count(), 1);
        // Held behind an open chunk still counts.
        b.open = true;
        b.push_chunk_part(Bytes::from_static(b"head!"));
        b.push_frame_part(Bytes::from_static(b"held!"), true);
        assert_eq!(full.count(), 2);
        b.close_chunk();
        assert_eq!(full.count(), 2, "closing a chunk moves no byte out");
        // Handed to its connection as the participant leaves it.
        let mut conn = Queue::new(Arc::clone(&stats));
        b.hand_over(&mut conn, false, true);
        assert_eq!(full.count(), 1);
        b.push_frame(Bytes::from_static(b"0123456789"));
        assert_eq!(full.count(), 2);
        assert_eq!(b.clear(), 10);
        assert_eq!(full.count(), 1, "cleared");
        b.push_frame(Bytes::from_static(b"0123456789"));
        drop(b);
        assert_eq!(full.count(), 1, "a dropped full leg is no longer counted");
        drop(a);
        assert_eq!(full.count(), 0);
        drop(conn);
        assert_eq!(stats.queue_bytes.load(Ordering::Relaxed), 0);
    }
}
