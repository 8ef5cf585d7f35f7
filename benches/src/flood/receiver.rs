//! The receiving side of one session (one member of a group): answers every SEND
//! with a 200, reassembles chunks per Message-ID, checks each whole body (behind its
//! CPIM headers in a group) and records its latency.
//!
//! Besides the body, a chunk's Byte-Range must be exact where it is stated: its
//! start right after the bytes already received, its end at the chunk's last byte,
//! and the total at the message's last byte.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::stream::{FloodRead, FloodWrite};
use hdrhistogram::Histogram;
use msrp_switch::codec::{ContinuationFlag, Head, Item, MessageId, Method};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use super::body::BodyCheck;
use super::clock;
use super::cpim::CpimSkip;
use super::gate::DeliveryGate;
use super::run::SessionCounters;
use super::timeline::IntervalRecorder;
use super::wire::{FrameReader, put_ok, wants_ok};

/// Highest latency the histogram holds, in microseconds (one hour); above it a value
/// is recorded as this.
pub(crate) const MAX_LATENCY_US: u64 = 3_600_000_000;

/// What one receiver saw.
#[derive(Debug)]
pub(crate) struct ReceiverStats {
    /// Send-to-delivery latency of measured messages, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Measured messages delivered intact.
    pub measured: u64,
    /// Bodies that arrived wrong: other bytes, other length, another session's.
    pub mismatched: u64,
    /// Messages delivered again after a later one (sequence went back).
    pub duplicates: u64,
    /// When the last measured message was delivered (`clock::now_ns`).
    pub last_measured_ns: u64,
}

/// A histogram for latencies in microseconds, 3 significant digits.
pub(crate) fn latency_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .map_err(|err| anyhow::anyhow!("latency histogram: {err:?}"))
}

/// What one receiver expects.
#[derive(Debug)]
pub(crate) struct ReceiverPlan {
    /// The receiver's own URI: the From-Path of its 200s.
    pub own_path: String,
    /// The session whose sender's messages it expects.
    pub session: u32,
    /// The receiver's place among the session's receivers (for the gate).
    pub index: usize,
    /// Payload bytes per message.
    pub size: usize,
    /// Bodies start with CPIM headers to skip (a group).
    pub cpim: bool,
    /// The sender waits on this receiver's progress (a group).
    pub gate: Option<Arc<DeliveryGate>>,
    /// The per-second log's recorder, when one was asked for: every delivered
    /// message's latency, warm-up included.
    pub interval: Option<Arc<IntervalRecorder>>,
}

/// A message whose chunks are arriving.
struct Partial {
    message_id: MessageId,
    /// Body bytes received, CPIM headers included.
    received: u64,
    /// The message size its chunks state, when they do.
    total: Option<u64>,
    /// The CPIM headers still to skip, in a group.
    cpim: Option<CpimSkip>,
    check: BodyCheck,
    /// A chunk arrived out of place, or its CPIM headers were malformed: the message
    /// cannot be intact.
    broken: bool,
}

impl Partial {
    fn feed(&mut self, piece: &[u8]) {
        self.received += piece.len() as u64;
        let payload = match self.cpim.as_mut().map(|skip| skip.feed(piece)) {
            None => piece,
            Some(Ok(payload)) => payload,
            Some(Err(_)) => {
                self.broken = true;
                return;
            }
        };
        if !payload.is_empty() {
            self.check.feed(payload);
        }
    }

    /// True when the whole message arrived as sent.
    fn is_intact(&self, size: usize) -> bool {
        !self.broken
            && self.cpim.as_ref().is_none_or(CpimSkip::is_done)
            && self.total.is_none_or(|total| total == self.received)
            && self.check.is_intact()
            && self.check.received() == size
    }
}

/// The frame being read.
// One value per connection, moved once per frame: boxing the head would cost an
// allocation per SEND for nothing.
#[allow(clippy::large_enum_variant)]
enum Current {
    /// Nothing of interest (a response, a REPORT): skip to its end-line.
    Skip,
    /// A SEND: answer it at its end-line; its body belongs to `partials[slot]`, if
    /// any, and ends at message byte `end` when the Byte-Range says so.
    Send {
        head: Head,
        slot: Option<usize>,
        end: Option<u64>,
    },
}

/// Receives on `read`, answers on `write`, until `stop` is raised.
pub(crate) async fn run_receiver(
    mut read: FloodRead,
    mut reader: FrameReader,
    mut write: FloodWrite,
    plan: ReceiverPlan,
    counters: Arc<SessionCounters>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<ReceiverStats> {
    let ReceiverPlan {
        own_path,
        session,
        index,
        size,
        cpim,
        gate,
        interval,
    } = plan;
    let mut stats = ReceiverStats {
        latency_us: latency_histogram()?,
        measured: 0,
        mismatched: 0,
        duplicates: 0,
        last_measured_ns: 0,
    };
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    // In-order delivery keeps this at one entry; a Vec beats a map at that size.
    let mut partials: Vec<Partial> = Vec::new();
    let mut current = Current::Skip;
    let mut next_seq = 0u64;
    let mut delivered = 0u64;
    // Delivered messages already added to the session's counter (which every
    // receiver of a group adds to).
    let mut counted = 0u64;
    let mut reports_failed = 0u64;

    loop {
        let read = tokio::select! {
            biased;
            _ = stop.changed() => break,
            read = reader.fill(&mut read) => read,
        };
        // Once the run stops, the peer closing (after our sender's FIN) is expected.
        match read {
            Ok(0) | Err(_) if *stop.borrow() => break,
            Ok(0) => anyhow::bail!(
                "session {session}: the connection of receiver {index} was closed by the peer{}",
                if cpim {
                    " (a group switch closes a slow consumer's connection)"
                } else {
                    ""
                }
            ),
            Ok(_) => {}
            Err(err) => return Err(err.into()),
        }
        // The last byte of everything completed in this read arrived now.
        let now = clock::now_ns();
        while let Some(item) = reader.next_item()? {
            match item {
                Item::Head(head) => {
                    current = match head.method() {
                        Some(Method::Send) => {
                            let slot = track(&head, &mut partials, cpim);
                            let end = head.byte_range().and_then(|r| r.end);
                            Current::Send { head, slot, end }
                        }
                        Some(Method::Report) => {
                            if head.status().is_none_or(|s| !s.code.is_success()) {
                                reports_failed += 1;
                            }
                            Current::Skip
                        }
                        _ => Current::Skip,
                    };
                }
                Item::Body(piece) => {
                    if let Current::Send {
                        slot: Some(slot), ..
                    } = current
                        && let Some(partial) = partials.get_mut(slot)
                    {
                        partial.feed(&piece);
                    }
                }
                Item::End(flag) => {
                    let Current::Send { head, slot, end } =
                        std::mem::replace(&mut current, Current::Skip)
                    else {
                        continue;
                    };
                    if wants_ok(&head) {
                        put_ok(&mut out, &head, &own_path);
                    }
                    let Some(slot) = slot else { continue };
                    if let Some(partial) = partials.get_mut(slot)
                        && flag != ContinuationFlag::Abort
                        && end.is_some_and(|end| end != partial.received)
                    {
                        partial.broken = true;
                    }
                    match flag {
                        ContinuationFlag::More => continue,
                        // An aborted message is not delivered; it shows as lost.
                        ContinuationFlag::Abort => {
                            partials.swap_remove(slot);
                            continue;
                        }
                        ContinuationFlag::End => {}
                    }
                    let partial = partials.swap_remove(slot);
                    let intact = partial.is_intact(size);
                    let header = partial.check.header().filter(|h| h.session == session);
                    let Some(header) = header.filter(|_| intact) else {
                        stats.mismatched += 1;
                        continue;
                    };
                    if header.seq < next_seq {
                        stats.duplicates += 1;
                        continue;
                    }
                    next_seq = header.seq + 1;
                    delivered += 1;
                    if let Some(interval) = interval.as_deref() {
                        interval.record_latency_us(now.saturating_sub(header.sent_ns) / 1000);
                    }
                    if header.is_measured() {
                        stats.measured += 1;
                        stats
                            .latency_us
                            .saturating_record(now.saturating_sub(header.sent_ns) / 1000);
                        stats.last_measured_ns = now;
                    }
                }
            }
        }
        if !out.is_empty() {
            // TLS keeps the last records until flushed; TCP has nothing to flush.
            let written = match write.write_all(&out).await {
                Ok(()) => write.flush().await,
                Err(err) => Err(err),
            };
            match written {
                Err(_) if *stop.borrow() => break,
                result => result?,
            }
            out.clear();
        }
        if delivered > counted {
            counters
                .delivered
                .fetch_add(delivered - counted, Ordering::Release);
            counted = delivered;
        }
        if let Some(gate) = gate.as_deref() {
            gate.record(index, delivered + stats.mismatched + stats.duplicates);
        }
        if reports_failed > 0 {
            counters
                .non_200
                .fetch_add(reports_failed, Ordering::Relaxed);
            reports_failed = 0;
        }
    }
    Ok(stats)
}

/// Finds or starts the message a SEND's chunk belongs to; `None` for a SEND with no
/// body to check (a keep-alive) or without a Message-ID or Byte-Range. A chunk must
/// start right after the bytes already received: the switch may cut our chunks
/// (`start-*/total`) but never reorder or overlap them.
fn track(head: &Head, partials: &mut Vec<Partial>, cpim: bool) -> Option<usize> {
    let message_id = head.message_id()?;
    let range = head.byte_range()?;
    if range.total == Some(0) || !head.has_body() {
        return None;
    }
    if let Some(slot) = partials.iter().position(|p| p.message_id == message_id) {
        let partial = &mut partials[slot];
        if range.start != partial.received + 1 {
            partial.broken = true;
        }
        // A total may be `*` until a later chunk knows it; once known it stays.
        match (partial.total, range.total) {
            (None, total) => partial.total = total,
            (Some(known), Some(total)) if known != total => partial.broken = true,
            _ => {}
        }
        return Some(slot);
    }
    partials.push(Partial {
        message_id,
        received: 0,
        total: range.total,
        cpim: cpim.then(CpimSkip::new),
        check: BodyCheck::new(),
        broken: range.start != 1,
    });
    Some(partials.len() - 1)
}
