//! The only place where a connection meets its socket: one task per connection
//! that feeds the switch what the peer sends and drains what the switch queues
//! with vectored writes.
//!
//! One task, not a reader and a writer: an idle leg then costs one task (issue 20:
//! memory per idle participant), and output the switch queues while the task
//! handles input (the sender's 200s) is written in the same wake-up, without
//! waking a second task.

use std::future::Future;
use std::io::IoSlice;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use smallvec::SmallVec;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tracing::debug;

use crate::metrics::ShardMetrics;
use msrp_proto::endpoint::Readiness;
use msrp_proto::ids::{ConnId, ParticipantId, SessionKey};

use super::admission::Ticket;
use super::handover::{self, FrameLen, MAX_HANDOVERS, NextHead, Unowned};
use super::shard::Local;
use super::stream::{CloseWatch, READ_BYTES, ReadHalf, ReadSide, Stream, WriteHalf, give_back};
use super::tapping::{Tapping, Teed};
use super::wake::ConnWake;
use super::ws::Framer;
use crate::capture::Direction;

/// Most unprocessed input held while only responses may be read: enough to reach
/// the answers queued behind a request the switch is holding back, bounded so that
/// a peer that keeps sending requests cannot grow the buffer.
const RESPONSES_ONLY_BYTES: usize = 64 * 1024;

/// Most bytes of one frame buffered, before the switch sees it, while a connection
/// that has not bound may still move to another shard: the frame must be whole to
/// know where the next one starts. A longer one settles the connection here.
const MOVABLE_FRAME_BYTES: usize = 64 * 1024;

/// How long a connection moving to another shard may take to write what the
/// switch owed it (the refusal of its last request) before it moves.
const FLUSH_BEFORE_MOVE: Duration = Duration::from_secs(5);

/// Reads in a row before the task lets the shard's other connections run (their
/// write batches hold up to [`WRITE_BATCH_BYTES`]: four full reads).
const READS_BEFORE_YIELD: u32 = 4;

/// Most bytes taken from the switch for one round of writes.
const WRITE_BATCH_BYTES: usize = 256 * 1024;

/// Most pieces in one `write_vectored` call (Linux IOV_MAX is 1024). A batch of
/// 8 KiB chunks is three pieces each (head, body, end-line): 512 rather than 64
/// writes a whole batch at once, measured 4-8 % more MB/s on 64 KiB messages in
/// 8 KiB chunks and no change on 1 KiB messages (README, issue 20). The slices
/// live on the stack of one poll only (see `write_all`).
const MAX_IOVECS: usize = 512;

/// Runs the connection until the peer goes away, the switch closes it, or it moves
/// to the shard that owns the session its next request names. `accepted` is
/// `Some` for an accepted connection: the moves so far (it may move until it
/// binds) and its admission ticket, held until the socket closes.
pub(crate) fn drive(
    local: Rc<Local>,
    conn: ConnId,
    stream: Stream,
    mut buf: BytesMut,
    wake: Rc<ConnWake>,
    accepted: Option<(u8, Ticket)>,
) -> impl Future<Output = ()> {
    let (moves, ticket) = accepted.unzip();
    let (reader, writer) = stream.into_split();
    let movable = moves.filter(|&moves| moves < MAX_HANDOVERS);
    let mut placement = Placement {
        movable,
        ticket,
        bound: None,
        // Asked now: once the peer has gone the socket may no longer know it.
        peer: reader.peer_addr(),
    };
    let mut out = Outgoing::new(writer);
    // An async block, not an async fn: an async fn keeps its arguments in its
    // future beside the locals made from them; the block holds each part of the
    // connection once (issue 20: memory per idle leg).
    async move {
        // Boxed, and awaited from a binding of its own: an async fn's future that is
        // awaited in place is stored twice in its caller's (issue 20: a connection's
        // task was 2 KiB before this).
        let running = Box::pin(run(
            &local,
            conn,
            &reader,
            &mut buf,
            &wake,
            &mut out,
            &mut placement,
        ));
        let end = running.await;
        // The ticket is read in place at the end, not moved into a local here:
        // a local that lives across the awaits below takes room of its own in
        // every connection's task (32 bytes, a 128-byte step of tokio's cell).
        let (bound, peer) = (placement.bound, placement.peer);
        let owner = match end {
            End::MoveTo(owner) => owner,
            End::Closed(why) => {
                log_drop(conn, peer, bound, why);
                close(&local, conn);
                return;
            }
            End::Written => {
                log_drop(
                    conn,
                    peer,
                    bound,
                    "closed by the switch after its last bytes",
                );
                close(&local, conn);
                // A drain waits for lingering connections too: exiting with their
                // input unread would reset them.
                local.lingering.set(local.lingering.get() + 1);
                let lingering = Box::pin(linger(&reader));
                lingering.await;
                local.lingering.set(local.lingering.get() - 1);
                return;
            }
        };
        // Write what the switch owes the peer (the refusal of its last request)
        // before the socket moves.
        let flushing = Box::pin(tokio::time::timeout(
            FLUSH_BEFORE_MOVE,
            flush_owed(&local, conn, &mut out),
        ));
        let flushed = matches!(flushing.await, Ok(Ok(())));
        // Counted until the owner's switch opens it; the switch here forgets it.
        let counted = Unowned::count(&local.metrics);
        close(&local, conn);
        match (
            flushed
                .then(|| Stream::reunite(reader, out.writer))
                .flatten(),
            placement.ticket,
        ) {
            (Some(stream), Some(ticket)) => {
                let moves = movable.unwrap_or(0).saturating_add(1);
                handover::send(&local, owner, stream, buf, moves, counted, ticket);
            }
            _ => debug!(conn = conn.0, "connection broke before it could move"),
        }
    }
}

/// Where an accepted connection stands while it runs.
struct Placement {
    /// `Some` (the moves so far) while it may still move to another shard.
    movable: Option<u8>,
    /// Its admission slots (`None` for a connection the switch opened).
    ticket: Option<Ticket>,
    /// The session and participant it bound to, once it has.
    bound: Option<(SessionKey, ParticipantId)>,
    /// The peer's address, for the log lines.
    peer: Option<std::net::SocketAddr>,
}

/// Why [`run`] returned.
enum End {
    /// The connection is over, for this reason.
    Closed(&'static str),
    /// The switch closed it and everything it owed is written (and the write
    /// side shut down): close gently, see [`linger`].
    Written,
    /// The next request names a session of this shard: hand the connection over.
    MoveTo(u8),
}

/// The operator's line for a participant's connection that ends (target
/// `msrp_switch::sessions`, info): peer address, session, participant, why. A
/// connection that never bound is a debug line only: strangers must not be able
/// to fill the log.
fn log_drop(
    conn: ConnId,
    peer: Option<std::net::SocketAddr>,
    bound: Option<(SessionKey, ParticipantId)>,
    why: &'static str,
) {
    let Some((session, participant)) = bound else {
        debug!(conn = conn.0, why, "unbound connection closed");
        return;
    };
    tracing::info!(
        target: "msrp_switch::sessions",
        peer = %peer.map_or_else(|| "-".to_owned(), |p| p.to_string()),
        %session,
        %participant,
        why,
        "connection dropped"
    );
}

/// The operator's line for a connection that bound to a participant.
fn log_bound(
    peer: Option<std::net::SocketAddr>,
    (session, participant): (SessionKey, ParticipantId),
) {
    tracing::info!(
        target: "msrp_switch::sessions",
        peer = %peer.map_or_else(|| "-".to_owned(), |p| p.to_string()),
        %session,
        %participant,
        "connection bound"
    );
}

/// Tells the switch the connection is gone and forgets its notifier.
fn close(local: &Rc<Local>, conn: ConnId) {
    local.conns.borrow_mut().remove(&conn);
    local
        .switch
        .borrow_mut()
        .handle_close(conn, std::time::Instant::now());
    local.pump();
}

/// Feeds the switch what the peer sends, as backpressure allows, and writes what
/// it queues for the peer.
async fn run(
    local: &Rc<Local>,
    conn: ConnId,
    reader: &ReadHalf,
    buf: &mut BytesMut,
    wake: &ConnWake,
    out: &mut Outgoing,
    placement: &mut Placement,
) -> End {
    // Bytes read before this task started (a handover) are input too.
    let mut unprocessed = !buf.is_empty();
    let mut reads_in_a_row = 0;
    // Set while the connection is not read, to see the peer go all the same.
    // Boxed: only a held-back connection has one.
    let mut close_watch: Option<Box<CloseWatch>> = None;
    // Frame capture of what the peer sends, while its session is captured.
    let mut tapping = Tapping::default();
    // The peer shut its side: what it sent is still handled, then the switch is
    // told (once) and the connection closes after what it is owed.
    let mut peer_done = false;
    let mut told = false;
    loop {
        // A dropped slow consumer: close now, without writing what is left.
        if local.switch.borrow().is_aborted(conn) {
            return End::Closed("aborted by the switch (slow consumer or stalled receiver)");
        }
        // Bound (or closing): no longer a stranger under the unbound cap.
        if placement.bound.is_none() && !local.switch.borrow().is_unbound(conn) {
            if let Some(ticket) = placement.ticket.as_mut() {
                ticket.bound();
            }
            placement.bound = local.switch.borrow().conn_participant(conn);
            if let Some(bound) = placement.bound {
                log_bound(placement.peer, bound);
            }
        }
        let readiness = local.switch.borrow().readiness(conn);
        if readiness != Readiness::Nothing && unprocessed {
            unprocessed = false;
            if placement.movable.is_some() {
                match feed_unbound(local, conn, buf) {
                    Unbound::MoveTo(owner) => return End::MoveTo(owner),
                    Unbound::Wait => continue,
                    Unbound::Settled => placement.movable = None,
                }
            }
            local
                .switch
                .borrow_mut()
                .handle_input(conn, buf, std::time::Instant::now());
            local.pump();
            continue;
        }
        // Everything the peer sent that can be handled has been: a frame still
        // incomplete will never be.
        if peer_done && !told && (buf.is_empty() || readiness == Readiness::Everything) {
            told = true;
            local
                .switch
                .borrow_mut()
                .handle_end_of_input(conn, std::time::Instant::now());
            local.pump();
            continue;
        }
        // Closing, and every byte it was owed is written: end the sending side
        // (a FIN after the last byte, TLS's close_notify first).
        if local.switch.borrow().is_closing(conn) && !out.has_pending() && !out.take(local, conn) {
            let _ = out.writer.shutdown().await;
            return End::Written;
        }
        let wants_read = match readiness {
            _ if peer_done => false,
            Readiness::Everything => true,
            Readiness::ResponsesOnly => buf.len() < RESPONSES_ONLY_BYTES,
            Readiness::Nothing => false,
        };
        if wants_read {
            close_watch = None;
            buf.reserve(READ_BYTES);
            let before = buf.len();
            match reader.try_read_buf(buf) {
                Ok(0) => {
                    // The peer is done sending; what it sent is still handled
                    // and what it is owed (answers, REPORTs) written before the
                    // connection closes.
                    debug!(conn = conn.0, "peer closed its side");
                    peer_done = true;
                    unprocessed = !buf.is_empty();
                    continue;
                }
                Ok(n) => {
                    ShardMetrics::add(&local.metrics.received_bytes, n as u64);
                    if tapping.wanted(local, conn) {
                        tapping.feed(
                            local,
                            conn,
                            &buf[before..],
                            Direction::Received,
                            // Asked per read while captured only: kept, the
                            // address would cost every idle leg 32 bytes.
                            reader.local_addr(),
                            placement.peer,
                        );
                    }
                    unprocessed = true;
                    // Let the other connections run every few reads: a socket
                    // that always has more must not starve the shard, and output
                    // drained between reads keeps queues short; every read would
                    // cut their batches (and large chunks' throughput) short.
                    reads_in_a_row += 1;
                    if reads_in_a_row >= READS_BEFORE_YIELD {
                        reads_in_a_row = 0;
                        tokio::task::yield_now().await;
                        // Then this connection's own output (its sender's 200s),
                        // after what the reads forwarded to the others.
                        if let Err(err) = write_owed(local, conn, out).await {
                            return write_failed(local, conn, &err);
                        }
                    }
                    continue;
                }
                // Nothing now: about to wait, so give the block back.
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    reads_in_a_row = 0;
                    give_back(buf);
                }
                Err(err) => {
                    debug!(conn = conn.0, %err, "read failed");
                    return End::Closed("read error (reset)");
                }
            }
        } else if close_watch.is_none() && !peer_done {
            // Not read, so an end of stream or a reset would never be seen: a dead
            // client would stay bound for ever (its peer may never read again).
            match reader.watch_close() {
                Ok(watch) => close_watch = Some(Box::new(watch)),
                Err(err) => debug!(conn = conn.0, %err, "cannot watch for the peer's close"),
            }
        }
        // About to wait: what the switch queued meanwhile (the answers to the
        // input just handled among it) goes out first, in one write for
        // several reads' worth, as far as the socket takes it.
        match write_owed(local, conn, out).await {
            Err(err) => return write_failed(local, conn, &err),
            // A whole batch went: there may be more.
            Ok(true) => continue,
            Ok(false) => {}
        }
        enum Wake {
            Readable(std::io::Result<()>),
            PeerGone(std::io::Result<()>),
            Notified,
            Written(std::io::Result<()>),
        }
        let watching = !wants_read && close_watch.is_some();
        let writing = out.has_pending();
        // Every branch's future is stored in the task while it waits, so the
        // readiness is polled and the close watch (rare: a held-back
        // connection) boxed (issue 20: memory per idle leg).
        let wake = tokio::select! {
            ready = std::future::poll_fn(|cx| reader.poll_readable(cx)), if wants_read => {
                Wake::Readable(ready)
            }
            gone = async {
                match close_watch.as_mut() {
                    Some(watch) => Box::pin(watch.closed()).await,
                    None => std::future::pending().await,
                }
            }, if watching => Wake::PeerGone(gone),
            () = std::future::poll_fn(|cx| wake.poll_woken(cx)) => Wake::Notified,
            // Cancel-safe: every poll's progress is kept in `out`.
            written = std::future::poll_fn(|cx| out.poll_write(cx, local, conn)), if writing => {
                Wake::Written(written)
            }
        };
        match wake {
            Wake::Readable(Err(err)) | Wake::PeerGone(Err(err)) => {
                debug!(conn = conn.0, %err, "read failed");
                return End::Closed("read error (reset)");
            }
            Wake::PeerGone(Ok(())) => {
                debug!(conn = conn.0, "peer closed or reset while not read");
                return End::Closed("closed or reset by the peer while held back");
            }
            // The read is tried at the top of the loop.
            Wake::Readable(Ok(())) => {}
            // Backpressure may have eased, output may wait, or the switch wants
            // this connection closed: look again.
            Wake::Notified => unprocessed = !buf.is_empty(),
            // The batch is out: the next one is taken at the top of the loop.
            Wake::Written(Ok(())) => {}
            Wake::Written(Err(err)) => return write_failed(local, conn, &err),
        }
    }
}

/// A write failed: the peer is gone (or, for a connection the switch was
/// closing anyway, it is over as if written).
fn write_failed(local: &Local, conn: ConnId, err: &std::io::Error) -> End {
    debug!(conn = conn.0, %err, "write failed");
    if local.switch.borrow().is_closing(conn) {
        End::Written
    } else {
        End::Closed("write error (the peer is gone)")
    }
}

/// Takes the switch's output for `conn` if no batch is pending, and writes as
/// much as the socket takes now without waiting: true if a whole batch went.
async fn write_owed(local: &Rc<Local>, conn: ConnId, out: &mut Outgoing) -> std::io::Result<bool> {
    if !out.has_pending() && !out.take(local, conn) {
        return Ok(false);
    }
    // One poll: a full socket registers the wake-up the select waits for.
    match std::future::poll_fn(|cx| Poll::Ready(out.poll_write(cx, local, conn))).await {
        Poll::Ready(Ok(())) => Ok(true),
        Poll::Ready(Err(err)) => Err(err),
        Poll::Pending => Ok(false),
    }
}

/// Writes what the switch owes a connection about to move (the refusal of its
/// last request), all of it.
async fn flush_owed(local: &Rc<Local>, conn: ConnId, out: &mut Outgoing) -> std::io::Result<()> {
    loop {
        if !out.has_pending() && !out.take(local, conn) {
            return Ok(());
        }
        std::future::poll_fn(|cx| out.poll_write(cx, local, conn)).await?;
    }
}

/// How long a connection the switch closed stays open after the last byte it
/// was owed, at most, waiting for the peer to close its side. A socket closed
/// with unread input is reset, and a reset discards whatever the peer had not
/// yet taken of the switch's last bytes (the REPORTs and `#` of a drain or a
/// removal): held open, not read, the peer gets them all, and its close (or
/// this timeout) ends the wait.
const LINGER: Duration = Duration::from_secs(5);

/// The lingering close: the write side is shut (FIN sent after the last
/// byte); with input waiting unread, the connection is held, its input left unread (the peer's sends stop
/// once the window closes: no CPU, and memory only in the kernel's bounded
/// buffers), until the peer closes or resets it, or [`LINGER`].
async fn linger(reader: &ReadHalf) {
    // Nothing unread: closing sends a FIN after the last byte, no reset.
    if !reader.has_unread_input() {
        return;
    }
    let Ok(mut watch) = reader.watch_close() else {
        return;
    };
    let _ = tokio::time::timeout(LINGER, watch.closed()).await;
}

/// What [`feed_unbound`] decided.
enum Unbound {
    /// The next request names another shard's session.
    MoveTo(u8),
    /// The next frame is not all in: read more first.
    Wait,
    /// The connection stays here: the rest of `buf` goes to the switch as usual.
    Settled,
}

/// RFC 4975 §7.3: a request refused 481 is ignored and the next request on the
/// connection may still bind, possibly to a session of another shard. The same
/// holds after a 403 from this shard (a From-Path that is not the participant's).
/// Until a request binds the connection, the switch gets whole frames one at a
/// time, so that each next head is seen first.
fn feed_unbound(local: &Rc<Local>, conn: ConnId, buf: &mut BytesMut) -> Unbound {
    loop {
        if buf.is_empty() {
            return Unbound::Wait;
        }
        let next = handover::next_head(buf, &local.limits);
        if let Some(owner) = handover::owner(&next, local.index, local.peers.len()) {
            return Unbound::MoveTo(owner);
        }
        let sid = match next {
            NextHead::Names(sid) => sid,
            NextHead::Incomplete => return Unbound::Wait,
            // Refused here, whoever owns it: if its length is known (its framing
            // is intact), it is answered and the next request may still move.
            // An AUTH to the relay is answered here, the relay's shard.
            NextHead::Malformed | NextHead::RelayAuth => None,
        };
        let sid = sid.as_deref();
        let owned = sid.is_some_and(|sid| local.switch.borrow().owns_session_id(sid));
        let len = match handover::frame_len(buf, &local.limits) {
            FrameLen::Whole(len) => len,
            // A frame for a session of this shard binds here (or is refused
            // here) as it streams in: no reason to hold it back.
            FrameLen::Incomplete if owned => return Unbound::Settled,
            FrameLen::Incomplete if buf.len() <= MOVABLE_FRAME_BYTES => return Unbound::Wait,
            // A refused frame (400) is the switch's to answer, whole: it stays.
            FrameLen::Incomplete | FrameLen::Malformed => return Unbound::Settled,
        };
        let mut frame = buf.split_to(len);
        local
            .switch
            .borrow_mut()
            .handle_input(conn, &mut frame, std::time::Instant::now());
        local.pump();
        // Bound (or binding, or closing) here: the rest is this shard's. Held back
        // mid-frame: the switch's decoder is no longer at a frame boundary, so no
        // next head can be told apart.
        if !frame.is_empty() || !local.switch.borrow().is_unbound(conn) {
            frame.unsplit(std::mem::take(buf));
            *buf = frame;
            return Unbound::Settled;
        }
    }
}

/// The sending side of a connection: the batch taken from the switch and how far
/// it is written. Progress is kept here, not in a future, so a write interrupted
/// by input (a select) goes on where it stopped.
pub(crate) struct Outgoing {
    writer: WriteHalf,
    /// Pieces taken from the switch, written from `first` on. Borrowed from the
    /// shard's spare for a round of writes and given back once it is all
    /// written: an idle connection holds no batch, nor its capacity (issue 20:
    /// memory per idle leg), and steady forwarding allocates none; only a
    /// connection whose socket is full keeps one (a new one is then grown for
    /// the next writer).
    batch: Vec<Bytes>,
    first: usize,
    /// Pieces are written and not yet flushed (TLS holds the last records).
    unflushed: bool,
    /// The socket (or TLS) took nothing at the last try: the switch knows.
    blocked: bool,
    /// WebSocket (RFC 7977): each MSRP frame into one message, control frames
    /// owed to the peer between them. Boxed: most connections are not
    /// WebSocket, and every connection holds this.
    framer: Option<Box<Framer>>,
    /// Frame capture of what the switch writes, while the session is captured.
    tapping: Tapping,
}

impl Outgoing {
    fn new(writer: WriteHalf) -> Self {
        Self {
            framer: writer.is_websocket().then(Box::default),
            writer,
            batch: Vec::new(),
            first: 0,
            unflushed: false,
            blocked: false,
            tapping: Tapping::default(),
        }
    }

    /// True while pieces wait to be written or flushed.
    fn has_pending(&self) -> bool {
        self.first < self.batch.len() || self.unflushed
    }

    /// Takes up to [`WRITE_BATCH_BYTES`] of what the switch queued for `conn`
    /// (and a WebSocket's control frames); true if anything was taken.
    fn take(&mut self, local: &Rc<Local>, conn: ConnId) -> bool {
        self.batch.clear();
        self.first = 0;
        if self.batch.capacity() == 0 {
            self.batch = local.spare_batch.take();
        }
        let tapped = self.tapping.wanted(local, conn);
        let mut copy: Vec<u8> = Vec::new();
        {
            let mut switch = local.switch.borrow_mut();
            let now = std::time::Instant::now();
            match self.framer.as_deref_mut() {
                Some(framer) => {
                    let control = self.writer.take_control();
                    if !control.is_empty() {
                        self.batch.push(Bytes::from(control));
                    }
                    if tapped {
                        let mut teed = Teed {
                            inner: framer,
                            copy: &mut copy,
                        };
                        switch.take_output_at(conn, &mut teed, WRITE_BATCH_BYTES, now);
                    } else {
                        switch.take_output_at(conn, framer, WRITE_BATCH_BYTES, now);
                    }
                    framer.finish();
                    self.batch.append(&mut framer.out);
                }
                None if tapped => {
                    let mut teed = Teed {
                        inner: &mut self.batch,
                        copy: &mut copy,
                    };
                    switch.take_output_at(conn, &mut teed, WRITE_BATCH_BYTES, now);
                }
                None => {
                    switch.take_output_at(conn, &mut self.batch, WRITE_BATCH_BYTES, now);
                }
            }
        }
        if !copy.is_empty() {
            let (ours, peer) = self.writer.addrs();
            self.tapping
                .feed(local, conn, &copy, Direction::Sent, ours, peer);
        }
        if self.batch.is_empty() {
            self.give_back(local);
            return false;
        }
        // Taking output frees queue room: senders held back may read again.
        local.pump();
        true
    }

    /// Writes the batch, up to [`MAX_IOVECS`] pieces per vectored write, then
    /// flushes. While the socket takes nothing (its buffer is full: the peer
    /// does not read) the switch is told: a group that drops slow consumers does
    /// not hold its senders back for this leg.
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        local: &Rc<Local>,
        conn: ConnId,
    ) -> Poll<std::io::Result<()>> {
        while self.first < self.batch.len() {
            // The slices live inside one poll only: kept, they would put 8 KiB
            // into every connection's state, idle or not.
            let slices: SmallVec<[IoSlice<'_>; MAX_IOVECS]> = self.batch[self.first..]
                .iter()
                .take(MAX_IOVECS)
                .map(|piece| IoSlice::new(piece))
                .collect();
            let poll = std::pin::Pin::new(&mut self.writer).poll_write_vectored(cx, &slices);
            drop(slices);
            report_blocked(local, conn, &mut self.blocked, poll.is_pending());
            let mut written = match poll {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(written)) => written,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            };
            ShardMetrics::add(&local.metrics.sent_bytes, written as u64);
            self.unflushed = true;
            while written > 0 {
                let piece = &mut self.batch[self.first];
                if written >= piece.len() {
                    written -= piece.len();
                    self.first += 1;
                } else {
                    piece.advance(written);
                    written = 0;
                }
            }
        }
        if self.unflushed {
            // TLS holds the last records until flushed (TCP has nothing to flush).
            let poll = std::pin::Pin::new(&mut self.writer).poll_flush(cx);
            report_blocked(local, conn, &mut self.blocked, poll.is_pending());
            match poll {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.give_back(local);
        Poll::Ready(Ok(()))
    }

    /// The batch is written: it goes back to the shard's spare (the larger of
    /// the two is kept).
    fn give_back(&mut self, local: &Local) {
        self.batch.clear();
        self.first = 0;
        let spare = local.spare_batch.take();
        if spare.capacity() >= self.batch.capacity() {
            local.spare_batch.set(spare);
            self.batch = Vec::new();
        } else {
            local.spare_batch.set(std::mem::take(&mut self.batch));
        }
    }
}

/// Tells the switch when a writer turns blocked (the socket or the TLS records take
/// nothing more) or free again; only changes are reported.
fn report_blocked(local: &Rc<Local>, conn: ConnId, blocked: &mut bool, pending: bool) {
    if pending != *blocked {
        *blocked = pending;
        local.switch.borrow_mut().set_write_blocked(conn, pending);
        local.pump();
    }
}
