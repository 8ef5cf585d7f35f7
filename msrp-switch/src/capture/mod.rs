//! Frame capture: the MSRP frames of captured sessions (`StartCapture`, or
//! every session with `--hep-capture-all`) copied as they pass, TLS and
//! WebSocket ones in the clear, to a Homer / heplify collector as HEPv3
//! ([`hep`]) and to `WatchCapture` streams (`msrpctl trace`).
//!
//! ```text
//!  shard driver ── bytes read / written ──▶ Tap (a decoder per direction) ── frame ──┐
//!                                                                                  ▼
//!       bounded queue (try_send: full = dropped, counted) ──▶ HEP thread ──▶ UDP / TCP collector
//!       broadcast (lagging watchers lose frames, told how many) ──▶ WatchCapture
//! ```
//! Capture never slows forwarding: a shard hands a frame over without
//! waiting, and a slow collector costs captures, never frames.

pub mod hep;
mod tap;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::sync::broadcast;
use tracing::{debug, warn};

use msrp_proto::ids::SessionKey;

pub use tap::Tap;

/// Where HEP packets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collector {
    /// One datagram per packet.
    Udp(SocketAddr),
    /// A stream of packets (reconnected after a failure).
    Tcp(SocketAddr),
}

impl std::str::FromStr for Collector {
    type Err = String;

    /// `udp:HOST:PORT` or `tcp:HOST:PORT` (an address, not a name).
    fn from_str(text: &str) -> Result<Self, String> {
        let (transport, addr) = text
            .split_once(':')
            .ok_or_else(|| format!("{text:?} is not udp:ADDRESS:PORT or tcp:ADDRESS:PORT"))?;
        let addr: SocketAddr = addr
            .parse()
            .map_err(|e| format!("{addr:?} is not an address and port: {e}"))?;
        match transport {
            "udp" => Ok(Self::Udp(addr)),
            "tcp" => Ok(Self::Tcp(addr)),
            other => Err(format!("{other:?} is neither udp nor tcp")),
        }
    }
}

/// How frames are captured.
#[derive(Debug, Clone)]
pub struct CaptureSettings {
    /// The HEP collector, if any (frames still go to `WatchCapture` without).
    pub collector: Option<Collector>,
    /// Capture every session, not only those `StartCapture` names.
    pub all: bool,
    /// Body bytes kept per frame; the rest is left out (the head says the
    /// chunk's Byte-Range).
    pub max_body_bytes: usize,
    /// HEP capture agent id.
    pub agent_id: u32,
    /// HEP authentication key (the collector's password).
    pub auth_key: Option<String>,
    /// The HEP protocol type of the packets: 100 (Homer's "log" type, stored
    /// as text and linked to the call by correlation id) unless the collector
    /// wants another.
    pub protocol_type: u8,
    /// Frames that may wait for the collector; more are dropped (counted).
    pub queue: usize,
}

impl Default for CaptureSettings {
    fn default() -> Self {
        Self {
            collector: None,
            all: false,
            max_body_bytes: 1024,
            agent_id: 2855,
            auth_key: None,
            protocol_type: 100,
            queue: 4096,
        }
    }
}

/// Which way a frame went, seen from the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The switch read it.
    Received,
    /// The switch wrote it.
    Sent,
}

/// One captured frame.
#[derive(Debug, Clone)]
pub struct CapturedFrame {
    /// When it passed.
    pub time: SystemTime,
    /// Which way.
    pub direction: Direction,
    /// The sender's address.
    pub source: SocketAddr,
    /// The receiver's address.
    pub destination: SocketAddr,
    /// Its session.
    pub session: SessionKey,
    /// The session's correlation tag.
    pub correlation: Arc<str>,
    /// The frame: its head, at most `max_body_bytes` of its body, its end-line.
    pub frame: Bytes,
    /// Body bytes left out.
    pub omitted: u64,
}

/// The capture sink every shard hands frames to.
#[derive(Debug)]
pub struct Capture {
    settings: CaptureSettings,
    to_collector: Option<SyncSender<CapturedFrame>>,
    watchers: broadcast::Sender<Arc<CapturedFrame>>,
    /// Open watches: read on every captured read and write without the
    /// broadcast channel's lock (its `receiver_count` takes one).
    watching: Arc<AtomicUsize>,
    /// Frames given to the collector's queue.
    pub queued: AtomicU64,
    /// Frames dropped because the collector's queue was full.
    pub dropped: AtomicU64,
    /// HEP packets sent.
    pub sent: AtomicU64,
    /// HEP packets the collector's socket refused.
    pub send_errors: AtomicU64,
}

impl Capture {
    /// A sink with `settings`; with a collector, its sending thread starts.
    pub fn start(settings: CaptureSettings) -> Arc<Self> {
        let (watchers, _) = broadcast::channel(1024);
        let (to_collector, from_shards) = match settings.collector {
            Some(_) => {
                let (tx, rx) = std::sync::mpsc::sync_channel(settings.queue.max(1));
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let capture = Arc::new(Self {
            settings,
            to_collector,
            watchers,
            watching: Arc::default(),
            queued: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
        });
        if let (Some(collector), Some(rx)) = (capture.settings.collector, from_shards) {
            let sink = Arc::downgrade(&capture);
            let spawned = std::thread::Builder::new()
                .name("hep".into())
                .spawn(move || send_loop(collector, rx, sink));
            if let Err(err) = spawned {
                warn!(%err, "the HEP sender did not start; nothing is sent to the collector");
            }
        }
        capture
    }

    /// The settings in force.
    pub fn settings(&self) -> &CaptureSettings {
        &self.settings
    }

    /// True if frames have anywhere to go (a collector, or a watcher).
    pub fn is_wanted(&self) -> bool {
        self.to_collector.is_some() || self.watching.load(Ordering::Relaxed) > 0
    }

    /// Hands a frame on without waiting: to the collector's queue (dropped and
    /// counted if full) and to the watchers.
    pub fn offer(&self, frame: CapturedFrame) {
        if self.watching.load(Ordering::Relaxed) > 0 {
            drop(self.watchers.send(Arc::new(frame.clone())));
        }
        if let Some(tx) = &self.to_collector {
            // Counted first: the HEP thread may send the frame before this
            // thread runs again, and the counter must not lag the packet.
            self.queued.fetch_add(1, Ordering::Relaxed);
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(frame) {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A stream of every captured frame from now on.
    pub fn watch(&self) -> Watch {
        self.watching.fetch_add(1, Ordering::Relaxed);
        Watch {
            receiver: self.watchers.subscribe(),
            guard: WatchGuard(Arc::clone(&self.watching)),
        }
    }
}

/// A watch of the captured frames: a broadcast receiver (it derefs to one),
/// counted as open until dropped.
#[derive(Debug)]
pub struct Watch {
    receiver: broadcast::Receiver<Arc<CapturedFrame>>,
    guard: WatchGuard,
}

impl Watch {
    /// The receiver, and the guard that keeps the watch counted: hold it as
    /// long as the receiver (a stream built on it, say).
    pub fn into_parts(self) -> (broadcast::Receiver<Arc<CapturedFrame>>, WatchGuard) {
        (self.receiver, self.guard)
    }
}

impl std::ops::Deref for Watch {
    type Target = broadcast::Receiver<Arc<CapturedFrame>>;
    fn deref(&self) -> &Self::Target {
        &self.receiver
    }
}

impl std::ops::DerefMut for Watch {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.receiver
    }
}

/// Keeps one watch counted; dropping it uncounts it.
#[derive(Debug)]
pub struct WatchGuard(Arc<AtomicUsize>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The HEP thread: encodes and sends each frame; a TCP collector is
/// reconnected after a failure, at most once a second (frames meanwhile are
/// counted as errors).
fn send_loop(collector: Collector, rx: Receiver<CapturedFrame>, sink: std::sync::Weak<Capture>) {
    let udp = match collector {
        Collector::Udp(addr) => {
            let bind: SocketAddr = if addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            match std::net::UdpSocket::bind(bind) {
                Ok(socket) => Some(socket),
                Err(err) => {
                    warn!(%err, "no UDP socket for the HEP collector");
                    return;
                }
            }
        }
        Collector::Tcp(_) => None,
    };
    let mut tcp: Option<std::net::TcpStream> = None;
    let mut last_attempt: Option<std::time::Instant> = None;
    while let Ok(frame) = rx.recv() {
        let Some(capture) = sink.upgrade() else {
            return;
        };
        let settings = &capture.settings;
        let packet = hep::encode(&hep::Packet {
            source: frame.source,
            destination: frame.destination,
            time: frame.time,
            protocol_type: settings.protocol_type,
            agent_id: settings.agent_id,
            auth_key: settings.auth_key.as_deref(),
            correlation: &frame.correlation,
            payload: &frame.frame,
        });
        let sent = match (collector, &udp) {
            (Collector::Udp(addr), Some(socket)) => socket.send_to(&packet, addr).map(|_| ()),
            (Collector::Tcp(addr), _) => {
                if tcp.is_none()
                    && last_attempt.is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
                {
                    last_attempt = Some(std::time::Instant::now());
                    tcp = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1))
                        .inspect_err(|err| debug!(%err, "HEP collector unreachable"))
                        .ok();
                    if let Some(stream) = &tcp {
                        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
                        let _ = stream.set_nodelay(true);
                    }
                }
                match tcp.as_mut() {
                    Some(stream) => {
                        use std::io::Write;
                        let wrote = stream.write_all(&packet);
                        if wrote.is_err() {
                            tcp = None;
                        }
                        wrote
                    }
                    None => Err(std::io::Error::other("not connected")),
                }
            }
            (Collector::Udp(_), None) => return,
        };
        match sent {
            Ok(()) => capture.sent.fetch_add(1, Ordering::Relaxed),
            Err(_) => capture.send_errors.fetch_add(1, Ordering::Relaxed),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collectors_parse_and_bad_ones_say_why() {
        assert_eq!(
            "udp:127.0.0.1:9060".parse::<Collector>(),
            Ok(Collector::Udp("127.0.0.1:9060".parse().unwrap()))
        );
        assert_eq!(
            "tcp:[::1]:9061".parse::<Collector>(),
            Ok(Collector::Tcp("[::1]:9061".parse().unwrap()))
        );
        assert!("sctp:127.0.0.1:1".parse::<Collector>().is_err());
        assert!("udp:homer:9060".parse::<Collector>().is_err());
    }
}
