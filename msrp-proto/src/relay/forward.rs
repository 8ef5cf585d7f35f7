//! Requests through the relay (RFC 4976 §6.3, §7): the first To-Path URI is one
//! the relay granted. The relay takes it off To-Path and puts it in front of
//! From-Path (msrplib checks From-Path exactly), and sends the request on:
//!
//! ```text
//!  from the client that holds the URI ──▶ to the next To-Path URI: ours again
//!                                          (both ends use this relay: take it too),
//!                                          else the next hop, on the connection the
//!                                          relay has there or opens (TCP)
//!  from anyone else ────────────────────▶ on the client's connection (§5.1: a
//!                                          sender need not have AUTHed)
//! ```
//!
//! A SEND is answered hop by hop (200, or the error, per its Failure-Report) and
//! goes on as a new transaction: its own transaction id, the rest of the head as
//! received. Its body goes on cut-through, in whole frames: what a read brought
//! is sent on at the end of the read once it is `flush_bytes` or more, and at
//! the latest at `rechunk_bytes` or the end-line, a longer chunk thus going on
//! as several with exact Byte-Ranges and `+` (§7.1 lets a relay re-chunk). So
//! the relay holds a bounded amount per sender, short messages go on whole,
//! and frames never interleave on the connection they go out on. An error
//! response from the next hop, no response within the transaction timeout, or the
//! next hop's connection closing with the chunk unanswered, gives the sender a
//! REPORT when its Failure-Report asks (§6.4.1). REPORTs go on unanswered.
//! Other requests (AUTH through this relay to an outer one, NICKNAME, methods
//! the relay does not know) go on the same way but are answered end to end
//! (§6.4.2): the next hop's response comes back under the relay's transaction
//! id, and goes back to the sender under the sender's (§6.4.3).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use smallvec::SmallVec;
use tracing::debug;

use crate::codec::{
    ByteRange, ContinuationFlag, FailureReport, Head, HeadBox, HeaderName, MessageId, Method,
    MsrpUri, Rewrite, Scheme, StatusCode,
};
use crate::conn::{Inbound, State};
use crate::endpoint::{Action, Endpoint, TlsTarget};
use crate::ids::ConnId;
use crate::report::{Reply, is_owed};
use crate::stats::Stats;
use crate::transaction::Sent;

use super::Hop;

/// A request being relayed, from its head to its end-line. Its box is kept by
/// the connection between frames and reused (`Conn::spare_relay`), so relaying
/// allocates nothing per frame once warm; its URIs and head are dropped at the
/// end-line so that it pins no read buffer.
pub(crate) struct RelayForward {
    /// The connection it goes out on.
    pub(crate) to: ConnId,
    pub(crate) head: Option<HeadBox>,
    pub(crate) method: Option<Method>,
    /// How many URIs of this relay led its To-Path (two when both ends use it).
    pub(crate) ours: u8,
    /// The next hop's To-Path and From-Path (inline up to four URIs each: two
    /// relays and the endpoint on each side, without allocating).
    pub(crate) to_path: SmallVec<[MsrpUri; 4]>,
    pub(crate) from_path: SmallVec<[MsrpUri; 4]>,
    /// Where a REPORT about it goes, copied out of the head (see [`ReportTo`]).
    pub(crate) report_to: Arc<ReportTo>,
    pub(crate) message_id: Option<MessageId>,
    pub(crate) failure_report: FailureReport,
    /// The received Byte-Range's start and total, and the message position of
    /// the first body byte held.
    pub(crate) start: u64,
    pub(crate) total: Option<u64>,
    /// Body held for the next chunk out.
    pub(crate) pieces: Vec<Bytes>,
    pub(crate) held: usize,
    /// True once part of the chunk went on (its ranges are then rewritten).
    pub(crate) split: bool,
    /// The hop-by-hop answer owed at the end-line.
    pub(crate) reply: Option<Reply>,
}

/// A REPORT's paths for a relayed SEND: To-Path is the request's From-Path as
/// received, From-Path the relay URI it was sent to. Copied (inline up to a
/// typical length) rather than kept as URIs, which would pin the read buffer
/// they slice until the next hop answers.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReportTo {
    pub(crate) to_path: SmallVec<[u8; 96]>,
    pub(crate) from_path: SmallVec<[u8; 64]>,
}

/// Where a relayed request goes: a connection here, or a next hop elsewhere.
enum Next {
    Conn(ConnId),
    Hop(MsrpUri),
}

impl Endpoint {
    /// The relay's handling of a request, or `None` if the request is the
    /// switch's (its first To-Path URI is no relay URI).
    pub(crate) fn relay_request(
        &mut self,
        conn: ConnId,
        head: &Head,
        method: Method,
        now: Instant,
    ) -> Option<Inbound> {
        let mut to_path: SmallVec<[MsrpUri; 4]> = head.to_path().collect();
        let first = to_path.first()?.clone();
        if first.session_id().is_none() && method == Method::Auth {
            return Some(self.relay_auth(conn, head, now));
        }
        if !self.relay.bindings.contains_key(first.session_id()?) {
            return None;
        }
        let mut from_path: SmallVec<[MsrpUri; 4]> = head.from_path().collect();
        let previous_hop = from_path.first()?.clone();
        let reply = |status| {
            is_owed(head, status).then(|| Reply {
                tid: *head.transaction_id(),
                status,
                to: previous_hop.clone(),
                from: first.clone(),
            })
        };
        let report_to = self.report_to(conn, head, &first);
        let received_hops = to_path.len();
        let target = self
            .relay_target(conn, &mut to_path, &mut from_path, now)
            .and_then(|next| match next {
                Next::Conn(to) => Ok(to),
                Next::Hop(uri) => self.relay_hop(&uri),
            });
        let to = match target {
            Ok(to) => to,
            Err(status) => return Some(Inbound::Answer(reply(status))),
        };
        let owed = if method == Method::Send {
            reply(StatusCode::OK)
        } else {
            None
        };
        // This relay's URIs taken off To-Path: as many come off the response.
        let ours = u8::try_from(received_hops - to_path.len()).unwrap_or(u8::MAX);
        let range = head.byte_range();
        let spare = self.conns.get_mut(&conn).and_then(|c| {
            if c.state == State::Accepted {
                c.state = State::Relay;
            }
            c.spare_relay.take()
        });
        let mut spare = spare;
        let pieces = spare
            .as_mut()
            .map(|f| std::mem::take(&mut f.pieces))
            .unwrap_or_default();
        let value = RelayForward {
            to,
            method: Some(method),
            ours,
            to_path,
            from_path,
            report_to,
            message_id: head.message_id(),
            failure_report: head.failure_report().unwrap_or(FailureReport::Yes),
            start: range.as_ref().map_or(1, |r| r.start),
            total: range.and_then(|r| r.total),
            pieces,
            held: 0,
            split: false,
            reply: owed,
            head: Some(HeadBox::copy_of(head)),
        };
        let f = match spare {
            Some(mut f) => {
                *f = value;
                f
            }
            None => Box::new(value),
        };
        Some(Inbound::Relay(f))
    }

    /// The REPORT paths of a request from `conn`: the ones its last request had
    /// when they are the same (a client's requests mostly are), so that steady
    /// relaying allocates none.
    fn report_to(&mut self, conn: ConnId, head: &Head, first: &MsrpUri) -> Arc<ReportTo> {
        let to_path = head.value_bytes(HeaderName::FromPath).unwrap_or_default();
        let from_path = first.as_bytes();
        let state = self.relay.conns.entry(conn).or_default();
        match &state.last_report_to {
            Some(last) if last.to_path[..] == *to_path && last.from_path[..] == *from_path => {
                Arc::clone(last)
            }
            _ => {
                let fresh = Arc::new(ReportTo {
                    to_path: to_path.into(),
                    from_path: from_path.into(),
                });
                state.last_report_to = Some(Arc::clone(&fresh));
                fresh
            }
        }
    }

    /// Where a request goes, with `to_path` and `from_path` rewritten for the
    /// next hop (each relay URI of ours taken off the one, put on the other).
    fn relay_target(
        &self,
        conn: ConnId,
        to_path: &mut SmallVec<[MsrpUri; 4]>,
        from_path: &mut SmallVec<[MsrpUri; 4]>,
        now: Instant,
    ) -> Result<Next, StatusCode> {
        loop {
            let ours = to_path.remove(0);
            let binding = ours
                .session_id()
                .and_then(|sid| self.relay.binding(sid, now))
                .ok_or(StatusCode::SESSION_DOES_NOT_EXIST)?;
            let client = binding.conn;
            from_path.insert(0, ours);
            let Some(next) = to_path.first() else {
                // Nobody beyond the relay.
                return Err(StatusCode::SESSION_DOES_NOT_EXIST);
            };
            if conn != client {
                // Toward the client that holds the URI: on its connection.
                return Ok(Next::Conn(client));
            }
            // From the client: the next hop. Ours too (both ends use this relay)?
            // Then it must be a live grant: the relay never connects to itself.
            if !self.is_own_authority(next) {
                return Ok(Next::Hop(next.clone()));
            }
        }
    }

    /// True if `uri` names this relay's host and one of its ports.
    fn is_own_authority(&self, uri: &MsrpUri) -> bool {
        let port = uri.port().unwrap_or(2855);
        uri.host().eq_ignore_ascii_case(&self.config.local_host)
            && (port == self.config.local_port || Some(port) == self.config.tls_port)
    }

    /// The connection to next hop `uri`: the one the relay has open there, or a
    /// new one it asks the transport to open (TCP for `msrp:`, TLS for `msrps:`;
    /// what is relayed waits in its queue meanwhile).
    fn relay_hop(&mut self, uri: &MsrpUri) -> Result<ConnId, StatusCode> {
        let tls = uri.scheme() == Scheme::Msrps;
        let hop: Hop = (
            uri.host().to_ascii_lowercase(),
            uri.port().unwrap_or(2855),
            tls,
        );
        if let Some(&conn) = self.relay.hops.get(&hop)
            && self.conns.get(&conn).is_some_and(|c| !c.is_closing())
        {
            return Ok(conn);
        }
        if self.relay.hops.len() >= self.relay.config.max_hop_connections {
            debug!(%uri, "481: the relay has as many next-hop connections as it may");
            return Err(StatusCode::SESSION_DOES_NOT_EXIST);
        }
        let conn = ConnId(self.next_seq());
        let c = self.new_conn(State::RelayConnecting);
        self.conns.insert(conn, c);
        self.relay.hops.insert(hop.clone(), conn);
        self.relay.conns.entry(conn).or_default().hop = Some(hop.clone());
        // Over TLS the hop's certificate is checked against the relay's CA for
        // the host of its URI (no fingerprint: see `TlsTarget`).
        let tls = tls.then(|| TlsTarget {
            server_name: hop.0.clone(),
            fingerprints: Vec::new(),
        });
        self.actions.push_back(Action::Connect {
            conn,
            host: hop.0,
            port: hop.1,
            tls,
        });
        Ok(conn)
    }

    /// A body piece of a relayed request: held, and sent on once enough is.
    pub(crate) fn relay_body(&mut self, conn: ConnId, mut f: Box<RelayForward>, piece: Bytes) {
        f.held += piece.len();
        f.pieces.push(piece);
        if f.held >= self.relay.config.rechunk_bytes {
            f.split = true;
            self.relay_emit(conn, &mut f, ContinuationFlag::More);
        }
        self.set_inbound(conn, Inbound::Relay(f));
    }

    /// The end of a read on `conn`: a relayed chunk holding `flush_bytes` or
    /// more sends them on now, ended `+` (cut-through; RFC 4975 §7.1 lets the
    /// rest follow as the next chunk, with its exact Byte-Range).
    pub(crate) fn relay_flush(&mut self, conn: ConnId) {
        if self.relay.conns.is_empty() {
            return;
        }
        let flush_bytes = self.relay.config.flush_bytes;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !matches!(&c.inbound, Inbound::Relay(f) if f.held >= flush_bytes) {
            return;
        }
        let Inbound::Relay(mut f) = std::mem::replace(&mut c.inbound, Inbound::Idle) else {
            return;
        };
        f.split = true;
        self.relay_emit(conn, &mut f, ContinuationFlag::More);
        self.set_inbound(conn, Inbound::Relay(f));
    }

    /// The end-line of a relayed request: the rest goes on with the same flag,
    /// and the sender gets its answer.
    pub(crate) fn relay_end(
        &mut self,
        conn: ConnId,
        mut f: Box<RelayForward>,
        flag: ContinuationFlag,
    ) {
        self.relay_emit(conn, &mut f, flag);
        self.send_reply(conn, f.reply.take());
        self.relay_spare(conn, f);
    }

    /// Keeps `f`'s box (and its pieces' capacity) for the connection's next
    /// relayed frame, holding nothing of this one.
    fn relay_spare(&mut self, conn: ConnId, mut f: Box<RelayForward>) {
        f.head = None;
        f.to_path.clear();
        f.from_path.clear();
        f.pieces.clear();
        f.reply = None;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.spare_relay = Some(f);
        }
    }

    /// The sender's connection went, or its chunk broke a limit: what is held goes
    /// on ended with `#`; with `status` the sender is answered it.
    pub(crate) fn relay_abort(
        &mut self,
        conn: ConnId,
        mut f: Box<RelayForward>,
        status: Option<StatusCode>,
    ) {
        if f.split || f.held > 0 {
            self.relay_emit(conn, &mut f, ContinuationFlag::Abort);
        }
        if let Some(status) = status {
            let reply = f.reply.take().map(|r| Reply { status, ..r });
            let owed = reply.filter(|_| f.head.as_ref().is_some_and(|h| is_owed(h, status)));
            self.send_reply(conn, owed);
        }
        self.relay_spare(conn, f);
    }

    /// Writes what `f` holds as one whole frame on its outgoing connection.
    fn relay_emit(&mut self, conn: ConnId, f: &mut RelayForward, flag: ContinuationFlag) {
        let Some(received) = f.head.as_ref() else {
            return;
        };
        let tid = self.ids.transaction_id();
        let has_body = received.has_body();
        let held = f.held as u64;
        // Kept as received unless the chunk was cut.
        let byte_range = f.split.then(|| ByteRange {
            start: f.start,
            end: Some((f.start + held).saturating_sub(1)),
            total: f.total,
        });
        let head = self.encoder.forward(
            received,
            &Rewrite {
                transaction_id: tid,
                to_path: &f.to_path,
                from_path: &f.from_path,
                message_id: None,
                byte_range,
            },
        );
        let end = self.encoder.end_line(&tid, flag, has_body);
        let Some(out) = self.conns.get_mut(&f.to) else {
            f.pieces.clear();
            f.held = 0;
            return;
        };
        let bytes = head.len() + f.held + end.len();
        out.out.push(head, false);
        for piece in f.pieces.drain(..) {
            out.out.push(piece, false);
        }
        out.out.push(end, true);
        let over = out.out.bytes() >= self.config.queue_bytes;
        Stats::add(&self.metrics.relayed_frames, 1);
        Stats::add(&self.metrics.relayed_bytes, bytes as u64);
        if let Some(method @ (Method::Auth | Method::Nickname | Method::Other)) = f.method {
            // §6.4.2: answered end to end; the response comes back under this
            // transaction id and goes back under the sender's (§6.4.3).
            let original = *received.transaction_id();
            self.transactions.insert(
                tid,
                Sent::EndToEnd {
                    back: conn,
                    tid: original,
                    ours: f.ours,
                },
            );
            self.transactions
                .arm(tid, self.now, self.config.transaction_timeout);
            debug!(?method, %tid, "relayed end to end");
        }
        if f.method == Some(Method::Send) {
            let message_id = f.message_id.unwrap_or_else(|| self.ids.message_id());
            self.transactions.insert(
                tid,
                Sent::Relayed {
                    to: f.to,
                    back: conn,
                    report_to: Arc::clone(&f.report_to),
                    message_id,
                    start: f.start,
                    end: (f.start + held).saturating_sub(1),
                    total: f.total,
                    failure_report: f.failure_report,
                },
            );
            self.transactions
                .arm(tid, self.now, self.config.transaction_timeout);
        }
        f.start += held;
        f.held = 0;
        let state = self.relay.conns.entry(conn).or_default();
        state.feeding = Some(f.to);
        // The target has relay state too (a grant or a hop, usually): its close
        // must find the chunks relayed to it (`relay_conn_closed`).
        self.relay.conns.entry(f.to).or_default();
        if over {
            let waiting = self.relay.waiting.entry(f.to).or_default();
            if !waiting.contains(&conn) {
                waiting.push(conn);
            }
        }
        self.wake(Some(f.to));
    }

    /// A response to a relayed request (hop by hop: it stops here), or none
    /// within the timeout (`None`): the sender gets a REPORT if it asked.
    pub(crate) fn relay_answered(&mut self, sent: Sent, code: Option<StatusCode>) {
        let Sent::Relayed {
            back,
            report_to,
            message_id,
            start,
            end,
            total,
            failure_report,
            ..
        } = sent
        else {
            return;
        };
        let status = match code {
            Some(code) if code.is_success() => return,
            Some(code) => code,
            None => {
                Stats::add(&self.metrics.transaction_timeouts, 1);
                StatusCode::TRANSACTION_DID_NOT_COMPLETE
            }
        };
        // `partial` asks for failures only, and silence is none (RFC 4975 §7.1.2).
        let wanted = match failure_report {
            FailureReport::No => false,
            FailureReport::Partial => code.is_some(),
            FailureReport::Yes => true,
        };
        if !wanted {
            return;
        }
        let tid = self.ids.transaction_id();
        let head = self
            .encoder
            .request(&tid, "REPORT")
            .header_bytes("To-Path", &report_to.to_path)
            .header_bytes("From-Path", &report_to.from_path)
            .message_id(&message_id)
            .byte_range(&ByteRange {
                start,
                end: Some(end),
                total,
            })
            .status(0, status, Some(status.reason()))
            .finish(false);
        let end_line = self.encoder.end_line(&tid, ContinuationFlag::End, false);
        self.metrics.report_generated(status);
        debug!(conn = back.0, %status, "relay REPORT to the sender");
        if let Some(c) = self.conns.get_mut(&back) {
            c.out.push(Bytes::from([head, end_line].concat()), true);
            self.wake(Some(back));
        }
    }

    /// A response to a request relayed end to end (§6.4.3): its leading To-Path
    /// URIs (ours, as many as the request's) move to the front of its From-Path, and it goes back on the
    /// connection the request came from, under the request's transaction id.
    pub(crate) fn relay_response_back(
        &mut self,
        head: &Head,
        back: ConnId,
        tid: crate::codec::TransactionId,
        ours: u8,
    ) {
        let mut to_path: SmallVec<[MsrpUri; 4]> = head.to_path().collect();
        let mut from_path: SmallVec<[MsrpUri; 4]> = head.from_path().collect();
        if to_path.len() <= usize::from(ours) {
            debug!("a relayed response with nobody beyond us in To-Path: dropped");
            return;
        }
        // Each URI of ours the request lost comes off, to the front of From-Path.
        for _ in 0..ours {
            let uri = to_path.remove(0);
            from_path.insert(0, uri);
        }
        let frame = self.encoder.forward(
            head,
            &Rewrite {
                transaction_id: tid,
                to_path: &to_path,
                from_path: &from_path,
                message_id: None,
                byte_range: None,
            },
        );
        let end = self.encoder.end_line(&tid, ContinuationFlag::End, false);
        if let Some(c) = self.conns.get_mut(&back) {
            c.out.push(Bytes::from([frame, end].concat()), true);
            Stats::add(&self.metrics.relayed_frames, 1);
            self.wake(Some(back));
        }
    }

    /// `conn` is gone: its grants end, requests relayed to it and unanswered get
    /// their REPORTs, and whoever waited for it reads again.
    pub(crate) fn relay_conn_closed(&mut self, conn: ConnId) {
        // Every connection the relay sent to, read from or granted on has its
        // state here: the switch's own connections close without a look at the
        // transactions.
        let Some(state) = self.relay.conns.remove(&conn) else {
            return;
        };
        if let Some(hop) = &state.hop
            && self.relay.hops.get(hop) == Some(&conn)
        {
            self.relay.hops.remove(hop);
        }
        for sid in &state.bindings {
            if self.relay.bindings.remove(sid.as_str()).is_some() {
                Stats::shift(&self.metrics.relay_bindings, -1);
            }
        }
        if let Some(waiting) = self.relay.waiting.remove(&conn) {
            for feeder in waiting {
                self.wake(Some(feeder));
            }
        }
        let lost = self
            .transactions
            .take_chunks(|sent| matches!(sent, Sent::Relayed { to, .. } if *to == conn));
        for sent in lost {
            self.relay_answered(sent, Some(StatusCode::SESSION_DOES_NOT_EXIST));
        }
    }

    /// `conn`'s queue went below its bound: the connections relaying to it read
    /// again.
    pub(crate) fn relay_drained(&mut self, conn: ConnId) {
        if let Some(waiting) = self.relay.waiting.remove(&conn) {
            for feeder in waiting {
                self.wake(Some(feeder));
            }
        }
    }

    /// True if `conn` relays to a connection whose queue is over its bound: it is
    /// not read until that one drains.
    pub(crate) fn relay_held_back(&self, conn: ConnId) -> bool {
        // Asked on every read of every connection: free when nothing is relayed.
        if self.relay.conns.is_empty() {
            return false;
        }
        let Some(target) = self.relay.conns.get(&conn).and_then(|s| s.feeding) else {
            return false;
        };
        self.conns
            .get(&target)
            .is_some_and(|t| t.out.bytes() >= self.config.queue_bytes)
    }

    /// True if `session_id` names a relay URI granted here (the transport keeps a
    /// connection whose first request names one on this shard).
    pub(crate) fn is_relay_session_id(&self, session_id: &str) -> bool {
        self.relay.bindings.contains_key(session_id)
    }
}
