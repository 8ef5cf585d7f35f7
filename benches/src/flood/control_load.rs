//! `msrp-flood control`: the control plane under load, through the gRPC front
//! or the HTTP/JSON one (`--front http`). Each of `concurrency`
//! callers repeats one session's life as an IM Server drives it (CreateSession,
//! AddParticipant twice, ReleaseSession) for a fixed time; the report gives
//! cycles and calls per second and the cycle latency. With the switch's pid, it
//! also reads the switch's RSS before and after, so what a released session
//! leaves behind shows.

use std::time::{Duration, Instant};

use anyhow::Context;
use control_api::pb;

use super::target::switch::{Control, control_client};

/// Calls in one cycle: create, two adds, release.
pub const CALLS_PER_CYCLE: u64 = 4;

/// Which front the calls go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Front {
    /// gRPC on the control port (`control`).
    Grpc,
    /// HTTP/JSON on the HTTP port: its `host:port`.
    Http(String),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct ControlLoad {
    /// The control API's URL (gRPC).
    pub control: String,
    /// The front the calls take.
    pub front: Front,
    /// Its bearer token, if it requires one.
    pub token: Option<String>,
    /// Callers, each on its own connection.
    pub concurrency: usize,
    /// How long to run.
    pub duration: Duration,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlReport {
    /// Whole cycles done.
    pub cycles: u64,
    /// Seconds the cycles took.
    pub seconds: f64,
    /// Median and 99th percentile of a cycle, in milliseconds.
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p99_ms: f64,
}

impl ControlReport {
    /// Cycles per second.
    pub fn cycles_per_second(&self) -> f64 {
        self.cycles as f64 / self.seconds.max(f64::EPSILON)
    }

    /// Control calls per second.
    pub fn calls_per_second(&self) -> f64 {
        self.cycles_per_second() * CALLS_PER_CYCLE as f64
    }
}

/// The requests of one session's life: create, two participants that
/// connect in, release.
fn create(n: u64) -> pb::CreateSessionRequest {
    pb::CreateSessionRequest {
        kind: pb::SessionKind::OneToOne as i32,
        correlation_tag: format!("control-load-{n}"),
        ..Default::default()
    }
}

fn add(session_id: &str, n: u64, leg: &str) -> pb::AddParticipantRequest {
    let media = pb::Media {
        path: vec![format!("msrp://127.0.0.1:9/load{n}{leg};tcp")],
        accept_types: vec!["*".into()],
        setup: pb::Setup::Active as i32,
        ..Default::default()
    };
    pb::AddParticipantRequest {
        session_id: session_id.to_owned(),
        remote: Some(pb::RemoteMedia {
            media: Some(pb::remote_media::Media::Structured(media)),
        }),
        ..Default::default()
    }
}

/// A caller on either front.
enum Caller {
    Grpc(Control),
    Http(HttpCaller),
}

impl Caller {
    /// One session's life.
    async fn cycle(&mut self, n: u64) -> anyhow::Result<()> {
        match self {
            Caller::Grpc(client) => {
                let session_id = client
                    .create_session(create(n))
                    .await
                    .context("CreateSession")?
                    .into_inner()
                    .session_id;
                for leg in ["a", "b"] {
                    client
                        .add_participant(add(&session_id, n, leg))
                        .await
                        .context("AddParticipant")?;
                }
                client
                    .release_session(pb::ReleaseSessionRequest { session_id })
                    .await
                    .context("ReleaseSession")?;
            }
            Caller::Http(http) => {
                let created: pb::CreateSessionResponse =
                    http.call("CreateSession", &create(n)).await?;
                let session_id = created.session_id;
                for leg in ["a", "b"] {
                    let _: pb::AddParticipantResponse = http
                        .call("AddParticipant", &add(&session_id, n, leg))
                        .await?;
                }
                let _: pb::ReleaseSessionResponse = http
                    .call("ReleaseSession", &pb::ReleaseSessionRequest { session_id })
                    .await?;
            }
        }
        Ok(())
    }
}

/// One kept-alive HTTP/1.1 connection to the HTTP port, as a script's client
/// with connection reuse is.
struct HttpCaller {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    host: String,
    authorization: Option<String>,
}

impl HttpCaller {
    async fn connect(host: &str, token: Option<&str>) -> anyhow::Result<HttpCaller> {
        let tcp = tokio::net::TcpStream::connect(host)
            .await
            .with_context(|| format!("connecting to the HTTP port {host}"))?;
        tcp.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
        tokio::spawn(connection);
        Ok(HttpCaller {
            sender,
            host: host.to_owned(),
            authorization: token.map(|t| format!("Bearer {t}")),
        })
    }

    /// POSTs `request` as JSON to `method`; the JSON answer, or the status.
    async fn call<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &mut self,
        method: &str,
        request: &Req,
    ) -> anyhow::Result<Resp> {
        use http_body_util::BodyExt;
        let body = serde_json::to_vec(request)?;
        let mut builder = hyper::Request::post(format!("/msrpswitch.v1.SwitchControl/{method}"))
            .header("host", &self.host)
            .header("content-type", "application/json");
        if let Some(authorization) = &self.authorization {
            builder = builder.header("authorization", authorization);
        }
        let request = builder.body(http_body_util::Full::new(bytes::Bytes::from(body)))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            anyhow::bail!(
                "{method}: HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// Runs the load; fails on the first refused call.
pub async fn run(load: &ControlLoad) -> anyhow::Result<ControlReport> {
    let started = Instant::now();
    let deadline = started + load.duration;
    let mut callers = Vec::with_capacity(load.concurrency);
    for caller in 0..load.concurrency.max(1) {
        let mut client = match &load.front {
            Front::Grpc => {
                Caller::Grpc(control_client(&load.control, load.token.as_deref()).await?)
            }
            Front::Http(host) => {
                Caller::Http(HttpCaller::connect(host, load.token.as_deref()).await?)
            }
        };
        callers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = (caller as u64) << 40;
            while Instant::now() < deadline {
                let one = Instant::now();
                client.cycle(n).await?;
                latencies.push(one.elapsed());
                n += 1;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for caller in callers {
        latencies.extend(caller.await.context("a caller panicked")??);
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Ok(ControlReport {
        cycles: latencies.len() as u64,
        seconds,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    })
}

/// A process's resident set size in KiB, from `/proc/<pid>/status`.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    super::procfs::status_kib(pid, "VmRSS")
}
