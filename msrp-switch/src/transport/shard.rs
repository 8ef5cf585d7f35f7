//! One shard: a thread with a single-threaded tokio runtime, pinned to a core, that
//! owns a [`Switch`] and every connection it accepted or opened.
//!
//! Everything on a shard runs on its one thread, so the switch sits in a `RefCell`
//! and no lock is taken on the forwarding path. Other threads reach a shard only
//! through its inbox: control calls (closures run against the switch) and connections
//! handed over by another shard.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{Instrument, debug, info_span, warn};

use crate::codec::Limits;
use crate::metrics::ShardMetrics;
use msrp_proto::control::TaggedEvent;
use msrp_proto::endpoint::{Action, Endpoint};
use msrp_proto::ids::ConnId;

use super::driver;
use super::handover::{self, Handover, Unowned};
use super::listener;
use super::stream::Stream;

/// A control call: runs on the shard's thread against its switch.
pub(crate) type ControlCall = Box<dyn FnOnce(&mut Endpoint, std::time::Instant) + Send>;

/// What other threads send a shard.
pub(crate) enum ShardMsg {
    /// Run a control call.
    Control(ControlCall),
    /// A connection whose next request names a session of this shard, with the
    /// bytes already read from it.
    Handover(Handover),
    /// Stop accepting, close every connection, end the thread.
    Shutdown,
}

/// The shard's state, shared by its tasks on its one thread.
pub(crate) struct Local {
    /// This shard's index (the shard session-ids and control ids name).
    pub(crate) index: u8,
    pub(crate) switch: RefCell<Endpoint>,
    /// Per connection: the notifier its reader and writer tasks wait on.
    pub(crate) conns: RefCell<HashMap<ConnId, Rc<Notify>>>,
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
                    if let Some(notify) = self.conns.borrow().get(&conn) {
                        notify.notify_waiters();
                        notify.notify_one();
                    }
                }
                Some(Action::Connect { conn, host, port }) => {
                    let local = Rc::clone(self);
                    tokio::task::spawn_local(connect(local, conn, host, port));
                }
            }
        }
        loop {
            let event = self.switch.borrow_mut().poll_tagged_event();
            match event {
                // No subscriber is not an error: events are for whoever watches.
                Some(event) => drop(self.events.send(event)),
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
    pub(crate) inbox: mpsc::UnboundedReceiver<ShardMsg>,
    pub(crate) peers: Vec<mpsc::UnboundedSender<ShardMsg>>,
    pub(crate) metrics: Arc<ShardMetrics>,
    pub(crate) events: broadcast::Sender<TaggedEvent>,
    pub(crate) core: Option<core_affinity::CoreId>,
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
        mut inbox,
        peers,
        metrics,
        events,
        ..
    } = setup;
    let limits = switch.config().limits.clone();
    let bind_timeout = switch.config().bind_timeout;
    let local = Rc::new(Local {
        index,
        switch: RefCell::new(switch),
        conns: RefCell::new(HashMap::new()),
        timer: Notify::new(),
        metrics,
        peers,
        events,
        limits,
        bind_timeout,
    });
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            warn!(%err, "shard listener unusable");
            return;
        }
    };
    let acceptor = tokio::task::spawn_local(listener::accept_loop(Rc::clone(&local), listener));
    let timers = tokio::task::spawn_local(timer_loop(Rc::clone(&local)));
    while let Some(msg) = inbox.recv().await {
        match msg {
            ShardMsg::Control(call) => {
                call(&mut local.switch.borrow_mut(), std::time::Instant::now());
                local.pump();
            }
            ShardMsg::Handover(handover) => handover::receive(&local, handover),
            ShardMsg::Shutdown => break,
        }
    }
    acceptor.abort();
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
) {
    let conn = local
        .switch
        .borrow_mut()
        .open_connection(std::time::Instant::now());
    // The switch counts it from here on.
    drop(counted);
    spawn_conn(local, conn, stream, buf, Some(moves));
}

/// Runs a connection's reader and writer tasks.
/// `moves` is `Some` for an accepted connection, which may still move to another
/// shard until it binds, and `None` for one the switch opened.
pub(crate) fn spawn_conn(
    local: &Rc<Local>,
    conn: ConnId,
    stream: Stream,
    buf: BytesMut,
    moves: Option<u8>,
) {
    let notify = Rc::new(Notify::new());
    local.conns.borrow_mut().insert(conn, Rc::clone(&notify));
    let task: JoinHandle<()> = tokio::task::spawn_local(driver::drive(
        Rc::clone(local),
        conn,
        stream,
        buf,
        notify,
        moves,
    ));
    drop(task);
    local.pump();
}

/// Active setup role: connect, then run the connection (its bind SEND is queued).
async fn connect(local: Rc<Local>, conn: ConnId, host: String, port: u16) {
    let now = std::time::Instant::now;
    let timeout = local.bind_timeout;
    let dialed = tokio::time::timeout(timeout, TcpStream::connect((host.as_str(), port))).await;
    match dialed {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            local.switch.borrow_mut().connected(conn);
            spawn_conn(&local, conn, Stream::Tcp(stream), BytesMut::new(), None);
        }
        Ok(Err(err)) => {
            debug!(%host, port, %err, "connect failed");
            local.switch.borrow_mut().handle_close(conn, now());
            local.pump();
        }
        Err(_) => {
            debug!(%host, port, "connect timed out");
            local.switch.borrow_mut().handle_close(conn, now());
            local.pump();
        }
    }
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
