//! Every metric, defined once with its help text, and its OpenMetrics exposition;
//! [`http`] serves it with `/healthz` and `/readyz`.
//!
//! Each shard owns one [`ShardMetrics`] and is its only writer, so updates are
//! uncontended relaxed atomics on the forwarding path. Nothing here is registered
//! per series: [`ShardCollector`] is a prometheus-client `Collector` that sums the
//! shards' atomics when a scrape asks, so the forwarding path never touches a
//! label map. Labels are fixed, bounded sets (`method`, `status`, `kind`), never
//! ids or addresses.

pub mod control;
pub mod http;
pub mod process;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tracing::error;

use crate::transport::admission::REFUSAL_LABELS;
use crate::transport::tls::HandshakeFailure;
use crate::transport::ws::UpgradeRefusal;
use msrp_proto::security::BindRefusal;
use msrp_proto::stats::RelayAuthResult;

/// `reason` labels of the TLS handshake failures, in counter order.
const HANDSHAKE_FAILURE_LABELS: [&str; 4] = [
    HandshakeFailure::ALL[0].label(),
    HandshakeFailure::ALL[1].label(),
    HandshakeFailure::ALL[2].label(),
    HandshakeFailure::ALL[3].label(),
];

/// `reason` labels of the bind refusals, in counter order.
const BIND_REFUSAL_LABELS: [&str; 4] = [
    BindRefusal::ALL[0].label(),
    BindRefusal::ALL[1].label(),
    BindRefusal::ALL[2].label(),
    BindRefusal::ALL[3].label(),
];

/// `reason` labels of refused WebSocket upgrades, in counter order.
const UPGRADE_REFUSAL_LABELS: [&str; 5] = [
    UpgradeRefusal::ALL[0].label(),
    UpgradeRefusal::ALL[1].label(),
    UpgradeRefusal::ALL[2].label(),
    UpgradeRefusal::ALL[3].label(),
    UpgradeRefusal::ALL[4].label(),
];

/// `result` labels of the relay's AUTH answers, in counter order.
const RELAY_AUTH_LABELS: [&str; 4] = [
    RelayAuthResult::ALL[0].label(),
    RelayAuthResult::ALL[1].label(),
    RelayAuthResult::ALL[2].label(),
    RelayAuthResult::ALL[3].label(),
];

pub use http::{HttpLimits, MAX_REQUEST_BODY_BYTES, serve_http, serve_metrics, serve_metrics_with};
pub use msrp_proto::stats::{
    FRAME_KINDS, Histogram, LATENCY_BUCKETS, STATUS_SLOTS, STATUSES, Stats as ShardMetrics,
    frame_kind,
};

/// The `Content-Type` of [`render`]'s output: OpenMetrics 1.0 text, which
/// Prometheus asks for first and which prometheus-client writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `Content-Type` of [`to_text_format`]'s output: the Prometheus text
/// format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// [`render`]'s OpenMetrics text in the Prometheus text format 0.0.4, for
/// clients that ask for it: counter families are named with their `_total`
/// (OpenMetrics names the family without it), and `# EOF` goes.
pub fn to_text_format(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 64 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let described = line
            .strip_prefix("# HELP ")
            .map(|rest| ("# HELP ", rest))
            .or_else(|| line.strip_prefix("# TYPE ").map(|rest| ("# TYPE ", rest)));
        match described {
            Some((prefix, rest)) => {
                let name = rest.split(' ').next().unwrap_or_default();
                if counters.contains(name) {
                    out.push_str(prefix);
                    out.push_str(name);
                    out.push_str("_total");
                    out.push_str(&rest[name.len()..]);
                } else {
                    out.push_str(line);
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The `method` label values of frame counters, slot by slot as the core counts
/// them (`frame_kind`): request methods, then `response`.
const METHOD_LABELS: [&str; 6] = FRAME_KINDS;

/// The `status` label values, slot by slot as the core counts them: each code in
/// [`STATUSES`], then `other`. A unit test keeps the two lists in step.
const STATUS_LABELS: [&str; STATUS_SLOTS] = [
    "200", "400", "401", "403", "404", "408", "413", "415", "423", "424", "425", "428", "481",
    "501", "506", "other",
];

/// The `kind` label values of session gauges.
const SESSION_KINDS: [&str; 3] = ["one_to_one", "group", "large_message"];

/// Renders every family, summed over the shards, as OpenMetrics text ending in
/// `# EOF` (serve it as [`CONTENT_TYPE`]).
///
/// The registry is built per call: it holds nothing but the collector, whose shard
/// handles are a few `Arc` clones, so a scrape costs one small allocation and the
/// engine stays the one owner of the shard list.
pub fn render(shards: &[Arc<ShardMetrics>]) -> String {
    render_with(shards, &Arc::default(), None)
}

/// [`render`] with the control API's families and the capture's.
pub fn render_with(
    shards: &[Arc<ShardMetrics>],
    control: &Arc<control::ControlMetrics>,
    capture: Option<&Arc<crate::capture::Capture>>,
) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ShardCollector::new(shards.to_vec())));
    registry.register_collector(Box::new(ControlCollector(Arc::clone(control))));
    if let Some(capture) = capture {
        registry.register_collector(Box::new(CaptureCollector(Arc::clone(capture))));
    }
    registry.register_collector(Box::new(process::ProcessCollector));
    let mut out = String::with_capacity(8 * 1024);
    if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        // Writing to a String cannot fail, so this is an encoder bug. The text
        // lacks `# EOF`, so Prometheus rejects the scrape rather than storing half.
        error!(%err, "encoding metrics failed");
    }
    out
}

/// The capture's counters, as a [`Collector`].
#[derive(Debug)]
struct CaptureCollector(Arc<crate::capture::Capture>);

impl Collector for CaptureCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let c = &self.0;
        for (name, help, counter) in [
            (
                "msrp_switch_capture_frames",
                "Captured frames handed to the HEP collector's queue.",
                &c.queued,
            ),
            (
                "msrp_switch_capture_dropped",
                "Captured frames dropped because the HEP collector's queue was full (a slow collector never slows forwarding).",
                &c.dropped,
            ),
            (
                "msrp_switch_hep_packets_sent",
                "HEP packets sent to the collector.",
                &c.sent,
            ),
            (
                "msrp_switch_hep_send_errors",
                "HEP packets the collector's socket did not take (unreachable, refused).",
                &c.send_errors,
            ),
        ] {
            ConstCounter::new(counter.load(Ordering::Relaxed))
                .encode(encoder.encode_descriptor(name, help, None, MetricType::Counter)?)?;
        }
        Ok(())
    }
}

/// The control API's families, as a [`Collector`].
#[derive(Debug)]
struct ControlCollector(Arc<control::ControlMetrics>);

impl Collector for ControlCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        self.0.encode(&mut encoder)
    }
}

/// A prometheus-client [`Collector`] over the shards' counters: each scrape reads
/// every shard's atomics and encodes their sums, family by family.
#[derive(Debug)]
pub struct ShardCollector {
    shards: Vec<Arc<ShardMetrics>>,
}

impl ShardCollector {
    /// A collector summing `shards`.
    pub fn new(shards: Vec<Arc<ShardMetrics>>) -> Self {
        Self { shards }
    }

    /// A counter's sum over the shards; a counter that wrapped would be a bug,
    /// so the sum saturates rather than wrapping back to a small value.
    fn counter(&self, read: impl Fn(&ShardMetrics) -> &AtomicU64) -> ConstCounter<u64> {
        let values = self.shards.iter().map(|shard| load(read(shard)));
        ConstCounter::new(values.fold(0, u64::saturating_add))
    }

    /// A gauge's sum over the shards.
    fn gauge(&self, read: impl Fn(&ShardMetrics) -> &AtomicI64) -> ConstGauge<i64> {
        let values = self
            .shards
            .iter()
            .map(|shard| read(shard).load(Ordering::Relaxed));
        ConstGauge::new(values.fold(0, i64::saturating_add))
    }
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Collector for ShardCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        for family in FAMILIES {
            let metric_type = match family.values {
                Values::Gauge(_) | Values::GaugeByKind(_) | Values::GaugePerShard(_) => {
                    MetricType::Gauge
                }
                Values::Histogram(_) => MetricType::Histogram,
                Values::Counter(_)
                | Values::CounterByMethod(_)
                | Values::CounterByStatus(_)
                | Values::CounterBy(..) => MetricType::Counter,
            };
            let mut metric =
                encoder.encode_descriptor(family.name, family.help, None, metric_type)?;
            match family.values {
                Values::Counter(read) => self.counter(read).encode(metric)?,
                Values::Gauge(read) => self.gauge(read).encode(metric)?,
                Values::GaugeByKind(read) => {
                    // Each label list has the length of the array it labels (the
                    // types say so), so `[slot]` is in bounds.
                    for (slot, kind) in SESSION_KINDS.iter().enumerate() {
                        let gauge = self.gauge(|shard| read(shard)[slot]);
                        gauge.encode(metric.encode_family(&[("kind", *kind)])?)?;
                    }
                }
                Values::CounterByMethod(read) => {
                    for (slot, method) in METHOD_LABELS.iter().enumerate() {
                        let counter = self.counter(|shard| &read(shard)[slot]);
                        counter.encode(metric.encode_family(&[("method", *method)])?)?;
                    }
                }
                Values::CounterBy(label, read, values) => {
                    for (slot, value) in values.iter().enumerate() {
                        // A label without its counter is skipped, not a panic.
                        let counter = ConstCounter::new(
                            self.shards
                                .iter()
                                .map(|shard| read(shard).get(slot).map_or(0, load))
                                .sum::<u64>(),
                        );
                        counter.encode(metric.encode_family(&[(label, *value)])?)?;
                    }
                }
                Values::CounterByStatus(read) => {
                    for (slot, status) in STATUS_LABELS.iter().enumerate() {
                        let counter = self.counter(|shard| &read(shard)[slot]);
                        counter.encode(metric.encode_family(&[("status", *status)])?)?;
                    }
                }
                Values::GaugePerShard(read) => {
                    for (index, shard) in self.shards.iter().enumerate() {
                        let gauge = ConstGauge::new(read(shard).load(Ordering::Relaxed));
                        let label = index.to_string();
                        gauge.encode(metric.encode_family(&[("shard", label.as_str())])?)?;
                    }
                }
                Values::Histogram(read) => {
                    let mut counts = [0u64; LATENCY_BUCKETS.len() + 1];
                    let mut sum = 0.0;
                    for shard in &self.shards {
                        read(shard).add_to(&mut counts, &mut sum);
                    }
                    let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
                        .iter()
                        .copied()
                        .chain(std::iter::once(f64::INFINITY))
                        .zip(counts)
                        .collect();
                    let count = counts.iter().sum();
                    metric.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                        sum, count, &buckets, None,
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// One metric family: its name, help, and where each shard keeps its values.
struct Family {
    /// The family name. Counters are named without `_total`: OpenMetrics names
    /// the family so and the encoder appends the suffix to each sample, which
    /// therefore reads `msrp_switch_…_total` as it always has.
    name: &'static str,
    help: &'static str,
    values: Values,
}

/// Where a family's values live in a shard, and how they are labelled.
enum Values {
    Counter(fn(&ShardMetrics) -> &AtomicU64),
    Gauge(fn(&ShardMetrics) -> &AtomicI64),
    /// One gauge per [`SESSION_KINDS`] value, label `kind`.
    GaugeByKind(fn(&ShardMetrics) -> [&AtomicI64; 3]),
    /// One counter per [`METHOD_LABELS`] slot, label `method`.
    CounterByMethod(fn(&ShardMetrics) -> &[AtomicU64; 6]),
    /// One counter per [`STATUS_LABELS`] slot, label `status`.
    CounterByStatus(fn(&ShardMetrics) -> &[AtomicU64; STATUS_SLOTS]),
    /// One gauge per shard, label `shard` (its index): bounded by the cores.
    GaugePerShard(fn(&ShardMetrics) -> &AtomicI64),
    /// A latency histogram summed over the shards ([`LATENCY_BUCKETS`]).
    Histogram(fn(&ShardMetrics) -> &Histogram),
    /// One counter per value of the list, under the label named first.
    CounterBy(
        &'static str,
        fn(&ShardMetrics) -> &[AtomicU64],
        &'static [&'static str],
    ),
}

const FAMILIES: &[Family] = &[
    Family {
        name: "msrp_switch_sessions",
        help: "Open sessions, by kind.",
        values: Values::GaugeByKind(|m| {
            [
                &m.sessions_one_to_one,
                &m.sessions_group,
                &m.sessions_large_message,
            ]
        }),
    },
    Family {
        name: "msrp_switch_participants",
        help: "Participants of open sessions, by session kind.",
        values: Values::GaugeByKind(|m| {
            [
                &m.participants_one_to_one,
                &m.participants_group,
                &m.participants_large_message,
            ]
        }),
    },
    Family {
        name: "msrp_switch_forward_latency_seconds",
        help: "From the read that queued a chunk's head for a participant to the write that took it (sampled: one chunk per participant at a time).",
        values: Values::Histogram(|m| &m.forward_latency),
    },
    Family {
        name: "msrp_switch_response_latency_seconds",
        help: "From a request the switch wrote being queued whole (its end-line) to its response: a receiver's answer time.",
        values: Values::Histogram(|m| &m.response_latency),
    },
    Family {
        name: "msrp_switch_tls_handshake_duration_seconds",
        help: "TLS handshakes completed, accepted and opened, from their first byte to done.",
        values: Values::Histogram(|m| &m.tls_handshake_latency),
    },
    Family {
        name: "msrp_switch_shard_connections",
        help: "Open MSRP connections, by shard.",
        values: Values::GaugePerShard(|m| &m.connections),
    },
    Family {
        name: "msrp_switch_shard_queue_bytes",
        help: "Bytes queued for writing, by shard.",
        values: Values::GaugePerShard(|m| &m.queue_bytes),
    },
    Family {
        name: "msrp_switch_large_messages_received",
        help: "Large messages the switch has whole from their senders (every byte stored).",
        values: Values::Counter(|m| &m.large_messages_received),
    },
    Family {
        name: "msrp_switch_large_message_deliveries",
        help: "Large messages delivered: one per receiver that has the whole message.",
        values: Values::Counter(|m| &m.large_message_deliveries),
    },
    Family {
        name: "msrp_switch_large_message_failures",
        help: "Large messages that failed: one per receiver that will not have it.",
        values: Values::Counter(|m| &m.large_message_failures),
    },
    Family {
        name: "msrp_switch_large_message_chunks",
        help: "Chunks of large messages written to receivers.",
        values: Values::Counter(|m| &m.large_message_chunks),
    },
    Family {
        name: "msrp_switch_large_message_replays",
        help: "Chunks of large messages read back from the message store for receivers behind the sender.",
        values: Values::Counter(|m| &m.large_message_replays),
    },
    Family {
        name: "msrp_switch_group_copies",
        help: "Chunks written to group participants: one per recipient per chunk.",
        values: Values::Counter(|m| &m.group_copies),
    },
    Family {
        name: "msrp_switch_group_refusals",
        help: "Group messages refused at their first chunk (CPIM From/To checks, types).",
        values: Values::Counter(|m| &m.group_refusals),
    },
    Family {
        name: "msrp_switch_slow_consumer_drops",
        help: "Group participants dropped for staying over their queue bound past the grace period.",
        values: Values::Counter(|m| &m.slow_consumer_drops),
    },
    Family {
        name: "msrp_switch_connections",
        help: "Open MSRP connections.",
        values: Values::Gauge(|m| &m.connections),
    },
    Family {
        name: "msrp_switch_connections_accepted",
        help: "MSRP connections accepted.",
        values: Values::Counter(|m| &m.connections_accepted),
    },
    Family {
        name: "msrp_switch_connections_refused",
        help: "MSRP connections accepted and closed at once for being over a cap, by reason (connections: --max-connections; unbound: --max-unbound-connections; source: --max-connections-per-source).",
        values: Values::CounterBy("reason", |m| &m.connections_refused, &REFUSAL_LABELS),
    },
    Family {
        name: "msrp_switch_accept_errors",
        help: "MSRP accepts that failed (out of file descriptors, most often); the listener retries after 10 ms.",
        values: Values::Counter(|m| &m.accept_errors),
    },
    Family {
        name: "msrp_switch_connections_opened",
        help: "MSRP connections the switch opened as the active party.",
        values: Values::Counter(|m| &m.connections_opened),
    },
    Family {
        name: "msrp_switch_frames_received",
        help: "MSRP frames received, by method (or response).",
        values: Values::CounterByMethod(|m| &m.frames_received),
    },
    Family {
        name: "msrp_switch_frames_sent",
        help: "MSRP frames sent, by method (or response); each forwarded chunk counts once.",
        values: Values::CounterByMethod(|m| &m.frames_sent),
    },
    Family {
        name: "msrp_switch_received_bytes",
        help: "Bytes read from MSRP connections.",
        values: Values::Counter(|m| &m.received_bytes),
    },
    Family {
        name: "msrp_switch_sent_bytes",
        help: "Bytes written to MSRP connections.",
        values: Values::Counter(|m| &m.sent_bytes),
    },
    Family {
        name: "msrp_switch_responses_sent",
        help: "Transaction responses sent by the switch, by status.",
        values: Values::CounterByStatus(|m| &m.responses_sent),
    },
    Family {
        name: "msrp_switch_responses_received",
        help: "Transaction responses received by the switch, by status.",
        values: Values::CounterByStatus(|m| &m.responses_received),
    },
    Family {
        name: "msrp_switch_reports_generated",
        help: "REPORT requests generated by the switch, by status.",
        values: Values::CounterByStatus(|m| &m.reports_generated),
    },
    Family {
        name: "msrp_switch_queue_bytes",
        help: "Bytes queued for writing to participants.",
        values: Values::Gauge(|m| &m.queue_bytes),
    },
    Family {
        name: "msrp_switch_answers_withheld",
        help: "200s owed to senders on shared connections, held back while a leg they feed is over its queue bound (per-session backpressure).",
        values: Values::Gauge(|m| &m.answers_withheld),
    },
    Family {
        name: "msrp_switch_connection_joins",
        help: "Participants that bound on a connection already carrying another session (a=connection:existing).",
        values: Values::Counter(|m| &m.connection_joins),
    },
    Family {
        name: "msrp_switch_shard_handovers",
        help: "Connections handed to the shard that owns their session.",
        values: Values::Counter(|m| &m.handovers),
    },
    Family {
        name: "msrp_switch_transaction_timeouts",
        help: "Requests the switch sent that got no response in time.",
        values: Values::Counter(|m| &m.transaction_timeouts),
    },
    Family {
        name: "msrp_switch_bind_timeouts",
        help: "Accepted connections closed because no request bound them in time.",
        values: Values::Counter(|m| &m.bind_timeouts),
    },
    Family {
        name: "msrp_switch_tls_handshakes",
        help: "TLS handshakes completed, accepted and opened.",
        values: Values::Counter(|m| &m.tls_handshakes),
    },
    Family {
        name: "msrp_switch_tls_handshake_failures",
        help: "TLS handshakes that failed, by reason (timeout: --tls-handshake-timeout-seconds; closed: the peer went away; certificate: expired, not yet valid or not the pinned one; protocol: not TLS 1.2/1.3).",
        values: Values::CounterBy(
            "reason",
            |m| &m.tls_handshake_failures,
            &HANDSHAKE_FAILURE_LABELS,
        ),
    },
    Family {
        name: "msrp_switch_bind_refusals",
        help: "Requests refused 403 because their connection may not bind the participant they name, by reason (not_tls: the media say TCP/TLS/MSRP; no_certificate and fingerprint_mismatch: a=fingerprint; not_websocket: the path says transport ws, RFC 7977).",
        values: Values::CounterBy("reason", |m| &m.bind_refusals, &BIND_REFUSAL_LABELS),
    },
    Family {
        name: "msrp_switch_connect_failures",
        help: "Connections the switch could not open as the active party, after its retries.",
        values: Values::Counter(|m| &m.connect_failures),
    },
    Family {
        name: "msrp_switch_stalled_receivers",
        help: "Receivers' connections aborted for taking nothing for a whole transaction timeout while output waited (what they had not acknowledged was reported 408).",
        values: Values::Counter(|m| &m.stalled_receivers),
    },
    Family {
        name: "msrp_switch_websocket_upgrades",
        help: "WebSocket upgrades completed (101 Switching Protocols sent, subprotocol msrp): MSRP over WebSocket connections opened, over --ws-listen and --wss-listen.",
        values: Values::Counter(|m| &m.websocket_upgrades),
    },
    Family {
        name: "msrp_switch_websocket_upgrades_refused",
        help: "WebSocket upgrades refused, by reason (bad_request: not a WebSocket upgrade, 400; subprotocol: no msrp, 400; origin: not in --ws-origins, 403; too_large: over --ws-max-request-bytes, 431; timeout: not done within --ws-handshake-timeout-seconds, or the peer left).",
        values: Values::CounterBy(
            "reason",
            |m| &m.websocket_upgrades_refused,
            &UPGRADE_REFUSAL_LABELS,
        ),
    },
    Family {
        name: "msrp_switch_relay_auths",
        help: "RFC 4976 AUTH requests the relay answered, by result (challenged: 401; granted: 200 with a Use-Path; expires_out_of_bounds: 423; refused: 403 after --relay-max-auth-failures failures or with too many grants on the connection).",
        values: Values::CounterBy("result", |m| &m.relay_auths, &RELAY_AUTH_LABELS),
    },
    Family {
        name: "msrp_switch_relayed_frames",
        help: "Requests the RFC 4976 relay sent on (one per outgoing chunk).",
        values: Values::Counter(|m| &m.relayed_frames),
    },
    Family {
        name: "msrp_switch_relayed_bytes",
        help: "Bytes of the frames the relay sent on, heads and end-lines included.",
        values: Values::Counter(|m| &m.relayed_bytes),
    },
    Family {
        name: "msrp_switch_relay_bindings",
        help: "Relay URIs granted by AUTH (Use-Path) and held by a connection.",
        values: Values::Gauge(|m| &m.relay_bindings),
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use msrp_proto::codec::{Method, StatusCode};

    #[test]
    fn renders_sums_over_shards() {
        let a = Arc::new(ShardMetrics::default());
        let b = Arc::new(ShardMetrics::default());
        ShardMetrics::add(&a.frames_received[frame_kind(Some(Method::Send))], 3);
        ShardMetrics::add(&b.frames_received[frame_kind(Some(Method::Send))], 4);
        a.response_sent(StatusCode::SESSION_DOES_NOT_EXIST);
        b.response_sent(StatusCode::new(299).unwrap());
        ShardMetrics::shift(&b.connections, 2);
        ShardMetrics::shift(&a.sessions_group, 1);
        ShardMetrics::shift(&b.sessions_group, 2);
        let text = render(&[a, b]);
        for line in [
            "# HELP msrp_switch_frames_received MSRP frames received, by method (or response).\n",
            "# TYPE msrp_switch_frames_received counter\n",
            "msrp_switch_frames_received_total{method=\"SEND\"} 7\n",
            "msrp_switch_frames_received_total{method=\"REPORT\"} 0\n",
            "msrp_switch_frames_sent_total{method=\"response\"} 2\n",
            "msrp_switch_responses_sent_total{status=\"481\"} 1\n",
            "msrp_switch_responses_sent_total{status=\"other\"} 1\n",
            "# TYPE msrp_switch_connections gauge\n",
            "msrp_switch_connections 2\n",
            "msrp_switch_sessions{kind=\"group\"} 3\n",
            "msrp_switch_sessions{kind=\"one_to_one\"} 0\n",
            "msrp_switch_bind_timeouts_total 0\n",
        ] {
            assert!(text.contains(line), "expected {line:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        // Frames are labelled by method only; kind is the session kind's label.
        assert!(!text.contains("frames_received_total{kind="), "{text}");
        // No `_total_total`: counter families are named without the suffix.
        assert!(!text.contains("_total_total"), "{text}");
    }

    #[test]
    fn every_family_is_exposed_once_with_help() {
        let text = render(&[Arc::new(ShardMetrics::default())]);
        for family in FAMILIES {
            let help = format!("# HELP {} {}\n", family.name, family.help);
            assert_eq!(text.matches(&help).count(), 1, "{help:?} in\n{text}");
            assert!(!family.name.ends_with("_total"), "{}", family.name);
        }
    }

    #[test]
    fn status_labels_follow_the_core_slots() {
        for (code, label) in STATUSES.iter().zip(STATUS_LABELS) {
            assert_eq!(code.to_string(), label);
        }
        assert_eq!(STATUS_LABELS[STATUSES.len()], "other");
    }
}
