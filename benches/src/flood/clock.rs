//! One clock for the whole process: senders write the time into bodies and receivers
//! subtract it, so both must count from the same base.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

static BASE: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Nanoseconds since the process-wide base (the first call).
pub fn now_ns() -> u64 {
    nanos(BASE.elapsed())
}

/// The [`Instant`] of a [`now_ns`] value, for sleeping until it.
pub fn instant_of(ns: u64) -> Instant {
    *BASE + Duration::from_nanos(ns)
}

/// A duration in nanoseconds, saturating (a run lasts far less than 584 years).
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
