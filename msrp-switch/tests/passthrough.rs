//! What the switch does not read it passes on untouched: a file offered as an
//! attachment (`Content-Disposition: attachment`) and a message that only
//! points at its content (`message/external-body`, OMA SIMPLE IM 7.1.3.2,
//! RFC 4483) arrive with the same headers and body, in a 1:1 session and in a
//! group (there inside CPIM, where the MIME headers are the CPIM body's own),
//! and in Large Message Mode, where every chunk of the receiver's copy carries
//! them.

use msrp_switch::msrp_proto::media::{Identity, Policy};
use msrp_switch::msrp_proto::session::SessionKind;
use msrp_test_support::wire::SendChunk;
use msrp_test_support::{Frame, Peer, bound_one_to_one, hash, remote, start_engine};

const A: &str = "msrp://127.0.0.1:41501/pass0001;tcp";
const B: &str = "msrp://127.0.0.1:41502/pass0002;tcp";
const ROOM: &str = "sip:files@chat.example.com";

const ATTACHMENT: &str = "Content-Disposition: attachment; filename=\"report.pdf\"; size=4096\r\n";
const EXTERNAL: &str = "message/external-body; access-type=\"URL\"; \
                        URL=\"https://files.example.com/c/8f3a\"; size=52428800";

/// The head line `name: ...` of a frame as it arrived.
fn header<'a>(frame: &'a Frame, name: &str) -> Option<&'a str> {
    frame
        .head
        .headers()
        .find(|(_, written, _)| written.eq_ignore_ascii_case(name))
        .map(|(_, _, value)| value)
}

/// `from` sends one chunk with `extra` header lines and `content_type`; the
/// frame `to` receives, answered 200.
async fn carry(
    from: &mut Peer,
    to: &mut Peer,
    id: &str,
    extra: &str,
    content_type: &str,
    body: &[u8],
) -> Frame {
    let tid = from.next_tid();
    let frame = SendChunk {
        total: body.len(),
        extra_headers: extra,
        content_type,
        ..from.chunk_head(&tid, id)
    }
    .encode(body);
    from.write(&frame).await;
    assert_eq!(from.read_frame().await.status(), Some(200), "{id}");
    let got = to.read_frame().await;
    to.answer(&got, "200 OK").await;
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_and_external_bodies_pass_a_one_to_one_session_untouched() {
    let engine = start_engine(1, |_| {});
    let (_, _, mut a, mut b) = bound_one_to_one(&engine, A, B).await;

    let pdf: Vec<u8> = (0..4096).map(|i| (i * 31 % 256) as u8).collect();
    let got = carry(
        &mut a,
        &mut b,
        "file0001",
        ATTACHMENT,
        "application/pdf",
        &pdf,
    )
    .await;
    assert_eq!(
        header(&got, "Content-Disposition"),
        Some("attachment; filename=\"report.pdf\"; size=4096")
    );
    assert_eq!(got.head.content_type(), Some("application/pdf"));
    assert_eq!(hash(&got.body), hash(&pdf));

    let pointer = b"Content-Type: video/mp4\r\nContent-ID: <8f3a@files.example.com>\r\n\r\n";
    let got = carry(&mut a, &mut b, "extern01", "", EXTERNAL, pointer).await;
    assert_eq!(got.head.content_type(), Some(EXTERNAL));
    assert_eq!(got.body, pointer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_and_external_bodies_pass_a_group_untouched() {
    let engine = start_engine(1, |_| {});
    let session = engine
        .create_session_with(SessionKind::Group, ROOM.into(), Policy::default())
        .await
        .unwrap();
    let mut peers = Vec::new();
    for (name, path) in [("ann", A), ("bob", B)] {
        let mut media = remote(path);
        media.accept_types = vec!["message/cpim".into()];
        media.accept_wrapped_types = vec!["*".into()];
        let identity = Identity {
            im_address: format!("sip:{name}@example.com"),
            privacy_alias: None,
        };
        let info = engine
            .add_participant_as(session, identity, media)
            .await
            .unwrap();
        let mut peer = Peer::connect(engine.local_addr(), path, &info.local_uri).await;
        peer.bind().await;
        peers.push(peer);
    }
    let (ann, bob) = peers.split_at_mut(1);

    for (id, inner) in [
        (
            "gfile001",
            format!("{ATTACHMENT}Content-Type: application/pdf\r\n\r\n%PDF-1.7 ..."),
        ),
        (
            "gextern1",
            format!(
                "Content-Type: {EXTERNAL}\r\n\r\nContent-Type: video/mp4\r\n\
                 Content-ID: <8f3a@files.example.com>\r\n\r\n"
            ),
        ),
    ] {
        let cpim = format!("From: <sip:ann@example.com>\r\nTo: <{ROOM}>\r\n\r\n{inner}");
        let got = carry(
            &mut ann[0],
            &mut bob[0],
            id,
            ATTACHMENT,
            "message/cpim",
            cpim.as_bytes(),
        )
        .await;
        assert_eq!(got.body, cpim.as_bytes(), "{id}: the CPIM body as sent");
        assert_eq!(
            header(&got, "Content-Disposition"),
            Some("attachment; filename=\"report.pdf\"; size=4096"),
            "{id}: the MSRP head's extension header too"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_and_external_bodies_pass_a_large_message_session_untouched() {
    let engine = start_engine(1, |_| {});
    for (id, extra, content_type, body) in [
        (
            "lmfile01",
            ATTACHMENT,
            "application/pdf",
            (0..300_000)
                .map(|i| (i * 31 % 256) as u8)
                .collect::<Vec<u8>>(),
        ),
        (
            "lmextern",
            "",
            EXTERNAL,
            b"Content-Type: video/mp4\r\nContent-ID: <8f3a@files.example.com>\r\n\r\n".to_vec(),
        ),
    ] {
        let session = engine
            .create_session(SessionKind::LargeMessage)
            .await
            .unwrap();
        let pa = engine.add_participant(session, remote(A)).await.unwrap();
        let pb = engine.add_participant(session, remote(B)).await.unwrap();
        let mut a = Peer::connect(engine.local_addr(), A, &pa.local_uri).await;
        let mut b = Peer::connect(engine.local_addr(), B, &pb.local_uri).await;
        a.bind().await;
        b.bind().await;
        let tid = a.next_tid();
        let frame = SendChunk {
            total: body.len(),
            extra_headers: extra,
            content_type,
            ..a.chunk_head(&tid, id)
        }
        .encode(&body);
        a.write(&frame).await;
        assert_eq!(a.read_frame().await.status(), Some(200), "{id}");
        // The receiver's copy comes in chunks of the switch's size: each one
        // carries the sender's headers.
        let mut got = Vec::new();
        loop {
            let frame = b.read_frame().await;
            assert_eq!(frame.head.content_type(), Some(content_type), "{id}");
            if !extra.is_empty() {
                assert_eq!(
                    header(&frame, "Content-Disposition"),
                    Some("attachment; filename=\"report.pdf\"; size=4096"),
                    "{id}"
                );
            }
            got.extend_from_slice(&frame.body);
            b.answer(&frame, "200 OK").await;
            if frame.flag != msrp_switch::codec::ContinuationFlag::More {
                break;
            }
        }
        assert_eq!(hash(&got), hash(&body), "{id}");
        engine.release_session(session).await.unwrap();
    }
}
