//! The driver's side of frame capture (`crate::capture`): for a connection
//! whose session is captured, the bytes read and written pass through a
//! [`Tap`] per direction, and each whole frame goes to the capture sink.
//! A connection nobody captures costs one check per read and per write.

use std::net::SocketAddr;
use std::time::SystemTime;

use bytes::Bytes;
use msrp_proto::Transmits;
use msrp_proto::ids::ConnId;

use super::shard::Local;
use crate::capture::{CapturedFrame, Direction, Tap};

/// One direction of a connection, as captured.
#[derive(Default)]
pub(crate) struct Tapping {
    /// Boxed: a tap (a frame decoder) is some 350 bytes, and every connection's
    /// reader and writer hold a `Tapping`, captured or not (issue 20: memory
    /// per idle leg).
    tap: Option<Box<Tap>>,
}

impl Tapping {
    /// The connection's session is captured now (a tap is kept for it), or not
    /// (the tap goes).
    pub(crate) fn wanted(&mut self, local: &Local, conn: ConnId) -> bool {
        if !local.capture.is_wanted() {
            self.tap = None;
            return false;
        }
        let all = local.capture.settings().all;
        if local.switch.borrow().captured(conn, all).is_none() {
            self.tap = None;
            return false;
        }
        true
    }

    /// `bytes` passed in `direction` between the switch (`ours`) and the peer.
    pub(crate) fn feed(
        &mut self,
        local: &Local,
        conn: ConnId,
        bytes: &[u8],
        direction: Direction,
        ours: Option<SocketAddr>,
        peer: Option<SocketAddr>,
    ) {
        let all = local.capture.settings().all;
        let Some(tag) = local.switch.borrow().captured(conn, all) else {
            self.tap = None;
            return;
        };
        let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
        let (ours, peer) = (ours.unwrap_or(unknown), peer.unwrap_or(unknown));
        let (source, destination) = match direction {
            Direction::Received => (peer, ours),
            Direction::Sent => (ours, peer),
        };
        let max_body = local.capture.settings().max_body_bytes;
        let tap = self
            .tap
            .get_or_insert_with(|| Box::new(Tap::new(local.limits.clone(), max_body)));
        tap.feed(bytes, |frame, omitted| {
            local.capture.offer(CapturedFrame {
                time: SystemTime::now(),
                direction,
                source,
                destination,
                session: tag.session,
                correlation: std::sync::Arc::clone(&tag.correlation),
                frame,
                omitted,
            });
        });
    }
}

/// A [`Transmits`] that also keeps a copy of every piece (for a captured
/// connection's writer).
pub(crate) struct Teed<'a, T> {
    pub(crate) inner: &'a mut T,
    pub(crate) copy: &'a mut Vec<u8>,
}

impl<T: Transmits> Transmits for Teed<'_, T> {
    fn push_piece(&mut self, piece: Bytes, ends_frame: bool) {
        self.copy.extend_from_slice(&piece);
        self.inner.push_piece(piece, ends_frame);
    }
}
