//! Handing a connection, with the bytes already read from it, to the shard that
//! owns the session its next request names (design §4: a connection runs where its
//! session lives, so fan-out never crosses threads).
//!
//! Two places hand over: the listener, after the first request's head, and the
//! driver, when a connection that has not bound yet names another shard's session
//! after a request it was refused (RFC 4975 §7.3: a 481'd request is ignored, so the
//! next one may still bind).

use std::sync::Arc;

use bytes::BytesMut;
use tracing::debug;

use crate::codec::{Decoder, Framing, Item, Limits};
use crate::metrics::ShardMetrics;
use msrp_proto::codec::Method;
use msrp_proto::ids::shard_of_session_id;
use msrp_proto::relay::RELAY_SHARD;

use super::admission::Ticket;
use super::shard::{Local, ShardMsg};
use super::stream::{Detached, Stream};

/// Most times one connection moves between shards. Each move restarts the bind
/// timeout on the receiving shard, so a peer naming other shards' sessions in turn
/// could otherwise stay unbound for ever.
pub(crate) const MAX_HANDOVERS: u8 = 4;

/// Counts an open connection in `msrp_switch_connections` while no switch does
/// (from accept until a switch opens it, and while it travels between shards).
/// Dropping it takes the count back, so a connection closed on any path before a
/// switch took it is not left counted.
#[derive(Debug)]
pub(crate) struct Unowned {
    metrics: Arc<ShardMetrics>,
}

impl Unowned {
    /// Counts one connection on `metrics`' shard.
    pub(crate) fn count(metrics: &Arc<ShardMetrics>) -> Self {
        ShardMetrics::shift(&metrics.connections, 1);
        Self {
            metrics: Arc::clone(metrics),
        }
    }
}

impl Drop for Unowned {
    fn drop(&mut self) {
        ShardMetrics::shift(&self.metrics.connections, -1);
    }
}

/// A connection on its way to another shard.
pub(crate) struct Handover {
    /// The stream, off the sending shard's runtime.
    pub(crate) stream: Detached,
    /// Bytes read and not yet handled: they start with the request that named the
    /// receiving shard.
    pub(crate) buf: BytesMut,
    /// Moves so far, this one included (see [`MAX_HANDOVERS`]).
    pub(crate) moves: u8,
    /// Keeps it counted until the receiving switch opens it.
    pub(crate) counted: Unowned,
    /// Its admission slots.
    pub(crate) ticket: Ticket,
}

/// What the frame at the start of a buffer says about where it should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NextHead {
    /// The head is not all in yet.
    Incomplete,
    /// The head is in; its first To-Path URI's session-id, if it has one.
    Names(Option<String>),
    /// The head is in: an RFC 4976 AUTH to the relay's own URI (no session-id),
    /// which the relay's shard answers.
    RelayAuth,
    /// The bytes are not a valid frame: the local switch answers them (400) or
    /// closes the connection.
    Malformed,
}

/// Decodes the head `buf` starts with, from a copy: the bytes stay unread for
/// whichever shard runs them.
pub(crate) fn next_head(buf: &[u8], limits: &Limits) -> NextHead {
    let mut probe = BytesMut::from(buf);
    match Decoder::new(limits.clone()).decode(&mut probe) {
        Ok(Some(Item::Head(head))) => {
            let sid = head
                .to_path()
                .next()
                .and_then(|uri| uri.session_id().map(str::to_owned));
            if sid.is_none() && head.method() == Some(Method::Auth) {
                NextHead::RelayAuth
            } else {
                NextHead::Names(sid)
            }
        }
        Ok(_) => NextHead::Incomplete,
        Err(_) => NextHead::Malformed,
    }
}

/// The shard other than `here` that should run the request `next` describes:
/// the relay's for an AUTH to the relay, else the one its session-id names.
pub(crate) fn owner(next: &NextHead, here: u8, shards: usize) -> Option<u8> {
    match next {
        NextHead::RelayAuth => {
            Some(RELAY_SHARD).filter(|&shard| shard != here && usize::from(shard) < shards)
        }
        NextHead::Names(sid) => other_shard(sid.as_deref(), here, shards),
        NextHead::Incomplete | NextHead::Malformed => None,
    }
}

/// The shard other than `here` that `session_id` names, if that shard exists
/// (a session-id carries its shard in its first character).
pub(crate) fn other_shard(session_id: Option<&str>, here: u8, shards: usize) -> Option<u8> {
    session_id
        .and_then(shard_of_session_id)
        .filter(|&shard| shard != here && usize::from(shard) < shards)
}

/// How much of a buffer its first frame takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameLen {
    /// The whole frame is in and takes this many bytes.
    Whole(usize),
    /// Its end-line is not in yet.
    Incomplete,
    /// It is not a valid frame.
    Malformed,
}

/// How many bytes the frame `buf` starts with takes, decoding a copy. A frame
/// refused with its framing intact (answered 400 or the like) is measured too:
/// it ends where the decoder is between frames again.
pub(crate) fn frame_len(buf: &[u8], limits: &Limits) -> FrameLen {
    let mut probe = BytesMut::from(buf);
    let mut decoder = Decoder::new(limits.clone());
    let mut refused = false;
    loop {
        let consumed = |probe: &BytesMut| buf.len() - probe.len();
        match decoder.decode(&mut probe) {
            Ok(Some(Item::End(_))) => return FrameLen::Whole(consumed(&probe)),
            // After a refused frame the decoder may hand out the next head in
            // the same call: the refused frame ended where that head began.
            Ok(Some(Item::Head(head))) if refused => {
                // A bodiless head comes with its end-line already read
                // ("-------" tid flag CRLF), which its bytes do not include.
                let end_line = if decoder.is_at_end_line() {
                    7 + head.transaction_id().as_str().len() + 3
                } else {
                    0
                };
                return FrameLen::Whole(consumed(&probe) - head.as_bytes().len() - end_line);
            }
            Ok(Some(_)) => {}
            Ok(None) if refused && decoder.is_between_frames() => {
                return FrameLen::Whole(consumed(&probe));
            }
            Ok(None) => return FrameLen::Incomplete,
            Err(err) if err.framing() == Framing::Kept => {
                refused = true;
                if decoder.is_between_frames() && probe.is_empty() {
                    return FrameLen::Whole(consumed(&probe));
                }
            }
            Err(_) => return FrameLen::Malformed,
        }
    }
}

/// Sends `stream` and its unread bytes to shard `owner`.
pub(crate) fn send(
    local: &Local,
    owner: u8,
    stream: Stream,
    buf: BytesMut,
    moves: u8,
    counted: Unowned,
    ticket: Ticket,
) {
    let Some(peer) = local.peers.get(usize::from(owner)) else {
        debug!(owner, "no such shard");
        return;
    };
    let stream = match stream.detach() {
        Ok(stream) => stream,
        Err(err) => {
            debug!(%err, "could not detach the connection");
            return;
        }
    };
    let msg = ShardMsg::Handover(Handover {
        stream,
        buf,
        moves,
        counted,
        ticket,
    });
    if peer.send(msg).is_err() {
        debug!(owner, "owner shard gone");
    }
}

/// Runs a connection handed to this shard.
pub(crate) fn receive(local: &std::rc::Rc<Local>, handover: Handover) {
    ShardMetrics::add(&local.metrics.handovers, 1);
    let Handover {
        stream,
        buf,
        moves,
        counted,
        ticket,
    } = handover;
    match stream.attach() {
        Ok(stream) => super::shard::start_accepted(local, stream, buf, moves, counted, ticket),
        Err(err) => debug!(%err, "handed-over connection unusable"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIND_TO_SHARD_1: &[u8] = b"MSRP tid1 SEND\r\n\
        To-Path: msrp://127.0.0.1:2855/1SessionOnShard1;tcp\r\n\
        From-Path: msrp://127.0.0.1:9/peer;tcp\r\n\
        Byte-Range: 1-0/0\r\n\
        -------tid1$\r\n";

    #[test]
    fn the_next_request_names_another_shard_only_when_that_shard_exists() {
        let limits = Limits::default();
        let NextHead::Names(sid) = next_head(BIND_TO_SHARD_1, &limits) else {
            panic!("the head is all in");
        };
        assert_eq!(sid.as_deref(), Some("1SessionOnShard1"));
        assert_eq!(other_shard(sid.as_deref(), 0, 2), Some(1));
        assert_eq!(other_shard(sid.as_deref(), 1, 2), None);
        assert_eq!(other_shard(sid.as_deref(), 0, 1), None);
        assert_eq!(
            next_head(&BIND_TO_SHARD_1[..20], &limits),
            NextHead::Incomplete
        );
    }

    /// A refused frame whose framing is intact is measured too, so the next
    /// request on an unbound connection can still move it.
    #[test]
    fn a_refused_frame_is_measured_to_its_end_line() {
        let limits = Limits::default();
        let bad: &[u8] = b"MSRP bad1 SEND\r\n\
            To-Path: msrp://127.0.0.1:2855/1SessionOnShard1;tcp\r\n\
            From-Path: msrp://127.0.0.1:9/peer;tcp\r\n\
            Message-ID: bad1\r\nByte-Range: 9-1/5\r\nContent-Type: text/plain\r\n\r\n\
            oops!\r\n-------bad1$\r\n";
        assert_eq!(next_head(bad, &limits), NextHead::Malformed);
        assert_eq!(frame_len(bad, &limits), FrameLen::Whole(bad.len()));
        let mut two = bad.to_vec();
        two.extend_from_slice(BIND_TO_SHARD_1);
        assert_eq!(frame_len(&two, &limits), FrameLen::Whole(bad.len()));
        let mut with_body = bad.to_vec();
        with_body.extend_from_slice(
            b"MSRP tid2 SEND\r\nTo-Path: msrp://127.0.0.1:2855/x;tcp\r\n\
              From-Path: msrp://127.0.0.1:9/peer;tcp\r\nContent-Type: text/plain\r\n\r\n\
              hi\r\n-------tid2$\r\n",
        );
        assert_eq!(frame_len(&with_body, &limits), FrameLen::Whole(bad.len()));
        assert_eq!(
            frame_len(&bad[..bad.len() - 4], &limits),
            FrameLen::Incomplete
        );
    }

    #[test]
    fn a_frame_is_measured_only_once_its_end_line_is_in() {
        let limits = Limits::default();
        let mut two = BIND_TO_SHARD_1.to_vec();
        two.extend_from_slice(b"MSRP tid2 SEND\r\n");
        assert_eq!(
            frame_len(&two, &limits),
            FrameLen::Whole(BIND_TO_SHARD_1.len())
        );
        assert_eq!(
            frame_len(&BIND_TO_SHARD_1[..BIND_TO_SHARD_1.len() - 3], &limits),
            FrameLen::Incomplete
        );
        assert_eq!(
            frame_len(b"GET / HTTP/1.1\r\n\r\n", &limits),
            FrameLen::Malformed
        );
        assert_eq!(
            next_head(b"GET / HTTP/1.1\r\n\r\n", &limits),
            NextHead::Malformed
        );
    }
}
