//! Answers and reports: the hop-by-hop response a request is owed (RFC 4975 §7.2,
//! honouring Failure-Report) and the REPORTs the switch generates for a sender
//! (§7.1.2). One place decides whether an answer is owed and writes it.

use bytes::Bytes;

use crate::codec::{
    ByteRange, ContinuationFlag, FailureReport, Head, HeaderName, MessageId, Method, MsrpUri,
    StatusCode, TransactionId,
};
use crate::endpoint::Endpoint;
use crate::endpoint::frames::Route;
use crate::ids::{ConnId, ParticipantId};

/// The hop-by-hop response owed for a request.
#[derive(Clone)]
pub(crate) struct Reply {
    pub(crate) tid: TransactionId,
    pub(crate) status: StatusCode,
    /// The request's first From-Path URI (the previous hop).
    pub(crate) to: MsrpUri,
    /// The request's first To-Path URI (us).
    pub(crate) from: MsrpUri,
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
        // Bound: in order with the participant's leg (after an open chunk). Not
        // bound yet: on the connection's own queue, ahead of the leg.
        match c
            .bound()
            .and_then(|id| self.participants.get_mut(&id).map(|p| (id, p)))
        {
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
