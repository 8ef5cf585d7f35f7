//! One MSRP connection: its decoder, the frames it is owed of its own (answers
//! before it is bound, the switch's bind SEND), what the frame being read is doing,
//! and its lifecycle.

use std::sync::Arc;

use crate::codec::{Decoder, Head, Limits};
use crate::ids::ParticipantId;
use crate::leg::Queue;
use crate::report::Reply;
use crate::session::group::Fanout;
use crate::session::one_to_one::Forward;
use crate::stats::Stats;

/// Where a connection is in its life.
///
/// ```text
///   accepted by the transport               Action::Connect (active setup role)
///            │                                          │
///            ▼                                          ▼
///        Accepted                                  Connecting(p)
///            │ a request routes to p                    │ connected: our bodiless
///            │ (RFC 4975 §7.3)                          │ SEND goes first (§5.4)
///            ▼                                          ▼
///   Binding(p, Answering) ─────────┐     ┌───── Binding(p, Awaiting)
///     its end-line handled:        │     │        200 to our SEND
///     the answer to it is queued   ▼     ▼
///                                 Bound(p) ──────── the participant's leg is written
///                                    │
///   removal, a new path, bind timeout, refused bind, framing lost
///                                    ▼
///                                 Closing ──── write what is queued, then close
///
///   any state ── slow consumer dropped ──▶ Aborted (close now, discard output)
///   handle_close removes the connection from the endpoint in every state.
/// ```
///
/// Until a connection is `Bound`, only its own queue is written: the answer to the
/// request that bound it (or the switch's bind SEND) always goes before anything
/// queued for the participant, which a real client (msrplib) insists on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Accepted; no request has named a participant yet.
    Accepted,
    /// The switch is connecting out for the participant.
    Connecting(ParticipantId),
    /// Routed to the participant; the bind is not complete yet.
    Binding(ParticipantId, Bind),
    /// Carries the participant's leg.
    Bound(ParticipantId),
    /// Writes what it has, then closes.
    Closing,
    /// Closes now without writing the rest.
    Aborted,
}

/// How a binding completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bind {
    /// The peer's first request bound it: complete once its answer is queued.
    Answering,
    /// The switch's bodiless SEND bound it: complete on its 200.
    Awaiting,
}

/// What to do with the rest of the frame being read. One per connection, so the
/// inline head in `Report` costs memory once, not an allocation per frame.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Inbound {
    /// Between frames.
    Idle,
    /// A response to a request the switch wrote: it may finish even while the
    /// connection's requests are held back (see `Endpoint::readiness`).
    Response,
    /// A 1:1 chunk being forwarded cut-through.
    Forward(Box<Forward>),
    /// Refused or handled locally: answer (if owed) at the end-line.
    Answer(Option<Reply>),
    /// A REPORT to map onto the peer leg at its end-line.
    Report {
        /// The participant it goes to.
        to: ParticipantId,
        /// The REPORT as received.
        head: Head,
    },
    /// A group chunk being gathered for fan-out.
    Fanout(Box<Fanout>),
}

/// One connection's state in the endpoint.
pub(crate) struct Conn {
    pub(crate) decoder: Decoder,
    pub(crate) state: State,
    /// Its own frames: answers while it is not bound, the switch's bind SEND. Written
    /// before the participant's leg.
    pub(crate) out: Queue,
    pub(crate) inbound: Inbound,
    /// The box of the last finished `Forward`, reused by the next chunk so that
    /// forwarding allocates nothing per chunk.
    pub(crate) spare: Option<Box<Forward>>,
    /// Likewise for group chunks.
    pub(crate) spare_fanout: Option<Box<Fanout>>,
    /// The socket took nothing on the last write (its peer is not reading). A fact
    /// the transport reports, not a lifecycle state.
    pub(crate) write_blocked: bool,
}

impl Conn {
    /// A connection in `state`.
    pub(crate) fn new(limits: &Limits, stats: &Arc<Stats>, state: State) -> Self {
        Self {
            decoder: Decoder::new(limits.clone()),
            state,
            out: Queue::new(Arc::clone(stats)),
            inbound: Inbound::Idle,
            spare: None,
            spare_fanout: None,
            write_blocked: false,
        }
    }

    /// The participant it is bound or binding to.
    pub(crate) fn participant(&self) -> Option<ParticipantId> {
        match self.state {
            State::Connecting(p) | State::Binding(p, _) | State::Bound(p) => Some(p),
            State::Accepted | State::Closing | State::Aborted => None,
        }
    }

    /// The participant whose leg it carries (bound, not binding).
    pub(crate) fn bound(&self) -> Option<ParticipantId> {
        match self.state {
            State::Bound(p) => Some(p),
            _ => None,
        }
    }

    /// True once it is to close (after its output, or at once).
    pub(crate) fn is_closing(&self) -> bool {
        matches!(self.state, State::Closing | State::Aborted)
    }

    /// Leaves its participant: writes what it has, then closes.
    pub(crate) fn close(&mut self) {
        if self.state != State::Aborted {
            self.state = State::Closing;
        }
    }

    /// Closes now: nothing more is written, what waits is discarded.
    pub(crate) fn abort(&mut self) {
        self.state = State::Aborted;
        self.out.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use bytes::Bytes;

    use super::*;

    fn conn(state: State) -> (Conn, Arc<Stats>) {
        let stats = Arc::new(Stats::default());
        (Conn::new(&Limits::default(), &stats, state), stats)
    }

    #[test]
    fn only_a_bound_connection_carries_its_participants_leg() {
        let p = ParticipantId::new(0, 7);
        for (state, participant, bound) in [
            (State::Accepted, None, None),
            (State::Connecting(p), Some(p), None),
            (State::Binding(p, Bind::Answering), Some(p), None),
            (State::Binding(p, Bind::Awaiting), Some(p), None),
            (State::Bound(p), Some(p), Some(p)),
            (State::Closing, None, None),
            (State::Aborted, None, None),
        ] {
            let (c, _) = conn(state);
            assert_eq!(c.participant(), participant, "{state:?}");
            assert_eq!(c.bound(), bound, "{state:?}");
            assert_eq!(
                c.is_closing(),
                matches!(state, State::Closing | State::Aborted)
            );
        }
    }

    #[test]
    fn closing_keeps_the_output_and_aborting_drops_it() {
        let (mut c, stats) = conn(State::Bound(ParticipantId::new(0, 1)));
        c.out.push(Bytes::from_static(b"MSRP x 200 OK"), true);
        c.close();
        assert_eq!((c.state, c.out.bytes()), (State::Closing, 13));
        c.abort();
        assert_eq!((c.state, c.out.bytes()), (State::Aborted, 0));
        assert_eq!(stats.queue_bytes.load(Ordering::Relaxed), 0);
        c.close();
        assert_eq!(c.state, State::Aborted, "an abort is final");
    }
}
