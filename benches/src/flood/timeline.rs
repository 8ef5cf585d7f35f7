//! The per-second log of a run (`--csv`, `--hdr-log`): what happened in each
//! second, so that a ramp's effect and a stall show over time instead of being
//! averaged away in the final report.
//!
//! The flood's tasks record each message's latency (and, in churn, each
//! set-up's) into an [`IntervalRecorder`]; the run's watcher calls
//! [`Timeline::poll`] every tick, and at each second's end the timeline takes
//! the recorder's histograms, adds the mode's counters and writes:
//!
//! - a CSV line ([`CSV_HEADER`], one [`TimelineRow`] per second, the last one
//!   for the shorter interval the run ends in);
//! - an HdrHistogram interval log: the second's message latencies in
//!   microseconds (untagged) and, in churn, its set-up latencies (tag `setup`),
//!   V2-deflate encoded as every HdrHistogram tool reads them, with the run's
//!   start as StartTime and BaseTime so an interval's timestamp is seconds
//!   since the start.
//!
//! A second's boundaries hold to within the watcher's tick (20 ms): a message
//! delivered in that tick lands in the second that is ending.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::ramp::Ramp;
use super::receiver::latency_histogram;

/// The CSV's first line. Rates are per second over the interval; latencies are in
/// microseconds, of the messages delivered in it (0 when none was).
pub const CSV_HEADER: &str =
    "t_s,target_per_s,setups_per_s,msgs_per_s,p50_us,p90_us,p99_us,max_us,errors,in_flight";

/// The tag of the set-up latency histograms in the interval log.
pub const SETUP_TAG: &str = "setup";

/// Where the per-second log goes; both absent: no log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimelineOutput {
    /// One CSV line per second (`--csv`).
    pub csv: Option<PathBuf>,
    /// An HdrHistogram interval log (`--hdr-log`).
    pub hdr_log: Option<PathBuf>,
}

impl TimelineOutput {
    /// True when a log was asked for.
    pub fn is_enabled(&self) -> bool {
        self.csv.is_some() || self.hdr_log.is_some()
    }
}

/// One second of a run (the last one may be shorter).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TimelineRow {
    /// When the interval ended, in seconds since the start of the run.
    pub t_s: f64,
    /// The rate the schedule asked for over the interval: messages per second in
    /// `run --rate`, set-ups per second in `churn`; `None` when unpaced.
    pub target_per_s: Option<f64>,
    /// Sessions set up (both legs bound) per second; 0 in `run`.
    pub setups_per_s: f64,
    /// Messages delivered per second.
    pub msgs_per_s: f64,
    /// Median latency of those messages, in microseconds.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Errors counted in the interval (see the modes' reports for which).
    pub errors: u64,
    /// At the interval's end: SEND transactions unanswered (`run`), sessions
    /// open (`churn`).
    pub in_flight: u64,
}

impl TimelineRow {
    /// The row as a CSV line, without its line end.
    pub fn to_csv(&self) -> String {
        let target = self
            .target_per_s
            .map(|t| format!("{t:.1}"))
            .unwrap_or_default();
        format!(
            "{:.3},{target},{:.1},{:.1},{},{},{},{},{},{}",
            self.t_s,
            self.setups_per_s,
            self.msgs_per_s,
            self.p50_us,
            self.p90_us,
            self.p99_us,
            self.max_us,
            self.errors,
            self.in_flight
        )
    }

    /// Reads a line [`TimelineRow::to_csv`] wrote.
    pub fn parse(line: &str) -> anyhow::Result<Self> {
        let fields: Vec<&str> = line.trim_end().split(',').collect();
        let [
            t,
            target,
            setups,
            msgs,
            p50,
            p90,
            p99,
            max,
            errors,
            in_flight,
        ] = fields[..]
        else {
            bail!("{} fields where the header has 10: {line:?}", fields.len());
        };
        let float = |name: &str, v: &str| {
            v.parse::<f64>()
                .with_context(|| format!("{name} {v:?} is not a number"))
        };
        let int = |name: &str, v: &str| {
            v.parse::<u64>()
                .with_context(|| format!("{name} {v:?} is not a whole number"))
        };
        Ok(Self {
            t_s: float("t_s", t)?,
            target_per_s: match target {
                "" => None,
                v => Some(float("target_per_s", v)?),
            },
            setups_per_s: float("setups_per_s", setups)?,
            msgs_per_s: float("msgs_per_s", msgs)?,
            p50_us: int("p50_us", p50)?,
            p90_us: int("p90_us", p90)?,
            p99_us: int("p99_us", p99)?,
            max_us: int("max_us", max)?,
            errors: int("errors", errors)?,
            in_flight: int("in_flight", in_flight)?,
        })
    }
}

/// Reads a per-second CSV: the header, then one row per line.
pub fn read_csv(path: &Path) -> anyhow::Result<Vec<TimelineRow>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    match lines.next() {
        Some(header) if header.trim_end() == CSV_HEADER => {}
        _ => bail!(
            "{} does not start with the msrp-flood header {CSV_HEADER:?}",
            path.display()
        ),
    }
    lines
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            TimelineRow::parse(line).with_context(|| format!("{}: row {}", path.display(), i + 1))
        })
        .collect()
}

/// The histograms of the interval in progress, shared by the tasks that record
/// and the watcher that takes them each second. One uncontended lock per value:
/// the run's hot path takes it only when a log was asked for.
#[derive(Debug)]
pub struct IntervalRecorder {
    latency_us: Mutex<Histogram<u64>>,
    setup_us: Mutex<Histogram<u64>>,
}

impl IntervalRecorder {
    /// Empty histograms (microseconds, 1 µs to an hour, 3 significant digits).
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency_us: Mutex::new(latency_histogram()?),
            setup_us: Mutex::new(latency_histogram()?),
        })
    }

    /// Records one message's latency.
    pub fn record_latency_us(&self, us: u64) {
        // A panic while holding the lock leaves a histogram that is still valid.
        let mut h = self
            .latency_us
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        h.saturating_record(us);
    }

    /// Records one session's set-up latency.
    pub fn record_setup_us(&self, us: u64) {
        let mut h = self.setup_us.lock().unwrap_or_else(PoisonError::into_inner);
        h.saturating_record(us);
    }

    /// The interval's histograms (latency, set-up); the recorder starts afresh.
    fn take(&self) -> (Histogram<u64>, Histogram<u64>) {
        let take = |m: &Mutex<Histogram<u64>>| {
            let mut h = m.lock().unwrap_or_else(PoisonError::into_inner);
            let taken = h.clone();
            h.reset();
            taken
        };
        (take(&self.latency_us), take(&self.setup_us))
    }
}

/// The mode's running totals, read by the watcher at each poll.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Sessions set up so far.
    pub setups: u64,
    /// Errors so far.
    pub errors: u64,
    /// In flight now (see [`TimelineRow::in_flight`]).
    pub in_flight: u64,
}

/// Cuts a run into seconds and writes each one out.
pub struct Timeline {
    recorder: Arc<IntervalRecorder>,
    csv: Option<(PathBuf, BufWriter<File>)>,
    hdr: Option<HdrLog>,
    /// The schedule (`None`: unpaced) and when it stops, in seconds.
    schedule: Option<(Ramp, f64)>,
    /// Set-up histograms go in the interval log (churn).
    setups: bool,
    /// End of the last interval written, in seconds.
    last_s: f64,
    last: Counts,
}

/// The open interval log.
struct HdrLog {
    path: PathBuf,
    file: BufWriter<File>,
    serializer: V2DeflateSerializer,
}

impl Timeline {
    /// Opens the outputs (creating or truncating the files) for a run that
    /// starts at `started`; `schedule` is the target rate and the second at which
    /// the schedule stops; `setups` puts set-up histograms in the interval log.
    pub fn create(
        output: &TimelineOutput,
        started: SystemTime,
        schedule: Option<(Ramp, f64)>,
        setups: bool,
    ) -> anyhow::Result<Self> {
        let csv = match &output.csv {
            Some(path) => {
                let mut file = BufWriter::new(create(path)?);
                writeln!(file, "{CSV_HEADER}").with_context(|| write_error(path))?;
                Some((path.clone(), file))
            }
            None => None,
        };
        let hdr = match &output.hdr_log {
            Some(path) => {
                let mut file = BufWriter::new(create(path)?);
                let mut serializer = V2DeflateSerializer::new();
                let mut builder = IntervalLogWriterBuilder::new();
                builder
                    .add_comment("msrp-flood: message latency in microseconds (untagged)")
                    .with_start_time(started)
                    .with_base_time(started);
                if setups {
                    builder.add_comment(&format!(
                        "msrp-flood: session set-up latency in microseconds (Tag={SETUP_TAG})"
                    ));
                }
                builder
                    .begin_log_with(&mut file, &mut serializer)
                    .with_context(|| write_error(path))?;
                Some(HdrLog {
                    path: path.clone(),
                    file,
                    serializer,
                })
            }
            None => None,
        };
        Ok(Self {
            recorder: Arc::new(IntervalRecorder::new()?),
            csv,
            hdr,
            schedule,
            setups,
            last_s: 0.0,
            last: Counts::default(),
        })
    }

    /// What the flood's tasks record into.
    pub fn recorder(&self) -> Arc<IntervalRecorder> {
        Arc::clone(&self.recorder)
    }

    /// True when a file is written.
    pub fn writes(&self) -> bool {
        self.csv.is_some() || self.hdr.is_some()
    }

    /// At `elapsed` since the start: ends and writes every whole second that has
    /// passed since the last poll, and returns their rows (usually none or one).
    pub fn poll(&mut self, elapsed: Duration, counts: Counts) -> anyhow::Result<Vec<TimelineRow>> {
        let now_s = elapsed.as_secs_f64();
        let mut rows = Vec::new();
        while now_s >= self.last_s.floor() + 1.0 {
            let end_s = self.last_s.floor() + 1.0;
            rows.push(self.interval(end_s, counts)?);
        }
        Ok(rows)
    }

    /// Ends the run at `elapsed`: writes the last, shorter interval (if it is
    /// not empty) and flushes both files.
    pub fn finish(
        mut self,
        elapsed: Duration,
        counts: Counts,
    ) -> anyhow::Result<Option<TimelineRow>> {
        let mut rows = self.poll(elapsed, counts)?;
        let end_s = elapsed.as_secs_f64();
        if end_s > self.last_s + 1e-3 {
            rows.push(self.interval(end_s, counts)?);
        }
        if let Some((path, file)) = self.csv.as_mut() {
            file.flush().with_context(|| write_error(path))?;
        }
        if let Some(hdr) = self.hdr.as_mut() {
            hdr.file.flush().with_context(|| write_error(&hdr.path))?;
        }
        Ok(rows.pop())
    }

    /// Closes the interval `last_s..end_s`.
    fn interval(&mut self, end_s: f64, counts: Counts) -> anyhow::Result<TimelineRow> {
        let start_s = self.last_s;
        let span = end_s - start_s;
        let (latency, setup) = self.recorder.take();
        let at = |q: f64| match latency.is_empty() {
            true => 0,
            false => latency.value_at_quantile(q),
        };
        let row = TimelineRow {
            t_s: end_s,
            target_per_s: self
                .schedule
                .map(|(ramp, stop_s)| ramp.mean_rate(start_s, end_s, stop_s)),
            setups_per_s: counts.setups.saturating_sub(self.last.setups) as f64 / span,
            msgs_per_s: latency.len() as f64 / span,
            p50_us: at(0.50),
            p90_us: at(0.90),
            p99_us: at(0.99),
            max_us: if latency.is_empty() { 0 } else { latency.max() },
            errors: counts.errors.saturating_sub(self.last.errors),
            in_flight: counts.in_flight,
        };
        if let Some((path, file)) = self.csv.as_mut() {
            writeln!(file, "{}", row.to_csv()).with_context(|| write_error(path))?;
        }
        if let Some(hdr) = self.hdr.as_mut() {
            let start = Duration::from_secs_f64(start_s);
            let length = Duration::from_secs_f64(span);
            hdr.write(&latency, start, length, None)?;
            if self.setups {
                hdr.write(&setup, start, length, Tag::new(SETUP_TAG))?;
            }
        }
        self.last_s = end_s;
        self.last = counts;
        Ok(row)
    }
}

impl HdrLog {
    fn write(
        &mut self,
        histogram: &Histogram<u64>,
        start: Duration,
        length: Duration,
        tag: Option<Tag<'_>>,
    ) -> anyhow::Result<()> {
        // A builder with no headers writes nothing of its own: the log's headers
        // went out once, in `Timeline::create`.
        let mut log = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.file, &mut self.serializer)
            .with_context(|| write_error(&self.path))?;
        log.write_histogram(histogram, start, length, tag)
            .map_err(|err| anyhow::anyhow!("{}: {err}", write_error(&self.path)))
    }
}

fn create(path: &Path) -> anyhow::Result<File> {
    File::create(path).with_context(|| format!("creating {}", path.display()))
}

fn write_error(path: &Path) -> String {
    format!("writing {}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_back_as_written() {
        let row = TimelineRow {
            t_s: 3.0,
            target_per_s: Some(115.5),
            setups_per_s: 114.0,
            msgs_per_s: 1140.0,
            p50_us: 210,
            p90_us: 400,
            p99_us: 950,
            max_us: 2100,
            errors: 1,
            in_flight: 4,
        };
        let line = row.to_csv();
        assert_eq!(line, "3.000,115.5,114.0,1140.0,210,400,950,2100,1,4");
        assert_eq!(TimelineRow::parse(&line).unwrap(), row);
        let unpaced = TimelineRow {
            target_per_s: None,
            ..row
        };
        assert_eq!(TimelineRow::parse(&unpaced.to_csv()).unwrap(), unpaced);
        assert!(TimelineRow::parse("1,2,3").is_err());
        assert_eq!(CSV_HEADER.split(',').count(), 10);
    }

    #[test]
    fn seconds_are_cut_at_each_boundary_and_the_rest_at_the_end() {
        let mut timeline = Timeline::create(
            &TimelineOutput::default(),
            SystemTime::now(),
            Some((Ramp::constant(10.0).unwrap(), 2.0)),
            true,
        )
        .unwrap();
        let recorder = timeline.recorder();
        for us in [100, 200, 300] {
            recorder.record_latency_us(us);
        }
        let counts = Counts {
            setups: 5,
            errors: 1,
            in_flight: 2,
        };
        assert!(
            timeline
                .poll(Duration::from_millis(900), counts)
                .unwrap()
                .is_empty()
        );
        let rows = timeline.poll(Duration::from_millis(2010), counts).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].t_s, 1.0);
        assert_eq!(rows[0].msgs_per_s, 3.0);
        assert_eq!(rows[0].setups_per_s, 5.0);
        assert_eq!(rows[0].errors, 1);
        assert_eq!(rows[0].target_per_s, Some(10.0));
        assert!((299..=300).contains(&rows[0].max_us));
        // The second second saw nothing new.
        assert_eq!(rows[1].msgs_per_s, 0.0);
        assert_eq!(rows[1].setups_per_s, 0.0);
        recorder.record_latency_us(50);
        let last = timeline
            .finish(Duration::from_millis(2500), counts)
            .unwrap()
            .unwrap();
        assert_eq!(last.t_s, 2.5);
        assert_eq!(last.msgs_per_s, 2.0);
        // The schedule stopped at 2 s.
        assert_eq!(last.target_per_s, Some(0.0));
    }
}
