//! One flood run: set the sessions up on the target, start a sender, an
//! acknowledgement reader and a receiver per session (a group: a receiver per
//! member and a task holding each stalled member), watch them (progress, the
//! per-second log, stall, failure), then stop them and add up what they saw.
//!
//! ```text
//!   t0 ── warm-up ──▶ measure_start ── duration or count ──▶ senders stop
//!                                                            │ drain: wait until every
//!                                                            │ message is delivered and
//!                                                            ▼ every SEND answered
//!                                                          stop ── report
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use super::clock::{self, nanos};
use super::config::{Bound, FloodConfig, TargetSpec, Transport};
use super::cpim::CPIM_CONTENT_TYPE;
use super::gate::DeliveryGate;
use super::receiver::{ReceiverPlan, ReceiverStats, latency_histogram, run_receiver};
use super::report::{Errors, GroupReport, Latency, Report};
use super::sender::{End, Pace, SenderPlan, SenderStats, run_acks, run_sender};
use super::stalled::run_stalled;
use super::stream::FloodTls;
use super::target::raw::RawTarget;
use super::target::relay::RelayTarget;
use super::target::switch::SwitchTarget;
use super::target::{SessionLegs, Target};
use super::timeline::{Counts, Timeline};
use super::wire::FLOOD_CONTENT_TYPE;

/// How often the watcher looks at the counters.
const TICK: Duration = Duration::from_millis(20);

/// Counters one session's tasks share with the watcher (progress, drain, stall).
#[derive(Debug, Default)]
pub(crate) struct SessionCounters {
    /// The session's index.
    pub session: u32,
    /// Receivers in the session: deliveries each message should make.
    pub receivers: u64,
    /// Messages written whole (warm-up included).
    pub sent: AtomicU64,
    /// SEND chunks written.
    pub chunks_sent: AtomicU64,
    /// Responses to those chunks.
    pub acked: AtomicU64,
    /// Deliveries made intact, over every receiver.
    pub delivered: AtomicU64,
    /// Non-200 responses and failure REPORTs.
    pub non_200: AtomicU64,
    /// The sender has written its last message.
    pub sender_done: AtomicBool,
}

/// Runs the flood `config` describes and reports it.
pub async fn run(config: &FloodConfig) -> anyhow::Result<Report> {
    config.validate()?;
    match &config.target {
        TargetSpec::Switch {
            control,
            token,
            msrp_addr,
            transport,
        } => {
            let identity = match transport {
                Transport::Tls => Some(FloodTls::generate()?),
                Transport::Tcp | Transport::Ws => None,
            };
            let target = SwitchTarget::connect(control, token.as_deref(), *msrp_addr)
                .await?
                .with_group(config.group)
                .with_tls(identity)
                .with_websocket(*transport == Transport::Ws);
            run_on(target, config).await
        }
        TargetSpec::Raw { addr } => run_on(RawTarget::new(*addr), config).await,
        TargetSpec::Relay { addr } => run_on(RelayTarget::new(*addr), config).await,
    }
}

/// Runs the flood on an already made `target` (its kind in `config.target` is only
/// used for checks).
pub async fn run_on<T: Target>(mut target: T, config: &FloodConfig) -> anyhow::Result<Report> {
    config.validate()?;
    let mut sessions = Vec::with_capacity(config.sessions as usize);
    for index in 0..config.sessions {
        let opened = tokio::time::timeout(config.setup_timeout, target.open_session(index))
            .await
            .map_err(|_| anyhow::anyhow!("took over {:?}", config.setup_timeout))
            .and_then(|legs| legs)
            .with_context(|| format!("setting up session {index} on the {} target", target.name()));
        match opened {
            Ok(legs) => sessions.push(legs),
            Err(err) => {
                drop(sessions);
                let _ = target.close().await;
                return Err(err);
            }
        }
    }
    let outcome = flood(sessions, config, target.name()).await;
    let closed = target.close().await;
    let report = outcome?;
    closed?;
    Ok(report)
}

/// The tasks of one session.
struct SessionTasks {
    counters: Arc<SessionCounters>,
    sender: JoinHandle<anyhow::Result<SenderStats>>,
    acks: JoinHandle<anyhow::Result<()>>,
    receivers: Vec<JoinHandle<anyhow::Result<ReceiverStats>>>,
    /// Per stalled member: true if the target closed its connection.
    stalled: Vec<JoinHandle<anyhow::Result<bool>>>,
}

impl SessionTasks {
    /// True if a task has ended: every one runs until the stop, so it failed.
    fn any_finished(&self) -> bool {
        self.sender.is_finished()
            || self.acks.is_finished()
            || self.receivers.iter().any(JoinHandle::is_finished)
            || self.stalled.iter().any(JoinHandle::is_finished)
    }
}

async fn flood(
    sessions: Vec<SessionLegs>,
    config: &FloodConfig,
    target: &'static str,
) -> anyhow::Result<Report> {
    let count = sessions.len();
    let (stop_tx, stop_rx) = watch::channel(false);
    let schedule = config.schedule()?;
    // The schedule stops where the senders do, when that is a time.
    let stop_s = match config.bound {
        Bound::Duration(d) => (config.warmup + d).as_secs_f64(),
        Bound::Count(_) => f64::INFINITY,
    };
    let mut timeline = Timeline::create(
        &config.timeline,
        SystemTime::now(),
        schedule.map(|ramp| (ramp, stop_s)),
        false,
    )?;
    let start_ns = clock::now_ns();
    let measure_start_ns = start_ns + nanos(config.warmup);
    let chunk_size = config.chunk_size.min(config.size);
    // Receivers feed the per-second log only when one was asked for: it costs
    // a lock per delivered message.
    let recorder = timeline.writes().then(|| timeline.recorder());

    let receivers_per_session = sessions.first().map_or(0, |legs| legs.receivers.len());
    let stalled_per_session = sessions.first().map_or(0, |legs| legs.stalled.len());
    let mut tasks = Vec::with_capacity(count);
    for (index, legs) in (0u32..).zip(sessions) {
        let counters = Arc::new(SessionCounters {
            session: index,
            receivers: legs.receivers.len() as u64,
            ..SessionCounters::default()
        });
        let window = Arc::new(Semaphore::new(config.window));
        let gate = config
            .group
            .filter(|group| group.delivery_window > 0)
            .map(|group| {
                Arc::new(DeliveryGate::new(
                    legs.receivers.len(),
                    group.delivery_window,
                ))
            });
        let (prefix, content_type) = match &legs.envelope {
            Some(envelope) => (envelope.header_block(), CPIM_CONTENT_TYPE),
            None => (Vec::new(), FLOOD_CONTENT_TYPE),
        };
        // Whole messages stay whole with the CPIM headers in front.
        let wire_chunk_size = if chunk_size >= config.size {
            prefix.len() + config.size
        } else {
            chunk_size
        };
        let plan = SenderPlan {
            session: index,
            size: config.size,
            prefix,
            content_type,
            chunk_size: wire_chunk_size,
            measure_start_ns,
            end: match (config.bound, config.quota(index)) {
                (_, Some(quota)) => End::Quota(quota),
                (Bound::Duration(d), None) => End::At(measure_start_ns + nanos(d)),
                (Bound::Count(_), None) => End::Quota(0),
            },
            // Paced: the sessions take turns on one schedule, each at rate / sessions.
            pace: schedule.map(|ramp| Pace {
                start_ns,
                ramp,
                sessions: count as u64,
                index: u64::from(index),
                spin: config.spin_pacing,
            }),
        };
        let (read, reader, write) = legs.sender.conn.into_split()?;
        let sender = tokio::spawn(run_sender(
            write,
            legs.sender.paths,
            plan,
            window.clone(),
            gate.clone(),
            counters.clone(),
            stop_rx.clone(),
        ));
        let acks = tokio::spawn(run_acks(
            read,
            reader,
            window,
            counters.clone(),
            stop_rx.clone(),
        ));
        let mut receivers = Vec::with_capacity(legs.receivers.len());
        for (k, leg) in legs.receivers.into_iter().enumerate() {
            let (read, reader, write) = leg.conn.into_split()?;
            let plan = ReceiverPlan {
                own_path: leg.paths.from_path,
                session: index,
                index: k,
                size: config.size,
                cpim: legs.envelope.is_some(),
                gate: gate.clone(),
                interval: recorder.clone(),
            };
            receivers.push(tokio::spawn(run_receiver(
                read,
                reader,
                write,
                plan,
                counters.clone(),
                stop_rx.clone(),
            )));
        }
        let stalled = legs
            .stalled
            .into_iter()
            .map(|leg| tokio::spawn(run_stalled(leg.conn, stop_rx.clone())))
            .collect();
        tasks.push(SessionTasks {
            counters,
            sender,
            acks,
            receivers,
            stalled,
        });
    }

    let watched = watch_run(&tasks, config, &mut timeline, start_ns).await;
    stop_tx.send_replace(true);

    let mut messages = 0;
    let mut deliveries = 0;
    let mut latency = latency_histogram()?;
    let mut last_measured_ns = 0;
    let mut errors = Errors::default();
    // Deliveries due (each message sent, once per receiver) and made.
    let mut due = 0;
    let mut delivered = 0;
    let mut first_failure: Option<anyhow::Error> = None;
    let mut stalled_dropped = 0;
    let tasks_counters: Vec<Arc<SessionCounters>> = tasks
        .iter()
        .map(|task| Arc::clone(&task.counters))
        .collect();
    for task in tasks {
        let index = task.counters.session;
        let sender = joined(task.sender.await, index, "sender");
        let acks = joined(task.acks.await, index, "response reader");
        let mut outcomes = vec![sender.map(|s| messages += s.measured), acks];
        for (k, receiver) in task.receivers.into_iter().enumerate() {
            let role = format!("receiver {k}");
            outcomes.push(joined(receiver.await, index, &role).and_then(|r| {
                deliveries += r.measured;
                latency
                    .add(&r.latency_us)
                    .map_err(|err| anyhow::anyhow!("merging latencies: {err:?}"))?;
                last_measured_ns = last_measured_ns.max(r.last_measured_ns);
                errors.hash_mismatch += r.mismatched;
                errors.duplicates += r.duplicates;
                Ok(())
            }));
        }
        for (k, stalled) in task.stalled.into_iter().enumerate() {
            let role = format!("stalled member {k}");
            outcomes.push(joined(stalled.await, index, &role).map(|dropped| {
                stalled_dropped += u32::from(dropped);
            }));
        }
        if first_failure.is_none() {
            first_failure = outcomes.into_iter().find_map(Result::err);
        }
        let c = &task.counters;
        due += c.sent.load(Ordering::Acquire) * c.receivers;
        delivered += c.delivered.load(Ordering::Acquire);
        errors.non_200 += c.non_200.load(Ordering::Acquire);
        errors.unanswered += c
            .chunks_sent
            .load(Ordering::Acquire)
            .saturating_sub(c.acked.load(Ordering::Acquire));
    }
    if let Some(err) = first_failure {
        return Err(err);
    }
    watched?;
    let totals = totals(&tasks_counters);
    timeline.finish(
        Duration::from_nanos(clock::now_ns().saturating_sub(start_ns)),
        timeline_counts(&totals),
    )?;
    // Per receiver: every message sent whole should have reached it.
    errors.lost = due.saturating_sub(delivered);

    let duration_ns = if deliveries > 0 {
        last_measured_ns.saturating_sub(measure_start_ns)
    } else {
        0
    };
    let duration_s = duration_ns as f64 / 1e9;
    let per_s = |n: u64| {
        if duration_s > 0.0 {
            n as f64 / duration_s
        } else {
            0.0
        }
    };
    Ok(Report {
        target: target.to_string(),
        sessions: config.sessions,
        size: config.size,
        chunk_size,
        window: config.window,
        rate: config.rate,
        ramp_from: config.ramp.map(|(from, _)| from),
        ramp_seconds: config.ramp.map(|(_, over)| over.as_secs_f64()),
        duration_s,
        messages,
        deliveries,
        msgs_per_s: per_s(messages),
        deliveries_per_s: per_s(deliveries),
        mb_per_s: per_s(deliveries) * config.size as f64 / 1e6,
        latency_us: Latency::of(&latency),
        group: config.group.map(|group| GroupReport {
            size: group.size,
            receivers: receivers_per_session as u32,
            delivery_window: group.delivery_window,
            stalled: stalled_per_session as u32,
            stalled_dropped,
        }),
        errors,
    })
}

/// A task's result, with the session and role on its error.
fn joined<T>(
    result: Result<anyhow::Result<T>, tokio::task::JoinError>,
    session: u32,
    role: &str,
) -> anyhow::Result<T> {
    result
        .map_err(anyhow::Error::from)
        .and_then(|r| r)
        .with_context(|| format!("session {session}: {role}"))
}

/// Sums of every session's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Totals {
    sent: u64,
    chunks_sent: u64,
    acked: u64,
    /// Deliveries due: each message sent, once per receiver of its session.
    due: u64,
    delivered: u64,
    non_200: u64,
    senders_done: usize,
}

fn totals<'a>(counters: impl IntoIterator<Item = &'a Arc<SessionCounters>>) -> Totals {
    let mut t = Totals::default();
    for c in counters {
        let sent = c.sent.load(Ordering::Acquire);
        t.sent += sent;
        t.due += sent * c.receivers;
        t.chunks_sent += c.chunks_sent.load(Ordering::Acquire);
        t.acked += c.acked.load(Ordering::Acquire);
        t.delivered += c.delivered.load(Ordering::Acquire);
        t.non_200 += c.non_200.load(Ordering::Relaxed);
        t.senders_done += usize::from(c.sender_done.load(Ordering::Acquire));
    }
    t
}

/// What the per-second log takes from the totals.
fn timeline_counts(t: &Totals) -> Counts {
    Counts {
        setups: 0,
        errors: t.non_200,
        in_flight: t.chunks_sent.saturating_sub(t.acked),
    }
}

/// Returns when the run is over: every sender has finished and everything it sent
/// was delivered and answered; or a task failed; or nothing moved for the stall
/// timeout; or the per-second log could not be written (its error). Prints the
/// progress line and writes the per-second log meanwhile.
async fn watch_run(
    tasks: &[SessionTasks],
    config: &FloodConfig,
    timeline: &mut Timeline,
    start_ns: u64,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut tick = tokio::time::interval(TICK);
    let mut last = Totals::default();
    let mut last_move = Instant::now();
    let mut progress = Progress::new(config);
    loop {
        tick.tick().await;
        let now = totals(tasks.iter().map(|task| &task.counters));
        timeline.poll(
            Duration::from_nanos(clock::now_ns().saturating_sub(start_ns)),
            timeline_counts(&now),
        )?;
        // Every task runs until stop: one that ended has failed.
        if tasks.iter().any(SessionTasks::any_finished) {
            return Ok(());
        }
        if now.senders_done == tasks.len()
            && now.delivered >= now.due
            && now.acked >= now.chunks_sent
        {
            return Ok(());
        }
        if now != last {
            last = now;
            last_move = Instant::now();
        } else if last_move.elapsed() >= config.stall_timeout {
            if config.progress {
                eprintln!(
                    "msrp-flood: nothing moved for {:?}; stopping ({} sent, {} of {} deliveries made)",
                    config.stall_timeout, now.sent, now.delivered, now.due
                );
            }
            return Ok(());
        }
        progress.maybe_print(started.elapsed(), &now);
    }
}

/// The once-a-second progress line on stderr.
struct Progress {
    enabled: bool,
    always: bool,
    next_second: u64,
    previous: Totals,
    measure_start: Duration,
}

impl Progress {
    fn new(config: &FloodConfig) -> Self {
        Self {
            enabled: config.progress,
            always: config.is_long() && matches!(config.bound, Bound::Duration(_)),
            next_second: 1,
            previous: Totals::default(),
            measure_start: config.warmup,
        }
    }

    fn maybe_print(&mut self, elapsed: Duration, now: &Totals) {
        if !self.enabled || elapsed.as_secs() < self.next_second {
            return;
        }
        self.next_second = elapsed.as_secs() + 1;
        // Runs of unknown length (a count) print once they pass 3 s.
        if !self.always && elapsed < Duration::from_secs(3) {
            self.previous = *now;
            return;
        }
        let phase = if elapsed < self.measure_start {
            "warm-up"
        } else {
            "measure"
        };
        eprintln!(
            "[{:>4}s {phase}] sent {} ({}/s)  delivered {} ({}/s)  in flight {}",
            elapsed.as_secs(),
            now.sent,
            now.sent - self.previous.sent,
            now.delivered,
            now.delivered.saturating_sub(self.previous.delivered),
            now.chunks_sent.saturating_sub(now.acked),
        );
        self.previous = *now;
    }
}
