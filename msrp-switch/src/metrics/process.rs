//! The process's own families, read from `/proc/self` at scrape time under the
//! names every Prometheus client library uses (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, …), so the dashboards and alerts written for
//! any other daemon work here too; and `msrp_switch_build_info`, the version.
//!
//! On a system without `/proc` (not Linux) the process families are left out;
//! the build info is always there.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// What `/proc/self` says, for one scrape.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident set size, in bytes.
    pub resident_bytes: u64,
    /// Virtual memory size, in bytes.
    pub virtual_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The descriptor limit (soft).
    pub max_fds: u64,
    /// When the process started, in seconds since the Unix epoch.
    pub start_time_seconds: f64,
    /// Threads.
    pub threads: u64,
}

impl ProcessStats {
    /// Reads this process's figures; `None` without a readable `/proc/self/stat`.
    pub fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        let page = rustix::param::page_size() as u64;
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| boot_time(&s))
            .unwrap_or(0);
        let mut stats = parse_stat(&stat, ticks, page, boot_time)?;
        stats.open_fds = std::fs::read_dir("/proc/self/fd")
            .map(|dir| dir.count() as u64)
            .unwrap_or(0);
        stats.max_fds = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(u64::MAX);
        Some(stats)
    }
}

/// The fields of `/proc/self/stat` (proc(5)) after the command name, which may
/// hold spaces and parentheses and so is skipped up to its last `)`.
fn parse_stat(stat: &str, ticks: f64, page: u64, boot_time: u64) -> Option<ProcessStats> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field numbers of proc(5), 1-based from pid: state is 3, so field n is
    // `fields[n - 3]`.
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    let utime = field(14)?;
    let stime = field(15)?;
    let threads = field(20)?;
    let start_ticks = field(22)?;
    let vsize = field(23)?;
    let rss_pages = field(24)?;
    Some(ProcessStats {
        cpu_seconds: (utime + stime) as f64 / ticks,
        resident_bytes: rss_pages * page,
        virtual_bytes: vsize,
        open_fds: 0,
        max_fds: 0,
        start_time_seconds: boot_time as f64 + start_ticks as f64 / ticks,
        threads,
    })
}

/// `btime` of `/proc/stat`: the boot time in seconds since the epoch.
fn boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The process families and the build info, read when a scrape asks.
#[derive(Debug, Default)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let build = encoder.encode_descriptor(
            "msrp_switch_build_info",
            "The daemon's version (the value is always 1).",
            None,
            MetricType::Gauge,
        )?;
        let mut build = build;
        ConstGauge::new(1i64)
            .encode(build.encode_family(&[("version", env!("CARGO_PKG_VERSION"))])?)?;
        let Some(p) = ProcessStats::read() else {
            return Ok(());
        };
        ConstCounter::new(p.cpu_seconds).encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            MetricType::Counter,
        )?)?;
        let gauges: [(&str, &str, f64); 6] = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                p.resident_bytes as f64,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                p.virtual_bytes as f64,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                p.open_fds as f64,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                p.max_fds as f64,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                p.start_time_seconds,
            ),
            ("process_threads", "Number of OS threads.", p.threads as f64),
        ];
        for (name, help, value) in gauges {
            ConstGauge::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Gauge,
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_with_spaces_and_parentheses_in_the_name_parses() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime stime cutime cstime priority nice threads
        // itrealvalue starttime vsize rss ...
        let stat = "4242 (msrp (switch) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 50 0 0 20 0 7 0 1000 123456789 2048 18446744073709551615";
        let stats = parse_stat(stat, 100.0, 4096, 1_700_000_000).unwrap();
        assert_eq!(stats.cpu_seconds, 3.0);
        assert_eq!(stats.threads, 7);
        assert_eq!(stats.virtual_bytes, 123_456_789);
        assert_eq!(stats.resident_bytes, 2048 * 4096);
        assert_eq!(stats.start_time_seconds, 1_700_000_010.0);
    }

    #[test]
    fn this_process_reads() {
        let stats = ProcessStats::read().unwrap();
        assert!(stats.resident_bytes > 0);
        assert!(stats.open_fds > 0 && stats.open_fds <= stats.max_fds);
        assert!(stats.threads >= 1);
    }

    #[test]
    fn the_boot_time_is_btime() {
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
    }
}
