//! The gRPC control API served for a test engine, as the daemon serves it
//! (`msrp_switch::control::serve_control`), on 127.0.0.1:0.

use std::net::SocketAddr;

use control_api::pb;
use control_api::pb::switch_control_client::SwitchControlClient;
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
    _stop: oneshot::Sender<()>,
}

impl ControlServer {
    /// Serves the control API for `engine`, requiring `Bearer <token>` if a token is
    /// given. The listener is bound before this returns, so a client may connect at
    /// once: its connection waits in the backlog until the server task runs.
    pub async fn start(engine: &Engine, token: Option<&str>) -> ControlServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(msrp_switch::control::serve_control(
            engine.clone(),
            listener,
            token.map(str::to_owned),
            async {
                let _ = stopped.await;
            },
        ));
        ControlServer { addr, _stop: stop }
    }

    /// The address the service listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL a client is given: `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A connected channel, within [`LIMIT`].
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
