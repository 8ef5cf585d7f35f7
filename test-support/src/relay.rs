//! An RFC 4976 relay client's side of AUTH: the AUTH frame, the Digest answer to
//! a 401's challenge (computed with the relay crate's client function, as any
//! client computes it), and the whole exchange on a [`Peer`].

use tokio::io::{AsyncRead, AsyncWrite};

use msrp_proto::relay::digest::{Algorithm, challenge_param, client_response};

use msrp_switch::codec::ContinuationFlag;

use crate::frame::Frame;
use crate::hash;
use crate::peer::Peer;
use crate::wire::SendChunk;

/// A bodiless AUTH from `me` to the relay URI `relay`, with `extra` header lines.
pub fn auth_frame(tid: &str, relay: &str, me: &str, extra: &str) -> String {
    format!("MSRP {tid} AUTH\r\nTo-Path: {relay}\r\nFrom-Path: {me}\r\n{extra}-------{tid}$\r\n")
}

/// The values of a header, by name (any case), in order.
pub fn header_values(frame: &Frame, name: &str) -> Vec<String> {
    frame
        .head
        .headers()
        .filter(|(_, n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, _, v)| v.to_owned())
        .collect()
}

/// The `Authorization` header line answering `challenge` (a `WWW-Authenticate`
/// value) for `user` with `password`, nonce count `nc`, against relay URI `uri`.
pub fn authorization(challenge: &str, user: &str, password: &str, nc: u32, uri: &str) -> String {
    let realm = challenge_param(challenge, "realm").unwrap_or_default();
    let nonce = challenge_param(challenge, "nonce").unwrap_or_default();
    let algorithm = challenge_param(challenge, "algorithm")
        .and_then(Algorithm::from_name)
        .unwrap_or(Algorithm::Md5);
    let nc = format!("{nc:08x}");
    let cnonce = format!("c{}", nonce.len() * 7 + 13);
    let response = client_response(algorithm, user, realm, password, nonce, &nc, &cnonce, uri);
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{response}\", qop=auth, nc={nc}, cnonce=\"{cnonce}\", \
         algorithm={}\r\n",
        algorithm.name()
    )
}

/// AUTHs `peer` (its `me` as From-Path) to the relay URI `relay` as `user` with
/// `password`, asking for `expires` seconds if given: the 401, then the answer
/// to its first challenge. Returns the final answer (200 with Use-Path, 401,
/// 403 or 423).
pub async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    peer: &mut Peer<S>,
    relay: &str,
    user: &str,
    password: &str,
    expires: Option<u32>,
) -> Frame {
    authenticate_through(peer, relay, relay, user, password, expires).await
}

/// [`authenticate`] to the relay whose URI is `uri`, along `to_path`: the
/// relays the client already has in front of it (RFC 4976 §5.1), then `uri`.
pub async fn authenticate_through<S: AsyncRead + AsyncWrite + Unpin>(
    peer: &mut Peer<S>,
    to_path: &str,
    uri: &str,
    user: &str,
    password: &str,
    expires: Option<u32>,
) -> Frame {
    let relay = to_path;
    let tid = peer.next_tid();
    let me = peer.me.clone();
    peer.write(auth_frame(&tid, relay, &me, "").as_bytes())
        .await;
    let challenge = peer.read_frame().await;
    assert_eq!(challenge.status(), Some(401), "{challenge:?}");
    assert_eq!(
        challenge.tid(),
        tid,
        "the challenge under the AUTH's transaction id"
    );
    let www = header_values(&challenge, "WWW-Authenticate");
    let answer = authorization(&www[0], user, password, 1, uri);
    let extra = match expires {
        Some(seconds) => format!("{answer}Expires: {seconds}\r\n"),
        None => answer,
    };
    let tid = peer.next_tid();
    peer.write(auth_frame(&tid, relay, &me, &extra).as_bytes())
        .await;
    peer.read_frame().await
}

/// The one Use-Path URI of a 200 to AUTH.
pub fn use_path(answer: &Frame) -> String {
    let uris = use_paths(answer);
    assert_eq!(uris.len(), 1, "{answer:?}");
    uris[0].clone()
}

/// Every Use-Path URI of a 200 to AUTH, in order.
pub fn use_paths(answer: &Frame) -> Vec<String> {
    assert_eq!(answer.status(), Some(200), "AUTH answered {answer:?}");
    answer.head.use_path().map(|u| u.to_string()).collect()
}

/// `sender` sends `body` to `receiver` along `to_path` (relay URIs, then the
/// receiver's) in chunks of `chunk` bytes, one at a time: each gets its 200 from
/// the first relay; the receiver checks that the chunk is for it, that the
/// ranges are contiguous and, with `via`, the From-Path it arrived with, and
/// answers it; the bytes it got must hash as `body`'s.
pub async fn stream_chunks<A, B>(
    sender: &mut Peer<A>,
    receiver: &mut Peer<B>,
    to_path: &str,
    body: &[u8],
    chunk: usize,
    message_id: &str,
    via: Option<&[String]>,
) where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let mut got = Vec::new();
    let chunks: Vec<&[u8]> = body.chunks(chunk).collect();
    for (i, part) in chunks.iter().enumerate() {
        let tid = sender.next_tid();
        let last = i + 1 == chunks.len();
        let frame = SendChunk {
            start: i * chunk + 1,
            total: body.len(),
            flag: if last { '$' } else { '+' },
            ..SendChunk::text(to_path, &sender.me, &tid, message_id)
        }
        .encode(part);
        sender.write(&frame).await;
        let ok = sender.read_frame().await;
        assert_eq!((ok.tid(), ok.status()), (tid, Some(200)), "chunk {i}");
        // A relay may pass a chunk on in several (cut-through, RFC 4975 §7.1):
        // read until this chunk's bytes are all in.
        let until = (i * chunk + part.len()).min(body.len());
        while got.len() < until {
            let got_chunk = receiver.read_frame().await;
            assert_eq!(got_chunk.method().as_deref(), Some("SEND"), "{got_chunk:?}");
            assert_eq!(got_chunk.target_path(), [receiver.me.as_str()]);
            if let Some(via) = via {
                assert_eq!(got_chunk.sender_path(), via);
            }
            let range = got_chunk.head.byte_range().unwrap();
            assert_eq!(range.start as usize, got.len() + 1, "contiguous");
            assert_eq!(range.total, Some(body.len() as u64));
            got.extend_from_slice(&got_chunk.body);
            receiver.answer(&got_chunk, "200 OK").await;
            let expected = if last && got.len() == body.len() {
                ContinuationFlag::End
            } else {
                ContinuationFlag::More
            };
            assert_eq!(got_chunk.flag, expected, "at byte {}", got.len());
        }
    }
    assert_eq!(got.len(), body.len());
    assert_eq!(hash(&got), hash(body), "the body arrived intact");
}
