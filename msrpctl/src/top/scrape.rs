//! `GET /metrics` from the daemon's HTTP port, in the Prometheus text format.
//!
//! The client is hyper's HTTP/1.1 connection, which msrpctl already links through
//! tonic and axum: it is async, so a slow scrape never holds up Ctrl-C or `q`,
//! and it is bounded by `--timeout-seconds` like every call. Each scrape opens
//! its own connection (`Connection: close`): one a second costs nothing, and
//! the daemon closes idle connections after 10 s anyway. An https:// URL (the
//! daemon's `--http-tls`) uses `--tls-ca` and, for client certificates,
//! `--tls-cert` / `--tls-key`, as the control API does.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use control_api::tls::{PemFile, ring_provider};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header::{ACCEPT, CONNECTION, HOST, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::Cli;
use crate::failure::{Cause, error_chain};

/// What `top` asks for: the Prometheus text format, whose counters carry their
/// `_total` (the daemon's default, OpenMetrics, would do as well).
const ACCEPT_TEXT: &str = "text/plain; version=0.0.4";

/// The largest page read. The daemon's is about 30 KiB; a page this large is
/// not its /metrics, and reading it would only use memory.
const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;

/// The metrics URL, checked once, and how to reach it.
pub struct Scraper {
    /// The URL as shown in messages: `http://127.0.0.1:9464/metrics`.
    url: String,
    host: String,
    port: u16,
    /// `Host:` header value.
    authority: String,
    /// Path and query requested.
    path: String,
    tls: Option<TlsConnector>,
    timeout: Duration,
}

impl Scraper {
    /// Checks `--metrics` (and, for https, reads the TLS files).
    ///
    /// # Errors
    ///
    /// The text of a usage failure: a URL that is not `http(s)://host[:port][/path]`,
    /// or https without a usable `--tls-ca`.
    pub fn new(metrics: &str, cli: &Cli) -> Result<Self, String> {
        let with_scheme = if metrics.contains("://") {
            metrics.to_owned()
        } else {
            format!("http://{metrics}")
        };
        let bad = |why: &str| {
            format!(
                "invalid --metrics {metrics:?}: {why} (expected e.g. {})",
                crate::DEFAULT_METRICS
            )
        };
        let uri: Uri = with_scheme.parse().map_err(|err| bad(&format!("{err}")))?;
        let secure = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = authority
            .port_u16()
            .unwrap_or(if secure { 443 } else { 80 });
        let path = match uri.path_and_query().map(|p| p.as_str()) {
            None | Some("" | "/") => "/metrics".to_owned(),
            Some(path) => path.to_owned(),
        };
        let tls = if secure {
            Some(tls_connector(cli)?)
        } else {
            None
        };
        let scheme = if secure { "https" } else { "http" };
        Ok(Self {
            url: format!("{scheme}://{authority}{path}"),
            host: host.to_owned(),
            port,
            authority: authority.as_str().to_owned(),
            path,
            tls,
            timeout: Duration::from_secs(cli.timeout_seconds),
        })
    }

    /// The URL scraped, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// One scrape: the page's text.
    ///
    /// # Errors
    ///
    /// Why no page was read: no connection (or a refused certificate), no
    /// answer within the timeout, or an answer that is not a 200 with text.
    pub async fn scrape(&self) -> Result<String, Cause> {
        match tokio::time::timeout(self.timeout, self.fetch()).await {
            Ok(result) => result,
            Err(_) => Err(Cause::Timeout {
                seconds: self.timeout.as_secs(),
            }),
        }
    }

    async fn fetch(&self) -> Result<String, Cause> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|err| Cause::connection(&self.url, &err))?;
        // Small requests and replies: no Nagle delay.
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => self.exchange(tcp).await,
            Some(connector) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|err| self.failed(format!("{:?}: {err}", self.host)))?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|err| Cause::connection(&self.url, &err))?;
                self.exchange(tls).await
            }
        }
    }

    /// GET over an open connection; the page's text.
    async fn exchange<T>(&self, io: T) -> Result<String, Cause>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|err| Cause::connection(&self.url, &err))?;
        // The connection future moves the bytes; it ends when the server closes
        // the connection (`Connection: close`) or when `sender` is dropped.
        tokio::spawn(connection);
        let request = Request::get(self.path.as_str())
            .header(HOST, self.authority.as_str())
            .header(ACCEPT, ACCEPT_TEXT)
            .header(CONNECTION, "close")
            .header(USER_AGENT, concat!("msrpctl/", env!("CARGO_PKG_VERSION")))
            .body(Empty::<Bytes>::new())
            .map_err(|err| self.failed(err.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|err| Cause::connection(&self.url, &err))?;
        let status = response.status();
        if status != StatusCode::OK {
            return Err(self.failed(format!(
                "HTTP {status}; is {} the daemon's HTTP port (--metrics-listen)?",
                self.url
            )));
        }
        let body = Limited::new(response.into_body(), MAX_PAGE_BYTES)
            .collect()
            .await
            .map_err(|err| self.failed(format!("reading the page: {err}")))?
            .to_bytes();
        String::from_utf8(body.to_vec()).map_err(|_| self.failed("the page is not UTF-8 text"))
    }

    /// A failure with the page, as opposed to reaching it.
    fn failed(&self, detail: impl Into<String>) -> Cause {
        Cause::Metrics {
            url: self.url.clone(),
            detail: detail.into(),
        }
    }
}

/// The TLS of an https:// `--metrics`: `--tls-ca` (msrpctl trusts no system
/// roots), and `--tls-cert` / `--tls-key` if the port asks for a client
/// certificate. No ALPN is offered: the HTTP port speaks HTTP/1.1, and a
/// server whose ALPN list does not overlap the client's refuses the handshake.
fn tls_connector(cli: &Cli) -> Result<TlsConnector, String> {
    let Some(ca) = &cli.tls_ca else {
        return Err(
            "an https:// --metrics needs --tls-ca (MSRPCTL_TLS_CA): the CA that signed the \
             switch's certificate"
                .to_owned(),
        );
    };
    let roots = PemFile::new("--tls-ca", ca)
        .roots()
        .map_err(|err| err.to_string())?;
    let builder = rustls::ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS for --metrics: {}", error_chain(&err)))?
        .with_root_certificates(roots);
    let config = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => {
            let chain = PemFile::new("--tls-cert", cert)
                .certificates()
                .map_err(|err| err.to_string())?;
            let key = PemFile::new("--tls-key", key)
                .private_key()
                .map_err(|err| err.to_string())?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|err| format!("--tls-cert and --tls-key: {}", error_chain(&err)))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(
                "--tls-cert and --tls-key go together (the client certificate and its key)"
                    .to_owned(),
            );
        }
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cli() -> Cli {
        Cli::try_parse_from(["msrpctl", "top"]).unwrap()
    }

    #[test]
    fn the_metrics_url_defaults_to_the_metrics_path() {
        let cli = cli();
        let scraper = Scraper::new("http://127.0.0.1:9464", &cli).unwrap();
        assert_eq!(scraper.url(), "http://127.0.0.1:9464/metrics");
        assert_eq!((scraper.host.as_str(), scraper.port), ("127.0.0.1", 9464));
        let scraper = Scraper::new("10.0.0.5:9000/", &cli).unwrap();
        assert_eq!(scraper.url(), "http://10.0.0.5:9000/metrics");
        let scraper = Scraper::new("http://[::1]/custom?x=1", &cli).unwrap();
        assert_eq!(scraper.url(), "http://[::1]/custom?x=1");
        assert_eq!((scraper.host.as_str(), scraper.port), ("::1", 80));
        assert_eq!(scraper.authority, "[::1]");
    }

    #[test]
    fn bad_metrics_urls_say_what_is_expected() {
        let cli = cli();
        let err = Scraper::new("ftp://h:1", &cli).err().unwrap();
        assert!(err.contains("the scheme must be http or https"), "{err}");
        assert!(err.contains("expected e.g. http://127.0.0.1:9464"), "{err}");
        let err = Scraper::new("https://h:1", &cli).err().unwrap();
        assert!(err.contains("needs --tls-ca"), "{err}");
    }
}
