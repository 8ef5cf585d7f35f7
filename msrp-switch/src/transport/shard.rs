//! One shard: a thread with a single-threaded tokio runtime, pinned to a core, that
//! owns a [`Switch`] and every connection it accepted or opened.
//!
//! Everything on a shard runs on its one thread, so the switch sits in a `RefCell`
//! and no lock is taken on the forwarding path. Other threads reach a shard only
//! through its inbox: control calls (closures run against the switch) and connections
//! handed over by another shard.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
// FxHash: the wake-up table is read for every wake-up, SipHash's cost buys nothing
// here (the keys are the shard's own connection ids).
use rustc_hash::FxHashMap as HashMap;
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{Instrument, debug, info_span, warn};

use crate::codec::Limits;
use crate::metrics::ShardMetrics;
use msrp_proto::control::TaggedEvent;
use msrp_proto::endpoint::{Action, Endpoint};
use msrp_proto::ids::ConnId;

use super::admission::{Admission, Ticket};
use super::connect;
use super::driver;
use super::handover::{self, Handover, Unowned};
use super::large::{self, LargeMessageSettings};
use super::listener;
use super::stream::Stream;
use super::tls::SwitchCertificate;
use super::wake::ConnWake;
use super::ws::WsSettings;

/// A control call: runs on the shard's thread against its switch.
pub(crate) type ControlCall = Box<dyn FnOnce(&mut Endpoint, std::time::Instant) + Send>;

/// What other threads send a shard.
pub(crate) enum ShardMsg {
    /// Run a control call.
    Control(ControlCall),
    /// A connection whose next request names a session of this shard, with the
    /// bytes already read from it.
    Handover(Handover),
    /// Stop accepting and drain (see [`drain`]); the outcome goes to `done`.
    Drain {
        /// When to stop waiting for quiet and finish the drain.
        finish_by: std::time::Instant,
        /// When to stop waiting for connections to write what they owe.
        exit_by: std::time::Instant,
        /// Where the outcome goes.
        done: oneshot::Sender<DrainOutcome>,
    },
    /// Stop accepting, close every connection, end the thread.
    Shutdown,
}

/// What one shard's drain did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainOutcome {
    /// Nothing was in flight when the drain finished (rather than the deadline
    /// cutting it short).
    pub quiescent: bool,
    /// REPORTs sent for accepted messages not acknowledged downstream.
    pub reports: usize,
    /// Connections still open at the exit deadline (their peers did not read what
    /// they were owed).
    pub unflushed: usize,
}

/// How often a draining shard looks for quiet and for closed connections.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// The shard's state, shared by its tasks on its one thread.
pub(crate) struct Local {
    /// This shard's index (the shard session-ids and control ids name).
    pub(crate) index: u8,
    pub(crate) switch: RefCell<Endpoint>,
    /// Per connection: the wake-up its task waits on.
    pub(crate) conns: RefCell<HashMap<ConnId, Rc<ConnWake>>>,
    /// Wakes the timer task when a deadline may have moved earlier.
    timer: Notify,
    pub(crate) metrics: Arc<ShardMetrics>,
    /// Every shard's inbox, this one's included, by index.
    pub(crate) peers: Vec<mpsc::UnboundedSender<ShardMsg>>,
    events: broadcast::Sender<TaggedEvent>,
    /// The switch's codec limits, for decoding the heads that place connections.
    pub(crate) limits: Limits,
    /// How long an accepted connection may take to send its first request.
    pub(crate) bind_timeout: Duration,
    /// Connections closed by the switch and held open until their peers close
    /// (see `driver::linger`).
    pub(crate) lingering: std::cell::Cell<usize>,
    /// The connection caps, shared by every shard.
    pub(crate) admission: Arc<Admission>,
    /// The switch's TLS certificate and the acceptor's configuration, with TLS.
    pub(crate) tls: Option<ShardTls>,
    /// The WebSocket upgrade's rules, with a WebSocket listener.
    pub(crate) ws: Option<WsSettings>,
    /// Where large messages are stored.
    pub(crate) large_message: LargeMessageSettings,
    /// The store task of each large message session with bytes stored.
    pub(crate) stores: RefCell<large::Stores>,
    /// Where captured frames go (shared by every shard).
    pub(crate) capture: Arc<crate::capture::Capture>,
    /// The write batch connections borrow while they write (see
    /// `driver::Outgoing`): one for the shard, not one per idle connection.
    pub(crate) spare_batch: std::cell::Cell<Vec<bytes::Bytes>>,
}

/// One shard's TLS: the certificate (shared by every shard) and the
/// configuration of accepted connections built on it.
pub(crate) struct ShardTls {
    pub(crate) identity: Arc<SwitchCertificate>,
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
}

impl Local {
    /// Carries out what the switch asked for: wake connections, connect out, publish
    /// events. Call after every change to the switch.
    pub(crate) fn pump(self: &Rc<Self>) {
        loop {
            let action = self.switch.borrow_mut().poll_action();
            match action {
                None => break,
                Some(Action::Wake(conn)) => {
                    if let Some(wake) = self.conns.borrow().get(&conn) {
                        // One task waits: kept if it is busy, so a wake that
                        // comes while it runs is not lost.
                        wake.wake();
                    }
                }
                Some(
                    action @ (Action::Store { .. }
                    | Action::Replay { .. }
                    | Action::ReleaseStore { .. }),
                ) => large::handle(self, action),
                Some(Action::Connect {
                    conn,
                    host,
                    port,
                    tls,
                }) => {
                    let local = Rc::clone(self);
                    tokio::task::spawn_local(connect::run(local, conn, host, port, tls));
                }
            }
        }
        loop {
            let event = self.switch.borrow_mut().poll_tagged_event();
            match event {
                // No subscriber is not an error: events are for whoever watches.
                Some(event) => {
                    log_event(&event);
                    drop(self.events.send(event));
                }
                None => break,
            }
        }
        self.timer.notify_one();
    }
}

/// Everything a shard thread needs to start.
pub(crate) struct ShardSetup {
    pub(crate) index: u8,
    pub(crate) switch: Endpoint,
    pub(crate) listener: std::net::TcpListener,
    /// The TLS listener and the switch's certificate, with TLS.
    pub(crate) tls: Option<(std::net::TcpListener, Arc<SwitchCertificate>)>,
    /// The WebSocket listener and its upgrade rules, with WebSocket.
    pub(crate) ws: Option<(std::net::TcpListener, WsSettings)>,
    /// The secure WebSocket listener and its upgrade rules (TLS from `tls`).
    pub(crate) wss: Option<(std::net::TcpListener, WsSettings)>,
    pub(crate) inbox: mpsc::UnboundedReceiver<ShardMsg>,
    pub(crate) peers: Vec<mpsc::UnboundedSender<ShardMsg>>,
    pub(crate) metrics: Arc<ShardMetrics>,
    pub(crate) events: broadcast::Sender<TaggedEvent>,
    pub(crate) core: Option<core_affinity::CoreId>,
    /// The connection caps, shared by every shard.
    pub(crate) admission: Arc<Admission>,
    /// Where large messages are stored.
    pub(crate) large_message: LargeMessageSettings,
    /// Where captured frames go.
    pub(crate) capture: Arc<crate::capture::Capture>,
}

/// The body of a shard thread.
pub(crate) fn run(setup: ShardSetup) {
    if let Some(core) = setup.core
        && !core_affinity::set_for_current(core)
    {
        debug!(shard = setup.index, "could not pin the shard to its core");
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            warn!(shard = setup.index, %err, "shard runtime did not start");
            return;
        }
    };
    let tasks = tokio::task::LocalSet::new();
    let span = info_span!("shard", id = setup.index);
    tasks.block_on(&runtime, serve(setup).instrument(span));
}

async fn serve(setup: ShardSetup) {
    let ShardSetup {
        index,
        switch,
        listener,
        tls,
        ws,
        wss,
        mut inbox,
        peers,
        metrics,
        events,
        admission,
        large_message,
        capture,
        ..
    } = setup;
    let (tls_listener, tls) = match tls {
        Some((listener, identity)) => match identity.server_config() {
            Ok(config) => (
                Some(listener),
                Some(ShardTls {
                    identity,
                    acceptor: tokio_rustls::TlsAcceptor::from(config),
                }),
            ),
            Err(err) => {
                warn!(%err, "TLS configuration refused; no TLS on this shard");
                (None, None)
            }
        },
        None => (None, None),
    };
    let limits = switch.config().limits.clone();
    let bind_timeout = switch.config().bind_timeout;
    let (ws_listener, ws_settings) = match ws {
        Some((listener, settings)) => (Some(listener), Some(settings)),
        None => (None, None),
    };
    let (wss_listener, wss_settings) = match wss {
        Some((listener, settings)) => (Some(listener), Some(settings)),
        None => (None, None),
    };
    // One set of upgrade rules serves both ports (the plain port's, if both).
    let ws = ws_settings.or(wss_settings);
    let local = Rc::new(Local {
        index,
        switch: RefCell::new(switch),
        conns: RefCell::new(HashMap::default()),
        timer: Notify::new(),
        metrics,
        peers,
        events,
        limits,
        bind_timeout,
        lingering: std::cell::Cell::new(0),
        admission,
        tls,
        ws,
        large_message,
        stores: RefCell::default(),
        capture,
        spare_batch: std::cell::Cell::default(),
    });
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            warn!(%err, "shard listener unusable");
            return;
        }
    };
    let acceptor = tokio::task::spawn_local(listener::accept_loop(
        Rc::clone(&local),
        listener,
        listener::Port::Tcp,
    ));
    let tls_acceptor = match tls_listener.map(TcpListener::from_std) {
        Some(Ok(listener)) => Some(tokio::task::spawn_local(listener::accept_loop(
            Rc::clone(&local),
            listener,
            listener::Port::Tls,
        ))),
        Some(Err(err)) => {
            warn!(%err, "shard TLS listener unusable");
            None
        }
        None => None,
    };
    let ws_acceptor = match ws_listener.map(TcpListener::from_std) {
        Some(Ok(listener)) => Some(tokio::task::spawn_local(listener::accept_loop(
            Rc::clone(&local),
            listener,
            listener::Port::Ws,
        ))),
        Some(Err(err)) => {
            warn!(%err, "shard WebSocket listener unusable");
            None
        }
        None => None,
    };
    let wss_acceptor = match wss_listener.map(TcpListener::from_std) {
        Some(Ok(listener)) if local.tls.is_some() => Some(tokio::task::spawn_local(
            listener::accept_loop(Rc::clone(&local), listener, listener::Port::Wss),
        )),
        Some(Ok(_)) => {
            warn!("secure WebSocket without TLS on this shard: not served");
            None
        }
        Some(Err(err)) => {
            warn!(%err, "shard secure WebSocket listener unusable");
            None
        }
        None => None,
    };
    let timers = tokio::task::spawn_local(timer_loop(Rc::clone(&local)));
    while let Some(msg) = inbox.recv().await {
        match msg {
            ShardMsg::Control(call) => {
                call(&mut local.switch.borrow_mut(), std::time::Instant::now());
                local.pump();
            }
            ShardMsg::Handover(handover) => handover::receive(&local, handover),
            ShardMsg::Drain {
                finish_by,
                exit_by,
                done,
            } => {
                // Dropping the listener closes this shard's share of the port: new
                // connections are refused by the kernel, not accepted and dropped.
                acceptor.abort();
                if let Some(tls) = &tls_acceptor {
                    tls.abort();
                }
                for ws in ws_acceptor.iter().chain(&wss_acceptor) {
                    ws.abort();
                }
                let local = Rc::clone(&local);
                tokio::task::spawn_local(async move {
                    let _ = done.send(drain(local, finish_by, exit_by).await);
                });
            }
            ShardMsg::Shutdown => break,
        }
    }
    acceptor.abort();
    if let Some(tls) = &tls_acceptor {
        tls.abort();
    }
    for ws in ws_acceptor.iter().chain(&wss_acceptor) {
        ws.abort();
    }
    timers.abort();
}

/// Opens an accepted connection in the switch and runs it; `moves` counts the
/// shards it was handed over from (see [`handover::MAX_HANDOVERS`]).
pub(crate) fn start_accepted(
    local: &Rc<Local>,
    stream: Stream,
    buf: BytesMut,
    moves: u8,
    counted: Unowned,
    ticket: Ticket,
) {
    let security = stream.security();
    let now = std::time::Instant::now();
    let conn = if stream.is_websocket() {
        local
            .switch
            .borrow_mut()
            .open_websocket_connection(security, now)
    } else {
        local
            .switch
            .borrow_mut()
            .open_connection_with(security, now)
    };
    // The switch counts it from here on.
    drop(counted);
    spawn_conn(local, conn, stream, buf, Some((moves, ticket)));
}

/// Runs a connection's task.
/// `accepted` is `Some` for an accepted connection, with the moves so far (it may
/// still move to another shard until it binds) and its admission ticket, and
/// `None` for one the switch opened.
pub(crate) fn spawn_conn(
    local: &Rc<Local>,
    conn: ConnId,
    stream: Stream,
    buf: BytesMut,
    accepted: Option<(u8, Ticket)>,
) {
    let wake = Rc::new(ConnWake::default());
    local.conns.borrow_mut().insert(conn, Rc::clone(&wake));
    let task: JoinHandle<()> = tokio::task::spawn_local(driver::drive(
        Rc::clone(local),
        conn,
        stream,
        buf,
        wake,
        accepted,
    ));
    drop(task);
    local.pump();
}

/// Sleeps until the switch's next deadline, fires it, repeats.
async fn timer_loop(local: Rc<Local>) {
    loop {
        let next = local.switch.borrow().poll_timeout();
        match next {
            Some(at) => {
                let sleep = tokio::time::sleep_until(Instant::from_std(at));
                tokio::select! {
                    () = sleep => {
                        local.switch.borrow_mut().handle_timeout(std::time::Instant::now());
                        local.pump();
                    }
                    () = local.timer.notified() => {}
                }
            }
            None => local.timer.notified().await,
        }
    }
}

/// Drains the shard: forwarding goes on until nothing accepted is in flight (or
/// `finish_by`), then the switch REPORTs what was not acknowledged, ends open
/// chunks with `#` and closes every connection after its output; the shard waits
/// for them to close until `exit_by`.
async fn drain(
    local: Rc<Local>,
    finish_by: std::time::Instant,
    exit_by: std::time::Instant,
) -> DrainOutcome {
    let quiescent = loop {
        if local.switch.borrow().is_quiescent() {
            break true;
        }
        if std::time::Instant::now() >= finish_by {
            break false;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    };
    let reports = local
        .switch
        .borrow_mut()
        .finish_drain(std::time::Instant::now());
    local.pump();
    let open = || local.conns.borrow().len() + local.lingering.get();
    while open() > 0 && std::time::Instant::now() < exit_by {
        tokio::time::sleep(DRAIN_POLL).await;
    }
    DrainOutcome {
        quiescent,
        reports,
        unflushed: open(),
    }
}

/// The operator's log line of a switch event: at info under the target
/// `msrp_switch::sessions`, with the session, participant and correlation tag.
/// Session creation and control-plane releases are the audit lines of their
/// calls, binds and drops the driver's lines (they know the peer's address);
/// these are what the switch did by its own rules and timers.
fn log_event(tagged: &TaggedEvent) {
    use msrp_proto::control::Event;
    let tag = &*tagged.correlation_tag;
    match &tagged.event {
        Event::ParticipantRemoved {
            session,
            participant,
        } => {
            tracing::info!(target: "msrp_switch::sessions", %session, %participant, tag, "participant removed")
        }
        Event::SlowConsumerDropped {
            session,
            participant,
            queued_bytes,
        } => {
            tracing::info!(target: "msrp_switch::sessions", %session, %participant, tag, queued_bytes, "connection dropped: slow consumer")
        }
        Event::OfferExpired {
            session,
            participant,
        } => {
            tracing::info!(target: "msrp_switch::sessions", %session, %participant, tag, "participant removed: the offer expired")
        }
        Event::SessionReleased { session, reason } => {
            tracing::info!(target: "msrp_switch::sessions", %session, tag, reason = ?reason, "session ended by the switch")
        }
        Event::BindRefused {
            session,
            participant,
            reason,
        } => {
            tracing::info!(target: "msrp_switch::sessions", %session, %participant, tag, reason = reason.label(), "bind refused")
        }
        Event::ConnectFailed {
            session,
            participant,
            reason,
        } => {
            tracing::info!(target: "msrp_switch::sessions", %session, %participant, tag, %reason, "connect failed")
        }
        Event::MessageFailed {
            session,
            participant,
            status,
            reason,
        } => {
            tracing::info!(target: "msrp_switch::sessions", %session, %participant, tag, status, %reason, "large message failed for a receiver")
        }
        Event::LargeMessageComplete {
            session,
            delivered,
            failed,
        } => {
            tracing::info!(target: "msrp_switch::sessions", %session, tag, delivered, failed, "large message complete")
        }
        // The driver logs binds and drops with the peer's address.
        Event::MessageReceived { .. }
        | Event::MessageDelivered { .. }
        | Event::ParticipantBound { .. }
        | Event::ConnectionLost { .. }
        | Event::SessionIdle { .. }
        | Event::NicknameSet { .. } => {}
    }
}
