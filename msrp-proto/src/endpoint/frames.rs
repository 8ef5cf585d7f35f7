//! Frames in: a request is routed to its participant (binding the connection on the
//! way, RFC 4975 §7.3) and handed to its session kind; a response settles a request
//! the switch wrote. The session kinds do the rest (`session/`).

use std::time::Instant;

use bytes::Bytes;
use tracing::{debug, trace};

use crate::codec::{
    ByteRange, ContinuationFlag, DecodeError, FailureReport, Head, HeadBox, HeaderName, Method,
    MsrpUri, Scheme, StatusCode,
};
use crate::conn::{Bind, Inbound, State};
use crate::control::Event;
use crate::ids::{ConnId, ParticipantId};
use crate::report::{Reply, is_owed, owed_reply, reply_to};
use crate::security::check_bind;
use crate::session::{Link, SessionKind};
use crate::stats::{Stats, frame_kind};
use crate::transaction::Sent;

use super::Endpoint;

impl Endpoint {
    pub(crate) fn on_head(&mut self, conn: ConnId, head: HeadBox, now: Instant) {
        Stats::add(&self.metrics.frames_received[frame_kind(head.method())], 1);
        let Some(method) = head.method() else {
            self.on_response(conn, &head);
            self.set_inbound(conn, Inbound::Response);
            return;
        };
        trace!(conn = conn.0, tid = %head.transaction_id(), ?method, "request");
        // A request for a participant, exactly as the switch gave its URI: the
        // switch's own traffic, found without parsing a URI.
        let given = self.route_as_given(&head);
        // RFC 4976: an AUTH to the relay, or a request for a URI it granted. Looked
        // at only for what the fast path did not take, and only while the relay
        // has grants (or for an AUTH): switch traffic pays nothing for relay mode.
        if given.is_none()
            && (method == Method::Auth || !self.relay.bindings.is_empty())
            && let Some(inbound) = self.relay_request(conn, &head, method, now)
        {
            self.set_inbound(conn, inbound);
            return;
        }
        let inbound = match self.route(conn, &head, given) {
            Err(status) => Inbound::Answer(reply_to(&head, status)),
            Ok(route) => {
                let id = route.id;
                let session = self.participants.get_mut(&id).map(|p| {
                    p.counters.frames_in += 1;
                    p.session
                });
                let kind = session.and_then(|session| self.session_active(session, now));
                // Each session kind handles its own requests: one arm per kind.
                match kind {
                    Some(SessionKind::OneToOne) => {
                        self.one_to_one_request(conn, route, method, head)
                    }
                    Some(SessionKind::Group) => self.group_request(conn, route, method, head),
                    Some(SessionKind::LargeMessage) => {
                        self.large_message_request(route, method, head)
                    }
                    None => Inbound::Answer(owed_reply(
                        &head,
                        StatusCode::SESSION_DOES_NOT_EXIST,
                        &route,
                    )),
                }
            }
        };
        self.set_inbound(conn, inbound);
    }

    /// The switch's own URI with no session-id: the responder of an answer to a
    /// request whose To-Path could not be read.
    fn own_uri(&self) -> Option<MsrpUri> {
        MsrpUri::from_parts(
            Scheme::Msrp,
            &self.config.local_host,
            Some(self.config.local_port),
            None,
            "tcp",
        )
        .ok()
    }

    /// Finds the participant a request is for (`given`: what
    /// [`Endpoint::route_as_given`] found) and binds the connection to it (RFC
    /// 4975 §7.3), or the status that refuses it.
    pub(crate) fn route(
        &mut self,
        conn: ConnId,
        head: &Head,
        given: Option<Route>,
    ) -> Result<Route, StatusCode> {
        let route = match given {
            Some(route) => route,
            None => self.route_parsed(head).inspect_err(|_| {
                if self.conns.get(&conn).is_some_and(|c| !c.bound().is_empty()) {
                    let to = head.to_path().next();
                    self.explain_other_shard(conn, to.as_ref().and_then(MsrpUri::session_id));
                }
            })?,
        };
        let Some(p) = self.participants.get(&route.id) else {
            return Err(StatusCode::SESSION_DOES_NOT_EXIST);
        };
        let on_conn = self.conns.get(&conn).and_then(|c| c.participant());
        match (p.conn(), on_conn) {
            (Some(bound), _) if bound == conn => Ok(route),
            (Some(_), _) => Err(StatusCode::SESSION_ALREADY_IN_USE),
            // RFC 6135: its media say a=connection:existing, so it may share the
            // connection with the sessions already on it.
            (None, Some(_)) if self.may_join(conn, route.id) => {
                self.check_security(conn, route.id)?;
                self.join(conn, route.id, Bind::Answering);
                Ok(route)
            }
            // RFC 4975 §7.3: the To-Path must map to a session associated with the
            // connection it arrived on, else 481. Sharing is only for participants
            // whose media ask for it (a=connection:existing): a connection of its
            // own keeps TCP flow control per session.
            (None, Some(_)) => Err(StatusCode::SESSION_DOES_NOT_EXIST),
            (None, None) => {
                self.check_security(conn, route.id)?;
                self.bind(conn, route.id);
                Ok(route)
            }
        }
    }

    /// May `conn`'s security bind participant `id` (RFC 4975 §14.2, RFC 8122)?
    /// A refusal is counted and reported; the request gets 403, as for a
    /// From-Path that is not the participant's (§7.3), and the connection stays
    /// as it was.
    fn check_security(&mut self, conn: ConnId, id: ParticipantId) -> Result<(), StatusCode> {
        let allowed = match (self.conns.get(&conn), self.participants.get(&id)) {
            (Some(c), Some(p)) => check_bind(&c.security, c.websocket, &p.remote),
            _ => Ok(()),
        };
        allowed.map_err(|refusal| {
            debug!(conn = conn.0, participant = %id, reason = refusal.label(), "bind refused");
            self.bind_refused(id, refusal);
            StatusCode::ACTION_NOT_ALLOWED
        })
    }

    /// The common case, without parsing a URI: To-Path is exactly the switch's URI
    /// for a participant and From-Path exactly the path it gave in SDP, byte for
    /// byte (peers repeat what they were given). Anything else takes the parsing
    /// path, which applies RFC 4975 §6.1 and CEMA.
    pub(crate) fn route_as_given(&self, head: &Head) -> Option<Route> {
        let to = head.value_bytes(HeaderName::ToPath)?;
        let from = head.value_bytes(HeaderName::FromPath)?;
        // msrp://host:port/SESSION-ID;tcp: the session-id sits after the last '/'.
        let slash = memchr::memrchr(b'/', to)?;
        let sid_end = memchr::memchr(b';', &to[slash..])? + slash;
        let id = *self.by_session_id.get(&to[slash + 1..sid_end])?;
        let p = self.participants.get(&id)?;
        let [remote] = p.remote.path.as_slice() else {
            return None;
        };
        (to == p.local_uri.as_bytes() && from == remote.as_bytes()).then(|| Route {
            id,
            responder: p.local_uri.clone(),
            previous_hop: remote.clone(),
        })
    }

    pub(crate) fn route_parsed(&self, head: &Head) -> Result<Route, StatusCode> {
        let mut to_path = head.to_path();
        let to = to_path.next().ok_or(StatusCode::SESSION_DOES_NOT_EXIST)?;
        // RFC 4975 §7.3: at the final hop the To-Path holds exactly one URI, which
        // must map to a session; anything else is 481. The switch is every
        // participant's final hop (it relays nothing yet), so a longer To-Path is
        // refused rather than routed on its first URI with the rest dropped.
        if to_path.next().is_some() {
            return Err(StatusCode::SESSION_DOES_NOT_EXIST);
        }
        let id = to
            .session_id()
            .and_then(|sid| self.by_session_id.get(sid.as_bytes()))
            .copied()
            .ok_or(StatusCode::SESSION_DOES_NOT_EXIST)?;
        let p = self
            .participants
            .get(&id)
            .ok_or(StatusCode::SESSION_DOES_NOT_EXIST)?;
        // The switch offered and the answer has not come: no path to match yet.
        if p.link == Link::Offered {
            return Err(StatusCode::SESSION_DOES_NOT_EXIST);
        }
        // CEMA (RFC 6714): a middlebox may have rewritten host and port.
        if !p.remote.cema && !to.matches(&p.local_uri) {
            return Err(StatusCode::SESSION_DOES_NOT_EXIST);
        }
        // From-Path must be the path the participant gave in SDP. Its first URI is
        // the previous hop, kept for the hop-by-hop answer.
        let mut previous_hop = None;
        let from_ok = {
            let mut from = head.from_path();
            let mut remote = p.remote.path.iter();
            loop {
                match (from.next(), remote.next()) {
                    (None, None) => break true,
                    (Some(a), Some(b))
                        if a.matches(b) || (p.remote.cema && a.matches_session_id(b)) =>
                    {
                        previous_hop.get_or_insert(a);
                    }
                    _ => break false,
                }
            }
        };
        let (true, Some(previous_hop)) = (from_ok, previous_hop) else {
            return Err(StatusCode::ACTION_NOT_ALLOWED);
        };
        Ok(Route {
            id,
            responder: to,
            previous_hop,
        })
    }

    /// A body piece of the frame being read: its session kind's to use.
    pub(crate) fn on_body(&mut self, conn: ConnId, piece: Bytes, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        // Only a forwarded chunk uses its body; a refused one waits for its end-line.
        match std::mem::replace(&mut c.inbound, Inbound::Idle) {
            Inbound::Fanout(f) => self.fanout_body(conn, f, piece, now),
            Inbound::Forward(f) => self.forward_body(conn, f, piece),
            Inbound::Relay(f) => self.relay_body(conn, f, piece),
            Inbound::Large(f) => self.large_body(conn, f, piece),
            other => c.inbound = other,
        }
    }

    /// The end-line of the frame being read.
    pub(crate) fn on_end(&mut self, conn: ConnId, flag: ContinuationFlag, now: Instant) {
        let inbound = match self.conns.get_mut(&conn) {
            Some(c) => std::mem::replace(&mut c.inbound, Inbound::Idle),
            None => return,
        };
        match inbound {
            Inbound::Idle | Inbound::Response => {}
            Inbound::Answer(reply) => self.send_reply(conn, reply),
            Inbound::Report { to, head } => self.map_report(to, &head, flag),
            Inbound::Fanout(f) => self.end_fanout(conn, f, flag, now),
            Inbound::Forward(f) => self.end_forward(conn, f, flag, now),
            Inbound::Relay(f) => self.relay_end(conn, f, flag),
            Inbound::Large(f) => self.end_large_chunk(conn, f, flag, now),
            Inbound::Respond { frame, close } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.out.push(frame, true);
                }
                if close {
                    self.close_conn(conn);
                } else {
                    self.wake(Some(conn));
                }
            }
        }
        self.frame_done(conn);
    }

    /// A refused frame (kept framing): answer it if it can be addressed and asks for
    /// an answer.
    pub(crate) fn on_refused(&mut self, conn: ConnId, err: &DecodeError) {
        let inbound = match self.conns.get_mut(&conn) {
            Some(c) => std::mem::replace(&mut c.inbound, Inbound::Idle),
            None => return,
        };
        let status = err.status().unwrap_or(StatusCode::UNINTELLIGIBLE);
        match inbound {
            // A chunk over max_chunk_bytes after its head was taken: end what was
            // forwarded with '#', answer the sender with the error.
            Inbound::Forward(f) => self.refuse_forward(conn, f, status),
            Inbound::Relay(f) => self.relay_abort(conn, f, Some(status)),
            Inbound::Large(f) => self.abort_large_chunk(conn, f, Some(status), self.now),
            Inbound::Fanout(f) => {
                let reply = Reply {
                    status,
                    ..f.reply.clone()
                };
                let owed = f.head.as_ref().is_none_or(|h| is_owed(h, status));
                self.abort_fanout(f, self.now);
                if owed {
                    self.send_reply(conn, Some(reply));
                }
            }
            // A request refused at its head whose body then broke a limit: the
            // decoder's error has no address of its own (the head was handed out
            // already), so the answer the refusal addressed goes, with the decoder's
            // status, as a forwarded chunk's does.
            Inbound::Answer(Some(reply)) if err.answer().is_none() => {
                self.send_reply(conn, Some(Reply { status, ..reply }));
            }
            _ => match (err.answer(), err.status()) {
                (Some(answer), Some(status)) => {
                    let from = answer.responder.clone().or_else(|| self.own_uri());
                    if let Some(from) = from {
                        let reply = Reply {
                            tid: answer.transaction_id,
                            status,
                            to: answer.previous_hop.clone(),
                            from,
                        };
                        self.send_reply(conn, Some(reply));
                    }
                }
                // No answer can be addressed (no usable From-Path): a connection
                // that has not bound is closed rather than left to its bind timeout.
                (None, Some(_)) if self.is_unbound(conn) => self.close_conn(conn),
                _ => {}
            },
        }
        self.frame_done(conn);
    }

    /// A frame is over and its answer (if any) is queued: a connection whose first
    /// request bound it may now carry its participant's leg, and so may a
    /// participant that joined a shared connection with it.
    fn frame_done(&mut self, conn: ConnId) {
        match self.conns.get(&conn).map(|c| &c.state) {
            Some(State::Binding(_, Bind::Answering)) => self.bind_answered(conn),
            Some(State::Bound(m)) if !m.joining.is_empty() => self.joins_answered(conn),
            _ => {}
        }
    }

    /// A response to a request the switch wrote.
    pub(crate) fn on_response(&mut self, conn: ConnId, head: &Head) {
        let Some(code) = head.response_status() else {
            return;
        };
        self.metrics.response_received(code);
        let answered = self.transactions.answer_timed(head.transaction_id());
        if let Some((_, Some(armed))) = &answered {
            self.metrics
                .response_latency
                .observe(self.now.saturating_duration_since(*armed));
        }
        match answered.map(|(sent, _)| sent) {
            None => {
                trace!(conn = conn.0, tid = %head.transaction_id(), "response to nothing outstanding")
            }
            Some(sent @ Sent::Relayed { .. }) => self.relay_answered(sent, Some(code)),
            Some(Sent::Large { to, session }) => {
                self.large_chunk_answered(to, session, code, self.now);
            }
            Some(Sent::EndToEnd { back, tid, ours }) => {
                self.relay_response_back(head, back, tid, ours)
            }
            Some(Sent::Bind { to, .. }) => {
                if code.is_success() {
                    if let Some(p) = self.participants.get(&to) {
                        let event = Event::ParticipantBound {
                            session: p.session,
                            participant: to,
                        };
                        self.emit(event);
                    }
                    self.bind_send_answered(conn, to);
                } else {
                    debug!(conn = conn.0, %code, "bind SEND refused");
                    self.bind_send_failed(conn, to);
                }
            }
            Some(Sent::Chunk {
                sender,
                message_id,
                start,
                end,
                total,
                failure_report,
                to,
            }) => {
                if code.is_success() {
                    return;
                }
                if failure_report != FailureReport::No {
                    let range = ByteRange {
                        start,
                        end: Some(end.unwrap_or(start.saturating_sub(1))),
                        total,
                    };
                    self.report(sender, &message_id, range, code);
                }
                if code == StatusCode::STOP_SENDING_MESSAGE {
                    self.stop_message(to, message_id);
                }
            }
        }
    }
}

/// A request's participant, with the URIs its hop-by-hop answer goes between:
/// parsed once by `route`, used by every answer to the request.
pub(crate) struct Route {
    pub(crate) id: ParticipantId,
    /// The request's first To-Path URI (us).
    pub(crate) responder: MsrpUri,
    /// The request's first From-Path URI (the previous hop).
    pub(crate) previous_hop: MsrpUri,
}
