//! The engine: the shards, started together, and the in-process control API the
//! daemon and the tests call (the gRPC layer will wrap exactly these calls).
//!
//! A control call runs on the shard that owns the id: ids carry their shard, so
//! routing needs no shared table and no lock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::metrics::{self, ShardMetrics};
use msrp_proto::control::{
    ControlError, Counters, Negotiation, ParticipantInfo, SessionFilter, SessionInfo,
    SessionOptions, TaggedEvent,
};
use msrp_proto::endpoint::{Endpoint, EndpointConfig};
use msrp_proto::ids::{ParticipantId, SessionKey, WireIds};
use msrp_proto::media::{Identity, Policy, RemoteMedia};
use msrp_proto::relay::{Credentials, RELAY_SHARD};
use msrp_proto::session::SessionKind;

use crate::transport::admission::Admission;
pub use crate::transport::admission::ConnectionLimits;
pub use crate::transport::shard::DrainOutcome;
use crate::transport::shard::{self, ShardMsg, ShardSetup};
use crate::transport::tls::{SwitchCertificate, TlsSettings};
use crate::transport::ws::WsSettings;

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where MSRP is accepted; port 0 picks one (shared by every shard).
    pub listen: SocketAddr,
    /// Host written into local URIs; defaults to the listen address's IP.
    pub advertise_host: Option<String>,
    /// Shards (threads); 0 means one per core.
    pub shards: usize,
    /// Pin each shard to a core.
    pub pin_cores: bool,
    /// The switch settings each shard starts with (host and port are filled in).
    pub switch: EndpointConfig,
    /// Caps on accepted MSRP connections.
    pub connections: ConnectionLimits,
    /// MSRP over TLS (`msrps`): its listener and certificate; `None`: TCP only.
    pub tls: Option<TlsListen>,
    /// MSRP over WebSocket (RFC 7977, `;ws` URIs): its listener and upgrade
    /// rules; `None`: no WebSocket.
    pub ws: Option<WsListen>,
    /// MSRP over secure WebSocket (`msrps:...;ws`): TLS with the switch's
    /// certificate (needs `tls`), then the upgrade; `None`: none.
    pub wss: Option<WsListen>,
    /// Where and how large messages are stored (Large Message Mode).
    pub large_message: crate::transport::large::LargeMessageSettings,
    /// Frame capture: the HEP collector, what is captured.
    pub capture: crate::capture::CaptureSettings,
}

/// Where and how MSRP over WebSocket is accepted.
#[derive(Debug, Clone)]
pub struct WsListen {
    /// The WebSocket listener's address (port 0 picks one).
    pub listen: SocketAddr,
    /// The upgrade's rules and bounds.
    pub settings: WsSettings,
}

/// Where and with what certificate MSRP over TLS is accepted.
#[derive(Debug, Clone)]
pub struct TlsListen {
    /// The TLS listener's address (port 0 picks one).
    pub listen: SocketAddr,
    /// The certificate and handshake settings.
    pub settings: TlsSettings,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 2855)),
            advertise_host: None,
            shards: 0,
            pin_cores: true,
            switch: EndpointConfig::default(),
            connections: ConnectionLimits::default(),
            tls: None,
            ws: None,
            wss: None,
            large_message: crate::transport::large::LargeMessageSettings::default(),
            capture: crate::capture::CaptureSettings::default(),
        }
    }
}

/// Why an engine call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The switch refused the call; nothing changed.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The id names a shard this engine does not have.
    #[error("unknown id")]
    UnknownShard,
    /// The shard has stopped (shutdown).
    #[error("the engine is shutting down")]
    Stopped,
    /// The engine is draining: it takes no new sessions or participants.
    #[error("the switch is draining before it stops: no new sessions or participants")]
    Draining,
}

/// What a new session is placed beside ([`Engine::create_session_beside`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colocate {
    /// The shard of this session.
    Session(SessionKey),
    /// The shard of this participant.
    Participant(ParticipantId),
}

impl Colocate {
    /// The shard it names (ids carry their shard).
    pub fn shard(self) -> u8 {
        match self {
            Self::Session(key) => key.shard(),
            Self::Participant(id) => id.shard(),
        }
    }
}

/// Switch-wide counters (see [`Engine::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Open sessions.
    pub sessions: u64,
    /// Participants of open sessions.
    pub participants: u64,
    /// Open MSRP connections.
    pub connections: u64,
    /// Frames read.
    pub frames_received: u64,
    /// Frames written.
    pub frames_sent: u64,
    /// Bytes read.
    pub bytes_received: u64,
    /// Bytes written.
    pub bytes_sent: u64,
    /// Shards running.
    pub shards: usize,
}

/// A handle on the running shards; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    inboxes: Vec<mpsc::UnboundedSender<ShardMsg>>,
    metrics: Vec<Arc<ShardMetrics>>,
    events: broadcast::Sender<TaggedEvent>,
    /// The data plane's `max_uris_per_path`, which the control API applies to paths.
    max_uris_per_path: usize,
    local_addr: SocketAddr,
    /// The TLS listener's address and the switch's certificate, with TLS.
    tls: Option<(SocketAddr, Arc<SwitchCertificate>)>,
    /// Where MSRP over WebSocket is accepted, if it is.
    ws: Option<SocketAddr>,
    /// Where MSRP over secure WebSocket is accepted, if it is.
    wss: Option<SocketAddr>,
    next_shard: AtomicUsize,
    /// Set once [`Engine::drain`] starts.
    draining: AtomicBool,
    /// See [`Engine::max_connections`].
    max_connections: usize,
    /// The control API's families.
    control: Arc<metrics::control::ControlMetrics>,
    /// Where captured frames go.
    capture: Arc<crate::capture::Capture>,
    threads: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Engine {
    /// Binds the MSRP listeners (one per shard, `SO_REUSEPORT`) and starts the shards.
    pub fn start(config: EngineConfig) -> std::io::Result<Self> {
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let count = match config.shards {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .clamp(1, 62);
        // One instance per port: a socket without SO_REUSEPORT cannot bind where
        // another process's SO_REUSEPORT listeners are, so this probe fails (address
        // in use) instead of a second daemon silently sharing the port and taking a
        // share of the connections. It also picks the port when 0 is asked for.
        let probe = exclusive_probe(config.listen)?;
        let probed = probe.local_addr()?.as_socket().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "listen address is not IP")
        })?;
        drop(probe);
        let first = reuse_port_listener(probed)?;
        let local_addr = first.local_addr()?.as_socket().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "listen address is not IP")
        })?;
        let mut listeners = vec![first];
        for _ in 1..count {
            listeners.push(reuse_port_listener(local_addr)?);
        }
        let tls = match &config.tls {
            Some(tls) => Some(tls_listeners(tls, count)?),
            None => None,
        };
        let (tls_addr, tls_identity, mut tls_listeners) = match tls {
            Some((addr, identity, listeners)) => (Some(addr), Some(identity), listeners),
            None => (None, None, Vec::new()),
        };
        let (ws_addr, mut ws_listeners) = match &config.ws {
            Some(ws) => {
                let (addr, listeners) = port_listeners(ws.listen, count)?;
                (Some(addr), listeners)
            }
            None => (None, Vec::new()),
        };
        if config.wss.is_some() && tls_identity.is_none() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "secure WebSocket needs TLS (its certificate is the TLS listener's)",
            ));
        }
        let (wss_addr, mut wss_listeners) = match &config.wss {
            Some(wss) => {
                let (addr, listeners) = port_listeners(wss.listen, count)?;
                (Some(addr), listeners)
            }
            None => (None, Vec::new()),
        };
        let host = config
            .advertise_host
            .clone()
            .unwrap_or_else(|| local_addr.ip().to_string());
        let (events, _) = broadcast::channel(4096);
        let capture = crate::capture::Capture::start(config.capture.clone());
        let max_uris_per_path = config.switch.limits.max_uris_per_path;
        let id_base = match config.switch.id_base {
            0 | 1 => id_base_now(),
            given => given,
        };
        let nofile = crate::transport::admission::descriptor_limit();
        let admission = Admission::new(&config.connections, nofile);
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..count).map(|_| mpsc::unbounded_channel()).unzip();
        let mut metrics = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for (index, (listener, inbox)) in listeners.into_iter().zip(receivers).enumerate() {
            let shard_metrics = Arc::new(ShardMetrics::default());
            metrics.push(Arc::clone(&shard_metrics));
            let switch_config = EndpointConfig {
                local_host: host.clone(),
                local_port: local_addr.port(),
                tls_port: tls_addr.map(|addr| addr.port()),
                ws_port: ws_addr.map(|addr| addr.port()),
                wss_port: wss_addr.map(|addr| addr.port()),
                id_base,
                ..config.switch.clone()
            };
            let index = index as u8;
            let switch = Endpoint::new(
                switch_config,
                index,
                WireIds::from_os(),
                Arc::clone(&shard_metrics),
                std::time::Instant::now(),
            );
            let setup = ShardSetup {
                index,
                switch,
                listener: listener.into(),
                tls: tls_identity.as_ref().and_then(|identity| {
                    let listener = tls_listeners.pop()?;
                    Some((std::net::TcpListener::from(listener), Arc::clone(identity)))
                }),
                ws: config.ws.as_ref().and_then(|ws| {
                    let listener = ws_listeners.pop()?;
                    Some((std::net::TcpListener::from(listener), ws.settings.clone()))
                }),
                wss: config.wss.as_ref().and_then(|wss| {
                    let listener = wss_listeners.pop()?;
                    Some((std::net::TcpListener::from(listener), wss.settings.clone()))
                }),
                large_message: config.large_message.clone(),
                capture: Arc::clone(&capture),
                inbox,
                peers: senders.clone(),
                metrics: shard_metrics,
                events: events.clone(),
                core: config
                    .pin_cores
                    .then(|| cores.get(usize::from(index) % cores.len().max(1)).copied())
                    .flatten(),
                admission: Arc::clone(&admission),
            };
            let thread = std::thread::Builder::new()
                .name(format!("msrp-shard-{index}"))
                .spawn(move || shard::run(setup))?;
            threads.push(thread);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                inboxes: senders,
                metrics,
                events,
                max_uris_per_path,
                local_addr,
                tls: tls_addr.zip(tls_identity),
                ws: ws_addr,
                wss: wss_addr,
                next_shard: AtomicUsize::new(0),
                draining: AtomicBool::new(false),
                max_connections: admission.max_connections(),
                control: Arc::default(),
                capture,
                threads: std::sync::Mutex::new(threads),
            }),
        })
    }

    /// Where MSRP is accepted.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Where MSRP over TLS is accepted, if it is.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.inner.tls.as_ref().map(|(addr, _)| *addr)
    }

    /// Where MSRP over WebSocket is accepted, if it is.
    pub fn ws_addr(&self) -> Option<SocketAddr> {
        self.inner.ws
    }

    /// Where MSRP over secure WebSocket is accepted, if it is.
    pub fn wss_addr(&self) -> Option<SocketAddr> {
        self.inner.wss
    }

    /// The switch's TLS certificate (its fingerprint, reloading it), with TLS.
    pub fn tls_identity(&self) -> Option<&Arc<SwitchCertificate>> {
        self.inner.tls.as_ref().map(|(_, identity)| identity)
    }

    /// The MSRP connection cap in force (the configured one, or the descriptor
    /// limit less the reserve).
    pub fn max_connections(&self) -> usize {
        self.inner.max_connections
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.inner.inboxes.len()
    }

    /// Completes once every shard has run a no-op from its inbox: each shard's
    /// thread is alive and turning its loop (what the systemd watchdog checks).
    pub async fn ping_shards(&self) -> Result<(), EngineError> {
        for shard in 0..self.shards() {
            let shard = u8::try_from(shard).map_err(|_| EngineError::UnknownShard)?;
            self.on_shard(shard, |_, _| ()).await?;
        }
        Ok(())
    }

    /// Who may AUTH to the RFC 4976 relay: replaces the relay shard's credentials
    /// (grants already made stay).
    pub async fn set_relay_credentials(&self, credentials: Credentials) -> Result<(), EngineError> {
        self.on_shard(RELAY_SHARD, move |switch, _| {
            switch.set_relay_credentials(credentials)
        })
        .await
    }

    /// Relay URIs granted and held (RFC 4976).
    pub async fn relay_bindings(&self) -> Result<usize, EngineError> {
        self.on_shard(RELAY_SHARD, |switch, _| switch.relay_bindings())
            .await
    }

    /// Runs `call` on `shard`'s thread against its switch.
    async fn on_shard<R: Send + 'static>(
        &self,
        shard: u8,
        call: impl FnOnce(&mut Endpoint, Instant) -> R + Send + 'static,
    ) -> Result<R, EngineError> {
        let inbox = self
            .inner
            .inboxes
            .get(usize::from(shard))
            .ok_or(EngineError::UnknownShard)?;
        let (reply, answer) = oneshot::channel();
        let msg = ShardMsg::Control(Box::new(move |switch, now| {
            let _ = reply.send(call(switch, now));
        }));
        inbox.send(msg).map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)
    }

    /// Creates a session on the next shard in turn.
    pub async fn create_session(&self, kind: SessionKind) -> Result<SessionKey, EngineError> {
        self.create_session_with(kind, String::new(), Policy::default())
            .await
    }

    /// Creates a session with its group identity and policy.
    pub async fn create_session_with(
        &self,
        kind: SessionKind,
        group_identity: String,
        policy: Policy,
    ) -> Result<SessionKey, EngineError> {
        self.admit()?;
        let shard = self.inner.next_shard.fetch_add(1, Ordering::Relaxed) % self.shards();
        self.on_shard(shard as u8, move |switch, now| {
            switch.create_session_with(kind, group_identity, policy, now)
        })
        .await
    }

    /// Creates a session with everything the control API can give it.
    pub async fn create_session_opts(
        &self,
        kind: SessionKind,
        options: SessionOptions,
    ) -> Result<SessionKey, EngineError> {
        self.create_session_beside(kind, options, None).await
    }

    /// Creates a session on the shard of `beside` (an existing session or
    /// participant), or with `None` on the next shard in turn. A connection
    /// carries only sessions of its own shard, so sessions whose participants
    /// will share one (`a=connection:existing`) must be colocated.
    pub async fn create_session_beside(
        &self,
        kind: SessionKind,
        options: SessionOptions,
        beside: Option<Colocate>,
    ) -> Result<SessionKey, EngineError> {
        self.admit()?;
        let Some(beside) = beside else {
            let shard = self.inner.next_shard.fetch_add(1, Ordering::Relaxed) % self.shards();
            return self
                .on_shard(shard as u8, move |switch, now| {
                    switch.create_session_opts(kind, options, now)
                })
                .await;
        };
        self.on_shard(beside.shard(), move |switch, now| {
            // Only beside something that is there: a stale id is an error, not
            // a silent placement.
            match beside {
                Colocate::Session(key) => switch.session_info(key).map(drop)?,
                Colocate::Participant(id) => switch.participant_info(id).map(drop)?,
            }
            Ok(switch.create_session_opts(kind, options, now))
        })
        .await?
        .map_err(EngineError::Control)
    }

    /// Adds a participant: the switch answers its offer or offers to it.
    pub async fn add(
        &self,
        session: SessionKey,
        identity: Identity,
        negotiation: Negotiation,
        correlation_tag: String,
    ) -> Result<ParticipantInfo, EngineError> {
        self.admit()?;
        self.on_shard(session.shard(), move |switch, now| {
            switch.add(session, identity, negotiation, correlation_tag, now)
        })
        .await?
        .map_err(Into::into)
    }

    /// Gives a pending participant the remote answer to the switch's offer.
    pub async fn set_remote_answer(
        &self,
        id: ParticipantId,
        answer: RemoteMedia,
    ) -> Result<ParticipantInfo, EngineError> {
        self.on_shard(id.shard(), move |switch, now| {
            switch.set_remote_answer(id, answer, now)
        })
        .await?
        .map_err(Into::into)
    }

    /// Puts in force the answer to `id`'s offer selected from both legs.
    pub async fn answer_from_both(
        &self,
        id: ParticipantId,
        other: ParticipantId,
    ) -> Result<ParticipantInfo, EngineError> {
        self.on_shard(id.shard(), move |switch, _| {
            switch.answer_from_both_legs(id, other)
        })
        .await?
        .map_err(Into::into)
    }

    /// The participant whose local URI carries `session_id`, if any.
    pub async fn participant_by_session_id(
        &self,
        session_id: String,
    ) -> Result<Option<ParticipantId>, EngineError> {
        let Some(shard) = msrp_proto::ids::shard_of_session_id(&session_id)
            .filter(|&shard| usize::from(shard) < self.shards())
        else {
            return Ok(None);
        };
        self.on_shard(shard, move |switch, _| {
            switch.participant_by_session_id(&session_id)
        })
        .await
    }

    /// A page of sessions after `after` in key order (shard by shard), matching
    /// `filter`; the key to continue after, if more may follow.
    pub async fn list_sessions_page(
        &self,
        after: Option<SessionKey>,
        limit: usize,
        filter: SessionFilter,
    ) -> Result<(Vec<SessionInfo>, Option<SessionKey>), EngineError> {
        let filter = Arc::new(filter);
        let first = after.map_or(0, |key| usize::from(key.shard()));
        let mut page = Vec::new();
        for shard in first..self.shards() {
            let want = limit - page.len();
            let from = after.filter(|key| usize::from(key.shard()) == shard);
            let filter = Arc::clone(&filter);
            let (sessions, more) = self
                .on_shard(shard as u8, move |switch, _| {
                    switch.list_sessions(from, want, &filter)
                })
                .await?;
            page.extend(sessions);
            if more || page.len() == limit {
                let next = page.last().map(|s| s.key);
                return Ok((page, next));
            }
        }
        Ok((page, None))
    }

    /// The most URIs a path may hold (the data plane's limit, applied by the
    /// control API to the paths it is given).
    pub fn max_uris_per_path(&self) -> usize {
        self.inner.max_uris_per_path
    }

    /// Adds a participant; returns the switch's URI for it.
    pub async fn add_participant(
        &self,
        session: SessionKey,
        remote: RemoteMedia,
    ) -> Result<ParticipantInfo, EngineError> {
        self.admit()?;
        self.on_shard(session.shard(), move |switch, now| {
            switch.add_participant(session, remote, now)
        })
        .await?
        .map_err(Into::into)
    }

    /// Adds a participant with its identity.
    pub async fn add_participant_as(
        &self,
        session: SessionKey,
        identity: Identity,
        remote: RemoteMedia,
    ) -> Result<ParticipantInfo, EngineError> {
        self.admit()?;
        self.on_shard(session.shard(), move |switch, now| {
            switch.add_participant_as(session, identity, remote, now)
        })
        .await?
        .map_err(Into::into)
    }

    /// Stages the switch's own offer of a modification.
    pub async fn stage_offer(&self, id: ParticipantId) -> Result<ParticipantInfo, EngineError> {
        self.on_shard(id.shard(), move |switch, _| switch.stage_offer(id))
            .await?
            .map_err(Into::into)
    }

    /// Applies a staged modification, with the answer to a staged offer.
    pub async fn commit_modification_with(
        &self,
        id: ParticipantId,
        answer: Option<RemoteMedia>,
    ) -> Result<ParticipantInfo, EngineError> {
        self.on_shard(id.shard(), move |switch, now| {
            switch.commit_modification_with(id, answer, now)
        })
        .await?
        .map_err(Into::into)
    }

    /// Stages a modification until [`Engine::commit_modification_with`].
    pub async fn stage_modification(
        &self,
        id: ParticipantId,
        remote: RemoteMedia,
    ) -> Result<ParticipantInfo, EngineError> {
        self.on_shard(id.shard(), move |switch, _| {
            switch.stage_modification(id, remote)
        })
        .await?
        .map_err(Into::into)
    }

    /// Drops a staged modification.
    pub async fn abort_modification(&self, id: ParticipantId) -> Result<(), EngineError> {
        self.on_shard(id.shard(), move |switch, _| switch.abort_modification(id))
            .await?
            .map_err(Into::into)
    }

    /// Switch-wide counters, summed over shards.
    pub fn stats(&self) -> EngineStats {
        let load = |f: fn(&ShardMetrics) -> i64| -> u64 {
            self.inner.metrics.iter().map(|m| f(m)).sum::<i64>().max(0) as u64
        };
        use std::sync::atomic::Ordering::Relaxed;
        EngineStats {
            // Every kind: the core keeps one gauge per session kind.
            sessions: load(|m| {
                m.sessions_one_to_one.load(Relaxed)
                    + m.sessions_group.load(Relaxed)
                    + m.sessions_large_message.load(Relaxed)
            }),
            participants: load(|m| {
                m.participants_one_to_one.load(Relaxed)
                    + m.participants_group.load(Relaxed)
                    + m.participants_large_message.load(Relaxed)
            }),
            connections: load(|m| m.connections.load(Relaxed)),
            frames_received: load(|m| {
                m.frames_received
                    .iter()
                    .map(|c| c.load(Relaxed) as i64)
                    .sum()
            }),
            frames_sent: load(|m| m.frames_sent.iter().map(|c| c.load(Relaxed) as i64).sum()),
            bytes_received: load(|m| m.received_bytes.load(Relaxed) as i64),
            bytes_sent: load(|m| m.sent_bytes.load(Relaxed) as i64),
            shards: self.shards(),
        }
    }

    /// Replaces a participant's remote media.
    pub async fn modify_participant(
        &self,
        id: ParticipantId,
        remote: RemoteMedia,
    ) -> Result<ParticipantInfo, EngineError> {
        self.on_shard(id.shard(), move |switch, now| {
            switch.modify_participant(id, remote, now)
        })
        .await?
        .map_err(Into::into)
    }

    /// Removes a participant; returns its counters.
    pub async fn remove_participant(&self, id: ParticipantId) -> Result<Counters, EngineError> {
        self.on_shard(id.shard(), move |switch, _| switch.remove_participant(id))
            .await?
            .map_err(Into::into)
    }

    /// Releases a session; returns each participant's counters.
    pub async fn release_session(
        &self,
        key: SessionKey,
    ) -> Result<Vec<(ParticipantId, Counters)>, EngineError> {
        self.on_shard(key.shard(), move |switch, _| switch.release_session(key))
            .await?
            .map_err(Into::into)
    }

    /// A session's state.
    pub async fn session(&self, key: SessionKey) -> Result<SessionInfo, EngineError> {
        self.on_shard(key.shard(), move |switch, _| switch.session_info(key))
            .await?
            .map_err(Into::into)
    }

    /// A participant's state.
    pub async fn participant(&self, id: ParticipantId) -> Result<ParticipantInfo, EngineError> {
        self.on_shard(id.shard(), move |switch, _| switch.participant_info(id))
            .await?
            .map_err(Into::into)
    }

    /// Subscribes to control-plane events from every shard.
    pub fn subscribe(&self) -> broadcast::Receiver<TaggedEvent> {
        self.inner.events.subscribe()
    }

    /// The Prometheus text exposition of every metric, summed over shards.
    pub fn render_metrics(&self) -> String {
        metrics::render_with(
            &self.inner.metrics,
            &self.inner.control,
            Some(&self.inner.capture),
        )
    }

    /// Starts (`on`) or stops capturing `session`'s frames.
    pub async fn capture_session(&self, session: SessionKey, on: bool) -> Result<(), EngineError> {
        self.on_shard(session.shard(), move |switch, _| {
            switch.capture_session(session, on)
        })
        .await?
        .map_err(Into::into)
    }

    /// Every captured frame from now on (`WatchCapture`, `msrpctl trace`).
    pub fn watch_capture(&self) -> crate::capture::Watch {
        self.inner.capture.watch()
    }

    /// The capture sink (its counters).
    pub fn capture(&self) -> &crate::capture::Capture {
        &self.inner.capture
    }

    /// The control API's call counters and durations (both fronts record there).
    pub fn control_metrics(&self) -> &metrics::control::ControlMetrics {
        &self.inner.control
    }

    /// Refuses new sessions and participants once the engine drains.
    fn admit(&self) -> Result<(), EngineError> {
        if self.inner.draining.load(Ordering::Relaxed) {
            return Err(EngineError::Draining);
        }
        Ok(())
    }

    /// Drains every shard within `deadline`: no new sessions, participants or
    /// MSRP connections; forwarding goes on until nothing accepted is in flight,
    /// then what was not acknowledged is REPORTed, open chunks end with `#` and
    /// every connection closes once its output is written. Returns the shards'
    /// outcomes summed. Call [`Engine::shutdown`] after it.
    pub async fn drain(&self, deadline: std::time::Duration) -> DrainOutcome {
        self.inner.draining.store(true, Ordering::Relaxed);
        let start = Instant::now();
        // The last part of the deadline is for writing what the finish owes
        // (REPORTs, '#') and for peers to read it: a third of it, at most 5 s.
        let flush = (deadline / 3).min(std::time::Duration::from_secs(5));
        let exit_by = start + deadline;
        let finish_by = exit_by - flush;
        let mut answers = Vec::with_capacity(self.shards());
        for inbox in &self.inner.inboxes {
            let (done, answer) = oneshot::channel();
            let msg = ShardMsg::Drain {
                finish_by,
                exit_by,
                done,
            };
            if inbox.send(msg).is_ok() {
                answers.push(answer);
            }
        }
        let mut total = DrainOutcome {
            quiescent: true,
            ..DrainOutcome::default()
        };
        for answer in answers {
            let Ok(outcome) = answer.await else { continue };
            total.quiescent &= outcome.quiescent;
            total.reports += outcome.reports;
            total.unflushed += outcome.unflushed;
        }
        total
    }

    /// Stops every shard and waits for their threads.
    pub fn shutdown(&self) {
        for inbox in &self.inner.inboxes {
            let _ = inbox.send(ShardMsg::Shutdown);
        }
        let threads = match self.inner.threads.lock() {
            Ok(mut threads) => std::mem::take(&mut *threads),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// A socket bound (not listening) to `addr` without `SO_REUSEPORT`: fails if
/// anything listens there (a second daemon must not share the port), while
/// `SO_REUSEADDR` lets a restart bind over the last run's connections still in
/// TIME_WAIT.
fn exclusive_probe(addr: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// The TLS port's listeners, one per shard (bound like the TCP port's), and
/// the certificate they present.
fn tls_listeners(
    tls: &TlsListen,
    count: usize,
) -> std::io::Result<(SocketAddr, Arc<SwitchCertificate>, Vec<Socket>)> {
    let identity = SwitchCertificate::load(tls.settings.clone())
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err.to_string()))?;
    let probe = exclusive_probe(tls.listen)?;
    let probed = probe.local_addr()?.as_socket().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "TLS listen address is not IP",
        )
    })?;
    drop(probe);
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count {
        listeners.push(reuse_port_listener(probed)?);
    }
    Ok((probed, Arc::new(identity), listeners))
}

/// A further port's listeners (WebSocket), one per shard, bound as the TCP
/// port's are: exclusively probed, then `SO_REUSEPORT`.
fn port_listeners(listen: SocketAddr, count: usize) -> std::io::Result<(SocketAddr, Vec<Socket>)> {
    let probe = exclusive_probe(listen)?;
    let probed = probe.local_addr()?.as_socket().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "listen address is not IP")
    })?;
    drop(probe);
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count {
        listeners.push(reuse_port_listener(probed)?);
    }
    Ok((probed, listeners))
}

/// A non-blocking TCP listener with `SO_REUSEPORT`, so every shard accepts on the
/// same port and the kernel spreads connections over them.
fn reuse_port_listener(addr: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket)
}

/// The first id sequence number of a run started now: the Unix time in milliseconds
/// times 8,192. A restart continues above every id the former run issued unless it
/// issued more than 8,192 per millisecond of its life on one shard; the 56 bits of
/// an id's sequence hold such bases until the year 2248.
fn id_base_now() -> u64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
    (ms << 13).max(1)
}
