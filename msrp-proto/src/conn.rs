//! One MSRP connection's state: its decoder, the frames it is owed before it is
//! bound, what the frame being read is doing, and its lifecycle.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::codec::{Decoder, Head};
use crate::ids::ParticipantId;
use crate::report::Reply;
use crate::session::group::Fanout;
use crate::session::one_to_one::Forward;

/// What to do with the rest of the frame being read. One per connection, so the
/// inline head in `Report` costs memory once, not an allocation per frame.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Inbound {
    Idle,
    Forward(Box<Forward>),
    /// Refused or handled locally: answer (if owed) at the end-line.
    Answer(Option<Reply>),
    /// A REPORT to map onto the peer leg at its end-line.
    Report {
        to: ParticipantId,
        head: Head,
    },
    /// A group chunk being gathered for fan-out.
    Fanout(Box<Fanout>),
}

pub(crate) struct Conn {
    pub(crate) decoder: Decoder,
    /// Frames for a connection no participant is bound to (error responses).
    pub(crate) out: VecDeque<Bytes>,
    pub(crate) out_bytes: usize,
    pub(crate) bound: Option<ParticipantId>,
    pub(crate) inbound: Inbound,
    /// The box of the last finished `Forward`, reused by the next chunk so that
    /// forwarding allocates nothing per chunk.
    pub(crate) spare: Option<Box<Forward>>,
    /// Likewise for group chunks.
    pub(crate) spare_fanout: Option<Box<Fanout>>,
    /// The socket took nothing on the last write (its peer is not reading).
    pub(crate) write_blocked: bool,
    /// Closed at once, output discarded (a slow consumer): the transport drops the
    /// socket without writing the rest.
    pub(crate) aborted: bool,
    /// A response is being decoded: it may finish even while requests are held
    /// back (see [`Endpoint::readiness`]).
    pub(crate) in_response: bool,
    pub(crate) closing: bool,
}
