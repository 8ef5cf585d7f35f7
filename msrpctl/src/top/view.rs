//! What `top` shows: the figures of one refresh, computed from two snapshots a
//! refresh apart (rates are counter differences over the time between them), and
//! their text and JSON forms. Nothing here reads a clock or a socket, so the
//! figures are tested from literal scrapes.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

use control_api::pb;
use serde_json::{Value, json};

use super::exposition::Exposition;
use crate::render::{self, Align};

/// The session kinds of the `kind` label, in the daemon's order, with the names
/// msrpctl shows for them.
const KINDS: [(&str, &str); 3] = [
    ("one_to_one", "one-to-one"),
    ("group", "group"),
    ("large_message", "large-message"),
];

/// The `method` label of SEND requests: each is one chunk, and a message sent
/// whole is one chunk.
const SEND: &str = "SEND";

/// Bytes in a megabyte (SI, as network rates are given).
const MB: f64 = 1_000_000.0;

/// Everything one refresh reads.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When the reads were done, for rates.
    pub taken: Instant,
    /// The same moment in Unix milliseconds, for the clock and the uptime.
    pub unix_ms: u64,
    /// The scrape of /metrics.
    pub metrics: Exposition,
    /// The participants of the sessions looked at.
    pub legs: Legs,
}

/// The participants of the first sessions of ListSessions.
#[derive(Debug, Clone, Default)]
pub struct Legs {
    /// Every participant of the sessions looked at.
    pub legs: Vec<Leg>,
    /// How many sessions were looked at.
    pub sessions: usize,
    /// True when those were all the switch's sessions.
    pub complete: bool,
}

/// One participant and its counters.
#[derive(Debug, Clone, PartialEq)]
pub struct Leg {
    /// Its session.
    pub session_id: String,
    /// Its id.
    pub participant_id: String,
    /// Its IM address (empty if none was given).
    pub im_address: String,
    /// Its counters: requests and body bytes from it (in) and to it (out).
    pub counters: pb::Counters,
}

impl Legs {
    /// The legs of listed sessions.
    pub fn add_sessions(&mut self, sessions: &[pb::Session]) {
        self.sessions += sessions.len();
        for session in sessions {
            for participant in &session.participants {
                self.legs.push(Leg {
                    session_id: session.session_id.clone(),
                    participant_id: participant.participant_id.clone(),
                    im_address: participant
                        .identity
                        .as_ref()
                        .map(|identity| identity.im_address.clone())
                        .unwrap_or_default(),
                    counters: participant.counters.unwrap_or_default(),
                });
            }
        }
    }
}

/// A pair of figures, received (in) and sent (out).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InOut {
    /// Received by the switch.
    pub r#in: Option<f64>,
    /// Sent by the switch.
    pub out: Option<f64>,
}

/// p50 and p99 of a latency histogram over one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// Median, in seconds; `None` when nothing was observed.
    pub p50: Option<f64>,
    /// 99th percentile, in seconds.
    pub p99: Option<f64>,
    /// Observations in the interval.
    pub samples: f64,
}

/// One shard's gauges.
#[derive(Debug, Clone, PartialEq)]
pub struct Shard {
    /// Its `shard` label (the index).
    pub shard: String,
    /// Open MSRP connections.
    pub connections: Option<f64>,
    /// Bytes queued for writing.
    pub queue_bytes: Option<f64>,
}

/// One of the worst legs, with its rates over the interval.
#[derive(Debug, Clone, PartialEq)]
pub struct LegView {
    /// The participant and its counters now.
    pub leg: Leg,
    /// Requests per second from and to it; `None` for a leg not seen on the
    /// previous refresh.
    pub frames: InOut,
    /// Body bytes per second from and to it.
    pub bytes: InOut,
}

impl LegView {
    /// Requests per second both ways, the ranking key.
    fn frame_rate(&self) -> Option<f64> {
        Some(self.frames.r#in? + self.frames.out?)
    }

    fn byte_rate(&self) -> Option<f64> {
        Some(self.bytes.r#in? + self.bytes.out?)
    }

    fn total_frames(&self) -> u64 {
        self.leg
            .counters
            .frames_in
            .saturating_add(self.leg.counters.frames_out)
    }
}

/// The figures of one refresh.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// Unix milliseconds of the refresh.
    pub unix_ms: u64,
    /// Seconds between the two snapshots.
    pub interval_seconds: f64,
    /// The daemon's version (`msrp_switch_build_info`).
    pub version: Option<String>,
    /// Seconds since the daemon started (`process_start_time_seconds`).
    pub uptime_seconds: Option<f64>,
    /// Open sessions by kind (`KINDS` order), and their total.
    pub sessions: (Vec<Option<f64>>, Option<f64>),
    /// Participants by kind, and their total.
    pub participants: (Vec<Option<f64>>, Option<f64>),
    /// Open MSRP connections.
    pub connections: Option<f64>,
    /// SEND requests per second.
    pub msgs: InOut,
    /// Frames of every kind per second.
    pub frames: InOut,
    /// Megabytes per second read and written.
    pub megabytes: InOut,
    /// Bytes queued for writing.
    pub queue_bytes: Option<f64>,
    /// From a chunk's head read to its write.
    pub forward: Latency,
    /// From a request written to its response.
    pub response: Latency,
    /// Responses other than 200 sent per second.
    pub error_responses: Option<f64>,
    /// Transaction timeouts in the interval.
    pub transaction_timeouts: Option<f64>,
    /// Slow consumers dropped in the interval.
    pub slow_consumer_drops: Option<f64>,
    /// The daemon's CPU use, in % of one core.
    pub cpu_percent: Option<f64>,
    /// The daemon's resident memory, in bytes.
    pub resident_bytes: Option<f64>,
    /// Per-shard gauges.
    pub shards: Vec<Shard>,
    /// Every leg looked at, worst first.
    pub legs: Vec<LegView>,
    /// How many sessions were looked at for them.
    pub sessions_looked_at: usize,
    /// True when they were all the sessions.
    pub all_sessions: bool,
}

impl View {
    /// The figures between two snapshots, `prev` taken first.
    pub fn between(prev: &Snapshot, cur: &Snapshot) -> Self {
        let seconds = cur
            .taken
            .saturating_duration_since(prev.taken)
            .as_secs_f64();
        let (old, new) = (&prev.metrics, &cur.metrics);
        let rate = |name: &str, keep: &dyn Fn(&super::exposition::Sample) -> bool| {
            per_second(
                new.sum_where(name, keep),
                old.sum_where(name, keep),
                seconds,
            )
        };
        let all = |_: &super::exposition::Sample| true;
        let sends = |s: &super::exposition::Sample| s.label("method") == Some(SEND);
        let by_kind = |name: &str| {
            let kinds = KINDS
                .iter()
                .map(|(kind, _)| new.value(name, &[("kind", kind)]))
                .collect();
            (kinds, new.sum(name))
        };
        let cpu = per_second(
            new.value("process_cpu_seconds_total", &[]),
            old.value("process_cpu_seconds_total", &[]),
            seconds,
        );
        let version = new
            .samples("msrp_switch_build_info")
            .find_map(|sample| sample.label("version"))
            .map(str::to_owned);
        let uptime_seconds = new
            .value("process_start_time_seconds", &[])
            .map(|start| (cur.unix_ms as f64 / 1000.0 - start).max(0.0));
        let shards = new
            .samples("msrp_switch_shard_connections")
            .filter_map(|sample| sample.label("shard"))
            .map(|shard| Shard {
                shard: shard.to_owned(),
                connections: new.value("msrp_switch_shard_connections", &[("shard", shard)]),
                queue_bytes: new.value("msrp_switch_shard_queue_bytes", &[("shard", shard)]),
            })
            .collect();
        Self {
            unix_ms: cur.unix_ms,
            interval_seconds: seconds,
            version,
            uptime_seconds,
            sessions: by_kind("msrp_switch_sessions"),
            participants: by_kind("msrp_switch_participants"),
            connections: new.value("msrp_switch_connections", &[]),
            msgs: InOut {
                r#in: rate("msrp_switch_frames_received_total", &sends),
                out: rate("msrp_switch_frames_sent_total", &sends),
            },
            frames: InOut {
                r#in: rate("msrp_switch_frames_received_total", &all),
                out: rate("msrp_switch_frames_sent_total", &all),
            },
            megabytes: InOut {
                r#in: rate("msrp_switch_received_bytes_total", &all).map(|b| b / MB),
                out: rate("msrp_switch_sent_bytes_total", &all).map(|b| b / MB),
            },
            queue_bytes: new.value("msrp_switch_queue_bytes", &[]),
            forward: latency(new, old, "msrp_switch_forward_latency_seconds"),
            response: latency(new, old, "msrp_switch_response_latency_seconds"),
            error_responses: rate("msrp_switch_responses_sent_total", &|s| {
                s.label("status") != Some("200")
            }),
            transaction_timeouts: increase(
                new.sum("msrp_switch_transaction_timeouts_total"),
                old.sum("msrp_switch_transaction_timeouts_total"),
            ),
            slow_consumer_drops: increase(
                new.sum("msrp_switch_slow_consumer_drops_total"),
                old.sum("msrp_switch_slow_consumer_drops_total"),
            ),
            cpu_percent: cpu.map(|share| share * 100.0),
            resident_bytes: new.value("process_resident_memory_bytes", &[]),
            shards,
            legs: worst_legs(&prev.legs, &cur.legs, seconds),
            sessions_looked_at: cur.legs.sessions,
            all_sessions: cur.legs.complete,
        }
    }

    /// The view as text: the header, the shards, then at most `max_legs` of the
    /// worst legs. Plain text, the same in a terminal and in a pipe.
    pub fn text(&self, max_legs: usize) -> String {
        let mut text = self.title();
        text.push_str(&self.header());
        text.push('\n');
        text.push_str(&self.shards_table());
        text.push('\n');
        text.push_str(&self.legs_text(max_legs));
        text
    }

    /// The lines [`text`](Self::text) has before the first leg row, for fitting
    /// the legs to a terminal's height.
    pub fn lines_without_legs(&self) -> usize {
        self.text(0).lines().count()
    }

    /// The view as one JSON document (`--json`, one per refresh).
    pub fn json(&self, max_legs: usize) -> Value {
        let kinds = |(by_kind, total): &(Vec<Option<f64>>, Option<f64>)| {
            let mut object = serde_json::Map::new();
            object.insert("total".into(), json!(total));
            for ((label, _), value) in KINDS.iter().zip(by_kind) {
                object.insert((*label).into(), json!(value));
            }
            Value::Object(object)
        };
        let in_out = |pair: &InOut| json!({ "in": pair.r#in, "out": pair.out });
        let latency = |latency: &Latency| json!({ "p50": latency.p50, "p99": latency.p99, "samples": latency.samples });
        json!({
            "time": render::utc_timestamp(self.unix_ms),
            "interval_seconds": self.interval_seconds,
            "version": self.version,
            "uptime_seconds": self.uptime_seconds,
            "sessions": kinds(&self.sessions),
            "participants": kinds(&self.participants),
            "connections": self.connections,
            "msgs_per_second": in_out(&self.msgs),
            "frames_per_second": in_out(&self.frames),
            "megabytes_per_second": in_out(&self.megabytes),
            "queue_bytes": self.queue_bytes,
            "forward_latency_seconds": latency(&self.forward),
            "response_latency_seconds": latency(&self.response),
            "error_responses_per_second": self.error_responses,
            "transaction_timeouts": self.transaction_timeouts,
            "slow_consumer_drops": self.slow_consumer_drops,
            "cpu_percent": self.cpu_percent,
            "resident_memory_bytes": self.resident_bytes,
            "shards": self.shards.iter().map(|shard| json!({
                "shard": shard.shard,
                "connections": shard.connections,
                "queue_bytes": shard.queue_bytes,
            })).collect::<Vec<_>>(),
            "sessions_looked_at": self.sessions_looked_at,
            "all_sessions": self.all_sessions,
            "worst_legs": self.legs.iter().take(max_legs).map(|leg| json!({
                "session_id": leg.leg.session_id,
                "participant_id": leg.leg.participant_id,
                "im_address": leg.leg.im_address,
                "requests_per_second": in_out(&leg.frames),
                "body_bytes_per_second": in_out(&leg.bytes),
                "frames_in": leg.leg.counters.frames_in,
                "frames_out": leg.leg.counters.frames_out,
                "bytes_in": leg.leg.counters.bytes_in,
                "bytes_out": leg.leg.counters.bytes_out,
            })).collect::<Vec<_>>(),
        })
    }

    /// `msrp-switch 0.1.0, up 1h02m03s, 2 shards   every 1.0 s   <UTC time>`.
    fn title(&self) -> String {
        let mut title = format!(
            "msrp-switch {}",
            self.version.as_deref().unwrap_or("(version unknown)")
        );
        if let Some(uptime) = self.uptime_seconds {
            let _ = write!(title, ", up {}", duration_text(uptime));
        }
        let _ = writeln!(
            title,
            ", {} shard{}   interval {:.1} s   {}",
            self.shards.len(),
            if self.shards.len() == 1 { "" } else { "s" },
            self.interval_seconds,
            render::utc_timestamp(self.unix_ms)
        );
        title
    }

    fn header(&self) -> String {
        let by_kind = |(by_kind, total): &(Vec<Option<f64>>, Option<f64>)| {
            let kinds: Vec<String> = KINDS
                .iter()
                .zip(by_kind)
                .map(|((_, name), value)| format!("{name} {}", count_text(*value)))
                .collect();
            format!("{}  ({})", count_text(*total), kinds.join(", "))
        };
        let errors = format!(
            "non-200 responses {}/s, transaction timeouts +{}, slow-consumer drops +{}",
            rate_text(self.error_responses),
            count_text(self.transaction_timeouts),
            count_text(self.slow_consumer_drops)
        );
        let daemon = format!(
            "CPU {}  RSS {}",
            self.cpu_percent
                .map_or_else(|| "-".to_owned(), |cpu| format!("{cpu:.1} %")),
            self.resident_bytes.map_or_else(
                || "-".to_owned(),
                |rss| format!("{:.1} MiB", rss / (1024.0 * 1024.0))
            )
        );
        render::key_values(&[
            ("sessions", by_kind(&self.sessions)),
            ("participants", by_kind(&self.participants)),
            ("connections", count_text(self.connections)),
            (
                "msgs/s",
                format!(
                    "in {}  out {}  (SEND; all frames in {}, out {})",
                    rate_text(self.msgs.r#in),
                    rate_text(self.msgs.out),
                    rate_text(self.frames.r#in),
                    rate_text(self.frames.out)
                ),
            ),
            (
                "MB/s",
                format!(
                    "in {}  out {}",
                    megabytes_text(self.megabytes.r#in),
                    megabytes_text(self.megabytes.out)
                ),
            ),
            ("queue bytes", count_text(self.queue_bytes)),
            ("forwarding", latency_text(&self.forward, "chunks sampled")),
            ("responses", latency_text(&self.response, "responses")),
            ("errors", errors),
            ("daemon", daemon),
        ])
    }

    fn shards_table(&self) -> String {
        if self.shards.is_empty() {
            return "(no per-shard figures)\n".to_owned();
        }
        let rows: Vec<Vec<String>> = self
            .shards
            .iter()
            .map(|shard| {
                vec![
                    shard.shard.clone(),
                    count_text(shard.connections),
                    count_text(shard.queue_bytes),
                ]
            })
            .collect();
        render::table(
            &[
                ("SHARD", Align::Left),
                ("CONNECTIONS", Align::Right),
                ("QUEUE BYTES", Align::Right),
            ],
            &rows,
        )
    }

    fn legs_text(&self, max_legs: usize) -> String {
        if self.sessions_looked_at == 0 && !self.all_sessions {
            return "worst legs: not looked for (--max-sessions 0)\n".to_owned();
        }
        let looked = if self.all_sessions {
            format!(
                "all {} session{}",
                self.sessions_looked_at,
                if self.sessions_looked_at == 1 {
                    ""
                } else {
                    "s"
                }
            )
        } else {
            format!("the first {} sessions", self.sessions_looked_at)
        };
        let mut text =
            format!("worst legs: most requests/s from + to it over the interval, of {looked}\n");
        if self.legs.is_empty() {
            text.push_str("(no participants)\n");
            return text;
        }
        let rows: Vec<Vec<String>> = self
            .legs
            .iter()
            .take(max_legs)
            .map(|view| {
                let leg = &view.leg;
                let kb = |rate: Option<f64>| rate_text(rate.map(|bytes| bytes / 1000.0));
                vec![
                    leg.session_id.clone(),
                    leg.participant_id.clone(),
                    if leg.im_address.is_empty() {
                        "-".to_owned()
                    } else {
                        leg.im_address.clone()
                    },
                    rate_text(view.frames.r#in),
                    rate_text(view.frames.out),
                    kb(view.bytes.r#in),
                    kb(view.bytes.out),
                    leg.counters.frames_in.to_string(),
                    leg.counters.frames_out.to_string(),
                ]
            })
            .collect();
        if rows.is_empty() {
            return text;
        }
        text.push_str(&render::table(
            &[
                ("SESSION", Align::Left),
                ("PARTICIPANT", Align::Left),
                ("IM ADDRESS", Align::Left),
                ("REQ/S IN", Align::Right),
                ("REQ/S OUT", Align::Right),
                ("KB/S IN", Align::Right),
                ("KB/S OUT", Align::Right),
                ("REQS IN", Align::Right),
                ("REQS OUT", Align::Right),
            ],
            &rows,
        ));
        text
    }
}

/// Every leg of `cur`, worst first: the most requests per second both ways
/// (the API's `frames_in` and `frames_out` count requests: SEND, REPORT, ...),
/// then the most body bytes per second, then the most requests in all. A leg absent from
/// `prev` (new, or newly among the sessions looked at) has no rates and comes
/// after those that have, by its requests in all.
fn worst_legs(prev: &Legs, cur: &Legs, seconds: f64) -> Vec<LegView> {
    let before: HashMap<&str, &pb::Counters> = prev
        .legs
        .iter()
        .map(|leg| (leg.participant_id.as_str(), &leg.counters))
        .collect();
    let mut views: Vec<LegView> = cur
        .legs
        .iter()
        .map(|leg| {
            let old = before.get(leg.participant_id.as_str());
            let rate = |now: u64, then: fn(&pb::Counters) -> u64| {
                old.and_then(|old| per_second(Some(now as f64), Some(then(old) as f64), seconds))
            };
            let c = &leg.counters;
            LegView {
                leg: leg.clone(),
                frames: InOut {
                    r#in: rate(c.frames_in, |o| o.frames_in),
                    out: rate(c.frames_out, |o| o.frames_out),
                },
                bytes: InOut {
                    r#in: rate(c.bytes_in, |o| o.bytes_in),
                    out: rate(c.bytes_out, |o| o.bytes_out),
                },
            }
        })
        .collect();
    views.sort_by(|a, b| {
        let key = |v: &LegView| (v.frame_rate().is_some(), v.frame_rate(), v.byte_rate());
        let (ka, kb) = (key(a), key(b));
        kb.0.cmp(&ka.0)
            .then_with(|| descending(ka.1, kb.1))
            .then_with(|| descending(ka.2, kb.2))
            .then_with(|| b.total_frames().cmp(&a.total_frames()))
            .then_with(|| a.leg.participant_id.cmp(&b.leg.participant_id))
    });
    views
}

/// Orders larger first; `None` last.
fn descending(a: Option<f64>, b: Option<f64>) -> std::cmp::Ordering {
    b.unwrap_or(f64::NEG_INFINITY)
        .total_cmp(&a.unwrap_or(f64::NEG_INFINITY))
}

/// A counter's increase between two reads. A counter that went down was reset
/// (the daemon restarted): its whole value is the increase, as Prometheus'
/// `increase()` takes it.
fn increase(now: Option<f64>, then: Option<f64>) -> Option<f64> {
    let (now, then) = (now?, then?);
    Some(if now >= then { now - then } else { now })
}

/// A counter's increase per second; `None` without both reads or time between.
fn per_second(now: Option<f64>, then: Option<f64>, seconds: f64) -> Option<f64> {
    if seconds <= 0.0 {
        return None;
    }
    increase(now, then).map(|delta| delta / seconds)
}

/// p50 and p99 of the observations a histogram gained between two scrapes.
fn latency(new: &Exposition, old: &Exposition, histogram: &str) -> Latency {
    let now = new.buckets(histogram);
    let then = old.buckets(histogram);
    let deltas: Vec<(f64, f64)> = now
        .iter()
        .map(|&(le, count)| {
            let before = then
                .iter()
                .find(|(bound, _)| *bound == le)
                .map_or(0.0, |&(_, count)| count);
            (le, increase(Some(count), Some(before)).unwrap_or(0.0))
        })
        .collect();
    Latency {
        p50: quantile(0.5, &deltas),
        p99: quantile(0.99, &deltas),
        samples: deltas.last().map_or(0.0, |&(_, count)| count),
    }
}

/// The `q` quantile of cumulative buckets `(le, count)`, `+Inf` last, as
/// Prometheus' `histogram_quantile` estimates it: linear within the bucket that
/// holds the rank; in the `+Inf` bucket, the largest finite bound.
fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower);
            }
            let inside = count - below;
            if inside <= 0.0 {
                return Some(le);
            }
            return Some(lower + (le - lower) * (rank - below) / inside);
        }
        (lower, below) = (le, count);
    }
    Some(lower)
}

/// A gauge or count: an integer, or `-` when absent.
fn count_text(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.0}"))
}

/// A rate with one decimal, or `-` before there are two reads.
fn rate_text(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.1}"))
}

fn megabytes_text(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.3}"))
}

/// `p50 0.042 ms  p99 0.100 ms  (25 chunks sampled in the interval)`, or
/// what is missing.
fn latency_text(latency: &Latency, what: &str) -> String {
    match (latency.p50, latency.p99) {
        (Some(p50), Some(p99)) => format!(
            "p50 {}  p99 {}  ({:.0} {what} in the interval)",
            seconds_text(p50),
            seconds_text(p99),
            latency.samples
        ),
        _ => format!("p50 -  p99 -  (no {what} in the interval)"),
    }
}

/// A latency in the unit that reads best.
fn seconds_text(seconds: f64) -> String {
    if seconds < 0.001 {
        format!("{:.3} ms", seconds * 1000.0)
    } else if seconds < 1.0 {
        format!("{:.1} ms", seconds * 1000.0)
    } else {
        format!("{seconds:.2} s")
    }
}

/// An uptime: `3d04h05m`, `4h05m06s`, `5m06s`, `6s`.
fn duration_text(seconds: f64) -> String {
    let total = seconds as u64;
    let (days, hours, minutes, secs) = (
        total / 86_400,
        (total / 3600) % 24,
        (total / 60) % 60,
        total % 60,
    );
    if days > 0 {
        format!("{days}d{hours:02}h{minutes:02}m")
    } else if hours > 0 {
        format!("{hours}h{minutes:02}m{secs:02}s")
    } else if minutes > 0 {
        format!("{minutes}m{secs:02}s")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A scrape as the daemon writes it, with the figures that move.
    fn scrape(sends: u64, bytes: u64, cpu: f64, fast: u64, slow: u64) -> Exposition {
        let text = format!(
            "\
msrp_switch_build_info{{version=\"0.1.0\"}} 1
msrp_switch_sessions{{kind=\"one_to_one\"}} 1
msrp_switch_sessions{{kind=\"group\"}} 0
msrp_switch_sessions{{kind=\"large_message\"}} 0
msrp_switch_participants{{kind=\"one_to_one\"}} 2
msrp_switch_participants{{kind=\"group\"}} 0
msrp_switch_participants{{kind=\"large_message\"}} 0
msrp_switch_connections 2
msrp_switch_shard_connections{{shard=\"0\"}} 2
msrp_switch_shard_connections{{shard=\"1\"}} 0
msrp_switch_shard_queue_bytes{{shard=\"0\"}} 10
msrp_switch_shard_queue_bytes{{shard=\"1\"}} 0
msrp_switch_queue_bytes 10
msrp_switch_frames_received_total{{method=\"SEND\"}} {sends}
msrp_switch_frames_received_total{{method=\"response\"}} {sends}
msrp_switch_frames_sent_total{{method=\"SEND\"}} {sends}
msrp_switch_frames_sent_total{{method=\"response\"}} {sends}
msrp_switch_received_bytes_total {bytes}
msrp_switch_sent_bytes_total {bytes}
msrp_switch_responses_sent_total{{status=\"200\"}} {sends}
msrp_switch_responses_sent_total{{status=\"481\"}} 0
msrp_switch_transaction_timeouts_total 0
msrp_switch_slow_consumer_drops_total 0
msrp_switch_forward_latency_seconds_bucket{{le=\"0.0001\"}} {fast}
msrp_switch_forward_latency_seconds_bucket{{le=\"0.001\"}} {}
msrp_switch_forward_latency_seconds_bucket{{le=\"+Inf\"}} {}
process_cpu_seconds_total {cpu}
process_resident_memory_bytes 10485760
process_start_time_seconds 1000
",
            fast + slow,
            fast + slow
        );
        Exposition::parse(&text).unwrap()
    }

    fn leg(participant: &str, frames: u64) -> Leg {
        Leg {
            session_id: "s-1".into(),
            participant_id: participant.into(),
            im_address: String::new(),
            counters: pb::Counters {
                frames_in: frames,
                bytes_in: frames * 100,
                frames_out: frames,
                bytes_out: frames * 100,
            },
        }
    }

    fn snapshot(taken: Instant, metrics: Exposition, legs: Vec<Leg>) -> Snapshot {
        Snapshot {
            taken,
            unix_ms: 1_000_000 + 3_723_000,
            metrics,
            legs: Legs {
                sessions: 1,
                complete: true,
                legs,
            },
        }
    }

    #[test]
    fn rates_are_counter_differences_over_the_interval() {
        let start = Instant::now();
        let prev = snapshot(
            start,
            scrape(100, 1_000_000, 1.0, 10, 0),
            vec![leg("p-a", 10), leg("p-b", 50)],
        );
        let cur = snapshot(
            start + Duration::from_secs(2),
            scrape(150, 3_000_000, 1.5, 20, 10),
            vec![leg("p-a", 30), leg("p-b", 50), leg("p-c", 500)],
        );
        let view = View::between(&prev, &cur);
        assert_eq!(view.interval_seconds, 2.0);
        assert_eq!(view.msgs.r#in, Some(25.0));
        assert_eq!(view.frames.out, Some(50.0));
        assert_eq!(view.megabytes.r#in, Some(1.0));
        assert_eq!(view.cpu_percent, Some(25.0));
        assert_eq!(view.uptime_seconds, Some(3723.0));
        assert_eq!(view.error_responses, Some(0.0));
        // 10 fast and 10 slow chunks in the interval: the median is the top of
        // the fast bucket, p99 near the top of the slow one.
        assert_eq!(view.forward.samples, 20.0);
        assert_eq!(view.forward.p50, Some(0.0001));
        let p99 = view.forward.p99.unwrap();
        assert!((p99 - (0.0001 + 0.0009 * 0.98)).abs() < 1e-9, "{p99}");
        // p-a moved; p-b did not; p-c is new, so it has no rate yet and comes
        // after those that have one, however many frames it has.
        let order: Vec<&str> = view
            .legs
            .iter()
            .map(|v| v.leg.participant_id.as_str())
            .collect();
        assert_eq!(order, ["p-a", "p-b", "p-c"]);
        assert_eq!(view.legs[0].frames.r#in, Some(10.0));
        assert_eq!(view.legs[0].bytes.out, Some(1000.0));
        assert_eq!(view.legs[2].frames.r#in, None);

        let text = view.text(2);
        let squeezed: Vec<String> = text
            .lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        for expected in [
            "sessions: 1 (one-to-one 1, group 0, large-message 0)",
            "participants: 2 (one-to-one 2, group 0, large-message 0)",
            "connections: 2",
            "msgs/s: in 25.0 out 25.0 (SEND; all frames in 50.0, out 50.0)",
            "MB/s: in 1.000 out 1.000",
            "queue bytes: 10",
            "forwarding: p50 0.100 ms p99 0.982 ms (20 chunks sampled in the interval)",
            "responses: p50 - p99 - (no responses in the interval)",
            "daemon: CPU 25.0 % RSS 10.0 MiB",
            "0 2 10",
            "worst legs: most requests/s from + to it over the interval, of all 1 session",
            "s-1 p-a - 10.0 10.0 1.0 1.0 30 30",
            "s-1 p-b - 0.0 0.0 0.0 0.0 50 50",
        ] {
            assert!(
                squeezed.iter().any(|l| l == expected),
                "{expected:?} in\n{text}"
            );
        }
        assert!(
            squeezed[0].starts_with("msrp-switch 0.1.0, up 1h02m03s, 2 shards interval 2.0 s"),
            "{text}"
        );
        assert!(!text.contains("p-c"), "two legs asked for:\n{text}");
        assert_eq!(
            view.lines_without_legs() + 3,
            text.lines().count(),
            "the legs' table heading and two rows"
        );

        let json = view.json(1);
        assert_eq!(json["sessions"]["one_to_one"], 1.0);
        assert_eq!(json["msgs_per_second"]["in"], 25.0);
        assert_eq!(json["worst_legs"].as_array().unwrap().len(), 1);
        assert_eq!(json["worst_legs"][0]["participant_id"], "p-a");
    }

    #[test]
    fn no_legs_are_looked_for_with_max_sessions_0() {
        let start = Instant::now();
        let mut prev = snapshot(start, scrape(0, 0, 0.0, 0, 0), Vec::new());
        prev.legs = Legs::default();
        let cur = Snapshot {
            taken: start + Duration::from_secs(1),
            ..prev.clone()
        };
        let text = View::between(&prev, &cur).text(10);
        assert!(
            text.ends_with("\nworst legs: not looked for (--max-sessions 0)\n"),
            "{text}"
        );
    }

    #[test]
    fn a_reset_counter_counts_from_zero() {
        assert_eq!(increase(Some(5.0), Some(100.0)), Some(5.0));
        assert_eq!(per_second(Some(5.0), None, 1.0), None);
        assert_eq!(per_second(Some(5.0), Some(1.0), 0.0), None);
    }

    #[test]
    fn quantiles_follow_histogram_quantile() {
        let buckets = [(0.001, 0.0), (0.01, 100.0), (f64::INFINITY, 100.0)];
        assert!((quantile(0.5, &buckets).unwrap() - 0.0055).abs() < 1e-12);
        let beyond = [(0.001, 0.0), (f64::INFINITY, 4.0)];
        assert_eq!(quantile(0.5, &beyond), Some(0.001));
        assert_eq!(quantile(0.5, &[(f64::INFINITY, 0.0)]), None);
        assert_eq!(quantile(0.5, &[]), None);
    }

    #[test]
    fn durations_read_as_uptimes() {
        assert_eq!(duration_text(5.9), "5s");
        assert_eq!(duration_text(306.0), "5m06s");
        assert_eq!(duration_text(14_706.0), "4h05m06s");
        assert_eq!(duration_text(273_906.0), "3d04h05m");
        assert_eq!(seconds_text(0.000_042), "0.042 ms");
        assert_eq!(seconds_text(0.0123), "12.3 ms");
        assert_eq!(seconds_text(2.5), "2.50 s");
    }
}
