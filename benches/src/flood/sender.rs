//! The sending side of one session: SENDs with a bounded window of outstanding
//! transactions, written in batches, and the task that reads their responses.
//!
//! The window is a semaphore with `window` permits: one is taken per chunk written
//! and given back per response read, so at most `window` SEND transactions wait for
//! their 200 at any time (RFC 4975 §7.1.1 lets a sender pipeline; the window keeps
//! the flooder from measuring only its own queues). In a group, a
//! [`DeliveryGate`] also bounds the messages the receivers have not finished, and
//! every body starts with the CPIM headers (RFC 7701 §7).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::stream::{FloodRead, FloodWrite};
use msrp_switch::codec::{ContinuationFlag, Item, Method, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, watch};

use super::body::{self, BodyHeader, FLAG_MEASURED};
use super::clock;
use super::gate::DeliveryGate;
use super::ramp::Ramp;
use super::run::SessionCounters;
use super::wire::{
    ChunkRange, FrameReader, Paths, Tid, put_end_line, put_message_id, put_send_head,
};

/// A batch is written once it holds this much: big enough to amortise the system
/// call over many 1 KiB messages, small enough not to add latency of its own.
const BATCH_BYTES: usize = 64 * 1024;

/// What one sender does.
#[derive(Debug, Clone)]
pub(crate) struct SenderPlan {
    pub session: u32,
    /// Payload bytes per message (the flood body).
    pub size: usize,
    /// Written in front of every payload: the CPIM headers in a group, else empty.
    pub prefix: Vec<u8>,
    /// The SENDs' Content-Type.
    pub content_type: &'static str,
    /// Largest chunk body, prefix included.
    pub chunk_size: usize,
    /// Messages sent at or after this are measured.
    pub measure_start_ns: u64,
    /// When the sender stops.
    pub end: End,
    /// Pacing: message `k` is due at `first_due_ns + k * interval_ns`.
    pub pace: Option<Pace>,
}

/// When a sender stops starting messages.
#[derive(Debug, Clone, Copy)]
pub(crate) enum End {
    /// At this time.
    At(u64),
    /// After this many measured messages.
    Quota(u64),
}

/// A fixed schedule of due times, shared by every session of the run: message
/// `seq` of session `index` is arrival `seq * sessions + index` of the ramp, so
/// the sessions take turns and together keep the ramp's rate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    /// When arrival 0 is due ([`clock::now_ns`] time).
    pub start_ns: u64,
    /// The run's rate over time.
    pub ramp: Ramp,
    /// Sessions sharing the ramp.
    pub sessions: u64,
    /// This session's place among them.
    pub index: u64,
    /// Spin through the timer's last millisecond (see `FloodConfig::spin_pacing`).
    pub spin: bool,
}

/// How close to its due time a spin-paced message stops sleeping and spins:
/// the resolution of tokio's timer.
const SPIN_WITHIN_NS: u64 = 1_000_000;

/// How a paced sender waits for a message that is not yet due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// On the timer (wakes up to 1 ms late, with every message due meanwhile).
    Sleep,
    /// By yielding to the flooder's other tasks and looking again.
    Spin,
}

impl Pace {
    fn due(&self, seq: u64) -> u64 {
        let arrival = seq.saturating_mul(self.sessions).saturating_add(self.index);
        self.start_ns + (self.ramp.time_of(arrival as f64) * 1e9) as u64
    }

    /// How to wait from `now` until `due_ns` (later than `now`).
    fn wait(&self, due_ns: u64, now: u64) -> Wait {
        if self.spin && due_ns.saturating_sub(now) < SPIN_WITHIN_NS {
            Wait::Spin
        } else {
            Wait::Sleep
        }
    }
}

/// What a sender did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SenderStats {
    /// Measured messages written whole.
    pub measured: u64,
}

/// The message being written.
struct Outgoing {
    header: BodyHeader,
    /// Body bytes already written.
    offset: usize,
}

/// Writes SENDs on `write` until the plan ends, then holds the connection open
/// until `stop` is raised (or stops early when it is).
pub(crate) async fn run_sender(
    mut write: FloodWrite,
    paths: Paths,
    plan: SenderPlan,
    window: Arc<Semaphore>,
    gate: Option<Arc<DeliveryGate>>,
    counters: Arc<SessionCounters>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<SenderStats> {
    let mut batch: Vec<u8> = Vec::with_capacity(BATCH_BYTES + plan.chunk_size + 1024);
    let mut batch_messages = 0u64;
    let mut batch_chunks = 0u64;
    let mut current: Option<Outgoing> = None;
    // The current message's Message-ID, rewritten in place for each message.
    let mut message_id: Vec<u8> = Vec::with_capacity(32);
    let mut seq = 0u64;
    // When the pacing timer last fired.
    let mut woke_ns = 0u64;
    let mut tid = Tid::FIRST;
    let mut stats = SenderStats::default();
    let content_type = plan.content_type.as_bytes();
    let body_len = plan.prefix.len() + plan.size;

    loop {
        if current.is_none() {
            if let Some(gate) = gate.as_deref()
                && !gate.allows(seq)
            {
                // The receivers must catch up first: send what is batched (they
                // cannot finish what they have not got), then wait.
                flush(
                    &mut write,
                    &mut batch,
                    &counters,
                    &mut batch_messages,
                    &mut batch_chunks,
                )
                .await?;
                tokio::select! {
                    () = gate.wait_for(seq) => {}
                    _ = stop.changed() => break,
                }
                continue;
            }
            let now = clock::now_ns();
            let due_ns = plan.pace.map_or(now, |pace| pace.due(seq));
            // Paced, a message's time is when it was due, so that a sender held back
            // by the window still charges the wait to the target (no coordinated
            // omission), but never before the sender's timer woke: the timer's 1 ms
            // granularity is the flooder's own delay, not the target's.
            let sent_ns = due_ns.max(woke_ns.min(now));
            if due_ns > now {
                // Paced and early: send what is batched, then wait until it is due.
                flush(
                    &mut write,
                    &mut batch,
                    &counters,
                    &mut batch_messages,
                    &mut batch_chunks,
                )
                .await?;
                match plan.pace.map_or(Wait::Sleep, |pace| pace.wait(due_ns, now)) {
                    Wait::Spin => tokio::task::yield_now().await,
                    Wait::Sleep => tokio::select! {
                        _ = tokio::time::sleep_until(clock::instant_of(due_ns).into()) => {}
                        _ = stop.changed() => break,
                    },
                }
                woke_ns = clock::now_ns();
                continue;
            }
            let measured = sent_ns >= plan.measure_start_ns;
            let finished = match plan.end {
                End::At(end_ns) => sent_ns >= end_ns || now >= end_ns,
                End::Quota(quota) => measured && stats.measured >= quota,
            };
            if finished {
                break;
            }
            let header = BodyHeader {
                sent_ns,
                session: plan.session,
                flags: if measured { FLAG_MEASURED } else { 0 },
                seq,
            };
            message_id.clear();
            put_message_id(&mut message_id, plan.session, seq);
            current = Some(Outgoing { header, offset: 0 });
            seq += 1;
        }

        // One permit per chunk: wait for one only when there is nothing to write.
        let permitted = if batch.is_empty() {
            tokio::select! {
                permit = window.acquire() => {
                    permit?.forget();
                    true
                }
                _ = stop.changed() => break,
            }
        } else {
            match window.try_acquire() {
                Ok(permit) => {
                    permit.forget();
                    true
                }
                Err(_) => false,
            }
        };
        if !permitted {
            flush(
                &mut write,
                &mut batch,
                &counters,
                &mut batch_messages,
                &mut batch_chunks,
            )
            .await?;
            continue;
        }

        let Some(message) = current.as_mut() else {
            continue;
        };
        let start = message.offset;
        let end = (start + plan.chunk_size).min(body_len);
        let this = tid.advance();
        put_send_head(
            &mut batch,
            this,
            &paths,
            &message_id,
            ChunkRange {
                start: start as u64 + 1,
                end: end as u64,
                total: body_len as u64,
            },
            content_type,
        );
        put_body_range(&mut batch, &plan.prefix, &message.header, start..end);
        let last = end == body_len;
        let flag = if last {
            ContinuationFlag::End
        } else {
            ContinuationFlag::More
        };
        put_end_line(&mut batch, this, flag);
        batch_chunks += 1;
        message.offset = end;
        if last {
            if message.header.is_measured() {
                stats.measured += 1;
            }
            batch_messages += 1;
            current = None;
        }
        if batch.len() >= BATCH_BYTES {
            flush(
                &mut write,
                &mut batch,
                &counters,
                &mut batch_messages,
                &mut batch_chunks,
            )
            .await?;
        }
    }
    flush(
        &mut write,
        &mut batch,
        &counters,
        &mut batch_messages,
        &mut batch_chunks,
    )
    .await?;
    counters.sender_done.store(true, Ordering::Release);
    // Dropping the write half would send a FIN, and the target would close the
    // session while its last messages are still being delivered: hold it until the
    // run stops.
    let _ = stop.wait_for(|stopped| *stopped).await;
    drop(write);
    Ok(stats)
}

/// Appends bytes `range` of a message body that is `prefix` followed by the flood
/// body of `header`.
fn put_body_range(
    out: &mut Vec<u8>,
    prefix: &[u8],
    header: &BodyHeader,
    range: std::ops::Range<usize>,
) {
    let p = prefix.len();
    if let Some(part) = prefix.get(range.start..range.end.min(p)) {
        out.extend_from_slice(part);
    }
    if range.end > p {
        body::write_range(out, header, range.start.max(p) - p..range.end - p);
    }
}

/// Writes the batch and only then counts what it held as sent, so that a receiver
/// can never have delivered more than the counters say was sent.
async fn flush(
    write: &mut FloodWrite,
    batch: &mut Vec<u8>,
    counters: &SessionCounters,
    messages: &mut u64,
    chunks: &mut u64,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    write.write_all(batch).await?;
    // TLS keeps the last records until flushed; TCP has nothing to flush.
    write.flush().await?;
    batch.clear();
    counters.sent.fetch_add(*messages, Ordering::Release);
    counters.chunks_sent.fetch_add(*chunks, Ordering::Release);
    *messages = 0;
    *chunks = 0;
    Ok(())
}

/// Reads the sender connection: a response per SEND (each gives a window permit
/// back), and REPORTs if the path reports a failure.
pub(crate) async fn run_acks(
    mut read: FloodRead,
    mut reader: FrameReader,
    window: Arc<Semaphore>,
    counters: Arc<SessionCounters>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    loop {
        let read = tokio::select! {
            biased;
            _ = stop.changed() => return Ok(()),
            read = reader.fill(&mut read) => read,
        };
        // Once the run stops, the peer closing (after our sender's FIN) is expected.
        match read {
            Ok(0) | Err(_) if *stop.borrow() => return Ok(()),
            Ok(0) => anyhow::bail!(
                "session {}: the sender's connection was closed by the peer",
                counters.session
            ),
            Ok(_) => {}
            Err(err) => return Err(err.into()),
        }
        let mut acked = 0u64;
        let mut failed = 0u64;
        while let Some(item) = reader.next_item()? {
            let Item::Head(head) = item else { continue };
            match head.response_status() {
                Some(status) => {
                    acked += 1;
                    if status != StatusCode::OK {
                        failed += 1;
                    }
                }
                // A REPORT here means the path gave up on one of our messages.
                None if head.method() == Some(Method::Report)
                    && head.status().is_none_or(|s| !s.code.is_success()) =>
                {
                    failed += 1;
                }
                None => {}
            }
        }
        if acked > 0 {
            window.add_permits(acked as usize);
            counters.acked.fetch_add(acked, Ordering::Release);
        }
        if failed > 0 {
            counters.non_200.fetch_add(failed, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spin_paced_sender_spins_only_within_the_timers_last_millisecond() {
        let pace = |spin| Pace {
            start_ns: 0,
            ramp: Ramp::constant(1000.0).unwrap(),
            sessions: 1,
            index: 0,
            spin,
        };
        // 1,000/s: message 5 is due at 5 ms.
        assert_eq!(pace(true).due(5), 5_000_000);
        assert_eq!(pace(true).wait(5_000_000, 4_000_001), Wait::Spin);
        assert_eq!(pace(true).wait(5_000_000, 4_999_999), Wait::Spin);
        assert_eq!(pace(true).wait(5_000_000, 4_000_000), Wait::Sleep);
        assert_eq!(pace(true).wait(5_000_000, 0), Wait::Sleep);
        // Without it, the timer always.
        assert_eq!(pace(false).wait(5_000_000, 4_999_999), Wait::Sleep);
    }

    #[test]
    fn a_body_in_chunks_is_the_prefix_then_the_payload() {
        let header = BodyHeader {
            sent_ns: 1,
            session: 2,
            flags: FLAG_MEASURED,
            seq: 3,
        };
        let prefix = b"From: <sip:a@b>\r\nTo: <sip:r@b>\r\n\r\nContent-Type: x/y\r\n\r\n";
        let mut whole = prefix.to_vec();
        body::write_range(&mut whole, &header, 0..500);
        for chunk in [1, 7, 24, prefix.len(), prefix.len() + 1, 100, 1000] {
            let mut out = Vec::new();
            let mut start = 0;
            while start < whole.len() {
                let end = (start + chunk).min(whole.len());
                put_body_range(&mut out, prefix, &header, start..end);
                start = end;
            }
            assert_eq!(out, whole, "chunk {chunk}");
        }
    }
}
