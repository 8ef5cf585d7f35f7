//! The control API (`msrpswitch.v1.SwitchControl`, defined in the control-api crate)
//! implemented on the engine: the only place where protobuf meets the switch.
//!
//! Each call validates and converts its arguments, runs one engine call on the shard
//! that owns the id, and converts the answer. A call that fails changes nothing: the
//! switch checks everything before it applies anything.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use control_api::auth::Auth;
use control_api::error as api;
use control_api::limits;
use control_api::pb;
use control_api::pb::switch_control_server::SwitchControl;
use control_api::placement::refresh::Placement;
use control_api::port::PortLimits;
use tokio::net::TcpListener;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::codec::MsrpUri;
use crate::engine::{Colocate, Engine, EngineError};
use crate::lifecycle::Lifecycle;
use msrp_proto::control::{
    ControlError, Counters, Event, Negotiation, ParticipantInfo, ReleaseReason, SessionFilter,
    SessionInfo, SessionOptions, TaggedEvent,
};
use msrp_proto::ids::{ParticipantId, SessionKey};
use msrp_proto::media::{
    self, ConnectionReuse, Identity, LocalMedia, Offered, OfferedSetup, OfferedTransport, Policy,
    RemoteMedia, SetupRole, SlowConsumer, Transport,
};
use msrp_proto::session::{SessionKind, SessionLimits};

/// Serves the control API for `engine` on `listener` until `shutdown`, over plain
/// HTTP/2. Refuses to serve beyond loopback without a token.
pub async fn serve_control(
    engine: Engine,
    listener: TcpListener,
    token: Option<String>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let lifecycle = Lifecycle::new(DEFAULT_DRAIN);
    serve_control_with(
        engine,
        listener,
        token.map_or_else(Auth::none, Auth::bearer),
        lifecycle,
        PortLimits::default(),
        shutdown,
    )
    .await
}

/// [`serve_control`] with the daemon's `auth` (token, TLS, client certificates)
/// and `limits`, within its `lifecycle`: the Drain call requests a drain there,
/// and once one begins health reports NOT_SERVING and every event stream ends.
/// Refuses to serve beyond loopback unless `auth` requires a token or client
/// certificates.
pub async fn serve_control_with(
    engine: Engine,
    listener: TcpListener,
    auth: Auth,
    lifecycle: Lifecycle,
    limits: PortLimits,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let service = ControlService::with_lifecycle(engine, lifecycle);
    serve_service(service, listener, auth, limits, shutdown).await
}

/// [`serve_control_with`] for a service already made (say, with its cluster's
/// [`Placement`]), within the service's lifecycle.
pub async fn serve_service(
    service: ControlService,
    listener: TcpListener,
    auth: Auth,
    limits: PortLimits,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    auth.check_exposure(listener.local_addr()?)
        .map_err(anyhow::Error::msg)?;
    let draining = service.lifecycle.draining();
    control_api::server::serve_with(
        listener,
        service,
        auth,
        limits,
        async move {
            draining.await;
        },
        shutdown,
    )
    .await?;
    Ok(())
}

/// The drain deadline of a service made without a lifecycle.
const DEFAULT_DRAIN: Duration = Duration::from_secs(30);

/// The `ErrorInfo.reason` of PlaceSession on a switch started without a
/// cluster.
const NO_CLUSTER: &str = "no_cluster";

/// The longest drain the Drain call accepts.
const MAX_DRAIN_SECONDS: u32 = 3600;

/// Events a watcher may fall behind by before they are dropped for it (it is
/// told how many): the engine's broadcast channel holds the rest.
const WATCH_BUFFER: usize = 64;

/// The service: a handle on the engine and on the daemon's lifecycle.
#[derive(Clone)]
pub struct ControlService {
    engine: Engine,
    lifecycle: Lifecycle,
    /// Anchor calls run one at a time (see `anchor.rs`).
    anchor: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The cluster's last refresh, from which PlaceSession answers; `None`
    /// without a cluster (no `--cluster-*` flag).
    placement: Option<Placement>,
}

impl ControlService {
    /// A service driving `engine`, with a lifecycle of its own.
    pub fn new(engine: Engine) -> Self {
        Self::with_lifecycle(engine, Lifecycle::new(DEFAULT_DRAIN))
    }

    /// A service driving `engine` within the daemon's `lifecycle`.
    pub fn with_lifecycle(engine: Engine, lifecycle: Lifecycle) -> Self {
        Self {
            engine,
            lifecycle,
            anchor: std::sync::Arc::default(),
            placement: None,
        }
    }

    /// This service answering PlaceSession from `placement` (the daemon's
    /// cluster refresher keeps it current).
    #[must_use]
    pub fn with_placement(mut self, placement: Placement) -> Self {
        self.placement = Some(placement);
        self
    }

    /// Runs `call`, timing it and counting its outcome under `method`.
    async fn measured<T>(
        &self,
        method: &'static str,
        call: impl Future<Output = Result<T, Status>>,
    ) -> Result<T, Status> {
        let started = std::time::Instant::now();
        let outcome = call.await;
        let code = match &outcome {
            Ok(_) => tonic::Code::Ok,
            Err(status) => status.code(),
        };
        self.engine
            .control_metrics()
            .record(method, code as usize, started.elapsed());
        outcome
    }

    /// The lock Anchor calls take.
    pub(super) fn anchor_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.anchor
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

type CaptureStream = Pin<Box<dyn Stream<Item = Result<pb::CapturedFrame, Status>> + Send>>;

/// A captured frame as the API gives it.
fn captured_to(frame: &crate::capture::CapturedFrame, frames_missed: u64) -> pb::CapturedFrame {
    use pb::captured_frame::Direction;
    let since = frame.time.duration_since(UNIX_EPOCH).unwrap_or_default();
    pb::CapturedFrame {
        timestamp_us: u64::try_from(since.as_micros()).unwrap_or(u64::MAX),
        direction: match frame.direction {
            crate::capture::Direction::Received => Direction::Received,
            crate::capture::Direction::Sent => Direction::Sent,
        } as i32,
        source: frame.source.to_string(),
        destination: frame.destination.to_string(),
        session_id: frame.session.to_string(),
        correlation_tag: frame.correlation.to_string(),
        frame: frame.frame.to_vec(),
        omitted_bytes: frame.omitted,
        frames_missed,
    }
}

/// The calls themselves; [`SwitchControl`] below times and counts each.
impl ControlService {
    async fn create_session_call(
        &self,
        request: Request<pb::CreateSessionRequest>,
    ) -> Result<Response<pb::CreateSessionResponse>, Status> {
        let peer = request.remote_addr();
        let request = request.into_inner();
        let kind = match pb::SessionKind::try_from(request.kind) {
            Ok(pb::SessionKind::OneToOne) => SessionKind::OneToOne,
            Ok(pb::SessionKind::Group) => {
                if request.group_identity.trim().is_empty() {
                    return Err(api::invalid_argument(
                        "group_identity",
                        "a group session needs its group identity (the chat room URI that \
                         CPIM To names for a public message)",
                    ));
                }
                SessionKind::Group
            }
            Ok(pb::SessionKind::LargeMessage) => SessionKind::LargeMessage,
            _ => {
                return Err(api::invalid_argument(
                    "kind",
                    "must be SESSION_KIND_ONE_TO_ONE, SESSION_KIND_GROUP or \
                     SESSION_KIND_LARGE_MESSAGE",
                ));
            }
        };
        limits::check_text(
            "group_identity",
            &request.group_identity,
            limits::MAX_ADDRESS_BYTES,
        )?;
        limits::check_text(
            "correlation_tag",
            &request.correlation_tag,
            limits::MAX_TAG_BYTES,
        )?;
        let policy = request
            .policy
            .map(policy_from)
            .transpose()?
            .unwrap_or_default();
        let seconds = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        let options = SessionOptions {
            group_identity: request.group_identity,
            policy,
            correlation_tag: request.correlation_tag,
            limits: SessionLimits {
                max_duration: seconds(request.max_duration_seconds),
                idle_release: seconds(request.idle_release_seconds),
            },
        };
        let beside = colocate(&request.colocate_with)?;
        let key = self
            .engine
            .create_session_beside(kind, options, beside)
            .await
            .map_err(status)?;
        audit("CreateSession", peer, &key.to_string(), "");
        Ok(Response::new(pb::CreateSessionResponse {
            session_id: key.to_string(),
        }))
    }

    async fn add_participant_call(
        &self,
        request: Request<pb::AddParticipantRequest>,
    ) -> Result<Response<pb::AddParticipantResponse>, Status> {
        let peer = request.remote_addr();
        let request = request.into_inner();
        let session = session_key(&request.session_id)?;
        let identity = request
            .identity
            .map(identity_from)
            .transpose()?
            .unwrap_or_default();
        limits::check_text(
            "correlation_tag",
            &request.correlation_tag,
            limits::MAX_TAG_BYTES,
        )?;
        let leg = |field: &'static str, text: &str| {
            (!text.is_empty())
                .then(|| participant_id_in(field, text))
                .transpose()
        };
        let offer_from = leg("offer_from", &request.offer_from)?;
        let answer_with = leg("answer_with", &request.answer_with)?;
        let (negotiation, remote_cema) = match request.remote {
            Some(remote) => {
                if offer_from.is_some() {
                    return Err(api::invalid_argument(
                        "offer_from",
                        "names the leg whose offer the switch forwards in its own offer; \
                         with remote media the switch answers instead (see answer_with)",
                    ));
                }
                let (offer, cema) = self.remote_media(Some(remote), Side::Offer)?;
                (Negotiation::Answer { offer, answer_with }, cema)
            }
            None => {
                if answer_with.is_some() {
                    return Err(api::invalid_argument(
                        "answer_with",
                        "an answer needs the remote side's offer in remote",
                    ));
                }
                // (transport, over WebSocket, spelled TCP/WS(S)/MSRP)
                let (transport, websocket, ws_proto) =
                    match pb::Transport::try_from(request.transport) {
                        Ok(pb::Transport::Unspecified) => (None, request.websocket, false),
                        Ok(pb::Transport::Tcp) => (Some(Transport::Tcp), request.websocket, false),
                        Ok(pb::Transport::Tls) => (Some(Transport::Tls), request.websocket, false),
                        Ok(pb::Transport::Ws) => (Some(Transport::Tcp), true, true),
                        Ok(pb::Transport::Wss) => (Some(Transport::Tls), true, true),
                        Err(_) => {
                            return Err(api::invalid_argument("transport", "unknown transport"));
                        }
                    };
                (
                    Negotiation::Offer {
                        offer_from,
                        transport,
                        websocket,
                        ws_proto,
                    },
                    false,
                )
            }
        };
        let info = self
            .engine
            .add(session, identity, negotiation, request.correlation_tag)
            .await
            .map_err(status)?;
        audit(
            "AddParticipant",
            peer,
            &session.to_string(),
            &info.id.to_string(),
        );
        Ok(Response::new(pb::AddParticipantResponse {
            participant_id: info.id.to_string(),
            local: Some(local_media(
                &info.local,
                remote_cema,
                self.fingerprint().as_deref(),
            )),
            pending: info.pending,
        }))
    }

    async fn set_remote_answer_call(
        &self,
        request: Request<pb::SetRemoteAnswerRequest>,
    ) -> Result<Response<pb::SetRemoteAnswerResponse>, Status> {
        let peer = request.remote_addr();
        let request = request.into_inner();
        let id = participant_id(&request.participant_id)?;
        let (answer, cema) = self.remote_media(request.remote, Side::Answer)?;
        let info = self
            .engine
            .set_remote_answer(id, answer)
            .await
            .map_err(status)?;
        audit(
            "SetRemoteAnswer",
            peer,
            &info.session.to_string(),
            &id.to_string(),
        );
        Ok(Response::new(pb::SetRemoteAnswerResponse {
            local: Some(local_media(
                &info.local,
                cema,
                self.fingerprint().as_deref(),
            )),
        }))
    }

    async fn answer_from_both_call(
        &self,
        request: Request<pb::AnswerFromBothRequest>,
    ) -> Result<Response<pb::AnswerFromBothResponse>, Status> {
        let peer = request.remote_addr();
        let request = request.into_inner();
        let id = participant_id(&request.participant_id)?;
        let other = participant_id_in("answer_with", &request.answer_with)?;
        let info = self
            .engine
            .answer_from_both(id, other)
            .await
            .map_err(status)?;
        audit(
            "AnswerFromBoth",
            peer,
            &info.session.to_string(),
            &id.to_string(),
        );
        Ok(Response::new(pb::AnswerFromBothResponse {
            local: Some(local_media(
                &info.local,
                false,
                self.fingerprint().as_deref(),
            )),
        }))
    }

    async fn modify_participant_call(
        &self,
        request: Request<pb::ModifyParticipantRequest>,
    ) -> Result<Response<pb::ModifyParticipantResponse>, Status> {
        let peer = request.remote_addr();
        let request = request.into_inner();
        let id = participant_id(&request.participant_id)?;
        if request.remote.is_none() && !request.commit {
            // The IM Server offers the modification: the switch's offer, staged.
            let info = self.engine.stage_offer(id).await.map_err(status)?;
            let staged = info
                .staged
                .ok_or_else(|| Status::internal("staged media missing"))?;
            audit(
                "ModifyParticipant",
                peer,
                &info.session.to_string(),
                &id.to_string(),
            );
            return Ok(Response::new(pb::ModifyParticipantResponse {
                local: Some(local_media(&staged, false, self.fingerprint().as_deref())),
                staged: true,
            }));
        }
        let (remote, remote_cema) = self.remote_media(request.remote, Side::Offer)?;
        let (local, staged) = if request.commit {
            let info = self
                .engine
                .modify_participant(id, remote)
                .await
                .map_err(status)?;
            (info.local, false)
        } else {
            let info = self
                .engine
                .stage_modification(id, remote)
                .await
                .map_err(status)?;
            let staged = info
                .staged
                .ok_or_else(|| Status::internal("staged media missing"))?;
            (staged, true)
        };
        audit("ModifyParticipant", peer, "", &id.to_string());
        Ok(Response::new(pb::ModifyParticipantResponse {
            local: Some(local_media(
                &local,
                remote_cema,
                self.fingerprint().as_deref(),
            )),
            staged,
        }))
    }

    async fn commit_modification_call(
        &self,
        request: Request<pb::CommitModificationRequest>,
    ) -> Result<Response<pb::ModifyParticipantResponse>, Status> {
        let peer = request.remote_addr();
        let request = request.into_inner();
        let id = participant_id(&request.participant_id)?;
        let answer = match request.remote {
            Some(remote) => Some(self.remote_media(Some(remote), Side::Answer)?.0),
            None => None,
        };
        let info = self
            .engine
            .commit_modification_with(id, answer)
            .await
            .map_err(status)?;
        audit(
            "CommitModification",
            peer,
            &info.session.to_string(),
            &id.to_string(),
        );
        Ok(Response::new(pb::ModifyParticipantResponse {
            local: Some(local_media(
                &info.local,
                false,
                self.fingerprint().as_deref(),
            )),
            staged: false,
        }))
    }

    async fn abort_modification_call(
        &self,
        request: Request<pb::AbortModificationRequest>,
    ) -> Result<Response<pb::AbortModificationResponse>, Status> {
        let peer = request.remote_addr();
        let id = participant_id(&request.into_inner().participant_id)?;
        self.engine.abort_modification(id).await.map_err(status)?;
        audit("AbortModification", peer, "", &id.to_string());
        Ok(Response::new(pb::AbortModificationResponse {}))
    }

    async fn remove_participant_call(
        &self,
        request: Request<pb::RemoveParticipantRequest>,
    ) -> Result<Response<pb::RemoveParticipantResponse>, Status> {
        let peer = request.remote_addr();
        let id = participant_id(&request.into_inner().participant_id)?;
        let counters = self.engine.remove_participant(id).await.map_err(status)?;
        audit("RemoveParticipant", peer, "", &id.to_string());
        Ok(Response::new(pb::RemoveParticipantResponse {
            counters: Some(counters_to(counters)),
        }))
    }

    async fn release_session_call(
        &self,
        request: Request<pb::ReleaseSessionRequest>,
    ) -> Result<Response<pb::ReleaseSessionResponse>, Status> {
        let peer = request.remote_addr();
        let key = session_key(&request.into_inner().session_id)?;
        let released = self.engine.release_session(key).await.map_err(status)?;
        let participants = released
            .into_iter()
            .map(|(id, counters)| pb::Participant {
                participant_id: id.to_string(),
                counters: Some(counters_to(counters)),
                ..pb::Participant::default()
            })
            .collect();
        audit("ReleaseSession", peer, &key.to_string(), "");
        Ok(Response::new(pb::ReleaseSessionResponse { participants }))
    }

    async fn get_session_call(
        &self,
        request: Request<pb::GetSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let key = session_key(&request.into_inner().session_id)?;
        let info = self.engine.session(key).await.map_err(status)?;
        Ok(Response::new(session_to(
            &info,
            self.fingerprint().as_deref(),
        )))
    }

    async fn get_participant_call(
        &self,
        request: Request<pb::GetParticipantRequest>,
    ) -> Result<Response<pb::Participant>, Status> {
        use pb::get_participant_request::Key;
        let id = match request.into_inner().key {
            Some(Key::ParticipantId(text)) => participant_id(&text)?,
            Some(Key::LocalUri(text)) => {
                limits::check_len("local_uri", &text, limits::MAX_URI_BYTES)?;
                let uri = MsrpUri::parse_str(&text).map_err(|err| {
                    api::invalid_argument("local_uri", format!("{}: {err}", limits::quote(&text)))
                })?;
                let sid = uri.session_id().ok_or_else(|| {
                    api::invalid_argument("local_uri", "has no session-id (the path's last part)")
                })?;
                self.by_session_id("local_uri", sid).await?
            }
            Some(Key::MsrpSessionId(sid)) => {
                limits::check_len("msrp_session_id", &sid, limits::MAX_ID_BYTES)?;
                self.by_session_id("msrp_session_id", &sid).await?
            }
            None => {
                return Err(api::invalid_argument(
                    "key",
                    "give participant_id, local_uri or msrp_session_id",
                ));
            }
        };
        let info = self.engine.participant(id).await.map_err(status)?;
        Ok(Response::new(participant_to(
            &info,
            self.fingerprint().as_deref(),
        )))
    }

    async fn list_sessions_call(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let request = request.into_inner();
        let page_size = match request.page_size {
            0 => limits::DEFAULT_PAGE_SIZE,
            n if n <= limits::MAX_PAGE_SIZE => n,
            n => {
                return Err(api::invalid_argument(
                    "page_size",
                    format!("{n} is more than {}", limits::MAX_PAGE_SIZE),
                ));
            }
        };
        let after = match request.page_token.as_str() {
            "" => None,
            token => Some(SessionKey::from_str(token).map_err(|_| {
                api::invalid_argument(
                    "page_token",
                    format!(
                        "{} is not a next_page_token this switch gave",
                        limits::quote(token)
                    ),
                )
            })?),
        };
        let kind = match pb::SessionKind::try_from(request.kind) {
            Ok(pb::SessionKind::Unspecified) => None,
            Ok(pb::SessionKind::OneToOne) => Some(SessionKind::OneToOne),
            Ok(pb::SessionKind::Group) => Some(SessionKind::Group),
            Ok(pb::SessionKind::LargeMessage) => Some(SessionKind::LargeMessage),
            Err(_) => return Err(api::invalid_argument("kind", "unknown session kind")),
        };
        limits::check_text("im_address", &request.im_address, limits::MAX_ADDRESS_BYTES)?;
        limits::check_text(
            "correlation_tag",
            &request.correlation_tag,
            limits::MAX_TAG_BYTES,
        )?;
        let given = |text: String| (!text.is_empty()).then_some(text);
        let filter = SessionFilter {
            kind,
            im_address: given(request.im_address),
            correlation_tag: given(request.correlation_tag),
        };
        let (page, next) = self
            .engine
            .list_sessions_page(after, page_size as usize, filter)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListSessionsResponse {
            sessions: page
                .iter()
                .map(|info| session_to(info, self.fingerprint().as_deref()))
                .collect(),
            next_page_token: next.map(|key| key.to_string()).unwrap_or_default(),
        }))
    }

    async fn stats_call(
        &self,
        _request: Request<pb::StatsRequest>,
    ) -> Result<Response<pb::StatsResponse>, Status> {
        let stats = self.engine.stats();
        Ok(Response::new(pb::StatsResponse {
            sessions: stats.sessions,
            participants: stats.participants,
            connections: stats.connections,
            frames_received: stats.frames_received,
            frames_sent: stats.frames_sent,
            bytes_received: stats.bytes_received,
            bytes_sent: stats.bytes_sent,
            shards: u32::try_from(stats.shards).unwrap_or(u32::MAX),
        }))
    }

    async fn watch_events_call(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let filter = match request.into_inner().session_id.as_str() {
            "" => None,
            text => Some(session_key(text)?),
        };
        // Subscribed before the check, so nothing between the two is missed.
        let receiver = self.engine.subscribe();
        if let Some(key) = filter {
            self.engine.session(key).await.map_err(status)?;
        }
        // The engine's broadcast channel is bounded: a watcher that falls behind does
        // not slow the switch, it is told how many events it missed.
        let events = BroadcastStream::new(receiver).filter_map(move |event| match event {
            Ok(event) if filter.is_none_or(|key| key == event.event.session()) => {
                Some(Ok(event_to(&event)))
            }
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(count)) => Some(Ok(pb::Event {
                timestamp_ms: now_ms(),
                kind: Some(pb::event::Kind::EventsMissed(pb::EventsMissed { count })),
                ..pb::Event::default()
            })),
        });
        // A drain ends every stream, after telling it why: a stream left open
        // would hold the server's graceful stop for ever.
        let (sender, stream) = tokio::sync::mpsc::channel(WATCH_BUFFER);
        tokio::spawn(forward_until_drain(
            events,
            sender,
            self.lifecycle.draining(),
            draining_event,
        ));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(stream),
        )))
    }

    async fn start_capture_call(
        &self,
        request: Request<pb::StartCaptureRequest>,
    ) -> Result<Response<pb::StartCaptureResponse>, Status> {
        let peer = request.remote_addr();
        let key = session_key(&request.into_inner().session_id)?;
        self.engine
            .capture_session(key, true)
            .await
            .map_err(status)?;
        audit("StartCapture", peer, &key.to_string(), "");
        Ok(Response::new(pb::StartCaptureResponse {}))
    }

    async fn stop_capture_call(
        &self,
        request: Request<pb::StopCaptureRequest>,
    ) -> Result<Response<pb::StopCaptureResponse>, Status> {
        let peer = request.remote_addr();
        let key = session_key(&request.into_inner().session_id)?;
        self.engine
            .capture_session(key, false)
            .await
            .map_err(status)?;
        audit("StopCapture", peer, &key.to_string(), "");
        Ok(Response::new(pb::StopCaptureResponse {}))
    }

    async fn watch_capture_call(
        &self,
        request: Request<pb::WatchCaptureRequest>,
    ) -> Result<Response<CaptureStream>, Status> {
        let filter = match request.into_inner().session_id.as_str() {
            "" => None,
            text => Some(session_key(text)?),
        };
        let (receiver, watching) = self.engine.watch_capture().into_parts();
        if let Some(key) = filter {
            self.engine.session(key).await.map_err(status)?;
        }
        let mut missed = 0;
        let frames = BroadcastStream::new(receiver).filter_map(move |frame| {
            // The watch stays counted for as long as its stream lives.
            let _watching = &watching;
            match frame {
                Ok(frame) if filter.is_none_or(|key| key == frame.session) => {
                    let frames_missed = std::mem::take(&mut missed);
                    Some(Ok(captured_to(&frame, frames_missed)))
                }
                Ok(_) => None,
                Err(BroadcastStreamRecvError::Lagged(count)) => {
                    missed += count;
                    None
                }
            }
        });
        // Ends at a drain, as event streams do (without a farewell frame).
        let (sender, stream) = tokio::sync::mpsc::channel(WATCH_BUFFER);
        tokio::spawn(forward_until_drain(
            frames,
            sender,
            self.lifecycle.draining(),
            |_| None,
        ));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(stream),
        )))
    }

    async fn anchor_rpc(
        &self,
        request: Request<pb::AnchorRequest>,
    ) -> Result<Response<pb::AnchorResponse>, Status> {
        let peer = request.remote_addr();
        let response = self.anchor_call(peer, request.into_inner()).await?;
        Ok(Response::new(response))
    }

    /// Answers from the last refresh's snapshot: hashing the tag over a few
    /// nodes, no network call, so the call is cheap and bounded whatever the
    /// other nodes do.
    async fn place_session_call(
        &self,
        request: Request<pb::PlaceSessionRequest>,
    ) -> Result<Response<pb::PlaceSessionResponse>, Status> {
        let tag = request.into_inner().correlation_tag;
        if tag.is_empty() {
            return Err(api::invalid_argument(
                "correlation_tag",
                "required: the new session's correlation tag (the SIP Call-ID, a group's \
                 identity), which its node is chosen by",
            ));
        }
        limits::check_text("correlation_tag", &tag, limits::MAX_TAG_BYTES)?;
        let Some(placement) = &self.placement else {
            return Err(api::failed_precondition(
                NO_CLUSTER,
                "this switch knows no cluster: start it with --cluster-node (repeated), \
                 --cluster-srv or --cluster-kubernetes to place sessions across nodes",
            ));
        };
        let snapshot = placement.snapshot();
        match snapshot.place(&tag) {
            Some(placed) => Ok(Response::new(placed)),
            None => Err(api::unavailable(snapshot.why_none())),
        }
    }

    async fn drain_call(
        &self,
        request: Request<pb::DrainRequest>,
    ) -> Result<Response<pb::DrainResponse>, Status> {
        let peer = request.remote_addr();
        let seconds = request.into_inner().deadline_seconds;
        if seconds > MAX_DRAIN_SECONDS {
            return Err(api::invalid_argument(
                "deadline_seconds",
                format!("{seconds} is over the limit of {MAX_DRAIN_SECONDS}"),
            ));
        }
        let wanted = (seconds > 0).then(|| Duration::from_secs(u64::from(seconds)));
        let deadline = self.lifecycle.request_drain(wanted);
        audit("Drain", peer, "", "");
        Ok(Response::new(pb::DrainResponse {
            deadline_seconds: u32::try_from(deadline.as_secs()).unwrap_or(u32::MAX),
        }))
    }
}

/// Every call timed and counted by method and outcome
/// (`msrp_switch_control_calls_total`, `msrp_switch_control_call_duration_seconds`),
/// whichever front (gRPC, HTTP/JSON) made it.
/// The service: each RPC's trait method runs its handler through
/// [`ControlService::measured`] (the impl is generated whole, so that
/// `async_trait` sees the methods).
macro_rules! measured_service {
    ($($method:ident($request:ty) -> $response:ty = $name:literal $handler:ident,)*) => {
        #[tonic::async_trait]
        impl SwitchControl for ControlService {
            type WatchEventsStream = EventStream;
            type WatchCaptureStream = CaptureStream;
            $(
                async fn $method(
                    &self,
                    request: Request<$request>,
                ) -> Result<Response<$response>, Status> {
                    self.measured($name, self.$handler(request)).await
                }
            )*
        }
    };
}

measured_service! {
    start_capture(pb::StartCaptureRequest) -> pb::StartCaptureResponse = "StartCapture" start_capture_call,
    stop_capture(pb::StopCaptureRequest) -> pb::StopCaptureResponse = "StopCapture" stop_capture_call,
    watch_capture(pb::WatchCaptureRequest) -> CaptureStream = "WatchCapture" watch_capture_call,
    stats(pb::StatsRequest) -> pb::StatsResponse = "Stats" stats_call,
    create_session(pb::CreateSessionRequest) -> pb::CreateSessionResponse = "CreateSession" create_session_call,
    add_participant(pb::AddParticipantRequest) -> pb::AddParticipantResponse = "AddParticipant" add_participant_call,
    set_remote_answer(pb::SetRemoteAnswerRequest) -> pb::SetRemoteAnswerResponse = "SetRemoteAnswer" set_remote_answer_call,
    answer_from_both(pb::AnswerFromBothRequest) -> pb::AnswerFromBothResponse = "AnswerFromBoth" answer_from_both_call,
    modify_participant(pb::ModifyParticipantRequest) -> pb::ModifyParticipantResponse = "ModifyParticipant" modify_participant_call,
    commit_modification(pb::CommitModificationRequest) -> pb::ModifyParticipantResponse = "CommitModification" commit_modification_call,
    abort_modification(pb::AbortModificationRequest) -> pb::AbortModificationResponse = "AbortModification" abort_modification_call,
    remove_participant(pb::RemoveParticipantRequest) -> pb::RemoveParticipantResponse = "RemoveParticipant" remove_participant_call,
    release_session(pb::ReleaseSessionRequest) -> pb::ReleaseSessionResponse = "ReleaseSession" release_session_call,
    get_session(pb::GetSessionRequest) -> pb::Session = "GetSession" get_session_call,
    get_participant(pb::GetParticipantRequest) -> pb::Participant = "GetParticipant" get_participant_call,
    list_sessions(pb::ListSessionsRequest) -> pb::ListSessionsResponse = "ListSessions" list_sessions_call,
    watch_events(pb::WatchEventsRequest) -> EventStream = "WatchEvents" watch_events_call,
    anchor(pb::AnchorRequest) -> pb::AnchorResponse = "Anchor" anchor_rpc,
    drain(pb::DrainRequest) -> pb::DrainResponse = "Drain" drain_call,
    place_session(pb::PlaceSessionRequest) -> pb::PlaceSessionResponse = "PlaceSession" place_session_call,
}

/// Copies `items` to a watcher until the stream or the watcher ends, or a drain
/// begins: then the watcher gets `farewell(deadline)` (if it makes one) and its
/// stream ends.
async fn forward_until_drain<T: Send + 'static>(
    items: impl Stream<Item = Result<T, Status>> + Send + 'static,
    sender: tokio::sync::mpsc::Sender<Result<T, Status>>,
    draining: impl Future<Output = Duration>,
    farewell: impl FnOnce(Duration) -> Option<T>,
) {
    let mut items = Box::pin(items);
    tokio::pin!(draining);
    let deadline = loop {
        tokio::select! {
            deadline = &mut draining => break deadline,
            item = items.next() => {
                let Some(item) = item else { return };
                tokio::select! {
                    sent = sender.send(item) => if sent.is_err() { return },
                    deadline = &mut draining => break deadline,
                }
            }
        }
    };
    // A watcher too far behind to take even this is ended without it.
    if let Some(last) = farewell(deadline) {
        let _ = sender.try_send(Ok(last));
    }
}

/// The `Draining` event an event stream ends with.
fn draining_event(deadline: Duration) -> Option<pb::Event> {
    Some(pb::Event {
        timestamp_ms: now_ms(),
        kind: Some(pb::event::Kind::Draining(pb::Draining {
            deadline_seconds: u32::try_from(deadline.as_secs()).unwrap_or(u32::MAX),
        })),
        ..pb::Event::default()
    })
}

/// The audit line of a control call that changed state: which call, from where,
/// on which session and participant (empty when the call names none), at info
/// under the `msrp_switch::audit` target so it can be routed or filtered apart.
fn audit(call: &'static str, peer: Option<std::net::SocketAddr>, session: &str, participant: &str) {
    tracing::info!(
        target: "msrp_switch::audit",
        call,
        peer = %peer.map_or_else(|| "-".to_owned(), |p| p.to_string()),
        session,
        participant,
        "control call"
    );
}

/// Maps an engine error onto the status the API documents.
fn status(err: EngineError) -> Status {
    match err {
        EngineError::Control(ControlError::NoSuchSession(key)) => {
            api::not_found("session", &key.to_string())
        }
        EngineError::Control(ControlError::NoSuchParticipant(id)) => {
            api::not_found("participant", &id.to_string())
        }
        EngineError::Control(ControlError::SessionFull(key)) => api::failed_precondition(
            "session_full",
            format!("session {key} already has the participants its kind allows"),
        ),
        EngineError::Control(ControlError::NotAcceptable(why)) => api::not_acceptable_here(why),
        EngineError::Control(ControlError::NothingStaged(id)) => api::failed_precondition(
            "nothing_staged",
            format!("participant {id} has no staged modification"),
        ),
        EngineError::Control(err @ ControlError::OfferPending(_)) => {
            api::failed_precondition("offer_pending", err.to_string())
        }
        EngineError::Control(err @ ControlError::NoOfferPending(_)) => {
            api::failed_precondition("no_offer_pending", err.to_string())
        }
        EngineError::Control(ControlError::InvalidArgument { field, reason }) => {
            api::invalid_argument(&request_field(field), reason)
        }
        EngineError::UnknownShard => api::not_found("resource", "(id names no shard here)"),
        EngineError::Stopped => api::unavailable("the switch is shutting down"),
        EngineError::Draining => api::unavailable(
            "the switch is draining before it stops: no new sessions or participants",
        ),
    }
}

/// The request field an engine [`ControlError::InvalidArgument`] names. The engine
/// names the remote media's fields by their own names (`path`), which live under
/// `remote` in the request, and the participant's identity by its request path
/// (`identity.im_address`), which must not gain a `remote.` prefix.
fn request_field(field: &str) -> String {
    if field == "identity"
        || field.starts_with("identity.")
        || field == "answer_with"
        || field == "offer_from"
        || field == "remote"
    {
        field.to_owned()
    } else {
        format!("remote.{field}")
    }
}

fn session_key(text: &str) -> Result<SessionKey, Status> {
    SessionKey::from_str(text).map_err(|_| {
        api::invalid_argument(
            "session_id",
            format!("{} is not a session id", limits::quote(text)),
        )
    })
}

/// CreateSession's `colocate_with`: a session or participant id, or nothing.
fn colocate(text: &str) -> Result<Option<Colocate>, Status> {
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(key) = SessionKey::from_str(text) {
        return Ok(Some(Colocate::Session(key)));
    }
    if let Ok(id) = ParticipantId::from_str(text) {
        return Ok(Some(Colocate::Participant(id)));
    }
    Err(api::invalid_argument(
        "colocate_with",
        format!(
            "{} is neither a session id (s-...) nor a participant id (p-...)",
            limits::quote(text)
        ),
    ))
}

fn participant_id(text: &str) -> Result<ParticipantId, Status> {
    participant_id_in("participant_id", text)
}

fn participant_id_in(field: &str, text: &str) -> Result<ParticipantId, Status> {
    ParticipantId::from_str(text).map_err(|_| {
        api::invalid_argument(
            field,
            format!("{} is not a participant id", limits::quote(text)),
        )
    })
}

impl ControlService {
    /// The participant whose local URI has session-id `sid`, or NOT_FOUND.
    async fn by_session_id(&self, field: &str, sid: &str) -> Result<ParticipantId, Status> {
        self.engine
            .participant_by_session_id(sid.to_owned())
            .await
            .map_err(status)?
            .ok_or_else(|| api::not_found("participant", &format!("with {field} {sid}")))
    }

    /// The switch's certificate fingerprint (`sha-256 AB:...`), with TLS.
    fn fingerprint(&self) -> Option<String> {
        self.engine
            .tls_identity()
            .map(|certificate| certificate.fingerprint().to_string())
    }

    /// The remote side's media, from structured fields or SDP text, checked (the
    /// path against the data plane's `max_uris_per_path`); and whether it signalled
    /// CEMA (echoed in the switch's media).
    fn remote_media(
        &self,
        remote: Option<pb::RemoteMedia>,
        side: Side,
    ) -> Result<(RemoteMedia, bool), Status> {
        remote_media(remote, side, self.engine.max_uris_per_path())
    }
}

/// Whose SDP the remote media are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// The remote side's offer: the switch answers.
    Offer,
    /// The remote side's answer to the switch's offer.
    Answer,
}

fn policy_from(policy: pb::Policy) -> Result<Policy, Status> {
    limits::check_media_types("policy.accept_types", &policy.accept_types)?;
    limits::check_media_types("policy.accept_wrapped_types", &policy.accept_wrapped_types)?;
    let slow_consumer = match pb::SlowConsumer::try_from(policy.slow_consumer) {
        Ok(pb::SlowConsumer::Drop) => SlowConsumer::Drop,
        Ok(pb::SlowConsumer::Pause) => SlowConsumer::Pause,
        Err(_) => {
            return Err(api::invalid_argument(
                "policy.slow_consumer",
                "unknown slow-consumer policy",
            ));
        }
    };
    Ok(Policy {
        accept_types: policy.accept_types,
        accept_wrapped_types: policy.accept_wrapped_types,
        max_size: (policy.max_size > 0).then_some(policy.max_size),
        min_max_size: (policy.min_max_size > 0).then_some(policy.min_max_size),
        private_messages: policy.private_messages,
        nicknames: policy.nicknames,
        slow_consumer,
    })
}

fn identity_from(identity: pb::Identity) -> Result<Identity, Status> {
    limits::check_text(
        "identity.im_address",
        &identity.im_address,
        limits::MAX_ADDRESS_BYTES,
    )?;
    limits::check_text(
        "identity.privacy_alias",
        &identity.privacy_alias,
        limits::MAX_ADDRESS_BYTES,
    )?;
    Ok(Identity {
        im_address: identity.im_address,
        privacy_alias: (!identity.privacy_alias.is_empty()).then_some(identity.privacy_alias),
    })
}

/// Every limit of a media description given to the switch (see the proto).
fn check_media(media: &pb::Media, max_uris: usize) -> Result<(), Status> {
    limits::check_count("remote.path", &media.path, max_uris)?;
    for (i, uri) in media.path.iter().enumerate() {
        limits::check_text(&format!("remote.path[{i}]"), uri, limits::MAX_URI_BYTES)?;
    }
    limits::check_media_types("remote.accept_types", &media.accept_types)?;
    limits::check_media_types("remote.accept_wrapped_types", &media.accept_wrapped_types)?;
    limits::check_tokens("remote.chatroom", &media.chatroom)?;
    for (field, value) in [
        ("remote.connection", &media.connection),
        ("remote.fingerprint", &media.fingerprint),
        ("remote.connection_address", &media.connection_address),
        ("remote.direction", &media.direction),
    ] {
        limits::check_text(field, value, limits::MAX_ATTRIBUTE_BYTES)?;
    }
    Ok(())
}

/// The remote side's media, from structured fields or SDP text, checked; and whether
/// it signalled CEMA (echoed in the answer).
fn remote_media(
    remote: Option<pb::RemoteMedia>,
    side: Side,
    max_uris: usize,
) -> Result<(RemoteMedia, bool), Status> {
    let media = match remote.and_then(|r| r.media) {
        Some(pb::remote_media::Media::Structured(media)) => media,
        Some(pb::remote_media::Media::Sdp(text)) => {
            limits::check_len("remote.sdp", &text, limits::MAX_SDP_BYTES)?;
            control_api::sdp::parse_media_section(&text).map_err(|err| {
                if err.is_not_acceptable() {
                    api::not_acceptable_here(err.to_string())
                } else {
                    api::invalid_argument("remote.sdp", format!("{}: {err}", err.field()))
                }
            })?
        }
        None => {
            return Err(api::invalid_argument(
                "remote",
                "give the remote media, structured or as the SDP m=message section",
            ));
        }
    };
    check_media(&media, max_uris)?;
    // Syntax here (each URI parsed, enums known); the media rules are msrp-proto's,
    // shared with every control front.
    let mut path = Vec::with_capacity(media.path.len());
    for (i, text) in media.path.iter().enumerate() {
        let uri = MsrpUri::parse_str(text).map_err(|err| {
            api::invalid_argument(&format!("remote.path[{i}]"), format!("{text:?}: {err}"))
        })?;
        path.push(uri);
    }
    let transport = match pb::Transport::try_from(media.transport) {
        Ok(pb::Transport::Unspecified) => OfferedTransport::Unspecified,
        Ok(pb::Transport::Tcp) => OfferedTransport::Tcp,
        Ok(pb::Transport::Tls) => OfferedTransport::Tls,
        Ok(pb::Transport::Ws) => OfferedTransport::WebSocket,
        Ok(pb::Transport::Wss) => OfferedTransport::SecureWebSocket,
        Err(_) => {
            return Err(api::invalid_argument(
                "remote.transport",
                "unknown transport",
            ));
        }
    };
    let setup = match pb::Setup::try_from(media.setup) {
        Ok(pb::Setup::Unspecified) => OfferedSetup::Unspecified,
        Ok(pb::Setup::Active) => OfferedSetup::Active,
        Ok(pb::Setup::Passive) => OfferedSetup::Passive,
        Ok(pb::Setup::Actpass) => OfferedSetup::Actpass,
        Ok(pb::Setup::Holdconn) => OfferedSetup::Holdconn,
        Err(_) => return Err(api::invalid_argument("remote.setup", "unknown setup value")),
    };
    let connection = ConnectionReuse::from_sdp(&media.connection).ok_or_else(|| {
        api::invalid_argument("remote.connection", "must be new or existing (RFC 4145 §5)")
    })?;
    let cema = media.cema;
    let offered = Offered {
        path,
        accept_types: media.accept_types,
        accept_wrapped_types: media.accept_wrapped_types,
        max_size: (media.max_size > 0).then_some(media.max_size),
        setup,
        transport,
        cema,
        // The SDP reader keeps the strongest a=fingerprint line; the API carries one.
        fingerprints: (!media.fingerprint.is_empty())
            .then(|| media.fingerprint.clone())
            .into_iter()
            .collect(),
        media_address: (!media.connection_address.is_empty() && media.port > 0)
            .then(|| {
                u16::try_from(media.port)
                    .ok()
                    .map(|port| (media.connection_address.clone(), port))
            })
            .flatten(),
        connection,
    };
    let checked = match side {
        Side::Offer => media::remote_media(offered),
        Side::Answer => media::remote_answer(offered),
    };
    let remote = checked.map_err(|err| {
        if err.not_acceptable {
            api::not_acceptable_here(err.reason)
        } else {
            api::invalid_argument(err.field, err.reason)
        }
    })?;
    Ok((remote, cema))
}

/// The switch's answer, structured and as SDP lines.
fn local_media(local: &LocalMedia, cema: bool, fingerprint: Option<&str>) -> pb::LocalMedia {
    let websocket = local.uri.transport().eq_ignore_ascii_case("ws");
    let structured = pb::Media {
        path: vec![local.uri.to_string()],
        accept_types: local.accept_types.clone(),
        accept_wrapped_types: local.accept_wrapped_types.clone(),
        max_size: local.max_size.unwrap_or(0),
        setup: match local.setup {
            Some(SetupRole::Passive) => pb::Setup::Passive,
            Some(SetupRole::Active) => pb::Setup::Active,
            // The switch's own offer to a WebSocket client: it connects
            // (RFC 7977 §5.3), so the switch only listens.
            None if websocket => pb::Setup::Passive,
            // The switch's own offer (RFC 6135): the answer decides.
            None => pb::Setup::Actpass,
        } as i32,
        // `existing` only when the switch reuses a connection (media.rs).
        connection: local.connection.as_sdp().into(),
        cema,
        transport: match (local.transport, local.ws_proto) {
            (Transport::Tcp, false) => pb::Transport::Tcp,
            (Transport::Tls, false) => pb::Transport::Tls,
            (Transport::Tcp, true) => pb::Transport::Ws,
            (Transport::Tls, true) => pb::Transport::Wss,
        } as i32,
        // RFC 8122: a TLS participant pins the switch's certificate.
        fingerprint: match local.transport {
            Transport::Tls => fingerprint.unwrap_or_default().to_owned(),
            Transport::Tcp => String::new(),
        },
        connection_address: local.uri.host().to_string(),
        port: u32::from(local.uri.port().unwrap_or(2855)),
        chatroom: local.chatroom.clone(),
        ..pb::Media::default()
    };
    let sdp = control_api::sdp::format_media_section(&structured);
    pb::LocalMedia {
        structured: Some(structured),
        sdp,
    }
}

fn counters_to(counters: Counters) -> pb::Counters {
    pb::Counters {
        frames_in: counters.frames_in,
        bytes_in: counters.bytes_in,
        frames_out: counters.frames_out,
        bytes_out: counters.bytes_out,
    }
}

fn participant_to(info: &ParticipantInfo, fingerprint: Option<&str>) -> pb::Participant {
    pb::Participant {
        participant_id: info.id.to_string(),
        identity: Some(pb::Identity {
            im_address: info.identity.im_address.clone(),
            privacy_alias: info.identity.privacy_alias.clone().unwrap_or_default(),
        }),
        local_uri: info.local_uri.to_string(),
        bound: info.bound,
        counters: Some(counters_to(info.counters)),
        modification_staged: info.staged.is_some(),
        pending: info.pending,
        correlation_tag: info.correlation_tag.to_string(),
        local: Some(local_media(&info.local, false, fingerprint)),
        session_id: info.session.to_string(),
    }
}

fn session_to(info: &SessionInfo, fingerprint: Option<&str>) -> pb::Session {
    pb::Session {
        session_id: info.key.to_string(),
        kind: match info.kind {
            SessionKind::OneToOne => pb::SessionKind::OneToOne,
            SessionKind::Group => pb::SessionKind::Group,
            SessionKind::LargeMessage => pb::SessionKind::LargeMessage,
        } as i32,
        group_identity: info.group_identity.clone(),
        participants: info
            .participants
            .iter()
            .map(|p| participant_to(p, fingerprint))
            .collect(),
        policy: Some(policy_to(&info.policy)),
        correlation_tag: info.correlation_tag.to_string(),
        max_duration_seconds: info.limits.max_duration.map_or(0, |d| d.as_secs()),
        idle_release_seconds: info.limits.idle_release.map_or(0, |d| d.as_secs()),
    }
}

fn policy_to(policy: &Policy) -> pb::Policy {
    pb::Policy {
        accept_types: policy.accept_types.clone(),
        accept_wrapped_types: policy.accept_wrapped_types.clone(),
        max_size: policy.max_size.unwrap_or(0),
        min_max_size: policy.min_max_size.unwrap_or(0),
        private_messages: policy.private_messages,
        nicknames: policy.nicknames,
        slow_consumer: match policy.slow_consumer {
            SlowConsumer::Drop => pb::SlowConsumer::Drop,
            SlowConsumer::Pause => pb::SlowConsumer::Pause,
        } as i32,
    }
}

fn event_to(tagged: &TaggedEvent) -> pb::Event {
    use pb::event::Kind;
    let (session, participant, kind) = match &tagged.event {
        Event::ParticipantBound {
            session,
            participant,
        } => (
            session,
            Some(participant),
            Kind::ParticipantBound(pb::ParticipantBound {}),
        ),
        Event::ConnectionLost {
            session,
            participant,
        } => (
            session,
            Some(participant),
            Kind::ConnectionLost(pb::ConnectionLost {}),
        ),
        Event::ParticipantRemoved {
            session,
            participant,
        } => (
            session,
            Some(participant),
            Kind::ParticipantRemoved(pb::ParticipantRemoved {}),
        ),
        Event::SessionIdle { session } => (session, None, Kind::SessionIdle(pb::SessionIdle {})),
        Event::NicknameSet {
            session,
            participant,
            nickname,
        } => (
            session,
            Some(participant),
            Kind::NicknameSet(pb::NicknameSet {
                nickname: nickname.clone(),
            }),
        ),
        Event::SlowConsumerDropped {
            session,
            participant,
            queued_bytes,
        } => (
            session,
            Some(participant),
            Kind::SlowConsumerDropped(pb::SlowConsumerDropped {
                queued_bytes: *queued_bytes,
            }),
        ),
        Event::OfferExpired {
            session,
            participant,
        } => (
            session,
            Some(participant),
            Kind::OfferExpired(pb::OfferExpired {}),
        ),
        Event::BindRefused {
            session,
            participant,
            reason,
        } => (
            session,
            Some(participant),
            Kind::BindRefused(pb::BindRefused {
                reason: reason.label().to_owned(),
            }),
        ),
        Event::ConnectFailed {
            session,
            participant,
            reason,
        } => (
            session,
            Some(participant),
            Kind::ConnectFailed(pb::ConnectFailed {
                reason: reason.clone(),
            }),
        ),
        Event::MessageReceived {
            session,
            participant,
            bytes,
        } => (
            session,
            Some(participant),
            Kind::MessageReceived(pb::MessageReceived { bytes: *bytes }),
        ),
        Event::MessageDelivered {
            session,
            participant,
            bytes,
        } => (
            session,
            Some(participant),
            Kind::MessageDelivered(pb::MessageDelivered { bytes: *bytes }),
        ),
        Event::MessageFailed {
            session,
            participant,
            status,
            reason,
        } => (
            session,
            Some(participant),
            Kind::MessageFailed(pb::MessageFailed {
                status: u32::from(*status),
                reason: reason.clone(),
            }),
        ),
        Event::LargeMessageComplete {
            session,
            delivered,
            failed,
        } => (
            session,
            None,
            Kind::LargeMessageComplete(pb::LargeMessageComplete {
                delivered: *delivered,
                failed: *failed,
            }),
        ),
        Event::SessionReleased { session, reason } => {
            use pb::session_released::Reason;
            let reason = match reason {
                ReleaseReason::MaxDuration => Reason::MaxDuration,
                ReleaseReason::Idle => Reason::Idle,
                ReleaseReason::Complete => Reason::Complete,
            };
            (
                session,
                None,
                Kind::SessionReleased(pb::SessionReleased {
                    reason: reason as i32,
                }),
            )
        }
    };
    pb::Event {
        session_id: session.to_string(),
        participant_id: participant.map(|p| p.to_string()).unwrap_or_default(),
        timestamp_ms: now_ms(),
        correlation_tag: tagged.correlation_tag.to_string(),
        participant_correlation_tag: tagged.participant_tag.to_string(),
        kind: Some(kind),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use control_api::error::bad_field;
    use tonic::Code;

    use super::*;

    fn invalid(field: &'static str) -> Status {
        status(EngineError::Control(ControlError::InvalidArgument {
            field,
            reason: "bad".into(),
        }))
    }

    #[test]
    fn engine_argument_errors_name_the_request_field() {
        let err = invalid("path");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(bad_field(&err).as_deref(), Some("remote.path"));
        // The identity is not part of the remote media.
        let err = invalid("identity.im_address");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(bad_field(&err).as_deref(), Some("identity.im_address"));
        assert!(
            err.message().starts_with("identity.im_address: "),
            "{err:?}"
        );
    }
}
