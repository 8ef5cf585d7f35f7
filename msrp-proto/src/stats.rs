//! The core's counters and gauges: one [`Stats`] per shard, written by that shard
//! alone (uncontended relaxed atomics on the forwarding path) and read by the daemon,
//! which renders them. Labels are fixed, bounded sets (method, status, kind).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::codec::{Method, StatusCode};

/// The `method` label of frame counters: request methods, plus responses.
pub const FRAME_KINDS: [&str; 6] = ["SEND", "REPORT", "AUTH", "NICKNAME", "other", "response"];

/// The `status` label values; codes outside the list count as `other`.
pub const STATUSES: [u16; 15] = [
    200, 400, 401, 403, 404, 408, 413, 415, 423, 424, 425, 428, 481, 501, 506,
];

/// Slots of a by-status counter array: every listed status, then `other`.
pub const STATUS_SLOTS: usize = STATUSES.len() + 1;

/// The slot of a frame kind in [`FRAME_KINDS`].
pub fn frame_kind(method: Option<Method>) -> usize {
    match method {
        Some(Method::Send) => 0,
        Some(Method::Report) => 1,
        Some(Method::Auth) => 2,
        Some(Method::Nickname) => 3,
        Some(Method::Other) => 4,
        None => 5,
    }
}

/// The slot of a status in a by-status counter array.
pub fn status_slot(code: StatusCode) -> usize {
    STATUSES
        .iter()
        .position(|&s| s == code.as_u16())
        .unwrap_or(STATUSES.len())
}

/// Upper bounds of the latency histograms' buckets, in seconds: 10 µs to 10 s,
/// about three per decade (a forwarded chunk takes microseconds, a receiver's
/// answer milliseconds, a stalled one seconds).
pub const LATENCY_BUCKETS: [f64; 19] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// [`LATENCY_BUCKETS`] in nanoseconds, for the forwarding path.
const LATENCY_BUCKETS_NANOS: [u64; 19] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// A latency histogram one shard writes alone and the daemon reads at scrape
/// time: a count per [`LATENCY_BUCKETS`] bucket (not cumulative; the last slot
/// is `+Inf`), and the sum. An observation is a few relaxed atomic adds, no lock
/// and no allocation.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Counts one observation.
    pub fn observe(&self, elapsed: std::time::Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let slot = LATENCY_BUCKETS_NANOS
            .iter()
            .position(|&bound| nanos <= bound)
            .unwrap_or(LATENCY_BUCKETS_NANOS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Adds this histogram's counts (per bucket, not cumulative; `+Inf` last)
    /// and its sum in seconds into `counts` and `sum`, to sum several shards.
    pub fn add_to(&self, counts: &mut [u64; LATENCY_BUCKETS.len() + 1], sum: &mut f64) {
        for (total, bucket) in counts.iter_mut().zip(&self.buckets) {
            *total = total.saturating_add(bucket.load(Ordering::Relaxed));
        }
        *sum += self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
    }
}

/// One shard's counters and gauges.
#[derive(Debug, Default)]
pub struct Stats {
    /// Open 1:1 sessions.
    pub sessions_one_to_one: AtomicI64,
    /// Participants in 1:1 sessions.
    pub participants_one_to_one: AtomicI64,
    /// Open group sessions.
    pub sessions_group: AtomicI64,
    /// Participants in group sessions.
    pub participants_group: AtomicI64,
    /// From the read that queued a chunk's head for a participant to the write
    /// that took its first byte (sampled: each leg times one chunk at a time).
    pub forward_latency: Histogram,
    /// From the switch's request being queued whole (its end-line) to its
    /// response: a receiver's answer time, queueing included.
    pub response_latency: Histogram,
    /// TLS handshakes, accepted and opened, from the first byte to done (the
    /// transport's).
    pub tls_handshake_latency: Histogram,
    /// Open large message sessions.
    pub sessions_large_message: AtomicI64,
    /// Participants in large message sessions.
    pub participants_large_message: AtomicI64,
    /// Large messages the switch has whole from their senders.
    pub large_messages_received: AtomicU64,
    /// Large messages delivered: one per receiver that has the whole message.
    pub large_message_deliveries: AtomicU64,
    /// Large messages that failed: one per receiver that will not have it.
    pub large_message_failures: AtomicU64,
    /// Chunks of large messages written to receivers.
    pub large_message_chunks: AtomicU64,
    /// Of those, chunks read back from the message store (a receiver behind the
    /// sender: bound late, or slower).
    pub large_message_replays: AtomicU64,
    /// Chunks written to group legs: one per recipient per chunk.
    pub group_copies: AtomicU64,
    /// Group messages refused at their first chunk (CPIM checks), any status.
    pub group_refusals: AtomicU64,
    /// Group participants dropped as slow consumers.
    pub slow_consumer_drops: AtomicU64,
    /// Open MSRP connections.
    pub connections: AtomicI64,
    /// Connections accepted.
    pub connections_accepted: AtomicU64,
    /// Accepts that failed (out of descriptors, most often).
    pub accept_errors: AtomicU64,
    /// Connections accepted and closed at once for being over a cap, by reason
    /// (the transport's: open connections, unbound ones, per source address).
    pub connections_refused: [AtomicU64; 3],
    /// Connections the switch opened (active setup role).
    pub connections_opened: AtomicU64,
    /// Frames received, by kind.
    pub frames_received: [AtomicU64; 6],
    /// Frames sent, by kind.
    pub frames_sent: [AtomicU64; 6],
    /// Bytes read from MSRP connections.
    pub received_bytes: AtomicU64,
    /// Bytes written to MSRP connections.
    pub sent_bytes: AtomicU64,
    /// Transaction responses the switch sent, by status.
    pub responses_sent: [AtomicU64; STATUS_SLOTS],
    /// Transaction responses the switch received, by status.
    pub responses_received: [AtomicU64; STATUS_SLOTS],
    /// REPORTs the switch generated, by status.
    pub reports_generated: [AtomicU64; STATUS_SLOTS],
    /// Bytes queued for writing across all legs.
    pub queue_bytes: AtomicI64,
    /// 200s owed to senders on shared connections and held back while a leg
    /// they feed is over the queue bound (per-session backpressure).
    pub answers_withheld: AtomicI64,
    /// Participants that bound on a connection already carrying another
    /// session (`a=connection:existing`).
    pub connection_joins: AtomicU64,
    /// Connections handed to this shard by another.
    pub handovers: AtomicU64,
    /// Transactions that got no response in time.
    pub transaction_timeouts: AtomicU64,
    /// Accepted connections closed for not binding in time.
    pub bind_timeouts: AtomicU64,
    /// Binds refused for the connection's security, by
    /// [`crate::security::BindRefusal::index`].
    pub bind_refusals: [AtomicU64; 4],
    /// Connections the switch could not open (active setup role), after its
    /// retries.
    pub connect_failures: AtomicU64,
    /// TLS handshakes completed (the transport's).
    pub tls_handshakes: AtomicU64,
    /// TLS handshakes failed, by the transport's reason (timeout, closed,
    /// certificate, protocol).
    pub tls_handshake_failures: [AtomicU64; 4],
    /// Receivers' connections aborted for taking nothing for a whole
    /// transaction timeout while output waited for them.
    pub stalled_receivers: AtomicU64,
    /// WebSocket upgrades completed (101 sent): WebSocket connections opened.
    pub websocket_upgrades: AtomicU64,
    /// WebSocket upgrades refused, by the transport's reason (bad request,
    /// subprotocol, origin, too large, timeout).
    pub websocket_upgrades_refused: [AtomicU64; 5],
    /// RFC 4976 AUTHs answered by the relay, by [`RelayAuthResult`].
    pub relay_auths: [AtomicU64; 4],
    /// Frames the relay sent on (requests, once per outgoing chunk).
    pub relayed_frames: AtomicU64,
    /// Bytes of those frames, heads and end-lines included.
    pub relayed_bytes: AtomicU64,
    /// Relay URIs granted and not yet gone (with their connection, or replaced
    /// once expired).
    pub relay_bindings: AtomicI64,
}

/// How the relay answered an AUTH (the `result` label of
/// `msrp_switch_relay_auths_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayAuthResult {
    /// 401 with a challenge.
    Challenged,
    /// 200 with a Use-Path.
    Granted,
    /// 423: Expires out of bounds.
    ExpiresOutOfBounds,
    /// 403: too many failures or grants.
    Refused,
}

impl RelayAuthResult {
    /// Every result, in `relay_auths` order.
    pub const ALL: [RelayAuthResult; 4] = [
        RelayAuthResult::Challenged,
        RelayAuthResult::Granted,
        RelayAuthResult::ExpiresOutOfBounds,
        RelayAuthResult::Refused,
    ];

    /// The label value.
    pub const fn label(self) -> &'static str {
        match self {
            RelayAuthResult::Challenged => "challenged",
            RelayAuthResult::Granted => "granted",
            RelayAuthResult::ExpiresOutOfBounds => "expires_out_of_bounds",
            RelayAuthResult::Refused => "refused",
        }
    }
}

impl Stats {
    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Moves a gauge.
    pub fn shift(gauge: &AtomicI64, n: i64) {
        gauge.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a response the switch sent.
    pub fn response_sent(&self, code: StatusCode) {
        Self::add(&self.responses_sent[status_slot(code)], 1);
        Self::add(&self.frames_sent[5], 1);
    }

    /// Counts a response the switch received.
    pub fn response_received(&self, code: StatusCode) {
        Self::add(&self.responses_received[status_slot(code)], 1);
    }

    /// Counts an AUTH the relay answered.
    pub fn relay_auth(&self, result: RelayAuthResult) {
        Self::add(&self.relay_auths[result as usize], 1);
    }

    /// Counts a REPORT the switch generated.
    pub fn report_generated(&self, code: StatusCode) {
        Self::add(&self.reports_generated[status_slot(code)], 1);
        Self::add(&self.frames_sent[1], 1);
    }
}
