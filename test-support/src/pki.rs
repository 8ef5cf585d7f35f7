//! Certificates for the control port's TLS tests, made fresh by rcgen for each
//! test and written as PEM files into a [`TempDir`]: a CA, a server certificate
//! for `localhost` and 127.0.0.1 and a client certificate, both signed by it,
//! and a client certificate signed by a second CA that the switch does not
//! trust.

use std::path::{Path, PathBuf};

use control_api::auth::Auth;
use control_api::tls::{PemFile, ServerTlsFiles};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A directory of its own under the system's temporary directory, removed
/// when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `<tmp>/<name>-<pid>`, created empty.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `text` to the file `name` in the directory; returns its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The PEM files of one test's TLS set-up (paths as text, for command lines).
pub struct Pki {
    /// The directory holding them, removed with this.
    pub dir: TempDir,
    /// The CA that signed the server and client certificates.
    pub ca: String,
    /// The server's certificate (`localhost`, 127.0.0.1), signed by [`ca`](Self::ca).
    pub server_cert: String,
    /// Its private key.
    pub server_key: String,
    /// A client certificate signed by [`ca`](Self::ca).
    pub client_cert: String,
    /// Its private key.
    pub client_key: String,
    /// A client certificate signed by another CA.
    pub stranger_cert: String,
    /// Its private key.
    pub stranger_key: String,
}

impl Pki {
    /// Fresh certificates in `<tmp>/<name>-<pid>`.
    pub fn new(name: &str) -> Self {
        let dir = TempDir::new(name);
        let ca = test_ca("msrp-switch test CA");
        let other = test_ca("another CA");
        let server = leaf(
            &ca,
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = leaf(
            &ca,
            &["im-server.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let stranger = leaf(
            &other,
            &["stranger.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        Pki {
            ca: dir.file("ca.pem", &ca.pem()),
            server_cert: dir.file("server.pem", &server.0),
            server_key: dir.file("server-key.pem", &server.1),
            client_cert: dir.file("client.pem", &client.0),
            client_key: dir.file("client-key.pem", &client.1),
            stranger_cert: dir.file("stranger.pem", &stranger.0),
            stranger_key: dir.file("stranger-key.pem", &stranger.1),
            dir,
        }
    }

    /// The server's files; with `mtls`, clients must present a certificate
    /// from [`ca`](Self::ca).
    pub fn server_files(&self, mtls: bool) -> ServerTlsFiles {
        ServerTlsFiles {
            cert: PemFile::new("--control-tls-cert", &self.server_cert),
            key: PemFile::new("--control-tls-key", &self.server_key),
            client_ca: mtls.then(|| PemFile::new("--control-client-ca", &self.ca)),
        }
    }

    /// The daemon's flags for these files: certificate, key and client CA.
    pub fn daemon_flags(&self) -> [&str; 6] {
        [
            "--control-tls-cert",
            &self.server_cert,
            "--control-tls-key",
            &self.server_key,
            "--control-client-ca",
            &self.ca,
        ]
    }

    /// msrpctl's flags for the trusted client: CA, certificate and key.
    pub fn client_flags(&self) -> [&str; 6] {
        [
            "--tls-ca",
            &self.ca,
            "--tls-cert",
            &self.client_cert,
            "--tls-key",
            &self.client_key,
        ]
    }

    /// `auth` served over TLS with [`server_files`](Self::server_files).
    pub fn auth(&self, auth: Auth, mtls: bool) -> Auth {
        auth.with_tls(self.server_files(mtls).load().unwrap())
    }
}

/// A self-signed CA that may sign end-entity certificates.
fn test_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// An end-entity certificate for `names`, signed by `ca`: its PEM and its
/// key's PEM.
fn leaf(
    ca: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut params = CertificateParams::new(
        names
            .iter()
            .map(|name| (*name).to_owned())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}
