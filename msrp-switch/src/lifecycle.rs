//! The daemon's lifecycle, shared by the signal handler, the control API's Drain
//! call and whatever must react to a drain (health, /readyz, event streams):
//!
//! ```text
//!  Serving ── SIGTERM / SIGINT / Drain RPC ──▶ Draining { deadline } ──▶ (exit)
//! ```
//! The first request fixes the deadline; later ones change nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// Where the daemon is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Taking new work.
    Serving,
    /// Draining, to exit within `deadline` of the request.
    Draining {
        /// The longest the drain may take.
        deadline: Duration,
    },
}

/// A handle on the lifecycle; cheap to clone.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    phase: Arc<watch::Sender<Phase>>,
    default_deadline: Duration,
}

impl Lifecycle {
    /// Serving, with `default_deadline` for drains that do not name one.
    pub fn new(default_deadline: Duration) -> Self {
        let (phase, _) = watch::channel(Phase::Serving);
        Self {
            phase: Arc::new(phase),
            default_deadline,
        }
    }

    /// Asks for a drain within `deadline` (`None`: the default). Returns the
    /// deadline in force: the first request's.
    pub fn request_drain(&self, deadline: Option<Duration>) -> Duration {
        let wanted = deadline.unwrap_or(self.default_deadline);
        let mut in_force = wanted;
        self.phase.send_if_modified(|phase| match *phase {
            Phase::Serving => {
                *phase = Phase::Draining { deadline: wanted };
                true
            }
            Phase::Draining { deadline } => {
                in_force = deadline;
                false
            }
        });
        in_force
    }

    /// The phase now.
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Completes when a drain is requested (at once if it was), with its deadline.
    pub fn draining(&self) -> impl std::future::Future<Output = Duration> + Send + 'static {
        let mut phase = self.phase.subscribe();
        async move {
            loop {
                if let Phase::Draining { deadline } = *phase.borrow_and_update() {
                    return deadline;
                }
                if phase.changed().await.is_err() {
                    // The lifecycle is gone: nothing will ever drain.
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_request_fixes_the_deadline() {
        let life = Lifecycle::new(Duration::from_secs(30));
        let waiting = tokio::spawn(life.draining());
        assert_eq!(life.phase(), Phase::Serving);
        assert_eq!(
            life.request_drain(Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
        assert_eq!(life.request_drain(None), Duration::from_secs(5));
        assert_eq!(waiting.await.unwrap(), Duration::from_secs(5));
        // A watcher that comes later learns of it at once.
        assert_eq!(life.draining().await, Duration::from_secs(5));
    }

    #[tokio::test]
    async fn no_deadline_means_the_default() {
        let life = Lifecycle::new(Duration::from_secs(30));
        assert_eq!(life.request_drain(None), Duration::from_secs(30));
        assert_eq!(
            life.phase(),
            Phase::Draining {
                deadline: Duration::from_secs(30)
            }
        );
    }
}
