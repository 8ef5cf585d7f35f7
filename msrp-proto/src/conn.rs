//! One MSRP connection: its decoder, the frames it is owed of its own (answers
//! before it is bound, the switch's bind SEND), what the frame being read is doing,
//! and its lifecycle.

use std::sync::Arc;
use std::time::Instant;

use smallvec::{SmallVec, smallvec};

use crate::codec::{Decoder, HeadBox, Limits};
use crate::ids::ParticipantId;
use crate::leg::Queue;
use crate::relay::RelayForward;
use crate::report::Reply;
use crate::security::Security;
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
///                              Bound({p}) ───────── the participants' legs are written,
///                                 │    ▲             interleaved at frame ends
///   a request for q, q's media    │    │ its answer queued (q requested), or the
///   say connection:existing ──────┘    │ 200 to our bind SEND for q (q active,
///   (or the switch, active for q,      │ connection:existing): q's leg is written
///   sends q's bind SEND on it)         │
///                    Bound({p}, joining q) ─┘
///
///   Bound({p, q}) ── q removed, q's new path, q dropped ──▶ Bound({p})
///                    (the rest of a frame of q's half written goes first)
///
///   Accepted ── an AUTH granted, or a request through the relay ──▶ Relay
///   RelayConnecting (to a next hop) ── connected ──────────────────▶ Relay
///               (RFC 4976: relay traffic only, see `relay/`; closes as below)
///
///   removal of its last participant, a new path, bind timeout, refused bind,
///   framing lost
///                                    ▼
///                                 Closing ──── write what is queued, then close
///
///   any state ── stalled receiver / slow consumer of a connection it alone
///                uses ──▶ Aborted (close now, discard output)
///   handle_close removes the connection from the endpoint in every state, and
///   every participant on it is lost.
/// ```
///
/// Until a participant's leg is writable (`Bound`, and not joining), only the
/// connection's own queue carries frames for it: the answer to the request that
/// bound it (or the switch's bind SEND) always goes before anything queued for
/// the participant, which a real client (msrplib) insists on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    /// Accepted; no request has named a participant yet.
    Accepted,
    /// The switch is connecting out for the participant.
    Connecting(ParticipantId),
    /// Routed to the participant; the bind is not complete yet.
    Binding(ParticipantId, Bind),
    /// Carries the legs of its participants: one, or several sessions of this
    /// shard sharing it (`a=connection:existing`, RFC 6135).
    Bound(Members),
    /// The relay is connecting out to a next hop (RFC 4976 §7.4); what it
    /// relays there waits in the connection's own queue.
    RelayConnecting,
    /// Carries RFC 4976 relay traffic only: a client authenticated on it, a
    /// request through the relay came on it, or the relay opened it to a next hop
    /// (see `relay/`).
    Relay,
    /// Writes what it has, then closes.
    Closing,
    /// Closes now without writing the rest.
    Aborted,
}

/// The participants a bound connection carries. One in the common case, held
/// inline: binding, routing and writing a connection of its own allocate nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Members {
    /// Participants whose legs are written, in round-robin order.
    pub(crate) bound: SmallVec<[ParticipantId; 1]>,
    /// Participants binding on top of them (see [`Bind`]): nothing of their legs
    /// is written until their bind completes.
    pub(crate) joining: Vec<(ParticipantId, Bind)>,
}

impl Members {
    /// A connection bound to `id` alone.
    pub(crate) fn one(id: ParticipantId) -> Self {
        Self {
            bound: smallvec![id],
            joining: Vec::new(),
        }
    }

    /// Participants on it, bound or joining.
    pub(crate) fn len(&self) -> usize {
        self.bound.len() + self.joining.len()
    }

    /// Takes `id` off it; true if it was there.
    pub(crate) fn remove(&mut self, id: ParticipantId) -> bool {
        let before = self.len();
        self.bound.retain(|p| *p != id);
        self.joining.retain(|(p, _)| *p != id);
        self.len() != before
    }

    /// `id`'s bind completed: its leg is written from now on.
    pub(crate) fn complete(&mut self, id: ParticipantId) -> bool {
        let before = self.joining.len();
        self.joining.retain(|(p, _)| *p != id);
        if self.joining.len() == before {
            return false;
        }
        self.bound.push(id);
        true
    }
}

/// What the connection's writer is in the middle of: a frame is never cut by
/// another one, so the source whose last piece taken did not end its frame is
/// taken from next (RFC 4975 §7.1: frames interleave at end-lines only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writing {
    /// Between frames.
    Idle,
    /// In a frame of the connection's own queue.
    Own,
    /// In a frame of this participant's leg.
    Leg(ParticipantId),
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
        head: HeadBox,
    },
    /// A group chunk being gathered for fan-out.
    Fanout(Box<Fanout>),
    /// A large message's chunk from its sender (`large_message.rs`).
    Large(Box<crate::session::large_message::LargeChunk>),
    /// A request going through the relay (RFC 4976).
    Relay(Box<RelayForward>),
    /// A whole frame to write at the end-line (an AUTH answer); with `close` the
    /// connection then closes.
    Respond {
        /// The frame.
        frame: bytes::Bytes,
        /// Close once it is written.
        close: bool,
    },
}

/// One connection's state in the endpoint.
pub(crate) struct Conn {
    pub(crate) decoder: Decoder,
    pub(crate) state: State,
    /// Its own frames: answers while it is not bound (and answers to requests no
    /// participant on it takes), the switch's bind SENDs, what a participant
    /// leaving it had queued. Written before the legs, at frame ends.
    pub(crate) out: Queue,
    /// The source a frame is half written from, if any.
    pub(crate) writing: Writing,
    /// Where the round robin over the legs starts next.
    pub(crate) next_leg: usize,
    pub(crate) inbound: Inbound,
    /// The box of the last finished `Forward`, reused by the next chunk so that
    /// forwarding allocates nothing per chunk.
    pub(crate) spare: Option<Box<Forward>>,
    /// Likewise for group chunks.
    pub(crate) spare_fanout: Option<Box<Fanout>>,
    /// Likewise for requests through the relay.
    pub(crate) spare_relay: Option<Box<RelayForward>>,
    /// The socket took nothing on the last write (its peer is not reading). A fact
    /// the transport reports, not a lifecycle state.
    pub(crate) write_blocked: bool,
    /// How much the transport has taken, for telling a slow receiver from a
    /// stalled one (see `endpoint/delivery.rs`).
    pub(crate) progress: Progress,
    /// TCP or TLS, and the TLS peer's certificate: what a bind is checked
    /// against (see `security.rs`).
    pub(crate) security: Security,
    /// MSRP over WebSocket (RFC 7977): only WebSocket participants' media ask
    /// for it (see `security.rs`).
    pub(crate) websocket: bool,
    /// The participants on it when it began to close: when it is gone, each
    /// that still has it as its connection is lost.
    pub(crate) parting: SmallVec<[ParticipantId; 1]>,
}

/// Output taken from a connection, and when the switch last saw it grow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress {
    /// Bytes the transport has taken to write, ever.
    pub(crate) taken: u64,
    /// `taken` when last looked at.
    pub(crate) seen: u64,
    /// When `seen` was last updated (or the connection opened).
    pub(crate) seen_at: Instant,
}

impl Conn {
    /// A connection in `state`.
    pub(crate) fn new(limits: &Limits, stats: &Arc<Stats>, state: State, now: Instant) -> Self {
        Self {
            decoder: Decoder::new(limits.clone()),
            state,
            out: Queue::new(Arc::clone(stats)),
            writing: Writing::Idle,
            next_leg: 0,
            inbound: Inbound::Idle,
            spare: None,
            spare_fanout: None,
            spare_relay: None,
            write_blocked: false,
            progress: Progress {
                taken: 0,
                seen: 0,
                seen_at: now,
            },
            security: Security::Plain,
            websocket: false,
            parting: SmallVec::new(),
        }
    }

    /// The participant it is bound or binding to (the first one, when several
    /// sessions share it).
    pub(crate) fn participant(&self) -> Option<ParticipantId> {
        match &self.state {
            State::Connecting(p) | State::Binding(p, _) => Some(*p),
            State::Bound(m) => m.bound.first().copied(),
            State::Accepted
            | State::RelayConnecting
            | State::Relay
            | State::Closing
            | State::Aborted => None,
        }
    }

    /// Every participant bound or binding to it.
    pub(crate) fn participants(&self) -> SmallVec<[ParticipantId; 1]> {
        match &self.state {
            State::Connecting(p) | State::Binding(p, _) => smallvec![*p],
            State::Bound(m) => m
                .bound
                .iter()
                .copied()
                .chain(m.joining.iter().map(|(p, _)| *p))
                .collect(),
            State::Accepted
            | State::RelayConnecting
            | State::Relay
            | State::Closing
            | State::Aborted => SmallVec::new(),
        }
    }

    /// The participants whose legs it carries (bound, not binding or joining).
    pub(crate) fn bound(&self) -> &[ParticipantId] {
        match &self.state {
            State::Bound(m) => &m.bound,
            _ => &[],
        }
    }

    /// The one participant whose leg it carries, when it carries exactly one and
    /// nobody is joining: the common case, which keeps today's single-leg paths.
    pub(crate) fn sole(&self) -> Option<ParticipantId> {
        match &self.state {
            State::Bound(m) if m.joining.is_empty() => match m.bound.as_slice() {
                [one] => Some(*one),
                _ => None,
            },
            _ => None,
        }
    }

    /// True if `id`'s leg is written to it.
    pub(crate) fn is_writable(&self, id: ParticipantId) -> bool {
        self.bound().contains(&id)
    }

    /// True if several participants are on it (bound or joining): sessions share
    /// it, and output and hold-back are decided per leg.
    pub(crate) fn is_shared(&self) -> bool {
        matches!(&self.state, State::Bound(m) if m.len() > 1)
    }

    /// Remembers who was on it as it begins to close.
    fn part(&mut self) {
        if !self.is_closing() {
            self.parting = self.participants();
        }
    }

    /// Every participant that was on it, whether it is closing or not.
    pub(crate) fn all_participants(&self) -> SmallVec<[ParticipantId; 1]> {
        if self.is_closing() {
            self.parting.clone()
        } else {
            self.participants()
        }
    }

    /// True once it is to close (after its output, or at once).
    pub(crate) fn is_closing(&self) -> bool {
        matches!(self.state, State::Closing | State::Aborted)
    }

    /// Leaves its participants: writes what it has, then closes.
    pub(crate) fn close(&mut self) {
        if self.state != State::Aborted {
            self.part();
            self.state = State::Closing;
        }
    }

    /// Closes now: nothing more is written, what waits is discarded.
    pub(crate) fn abort(&mut self) {
        self.part();
        self.state = State::Aborted;
        self.writing = Writing::Idle;
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
        (
            Conn::new(&Limits::default(), &stats, state, Instant::now()),
            stats,
        )
    }

    #[test]
    fn only_a_bound_connection_carries_its_participants_leg() {
        let p = ParticipantId::new(0, 7);
        for (state, participant, bound) in [
            (State::Accepted, None, None),
            (State::Connecting(p), Some(p), None),
            (State::Binding(p, Bind::Answering), Some(p), None),
            (State::Binding(p, Bind::Awaiting), Some(p), None),
            (State::Bound(Members::one(p)), Some(p), Some(p)),
            (State::Closing, None, None),
            (State::Aborted, None, None),
        ] {
            let (c, _) = conn(state.clone());
            assert_eq!(c.participant(), participant, "{state:?}");
            assert_eq!(c.bound().first().copied(), bound, "{state:?}");
            assert_eq!(c.sole(), bound, "{state:?}");
            assert!(!c.is_shared());
            assert_eq!(
                c.is_closing(),
                matches!(state, State::Closing | State::Aborted)
            );
        }
    }

    #[test]
    fn a_joining_participant_is_on_the_connection_but_not_written_until_bound() {
        let (p, q) = (ParticipantId::new(0, 1), ParticipantId::new(0, 2));
        let mut members = Members::one(p);
        members.joining.push((q, Bind::Awaiting));
        let (mut c, _) = conn(State::Bound(members));
        assert!(c.is_shared());
        assert_eq!(c.sole(), None, "someone is joining");
        assert_eq!(c.participants().as_slice(), [p, q]);
        assert!(c.is_writable(p) && !c.is_writable(q));
        let State::Bound(m) = &mut c.state else {
            unreachable!()
        };
        assert!(m.complete(q));
        assert!(!m.complete(q), "completes once");
        assert_eq!(m.bound.as_slice(), [p, q]);
        assert!(m.remove(p));
        assert!(!m.remove(p));
        assert_eq!(m.len(), 1);
        assert_eq!(c.sole(), Some(q));
        assert!(!c.is_shared());
    }

    #[test]
    fn one_participant_is_held_inline() {
        let members = Members::one(ParticipantId::new(0, 1));
        assert!(!members.bound.spilled());
        assert_eq!(members.joining.capacity(), 0);
    }

    #[test]
    fn closing_keeps_the_output_and_aborting_drops_it() {
        let (mut c, stats) = conn(State::Bound(Members::one(ParticipantId::new(0, 1))));
        c.out.push(Bytes::from_static(b"MSRP x 200 OK"), true);
        c.close();
        assert_eq!((&c.state, c.out.bytes()), (&State::Closing, 13));
        c.abort();
        assert_eq!((&c.state, c.out.bytes()), (&State::Aborted, 0));
        assert_eq!(stats.queue_bytes.load(Ordering::Relaxed), 0);
        c.close();
        assert_eq!(c.state, State::Aborted, "an abort is final");
    }
}
