//! The gRPC control API served for a test engine, as the daemon serves it
//! (`msrp_switch::control::serve_control_with`), on 127.0.0.1:0.

use std::net::SocketAddr;
use std::time::Duration;

use control_api::auth::Auth;
use control_api::pb;
use control_api::pb::switch_control_client::SwitchControlClient;
use control_api::port::PortLimits;
use msrp_switch::lifecycle::Lifecycle;
use msrp_switch::transport::Engine;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::time::timeout;
use tonic::transport::Channel;

use crate::LIMIT;

/// The control service of one engine on an ephemeral port; it stops when dropped
/// (the dropped sender ends the server's shutdown future).
pub struct ControlServer {
    addr: SocketAddr,
    tls: bool,
    _stop: oneshot::Sender<()>,
}

impl ControlServer {
    /// Serves the control API for `engine`, requiring `Bearer <token>` if a token is
    /// given. The listener is bound before this returns, so a client may connect at
    /// once: its connection waits in the backlog until the server task runs.
    pub async fn start(engine: &Engine, token: Option<&str>) -> ControlServer {
        let auth = token.map_or_else(Auth::none, Auth::bearer);
        Self::start_with(engine, auth, PortLimits::default()).await
    }

    /// Serves the control API for `engine` with `auth` (token, TLS, client
    /// certificates) within `limits`.
    pub async fn start_with(engine: &Engine, auth: Auth, limits: PortLimits) -> ControlServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = auth.tls().is_some();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(msrp_switch::control::serve_control_with(
            engine.clone(),
            listener,
            auth,
            Lifecycle::new(Duration::from_secs(30)),
            limits,
            async {
                let _ = stopped.await;
            },
        ));
        ControlServer {
            addr,
            tls,
            _stop: stop,
        }
    }

    /// The address the service listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL a client is given: `http://127.0.0.1:<port>`, or `https://` over
    /// TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// A connected channel, within [`LIMIT`] (plain HTTP/2 only).
    pub async fn channel(&self) -> Channel {
        timeout(LIMIT, Channel::from_shared(self.url()).unwrap().connect())
            .await
            .expect("the control API did not accept in time")
            .unwrap()
    }

    /// A client with no credentials on a fresh [`channel`](Self::channel).
    pub async fn client(&self) -> SwitchControlClient<Channel> {
        SwitchControlClient::new(self.channel().await)
    }
}

/// An SDP offer with one `m=message` section (RFC 4975 §8): `a=path` is `path`,
/// the party connects (`a=setup:active`) over TCP.
pub fn sdp_offer(path: &str, accept_types: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
         m=message 40001 TCP/MSRP *\r\nc=IN IP4 127.0.0.1\r\n\
         a=path:{path}\r\na=accept-types:{accept_types}\r\na=setup:active\r\n"
    )
}

/// The switch's URI for a participant: the first `a=path` URI of the answer that
/// AddParticipant returned. The participant puts it in its To-Path.
pub fn switch_uri(added: &pb::AddParticipantResponse) -> String {
    let local = added.local.as_ref().expect("an answer");
    local.structured.as_ref().expect("structured media").path[0].clone()
}

/// Creates a 1:1 session with the default policy; its id.
pub async fn create_one_to_one(client: &mut SwitchControlClient<Channel>) -> String {
    client
        .create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::OneToOne as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .session_id
}

/// Adds a participant to `session` whose offer is `sdp` (the switch answers);
/// the response with the switch's answer.
pub async fn add_with_sdp(
    client: &mut SwitchControlClient<Channel>,
    session: &str,
    sdp: String,
) -> pb::AddParticipantResponse {
    client
        .add_participant(pb::AddParticipantRequest {
            session_id: session.to_owned(),
            remote: Some(sdp_media(sdp)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// Remote media given as an SDP body.
pub fn sdp_media(sdp: String) -> pb::RemoteMedia {
    pb::RemoteMedia {
        media: Some(pb::remote_media::Media::Sdp(sdp)),
    }
}
