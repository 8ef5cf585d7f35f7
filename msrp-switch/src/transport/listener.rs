//! The accept loop, and the first-frame peek that picks the shard a connection
//! runs on: the kernel spreads connections over the shards' `SO_REUSEPORT`
//! listeners, but the session a connection binds to may live on another shard.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use tokio::net::TcpListener;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::metrics::ShardMetrics;

use super::admission::{Refusal, Ticket};
use super::handover::{self, NextHead, Unowned};
use super::shard::{Local, start_accepted};
use super::stream::{ReadSide, Stream, read_more};
use super::tls::HandshakeFailure;
use super::tls_stream::TlsConn;
use super::ws;
use super::ws_stream::{Carrier, WsConn};

/// Pause after a failed accept (EMFILE and friends) before the next one, so a
/// shard out of descriptors keeps serving the connections it has instead of
/// spinning on the error.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// Which of the shard's ports a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    /// MSRP over TCP.
    Tcp,
    /// MSRP over TLS: each connection's handshake comes first.
    Tls,
    /// MSRP over WebSocket (RFC 7977): each connection's upgrade comes first.
    Ws,
    /// MSRP over secure WebSocket: the TLS handshake, then the upgrade.
    Wss,
}

/// Accepts connections for ever; each one is placed by its own task.
pub(crate) async fn accept_loop(local: Rc<Local>, listener: TcpListener, port: Port) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let ticket = match local.admission.admit(peer.ip()) {
                    Ok(ticket) => ticket,
                    Err(refusal) => {
                        refuse(&local, peer, refusal);
                        continue;
                    }
                };
                // Counted from accept: an open connection is one whether or not
                // it has sent anything yet.
                let counted = Unowned::count(&local.metrics);
                let _ = stream.set_nodelay(true);
                let local = Rc::clone(&local);
                let span = info_span!("conn", %peer, shard = local.index);
                let task = async move {
                    let stream = match port {
                        Port::Tcp => Stream::Tcp(stream),
                        Port::Tls => match handshake(&local, stream).await {
                            Some(stream) => stream,
                            None => return,
                        },
                        Port::Ws => match upgrade(&local, Carrier::Tcp(stream)).await {
                            Some(stream) => stream,
                            None => return,
                        },
                        // TLS first, then the upgrade inside it.
                        Port::Wss => {
                            let Some(Stream::Tls(tls)) = handshake(&local, stream).await else {
                                return;
                            };
                            let Ok(tls) = Rc::try_unwrap(tls) else {
                                return;
                            };
                            match upgrade(&local, Carrier::Tls(Box::new(tls))).await {
                                Some(stream) => stream,
                                None => return,
                            }
                        }
                    };
                    place(local, stream, peer, counted, ticket).await;
                };
                tokio::task::spawn_local(task.instrument(span));
            }
            Err(err) => {
                let before = local.metrics.accept_errors.fetch_add(1, Ordering::Relaxed);
                // At warn, but not 100 lines a second while descriptors run out:
                // the first failure, then every 1,000th (the counter has them all).
                if before % 1000 == 0 {
                    warn!(%err, failed = before + 1, "accept failed; retrying in 10 ms");
                }
                tokio::time::sleep(ACCEPT_RETRY).await;
            }
        }
    }
}

/// The TLS handshake of an accepted connection, within the handshake timeout;
/// a failure is counted by reason and closes the connection (it cost the shard
/// one handshake's CPU, bounded by the admission caps and the timeout).
async fn handshake(local: &Local, tcp: tokio::net::TcpStream) -> Option<Stream> {
    let tls = local.tls.as_ref()?;
    let timeout = tls.identity.handshake_timeout();
    // The socket outlives the failure until it is counted (the fallible accept
    // hands it back; on a timeout the pinned future still holds it): a peer that
    // sees the close finds the metric already moved.
    let started = std::time::Instant::now();
    let mut accepting = std::pin::pin!(tls.acceptor.accept(tcp).into_fallible());
    let accepted = tokio::time::timeout(timeout, &mut accepting).await;
    let mut failed_socket = None;
    let why = match accepted {
        Ok(Ok(stream)) => {
            let (tcp, server) = stream.into_inner();
            match TlsConn::new(tcp, rustls::Connection::Server(server)) {
                Ok(conn) => {
                    local.metrics.tls_handshakes.fetch_add(1, Ordering::Relaxed);
                    local
                        .metrics
                        .tls_handshake_latency
                        .observe(started.elapsed());
                    return Some(Stream::Tls(Rc::new(conn)));
                }
                Err(err) => {
                    debug!(%err, "TLS connection failed right after its handshake");
                    HandshakeFailure::Protocol
                }
            }
        }
        Ok(Err((err, tcp))) => {
            debug!(%err, "TLS handshake failed");
            failed_socket = Some(tcp);
            HandshakeFailure::of(&err)
        }
        Err(_) => {
            debug!("TLS handshake timed out");
            HandshakeFailure::Timeout
        }
    };
    local.metrics.tls_handshake_failures[why.index()].fetch_add(1, Ordering::Relaxed);
    drop(failed_socket);
    None
}

/// The WebSocket upgrade of an accepted connection (see `ws::upgrade`); a
/// refusal is counted by reason and closes the connection.
async fn upgrade(local: &Local, carrier: Carrier) -> Option<Stream> {
    let settings = local.ws.as_ref()?;
    match ws::upgrade(&carrier, settings).await {
        Ok(early) => {
            local
                .metrics
                .websocket_upgrades
                .fetch_add(1, Ordering::Relaxed);
            // A frame's payload is at most a chunk and its head.
            let max_payload = local.limits.max_chunk_bytes + local.limits.max_head_bytes as u64;
            Some(Stream::Ws(Rc::new(WsConn::new(
                carrier,
                early,
                max_payload,
            ))))
        }
        Err(refusal) => {
            local.metrics.websocket_upgrades_refused[refusal.index()]
                .fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// A connection over a cap: closed at once (dropping the stream), counted by
/// reason, and logged at info: the first refusal, then every 1,000th, so that a
/// flood cannot flood the log.
fn refuse(local: &Local, peer: SocketAddr, refusal: Refusal) {
    let before =
        local.metrics.connections_refused[refusal as usize].fetch_add(1, Ordering::Relaxed);
    if before % 1000 == 0 {
        info!(
            %peer,
            reason = refusal.label(),
            refused = before + 1,
            "MSRP connection refused: over the cap"
        );
    }
}

/// Reads until the first head names its session, then runs the connection here or
/// hands it, with the bytes read, to the shard that owns the session.
async fn place(
    local: Rc<Local>,
    stream: Stream,
    peer: SocketAddr,
    counted: Unowned,
    ticket: Ticket,
) {
    // Empty until the socket is readable (see `read_more`).
    let mut buf = BytesMut::new();
    let owner =
        tokio::time::timeout(local.bind_timeout, first_owner(&local, &stream, &mut buf)).await;
    match owner {
        Ok(Ok(Some(owner))) => handover::send(&local, owner, stream, buf, 1, counted, ticket),
        Ok(Ok(None)) => start_accepted(&local, stream, buf, 0, counted, ticket),
        Ok(Err(())) => debug!(%peer, "closed before its first request"),
        Err(_) => {
            ShardMetrics::add(&local.metrics.bind_timeouts, 1);
            debug!(%peer, "no first request within the bind timeout");
        }
    }
}

/// Reads until the first request's head is in; the other shard it names, if any.
async fn first_owner(
    local: &Local,
    stream: &impl ReadSide,
    buf: &mut BytesMut,
) -> Result<Option<u8>, ()> {
    loop {
        if !buf.is_empty() {
            match handover::next_head(buf, &local.limits) {
                NextHead::Incomplete => {}
                next @ (NextHead::Names(_) | NextHead::RelayAuth) => {
                    return Ok(handover::owner(&next, local.index, local.peers.len()));
                }
                NextHead::Malformed => return Ok(None),
            }
        }
        match read_more(stream, buf).await {
            Ok(0) | Err(_) => return Err(()),
            // These bytes are read here, not by the driver: count them here.
            Ok(n) => ShardMetrics::add(&local.metrics.received_bytes, n as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    use super::super::stream::READ_BYTES;
    use super::*;

    /// Polls `future` once: a pending read has reached its wait for the socket.
    fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
        pin!(future).poll(&mut Context::from_waker(Waker::noop()))
    }

    /// A connection waiting for its first bytes holds no read block, and one that
    /// sent a few bytes of a head holds about that many.
    #[tokio::test]
    async fn a_connection_waiting_for_its_first_request_holds_no_read_block() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let stream = Stream::Tcp(accepted);
        let mut buf = BytesMut::new();

        assert!(poll_once(read_more(&stream, &mut buf)).is_pending());
        assert_eq!(buf.capacity(), 0);

        client.write_all(b"MSRP abcd").await.unwrap();
        let read = tokio::time::timeout(Duration::from_secs(20), read_more(&stream, &mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read, 9);
        // The next read finds nothing and waits: the block goes back first.
        assert!(poll_once(read_more(&stream, &mut buf)).is_pending());
        assert_eq!(&buf[..], b"MSRP abcd");
        assert!(buf.capacity() < READ_BYTES / 8, "kept {}", buf.capacity());
    }
}
