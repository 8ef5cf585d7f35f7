//! MSRP over TLS (RFC 4975 §14, `msrps`): the switch's certificate, the rustls
//! configurations for connections it accepts and opens, and the certificate
//! checks of RFC 8122 (self-signed certificates pinned by `a=fingerprint`, no CA).
//!
//! rustls runs with the ring provider only, TLS 1.2 and 1.3. The certificate is
//! read from PEM files, or generated (self-signed, rcgen) when none is
//! configured; [`SwitchCertificate::reload`] swaps it for new handshakes on SIGHUP while
//! established connections keep theirs.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};
use sha1::Digest as _;

use control_api::tls::PemFile;
use msrp_proto::media::{Fingerprint, HashFunction};
use msrp_proto::security::PeerCertificate;

/// How the daemon runs TLS.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// PEM certificate chain (the switch's own first); `None` with `key`
    /// `None`: a self-signed certificate is generated at start.
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the chain's first certificate.
    pub key: Option<PathBuf>,
    /// How long a TLS handshake may take, accepted or opened.
    pub handshake_timeout: Duration,
    /// Names (DNS or IP) a generated certificate is issued for.
    pub self_signed_names: Vec<String>,
    /// PEM CA bundle the RFC 4976 relay verifies next hops' certificates
    /// against (WebPKI, the name or address of the hop's URI); `None`: the relay
    /// opens no TLS connections to next hops.
    pub relay_ca: Option<PathBuf>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            handshake_timeout: Duration::from_secs(10),
            self_signed_names: vec!["localhost".into(), "127.0.0.1".into()],
            relay_ca: None,
        }
    }
}

/// Why the certificate could not be loaded, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate file that cannot be read or holds no certificate.
    #[error("--tls-cert {}: {reason}", path.display())]
    Cert {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A key file that cannot be read or holds no usable key.
    #[error("--tls-key {}: {reason}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Only one of certificate and key was given.
    #[error("give both a certificate (--tls-cert) and its key (--tls-key), or neither")]
    Incomplete,
    /// Generating the self-signed certificate failed.
    #[error("generating a self-signed certificate: {0}")]
    Generate(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The relay's CA bundle cannot be read or holds no usable certificate.
    #[error("--relay-tls-ca {}: {reason}", path.display())]
    RelayCa {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A TLS next hop, and no CA bundle to verify it with.
    #[error("no --relay-tls-ca: the relay cannot verify a TLS next hop")]
    NoRelayCa,
}

/// The switch's certificate and key as handshakes use them now.
struct Current {
    key: Arc<CertifiedKey>,
    /// `sha-256 AB:...` of the first certificate: the `a=fingerprint` of every
    /// `msrps` participant's local media.
    fingerprint: Fingerprint,
}

/// The switch's TLS identity, shared by every shard: the certificate handshakes
/// present (as server and, connecting out, as client), swapped whole on reload.
pub struct SwitchCertificate {
    settings: TlsSettings,
    /// Read at each handshake (not on the forwarding path); written on reload.
    current: RwLock<Arc<Current>>,
    provider: Arc<CryptoProvider>,
    /// The relay's trust anchors for next hops (`--relay-tls-ca`).
    relay_roots: Option<Arc<RootCertStore>>,
}

impl fmt::Debug for SwitchCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwitchCertificate")
            .field("fingerprint", &self.fingerprint().to_string())
            .finish_non_exhaustive()
    }
}

impl SwitchCertificate {
    /// Loads the configured certificate, or generates a self-signed one.
    pub fn load(settings: TlsSettings) -> Result<Self, TlsError> {
        let provider = ring_provider();
        let current = load_current(&settings, &provider)?;
        let relay_roots = match &settings.relay_ca {
            None => None,
            Some(path) => Some(Arc::new(read_roots(path)?)),
        };
        Ok(Self {
            settings,
            current: RwLock::new(Arc::new(current)),
            provider,
            relay_roots,
        })
    }

    /// Reads the certificate files again (SIGHUP): new handshakes present the new
    /// certificate, established connections keep theirs. A generated
    /// certificate is kept (a new one would break every pinned fingerprint).
    /// Returns the fingerprint in force; on an error the old certificate stays.
    pub fn reload(&self) -> Result<Fingerprint, TlsError> {
        if self.settings.cert.is_none() {
            return Ok(self.fingerprint());
        }
        let current = Arc::new(load_current(&self.settings, &self.provider)?);
        let fingerprint = current.fingerprint.clone();
        match self.current.write() {
            Ok(mut slot) => *slot = current,
            Err(poisoned) => *poisoned.into_inner() = current,
        }
        Ok(fingerprint)
    }

    /// The sha-256 fingerprint of the certificate in force.
    pub fn fingerprint(&self) -> Fingerprint {
        self.current().fingerprint.clone()
    }

    /// True if the certificate was generated at start rather than configured.
    pub fn is_self_signed(&self) -> bool {
        self.settings.cert.is_none()
    }

    /// How long a handshake may take.
    pub fn handshake_timeout(&self) -> Duration {
        self.settings.handshake_timeout
    }

    fn current(&self) -> Arc<Current> {
        match self.current.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The configuration of accepted connections: the current certificate,
    /// a client certificate asked for but not required (checked against the
    /// participant's fingerprint at bind, see `msrp_proto::security`).
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, TlsError> {
        let config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_client_cert_verifier(Arc::new(AnyClientCertificate {
                provider: Arc::clone(&self.provider),
            }))
            .with_cert_resolver(Arc::new(Resolver(Arc::clone(self))));
        Ok(Arc::new(config))
    }

    /// The configuration of a connection the switch opens to a participant whose
    /// certificate must be one of `fingerprints`; the switch presents its own
    /// certificate as the client's, for the participant to pin in turn.
    pub fn client_config(
        self: &Arc<Self>,
        fingerprints: Vec<Fingerprint>,
    ) -> Result<Arc<ClientConfig>, TlsError> {
        let config = ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedServer {
                fingerprints,
                provider: Arc::clone(&self.provider),
            }))
            .with_client_cert_resolver(Arc::new(Resolver(Arc::clone(self))));
        Ok(Arc::new(config))
    }

    /// The configuration of a connection the RFC 4976 relay opens to a next hop
    /// (RFC 4976 §9.2: relays authenticate each other): the hop's certificate
    /// verified against `--relay-tls-ca` for the name or address in its URI, the
    /// switch's certificate presented as the client's.
    pub fn relay_client_config(self: &Arc<Self>) -> Result<Arc<ClientConfig>, TlsError> {
        let roots = self.relay_roots.clone().ok_or(TlsError::NoRelayCa)?;
        let config = ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_root_certificates(roots)
            .with_client_cert_resolver(Arc::new(Resolver(Arc::clone(self))));
        Ok(Arc::new(config))
    }
}

/// The CA bundle in `path`, as trust anchors.
fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let error = |reason: String| TlsError::RelayCa {
        path: path.to_owned(),
        reason,
    };
    let certificates = PemFile::new("--relay-tls-ca", path)
        .certificates()
        .map_err(|err| error(err.reason))?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(error("no usable CA certificate in it".into()));
    }
    Ok(roots)
}

fn load_current(settings: &TlsSettings, provider: &CryptoProvider) -> Result<Current, TlsError> {
    let (chain, key) = match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => (read_chain(cert)?, read_key(key)?),
        (None, None) => generate(&settings.self_signed_names)?,
        _ => return Err(TlsError::Incomplete),
    };
    let first = chain.first().cloned().ok_or(TlsError::Incomplete)?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|err| TlsError::Key {
            path: settings.key.clone().unwrap_or_default(),
            reason: err.to_string(),
        })?;
    let key = CertifiedKey::new(chain, signing);
    if settings.key.is_some() {
        // A key that is not the certificate's fails every handshake: say so now.
        key.keys_match().map_err(|err| TlsError::Key {
            path: settings.key.clone().unwrap_or_default(),
            reason: format!("does not match the certificate: {err}"),
        })?;
    }
    Ok(Current {
        key: Arc::new(key),
        fingerprint: fingerprint(HashFunction::Sha256, &first),
    })
}

/// The chain in `path`, read as the control port reads its files.
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    PemFile::new("--tls-cert", path)
        .certificates()
        .map_err(|err| TlsError::Cert {
            path: err.path,
            reason: err.reason,
        })
}

/// The private key in `path`, read as the control port reads its files.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PemFile::new("--tls-key", path)
        .private_key()
        .map_err(|err| TlsError::Key {
            path: err.path,
            reason: err.reason,
        })
}

/// A self-signed certificate for `names` (rcgen, ECDSA P-256).
fn generate(
    names: &[String],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let generated = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|err| TlsError::Generate(err.to_string()))?;
    let key = PrivateKeyDer::try_from(generated.signing_key.serialize_der())
        .map_err(|err| TlsError::Generate(err.to_string()))?;
    Ok((vec![generated.cert.der().clone()], key))
}

/// The digest of a DER certificate under `function`.
pub fn digest(function: HashFunction, der: &[u8]) -> Vec<u8> {
    match function {
        HashFunction::Sha1 => sha1::Sha1::digest(der).to_vec(),
        HashFunction::Sha224 => sha2::Sha224::digest(der).to_vec(),
        HashFunction::Sha256 => sha2::Sha256::digest(der).to_vec(),
        HashFunction::Sha384 => sha2::Sha384::digest(der).to_vec(),
        HashFunction::Sha512 => sha2::Sha512::digest(der).to_vec(),
    }
}

/// The fingerprint of a DER certificate under `function`.
pub fn fingerprint(function: HashFunction, der: &[u8]) -> Fingerprint {
    Fingerprint {
        hash: function,
        digest: digest(function, der),
    }
}

/// What the core is told of a TLS peer's certificate: its digests.
pub(crate) fn peer_certificate(
    certificates: Option<&[CertificateDer<'_>]>,
) -> Option<Box<PeerCertificate>> {
    let first = certificates?.first()?;
    Some(Box::new(PeerCertificate::new(|function| {
        digest(function, first)
    })))
}

pub use control_api::tls::ring_provider;

/// Refuses a certificate outside its validity period: pinning by fingerprint
/// checks who, not when, and an expired certificate is a retired one.
fn check_validity(der: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der)
        .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
    let validity = &cert.tbs_certificate.validity;
    let now = Duration::from_secs(now.as_secs());
    if now > validity.not_after.to_unix_duration() {
        return Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Expired,
        ));
    }
    if now < validity.not_before.to_unix_duration() {
        return Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidYet,
        ));
    }
    Ok(())
}

/// Presents the current certificate, as server and as client.
#[derive(Debug)]
struct Resolver(Arc<SwitchCertificate>);

impl rustls::server::ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.current().key))
    }
}

impl rustls::client::ResolvesClientCert for Resolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.current().key))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The handshake signature checks both verifiers share: the provider's algorithms,
/// as rustls' own verifiers use them.
macro_rules! signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}

/// Accepts any client certificate within its validity period, and none: who
/// the client is, is decided at bind by the participant's fingerprint. The
/// handshake signature is still verified, so a client presenting a certificate
/// holds its key.
#[derive(Debug)]
pub struct AnyClientCertificate {
    provider: Arc<CryptoProvider>,
}

impl AnyClientCertificate {
    /// The verifier with the `ring` provider's signature algorithms (for a peer
    /// that accepts connections from the switch: the tests' listening peer).
    pub fn new() -> Self {
        Self {
            provider: ring_provider(),
        }
    }
}

impl Default for AnyClientCertificate {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        check_validity(end_entity, now)?;
        Ok(ClientCertVerified::assertion())
    }

    signature_checks!();
}

/// Accepts the server certificate only if it is one of the participant's
/// fingerprints (RFC 8122 §5), within its validity period.
#[derive(Debug)]
pub struct PinnedServer {
    fingerprints: Vec<Fingerprint>,
    provider: Arc<CryptoProvider>,
}

impl PinnedServer {
    /// Accepts only a certificate with one of `fingerprints`, using the `ring`
    /// provider's signature algorithms.
    pub fn new(fingerprints: Vec<Fingerprint>) -> Self {
        Self {
            fingerprints,
            provider: ring_provider(),
        }
    }
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pinned = self
            .fingerprints
            .iter()
            .any(|f| digest(f.hash, end_entity) == f.digest);
        if !pinned {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ));
        }
        check_validity(end_entity, now)?;
        Ok(ServerCertVerified::assertion())
    }

    signature_checks!();
}

/// Why a handshake failed, as the metric labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// It did not finish within the handshake timeout.
    Timeout,
    /// The peer closed or reset the connection during it.
    Closed,
    /// The peer's certificate was refused (expired, not yet valid, not the
    /// pinned one, malformed).
    Certificate,
    /// Anything else the peer sent that is not a TLS 1.2/1.3 handshake (plain
    /// MSRP on the TLS port, an old version, no common cipher suite).
    Protocol,
}

impl HandshakeFailure {
    /// Every reason, in the order of [`HandshakeFailure::index`].
    pub const ALL: [Self; 4] = [
        Self::Timeout,
        Self::Closed,
        Self::Certificate,
        Self::Protocol,
    ];

    /// The metric label.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Closed => "closed",
            Self::Certificate => "certificate",
            Self::Protocol => "protocol",
        }
    }

    /// Its index among the per-reason counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Classifies the error a tokio-rustls handshake ended with.
    pub fn of(err: &std::io::Error) -> Self {
        use std::io::ErrorKind;
        if let Some(tls) = err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return match tls {
                rustls::Error::InvalidCertificate(_)
                | rustls::Error::NoCertificatesPresented
                | rustls::Error::AlertReceived(
                    rustls::AlertDescription::BadCertificate
                    | rustls::AlertDescription::CertificateExpired
                    | rustls::AlertDescription::CertificateUnknown
                    | rustls::AlertDescription::UnknownCA,
                ) => Self::Certificate,
                _ => Self::Protocol,
            };
        }
        match err.kind() {
            ErrorKind::UnexpectedEof
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe => Self::Closed,
            ErrorKind::TimedOut => Self::Timeout,
            _ => Self::Protocol,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_is_kept_across_reloads() {
        let identity = SwitchCertificate::load(TlsSettings::default()).unwrap();
        let before = identity.fingerprint();
        assert_eq!(before.hash, HashFunction::Sha256);
        assert_eq!(before.digest.len(), 32);
        assert!(identity.is_self_signed());
        assert_eq!(identity.reload().unwrap(), before);
    }

    #[test]
    fn configured_files_are_read_and_bad_ones_named() {
        let dir = std::env::temp_dir().join(format!("msrp-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let generated = rcgen::generate_simple_self_signed(vec!["switch.test".into()]).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, generated.cert.pem()).unwrap();
        std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
        let settings = TlsSettings {
            cert: Some(cert.clone()),
            key: Some(key.clone()),
            ..TlsSettings::default()
        };
        let identity = SwitchCertificate::load(settings.clone()).unwrap();
        assert_eq!(
            identity.fingerprint(),
            fingerprint(HashFunction::Sha256, generated.cert.der())
        );

        // Another key: named as the key file's problem.
        let other = rcgen::generate_simple_self_signed(vec!["other.test".into()]).unwrap();
        std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
        let err = SwitchCertificate::load(settings.clone())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("key.pem") && err.contains("does not match"),
            "{err}"
        );
        // A reload that fails keeps the certificate in force.
        assert!(identity.reload().is_err());
        assert_eq!(
            identity.fingerprint(),
            fingerprint(HashFunction::Sha256, generated.cert.der())
        );

        std::fs::write(&cert, "not a certificate").unwrap();
        let err = SwitchCertificate::load(settings).unwrap_err().to_string();
        assert!(err.contains("cert.pem"), "{err}");
        let missing = TlsSettings {
            cert: Some(dir.join("missing.pem")),
            key: Some(key),
            ..TlsSettings::default()
        };
        let err = SwitchCertificate::load(missing).unwrap_err().to_string();
        assert!(err.contains("missing.pem"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
