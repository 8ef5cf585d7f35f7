//! The figures of `msrp-flood large`, as a table for people and as one JSON
//! object for scripts. MB are 10^6 bytes; memory is in MiB (2^20 bytes).

use serde::Serialize;

/// What the switch said when the message was done (`large_message_complete`).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Completion {
    /// Receivers that have the whole message.
    pub delivered: u32,
    /// Receivers that will not have it.
    pub failed: u32,
}

/// The switch's memory over a throughput run, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct MemoryReport {
    /// `VmRSS` before the session was created, in MiB.
    pub idle_rss_mib: f64,
    /// `VmHWM` after the run, in MiB: the process's peak over its whole life,
    /// so it is the run's peak only on a freshly started switch.
    pub peak_rss_mib: f64,
    /// `peak_rss_mib - idle_rss_mib`.
    pub above_idle_mib: f64,
}

/// The switch's CPU time over the measured part of a sessions run, from
/// `/proc/<pid>/stat` (utime + stime, every thread).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct CpuReport {
    /// CPU seconds used during the measurement.
    pub cpu_seconds: f64,
    /// `cpu_seconds` per 1,000 measured sessions.
    pub cpu_seconds_per_1000_sessions: f64,
}

/// What went wrong, over the whole run (a sessions run's warm-up included).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct LargeErrors {
    /// Responses other than 200 to the sender's chunks, and failure REPORTs.
    pub non_200: u64,
    /// Receivers' chunks whose Byte-Range did not follow on exactly: start
    /// right after the bytes already received, end at the chunk's last byte,
    /// the total the message's size.
    pub byte_range: u64,
    /// Receivers whose bytes differed from the generated body.
    pub body_mismatch: u64,
    /// Receivers whose `$` chunk came before every byte had.
    pub incomplete: u64,
    /// Receivers the switch counted as failed (`large_message_complete`).
    pub switch_failed: u64,
    /// Sessions with no `large_message_complete` within 10 s of the last answer.
    pub unconfirmed: u64,
}

impl LargeErrors {
    /// True when nothing went wrong.
    pub fn is_clean(&self) -> bool {
        *self == Self::default()
    }

    pub(super) fn add(&mut self, other: &LargeErrors) {
        self.non_200 += other.non_200;
        self.byte_range += other.byte_range;
        self.body_mismatch += other.body_mismatch;
        self.incomplete += other.incomplete;
        self.switch_failed += other.switch_failed;
        self.unconfirmed += other.unconfirmed;
    }
}

/// What a throughput run measured.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ThroughputReport {
    /// `throughput`.
    pub mode: &'static str,
    /// Receivers.
    pub receivers: u32,
    /// The message size in bytes.
    pub size: u64,
    /// The sender's chunk size in bytes.
    pub chunk_size: u64,
    /// The sender's unanswered chunks, at most.
    pub window: usize,
    /// Whether every byte was checked against the generated body.
    pub verified: bool,
    /// Seconds from the sender's first byte until the last receiver answered
    /// its last chunk.
    pub seconds: f64,
    /// Body bytes the receivers got, all together (`size × receivers` when
    /// nothing went wrong).
    pub bytes_delivered: u64,
    /// `bytes_delivered / seconds`, in MB (10^6 bytes) per second.
    pub delivered_mb_per_s: f64,
    /// Seconds from the sender's first byte until its last chunk was answered.
    pub sender_seconds: f64,
    /// `size / sender_seconds`, in MB (10^6 bytes) per second.
    pub sender_mb_per_s: f64,
    /// Chunks the sender wrote.
    pub chunks_sent: u64,
    /// Chunks the receivers got, all together.
    pub chunks_delivered: u64,
    /// The largest chunk body a receiver got, in bytes (the switch's
    /// `--fanout-chunk-bytes` at most).
    pub largest_chunk_delivered: u64,
    /// Receivers whose last bytes came in a chunk ended `+`, followed by an
    /// empty chunk (`Byte-Range: size+1-size/size`) ended `$`: valid MSRP, but
    /// one transaction more than a `$` on the last bytes; not an error. Counted
    /// in `chunks_delivered`.
    pub empty_end_chunks: u64,
    /// The switch's `large_message_complete`; absent if it did not come.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switch: Option<Completion>,
    /// The switch's memory, when its pid was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryReport>,
    /// What went wrong.
    pub errors: LargeErrors,
}

/// What a sessions run measured.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionsReport {
    /// `sessions`.
    pub mode: &'static str,
    /// The message size in bytes.
    pub size: u64,
    /// The sender's chunk size in bytes.
    pub chunk_size: u64,
    /// Loops, one session at a time each.
    pub concurrency: usize,
    /// Whether every byte was checked against the generated body.
    pub verified: bool,
    /// Seconds measured (after the warm-up).
    pub duration_s: f64,
    /// Sessions whose whole cycle (set up, delivered, released) ended in the
    /// measurement.
    pub sessions: u64,
    /// `sessions / duration_s`.
    pub sessions_per_s: f64,
    /// One cycle's median, in milliseconds.
    pub cycle_p50_ms: f64,
    /// One cycle's 99th percentile, in milliseconds.
    pub cycle_p99_ms: f64,
    /// The switch's CPU time, when its pid was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuReport>,
    /// What went wrong.
    pub errors: LargeErrors,
}

impl ThroughputReport {
    /// True when every receiver got every byte in place and the switch agrees.
    pub fn passed(&self) -> bool {
        self.errors.is_clean()
            && self.switch.is_some_and(|c| c.delivered == self.receivers)
            && self.bytes_delivered == self.size * u64::from(self.receivers)
    }

    /// The report as one JSON object on one line.
    pub fn to_json(&self) -> String {
        // Numbers and strings always serialize; keep a fallback anyway.
        serde_json::to_string(self).unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}"))
    }

    /// The report for people.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "large message: {} B to {} receiver(s) in {} B chunks, window {}{}\n",
            self.size,
            self.receivers,
            self.chunk_size,
            self.window,
            if self.verified { ", verified" } else { "" }
        );
        out += &format!(
            "{:.2} s from the first byte to the last answer: {:.1} MB/s delivered ({} B), \
             sender {:.1} MB/s ({:.2} s); MB = 10^6 B\n",
            self.seconds,
            self.delivered_mb_per_s,
            self.bytes_delivered,
            self.sender_mb_per_s,
            self.sender_seconds
        );
        out += &format!(
            "{} chunks sent, {} delivered (largest {} B; {} receiver(s) got the `$` on an \
             empty chunk); switch: {}\n",
            self.chunks_sent,
            self.chunks_delivered,
            self.largest_chunk_delivered,
            self.empty_end_chunks,
            completion_text(self.switch)
        );
        if let Some(m) = self.memory {
            out += &format!(
                "switch RSS: {:.1} MiB idle, peak {:.1} MiB (VmHWM, the process's lifetime peak), \
                 {:.1} MiB above idle\n",
                m.idle_rss_mib, m.peak_rss_mib, m.above_idle_mib
            );
        }
        out + &errors_text(&self.errors, self.passed())
    }
}

impl SessionsReport {
    /// True when some session was measured and nothing went wrong.
    pub fn passed(&self) -> bool {
        self.errors.is_clean() && self.sessions > 0
    }

    /// The report as one JSON object on one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}"))
    }

    /// The report for people.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "large message sessions: {} B in {} B chunks, 1 receiver each, {} loop(s){}\n",
            self.size,
            self.chunk_size,
            self.concurrency,
            if self.verified { ", verified" } else { "" }
        );
        out += &format!(
            "{} sessions in {:.2} s: {:.1} sessions/s; cycle p50 {:.2} ms, p99 {:.2} ms\n",
            self.sessions,
            self.duration_s,
            self.sessions_per_s,
            self.cycle_p50_ms,
            self.cycle_p99_ms
        );
        if let Some(cpu) = self.cpu {
            out += &format!(
                "switch CPU: {:.2} s, {:.3} s per 1,000 sessions\n",
                cpu.cpu_seconds, cpu.cpu_seconds_per_1000_sessions
            );
        }
        out + &errors_text(&self.errors, self.passed())
    }
}

fn completion_text(completion: Option<Completion>) -> String {
    completion.map_or_else(
        || "no large_message_complete".to_string(),
        |c| format!("{} delivered, {} failed", c.delivered, c.failed),
    )
}

fn errors_text(e: &LargeErrors, passed: bool) -> String {
    format!(
        "errors: non-200 {}, byte-range {}, body mismatch {}, incomplete {}, switch failed {}, \
         unconfirmed {}{}\n",
        e.non_200,
        e.byte_range,
        e.body_mismatch,
        e.incomplete,
        e.switch_failed,
        e.unconfirmed,
        if passed { "" } else { "  FAILED" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_documented_fields() {
        let report = ThroughputReport {
            mode: "throughput",
            receivers: 2,
            size: 1000,
            chunk_size: 100,
            window: 4,
            verified: true,
            seconds: 0.5,
            bytes_delivered: 2000,
            delivered_mb_per_s: 0.004,
            sender_seconds: 0.25,
            sender_mb_per_s: 0.004,
            chunks_sent: 10,
            chunks_delivered: 20,
            largest_chunk_delivered: 100,
            empty_end_chunks: 0,
            switch: Some(Completion {
                delivered: 2,
                failed: 0,
            }),
            memory: None,
            errors: LargeErrors::default(),
        };
        assert!(report.passed());
        let value: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        for field in [
            "mode",
            "seconds",
            "bytes_delivered",
            "delivered_mb_per_s",
            "sender_mb_per_s",
        ] {
            assert!(value.get(field).is_some(), "{field}");
        }
        assert_eq!(value["switch"]["delivered"], 2);
        assert!(value.get("memory").is_none());
        let mut short = report.clone();
        short.bytes_delivered = 1999;
        assert!(!short.passed());
        assert!(short.to_table().contains("FAILED"));
    }
}
