//! An open-loop arrival schedule: a rate (messages or set-ups per second) that
//! rises linearly from `from` to `to` over a ramp, then holds `to`.
//!
//! ```text
//!  rate
//!   to ┤          ┌────────────
//!      │        ╱
//!      │      ╱
//! from ┤────╱
//!      └────┴─────┴───────────▶ t
//!           0    ramp
//! ```
//!
//! Arrival `n` (0-based) is due when the integral of the rate reaches `n`, so the
//! first is due at 0 and a constant rate `r` gives `n / r`: the load is generated
//! on this schedule whatever the target's answers (no coordinated omission), and
//! a target that cannot keep up shows as latency and a backlog, not as a lower
//! send rate.

use std::time::Duration;

use anyhow::bail;

/// A rate that ramps linearly, then holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ramp {
    from_per_s: f64,
    to_per_s: f64,
    ramp_s: f64,
}

impl Ramp {
    /// `rate` per second from the start.
    pub fn constant(rate: f64) -> anyhow::Result<Self> {
        Self::new(rate, rate, Duration::ZERO)
    }

    /// From `from_per_s` at 0 to `to_per_s` at `over`, then `to_per_s`. Names the
    /// flags (`--ramp-from`, the target rate) when a value cannot work.
    pub fn new(from_per_s: f64, to_per_s: f64, over: Duration) -> anyhow::Result<Self> {
        if !(to_per_s.is_finite() && to_per_s > 0.0) {
            bail!("the target rate must be a positive number per second");
        }
        if !(from_per_s.is_finite() && from_per_s >= 0.0) {
            bail!("--ramp-from must be a number per second, 0 or more");
        }
        Ok(Self {
            from_per_s,
            to_per_s,
            ramp_s: over.as_secs_f64(),
        })
    }

    /// The rate the ramp starts from.
    pub fn from_per_s(&self) -> f64 {
        self.from_per_s
    }

    /// The rate the ramp ends at and then holds.
    pub fn to_per_s(&self) -> f64 {
        self.to_per_s
    }

    /// The ramp's length in seconds (0: constant).
    pub fn ramp_seconds(&self) -> f64 {
        self.ramp_s
    }

    /// True when the rate changes over time.
    pub fn is_ramp(&self) -> bool {
        self.ramp_s > 0.0 && self.from_per_s != self.to_per_s
    }

    /// The rate at `t_s` seconds from the start.
    pub fn rate_at(&self, t_s: f64) -> f64 {
        if t_s >= self.ramp_s {
            return self.to_per_s;
        }
        let t = t_s.max(0.0);
        self.from_per_s + (self.to_per_s - self.from_per_s) * t / self.ramp_s
    }

    /// Arrivals due by `t_s`: the integral of the rate from 0.
    pub fn count_by(&self, t_s: f64) -> f64 {
        let t = t_s.max(0.0);
        if t <= self.ramp_s {
            (self.from_per_s + self.rate_at(t)) * t / 2.0
        } else {
            (self.from_per_s + self.to_per_s) * self.ramp_s / 2.0
                + self.to_per_s * (t - self.ramp_s)
        }
    }

    /// Seconds from the start at which arrival `n` is due (the inverse of
    /// [`Ramp::count_by`]); `n` may be fractional, which spreads sessions that
    /// share a rate over it.
    pub fn time_of(&self, n: f64) -> f64 {
        if n <= 0.0 {
            return 0.0;
        }
        let at_ramp_end = self.count_by(self.ramp_s);
        if n >= at_ramp_end {
            return self.ramp_s + (n - at_ramp_end) / self.to_per_s;
        }
        // Solve from·t + a·t²/2 = n, a = (to - from) / ramp, as
        // t = 2n / (from + √(from² + 2an)): one form for a rising, falling or flat
        // ramp, and finite from a rate of 0 (the quadratic formula's own form
        // divides by a).
        let a = (self.to_per_s - self.from_per_s) / self.ramp_s;
        let root = (self.from_per_s * self.from_per_s + 2.0 * a * n)
            .max(0.0)
            .sqrt();
        2.0 * n / (self.from_per_s + root)
    }

    /// The mean target rate over `start_s..end_s`, counting no arrival after
    /// `stop_s` (when the schedule ends).
    pub fn mean_rate(&self, start_s: f64, end_s: f64, stop_s: f64) -> f64 {
        let span = end_s - start_s;
        if span <= 0.0 {
            return 0.0;
        }
        (self.count_by(end_s.min(stop_s)) - self.count_by(start_s.min(stop_s))) / span
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_rate_spaces_arrivals_evenly() {
        let r = Ramp::constant(400.0).unwrap();
        assert_eq!(r.time_of(0.0), 0.0);
        assert!((r.time_of(400.0) - 1.0).abs() < 1e-12);
        assert!((r.time_of(1.5) - 1.5 / 400.0).abs() < 1e-12);
        assert_eq!(r.rate_at(7.0), 400.0);
        assert!(!r.is_ramp());
    }

    #[test]
    fn a_ramp_is_the_inverse_of_its_integral() {
        for (from, to) in [(20.0, 400.0), (0.0, 100.0), (300.0, 30.0), (50.0, 50.0)] {
            let r = Ramp::new(from, to, Duration::from_secs(20)).unwrap();
            for t in [0.0, 0.01, 1.0, 9.5, 19.99, 20.0, 25.0, 60.0] {
                let n = r.count_by(t);
                assert!((r.time_of(n) - t).abs() < 1e-9, "{from}->{to} at {t}");
            }
        }
    }

    #[test]
    fn a_ramp_from_20_to_400_over_20_s_carries_4200_arrivals() {
        let r = Ramp::new(20.0, 400.0, Duration::from_secs(20)).unwrap();
        assert_eq!(r.rate_at(0.0), 20.0);
        assert_eq!(r.rate_at(10.0), 210.0);
        assert_eq!(r.rate_at(30.0), 400.0);
        assert_eq!(r.count_by(20.0), 4200.0);
        assert!((r.mean_rate(9.5, 10.5, f64::INFINITY) - 210.0).abs() < 1e-9);
        // Nothing is due after the schedule stops.
        assert_eq!(r.mean_rate(20.0, 21.0, 20.0), 0.0);
    }

    #[test]
    fn bad_rates_name_their_flag() {
        assert!(Ramp::constant(0.0).is_err());
        assert!(Ramp::constant(f64::NAN).is_err());
        let err = Ramp::new(-1.0, 10.0, Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("--ramp-from"));
    }
}
