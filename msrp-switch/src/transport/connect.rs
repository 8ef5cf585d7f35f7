//! The active setup role (RFC 6135, RFC 4975 §5.4): the switch opens the
//! participant's connection, over TCP or TLS, and the connection then runs like
//! any other (its bind SEND is already queued, so it goes first).
//!
//! A refused or timed-out connect is tried again a bounded number of times; a
//! certificate that is not the pinned one is not (it will not change). When
//! the switch gives up, the core hears why (`Endpoint::connect_failed`), which
//! tells the control plane.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tracing::debug;

use msrp_proto::endpoint::TlsTarget;
use msrp_proto::ids::ConnId;

use super::shard::{Local, spawn_conn};
use super::stream::Stream;
use super::tls::HandshakeFailure;
use super::tls_stream::TlsConn;

/// Connection attempts before the switch gives up.
const ATTEMPTS: usize = 3;

/// The pause before each attempt after the first.
const BACKOFF: [Duration; ATTEMPTS - 1] = [Duration::from_millis(200), Duration::from_secs(1)];

/// Why one attempt failed.
struct Failed {
    /// For the operator (the event's reason).
    reason: String,
    /// Worth another attempt (the peer may come up), unlike a wrong certificate.
    retry: bool,
}

/// Opens the connection for `conn` and runs it, or tells the switch it could not.
pub(crate) async fn run(
    local: Rc<Local>,
    conn: ConnId,
    host: String,
    port: u16,
    tls: Option<TlsTarget>,
) {
    let now = std::time::Instant::now;
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if let Some(pause) = attempt.checked_sub(1).and_then(|i| BACKOFF.get(i)) {
            tokio::time::sleep(*pause).await;
        }
        // Removed, or given a new path, meanwhile: nobody waits for it.
        if local.switch.borrow().is_closing(conn) {
            local.switch.borrow_mut().handle_close(conn, now());
            local.pump();
            return;
        }
        match open(&local, &host, port, tls.as_ref()).await {
            Ok(stream) => {
                // What the peer presented: a later participant with
                // `a=connection:existing` shares the connection only if its
                // media pin that certificate.
                local
                    .switch
                    .borrow_mut()
                    .connected_with(conn, stream.security());
                spawn_conn(&local, conn, stream, BytesMut::new(), None);
                return;
            }
            Err(failed) => {
                debug!(%host, port, attempt, reason = %failed.reason, "connect failed");
                last = failed.reason;
                if !failed.retry {
                    break;
                }
            }
        }
    }
    let reason = format!("{host}:{port}: {last}");
    local
        .switch
        .borrow_mut()
        .connect_failed(conn, reason, now());
    local.pump();
}

/// One attempt: TCP, then the TLS handshake if asked for.
async fn open(
    local: &Local,
    host: &str,
    port: u16,
    tls: Option<&TlsTarget>,
) -> Result<Stream, Failed> {
    let retry = |reason: String| Failed {
        reason,
        retry: true,
    };
    let dialed = tokio::time::timeout(local.bind_timeout, TcpStream::connect((host, port))).await;
    let tcp = match dialed {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(err)) => return Err(retry(err.to_string())),
        Err(_) => return Err(retry("connect timed out".into())),
    };
    let _ = tcp.set_nodelay(true);
    let Some(target) = tls else {
        return Ok(Stream::Tcp(tcp));
    };
    let Some(shard_tls) = &local.tls else {
        return Err(Failed {
            reason: "TLS is not enabled on this switch".into(),
            retry: false,
        });
    };
    // Pinned fingerprints (a participant's media), or, with none, a relay's
    // next hop verified against --relay-tls-ca.
    let config = if target.fingerprints.is_empty() {
        shard_tls.identity.relay_client_config()
    } else {
        shard_tls
            .identity
            .client_config(target.fingerprints.clone())
    };
    let config = config.map_err(|err| Failed {
        reason: err.to_string(),
        retry: false,
    })?;
    // SNI names the path's host; an address (or a name rustls will not send)
    // goes as the peer's IP, which sends no SNI.
    let name = ServerName::try_from(target.server_name.clone())
        .ok()
        .or_else(|| tcp.peer_addr().ok().map(|peer| ServerName::from(peer.ip())))
        .ok_or_else(|| retry("the peer's address is unknown".into()))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let timeout = shard_tls.identity.handshake_timeout();
    let started = std::time::Instant::now();
    let handshake = tokio::time::timeout(timeout, connector.connect(name, tcp)).await;
    let failure = match handshake {
        Ok(Ok(stream)) => {
            local.metrics.tls_handshakes.fetch_add(1, Ordering::Relaxed);
            local
                .metrics
                .tls_handshake_latency
                .observe(started.elapsed());
            let (tcp, client) = stream.into_inner();
            return TlsConn::new(tcp, rustls::Connection::Client(client))
                .map(|conn| Stream::Tls(Rc::new(conn)))
                .map_err(|err| retry(err.to_string()));
        }
        Ok(Err(err)) => (HandshakeFailure::of(&err), err.to_string()),
        Err(_) => (HandshakeFailure::Timeout, "TLS handshake timed out".into()),
    };
    let (why, reason) = failure;
    local.metrics.tls_handshake_failures[why.index()].fetch_add(1, Ordering::Relaxed);
    Err(Failed {
        reason: format!("TLS: {reason}"),
        retry: why != HandshakeFailure::Certificate,
    })
}
