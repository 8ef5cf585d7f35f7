//! Admission of accepted MSRP connections: caps on open connections, on
//! connections not yet bound to a participant, and per source address, with a
//! file-descriptor reserve so that the control and metrics ports and the switch's
//! own connect-outs keep working when MSRP is at its cap.
//!
//! Nothing unauthenticated may cost more than its share: a connection that has
//! not bound is a stranger, so strangers have their own, smaller cap, and one
//! address cannot take every slot. A refused connection is accepted and closed at
//! once (the kernel's accept queue is never left to fill), counted by reason and
//! logged (the first, then every 1,000th).
//!
//! Each accepted connection holds a `Ticket` for as long as its socket is open;
//! dropping the ticket gives its slots back. The counters are shared by every
//! shard and touched only at accept, bind and close, never per frame.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The caps; `Default` gives the built-in ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open MSRP connections accepted, at most (0: the descriptor limit less
    /// `fd_reserve`). Never more than the descriptor limit less `fd_reserve`.
    pub max_connections: usize,
    /// Accepted connections that have not bound to a participant yet, at most.
    pub max_unbound: usize,
    /// Open MSRP connections from one source address, at most.
    pub max_per_source: usize,
    /// File descriptors kept back from MSRP for everything else (listeners,
    /// the control and metrics ports, connect-outs, log files).
    pub fd_reserve: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 0,
            max_unbound: 4096,
            max_per_source: 1024,
            fd_reserve: 128,
        }
    }
}

impl ConnectionLimits {
    /// The connection cap in force under a descriptor limit of `nofile`.
    pub fn effective_max(&self, nofile: u64) -> usize {
        let room = usize::try_from(nofile)
            .unwrap_or(usize::MAX)
            .saturating_sub(self.fd_reserve)
            .max(1);
        match self.max_connections {
            0 => room,
            given => given.min(room),
        }
    }
}

/// The process's soft limit on open file descriptors.
pub fn descriptor_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
}

/// Why a connection was refused; the label of
/// `msrp_switch_connections_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_connections` are open.
    Connections = 0,
    /// `max_unbound` connections have not bound yet.
    Unbound = 1,
    /// `max_per_source` connections come from this address.
    Source = 2,
}

impl Refusal {
    /// The metric label.
    pub fn label(self) -> &'static str {
        REFUSAL_LABELS[self as usize]
    }
}

/// The `reason` label values, slot by slot.
pub const REFUSAL_LABELS: [&str; 3] = ["connections", "unbound", "source"];

/// The shared counters.
#[derive(Debug)]
pub(crate) struct Admission {
    max_connections: usize,
    max_unbound: usize,
    max_per_source: usize,
    open: AtomicUsize,
    unbound: AtomicUsize,
    per_source: Mutex<HashMap<IpAddr, usize>>,
}

impl Admission {
    /// Counters for `limits` under the descriptor limit `nofile`.
    pub(crate) fn new(limits: &ConnectionLimits, nofile: u64) -> Arc<Self> {
        Arc::new(Self {
            max_connections: limits.effective_max(nofile),
            max_unbound: limits.max_unbound.max(1),
            max_per_source: limits.max_per_source.max(1),
            open: AtomicUsize::new(0),
            unbound: AtomicUsize::new(0),
            per_source: Mutex::new(HashMap::new()),
        })
    }

    /// The connection cap in force.
    pub(crate) fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Admits a connection from `source`, unbound, or says why not.
    pub(crate) fn admit(self: &Arc<Self>, source: IpAddr) -> Result<Ticket, Refusal> {
        if !take(&self.open, self.max_connections) {
            return Err(Refusal::Connections);
        }
        if !take(&self.unbound, self.max_unbound) {
            self.open.fetch_sub(1, Ordering::Relaxed);
            return Err(Refusal::Unbound);
        }
        let mut per_source = self
            .per_source
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = per_source.entry(source).or_insert(0);
        if *count >= self.max_per_source {
            drop(per_source);
            self.open.fetch_sub(1, Ordering::Relaxed);
            self.unbound.fetch_sub(1, Ordering::Relaxed);
            return Err(Refusal::Source);
        }
        *count += 1;
        Ok(Ticket {
            admission: Arc::clone(self),
            source,
            unbound: true,
        })
    }

    /// Open connections admitted (tests).
    #[cfg(test)]
    fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

/// Takes one slot of `counter` if fewer than `max` are taken.
fn take(counter: &AtomicUsize, max: usize) -> bool {
    counter
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

/// One admitted connection's slots; dropping it gives them back.
#[derive(Debug)]
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    source: IpAddr,
    unbound: bool,
}

impl Ticket {
    /// The connection bound to a participant: it no longer counts as unbound.
    pub(crate) fn bound(&mut self) {
        if std::mem::replace(&mut self.unbound, false) {
            self.admission.unbound.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.bound();
        self.admission.open.fetch_sub(1, Ordering::Relaxed);
        let mut per_source = self
            .admission
            .per_source
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = per_source.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                per_source.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn each_cap_refuses_with_its_reason_and_a_dropped_ticket_frees_its_slots() {
        let limits = ConnectionLimits {
            max_connections: 4,
            max_unbound: 3,
            max_per_source: 2,
            fd_reserve: 0,
        };
        let admission = Admission::new(&limits, 1 << 20);
        let mut a1 = admission.admit(ip(1)).unwrap();
        let _a2 = admission.admit(ip(1)).unwrap();
        assert_eq!(admission.admit(ip(1)).unwrap_err(), Refusal::Source);
        let _b1 = admission.admit(ip(2)).unwrap();
        assert_eq!(admission.admit(ip(3)).unwrap_err(), Refusal::Unbound);
        a1.bound();
        let c1 = admission.admit(ip(3)).unwrap();
        assert_eq!(admission.admit(ip(4)).unwrap_err(), Refusal::Connections);
        assert_eq!(admission.open(), 4);
        drop(c1);
        drop(a1);
        assert_eq!(admission.open(), 2);
        // ip(1) has one slot again, and nothing refused left a count behind.
        let mut a3 = admission.admit(ip(1)).unwrap();
        a3.bound();
        assert_eq!(admission.admit(ip(1)).unwrap_err(), Refusal::Source);
    }

    #[test]
    fn the_descriptor_reserve_caps_max_connections() {
        let limits = ConnectionLimits {
            max_connections: 0,
            fd_reserve: 128,
            ..ConnectionLimits::default()
        };
        assert_eq!(limits.effective_max(1024), 896);
        let limits = ConnectionLimits {
            max_connections: 10_000,
            ..limits
        };
        assert_eq!(limits.effective_max(1024), 896);
        assert_eq!(limits.effective_max(1 << 20), 10_000);
    }
}
