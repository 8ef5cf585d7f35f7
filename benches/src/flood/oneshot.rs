//! The one-shot modes, a netcat for MSRP: send one message, receive one message, and
//! create a session to do it in, so a message can be carried through the switch by
//! hand.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use msrp_switch::codec::{ContinuationFlag, Method, StatusCode};

use super::target::switch::{OneToOne, control_client, create_one_to_one};
use super::target::{address_of, endpoint_uri, run_tag};
use super::wire::{ChunkRange, MsrpConn, Paths, put_end_line, put_ok, put_send_head, wants_ok};

/// Where a one-shot endpoint connects and what it calls itself.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// To-Path (the switch's URI for us, or a relay path) and our own URI.
    pub paths: Paths,
    /// Where to connect.
    pub addr: SocketAddr,
    /// Send a bodiless SEND first and wait for its 200 (the switch needs it; a raw
    /// forwarder does not).
    pub bind: bool,
}

impl Endpoint {
    /// An endpoint that writes `to_path` and is `from_path`, connecting to `addr` or,
    /// without it, to the host and port of the first To-Path URI.
    pub async fn new(
        to_path: &str,
        from_path: &str,
        addr: Option<SocketAddr>,
        bind: bool,
    ) -> anyhow::Result<Self> {
        let addr = match addr {
            Some(addr) => addr,
            None => {
                let first = to_path
                    .split_ascii_whitespace()
                    .next()
                    .context("the To-Path is empty")?;
                address_of(first).await?
            }
        };
        Ok(Self {
            paths: Paths::new(to_path, from_path),
            addr,
            bind,
        })
    }
}

/// How long a one-shot waits for the switch to bind or to answer.
const ANSWER_LIMIT: Duration = Duration::from_secs(10);

/// Sends one message (in chunks of `chunk_size` bytes if it is larger) and returns
/// the first non-200 status among its chunks' responses, or 200.
pub async fn send_message(
    endpoint: &Endpoint,
    body: &[u8],
    content_type: &str,
    chunk_size: usize,
) -> anyhow::Result<StatusCode> {
    let mut conn = MsrpConn::connect(endpoint.addr).await?;
    if endpoint.bind {
        conn.bind(&endpoint.paths, ANSWER_LIMIT).await?;
    }
    let message_id = format!("{}m", run_tag());
    let total = body.len();
    let chunk_size = chunk_size.max(1);
    let mut frames = Vec::with_capacity(total + 512);
    let mut tids = Vec::new();
    let mut start = 0;
    loop {
        let end = (start + chunk_size).min(total);
        let tid = conn.next_tid();
        put_send_head(
            &mut frames,
            tid,
            &endpoint.paths,
            message_id.as_bytes(),
            ChunkRange {
                start: start as u64 + 1,
                end: end as u64,
                total: total as u64,
            },
            content_type.as_bytes(),
        );
        frames.extend_from_slice(&body[start..end]);
        let flag = if end == total {
            ContinuationFlag::End
        } else {
            ContinuationFlag::More
        };
        put_end_line(&mut frames, tid, flag);
        tids.push(tid.text());
        start = end;
        if end == total {
            break;
        }
    }
    conn.write_all(&frames).await?;
    let mut worst = StatusCode::OK;
    let mut answered = 0;
    while answered < tids.len() {
        let frame = tokio::time::timeout(ANSWER_LIMIT, conn.read_frame())
            .await
            .with_context(|| format!("no response within {ANSWER_LIMIT:?}"))??;
        let Some(status) = frame.head.response_status() else {
            continue;
        };
        if !tids
            .iter()
            .any(|t| t.as_bytes() == frame.head.transaction_id().as_bytes())
        {
            continue;
        }
        answered += 1;
        if status != StatusCode::OK && worst == StatusCode::OK {
            worst = status;
        }
    }
    Ok(worst)
}

/// A message as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Its Content-Type, if it had one.
    pub content_type: Option<String>,
    /// The whole body, chunks joined.
    pub body: Vec<u8>,
}

/// Waits (at most `limit`, if given) for the first message with a body, answering
/// every SEND with a 200, and returns it once its last chunk arrives.
pub async fn receive_message(
    endpoint: &Endpoint,
    limit: Option<Duration>,
) -> anyhow::Result<Received> {
    let receive = async {
        let mut conn = MsrpConn::connect(endpoint.addr).await?;
        if endpoint.bind {
            conn.bind(&endpoint.paths, ANSWER_LIMIT).await?;
        }
        let mut message: Option<(String, Received)> = None;
        loop {
            let frame = conn.read_frame().await?;
            if frame.head.method() != Some(Method::Send) {
                continue;
            }
            if wants_ok(&frame.head) {
                let mut ok = Vec::with_capacity(256);
                put_ok(&mut ok, &frame.head, &endpoint.paths.from_path);
                conn.write_all(&ok).await?;
            }
            let Some(message_id) = frame.head.message_id() else {
                continue;
            };
            if frame.body.is_empty() && message.is_none() {
                // A keep-alive (a bodiless SEND): nothing to print.
                continue;
            }
            let (id, received) = message.get_or_insert_with(|| {
                (
                    message_id.as_str().to_string(),
                    Received {
                        content_type: frame.head.content_type().map(str::to_string),
                        body: Vec::new(),
                    },
                )
            });
            if id.as_str() != message_id.as_str() {
                // Another message interleaved; this one-shot keeps only the first.
                continue;
            }
            received.body.extend_from_slice(&frame.body);
            match frame.flag {
                ContinuationFlag::More => {}
                ContinuationFlag::End => {
                    let Some((_, received)) = message.take() else {
                        bail!("lost the message being received");
                    };
                    return Ok(received);
                }
                ContinuationFlag::Abort => bail!("the sender aborted the message (#)"),
            }
        }
    };
    match limit {
        Some(limit) => tokio::time::timeout(limit, receive)
            .await
            .with_context(|| format!("no message within {limit:?}"))?,
        None => receive.await,
    }
}

/// Creates a 1:1 session through the control API at `control` for the quick start:
/// participant A (the sender) and B (the receiver), each with an own URI on `host`.
pub async fn create_session(
    control: &str,
    token: Option<&str>,
    host: &str,
) -> anyhow::Result<OneToOne> {
    let mut client = control_client(control, token).await?;
    let tag = run_tag();
    let a = endpoint_uri(host, &tag, 0, 'a');
    let b = endpoint_uri(host, &tag, 0, 'b');
    create_one_to_one(&mut client, &a, &b).await
}
