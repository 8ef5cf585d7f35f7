//! The figures of a churn run, as a table for people and one JSON object for
//! scripts.

use std::fmt::Write as _;

use serde::Serialize;

use crate::flood::report::Latency;

/// What a churn run measured.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChurnReport {
    /// Set-ups per second the schedule reached (after the ramp).
    pub target_setups_per_s: f64,
    /// Where the ramp started; absent without a ramp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramp_from: Option<f64>,
    /// The ramp's length in seconds; absent without a ramp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramp_seconds: Option<f64>,
    /// Sessions at once, at most.
    pub concurrency: usize,
    /// Messages each session carries.
    pub messages_per_session: u32,
    /// Body bytes per message.
    pub size: usize,
    /// Seconds over which sessions were scheduled.
    pub duration_s: f64,
    /// Seconds until the last session ended.
    pub elapsed_s: f64,
    /// Sessions the schedule had due within the duration.
    pub scheduled: u64,
    /// Sessions due that were never started: at the end of the duration they
    /// were still waiting for a `--concurrency` slot.
    pub not_started: u64,
    /// Sessions set up (both legs bound).
    pub setups: u64,
    /// `setups / duration_s`.
    pub setups_per_s: f64,
    /// The most set-ups in one whole second.
    pub peak_setups_per_s: f64,
    /// The most set-ups in one whole second before the run fell behind its
    /// schedule by more than a second's worth of set-ups (see `fell_behind_at_s`):
    /// the highest rate the switch (and the flooder) kept up with.
    pub sustained_setups_per_s: f64,
    /// When the set-ups first fell behind the schedule by more than one second's
    /// worth; absent if they never did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fell_behind_at_s: Option<f64>,
    /// The target rate at that moment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fell_behind_at_target_per_s: Option<f64>,
    /// Sessions that carried every message and were released.
    pub completed: u64,
    /// Messages delivered intact and answered 200.
    pub messages: u64,
    /// `messages / elapsed_s`.
    pub msgs_per_s: f64,
    /// Set-up: from when the session was due (its place in the schedule; when
    /// the scheduler's timer woke for it, if that was later) to both legs
    /// bound, in microseconds; includes any wait for a `--concurrency` slot, so
    /// a run that falls behind shows here.
    pub setup_latency_us: Latency,
    /// A message from A's SEND to B having read all of it, in microseconds.
    pub latency_us: Latency,
    /// A message from A's SEND to A reading its 200, in microseconds.
    pub ack_latency_us: Latency,
    /// Set-ups that had to wait for a `--concurrency` slot.
    pub slot_waits: u64,
    /// What went wrong.
    pub errors: ChurnErrors,
    /// The first failure, for a start on what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// Failed sessions by why; each failed session counts once and ends.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ChurnErrors {
    /// CreateSession or AddParticipant refused, or a leg did not connect or bind.
    pub setup_failed: u64,
    /// A SEND answered other than 200, or a failure REPORT.
    pub non_200: u64,
    /// The receiver got other bytes than were sent.
    pub body_mismatch: u64,
    /// A message not delivered or not answered within the step limit.
    pub timed_out: u64,
    /// The switch closed a connection mid-session.
    pub closed: u64,
    /// ReleaseSession refused.
    pub release_failed: u64,
}

impl ChurnErrors {
    /// True when no session failed.
    pub fn is_clean(&self) -> bool {
        *self == Self::default()
    }
}

impl ChurnReport {
    /// True when no session failed.
    pub fn passed(&self) -> bool {
        self.errors.is_clean()
    }

    /// The report as one JSON object on one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}"))
    }

    /// The report as a small table.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let schedule = match (self.ramp_from, self.ramp_seconds) {
            (Some(from), Some(over)) => format!(
                "{from:.0} -> {:.0} set-ups/s over {over:.0} s",
                self.target_setups_per_s
            ),
            _ => format!("{:.0} set-ups/s", self.target_setups_per_s),
        };
        let _ = writeln!(
            out,
            "churn: {schedule} for {:.0} s, concurrency {}, {} x {} B messages per session",
            self.duration_s, self.concurrency, self.messages_per_session, self.size
        );
        let _ = writeln!(
            out,
            "{:>10} {:>10} {:>10} {:>10} {:>12} {:>10} {:>10}",
            "scheduled", "set-ups", "set-ups/s", "peak/s", "sustained/s", "messages", "msgs/s"
        );
        let _ = writeln!(
            out,
            "{:>10} {:>10} {:>10.1} {:>10.0} {:>12.0} {:>10} {:>10.0}",
            self.scheduled,
            self.setups,
            self.setups_per_s,
            self.peak_setups_per_s,
            self.sustained_setups_per_s,
            self.messages,
            self.msgs_per_s
        );
        if let (Some(at), Some(target)) = (self.fell_behind_at_s, self.fell_behind_at_target_per_s)
        {
            let _ = writeln!(
                out,
                "fell behind the schedule at {at:.0} s (target {target:.0} set-ups/s)"
            );
        }
        for (what, l) in [
            ("set-up (us, due to both legs bound)", self.setup_latency_us),
            ("message (us, send to delivery)", self.latency_us),
            ("message (us, send to 200)", self.ack_latency_us),
        ] {
            let _ = writeln!(
                out,
                "{what}: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
                l.p50, l.p90, l.p99, l.p999, l.max
            );
        }
        let _ = writeln!(
            out,
            "waited for a --concurrency slot: {}; not started: {}; completed: {}",
            self.slot_waits, self.not_started, self.completed
        );
        let e = self.errors;
        let _ = writeln!(
            out,
            "errors: set-up failed {}, non-200 {}, body mismatch {}, timed out {}, closed {}, release failed {}{}",
            e.setup_failed,
            e.non_200,
            e.body_mismatch,
            e.timed_out,
            e.closed,
            e.release_failed,
            if self.passed() { "" } else { "  FAILED" }
        );
        if let Some(first) = &self.first_error {
            let _ = writeln!(out, "first error: {first}");
        }
        out
    }
}
