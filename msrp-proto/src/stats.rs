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
