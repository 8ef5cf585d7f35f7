//! Every metric, defined once with its help text, and the Prometheus text exposition.
//!
//! Each shard owns one [`ShardMetrics`] and is its only writer, so updates are
//! uncontended relaxed atomics on the forwarding path; a scrape sums the shards.
//! Labels are fixed, bounded sets (method, status, kind), never ids or addresses.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

pub use msrp_proto::stats::{
    FRAME_KINDS, STATUS_SLOTS, STATUSES, Stats as ShardMetrics, frame_kind,
};

/// A label pair; every key and value comes from the static tables above.
type Label = Option<(&'static str, &'static str)>;

/// One metric family: its name, type, help, and how to read it from a shard.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    read: fn(&ShardMetrics, &mut dyn FnMut(Label, i64)),
}

fn counter(m: &AtomicU64) -> i64 {
    i64::try_from(m.load(Ordering::Relaxed)).unwrap_or(i64::MAX)
}

fn gauge(m: &AtomicI64) -> i64 {
    m.load(Ordering::Relaxed)
}

fn by_status(values: &[AtomicU64; STATUS_SLOTS], emit: &mut dyn FnMut(Label, i64)) {
    for (i, value) in values.iter().enumerate() {
        let label = STATUSES.get(i).map_or("other", |s| status_text(*s));
        emit(Some(("status", label)), counter(value));
    }
}

fn by_kind(values: &[AtomicU64; 6], emit: &mut dyn FnMut(Label, i64)) {
    for (kind, value) in FRAME_KINDS.iter().zip(values) {
        emit(Some(("kind", kind)), counter(value));
    }
}

fn status_text(code: u16) -> &'static str {
    const TEXT: [&str; 15] = [
        "200", "400", "401", "403", "404", "408", "413", "415", "423", "424", "425", "428", "481",
        "501", "506",
    ];
    STATUSES
        .iter()
        .position(|&s| s == code)
        .map_or("other", |i| TEXT[i])
}

const FAMILIES: &[Family] = &[
    Family {
        name: "msrp_switch_sessions",
        kind: "gauge",
        help: "Open sessions, by kind.",
        read: |m, emit| {
            emit(Some(("kind", "one_to_one")), gauge(&m.sessions_one_to_one));
            emit(Some(("kind", "group")), gauge(&m.sessions_group));
        },
    },
    Family {
        name: "msrp_switch_participants",
        kind: "gauge",
        help: "Participants of open sessions, by session kind.",
        read: |m, emit| {
            emit(
                Some(("kind", "one_to_one")),
                gauge(&m.participants_one_to_one),
            );
            emit(Some(("kind", "group")), gauge(&m.participants_group));
        },
    },
    Family {
        name: "msrp_switch_group_copies_total",
        kind: "counter",
        help: "Chunks written to group participants: one per recipient per chunk.",
        read: |m, emit| emit(None, counter(&m.group_copies)),
    },
    Family {
        name: "msrp_switch_group_refusals_total",
        kind: "counter",
        help: "Group messages refused at their first chunk (CPIM From/To checks, types).",
        read: |m, emit| emit(None, counter(&m.group_refusals)),
    },
    Family {
        name: "msrp_switch_slow_consumer_drops_total",
        kind: "counter",
        help: "Group participants dropped for staying over their queue bound past the grace period.",
        read: |m, emit| emit(None, counter(&m.slow_consumer_drops)),
    },
    Family {
        name: "msrp_switch_connections",
        kind: "gauge",
        help: "Open MSRP connections.",
        read: |m, emit| emit(None, gauge(&m.connections)),
    },
    Family {
        name: "msrp_switch_connections_accepted_total",
        kind: "counter",
        help: "MSRP connections accepted.",
        read: |m, emit| emit(None, counter(&m.connections_accepted)),
    },
    Family {
        name: "msrp_switch_connections_opened_total",
        kind: "counter",
        help: "MSRP connections the switch opened as the active party.",
        read: |m, emit| emit(None, counter(&m.connections_opened)),
    },
    Family {
        name: "msrp_switch_frames_received_total",
        kind: "counter",
        help: "MSRP frames received, by method (or response).",
        read: |m, emit| by_kind(&m.frames_received, emit),
    },
    Family {
        name: "msrp_switch_frames_sent_total",
        kind: "counter",
        help: "MSRP frames sent, by method (or response); each forwarded chunk counts once.",
        read: |m, emit| by_kind(&m.frames_sent, emit),
    },
    Family {
        name: "msrp_switch_received_bytes_total",
        kind: "counter",
        help: "Bytes read from MSRP connections.",
        read: |m, emit| emit(None, counter(&m.received_bytes)),
    },
    Family {
        name: "msrp_switch_sent_bytes_total",
        kind: "counter",
        help: "Bytes written to MSRP connections.",
        read: |m, emit| emit(None, counter(&m.sent_bytes)),
    },
    Family {
        name: "msrp_switch_responses_sent_total",
        kind: "counter",
        help: "Transaction responses sent by the switch, by status.",
        read: |m, emit| by_status(&m.responses_sent, emit),
    },
    Family {
        name: "msrp_switch_responses_received_total",
        kind: "counter",
        help: "Transaction responses received by the switch, by status.",
        read: |m, emit| by_status(&m.responses_received, emit),
    },
    Family {
        name: "msrp_switch_reports_generated_total",
        kind: "counter",
        help: "REPORT requests generated by the switch, by status.",
        read: |m, emit| by_status(&m.reports_generated, emit),
    },
    Family {
        name: "msrp_switch_queue_bytes",
        kind: "gauge",
        help: "Bytes queued for writing to participants.",
        read: |m, emit| emit(None, gauge(&m.queue_bytes)),
    },
    Family {
        name: "msrp_switch_shard_handovers_total",
        kind: "counter",
        help: "Connections handed to the shard that owns their session.",
        read: |m, emit| emit(None, counter(&m.handovers)),
    },
    Family {
        name: "msrp_switch_transaction_timeouts_total",
        kind: "counter",
        help: "Requests the switch sent that got no response in time.",
        read: |m, emit| emit(None, counter(&m.transaction_timeouts)),
    },
    Family {
        name: "msrp_switch_bind_timeouts_total",
        kind: "counter",
        help: "Accepted connections closed because no request bound them in time.",
        read: |m, emit| emit(None, counter(&m.bind_timeouts)),
    },
];

/// Renders every family, summed over the shards, in the Prometheus text format 0.0.4.
pub fn render(shards: &[Arc<ShardMetrics>]) -> String {
    let mut out = String::with_capacity(8 * 1024);
    for family in FAMILIES {
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
        // Sum each labelled series over the shards, in first-seen order.
        let mut series: Vec<(Label, i64)> = Vec::new();
        for shard in shards {
            let mut index = 0;
            (family.read)(shard, &mut |label, value| {
                match series.get_mut(index) {
                    Some(entry) => entry.1 += value,
                    None => series.push((label, value)),
                }
                index += 1;
            });
        }
        for (label, value) in series {
            match label {
                Some((key, val)) => {
                    let _ = writeln!(out, "{}{{{key}=\"{val}\"}} {value}", family.name);
                }
                None => {
                    let _ = writeln!(out, "{} {value}", family.name);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use msrp_proto::codec::StatusCode;

    #[test]
    fn renders_sums_over_shards() {
        let a = Arc::new(ShardMetrics::default());
        let b = Arc::new(ShardMetrics::default());
        ShardMetrics::add(&a.frames_received[0], 3);
        ShardMetrics::add(&b.frames_received[0], 4);
        a.response_sent(StatusCode::SESSION_DOES_NOT_EXIST);
        b.response_sent(StatusCode::new(299).unwrap());
        ShardMetrics::shift(&b.connections, 2);
        let text = render(&[a, b]);
        assert!(text.contains("# TYPE msrp_switch_frames_received_total counter\n"));
        assert!(text.contains("msrp_switch_frames_received_total{kind=\"SEND\"} 7\n"));
        assert!(text.contains("msrp_switch_responses_sent_total{status=\"481\"} 1\n"));
        assert!(text.contains("msrp_switch_responses_sent_total{status=\"other\"} 1\n"));
        assert!(text.contains("msrp_switch_connections 2\n"));
        assert!(text.contains("msrp_switch_frames_sent_total{kind=\"response\"} 2\n"));
    }
}
