//! The control API over HTTP/JSON (`control_api::http`) on the daemon's HTTP
//! port, served for one engine on `127.0.0.1:0` beside `/metrics`, and a
//! blocking HTTP client (ureq) such as a SIP server's script is: POST a JSON
//! request, read the status and the JSON answer, or read a `WatchEvents`
//! stream line by line.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::time::Duration;

use control_api::auth::Auth;
use msrp_switch::control::ControlService;
use msrp_switch::lifecycle::Lifecycle;
use msrp_switch::metrics::{HttpLimits, serve_http};
use msrp_switch::transport::Engine;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::time::timeout;

use crate::LIMIT;

/// The HTTP port of one engine, with the control routes; stops when dropped.
pub struct HttpFront {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

/// One answer: the HTTP status and the body as JSON (`Null` if it is not).
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status code.
    pub status: u16,
    /// The body, parsed.
    pub json: Value,
}

impl HttpFront {
    /// Serves the port for `engine` on `bind` (`127.0.0.1:0` in most tests)
    /// with `auth`.
    pub async fn start(engine: &Engine, auth: Auth, bind: &str) -> HttpFront {
        Self::start_with_tls(engine, auth, bind, None).await
    }

    /// [`start`](Self::start) over TLS (`--http-tls`) with `tls`.
    pub async fn start_with_tls(
        engine: &Engine,
        auth: Auth,
        bind: &str,
        tls: Option<control_api::tls::ServerTls>,
    ) -> HttpFront {
        let listener = TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let (_ready_tx, ready) = watch::channel(true);
        let service =
            ControlService::with_lifecycle(engine.clone(), Lifecycle::new(Duration::from_secs(30)));
        let routes = control_api::http::router(service, auth, Duration::from_secs(10));
        tokio::spawn(serve_http(
            listener,
            engine.clone(),
            ready,
            HttpLimits::default(),
            routes,
            tls,
            async {
                let _ = stopped.await;
            },
        ));
        HttpFront { addr, _stop: stop }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of `method` (`CreateSession`) on `host` (the listening address
    /// unless a test reaches it another way).
    pub fn url(&self, method: &str) -> String {
        format!(
            "http://{}{}{method}",
            self.addr,
            control_api::http::SERVICE_PATH
        )
    }

    /// POSTs `body` to `method`, with `Authorization: Bearer <token>` if given.
    pub async fn call(&self, method: &str, body: &str, token: Option<&str>) -> Answer {
        post(self.url(method), body.to_owned(), token.map(str::to_owned)).await
    }

    /// [`call`](Self::call) that must succeed: the answer's JSON.
    pub async fn ok(&self, method: &str, body: Value) -> Value {
        let answer = self.call(method, &body.to_string(), None).await;
        assert_eq!(answer.status, 200, "{method} {body}: {answer:?}");
        answer.json
    }

    /// Opens a `WatchEvents` stream with `body`; its events arrive on the
    /// returned channel, one JSON document per line, until the stream ends.
    pub fn watch(&self, body: &str) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let url = self.url("WatchEvents");
        let body = body.to_owned();
        std::thread::spawn(move || {
            let agent = agent();
            let Ok(response) = agent.post(&url).send(body) else {
                return;
            };
            let reader = BufReader::new(response.into_body().into_reader());
            for line in reader.lines() {
                let Ok(line) = line else { return };
                let Ok(value) = serde_json::from_str(&line) else {
                    return;
                };
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        rx
    }
}

/// A client that hands back every status (a script reads 4xx bodies too).
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(LIMIT))
        .build()
        .into()
}

/// POSTs `body` to `url` on a blocking thread.
pub async fn post(url: String, body: String, token: Option<String>) -> Answer {
    tokio::task::spawn_blocking(move || {
        let mut request = agent()
            .post(&url)
            .header("Content-Type", "application/json");
        if let Some(token) = token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let mut response = request.send(body).unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        Answer {
            status,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    })
    .await
    .unwrap()
}

/// POSTs each of `bodies` to `url` in turn over one client, whose
/// connection is kept alive between them, on a blocking thread: thousands of
/// calls in the time a new connection each would take for a few hundred.
pub async fn post_each(url: String, bodies: Vec<String>) -> Vec<Answer> {
    tokio::task::spawn_blocking(move || {
        let agent = agent();
        bodies
            .into_iter()
            .map(|body| {
                let mut response = agent
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .send(body)
                    .unwrap();
                let status = response.status().as_u16();
                let text = response.body_mut().read_to_string().unwrap();
                Answer {
                    status,
                    json: serde_json::from_str(&text).unwrap_or(Value::Null),
                }
            })
            .collect()
    })
    .await
    .unwrap()
}

/// An answer read as text, with its headers (lower-case names).
#[derive(Debug)]
pub struct RawAnswer {
    /// The HTTP status code.
    pub status: u16,
    /// The headers, by lower-case name.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub text: String,
}

impl RawAnswer {
    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// POSTs `body` as `content_type` to `url` on a blocking thread.
pub async fn post_raw(url: String, content_type: &'static str, body: String) -> RawAnswer {
    tokio::task::spawn_blocking(move || {
        let mut response = agent()
            .post(&url)
            .header("Content-Type", content_type)
            .send(body)
            .unwrap();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        RawAnswer {
            status: response.status().as_u16(),
            headers,
            text: response.body_mut().read_to_string().unwrap(),
        }
    })
    .await
    .unwrap()
}

/// One HTTP/1.1 request over TLS to `addr` (`Connection: close`), trusting
/// `pki`'s CA and, with `client`, presenting its client certificate: the
/// whole response as text, or the error of the handshake or the exchange.
pub async fn https(
    addr: SocketAddr,
    pki: &crate::Pki,
    client: bool,
    request_line: &str,
    body: &str,
) -> std::io::Result<String> {
    use control_api::tls::PemFile;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let roots = PemFile::new("ca", &pki.ca).roots().unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(control_api::tls::ring_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = if client {
        let certs = PemFile::new("cert", &pki.client_cert)
            .certificates()
            .unwrap();
        let key = PemFile::new("key", &pki.client_key).private_key().unwrap();
        builder.with_client_auth_cert(certs, key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = timeout(LIMIT, connector.connect(name, tcp)).await??;
    let request = format!(
        "{request_line} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    timeout(LIMIT, tls.read_to_end(&mut response)).await??;
    Ok(String::from_utf8_lossy(&response).into_owned())
}
