//! TLS on the control port, for both ends: rustls with the ring provider,
//! TLS 1.3 and 1.2, HTTP/2 chosen by ALPN.
//!
//! The daemon serves the API over TLS when given a certificate and its key
//! ([`ServerTlsFiles`]), and with a CA bundle requires every client to present a
//! certificate chaining to it (mTLS), checked in the handshake, before any call
//! is read. msrpctl trusts a CA bundle for the server and may present a client
//! certificate ([`ClientTlsFiles`]). The handshake itself runs in
//! [`port::incoming`](crate::port::incoming), within the first-bytes timeout.
//!
//! PEM files are read here for both ends (and for the daemon's MSRP over TLS):
//! every error names the setting that gave the file and the file
//! (`--control-client-ca /etc/ca.pem: no PEM certificate in it`).

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;
use tonic::transport::{ClientTlsConfig, Identity};

/// The HTTP/2 ALPN protocol id: gRPC clients (tonic, grpc-go) refuse a TLS
/// connection that did not negotiate it.
const ALPN_H2: &[u8] = b"h2";

/// The crypto provider of every TLS connection the switch makes or accepts:
/// ring, by design (aws-lc-rs costs ~50 s of every clean build here), with its
/// default cipher suites and the key exchanges in the order X25519, P-256,
/// P-384. rustls' ring default puts P-384 first: a client that follows it
/// (rustls does) then costs the switch a P-384 ECDH per handshake, which gave
/// 4.3x fewer handshakes per CPU second here (README, performance). Phones offer
/// X25519 first anyway.
pub fn ring_provider() -> Arc<CryptoProvider> {
    use rustls::crypto::ring::kx_group;
    // rustls deprecates ring's provider for lacking post-quantum key exchange,
    // which neither MSRP peers nor the operators' tools need yet.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(CryptoProvider {
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        ..provider
    })
}

/// A PEM file and the setting that named it; errors name both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemFile {
    /// The setting, as its user spells it: `--control-tls-cert`, `--tls-ca`.
    pub setting: &'static str,
    /// The file.
    pub path: PathBuf,
}

/// A PEM file that cannot be used: unreadable, holding nothing of the kind
/// wanted, malformed, or a key that is not the certificate's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting} {}: {reason}", path.display())]
pub struct PemError {
    /// The setting that named the file.
    pub setting: &'static str,
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

impl PemFile {
    /// The file at `path`, given by `setting`.
    pub fn new(setting: &'static str, path: impl Into<PathBuf>) -> Self {
        Self {
            setting,
            path: path.into(),
        }
    }

    /// An error about this file.
    pub fn error(&self, reason: impl fmt::Display) -> PemError {
        PemError {
            setting: self.setting,
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }

    /// The file's bytes.
    ///
    /// # Errors
    ///
    /// The file cannot be read.
    pub fn read(&self) -> Result<Vec<u8>, PemError> {
        std::fs::read(&self.path).map_err(|err| self.error(format!("cannot read it: {err}")))
    }

    /// The certificates of the file, in order (a chain: the holder's first).
    ///
    /// # Errors
    ///
    /// The file cannot be read, is malformed or holds no certificate.
    pub fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, PemError> {
        self.certificates_in(&self.read()?)
    }

    /// The private key of the file (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    ///
    /// The file cannot be read, is malformed or holds no private key.
    pub fn private_key(&self) -> Result<PrivateKeyDer<'static>, PemError> {
        self.private_key_in(&self.read()?)
    }

    /// The certificates of a CA bundle, as trust anchors.
    ///
    /// # Errors
    ///
    /// The file cannot be read, holds no certificate, or one that cannot anchor
    /// a chain.
    pub fn roots(&self) -> Result<RootCertStore, PemError> {
        let mut roots = RootCertStore::empty();
        for (n, certificate) in self.certificates()?.into_iter().enumerate() {
            roots.add(certificate).map_err(|err| {
                self.error(format!("certificate {} is not a usable CA: {err}", n + 1))
            })?;
        }
        Ok(roots)
    }

    fn certificates_in(&self, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, PemError> {
        let certificates = CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| self.error(err))?;
        if certificates.is_empty() {
            return Err(self.error("no PEM certificate (BEGIN CERTIFICATE) in it"));
        }
        Ok(certificates)
    }

    fn private_key_in(&self, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, PemError> {
        PrivateKeyDer::from_pem_slice(bytes).map_err(|err| match err {
            pem::Error::NoItemsFound => {
                self.error("no PEM private key (PKCS#8, PKCS#1 or SEC1) in it")
            }
            err => self.error(err),
        })
    }
}

/// A certificate chain and its private key, from two files, checked to belong
/// together (a key that is not the certificate's would fail every handshake:
/// say so at start instead).
///
/// # Errors
///
/// Either file is unusable, or the key is not the certificate's.
pub fn certified_key(
    cert: &PemFile,
    key: &PemFile,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, PemError> {
    pair(
        cert,
        key,
        cert.certificates()?,
        key.private_key()?,
        provider,
    )
}

/// The chain and key read from `cert` and `key`, if they belong together.
fn pair(
    cert: &PemFile,
    key: &PemFile,
    chain: Vec<CertificateDer<'static>>,
    private: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, PemError> {
    CertifiedKey::from_der(chain, private, provider)
        .map_err(|err| key.error(format!("not the key of {} ({err})", cert.setting)))
}

/// The control port's TLS settings: the daemon's certificate and key and, for
/// mTLS, the CA bundle client certificates must chain to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsFiles {
    /// PEM certificate chain, the daemon's own first.
    pub cert: PemFile,
    /// PEM private key of the chain's first certificate.
    pub key: PemFile,
    /// PEM CA bundle: with it every client must present a certificate chaining
    /// to one of these; without it clients present none.
    pub client_ca: Option<PemFile>,
}

impl ServerTlsFiles {
    /// Reads the files into the configuration handshakes run with.
    ///
    /// # Errors
    ///
    /// A file that is unreadable or malformed, a key that is not the
    /// certificate's, or a CA bundle without a usable certificate: named with
    /// its setting.
    pub fn load(&self) -> Result<ServerTls, PemError> {
        Ok(ServerTls {
            acceptor: Arc::new(RwLock::new(TlsAcceptor::from(self.config()?))),
            client_certificates: self.client_ca.is_some(),
            files: self.clone(),
        })
    }

    /// The handshake configuration the files make.
    fn config(&self) -> Result<Arc<ServerConfig>, PemError> {
        let provider = ring_provider();
        let key = certified_key(&self.cert, &self.key, &provider)?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|err| self.cert.error(err))?;
        let builder = match &self.client_ca {
            Some(ca) => {
                // Mandatory: a client without a certificate fails the handshake.
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(ca.roots()?),
                    Arc::clone(&provider),
                )
                .build()
                .map_err(|err| ca.error(err))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(key)));
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }
}

/// The control port's TLS, loaded: what [`port::incoming`](crate::port::incoming)
/// runs each handshake with. Clones share it, so a [`ServerTls::reload`] through
/// any of them reaches the port.
#[derive(Clone)]
pub struct ServerTls {
    /// Swapped whole on reload; read once per accepted connection.
    acceptor: Arc<RwLock<TlsAcceptor>>,
    client_certificates: bool,
    files: ServerTlsFiles,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("client_certificates", &self.client_certificates)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// True if every client must present a certificate from the client CA (mTLS).
    pub fn requires_client_certificates(&self) -> bool {
        self.client_certificates
    }

    /// The TLS handshake of an accepted connection on another port that serves
    /// with the same certificate and client CA (the daemon's HTTP port with
    /// `--http-tls`); with a client CA the client's certificate is checked in
    /// it.
    ///
    /// # Errors
    ///
    /// The handshake failed (a bad or missing client certificate among them).
    pub async fn accept(
        &self,
        stream: tokio::net::TcpStream,
    ) -> std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
        self.acceptor().accept(stream).await
    }

    /// Runs the handshakes of accepted connections.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        match self.acceptor.read() {
            Ok(acceptor) => acceptor.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the files again (SIGHUP): the certificate, its key and the client
    /// CA bundle. New connections get them; open ones keep theirs. On an error
    /// the old ones stay.
    ///
    /// # Errors
    ///
    /// As [`ServerTlsFiles::load`]: the file and what is wrong with it.
    pub fn reload(&self) -> Result<(), PemError> {
        let acceptor = TlsAcceptor::from(self.files.config()?);
        match self.acceptor.write() {
            Ok(mut slot) => *slot = acceptor,
            Err(poisoned) => *poisoned.into_inner() = acceptor,
        }
        Ok(())
    }
}

/// A client's TLS settings (msrpctl): the CA that signed the server's
/// certificate and, for mTLS, the client's certificate and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTlsFiles {
    /// PEM CA bundle the server's certificate must chain to.
    pub ca: PemFile,
    /// PEM certificate chain and private key to present, if any.
    pub identity: Option<(PemFile, PemFile)>,
}

impl ClientTlsFiles {
    /// Reads and checks the files into tonic's client configuration (ring,
    /// TLS 1.3 and 1.2, ALPN h2); the server's name is the host of the URL it
    /// is given with.
    ///
    /// # Errors
    ///
    /// A file that is unreadable or malformed, or a key that is not the
    /// certificate's: named with its setting.
    pub fn load(&self) -> Result<ClientTlsConfig, PemError> {
        let config = ClientTlsConfig::new().trust_anchors(self.ca.roots()?.roots);
        let Some((cert, key)) = &self.identity else {
            return Ok(config);
        };
        // tonic takes the PEM text and parses it when the endpoint is built,
        // without saying which file failed: check both here first.
        let (cert_pem, key_pem) = (cert.read()?, key.read()?);
        pair(
            cert,
            key,
            cert.certificates_in(&cert_pem)?,
            key.private_key_in(&key_pem)?,
            &ring_provider(),
        )?;
        Ok(config.identity(Identity::from_pem(cert_pem, key_pem)))
    }
}

/// Whose certificate a failed TLS connection refused, as a client tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateRefusal {
    /// The server refused the client's certificate, or its lack of one (the
    /// alert it sent: certificate required, unknown CA, bad certificate...).
    ByServer,
    /// The client refused the server's certificate (not from the trusted CA,
    /// not for the host connected to, expired).
    ByClient,
}

impl CertificateRefusal {
    /// Finds one in `err` or its causes. A rustls error arrives wrapped in an
    /// `io::Error`, or, once HTTP/2 has read it (h2 keeps an I/O error's kind and
    /// text only), as the text of the alert received.
    pub fn find(err: &(dyn std::error::Error + 'static)) -> Option<Self> {
        let mut next = Some(err);
        while let Some(err) = next {
            let tls = err.downcast_ref::<rustls::Error>().or_else(|| {
                err.downcast_ref::<std::io::Error>()
                    .and_then(std::io::Error::get_ref)
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            });
            match tls {
                Some(rustls::Error::InvalidCertificate(_)) => return Some(Self::ByClient),
                Some(rustls::Error::AlertReceived(alert)) if CERTIFICATE_ALERTS.contains(alert) => {
                    return Some(Self::ByServer);
                }
                Some(_) => {}
                None => {
                    let text = err.to_string();
                    let alert = |alert: &rustls::AlertDescription| {
                        text == rustls::Error::AlertReceived(*alert).to_string()
                    };
                    if CERTIFICATE_ALERTS.iter().any(alert) {
                        return Some(Self::ByServer);
                    }
                }
            }
            next = err.source();
        }
        None
    }
}

/// The alerts a server sends when it refuses a client certificate (RFC 8446
/// §6.2).
const CERTIFICATE_ALERTS: [rustls::AlertDescription; 8] = [
    rustls::AlertDescription::CertificateRequired,
    rustls::AlertDescription::BadCertificate,
    rustls::AlertDescription::UnsupportedCertificate,
    rustls::AlertDescription::CertificateRevoked,
    rustls::AlertDescription::CertificateExpired,
    rustls::AlertDescription::CertificateUnknown,
    rustls::AlertDescription::UnknownCA,
    rustls::AlertDescription::AccessDenied,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of its own per test, removed at the end.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("control-api-tls-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn file(&self, setting: &'static str, name: &str, text: &str) -> PemFile {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            PemFile::new(setting, path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn server_files(dir: &Dir, client_ca: bool) -> ServerTlsFiles {
        let server = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["clients.test".into()]).unwrap();
        ServerTlsFiles {
            cert: dir.file("--control-tls-cert", "cert.pem", &server.cert.pem()),
            key: dir.file(
                "--control-tls-key",
                "key.pem",
                &server.signing_key.serialize_pem(),
            ),
            client_ca: client_ca.then(|| dir.file("--control-client-ca", "ca.pem", &ca.cert.pem())),
        }
    }

    #[test]
    fn good_files_load_and_say_whether_clients_need_certificates() {
        let dir = Dir::new("good");
        let tls = server_files(&dir, false).load().unwrap();
        assert!(!tls.requires_client_certificates());
        let tls = server_files(&dir, true).load().unwrap();
        assert!(tls.requires_client_certificates());
    }

    #[test]
    fn client_certificates_alone_may_serve_beyond_loopback_and_tls_alone_may_not() {
        let dir = Dir::new("exposure");
        let exposed: std::net::SocketAddr = "0.0.0.0:50051".parse().unwrap();
        let encrypted =
            crate::auth::Auth::none().with_tls(server_files(&dir, false).load().unwrap());
        assert!(!encrypted.is_required());
        let err = encrypted.check_exposure(exposed).unwrap_err();
        assert!(
            err.contains("--control-token") && err.contains("--control-client-ca"),
            "{err}"
        );
        let mutual = crate::auth::Auth::none().with_tls(server_files(&dir, true).load().unwrap());
        assert!(mutual.is_required());
        assert!(mutual.check_exposure(exposed).is_ok());
        let both =
            crate::auth::Auth::bearer("s3cret").with_tls(server_files(&dir, true).load().unwrap());
        assert!(both.check_exposure(exposed).is_ok());
        assert!(!format!("{both:?}").contains("s3cret"));
    }

    #[test]
    fn every_bad_file_is_named_with_its_setting() {
        let dir = Dir::new("bad");
        let good = server_files(&dir, true);

        let missing = ServerTlsFiles {
            client_ca: Some(PemFile::new("--control-client-ca", dir.0.join("none.pem"))),
            ..good.clone()
        };
        let err = missing.load().unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "--control-client-ca {}: cannot read it:",
                dir.0.join("none.pem").display()
            )),
            "{err}"
        );

        let garbage = ServerTlsFiles {
            cert: dir.file("--control-tls-cert", "garbage.pem", "not a certificate"),
            ..good.clone()
        };
        let err = garbage.load().unwrap_err();
        assert_eq!(err.setting, "--control-tls-cert");
        assert_eq!(err.reason, "no PEM certificate (BEGIN CERTIFICATE) in it");

        // A certificate where the key should be.
        let swapped = ServerTlsFiles {
            key: PemFile::new("--control-tls-key", good.cert.path.clone()),
            ..good.clone()
        };
        let err = swapped.load().unwrap_err();
        assert_eq!(err.setting, "--control-tls-key");
        assert!(err.reason.starts_with("no PEM private key"), "{err}");

        // Another certificate's key.
        let other = rcgen::generate_simple_self_signed(vec!["other.test".into()]).unwrap();
        let mismatched = ServerTlsFiles {
            key: dir.file(
                "--control-tls-key",
                "other-key.pem",
                &other.signing_key.serialize_pem(),
            ),
            ..good.clone()
        };
        let err = mismatched.load().unwrap_err().to_string();
        assert!(
            err.contains("other-key.pem: not the key of --control-tls-cert"),
            "{err}"
        );

        let broken = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
        let bad_ca = ServerTlsFiles {
            client_ca: Some(dir.file("--control-client-ca", "broken.pem", broken)),
            ..good
        };
        let err = bad_ca.load().unwrap_err();
        assert_eq!(err.setting, "--control-client-ca");
        assert!(err.path.ends_with("broken.pem"), "{err}");
    }

    #[test]
    fn certificate_refusals_are_found_in_the_chain() {
        let wrapped =
            |err: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, err);
        let refused = wrapped(rustls::Error::AlertReceived(
            rustls::AlertDescription::CertificateRequired,
        ));
        assert_eq!(
            CertificateRefusal::find(&refused),
            Some(CertificateRefusal::ByServer)
        );
        let untrusted = wrapped(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert_eq!(
            CertificateRefusal::find(&untrusted),
            Some(CertificateRefusal::ByClient)
        );
        let other = wrapped(rustls::Error::AlertReceived(
            rustls::AlertDescription::HandshakeFailure,
        ));
        assert_eq!(CertificateRefusal::find(&other), None);
        let plain = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(CertificateRefusal::find(&plain), None);
        // What h2 hands on: the kind and the text of the I/O error.
        let retold = std::io::Error::new(std::io::ErrorKind::InvalidData, refused.to_string());
        assert_eq!(
            CertificateRefusal::find(&retold),
            Some(CertificateRefusal::ByServer)
        );
    }

    #[test]
    fn client_files_are_checked_before_tonic_sees_them() {
        let dir = Dir::new("client");
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
        let client = rcgen::generate_simple_self_signed(vec!["client.test".into()]).unwrap();
        let files = ClientTlsFiles {
            ca: dir.file("--tls-ca", "ca.pem", &ca.cert.pem()),
            identity: Some((
                dir.file("--tls-cert", "client.pem", &client.cert.pem()),
                dir.file(
                    "--tls-key",
                    "client-key.pem",
                    &client.signing_key.serialize_pem(),
                ),
            )),
        };
        assert!(files.load().is_ok());
        let wrong_key = ClientTlsFiles {
            identity: Some((
                dir.file("--tls-cert", "client.pem", &client.cert.pem()),
                dir.file("--tls-key", "ca-key.pem", &ca.signing_key.serialize_pem()),
            )),
            ..files.clone()
        };
        let err = wrong_key.load().unwrap_err();
        assert_eq!(err.setting, "--tls-key");
        assert!(err.reason.starts_with("not the key of --tls-cert"), "{err}");
        let no_ca = ClientTlsFiles {
            ca: PemFile::new("--tls-ca", dir.0.join("missing-ca.pem")),
            identity: None,
        };
        let err = no_ca.load().unwrap_err().to_string();
        assert!(err.starts_with("--tls-ca "), "{err}");
        assert!(err.contains("missing-ca.pem: cannot read it"), "{err}");
    }
}
