//! What becomes of a message the switch accepted (answered 200) but has not seen
//! acknowledged downstream: it is delivered, or its sender gets the REPORT it
//! asked for (RFC 4975 §7.1.2). The cases that are not plain forwarding live
//! here: a response overdue while the receiver's socket is merely slow, a
//! receiver that takes nothing at all, a receiver removed by the control plane,
//! and a drain before the process stops.
//!
//! A forwarded chunk's transaction timer starts when its end-line is queued.
//! While the receiver's connection still has output waiting (queued in the
//! switch or half written by the transport), the response cannot be due yet:
//! the timer is held for as long as the connection keeps taking bytes, so a slow
//! but live receiver never gets a 408 for a message it is about to receive. A
//! connection that takes nothing for a whole transaction timeout while output
//! waits is stalled: it is aborted (what it holds can never be delivered), and
//! every chunk sent to it and not acknowledged is REPORTed 408.
//!
//! Drain (the transport's states; the core needs no flag of its own):
//! ```text
//!  Serving ── stop accepting ──▶ Draining ── is_quiescent / deadline ──▶ finish_drain
//!                                (forwarding goes on;                  (REPORT what is
//!                                 the engine refuses new                not acknowledged,
//!                                 sessions and participants)            '#' open chunks,
//!                                                                       close after output)
//! ```

use std::time::Instant;

use tracing::debug;

use crate::codec::{ByteRange, FailureReport, StatusCode, TransactionId};
use smallvec::SmallVec;

use crate::conn::{Inbound, Writing};
use crate::ids::{ConnId, ParticipantId};
use crate::stats::Stats;
use crate::transaction::Sent;

use super::Endpoint;

/// What an overdue chunk transaction means for its receiver's connection.
enum Overdue {
    /// The connection took bytes recently: wait until this time.
    HoldUntil(Instant),
    /// It took nothing for a whole transaction timeout while output waited.
    Stalled(ConnId),
    /// Nothing of it waits in the switch: the response is simply missing.
    Missing,
}

impl Endpoint {
    /// A forwarded chunk's response is overdue (its timer fired).
    pub(crate) fn chunk_overdue(&mut self, tid: TransactionId, sent: Sent, now: Instant) {
        let Sent::Chunk {
            to, failure_report, ..
        } = sent
        else {
            return;
        };
        // With `partial` (and group copies) the receiver answers errors only:
        // silence is no failure (RFC 4975 §7.1.2), so only `yes` times out.
        if failure_report != FailureReport::Yes {
            return;
        }
        match self.overdue(to, now) {
            Overdue::HoldUntil(at) => {
                self.transactions.hold(tid, sent, at);
            }
            Overdue::Stalled(conn) => {
                Stats::add(&self.metrics.stalled_receivers, 1);
                debug!(
                    conn = conn.0,
                    "receiver took nothing for a transaction timeout"
                );
                self.abort_conn(conn);
                self.report_failed(sent, StatusCode::TRANSACTION_DID_NOT_COMPLETE);
                // Its other chunks will never be written: REPORT them now rather
                // than one by one as their timers fire.
                self.report_unacknowledged(Some(to), StatusCode::TRANSACTION_DID_NOT_COMPLETE);
            }
            Overdue::Missing => {
                debug!(%tid, "transaction timed out");
                Stats::add(&self.metrics.transaction_timeouts, 1);
                self.report_failed(sent, StatusCode::TRANSACTION_DID_NOT_COMPLETE);
            }
        }
    }

    /// For a large message's chunk whose response is overdue: when to look
    /// again (its receiver's connection took bytes recently), or `None`: it
    /// failed (a receiver that took nothing for a whole timeout is closed).
    pub(crate) fn overdue_for(&mut self, to: ParticipantId, now: Instant) -> Option<Instant> {
        match self.overdue(to, now) {
            Overdue::HoldUntil(at) => Some(at),
            Overdue::Stalled(conn) => {
                Stats::add(&self.metrics.stalled_receivers, 1);
                self.abort_conn(conn);
                None
            }
            Overdue::Missing => None,
        }
    }

    /// Whether the receiver's connection explains a missing response.
    fn overdue(&mut self, to: ParticipantId, now: Instant) -> Overdue {
        let timeout = self.config.transaction_timeout;
        let Some(conn) = self.participants.get(&to).and_then(|p| p.conn()) else {
            return Overdue::Missing;
        };
        let waiting = self.has_output(conn);
        let Some(c) = self.conns.get_mut(&conn) else {
            return Overdue::Missing;
        };
        if !waiting && !c.write_blocked {
            return Overdue::Missing;
        }
        if c.progress.taken != c.progress.seen {
            c.progress.seen = c.progress.taken;
            c.progress.seen_at = now;
            return Overdue::HoldUntil(now + timeout);
        }
        let stall_at = c.progress.seen_at + timeout;
        if now < stall_at {
            Overdue::HoldUntil(stall_at)
        } else {
            Overdue::Stalled(conn)
        }
    }

    /// REPORTs every chunk the switch wrote (or queued) and has no response for,
    /// sent to `to` (any receiver with `None`), whose sender asked for failure
    /// reports and whose end-line came (so the sender holds a 200 for it). The
    /// transactions are forgotten. Returns the REPORTs generated.
    pub(crate) fn report_unacknowledged(
        &mut self,
        to: Option<ParticipantId>,
        status: StatusCode,
    ) -> usize {
        let failed = self.transactions.take_chunks(|sent| match sent {
            Sent::Chunk {
                to: receiver,
                end,
                failure_report,
                ..
            } => {
                to.is_none_or(|to| to == *receiver)
                    && end.is_some()
                    && *failure_report != FailureReport::No
            }
            // Relayed chunks: only when every receiver's are (a drain).
            Sent::Relayed { failure_report, .. } => {
                to.is_none() && *failure_report != FailureReport::No
            }
            // A large message's receivers fail on their own (`large_message.rs`).
            Sent::Bind { .. } | Sent::EndToEnd { .. } | Sent::Large { .. } => false,
        });
        let count = failed.len();
        for sent in failed {
            if matches!(sent, Sent::Relayed { .. }) {
                self.relay_answered(sent, Some(status));
            } else {
                self.report_failed(sent, status);
            }
        }
        count
    }

    /// Forgets the chunks to `to` whose end-line has not come: their senders hold
    /// no 200 for them (the rest of each is refused), so nothing is owed.
    pub(crate) fn forget_unfinished(&mut self, to: ParticipantId) {
        self.transactions.take_chunks(
            |sent| matches!(sent, Sent::Chunk { to: receiver, end: None, .. } if *receiver == to),
        );
    }

    /// The REPORT for one failed chunk, to its sender (if it is still here).
    pub(crate) fn report_failed(&mut self, sent: Sent, status: StatusCode) {
        let Sent::Chunk {
            sender,
            message_id,
            start,
            end,
            total,
            ..
        } = sent
        else {
            return;
        };
        let range = ByteRange {
            start,
            end: Some(end.unwrap_or(start.saturating_sub(1))),
            total,
        };
        self.report(sender, &message_id, range, status);
    }

    /// True when nothing accepted is in flight: no chunk half read, no output
    /// queued, no request of the switch's waiting for its response.
    pub fn is_quiescent(&self) -> bool {
        !self.large_pending()
            && self.transactions.len() == 0
            && self.conns.iter().all(|(&conn, c)| {
                matches!(c.inbound, Inbound::Idle) && !c.write_blocked && !self.has_output(conn)
            })
    }

    /// Ends a drain at `now`: every chunk accepted and not acknowledged downstream
    /// is REPORTed 408 to its sender (as its Failure-Report asks), chunks being
    /// forwarded are ended with `#`, and every connection closes once its output
    /// (those REPORTs first) is written. Returns the REPORTs generated.
    pub fn finish_drain(&mut self, now: Instant) -> usize {
        self.now = now;
        self.release_all_withheld();
        self.fail_pending_receivers(now);
        let reports = self.report_unacknowledged(None, StatusCode::TRANSACTION_DID_NOT_COMPLETE);
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for &conn in &conns {
            self.abort_inbound(conn);
        }
        for conn in conns {
            self.close_after_output(conn);
        }
        reports
    }

    /// The peer shut its side of `conn` (end of stream) at `now`: a chunk it was
    /// sending ends with `#` for its receivers, and the connection closes once
    /// what it is owed (answers, REPORTs, what its leg holds) is written.
    pub fn handle_end_of_input(&mut self, conn: ConnId, now: Instant) {
        self.now = now;
        self.abort_inbound(conn);
        self.close_after_output(conn);
    }

    /// Marks `conn` to close after its output, its participants' legs included (a
    /// connection that is closing writes only its own queue): each participant
    /// leaves it with everything its leg has ready, a frame half written first.
    fn close_after_output(&mut self, conn: ConnId) {
        let members: SmallVec<[ParticipantId; 1]> = match self.conns.get(&conn) {
            Some(c) => c.bound().iter().copied().collect(),
            None => return,
        };
        let writing = self.conns.get(&conn).map(|c| c.writing);
        // The one half written first: the rest of its frame leads.
        let (first, rest): (SmallVec<[ParticipantId; 1]>, SmallVec<[ParticipantId; 1]>) = members
            .into_iter()
            .partition(|id| writing == Some(Writing::Leg(*id)));
        for id in first.into_iter().chain(rest) {
            self.send_withheld(id);
            self.hand_over(conn, id, true);
        }
        self.close_conn(conn);
    }
}
