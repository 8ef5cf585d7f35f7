//! The only place where a connection meets its socket: a reader task that feeds the
//! switch and a writer task that drains it with vectored writes.

use std::io::IoSlice;
use std::rc::Rc;

use bytes::{Buf, Bytes, BytesMut};
use smallvec::SmallVec;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;
use tracing::debug;

use crate::metrics::ShardMetrics;
use msrp_proto::endpoint::Readiness;
use msrp_proto::ids::ConnId;

use super::shard::Local;

/// Bytes asked of the socket per read.
pub(crate) const READ_BYTES: usize = 64 * 1024;

/// Most unprocessed input held while only responses may be read: enough to reach
/// the answers queued behind a request the switch is holding back, bounded so that
/// a peer that keeps sending requests cannot grow the buffer.
const RESPONSES_ONLY_BYTES: usize = 64 * 1024;

/// Reads in a row before the reader lets the writers run (their batches hold up to
/// [`WRITE_BATCH_BYTES`]: four full reads).
const READS_BEFORE_YIELD: u32 = 4;

/// Most bytes taken from the switch for one round of writes.
const WRITE_BATCH_BYTES: usize = 256 * 1024;

/// Most pieces in one `write_vectored` call (Linux IOV_MAX is 1024).
const MAX_IOVECS: usize = 64;

/// Runs the connection until the peer goes away or the switch closes it.
pub(crate) async fn drive(
    local: Rc<Local>,
    conn: ConnId,
    stream: TcpStream,
    mut buf: BytesMut,
    notify: Rc<Notify>,
) {
    let (reader, writer) = stream.into_split();
    let mut writer_task = tokio::task::spawn_local(write_loop(
        Rc::clone(&local),
        conn,
        writer,
        Rc::clone(&notify),
    ));
    // Bytes read before this task started (a handover) are input too.
    let mut unprocessed = !buf.is_empty();
    let mut reads_in_a_row = 0;
    loop {
        // A dropped slow consumer: close now, without writing what is left.
        if local.switch.borrow().is_aborted(conn) {
            break;
        }
        let readiness = local.switch.borrow().readiness(conn);
        if readiness != Readiness::Nothing && unprocessed {
            unprocessed = false;
            local
                .switch
                .borrow_mut()
                .handle_input(conn, &mut buf, std::time::Instant::now());
            local.pump();
            continue;
        }
        if local.switch.borrow().is_closing(conn) && writer_task.is_finished() {
            break;
        }
        let wants_read = match readiness {
            Readiness::Everything => true,
            Readiness::ResponsesOnly => buf.len() < RESPONSES_ONLY_BYTES,
            Readiness::Nothing => false,
        };
        if wants_read {
            buf.reserve(READ_BYTES);
            match reader.try_read_buf(&mut buf) {
                Ok(0) => {
                    debug!(conn = conn.0, "peer closed");
                    break;
                }
                Ok(n) => {
                    ShardMetrics::add(&local.metrics.received_bytes, n as u64);
                    unprocessed = true;
                    // Let the writers run every few reads: a socket that always has
                    // more must not starve the shard, and output drained between
                    // reads keeps queues short; every read would cut the writers'
                    // batches (and large chunks' throughput) short.
                    reads_in_a_row += 1;
                    if reads_in_a_row >= READS_BEFORE_YIELD {
                        reads_in_a_row = 0;
                        tokio::task::yield_now().await;
                    }
                    continue;
                }
                // Nothing now: about to wait, so give the block back unless a
                // partial frame is in it. A waiting connection holds no read buffer
                // (an idle participant costs a few KiB, not 64).
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    reads_in_a_row = 0;
                    if buf.is_empty() {
                        buf = BytesMut::new();
                    }
                }
                Err(err) => {
                    debug!(conn = conn.0, %err, "read failed");
                    break;
                }
            }
        }
        enum Wake {
            Readable(std::io::Result<()>),
            Notified,
            WriterDone,
        }
        let wake = tokio::select! {
            ready = reader.readable(), if wants_read => Wake::Readable(ready),
            () = notify.notified() => Wake::Notified,
            _ = &mut writer_task => Wake::WriterDone,
        };
        match wake {
            Wake::Readable(Err(err)) => {
                debug!(conn = conn.0, %err, "read failed");
                break;
            }
            // The read is tried at the top of the loop.
            Wake::Readable(Ok(())) => {}
            // Backpressure may have eased, or the switch wants this connection
            // closed: look again.
            Wake::Notified => unprocessed = !buf.is_empty(),
            Wake::WriterDone => break,
        }
    }
    writer_task.abort();
    local.conns.borrow_mut().remove(&conn);
    local
        .switch
        .borrow_mut()
        .handle_close(conn, std::time::Instant::now());
    local.pump();
}

/// Writes whatever the switch queues for `conn`; ends after the last byte once the
/// switch marks the connection closing, or on a write error.
async fn write_loop(
    local: Rc<Local>,
    conn: ConnId,
    mut writer: OwnedWriteHalf,
    notify: Rc<Notify>,
) {
    // Grows on first use: an idle connection's writer holds no batch.
    let mut batch: Vec<Bytes> = Vec::new();
    loop {
        let closing = {
            let mut switch = local.switch.borrow_mut();
            if switch.is_aborted(conn) {
                return;
            }
            switch.take_output(conn, &mut batch, WRITE_BATCH_BYTES);
            switch.is_closing(conn)
        };
        // Taking output frees queue room: senders held back may read again.
        local.pump();
        if batch.is_empty() {
            if closing {
                break;
            }
            notify.notified().await;
            continue;
        }
        match write_all(&local, conn, &mut writer, &mut batch).await {
            Ok(written) => ShardMetrics::add(&local.metrics.sent_bytes, written as u64),
            Err(err) => {
                debug!(conn = conn.0, %err, "write failed");
                return;
            }
        }
    }
    let _ = writer.shutdown().await;
}

/// Writes every piece, up to [`MAX_IOVECS`] per vectored write.
/// While the socket takes nothing (its buffer is full: the peer does not read), the
/// switch is told: a group that drops slow consumers does not hold its senders back
/// for this leg.
async fn write_all(
    local: &Rc<Local>,
    conn: ConnId,
    writer: &mut OwnedWriteHalf,
    batch: &mut Vec<Bytes>,
) -> std::io::Result<usize> {
    let mut blocked = false;
    let mut total = 0;
    let mut first = 0;
    while first < batch.len() {
        // The slices live inside one poll only: held across the await they would
        // put 1 KiB into every connection's writer task, idle or not.
        let pieces = &batch[first..];
        let mut written = std::future::poll_fn(|cx| {
            let slices: SmallVec<[IoSlice<'_>; MAX_IOVECS]> = pieces
                .iter()
                .take(MAX_IOVECS)
                .map(|piece| IoSlice::new(piece))
                .collect();
            let poll = std::pin::Pin::new(&mut *writer).poll_write_vectored(cx, &slices);
            if poll.is_pending() != blocked {
                blocked = poll.is_pending();
                local.switch.borrow_mut().set_write_blocked(conn, blocked);
                local.pump();
            }
            poll
        })
        .await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        total += written;
        while written > 0 {
            let piece = &mut batch[first];
            if written >= piece.len() {
                written -= piece.len();
                first += 1;
            } else {
                piece.advance(written);
                written = 0;
            }
        }
    }
    batch.clear();
    Ok(total)
}
