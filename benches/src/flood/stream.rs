//! The flooder's connections: TCP, TLS over TCP (`msrp-flood run --transport tls`)
//! or WebSocket (`--transport ws`, see [`super::ws`]), split into the halves the
//! sender and receiver tasks own.
//!
//! TCP splits into tokio's owned halves (no lock); TLS and WebSocket, whose one
//! state both directions share, through `tokio::io::split`. All are boxed behind
//! [`FloodRead`] / [`FloodWrite`], so the tasks are the same for each.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::Context as _;
use msrp_proto::media::Fingerprint;
use msrp_switch::transport::tls::{PinnedServer, ring_provider};
use rustls::ClientConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsConnector, client};

use super::ws::WsStream;

/// The read half of a flood connection.
pub type FloodRead = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a flood connection.
pub type FloodWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// One connection to the target.
#[derive(Debug)]
pub enum FloodStream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS, the client side.
    Tls(Box<client::TlsStream<TcpStream>>),
    /// WebSocket (RFC 7977), a browser's side: one message per MSRP frame.
    Ws(Box<WsStream>),
}

impl FloodStream {
    /// The two halves, for the tasks that read and write.
    pub fn into_split(self) -> (FloodRead, FloodWrite) {
        match self {
            Self::Tcp(tcp) => {
                let (read, write) = tcp.into_split();
                (Box::new(read), Box::new(write))
            }
            Self::Tls(tls) => {
                let (read, write) = tokio::io::split(*tls);
                (Box::new(read), Box::new(write))
            }
            Self::Ws(ws) => {
                let (read, write) = tokio::io::split(*ws);
                (Box::new(read), Box::new(write))
            }
        }
    }

    /// The local address, for logs.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        match self {
            Self::Tcp(tcp) => tcp.local_addr(),
            Self::Tls(tls) => tls.get_ref().0.local_addr(),
            Self::Ws(ws) => ws.local_addr(),
        }
    }
}

impl AsyncRead for FloodStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
            Self::Ws(ws) => Pin::new(ws.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for FloodStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
            Self::Ws(ws) => Pin::new(ws.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_flush(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
            Self::Ws(ws) => Pin::new(ws.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
            Self::Ws(ws) => Pin::new(ws.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The flooder's TLS identity: a self-signed certificate made at start (its
/// fingerprint goes into every participant's media), and the client
/// configuration per pinned switch certificate.
#[derive(Clone)]
pub struct FloodTls {
    cert: CertificateDer<'static>,
    key: Arc<PrivateKeyDer<'static>>,
    fingerprint: String,
}

impl std::fmt::Debug for FloodTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FloodTls")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl FloodTls {
    /// A fresh self-signed identity.
    pub fn generate() -> anyhow::Result<Self> {
        let made = rcgen::generate_simple_self_signed(vec!["msrp-flood.invalid".to_owned()])
            .context("generating the flooder's certificate")?;
        let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
            .map_err(|err| anyhow::anyhow!("the flooder's key: {err}"))?;
        let cert = made.cert.der().clone();
        let fingerprint = msrp_switch::transport::tls::fingerprint(
            msrp_proto::media::HashFunction::Sha256,
            &cert,
        )
        .to_string();
        Ok(Self {
            cert,
            key: Arc::new(key),
            fingerprint,
        })
    }

    /// Its `a=fingerprint` value (`sha-256 AB:...`).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// A connector that accepts only the certificate with `pinned`'s
    /// fingerprint and presents this identity.
    pub fn connector(&self, pinned: &str) -> anyhow::Result<TlsConnector> {
        let pinned = Fingerprint::parse(pinned)
            .map_err(|err| anyhow::anyhow!("the switch's fingerprint {pinned:?}: {err}"))?;
        let config = ClientConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedServer::new(vec![pinned])))
            .with_client_auth_cert(vec![self.cert.clone()], self.key.clone_key())?;
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

/// Opens TLS over `tcp` with `connector`; `host` is the SNI name (the URI's host).
pub async fn handshake(
    connector: &TlsConnector,
    tcp: TcpStream,
    host: &str,
) -> anyhow::Result<FloodStream> {
    let name = ServerName::try_from(host.to_owned())
        .with_context(|| format!("{host:?} as a TLS server name"))?;
    let tls = connector
        .connect(name, tcp)
        .await
        .with_context(|| format!("TLS handshake with {host}"))?;
    Ok(FloodStream::Tls(Box::new(tls)))
}
