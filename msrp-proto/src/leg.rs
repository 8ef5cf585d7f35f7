//! A participant's outgoing leg: the bytes waiting to be written to its connection,
//! in order, and whether a forwarded chunk is open on it.

use std::collections::VecDeque;

use bytes::Bytes;

/// What is queued for one participant.
///
/// A chunk is forwarded cut-through: its head goes out before its body has arrived,
/// so while a chunk is *open* nothing else may be written to the leg. Whole frames
/// that arrive meanwhile (responses, REPORTs) wait in `held` until the chunk ends,
/// or until the switch interrupts it (RFC 4975 §7.1: end it with `+`, resume later).
#[derive(Debug, Default)]
pub(crate) struct Leg {
    out: VecDeque<Bytes>,
    held: VecDeque<Bytes>,
    /// Bytes in `out` and `held`: what the queue bound counts.
    queued_bytes: usize,
    /// A forwarded chunk's head is written and its end-line is not.
    pub(crate) open: bool,
    /// The connection whose input feeds the open chunk.
    pub(crate) feeder: Option<crate::ids::ConnId>,
    /// Active role: our bodiless bind SEND is unanswered; msrplib drops a connection
    /// that gets a SEND with a body before that answer, so data waits.
    pub(crate) awaiting_bind: bool,
    /// Data frames held while `awaiting_bind`.
    parked: VecDeque<Bytes>,
}

impl Leg {
    /// Bytes queued and not yet handed to the socket.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.queued_bytes
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
        if part.is_empty() {
            return;
        }
        self.queued_bytes += part.len();
        if self.awaiting_bind {
            self.parked.push_back(part);
        } else {
            self.out.push_back(part);
        }
    }

    /// Appends a whole frame: now if no chunk is open, else after it; true if held.
    pub(crate) fn push_frame(&mut self, frame: Bytes) -> bool {
        self.queued_bytes += frame.len();
        if self.open {
            self.held.push_back(frame);
            return true;
        } else if self.awaiting_bind {
            self.parked.push_back(frame);
        } else {
            self.out.push_back(frame);
        }
        false
    }

    /// Writes a frame ahead of anything parked (our bind SEND itself).
    pub(crate) fn push_control(&mut self, frame: Bytes) {
        self.queued_bytes += frame.len();
        self.out.push_back(frame);
    }

    /// The open chunk ended (or was interrupted): held frames may go.
    pub(crate) fn close_chunk(&mut self) {
        self.open = false;
        self.feeder = None;
        let target = if self.awaiting_bind {
            &mut self.parked
        } else {
            &mut self.out
        };
        target.extend(self.held.drain(..));
    }

    /// Our bind SEND was answered: release what waited for it.
    pub(crate) fn bind_answered(&mut self) {
        self.awaiting_bind = false;
        self.out.extend(self.parked.drain(..));
    }

    /// Moves up to `max_bytes` (at least one piece) into `into`.
    pub(crate) fn take(&mut self, into: &mut Vec<Bytes>, max_bytes: usize) -> usize {
        let mut taken = 0;
        while let Some(piece) = self.out.front() {
            if taken > 0 && taken + piece.len() > max_bytes {
                break;
            }
            taken += piece.len();
            if let Some(piece) = self.out.pop_front() {
                into.push(piece);
            }
        }
        self.queued_bytes -= taken;
        taken
    }

    /// Drops everything: the connection it was written to is gone, and a half
    /// written frame cannot be continued on a new one.
    pub(crate) fn clear(&mut self) -> usize {
        let dropped = self.queued_bytes;
        self.out.clear();
        self.held.clear();
        self.parked.clear();
        self.queued_bytes = 0;
        self.open = false;
        self.feeder = None;
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_wait_behind_an_open_chunk() {
        let mut leg = Leg {
            open: true,
            ..Leg::default()
        };
        leg.push_chunk_part(Bytes::from_static(b"head"));
        leg.push_frame(Bytes::from_static(b"report"));
        leg.push_chunk_part(Bytes::from_static(b"body"));
        leg.close_chunk();
        let mut out = Vec::new();
        assert_eq!(leg.take(&mut out, 1 << 20), 14);
        assert_eq!(out, ["head", "body", "report"]);
        assert_eq!(leg.queued_bytes(), 0);
    }

    #[test]
    fn data_waits_for_the_bind_answer() {
        let mut leg = Leg {
            awaiting_bind: true,
            ..Leg::default()
        };
        leg.push_control(Bytes::from_static(b"bind"));
        leg.push_frame(Bytes::from_static(b"data"));
        let mut out = Vec::new();
        leg.take(&mut out, 1 << 20);
        assert_eq!(out, ["bind"]);
        leg.bind_answered();
        leg.take(&mut out, 1 << 20);
        assert_eq!(out, ["bind", "data"]);
    }
}
