//! What `/proc/<pid>` tells about the switch under test: its memory
//! (`/proc/<pid>/status`) and the CPU time it has used (`/proc/<pid>/stat`).
//! Linux only; the figures are read from the outside, so they cover every
//! thread of the process (shards, the store's blocking pool, the control API).

use std::sync::LazyLock;

use anyhow::Context;

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, …) in KiB. `VmHWM` is
/// the peak resident set over the process's whole life, not since some reading:
/// a peak measured with it belongs to a freshly started process.
pub fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status_kib(&status, field).with_context(|| format!("no {field} line in {path}"))
}

/// The CPU time `pid` has used, user and system, all its threads, in seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let ticks = parse_stat_ticks(&stat).with_context(|| format!("no utime/stime in {path}"))?;
    Ok(ticks as f64 / *CLOCK_TICKS as f64)
}

/// `USER_HZ`, the unit of `/proc/<pid>/stat`'s times: `getconf CLK_TCK`, or 100
/// (its value on every architecture Linux runs the switch on) when `getconf` is
/// missing. Asking getconf keeps the crate free of `unsafe` (no `sysconf` call).
static CLOCK_TICKS: LazyLock<u64> = LazyLock::new(|| {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|&hz: &u64| hz > 0)
        .unwrap_or(100)
});

/// The value of `field` (`"VmRSS"`) in the text of a status file, in KiB.
fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// utime + stime in clock ticks from the text of a stat file. The command name
/// (field 2) is in parentheses and may itself hold spaces and parentheses, so
/// the fields are counted from the last `)`: utime and stime are fields 14 and
/// 15 of the whole line, 12 and 13 after it (the state, field 3, being the
/// first).
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_kib() {
        let status = "Name:\tmsrp-switch\nVmHWM:\t   52344 kB\nVmRSS:\t   20480 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(20480));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(52344));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn cpu_ticks_are_counted_after_the_command_name() {
        // A name with a space and a parenthesis in it.
        let stat = "4242 (msrp (sw) x) S 1 4242 4242 0 -1 4194560 1500 0 0 0 \
                    731 269 0 0 20 0 6 0 12345 1000000 5000 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(731 + 269));
        assert_eq!(parse_stat_ticks("4242 (x) S 1"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let pid = std::process::id();
        assert!(status_kib(pid, "VmRSS").unwrap() > 0);
        // The peak is at least what is resident, within one read of the file:
        // read twice, the second may trail the first (the kernel sums each
        // thread's page counts lazily, and the test threads allocate meanwhile).
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let rss = parse_status_kib(&status, "VmRSS").unwrap();
        assert!(rss > 0);
        assert!(parse_status_kib(&status, "VmHWM").unwrap() >= rss);
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
    }
}
