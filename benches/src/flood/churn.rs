//! `msrp-flood churn`: sessions set up, used and released at a scheduled rate,
//! as an IM Server's traffic is: many short chats rather than a few endless
//! floods.
//!
//! Sessions start open-loop on a [`Ramp`] of set-ups per second (`n`-th due at
//! `ramp.time_of(n)`), at most `concurrency` at once. Each one goes through
//! [`session`]'s life: CreateSession, two AddParticipant with SDP offers, both
//! clients connected and bound, `messages` messages of `size` bytes from A to
//! B, ReleaseSession. A session due while `concurrency` are open waits for a
//! slot (counted); one still waiting when the duration is over is not started
//! (counted). Failures are counted by kind, never stop the run.
//!
//! ```text
//!  scheduler ── due(n) ──▶ slot ──▶ spawn session n ─┐     watcher, every 20 ms:
//!      ▲                                             │       timeline (CSV, HDR log),
//!      └─────────────── n + 1 ◀──────────────────────┘       progress line
//!                         until due(n) ≥ duration; then every session is awaited
//! ```
//!
//! The report's set-up latency counts from when a session was due, not from
//! when it started, so a flooder (or switch) that falls behind shows as latency
//! rather than as a quietly lower rate.

mod report;
mod session;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::clock::{self, nanos};
use super::ramp::Ramp;
use super::report::Latency;
use super::target::run_tag;
use super::target::switch::control_client;
use super::timeline::{Counts, Timeline, TimelineOutput, TimelineRow};
pub use report::{ChurnErrors, ChurnReport};
use session::{Counters, Failure, Shared, Totals};

/// How often the watcher looks at the counters.
const TICK: Duration = Duration::from_millis(20);

/// A churn run.
#[derive(Clone, Debug)]
pub struct ChurnConfig {
    /// The control API's URL (gRPC).
    pub control: String,
    /// Its bearer token, if it requires one.
    pub token: Option<String>,
    /// Where to connect for MSRP instead of the host:port of the switch's URIs.
    pub msrp_addr: Option<SocketAddr>,
    /// Set-ups per second the schedule reaches (after the ramp).
    pub setups_per_s: f64,
    /// A linear ramp up to `setups_per_s`: from this rate, over this long.
    pub ramp: Option<(f64, Duration)>,
    /// Sessions open at once, at most.
    pub concurrency: usize,
    /// Messages each session carries (0: set-up and release only).
    pub messages_per_session: u32,
    /// Body bytes per message (at least the flood header's 24).
    pub size: usize,
    /// Pause between one message's 200 and the next SEND.
    pub message_interval: Duration,
    /// How long sessions are scheduled for.
    pub duration: Duration,
    /// Limit on each step of a session (a control call, a bind, a message).
    pub step_timeout: Duration,
    /// The per-second log.
    pub timeline: TimelineOutput,
    /// Print a progress line every second on stderr.
    pub progress: bool,
}

impl ChurnConfig {
    /// The defaults of `msrp-flood churn` against `control`: 50 set-ups/s for
    /// 10 s, at most 256 sessions at once, 10 messages of 1 KiB each.
    pub fn new(control: impl Into<String>) -> Self {
        Self {
            control: control.into(),
            token: None,
            msrp_addr: None,
            setups_per_s: 50.0,
            ramp: None,
            concurrency: 256,
            messages_per_session: 10,
            size: 1024,
            message_interval: Duration::ZERO,
            duration: Duration::from_secs(10),
            step_timeout: Duration::from_secs(10),
            timeline: TimelineOutput::default(),
            progress: false,
        }
    }

    /// The schedule of set-ups.
    pub fn schedule(&self) -> anyhow::Result<Ramp> {
        let ramp = match self.ramp {
            Some((from, over)) => Ramp::new(from, self.setups_per_s, over),
            None => Ramp::constant(self.setups_per_s),
        };
        ramp.context("--setups-per-second")
    }

    /// Refuses settings that cannot work, naming the flag.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.schedule()?;
        if self.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if self.size < super::body::HEADER_LEN {
            bail!(
                "--size must be at least {} bytes (the body carries its send time and sequence)",
                super::body::HEADER_LEN
            );
        }
        if self.duration.is_zero() {
            bail!("--duration-seconds must be above 0");
        }
        if self.step_timeout.is_zero() {
            bail!("--step-timeout-seconds must be above 0");
        }
        Ok(())
    }
}

/// What the scheduler did.
struct Scheduled {
    scheduled: u64,
    not_started: u64,
    slot_waits: u64,
}

/// Runs the churn `config` describes and reports it.
pub async fn run(config: &ChurnConfig) -> anyhow::Result<ChurnReport> {
    config.validate()?;
    let ramp = config.schedule()?;
    let client = tokio::time::timeout(
        config.step_timeout,
        control_client(&config.control, config.token.as_deref()),
    )
    .await
    .context("connecting to the control API")??;
    let duration_s = config.duration.as_secs_f64();
    let mut timeline = Timeline::create(
        &config.timeline,
        SystemTime::now(),
        Some((ramp, duration_s)),
        true,
    )?;
    let start_ns = clock::now_ns();
    let shared = Arc::new(Shared {
        client,
        msrp_addr: config.msrp_addr,
        tag: run_tag(),
        messages: config.messages_per_session,
        size: config.size,
        message_interval: config.message_interval,
        step_timeout: config.step_timeout,
        recorder: timeline.recorder(),
        counters: Counters::default(),
        totals: Mutex::new(Totals::new()?),
        first_error: Mutex::new(None),
    });
    let scheduler = tokio::spawn(schedule(
        Arc::clone(&shared),
        ramp,
        start_ns,
        config.duration,
        config.concurrency,
    ));

    let mut rows = Vec::new();
    let mut tick = tokio::time::interval(TICK);
    let elapsed = || Duration::from_nanos(clock::now_ns().saturating_sub(start_ns));
    let counts = || Counts {
        setups: shared.counters.setups.load(Ordering::Relaxed),
        errors: shared.counters.errors(),
        in_flight: shared.counters.open.load(Ordering::Relaxed),
    };
    while !scheduler.is_finished() {
        tick.tick().await;
        let polled = timeline.poll(elapsed(), counts());
        let seconds = match polled {
            Ok(seconds) => seconds,
            Err(err) => {
                // The sessions stop where they are; the switch drops them as
                // their connections close.
                scheduler.abort();
                return Err(err);
            }
        };
        for row in seconds {
            if config.progress {
                eprintln!("{}", progress_line(&row));
            }
            rows.push(row);
        }
    }
    let scheduled = scheduler.await.context("the scheduler panicked")??;
    let elapsed = elapsed();
    rows.extend(timeline.finish(elapsed, counts())?);
    Ok(churn_report(
        config, &ramp, &shared, &scheduled, &rows, elapsed,
    ))
}

/// Starts sessions on the schedule until the duration is over, then waits for
/// every one of them.
async fn schedule(
    shared: Arc<Shared>,
    ramp: Ramp,
    start_ns: u64,
    duration: Duration,
    concurrency: usize,
) -> anyhow::Result<Scheduled> {
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut sessions = JoinSet::new();
    let end_ns = start_ns + nanos(duration);
    let duration_s = duration.as_secs_f64();
    let mut n = 0u64;
    let mut slot_waits = 0;
    let mut not_started = 0;
    loop {
        let due_s = ramp.time_of(n as f64);
        if due_s >= duration_s {
            break;
        }
        let due_ns = start_ns + (due_s * 1e9) as u64;
        // A session's set-up is timed from when it was due, but not from before
        // the timer that waited for it woke: the timer's millisecond granularity
        // is the flooder's own delay. A session already late when its turn came
        // (the scheduler behind) keeps its due time, and so does one that waits
        // for a slot below: that lateness is the run's.
        let from_ns = match clock::now_ns() < due_ns {
            true => {
                tokio::time::sleep_until(clock::instant_of(due_ns).into()).await;
                clock::now_ns()
            }
            false => due_ns,
        };
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                slot_waits += 1;
                let until_end = clock::instant_of(end_ns).into();
                match tokio::time::timeout_at(until_end, Arc::clone(&slots).acquire_owned()).await {
                    Ok(permit) => permit?,
                    Err(_) => {
                        // Still no slot when the duration is over: this one and
                        // every one due after it are not started.
                        not_started = ramp.count_by(duration_s).ceil() as u64 - n;
                        break;
                    }
                }
            }
        };
        while let Some(joined) = sessions.try_join_next() {
            joined.context("a session panicked")?;
        }
        let shared = Arc::clone(&shared);
        sessions.spawn(async move {
            session::churn(shared, n, from_ns).await;
            drop(permit);
        });
        n += 1;
    }
    while let Some(joined) = sessions.join_next().await {
        joined.context("a session panicked")?;
    }
    Ok(Scheduled {
        scheduled: n + not_started,
        not_started,
        slot_waits,
    })
}

/// The once-a-second line on stderr.
fn progress_line(row: &TimelineRow) -> String {
    format!(
        "[{:>5.0}s] target {:>5.0}/s  set-ups {:>5.0}/s  msgs {:>6.0}/s  p50 {} us  p99 {} us  max {} us  open {}  errors {}",
        row.t_s,
        row.target_per_s.unwrap_or(0.0),
        row.setups_per_s,
        row.msgs_per_s,
        row.p50_us,
        row.p99_us,
        row.max_us,
        row.in_flight,
        row.errors
    )
}

fn churn_report(
    config: &ChurnConfig,
    ramp: &Ramp,
    shared: &Shared,
    scheduled: &Scheduled,
    rows: &[TimelineRow],
    elapsed: Duration,
) -> ChurnReport {
    let c = &shared.counters;
    let totals = shared.totals.lock().unwrap_or_else(PoisonError::into_inner);
    let duration_s = config.duration.as_secs_f64();
    let elapsed_s = elapsed.as_secs_f64();
    let setups = c.setups.load(Ordering::Relaxed);
    let messages = c.messages.load(Ordering::Relaxed);
    let pace = keeping_pace(rows, ramp, duration_s);
    ChurnReport {
        target_setups_per_s: config.setups_per_s,
        ramp_from: config.ramp.map(|(from, _)| from),
        ramp_seconds: config.ramp.map(|(_, over)| over.as_secs_f64()),
        concurrency: config.concurrency,
        messages_per_session: config.messages_per_session,
        size: config.size,
        duration_s,
        elapsed_s,
        scheduled: scheduled.scheduled,
        not_started: scheduled.not_started,
        setups,
        setups_per_s: setups as f64 / duration_s,
        peak_setups_per_s: pace.peak,
        sustained_setups_per_s: pace.sustained,
        fell_behind_at_s: pace.fell_behind.map(|(at, _)| at),
        fell_behind_at_target_per_s: pace.fell_behind.map(|(_, target)| target),
        completed: c.completed.load(Ordering::Relaxed),
        messages,
        msgs_per_s: messages as f64 / elapsed_s.max(f64::EPSILON),
        setup_latency_us: Latency::of(&totals.setup),
        latency_us: Latency::of(&totals.delivery),
        ack_latency_us: Latency::of(&totals.ack),
        slot_waits: scheduled.slot_waits,
        errors: ChurnErrors {
            setup_failed: c.failures(Failure::Setup),
            non_200: c.failures(Failure::Refused),
            body_mismatch: c.failures(Failure::Mismatch),
            timed_out: c.failures(Failure::TimedOut),
            closed: c.failures(Failure::Closed),
            release_failed: c.failures(Failure::Release),
        },
        first_error: shared
            .first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
    }
}

/// How the set-ups kept to the schedule, from the per-second rows.
#[derive(Debug, Default, PartialEq)]
struct Pace {
    /// The most set-ups in a whole second.
    peak: f64,
    /// The most set-ups in a whole second before falling behind.
    sustained: f64,
    /// When the set-ups done first trailed the set-ups due by more than one
    /// second's worth at the target rate then, and that rate.
    fell_behind: Option<(f64, f64)>,
}

/// A backlog (set-ups due, not done) larger than one second of the target rate
/// means the run no longer keeps up: from a cumulative count, so one slow
/// second that is caught up on the next does not count, and a slow slide does.
fn keeping_pace(rows: &[TimelineRow], ramp: &Ramp, stop_s: f64) -> Pace {
    let mut pace = Pace::default();
    let mut done = 0.0;
    let mut previous_s = 0.0;
    for row in rows {
        let span = row.t_s - previous_s;
        done += row.setups_per_s * span;
        previous_s = row.t_s;
        let whole = span > 0.999 && row.t_s <= stop_s + 1e-6;
        if whole {
            pace.peak = pace.peak.max(row.setups_per_s);
        }
        let at = row.t_s.min(stop_s);
        let rate = ramp.rate_at(at);
        if pace.fell_behind.is_none() {
            if ramp.count_by(at) - done > rate.max(1.0) {
                pace.fell_behind = Some((row.t_s, rate));
            } else if whole {
                pace.sustained = pace.sustained.max(row.setups_per_s);
            }
        }
    }
    pace
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t_s: f64, setups_per_s: f64) -> TimelineRow {
        TimelineRow {
            t_s,
            setups_per_s,
            ..TimelineRow::default()
        }
    }

    #[test]
    fn a_run_that_keeps_up_sustains_its_best_second() {
        let ramp = Ramp::new(10.0, 30.0, Duration::from_secs(2)).unwrap();
        // 15 due in the first second, 25 in the second, 30 in the third.
        let rows = [
            row(1.0, 15.0),
            row(2.0, 25.0),
            row(3.0, 29.0),
            row(3.2, 1.0),
        ];
        let pace = keeping_pace(&rows, &ramp, 3.0);
        assert_eq!(pace.fell_behind, None);
        assert_eq!(pace.peak, 29.0);
        assert_eq!(pace.sustained, 29.0);
    }

    #[test]
    fn a_growing_backlog_ends_the_sustained_rate() {
        let ramp = Ramp::constant(100.0).unwrap();
        let rows = [
            row(1.0, 100.0),
            row(2.0, 60.0),
            row(3.0, 60.0),
            row(4.0, 150.0),
        ];
        let pace = keeping_pace(&rows, &ramp, 10.0);
        // 80 behind after 3 s is under a second's 100, and the fourth second
        // catches up.
        assert_eq!(pace.fell_behind, None);
        let rows = [
            row(1.0, 100.0),
            row(2.0, 40.0),
            row(3.0, 40.0),
            row(4.0, 150.0),
        ];
        let pace = keeping_pace(&rows, &ramp, 10.0);
        // 120 behind after 3 s.
        assert_eq!(pace.fell_behind, Some((3.0, 100.0)));
        assert_eq!(pace.sustained, 100.0);
        assert_eq!(pace.peak, 150.0);
    }

    #[test]
    fn bad_settings_name_their_flag() {
        let mut c = ChurnConfig::new("http://127.0.0.1:1");
        assert!(c.validate().is_ok());
        c.concurrency = 0;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("--concurrency")
        );
        let mut c = ChurnConfig::new("http://127.0.0.1:1");
        c.setups_per_s = 0.0;
        assert!(format!("{:#}", c.validate().unwrap_err()).contains("--setups-per-second"));
        let mut c = ChurnConfig::new("http://127.0.0.1:1");
        c.size = 8;
        assert!(c.validate().unwrap_err().to_string().contains("--size"));
    }
}
