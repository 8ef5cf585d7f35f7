//! The control API (`msrpswitch.v1.SwitchControl`, defined in the control-api crate)
//! implemented on the engine: the only place where protobuf meets the switch.
//!
//! Each call validates and converts its arguments, runs one engine call on the shard
//! that owns the id, and converts the answer. A call that fails changes nothing: the
//! switch checks everything before it applies anything.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use control_api::auth::Auth;
use control_api::error as api;
use control_api::pb;
use control_api::pb::switch_control_server::SwitchControl;
use tokio::net::TcpListener;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::codec::MsrpUri;
use crate::engine::{Engine, EngineError};
use msrp_proto::control::{ControlError, Counters, Event, ParticipantInfo, SessionInfo};
use msrp_proto::ids::{ParticipantId, SessionKey};
use msrp_proto::media::{
    self, Identity, LocalMedia, Offered, OfferedSetup, OfferedTransport, Policy, RemoteMedia,
    SetupRole, SlowConsumer,
};
use msrp_proto::session::SessionKind;

/// Serves the control API for `engine` on `listener` until `shutdown`. Refuses to
/// serve beyond loopback without a token.
pub async fn serve_control(
    engine: Engine,
    listener: TcpListener,
    token: Option<String>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let auth = token.map_or_else(Auth::none, Auth::bearer);
    auth.check_exposure(listener.local_addr()?)
        .map_err(anyhow::Error::msg)?;
    control_api::server::serve(listener, ControlService::new(engine), auth, shutdown).await?;
    Ok(())
}

/// The service: a handle on the engine, nothing else.
#[derive(Clone)]
pub struct ControlService {
    engine: Engine,
}

impl ControlService {
    /// A service driving `engine`.
    pub fn new(engine: Engine) -> Self {
        Self { engine }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl SwitchControl for ControlService {
    async fn create_session(
        &self,
        request: Request<pb::CreateSessionRequest>,
    ) -> Result<Response<pb::CreateSessionResponse>, Status> {
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
            _ => {
                return Err(api::invalid_argument(
                    "kind",
                    "must be SESSION_KIND_ONE_TO_ONE or SESSION_KIND_GROUP",
                ));
            }
        };
        let policy = request.policy.map(policy_from).unwrap_or_default();
        let key = self
            .engine
            .create_session_with(kind, request.group_identity, policy)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CreateSessionResponse {
            session_id: key.to_string(),
        }))
    }

    async fn add_participant(
        &self,
        request: Request<pb::AddParticipantRequest>,
    ) -> Result<Response<pb::AddParticipantResponse>, Status> {
        let request = request.into_inner();
        let session = session_key(&request.session_id)?;
        let (remote, remote_cema) = remote_media(request.remote)?;
        let identity = request.identity.map(identity_from).unwrap_or_default();
        let info = self
            .engine
            .add_participant_as(session, identity, remote)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::AddParticipantResponse {
            participant_id: info.id.to_string(),
            local: Some(local_media(&info.local, remote_cema)),
        }))
    }

    async fn modify_participant(
        &self,
        request: Request<pb::ModifyParticipantRequest>,
    ) -> Result<Response<pb::ModifyParticipantResponse>, Status> {
        let request = request.into_inner();
        let id = participant_id(&request.participant_id)?;
        let (remote, remote_cema) = remote_media(request.remote)?;
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
        Ok(Response::new(pb::ModifyParticipantResponse {
            local: Some(local_media(&local, remote_cema)),
            staged,
        }))
    }

    async fn commit_modification(
        &self,
        request: Request<pb::CommitModificationRequest>,
    ) -> Result<Response<pb::ModifyParticipantResponse>, Status> {
        let id = participant_id(&request.into_inner().participant_id)?;
        let info = self.engine.commit_modification(id).await.map_err(status)?;
        Ok(Response::new(pb::ModifyParticipantResponse {
            local: Some(local_media(&info.local, false)),
            staged: false,
        }))
    }

    async fn abort_modification(
        &self,
        request: Request<pb::AbortModificationRequest>,
    ) -> Result<Response<pb::AbortModificationResponse>, Status> {
        let id = participant_id(&request.into_inner().participant_id)?;
        self.engine.abort_modification(id).await.map_err(status)?;
        Ok(Response::new(pb::AbortModificationResponse {}))
    }

    async fn remove_participant(
        &self,
        request: Request<pb::RemoveParticipantRequest>,
    ) -> Result<Response<pb::RemoveParticipantResponse>, Status> {
        let id = participant_id(&request.into_inner().participant_id)?;
        let counters = self.engine.remove_participant(id).await.map_err(status)?;
        Ok(Response::new(pb::RemoveParticipantResponse {
            counters: Some(counters_to(counters)),
        }))
    }

    async fn release_session(
        &self,
        request: Request<pb::ReleaseSessionRequest>,
    ) -> Result<Response<pb::ReleaseSessionResponse>, Status> {
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
        Ok(Response::new(pb::ReleaseSessionResponse { participants }))
    }

    async fn get_session(
        &self,
        request: Request<pb::GetSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let key = session_key(&request.into_inner().session_id)?;
        let info = self.engine.session(key).await.map_err(status)?;
        Ok(Response::new(session_to(&info)))
    }

    async fn list_sessions(
        &self,
        _request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let keys = self.engine.list_sessions().await.map_err(status)?;
        let mut sessions = Vec::with_capacity(keys.len());
        for key in keys {
            match self.engine.session(key).await {
                Ok(info) => sessions.push(session_to(&info)),
                // Released between the listing and now.
                Err(EngineError::Control(ControlError::NoSuchSession(_))) => {}
                Err(err) => return Err(status(err)),
            }
        }
        Ok(Response::new(pb::ListSessionsResponse { sessions }))
    }

    async fn stats(
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

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let filter = match request.into_inner().session_id.as_str() {
            "" => None,
            text => Some(session_key(text)?),
        };
        // The engine's broadcast channel is bounded: a watcher that falls behind does
        // not slow the switch, it is told how many events it missed.
        let events =
            BroadcastStream::new(self.engine.subscribe()).filter_map(move |event| match event {
                Ok(event) if filter.is_none_or(|key| key == event.session()) => {
                    Some(Ok(event_to(&event)))
                }
                Ok(_) => None,
                Err(BroadcastStreamRecvError::Lagged(count)) => Some(Ok(pb::Event {
                    timestamp_ms: now_ms(),
                    kind: Some(pb::event::Kind::EventsMissed(pb::EventsMissed { count })),
                    ..pb::Event::default()
                })),
            });
        Ok(Response::new(Box::pin(events)))
    }
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
        EngineError::Control(ControlError::InvalidArgument { field, reason }) => {
            api::invalid_argument(&request_field(field), reason)
        }
        EngineError::UnknownShard => api::not_found("resource", "(id names no shard here)"),
        EngineError::Stopped => api::unavailable("the switch is shutting down"),
    }
}

/// The request field an engine [`ControlError::InvalidArgument`] names. The engine
/// names the remote media's fields by their own names (`path`), which live under
/// `remote` in the request, and the participant's identity by its request path
/// (`identity.im_address`), which must not gain a `remote.` prefix.
fn request_field(field: &str) -> String {
    if field == "identity" || field.starts_with("identity.") {
        field.to_owned()
    } else {
        format!("remote.{field}")
    }
}

fn session_key(text: &str) -> Result<SessionKey, Status> {
    SessionKey::from_str(text)
        .map_err(|_| api::invalid_argument("session_id", format!("{text:?} is not a session id")))
}

fn participant_id(text: &str) -> Result<ParticipantId, Status> {
    ParticipantId::from_str(text).map_err(|_| {
        api::invalid_argument(
            "participant_id",
            format!("{text:?} is not a participant id"),
        )
    })
}

fn policy_from(policy: pb::Policy) -> Policy {
    let slow_consumer = match policy.slow_consumer() {
        pb::SlowConsumer::Drop => SlowConsumer::Drop,
        pb::SlowConsumer::Pause => SlowConsumer::Pause,
    };
    Policy {
        accept_types: policy.accept_types,
        accept_wrapped_types: policy.accept_wrapped_types,
        max_size: (policy.max_size > 0).then_some(policy.max_size),
        min_max_size: (policy.min_max_size > 0).then_some(policy.min_max_size),
        private_messages: policy.private_messages,
        nicknames: policy.nicknames,
        slow_consumer,
    }
}

fn identity_from(identity: pb::Identity) -> Identity {
    Identity {
        im_address: identity.im_address,
        privacy_alias: (!identity.privacy_alias.is_empty()).then_some(identity.privacy_alias),
    }
}

/// The remote side's media, from structured fields or SDP text, checked; and whether
/// it signalled CEMA (echoed in the answer).
fn remote_media(remote: Option<pb::RemoteMedia>) -> Result<(RemoteMedia, bool), Status> {
    let media = match remote.and_then(|r| r.media) {
        Some(pb::remote_media::Media::Structured(media)) => media,
        Some(pb::remote_media::Media::Sdp(text)) => control_api::sdp::parse_media_section(&text)
            .map_err(|err| {
                if err.is_not_acceptable() {
                    api::not_acceptable_here(err.to_string())
                } else {
                    api::invalid_argument("remote.sdp", format!("{}: {err}", err.field()))
                }
            })?,
        None => {
            return Err(api::invalid_argument(
                "remote",
                "give the remote media, structured or as the SDP m=message section",
            ));
        }
    };
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
        Ok(pb::Transport::Tcp | pb::Transport::Unspecified) => OfferedTransport::Tcp,
        Ok(pb::Transport::Tls) => OfferedTransport::Tls,
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
    let cema = media.cema;
    let offered = Offered {
        path,
        accept_types: media.accept_types,
        accept_wrapped_types: media.accept_wrapped_types,
        max_size: (media.max_size > 0).then_some(media.max_size),
        setup,
        transport,
        cema,
    };
    let remote = media::remote_media(offered).map_err(|err| {
        if err.not_acceptable {
            api::not_acceptable_here(err.reason)
        } else {
            api::invalid_argument(err.field, err.reason)
        }
    })?;
    Ok((remote, cema))
}

/// The switch's answer, structured and as SDP lines.
fn local_media(local: &LocalMedia, cema: bool) -> pb::LocalMedia {
    let structured = pb::Media {
        path: vec![local.uri.to_string()],
        accept_types: local.accept_types.clone(),
        accept_wrapped_types: local.accept_wrapped_types.clone(),
        max_size: local.max_size.unwrap_or(0),
        setup: match local.setup {
            SetupRole::Passive => pb::Setup::Passive,
            SetupRole::Active => pb::Setup::Active,
        } as i32,
        connection: "new".into(),
        cema,
        transport: pb::Transport::Tcp as i32,
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

fn participant_to(info: &ParticipantInfo) -> pb::Participant {
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
    }
}

fn session_to(info: &SessionInfo) -> pb::Session {
    pb::Session {
        session_id: info.key.to_string(),
        kind: match info.kind {
            SessionKind::OneToOne => pb::SessionKind::OneToOne,
            SessionKind::Group => pb::SessionKind::Group,
        } as i32,
        group_identity: info.group_identity.clone(),
        participants: info.participants.iter().map(participant_to).collect(),
        policy: Some(policy_to(&info.policy)),
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

fn event_to(event: &Event) -> pb::Event {
    use pb::event::Kind;
    let (session, participant, kind) = match event {
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
    };
    pb::Event {
        session_id: session.to_string(),
        participant_id: participant.map(|p| p.to_string()).unwrap_or_default(),
        timestamp_ms: now_ms(),
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
