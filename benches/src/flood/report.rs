//! The figures of one run, as a table for people and as one JSON object for scripts.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

/// What one flood run measured. Only messages sent after the warm-up count in the
/// figures; the errors count the whole run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// `switch`, `raw` or `relay`.
    pub target: String,
    /// Sessions (sender and receiver connection pairs, or groups).
    pub sessions: u32,
    /// Message size in bytes (in a group, the payload behind the CPIM headers).
    pub size: usize,
    /// Chunk size in bytes (equal to `size` when messages go whole).
    pub chunk_size: usize,
    /// Outstanding SEND transactions allowed per sender connection.
    pub window: usize,
    /// The pace asked for, in messages per second over all sessions; absent when
    /// sending as fast as the window allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// The rate a ramp up to `rate` started from; absent without a ramp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramp_from: Option<f64>,
    /// The ramp's length in seconds, from the start of the run (warm-up
    /// included); absent without a ramp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramp_seconds: Option<f64>,
    /// Seconds from the end of the warm-up to the last measured delivery.
    pub duration_s: f64,
    /// Measured messages sent whole.
    pub messages: u64,
    /// Measured messages delivered intact, counted once per receiver (one per
    /// message in 1:1 sessions, `group.receivers` per message in a group).
    pub deliveries: u64,
    /// `messages / duration_s`.
    pub msgs_per_s: f64,
    /// `deliveries / duration_s`.
    pub deliveries_per_s: f64,
    /// Delivered body bytes per second over all receivers, in MB (10^6 bytes);
    /// in a group, payload bytes (the CPIM headers are not counted).
    pub mb_per_s: f64,
    /// From the send time written in the body to the read that completed the
    /// message at its receiver, in microseconds; in a group, every receiver's
    /// deliveries together.
    pub latency_us: Latency,
    /// The shape of the group sessions; absent for 1:1 sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupReport>,
    /// What went wrong.
    pub errors: Errors,
}

/// A group run (RFC 7701): one sender per group, every other member receives.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct GroupReport {
    /// Members per group that read: the sender and the receivers.
    pub size: u32,
    /// Receivers per group.
    pub receivers: u32,
    /// Messages a sender may have sent that some receiver has not finished; 0 when
    /// only the SEND window bounded it.
    pub delivery_window: usize,
    /// Members per group that bound and then never read.
    pub stalled: u32,
    /// Stalled members whose connection the switch closed by the end of the run
    /// (dropped as slow consumers): expected, not an error.
    pub stalled_dropped: u32,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

impl Latency {
    /// The percentiles of `histogram` (all 0 when it is empty).
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        Self {
            p50: histogram.value_at_quantile(0.50),
            p90: histogram.value_at_quantile(0.90),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        }
    }
}

/// Failures over the whole run (warm-up included).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Errors {
    /// Responses other than 200 to our SENDs, and failure REPORTs.
    pub non_200: u64,
    /// Bodies that arrived with other bytes, another length or another session's
    /// data than the sender wrote.
    pub hash_mismatch: u64,
    /// Messages sent whole but not delivered intact by the end of the run.
    pub lost: u64,
    /// SEND transactions that never got a response.
    pub unanswered: u64,
    /// Messages delivered twice.
    pub duplicates: u64,
}

impl Errors {
    /// True when nothing went wrong.
    pub fn is_clean(&self) -> bool {
        *self == Self::default()
    }
}

impl Report {
    /// True when every message arrived intact, once, and every SEND got its 200.
    pub fn passed(&self) -> bool {
        self.errors.is_clean()
    }

    /// The report as one JSON object on one line.
    pub fn to_json(&self) -> String {
        // A struct of numbers and strings always serializes; keep a fallback anyway.
        serde_json::to_string(self).unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}"))
    }

    /// The report as a small table.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let chunking = if self.chunk_size < self.size {
            format!(" in {} B chunks", self.chunk_size)
        } else {
            String::new()
        };
        let rate = match (self.rate, self.ramp_from, self.ramp_seconds) {
            (Some(r), Some(from), Some(over)) => {
                format!(", paced from {from:.0} to {r:.0} msgs/s over {over:.0} s")
            }
            (Some(r), _, _) => format!(", paced at {r:.0} msgs/s"),
            (None, _, _) => String::new(),
        };
        let _ = writeln!(
            out,
            "target {}: {} session(s), {} B messages{chunking}, window {}{rate}, {:.2} s measured",
            self.target, self.sessions, self.size, self.window, self.duration_s
        );
        if let Some(g) = self.group {
            let stalled = if g.stalled > 0 {
                format!(
                    "; {} stalled member(s), {} dropped by the target",
                    g.stalled, g.stalled_dropped
                )
            } else {
                String::new()
            };
            let gate = if g.delivery_window > 0 {
                format!("delivery window {}", g.delivery_window)
            } else {
                "no delivery window".to_string()
            };
            let _ = writeln!(
                out,
                "group: {} members (1 sender, {} receivers), CPIM-wrapped, {gate}{stalled}",
                g.size, g.receivers
            );
        }
        let _ = writeln!(
            out,
            "{:>12} {:>12} {:>12} {:>14} {:>10}",
            "messages", "deliveries", "msgs/s", "deliveries/s", "MB/s"
        );
        let _ = writeln!(
            out,
            "{:>12} {:>12} {:>12.0} {:>14.0} {:>10.1}",
            self.messages, self.deliveries, self.msgs_per_s, self.deliveries_per_s, self.mb_per_s
        );
        let l = self.latency_us;
        let _ = writeln!(
            out,
            "latency (us, send to delivery): p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            l.p50, l.p90, l.p99, l.p999, l.max
        );
        let e = self.errors;
        let _ = writeln!(
            out,
            "errors: non-200 {}, hash mismatch {}, lost {}, unanswered {}, duplicates {}{}",
            e.non_200,
            e.hash_mismatch,
            e.lost,
            e.unanswered,
            e.duplicates,
            if self.passed() { "" } else { "  FAILED" }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            target: "switch".into(),
            sessions: 2,
            size: 1024,
            chunk_size: 1024,
            window: 32,
            rate: None,
            ramp_from: None,
            ramp_seconds: None,
            duration_s: 1.5,
            messages: 3000,
            deliveries: 3000,
            msgs_per_s: 2000.0,
            deliveries_per_s: 2000.0,
            mb_per_s: 2.048,
            latency_us: Latency {
                p50: 100,
                p90: 200,
                p99: 300,
                p999: 400,
                max: 500,
            },
            group: None,
            errors: Errors::default(),
        }
    }

    #[test]
    fn json_has_the_documented_fields() {
        let value: serde_json::Value = serde_json::from_str(&report().to_json()).unwrap();
        for field in [
            "target",
            "sessions",
            "size",
            "chunk_size",
            "window",
            "duration_s",
            "messages",
            "deliveries",
            "msgs_per_s",
            "deliveries_per_s",
            "mb_per_s",
        ] {
            assert!(value.get(field).is_some(), "{field}");
        }
        for p in ["p50", "p90", "p99", "p999", "max"] {
            assert!(value["latency_us"].get(p).is_some(), "{p}");
        }
        for e in ["non_200", "hash_mismatch", "lost"] {
            assert_eq!(value["errors"][e], 0, "{e}");
        }
        assert!(value.get("rate").is_none());
        assert!(value.get("ramp_from").is_none());
        assert!(value.get("group").is_none());
    }

    #[test]
    fn a_group_run_shows_its_shape() {
        let mut r = report();
        r.group = Some(GroupReport {
            size: 100,
            receivers: 99,
            delivery_window: 32,
            stalled: 1,
            stalled_dropped: 1,
        });
        let value: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(value["group"]["receivers"], 99);
        assert_eq!(value["group"]["stalled_dropped"], 1);
        let table = r.to_table();
        assert!(
            table.contains("100 members (1 sender, 99 receivers)"),
            "{table}"
        );
        assert!(table.contains("1 stalled member(s), 1 dropped"), "{table}");
        assert!(r.passed());
    }

    #[test]
    fn any_error_fails_the_run() {
        let mut r = report();
        assert!(r.passed());
        r.errors.lost = 1;
        assert!(!r.passed());
        assert!(r.to_table().contains("FAILED"));
    }
}
