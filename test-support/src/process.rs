//! Stopping the programs the tests start (Kamailio) by their PID.

use std::process::Child;
use std::time::{Duration, Instant};

/// SIGTERM to `child`, which a daemon such as Kamailio passes on to the
/// processes it forked (SIGKILL would leave them running); SIGKILL only if it
/// has not exited within 5 s.
pub fn stop(child: &mut Child) {
    let pid = rustix::process::Pid::from_child(child);
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
