//! Answers and reports: the hop-by-hop response a request is owed (RFC 4975 §7.2,
//! honouring Failure-Report) and the REPORTs the switch generates for a sender
//! (§7.1.2). One place decides whether an answer is owed and writes it.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::codec::{
    ByteRange, ContinuationFlag, FailureReport, Head, HeaderName, MessageId, Method, MsrpUri,
    StatusCode, TransactionId,
};
use crate::endpoint::Endpoint;
use crate::endpoint::frames::Route;
use crate::ids::{ConnId, ParticipantId};
use crate::stats::Stats;

/// The hop-by-hop response owed for a request.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub(crate) tid: TransactionId,
    pub(crate) status: StatusCode,
    /// The request's first From-Path URI (the previous hop).
    pub(crate) to: MsrpUri,
    /// The request's first To-Path URI (us).
    pub(crate) from: MsrpUri,
}

/// 200s owed to one sender and held back, each with the connection it is owed
/// on (per-session backpressure on a shared connection, see
/// `endpoint/sharing.rs`). Every answer enters through [`Withheld::push`] and
/// leaves through [`Withheld::take`], [`Withheld::forget_on`] or drop, each of
/// which moves the shard's `answers_withheld` gauge: no caller counts them.
#[derive(Debug)]
pub(crate) struct Withheld {
    answers: VecDeque<(ConnId, Reply)>,
    stats: Arc<Stats>,
}

impl Withheld {
    /// None yet, counting into `stats`.
    pub(crate) fn new(stats: &Arc<Stats>) -> Self {
        Self {
            answers: VecDeque::new(),
            stats: Arc::clone(stats),
        }
    }

    /// True if nothing is withheld.
    pub(crate) fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// Holds `reply`, owed on `conn`, behind the others.
    pub(crate) fn push(&mut self, conn: ConnId, reply: Reply) {
        self.answers.push_back((conn, reply));
        Stats::shift(&self.stats.answers_withheld, 1);
    }

    /// Everything withheld, in order.
    pub(crate) fn take(&mut self) -> VecDeque<(ConnId, Reply)> {
        Stats::shift(&self.stats.answers_withheld, -(self.answers.len() as i64));
        std::mem::take(&mut self.answers)
    }

    /// Forgets what is owed on `conn` (the sender left it).
    pub(crate) fn forget_on(&mut self, conn: ConnId) {
        let before = self.answers.len();
        self.answers.retain(|(on, _)| *on != conn);
        Stats::shift(
            &self.stats.answers_withheld,
            -((before - self.answers.len()) as i64),
        );
    }
}

impl Drop for Withheld {
    /// A sender that goes takes its withheld answers off the gauge.
    fn drop(&mut self) {
        self.take();
    }
}

impl Endpoint {
    /// Generates a REPORT to `sender` about its message (RFC 4975 §7.1.2).
    pub(crate) fn report(
        &mut self,
        sender: ParticipantId,
        message_id: &MessageId,
        range: ByteRange,
        status: StatusCode,
    ) {
        let Some(p) = self.participants.get_mut(&sender) else {
            return;
        };
        let tid = self.ids.transaction_id();
        let head = self
            .encoder
            .request(&tid, "REPORT")
            .path(HeaderName::ToPath, &p.remote.path)
            .path(HeaderName::FromPath, &p.local_path)
            .message_id(message_id)
            .byte_range(&range)
            .status(0, status, Some(status.reason()))
            .finish(false);
        let end = self.encoder.end_line(&tid, ContinuationFlag::End, false);
        let frame = [head, end].concat();
        if p.leg.push_frame(Bytes::from(frame)) {
            self.held.push(sender);
        }
        self.metrics.report_generated(status);
        let conn = p.conn();
        self.wake(conn);
    }

    pub(crate) fn send_reply(&mut self, conn: ConnId, reply: Option<Reply>) {
        let Some(reply) = reply else {
            return;
        };
        let frame = self
            .encoder
            .response(&reply.tid, reply.status, &reply.to, &reply.from);
        self.metrics.response_sent(reply.status);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        // Bound: in order with the leg of the participant the request was for
        // (after an open chunk); on a shared connection the responder URI (ours
        // for that participant) says which. Not bound yet, joining, or for no
        // participant on it: on the connection's own queue, ahead of the legs.
        let leg = match c.sole() {
            Some(id) => Some(id),
            None if c.is_shared() => reply
                .from
                .session_id()
                .and_then(|sid| self.by_session_id.get(sid.as_bytes()))
                .copied()
                .filter(|id| c.is_writable(*id)),
            None => None,
        };
        match leg.and_then(|id| self.participants.get_mut(&id).map(|p| (id, p))) {
            Some((id, p)) => {
                if p.leg.push_frame(frame) {
                    self.held.push(id);
                }
            }
            None => c.out.push(frame, true),
        }
        self.wake(Some(conn));
    }
}

/// Whether a request is owed a response with `status`, honouring Failure-Report
/// (RFC 4975 §7.1.2): `no` never gets one, `partial` only errors, `yes` always.
/// REPORTs never do.
pub(crate) fn is_owed(head: &Head, status: StatusCode) -> bool {
    if head.method() == Some(Method::Report) {
        return false;
    }
    match head.failure_report().unwrap_or(FailureReport::Yes) {
        FailureReport::No => false,
        FailureReport::Partial => !status.is_success(),
        FailureReport::Yes => true,
    }
}

/// The response a request is owed, if any, parsing its paths.
pub(crate) fn reply_to(head: &Head, status: StatusCode) -> Option<Reply> {
    if !is_owed(head, status) {
        return None;
    }
    Some(Reply {
        tid: *head.transaction_id(),
        status,
        to: head.from_path().next()?,
        from: head.to_path().next()?,
    })
}

/// The response a routed request is owed, if any, from the URIs `route` parsed.
pub(crate) fn owed_reply(head: &Head, status: StatusCode, route: &Route) -> Option<Reply> {
    is_owed(head, status).then(|| Reply {
        tid: *head.transaction_id(),
        status,
        to: route.previous_hop.clone(),
        from: route.responder.clone(),
    })
}
