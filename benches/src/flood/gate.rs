//! End-to-end flow control of a group sender: message `seq` starts only once the
//! slowest receiver has finished message `seq - window`.
//!
//! A group switch answers each SEND hop by hop as soon as it has read it (RFC 7701
//! §7.3), and a group that drops slow consumers never stops reading its senders
//! while a leg falls behind. So the SEND window alone does not bound what waits
//! for the receivers: an unpaced sender would fill every leg's queue until the
//! switch drops the flooder's own receivers, and the run would measure queueing.
//! With the gate, at most `window` messages wait for any receiver, and the figures
//! are the switch's throughput and latency with short queues. Stalled members are
//! not receivers: the gate never waits for them.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

/// Messages each receiver has finished, and the sender waiting on the slowest.
#[derive(Debug)]
pub(crate) struct DeliveryGate {
    window: u64,
    /// Per receiver: messages finished (delivered, or found broken or duplicated:
    /// whatever the outcome, the message no longer waits in the switch).
    finished: Box<[AtomicU64]>,
    notify: Notify,
}

impl DeliveryGate {
    /// A gate for `receivers` receivers that lets `window` messages be unfinished.
    pub(crate) fn new(receivers: usize, window: usize) -> Self {
        Self {
            window: window as u64,
            finished: (0..receivers).map(|_| AtomicU64::new(0)).collect(),
            notify: Notify::new(),
        }
    }

    /// True when message `seq` (0-based) may start.
    pub(crate) fn allows(&self, seq: u64) -> bool {
        seq < self.slowest().saturating_add(self.window)
    }

    /// Returns once message `seq` may start.
    pub(crate) async fn wait_for(&self, seq: u64) {
        // `notify_one` keeps a permit when nobody waits, so a receiver's progress
        // between the check and the wait is not missed.
        while !self.allows(seq) {
            self.notify.notified().await;
        }
    }

    /// Receiver `receiver` has finished `count` messages in all.
    pub(crate) fn record(&self, receiver: usize, count: u64) {
        if let Some(finished) = self.finished.get(receiver) {
            finished.store(count, Ordering::Release);
            self.notify.notify_one();
        }
    }

    fn slowest(&self) -> u64 {
        self.finished
            .iter()
            .map(|f| f.load(Ordering::Acquire))
            .min()
            .unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_receiver_holds_the_sender() {
        let gate = DeliveryGate::new(3, 2);
        assert!(gate.allows(1));
        assert!(!gate.allows(2));
        gate.record(0, 10);
        gate.record(1, 10);
        assert!(!gate.allows(2), "receiver 2 has finished nothing");
        gate.record(2, 1);
        assert!(gate.allows(2));
        assert!(!gate.allows(3));
    }

    #[tokio::test]
    async fn a_waiting_sender_wakes_on_progress() {
        let gate = std::sync::Arc::new(DeliveryGate::new(1, 1));
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.wait_for(5).await }
        });
        gate.record(0, 5);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
