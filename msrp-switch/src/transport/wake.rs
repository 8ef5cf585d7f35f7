//! How the shard wakes a connection's task: one waiter (the task), one thread.
//!
//! `tokio::sync::Notify` does the same for any number of waiters across threads,
//! at the price of a 64-byte `Notified` future kept in every waiting task and a
//! waiter list: too much for a million idle legs (issue 20). A flag and the
//! task's waker are all one task on one thread needs.

use std::cell::Cell;
use std::task::{Context, Poll, Waker};

/// A connection's wake-up: set by the shard when the switch has something for
/// the connection, taken by its task.
#[derive(Default)]
pub(crate) struct ConnWake {
    /// Set by [`ConnWake::wake`], cleared when the task sees it: a wake that
    /// comes while the task runs is kept for its next wait, not lost.
    woken: Cell<bool>,
    /// The task's waker while it waits.
    waker: Cell<Option<Waker>>,
}

impl ConnWake {
    /// Wakes the task, or, if it is not waiting, makes its next wait return at
    /// once.
    pub(crate) fn wake(&self) {
        self.woken.set(true);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// Ready (and cleared) if woken since the last time; otherwise the task is
    /// woken by the next [`ConnWake::wake`].
    pub(crate) fn poll_woken(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.woken.replace(false) {
            return Poll::Ready(());
        }
        let waker = match self.waker.take() {
            Some(waker) if waker.will_wake(cx.waker()) => waker,
            _ => cx.waker().clone(),
        };
        self.waker.set(Some(waker));
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_wake_before_the_wait_is_kept_and_a_wake_during_it_wakes_the_task_once() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let wake = ConnWake::default();
        // Woken while busy: the next wait returns at once, and only once.
        wake.wake();
        assert_eq!(wake.poll_woken(&mut cx), Poll::Ready(()));
        assert_eq!(wake.poll_woken(&mut cx), Poll::Pending);
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        // Woken while waiting: the waker fires once, the wait then returns.
        wake.wake();
        wake.wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(wake.poll_woken(&mut cx), Poll::Ready(()));
        assert_eq!(wake.poll_woken(&mut cx), Poll::Pending);
    }
}
