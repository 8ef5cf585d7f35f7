//! systemd's service notifications (`sd_notify(3)`): the daemon tells the
//! service manager when it is ready, reloading, alive and stopping, one
//! datagram to `$NOTIFY_SOCKET` each, written by the `sd-notify` crate. Without
//! `NOTIFY_SOCKET` (not started by systemd with `Type=notify`) every call here
//! does nothing, so the daemon behaves the same everywhere else.
//!
//! ```text
//!  every listener bound ──▶ READY=1, STATUS=serving: MSRP on …
//!  every WATCHDOG_USEC/2, if every shard answered ──▶ WATCHDOG=1
//!  SIGHUP ──▶ RELOADING=1, MONOTONIC_USEC=… ── reload ──▶ READY=1
//!  drain begins ──▶ STOPPING=1, STATUS=draining …, EXTEND_TIMEOUT_USEC=…
//! ```
//!
//! `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` are the service
//! manager's protocol, not settings, so they are read here rather than in
//! [`crate::config`] (`deploy/systemd/msrp-switch.service` sets `WatchdogSec=`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ::sd_notify::NotifyState;
use tracing::{debug, warn};

use crate::engine::Engine;

/// Time past the drain deadline the daemon may still need to exit: the
/// control and metrics ports' grace (2 s each in `main.rs`) and the shards'
/// shutdown.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// Set once [`ready`] was sent: a reload before start-up finished must not
/// announce READY=1 early.
static READY: AtomicBool = AtomicBool::new(false);

/// READY=1 with a `STATUS=` line: every listener is bound, the daemon serves.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
    READY.store(true, Ordering::Relaxed);
}

/// RELOADING=1 now, READY=1 when the returned guard is dropped (at the end of
/// the reload, whichever way it ends). Does nothing before [`ready`].
#[must_use = "READY=1 is sent when the guard is dropped"]
pub fn reloading() -> Reloading {
    let started = READY.load(Ordering::Relaxed);
    if started {
        // systemd (253 and later) matches the reload by its time; older
        // versions ignore the field.
        let mut states = vec![NotifyState::Reloading];
        if let Ok(now) = NotifyState::monotonic_usec_now() {
            states.push(now);
        }
        send(&states);
    }
    Reloading { started }
}

/// See [`reloading`].
#[derive(Debug)]
pub struct Reloading {
    started: bool,
}

impl Drop for Reloading {
    fn drop(&mut self) {
        if self.started {
            send(&[
                NotifyState::Ready,
                NotifyState::Status("serving (reloaded)"),
            ]);
        }
    }
}

/// STOPPING=1: the drain began and the process exits within `deadline` (and
/// `EXIT_GRACE`), which EXTEND_TIMEOUT_USEC tells systemd, so a
/// `--drain-seconds` above the unit's `TimeoutStopSec=` is not cut short.
pub fn stopping(deadline: Duration) {
    let status = format!("draining: exit within {} s", deadline.as_secs_f64());
    let extend = u32::try_from((deadline + EXIT_GRACE).as_micros()).unwrap_or(u32::MAX);
    send(&[
        NotifyState::Stopping,
        NotifyState::Status(&status),
        NotifyState::ExtendTimeoutUsec(extend),
    ]);
}

/// Feeds systemd's watchdog until the process ends: WATCHDOG=1 every half
/// `WATCHDOG_USEC`, each time every shard has answered a no-op from its inbox
/// within that half ([`Engine::ping_shards`]). A shard that hangs starves the
/// watchdog, and systemd restarts the daemon (`Restart=on-failure`).
/// Returns at once when no watchdog is asked for.
pub async fn watchdog(engine: Engine) {
    let Some(timeout) = ::sd_notify::watchdog_enabled() else {
        return;
    };
    let interval = (timeout / 2).max(Duration::from_millis(1));
    debug!(?interval, "feeding the systemd watchdog");
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match tokio::time::timeout(interval, engine.ping_shards()).await {
            Ok(Ok(())) => send(&[NotifyState::Watchdog]),
            Ok(Err(err)) => warn!(%err, "a shard has stopped: the systemd watchdog is not fed"),
            Err(_) => warn!(
                ?interval,
                "a shard did not answer in time: the systemd watchdog is not fed"
            ),
        }
    }
}

/// One datagram to `$NOTIFY_SOCKET` (none without it). A failure is logged
/// and otherwise ignored: the daemon serves whether or not systemd hears it.
fn send(states: &[NotifyState]) {
    if let Err(err) = ::sd_notify::notify(states) {
        warn!(%err, "sd_notify: cannot write to NOTIFY_SOCKET");
    }
}
