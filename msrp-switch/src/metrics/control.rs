//! The control API's families: calls by method and gRPC code, and their
//! durations by method. Both fronts (gRPC and HTTP/JSON) call the same
//! service, which records every call here once.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use super::{Histogram, LATENCY_BUCKETS};

/// The `method` label: every RPC of the service, in the order the HTTP
/// front's routes list them (a test there checks them against the proto).
pub const METHODS: [&str; control_api::http::METHODS.len()] = control_api::http::METHODS;

/// The `code` label: gRPC's status codes by number.
pub const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Control calls, counted and timed (shared by every front and task; calls
/// are rare next to frames, so plain relaxed atomics do).
#[derive(Debug, Default)]
pub struct ControlMetrics {
    calls: [[AtomicU64; CODES.len()]; METHODS.len()],
    durations: [Histogram; METHODS.len()],
}

impl ControlMetrics {
    /// Records a call of `method` that ended with gRPC code `code` after
    /// `elapsed`. A method or code outside the lists is not counted.
    pub fn record(&self, method: &str, code: usize, elapsed: Duration) {
        let Some(slot) = METHODS.iter().position(|m| *m == method) else {
            return;
        };
        if let Some(counter) = self.calls[slot].get(code) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.durations[slot].observe(elapsed);
    }

    /// Calls of `method` that ended with `code` (tests, and the encoder).
    pub fn calls(&self, method: &str, code: usize) -> u64 {
        METHODS
            .iter()
            .position(|m| *m == method)
            .and_then(|slot| self.calls[slot].get(code))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Encodes both families: a counter series per method and code that was
    /// ever used (the rest would be thousands of zeros), a histogram per method.
    pub(crate) fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), fmt::Error> {
        let mut calls = encoder.encode_descriptor(
            "msrp_switch_control_calls",
            "Control API calls (gRPC and HTTP/JSON), by method and gRPC status code.",
            None,
            MetricType::Counter,
        )?;
        for (slot, method) in METHODS.iter().enumerate() {
            for (code, name) in CODES.iter().enumerate() {
                let count = self.calls[slot][code].load(Ordering::Relaxed);
                // Every method's OK series is always there, so a rate() has a
                // series to start from.
                if count > 0 || code == 0 {
                    ConstCounter::new(count)
                        .encode(calls.encode_family(&[("method", *method), ("code", *name)])?)?;
                }
            }
        }
        let mut durations = encoder.encode_descriptor(
            "msrp_switch_control_call_duration_seconds",
            "Control API calls from their decoded request to their answer, by method.",
            None,
            MetricType::Histogram,
        )?;
        for (slot, method) in METHODS.iter().enumerate() {
            let mut counts = [0u64; LATENCY_BUCKETS.len() + 1];
            let mut sum = 0.0;
            self.durations[slot].add_to(&mut counts, &mut sum);
            let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
                .iter()
                .copied()
                .chain(std::iter::once(f64::INFINITY))
                .zip(counts)
                .collect();
            durations
                .encode_family(&[("method", *method)])?
                .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                sum,
                counts.iter().sum(),
                &buckets,
                None,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_tonics_by_number() {
        assert_eq!(
            CODES[tonic::Code::InvalidArgument as usize],
            "INVALID_ARGUMENT"
        );
        assert_eq!(
            CODES[tonic::Code::Unauthenticated as usize],
            "UNAUTHENTICATED"
        );
        assert_eq!(
            CODES[tonic::Code::FailedPrecondition as usize],
            "FAILED_PRECONDITION"
        );
    }

    #[test]
    fn a_call_counts_under_its_method_and_code() {
        let m = ControlMetrics::default();
        m.record("CreateSession", 0, Duration::from_millis(1));
        m.record("CreateSession", 3, Duration::from_millis(1));
        m.record("NoSuchMethod", 0, Duration::from_millis(1));
        assert_eq!(m.calls("CreateSession", 0), 1);
        assert_eq!(m.calls("CreateSession", 3), 1);
        assert_eq!(m.calls("AddParticipant", 0), 0);
    }
}
