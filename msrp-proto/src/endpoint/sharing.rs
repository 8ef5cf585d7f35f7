//! Shared connections (RFC 6135 and RFC 4145 §5 `a=connection:existing`): several
//! MSRP sessions of this shard on one connection, told apart by the session-id of
//! each request's To-Path (RFC 4975 §7.3).
//!
//! - *Joining.* A request on a bound connection for a participant that is not
//!   bound yet binds it to the same connection when its media say
//!   `a=connection:existing` (and the From-Path and the connection's security
//!   pass, as for a first bind); otherwise it is refused 481 as before. When the
//!   switch is the active side for such a participant and a connection to the
//!   same hop (authority, transport and, over TLS, the pinned certificate) is
//!   bound on this shard, it sends its bind SEND there instead of connecting out.
//!   A joining participant's leg is written only once its bind completes: the
//!   answer (or our bind SEND) goes first, from the connection's own queue.
//! - *Output* is interleaved at frame ends, one frame per leg per turn
//!   (`output.rs`).
//! - *Hold-back per session.* A connection carrying one session is simply not
//!   read while a leg its requests feed is over the queue bound (TCP flow control
//!   reaches the sender). A shared connection cannot stop for one session without
//!   stopping all, so it goes on being read, and the sessions whose receivers are
//!   full are paced by their answers: the 200s owed for their chunks are withheld
//!   until the leg is taken below its bound. A sender that waits for its answers
//!   (as the switch itself and msrplib do) stops; the other sessions go on. The
//!   connection stops being read only inside a chunk whose receiver's leg holds
//!   twice the bound: memory stays bounded whatever a sender does.
//! - *Leaving.* A participant that leaves a shared connection (removed, given a
//!   new path, dropped as a slow consumer) takes its leg with it; a frame of its
//!   that is half written is finished first (a chunk still streaming ends with
//!   `#`), and the connection stays for the others. The connection closes with
//!   its last participant; when it breaks, every participant on it is lost.
//! - *Shards.* A connection carries sessions of its own shard only: a request on
//!   it for another shard's session is refused 481 (a debug line says why).
//!   CreateSession's `colocate_with` places sessions that will share a connection
//!   on one shard.

use tracing::debug;

use crate::codec::{ContinuationFlag, StatusCode};
use crate::conn::{Bind, Inbound, State, Writing};
use crate::control::Event;
use crate::ids::{ConnId, ParticipantId, SessionKey, shard_of_session_id};
use crate::media::{ConnectionReuse, RemoteMedia};
use crate::report::Reply;
use crate::security::check_bind;
use crate::session::Link;
use crate::stats::Stats;

use super::{Action, Endpoint};

impl Endpoint {
    /// May `id`, not bound yet, bind on `conn`, which carries other participants
    /// already? Only if its media ask to reuse a connection.
    pub(crate) fn may_join(&self, conn: ConnId, id: ParticipantId) -> bool {
        let reuse = self
            .participants
            .get(&id)
            .is_some_and(|p| p.remote.connection == ConnectionReuse::Existing);
        reuse
            && self
                .conns
                .get(&conn)
                .is_some_and(|c| matches!(c.state, State::Bound(_)))
    }

    /// `id` binds on `conn` beside the participants it carries; its leg is written
    /// once `bind` completes ([`Endpoint::join_complete`]).
    pub(crate) fn join(&mut self, conn: ConnId, id: ParticipantId, bind: Bind) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let State::Bound(members) = &mut c.state else {
            return;
        };
        members.joining.push((id, bind));
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        p.link = Link::Connected(conn);
        let session = p.session;
        debug!(conn = conn.0, participant = %id, "joins a shared connection");
        Stats::add(&self.metrics.connection_joins, 1);
        if bind == Bind::Answering {
            self.emit(Event::ParticipantBound {
                session,
                participant: id,
            });
        }
    }

    /// The bind of `id`, joining `conn`, is complete (its answer is queued, or
    /// our bind SEND was answered 200): its leg may be written.
    pub(crate) fn join_complete(&mut self, conn: ConnId, id: ParticipantId) {
        if let Some(c) = self.conns.get_mut(&conn)
            && let State::Bound(members) = &mut c.state
            && members.complete(id)
        {
            // Frames queued for it meanwhile can go now.
            self.wake(Some(conn));
        }
    }

    /// Completes the binds of the participants that joined `conn` with the
    /// request just handled: its answer is queued.
    pub(crate) fn joins_answered(&mut self, conn: ConnId) {
        let Some(State::Bound(members)) = self.conns.get(&conn).map(|c| &c.state) else {
            return;
        };
        let answered: smallvec::SmallVec<[ParticipantId; 1]> = members
            .joining
            .iter()
            .filter(|(_, bind)| *bind == Bind::Answering)
            .map(|(id, _)| *id)
            .collect();
        for id in answered {
            self.join_complete(conn, id);
        }
    }

    /// True if `id` is joining `conn` (its bind not complete).
    pub(crate) fn is_joining(&self, conn: ConnId, id: ParticipantId) -> bool {
        matches!(
            self.conns.get(&conn).map(|c| &c.state),
            Some(State::Bound(m)) if m.joining.iter().any(|(p, _)| *p == id)
        )
    }

    /// Our bind SEND for `to` on `conn` failed (refused, or no answer in
    /// time). A connection of its own is closed; on one it joined, it alone
    /// leaves, and its connection is lost.
    pub(crate) fn bind_send_failed(&mut self, conn: ConnId, to: ParticipantId) {
        if self.is_joining(conn, to) {
            self.leave(conn, to, false);
            self.unbind(to, Link::Lost);
        } else {
            self.close_conn(conn);
        }
    }

    /// A connection the switch may send `remote`'s bind SEND on rather than
    /// connecting out (RFC 6135, `a=connection:existing` with the switch active):
    /// bound on this shard, not closing, carrying a participant whose first hop
    /// is the same (where the switch connects: authority or CEMA address, and
    /// transport), and whose security `remote` accepts (over TLS: a certificate
    /// with `remote`'s fingerprint). `except` is left out (a participant moving).
    pub(crate) fn reuse_target(
        &self,
        remote: &RemoteMedia,
        except: Option<ParticipantId>,
    ) -> Option<ConnId> {
        if remote.connection != ConnectionReuse::Existing {
            return None;
        }
        let target = remote.connect_target()?;
        // A scan of the shard's connections: this runs once per participant
        // added with `connection:existing`, never per frame.
        self.conns
            .iter()
            .filter(|(_, c)| matches!(c.state, State::Bound(_)))
            .filter(|(_, c)| check_bind(&c.security, c.websocket, remote).is_ok())
            .find(|(_, c)| {
                c.bound().iter().any(|&q| {
                    Some(q) != except
                        && self.participants.get(&q).is_some_and(|q| {
                            q.remote.transport == remote.transport
                                && q.remote.connect_target().as_ref() == Some(&target)
                        })
                })
            })
            .map(|(&conn, _)| conn)
    }

    /// Participant `id` leaves `conn`, which stays for the others (it closes with
    /// its last one): see [`Endpoint::hand_over`] for what of its leg goes.
    pub(crate) fn leave(&mut self, conn: ConnId, id: ParticipantId, flush: bool) {
        self.hand_over(conn, id, flush);
        // Answers withheld from it on this connection are owed no more: the
        // session's requests on it go no further.
        if let Some(p) = self.participants.get_mut(&id) {
            p.withheld.forget_on(conn);
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let last = match &mut c.state {
            State::Bound(members) => {
                members.remove(id);
                members.len() == 0
            }
            State::Connecting(p) | State::Binding(p, _) => *p == id,
            State::Accepted
            | State::RelayConnecting
            | State::Relay
            | State::Closing
            | State::Aborted => false,
        };
        if last {
            c.close();
        }
        self.actions.push_back(Action::Wake(conn));
    }

    /// Moves to `conn`'s own queue what must still be written of `id`'s leg there:
    /// a frame half written goes first (a chunk still streaming to `id` is ended
    /// with `#`, RFC 4975 §7.1); with `flush` (and a leg written to `conn`),
    /// everything else the leg has ready follows (a removed participant's last
    /// frames); otherwise it stays with the participant (dropped when it is
    /// unbound).
    pub(crate) fn hand_over(&mut self, conn: ConnId, id: ParticipantId, flush: bool) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let mid_frame = c.writing == Writing::Leg(id);
        let flush = flush && c.is_writable(id);
        if mid_frame
            && self
                .participants
                .get(&id)
                .is_some_and(|p| !p.leg.has_rest_of_frame())
        {
            self.end_chunks_to(id, ContinuationFlag::Abort, false);
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if let Some(p) = self.participants.get_mut(&id) {
            p.leg.hand_over(&mut c.out, mid_frame, flush);
        }
        if mid_frame {
            c.writing = Writing::Own;
        }
    }

    /// Ends every chunk being forwarded to `id` with `flag`. Each sender's next
    /// piece opens a new chunk; with `refuse` (`id` is going) the rest of each is
    /// discarded instead and its sender told at its end-line that the session is
    /// gone (481).
    pub(crate) fn end_chunks_to(
        &mut self,
        id: ParticipantId,
        flag: ContinuationFlag,
        refuse: bool,
    ) {
        for conn in self.feeding(id) {
            if let Some(c) = self.conns.get_mut(&conn)
                && let Inbound::Forward(mut f) = std::mem::replace(&mut c.inbound, Inbound::Idle)
            {
                self.end_chunk(&mut f, flag, None);
                let inbound = if refuse {
                    Inbound::Answer(f.reply.map(|r| Reply {
                        status: StatusCode::SESSION_DOES_NOT_EXIST,
                        ..r
                    }))
                } else {
                    Inbound::Forward(f)
                };
                self.set_inbound(conn, inbound);
            }
        }
    }

    /// Answers `from`'s chunk on `conn` (`reply`, if one is owed): at once, or,
    /// on a shared connection while a leg `from` feeds is over its bound, once it
    /// is taken below it (answers already withheld keep their order).
    pub(crate) fn answer_sender(
        &mut self,
        conn: ConnId,
        from: ParticipantId,
        reply: Option<Reply>,
    ) {
        let Some(reply) = reply else {
            return;
        };
        let withhold = reply.status.is_success()
            && self.conns.get(&conn).is_some_and(|c| c.is_shared())
            && (self.feeds_full_leg(from, self.config.queue_bytes)
                || self
                    .participants
                    .get(&from)
                    .is_some_and(|p| !p.withheld.is_empty()));
        match self.participants.get_mut(&from) {
            Some(p) if withhold => {
                p.withheld.push(conn, reply);
                self.release_withheld(from);
            }
            _ => self.send_reply(conn, Some(reply)),
        }
    }

    /// Sends the answers withheld from `id` if no leg it feeds is over its bound
    /// any more (or it has no connection to be paced on).
    pub(crate) fn release_withheld(&mut self, id: ParticipantId) {
        let Some(p) = self.participants.get(&id) else {
            return;
        };
        if p.withheld.is_empty() || self.feeds_full_leg(id, self.config.queue_bytes) {
            return;
        }
        self.send_withheld(id);
    }

    /// Releases what is withheld from `session`'s participants other than
    /// `except` (whose leg was just taken below its bound, or went away).
    pub(crate) fn release_session_withheld(&mut self, session: SessionKey, except: ParticipantId) {
        let waiting: smallvec::SmallVec<[ParticipantId; 2]> = self
            .peers(session, Some(except))
            .filter(|q| {
                self.participants
                    .get(q)
                    .is_some_and(|q| !q.withheld.is_empty())
            })
            .collect();
        for id in waiting {
            self.release_withheld(id);
        }
    }

    /// Every answer withheld, sent now (a drain ends: the chunks were accepted,
    /// and their REPORTs say how they fared).
    pub(crate) fn release_all_withheld(&mut self) {
        let waiting: Vec<ParticipantId> = self
            .participants
            .iter()
            .filter(|(_, p)| !p.withheld.is_empty())
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            self.send_withheld(id);
        }
    }

    /// Sends what is withheld from `id`, whatever its legs hold (its connection is
    /// about to close: the chunks were accepted).
    pub(crate) fn send_withheld(&mut self, id: ParticipantId) {
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        let conn = p.conn();
        for (on, reply) in p.withheld.take() {
            if Some(on) == conn {
                self.send_reply(on, Some(reply));
            }
        }
    }

    /// A request on a bound connection named a session-id this shard does not
    /// know: if another shard owns it, say why it is refused.
    pub(crate) fn explain_other_shard(&self, conn: ConnId, session_id: Option<&str>) {
        let Some(owner) = session_id.and_then(shard_of_session_id) else {
            return;
        };
        if owner != self.shard {
            debug!(
                conn = conn.0,
                shard = self.shard,
                owner,
                "481: the session belongs to another shard, and a connection bound here \
                 carries only this shard's sessions (colocate them with CreateSession \
                 colocate_with)"
            );
        }
    }
}
