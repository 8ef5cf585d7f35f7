//! The MSRP listener: accepts TCP connections and drives one [`Decoder`] per
//! connection. Until sessions exist (the forwarding engine), every well-framed request
//! is answered 481 Session does not exist (RFC 4975 §7.3: no session matches its
//! To-Path), a request the codec refuses gets the codec's status, and a connection
//! whose framing is lost is closed.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::{Instrument, debug, info_span, trace};

use crate::codec::{
    Decoder, Encoder, FailureReport, Framing, Head, Item, Limits, Method, MsrpUri, StatusCode,
};

/// Bytes asked of the socket per read.
const READ_BYTES: usize = 64 * 1024;

/// Accepts connections until `shutdown` completes, then stops accepting and ends the
/// connection tasks.
pub async fn serve(
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let limits = Arc::new(limits);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    // EMFILE and friends: keep serving the connections we have.
                    Err(err) => {
                        debug!(%err, "accept failed");
                        continue;
                    }
                };
                let limits = Arc::clone(&limits);
                let span = info_span!("conn", %peer);
                connections.spawn(connection(stream, peer, limits).instrument(span));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
    Ok(())
}

/// Reads frames and answers each request until the peer closes or breaks framing.
async fn connection(mut stream: TcpStream, peer: SocketAddr, limits: Arc<Limits>) {
    let mut decoder = Decoder::new((*limits).clone());
    let mut encoder = Encoder::new();
    let mut read_buf = BytesMut::with_capacity(READ_BYTES);
    let mut out = BytesMut::new();
    // The request whose end-line we wait for before answering it.
    let mut pending: Option<Head> = None;
    loop {
        read_buf.reserve(READ_BYTES);
        match stream.read_buf(&mut read_buf).await {
            Ok(0) => {
                debug!(%peer, "peer closed");
                return;
            }
            Ok(_) => {}
            Err(err) => {
                debug!(%peer, %err, "read failed");
                return;
            }
        }
        let mut close = false;
        loop {
            match decoder.decode(&mut read_buf) {
                Ok(Some(Item::Head(head))) => pending = Some(head),
                Ok(Some(Item::Body(piece))) => trace!(bytes = piece.len(), "body"),
                Ok(Some(Item::End(_))) => {
                    if let Some(head) = pending.take() {
                        answer_unknown_session(&head, &mut encoder, &mut out);
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    debug!(%peer, error = %err, "refused frame");
                    if err.framing() == Framing::Lost {
                        close = true;
                        break;
                    }
                    // A refused chunk whose head we already took: the session is still
                    // unknown, and that is the more useful answer.
                    if let Some(head) = pending.take() {
                        answer_unknown_session(&head, &mut encoder, &mut out);
                    } else if let (Some(answer), Some(status)) = (err.answer(), err.status()) {
                        out.extend_from_slice(&encoder.response(
                            &answer.transaction_id,
                            status,
                            &answer.previous_hop,
                            &answer.responder,
                        ));
                    }
                }
            }
        }
        if !out.is_empty() {
            if let Err(err) = stream.write_all(&out).await {
                debug!(%peer, %err, "write failed");
                return;
            }
            out.clear();
        }
        if close {
            return;
        }
    }
}

/// RFC 4975 §7.3: no session matches the first To-Path URI → 481, unless the request
/// is a REPORT (never answered, §7.1.2) or Failure-Report `no` asks for no response.
fn answer_unknown_session(head: &Head, encoder: &mut Encoder, out: &mut BytesMut) {
    if head.method() == Some(Method::Report) || head.failure_report() == Some(FailureReport::No) {
        return;
    }
    let first = |path: &mut dyn Iterator<Item = MsrpUri>| path.next();
    let (Some(responder), Some(previous_hop)) =
        (first(&mut head.to_path()), first(&mut head.from_path()))
    else {
        return;
    };
    out.extend_from_slice(&encoder.response(
        head.transaction_id(),
        StatusCode::SESSION_DOES_NOT_EXIST,
        &previous_hop,
        &responder,
    ));
}
