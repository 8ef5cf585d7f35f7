//! TLS for the test peers: certificates made with rcgen, a rustls client that pins
//! the switch's certificate by the `a=fingerprint` of the API's answer (as an RCS
//! client does), and the acceptor of a listening TLS peer for the switch to
//! connect to. The certificate checks are the switch's own verifiers; what a test
//! asserts about fingerprints it computes itself ([`sha256_fingerprint`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use msrp_proto::media::Fingerprint;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ServerConfig};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::{TlsAcceptor, TlsConnector, client, server};

use msrp_switch::transport::tls::{AnyClientCertificate, PinnedServer, TlsSettings};
use msrp_switch::transport::{EngineConfig, TlsListen};

use crate::{LIMIT, Peer, TestEngine, start_engine_with};

/// A peer on a TLS connection it opened to the switch.
pub type TlsPeer = Peer<client::TlsStream<TcpStream>>;

/// A peer on a TLS connection the switch opened to it.
pub type AcceptedTlsPeer = Peer<server::TlsStream<TcpStream>>;

/// A certificate and its key, self-signed (the normal case for MSRP clients).
pub struct Identity {
    /// The certificate, DER.
    pub cert: CertificateDer<'static>,
    key: Vec<u8>,
    cert_pem: String,
    key_pem: String,
}

impl Identity {
    /// A certificate for `localhost` and 127.0.0.1, valid from yesterday for a year.
    pub fn new() -> Identity {
        let now = std::time::SystemTime::now();
        Identity::valid(
            now - Duration::from_secs(86_400),
            now + Duration::from_secs(365 * 86_400),
        )
    }

    /// A certificate whose validity ended in 2021.
    pub fn expired() -> Identity {
        Identity::valid(
            std::time::UNIX_EPOCH + Duration::from_secs(1_577_836_800), // 2020-01-01
            std::time::UNIX_EPOCH + Duration::from_secs(1_609_459_200), // 2021-01-01
        )
    }

    fn valid(from: std::time::SystemTime, until: std::time::SystemTime) -> Identity {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        params.not_before = from.into();
        params.not_after = until.into();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Identity {
            cert: cert.der().clone(),
            key: key.serialize_der(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Its `a=fingerprint` value: `sha-256 AB:CD:...` (RFC 8122 §5).
    pub fn fingerprint(&self) -> String {
        sha256_fingerprint(&self.cert)
    }

    /// Writes `<stem>.crt` and `<stem>.key` (PEM) into `dir`; returns their paths.
    pub fn write_pem(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::try_from(self.key.clone()).unwrap()
    }
}

impl Default for Identity {
    fn default() -> Self {
        Identity::new()
    }
}

/// `sha-256` and the digest of `der` in upper-case hex pairs, as SDP spells it.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    let hex: Vec<String> = Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    format!("sha-256 {}", hex.join(":"))
}

/// The value of the `a=fingerprint:` line of an SDP body.
pub fn sdp_fingerprint(sdp: &str) -> String {
    sdp.lines()
        .find_map(|line| line.strip_prefix("a=fingerprint:"))
        .unwrap_or_else(|| panic!("no a=fingerprint in\n{sdp}"))
        .trim()
        .to_owned()
}

/// An engine on 127.0.0.1:0 with TLS on another 127.0.0.1:0 port (a self-signed
/// certificate generated at start), one shard, `handshake_timeout` for handshakes.
pub fn start_tls_engine(handshake_timeout: Duration) -> TestEngine {
    start_engine_with(EngineConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        shards: 1,
        pin_cores: false,
        tls: Some(TlsListen {
            listen: "127.0.0.1:0".parse().unwrap(),
            settings: TlsSettings {
                handshake_timeout,
                ..TlsSettings::default()
            },
        }),
        ..EngineConfig::default()
    })
}

fn provider() -> Arc<CryptoProvider> {
    msrp_switch::transport::tls::ring_provider()
}

/// A rustls client that accepts only the server certificate whose SHA-256
/// fingerprint is `pinned` (`sha-256 AB:...`), presenting `identity` if given.
pub fn client_config(pinned: &str, identity: Option<&Identity>) -> Arc<ClientConfig> {
    let pinned = Fingerprint::parse(pinned).unwrap();
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer::new(vec![pinned])));
    let config = match identity {
        Some(identity) => builder
            .with_client_auth_cert(vec![identity.cert.clone()], identity.key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// Opens TLS to `addr` with [`client_config`]; the handshake's error if it fails.
pub async fn connect_tls(
    addr: SocketAddr,
    pinned: &str,
    identity: Option<&Identity>,
) -> std::io::Result<client::TlsStream<TcpStream>> {
    let tcp = timeout(LIMIT, TcpStream::connect(addr)).await??;
    tcp.set_nodelay(true)?;
    let connector = TlsConnector::from(client_config(pinned, identity));
    let name = ServerName::try_from("localhost").unwrap();
    timeout(LIMIT, connector.connect(name, tcp)).await?
}

/// A [`TlsPeer`] connected and handshaken to the switch's TLS port.
pub async fn tls_peer(
    addr: SocketAddr,
    pinned: &str,
    identity: &Identity,
    me: &str,
    switch: &str,
) -> TlsPeer {
    let stream = connect_tls(addr, pinned, Some(identity)).await.unwrap();
    Peer::on(stream, me, switch)
}

/// A TLS server with `identity` that asks for a client certificate and takes
/// any valid one (the test checks its fingerprint itself).
pub fn acceptor(identity: &Identity) -> TlsAcceptor {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(Arc::new(AnyClientCertificate::new()))
        .with_single_cert(vec![identity.cert.clone()], identity.key())
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// The fingerprint of the certificate the other side presented, if any.
pub fn peer_fingerprint(certificates: Option<&[CertificateDer<'_>]>) -> Option<String> {
    certificates
        .and_then(|chain| chain.first())
        .map(|cert| sha256_fingerprint(cert))
}
