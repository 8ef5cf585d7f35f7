//! The IM Server's offer/answer through the real gRPC API and real sockets: the
//! B2BUA flow of OMA IM 7.2.1.2, a pre-defined group invited offer-first with
//! members that make the switch connect to them, refused answers, expired offers,
//! paging at scale, ids across restarts, and the limits on what the API accepts.

use std::time::Duration;

use control_api::error::{bad_field, reason};
use control_api::pb;
use control_api::pb::switch_control_client::SwitchControlClient;
use msrp_proto::codec::MsrpUri;
use msrp_proto::control::SessionOptions;
use msrp_proto::session::SessionKind;
use msrp_test_support::{ControlServer, LIMIT, Peer, hash, sdp_offer, start_engine};
use tokio::net::TcpListener;
use tokio::time::timeout;
use tonic::Code;
use tonic::transport::Channel;

const ROOM: &str = "sip:room@conf.example.net";

type Client = SwitchControlClient<Channel>;

/// An SDP answer with one `m=message` section: `a=path` is `path`, `setup` as given.
fn sdp_answer(path: &str, accept_types: &str, setup: &str) -> String {
    format!(
        "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
         m=message 40002 TCP/MSRP *\r\nc=IN IP4 127.0.0.1\r\n\
         a=path:{path}\r\na=accept-types:{accept_types}\r\na=accept-wrapped-types:text/plain\r\n\
         a=setup:{setup}\r\n"
    )
}

fn sdp(text: String) -> Option<pb::RemoteMedia> {
    Some(pb::RemoteMedia {
        media: Some(pb::remote_media::Media::Sdp(text)),
    })
}

fn local(media: &Option<pb::LocalMedia>) -> (&pb::Media, &str) {
    let local = media.as_ref().expect("local media");
    (local.structured.as_ref().expect("structured"), &local.sdp)
}

async fn create(client: &mut Client, request: pb::CreateSessionRequest) -> String {
    client
        .create_session(request)
        .await
        .unwrap()
        .into_inner()
        .session_id
}

/// The B2BUA flow end to end: A's offer, the switch's offer to B built from it,
/// B's answer with fewer types, A's answer with exactly the common types, then
/// messages both ways over sockets.
#[tokio::test]
async fn a_b2bua_session_set_up_from_both_legs_carries_messages_both_ways() {
    let engine = start_engine(2, |_| {});
    let server = ControlServer::start(&engine, None).await;
    let mut client = server.client().await;
    let policy = pb::Policy {
        accept_types: vec![
            "text/plain".into(),
            "message/cpim".into(),
            "image/png".into(),
        ],
        max_size: 1_000_000,
        ..Default::default()
    };
    let session = create(
        &mut client,
        pb::CreateSessionRequest {
            kind: pb::SessionKind::OneToOne as i32,
            policy: Some(policy),
            correlation_tag: "a84b4c76e66710@pc33.example.net".into(),
            ..Default::default()
        },
    )
    .await;
    let a_path = "msrp://127.0.0.1:9/aLeg;tcp";
    let b_path = "msrp://127.0.0.1:9/bLeg;tcp";

    // A's INVITE: its offer.
    let a = client
        .add_participant(pb::AddParticipantRequest {
            session_id: session.clone(),
            remote: sdp(sdp_offer(
                a_path,
                "message/cpim text/plain image/png video/mp4",
            )),
            correlation_tag: "A-dialog".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!a.pending);

    // The switch's offer to B, forwarding A's types under the policy.
    let b = client
        .add_participant(pb::AddParticipantRequest {
            session_id: session.clone(),
            offer_from: a.participant_id.clone(),
            correlation_tag: "B-dialog".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(b.pending);
    let (offer, offer_sdp) = local(&b.local);
    assert_eq!(
        offer.accept_types,
        ["message/cpim", "text/plain", "image/png"]
    );
    assert_eq!(offer.setup, pb::Setup::Actpass as i32);
    for line in [
        "a=accept-types:message/cpim text/plain image/png\r\n",
        "a=setup:actpass\r\n",
        "a=connection:new\r\n",
        "a=max-size:1000000\r\n",
    ] {
        assert!(offer_sdp.contains(line), "{line:?} not in\n{offer_sdp}");
    }
    assert!(
        offer_sdp.contains(&format!("a=path:{}\r\n", offer.path[0])),
        "{offer_sdp}"
    );
    let pending = client
        .get_participant(pb::GetParticipantRequest {
            key: Some(pb::get_participant_request::Key::LocalUri(
                offer.path[0].clone(),
            )),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(pending.pending);
    assert_eq!(pending.correlation_tag, "B-dialog");

    // B's 200 OK: fewer types; B connects (active).
    let answered = client
        .set_remote_answer(pb::SetRemoteAnswerRequest {
            participant_id: b.participant_id.clone(),
            remote: sdp(sdp_answer(b_path, "text/plain image/png", "active")),
        })
        .await
        .unwrap()
        .into_inner();
    let (b_local, _) = local(&answered.local);
    assert_eq!(b_local.setup, pb::Setup::Passive as i32);

    // The answer to A: A's order, in both, in the policy.
    let a_answer = client
        .answer_from_both(pb::AnswerFromBothRequest {
            participant_id: a.participant_id.clone(),
            answer_with: b.participant_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let (a_local, a_sdp) = local(&a_answer.local);
    assert_eq!(a_local.accept_types, ["text/plain", "image/png"]);
    assert!(
        a_sdp.contains("a=accept-types:text/plain image/png\r\n"),
        "{a_sdp}"
    );

    // Both connect and talk.
    let a_uri = MsrpUri::parse_str(&a_local.path[0]).unwrap();
    let b_uri = MsrpUri::parse_str(&b_local.path[0]).unwrap();
    let mut pa = Peer::connect(engine.local_addr(), a_path, &a_uri).await;
    let mut pb_ = Peer::connect(engine.local_addr(), b_path, &b_uri).await;
    pa.bind().await;
    pb_.bind().await;
    pa.send_message("fromA0001", b"hello B, from A").await;
    let got = pb_.read_frame().await;
    assert_eq!(hash(&got.body), hash(b"hello B, from A"));
    pb_.answer(&got, "200 OK").await;
    pb_.send_message("fromB0001", b"hello A, from B").await;
    let got = pa.read_frame().await;
    assert_eq!(got.body, b"hello A, from B");
}

/// One member's socket: it listens (setup passive) or connects (setup active).
enum Member {
    Listening(TcpListener),
    Connecting,
}

/// A pre-defined group of five set up offer-first (OMA IM 7.2.1.3 step 8a): three
/// members answer active and connect, two answer passive and the switch connects to
/// them and binds; a message from one reaches the four others.
#[tokio::test]
async fn a_predefined_group_invited_offer_first_reaches_every_member() {
    let engine = start_engine(2, |_| {});
    let server = ControlServer::start(&engine, None).await;
    let mut client = server.client().await;
    let session = create(
        &mut client,
        pb::CreateSessionRequest {
            kind: pb::SessionKind::Group as i32,
            group_identity: ROOM.into(),
            policy: Some(pb::Policy {
                accept_types: vec!["message/cpim".into()],
                accept_wrapped_types: vec!["text/plain".into()],
                nicknames: true,
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    let mut members = Vec::new();
    for n in 0..5 {
        let address = format!("sip:member{n}@example.net");
        let offer = client
            .add_participant(pb::AddParticipantRequest {
                session_id: session.clone(),
                identity: Some(pb::Identity {
                    im_address: address.clone(),
                    privacy_alias: String::new(),
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let (media, offer_sdp) = local(&offer.local);
        assert!(offer.pending);
        assert!(offer_sdp.contains("a=chatroom:nickname\r\n"), "{offer_sdp}");
        assert!(
            offer_sdp.contains("a=accept-wrapped-types:text/plain\r\n"),
            "{offer_sdp}"
        );
        let switch_uri = media.path[0].clone();
        let (socket, path, setup) = if n < 2 {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let path = format!("msrp://127.0.0.1:{port}/member{n};tcp");
            (Member::Listening(listener), path, "passive")
        } else {
            let path = format!("msrp://127.0.0.1:9/member{n};tcp");
            (Member::Connecting, path, "active")
        };
        client
            .set_remote_answer(pb::SetRemoteAnswerRequest {
                participant_id: offer.participant_id.clone(),
                remote: sdp(sdp_answer(&path, "message/cpim", setup)),
            })
            .await
            .unwrap();
        members.push((address, path, switch_uri, socket));
    }
    let mut peers = Vec::new();
    for (address, path, switch_uri, socket) in members {
        let peer = match socket {
            Member::Listening(listener) => {
                let (stream, _) = timeout(LIMIT, listener.accept()).await.unwrap().unwrap();
                let mut peer = Peer::over(stream, &path, &switch_uri);
                // The switch binds with a bodiless SEND (RFC 4975 §5.4).
                let bind = peer.read_frame().await;
                assert_eq!(bind.method().as_deref(), Some("SEND"));
                assert!(bind.body.is_empty());
                assert_eq!(bind.target_path(), std::slice::from_ref(&path));
                peer.answer(&bind, "200 OK").await;
                peer
            }
            Member::Connecting => {
                let uri = MsrpUri::parse_str(&switch_uri).unwrap();
                let mut peer = Peer::connect(engine.local_addr(), &path, &uri).await;
                peer.bind().await;
                peer
            }
        };
        peers.push((address, peer));
    }
    // Every member bound, then member 4 (connected in) speaks to the room.
    let info = client
        .get_session(pb::GetSessionRequest {
            session_id: session.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    for _ in 0..200 {
        let bound = client
            .get_session(pb::GetSessionRequest {
                session_id: session.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .participants
            .iter()
            .filter(|p| p.bound)
            .count();
        if bound == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(info.participants.len(), 5);
    let body = format!(
        "From: <sip:member4@example.net>\r\nTo: <{ROOM}>\r\n\r\n\
         Content-Type: text/plain\r\n\r\nhello room"
    );
    let (_, sender) = peers.last_mut().unwrap();
    let tid = sender.next_tid();
    let frame = msrp_test_support::wire::SendChunk {
        total: body.len(),
        content_type: "message/cpim",
        ..sender.chunk_head(&tid, "room00001")
    }
    .encode(body.as_bytes());
    sender.write(&frame).await;
    let answer = sender.read_frame().await;
    assert_eq!(answer.status(), Some(200));
    for (address, peer) in peers.iter_mut().take(4) {
        let got = peer.read_frame().await;
        assert_eq!(got.method().as_deref(), Some("SEND"), "{address}");
        assert!(got.body.ends_with(b"hello room"), "{address}");
    }
}

/// An answer that widens the offer is refused (488) and changes nothing; an offer
/// that gets no answer expires with an event carrying both correlation tags.
#[tokio::test]
async fn a_widening_answer_is_refused_and_an_unanswered_offer_expires() {
    let engine = start_engine(1, |c| c.offer_timeout = Duration::from_millis(300));
    let server = ControlServer::start(&engine, None).await;
    let mut client = server.client().await;
    let session = create(
        &mut client,
        pb::CreateSessionRequest {
            kind: pb::SessionKind::OneToOne as i32,
            policy: Some(pb::Policy {
                accept_types: vec!["text/plain".into()],
                ..Default::default()
            }),
            correlation_tag: "call-42".into(),
            ..Default::default()
        },
    )
    .await;
    let mut events = client
        .watch_events(pb::WatchEventsRequest {
            session_id: session.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let offer = client
        .add_participant(pb::AddParticipantRequest {
            session_id: session.clone(),
            correlation_tag: "leg-b".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let err = client
        .set_remote_answer(pb::SetRemoteAnswerRequest {
            participant_id: offer.participant_id.clone(),
            remote: sdp(sdp_answer(
                "msrp://127.0.0.1:9/wide;tcp",
                "text/plain text/html",
                "active",
            )),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("not_acceptable_here"));
    let still = client
        .get_participant(pb::GetParticipantRequest {
            key: Some(pb::get_participant_request::Key::ParticipantId(
                offer.participant_id.clone(),
            )),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(still.pending, "the refused answer changed nothing");
    // Modifying a pending participant is refused too.
    let err = client
        .modify_participant(pb::ModifyParticipantRequest {
            participant_id: offer.participant_id.clone(),
            remote: sdp(sdp_offer("msrp://127.0.0.1:9/x;tcp", "text/plain")),
            commit: true,
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("offer_pending"));

    let event = timeout(LIMIT, events.message())
        .await
        .unwrap()
        .unwrap()
        .expect("an event");
    assert!(
        matches!(event.kind, Some(pb::event::Kind::OfferExpired(_))),
        "{event:?}"
    );
    assert_eq!(event.participant_id, offer.participant_id);
    assert_eq!(event.correlation_tag, "call-42");
    assert_eq!(event.participant_correlation_tag, "leg-b");
    let gone = client
        .get_participant(pb::GetParticipantRequest {
            key: Some(pb::get_participant_request::Key::ParticipantId(
                offer.participant_id.clone(),
            )),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    // Watching a session that does not exist: NOT_FOUND, not a silent stream.
    let err = client
        .watch_events(pb::WatchEventsRequest {
            session_id: "s-123".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

/// 50,000 sessions page through ListSessions (no page near gRPC's 4 MiB limit),
/// each exactly once, and filters find one by its tag.
#[tokio::test]
async fn fifty_thousand_sessions_page_through_list_sessions() {
    let engine = start_engine(2, |_| {});
    let server = ControlServer::start(&engine, None).await;
    let mut client = server.client().await;
    let mut created = Vec::with_capacity(50_000);
    for n in 0..50_000 {
        let options = SessionOptions {
            correlation_tag: format!("call-{n}"),
            ..SessionOptions::default()
        };
        let key = engine
            .create_session_opts(SessionKind::OneToOne, options)
            .await
            .unwrap();
        created.push(key.to_string());
    }
    let mut seen = Vec::with_capacity(created.len());
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_sessions(pb::ListSessionsRequest {
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.sessions.len() <= 1000);
        seen.extend(page.sessions.into_iter().map(|s| s.session_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert!((50..=51).contains(&pages), "{pages} pages");
    assert_eq!(seen.len(), 50_000);
    seen.sort();
    created.sort();
    assert_eq!(seen, created, "every session exactly once");
    let found = client
        .list_sessions(pb::ListSessionsRequest {
            correlation_tag: "call-31337".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.sessions.len(), 1);
    assert_eq!(found.sessions[0].correlation_tag, "call-31337");
    assert!(found.next_page_token.is_empty());
}

/// Ids of a restarted switch never repeat the former run's: a stale
/// RemoveParticipant after a restart finds nothing instead of a new call's leg.
#[tokio::test]
async fn ids_after_a_restart_do_not_collide() {
    let mut before = Vec::new();
    {
        let engine = start_engine(1, |_| {});
        for _ in 0..3 {
            let session = engine.create_session(SessionKind::OneToOne).await.unwrap();
            let p = engine
                .add_participant(
                    session,
                    msrp_test_support::remote("msrp://127.0.0.1:9/x;tcp"),
                )
                .await
                .unwrap();
            before.push((session.to_string(), p.id.to_string()));
        }
        engine.shutdown();
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let engine = start_engine(1, |_| {});
    let server = ControlServer::start(&engine, None).await;
    let mut client = server.client().await;
    let session = engine.create_session(SessionKind::OneToOne).await.unwrap();
    let p = engine
        .add_participant(
            session,
            msrp_test_support::remote("msrp://127.0.0.1:9/y;tcp"),
        )
        .await
        .unwrap();
    for (old_session, old_participant) in &before {
        assert_ne!(old_session, &session.to_string());
        assert_ne!(old_participant, &p.id.to_string());
        let err = client
            .remove_participant(pb::RemoveParticipantRequest {
                participant_id: old_participant.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{old_participant}");
    }
    assert!(
        engine.participant(p.id).await.is_ok(),
        "the new leg is still there"
    );
}

/// Bad input gets INVALID_ARGUMENT naming the field, with a short message, and
/// changes nothing: CR/LF in values copied into SDP or compared with CPIM, values
/// over their size limits, a path longer than the data plane allows.
#[tokio::test]
async fn injected_and_oversized_values_are_refused_by_field() {
    let engine = start_engine(1, |c| c.limits.max_uris_per_path = 4);
    let server = ControlServer::start(&engine, None).await;
    let mut client = server.client().await;
    let check = |err: tonic::Status, field: &str| {
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert_eq!(bad_field(&err).as_deref(), Some(field), "{err:?}");
        assert!(
            err.message().len() < 400,
            "{field}: {} bytes",
            err.message().len()
        );
    };
    let err = client
        .create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::Group as i32,
            group_identity: "sip:room@x\r\nm=audio 9 RTP/AVP 0".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    check(err, "group_identity");
    let err = client
        .create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::OneToOne as i32,
            policy: Some(pb::Policy {
                accept_types: vec!["text/plain\r\na=inject".into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    check(err, "policy.accept_types[0]");
    let session = create(
        &mut client,
        pb::CreateSessionRequest {
            kind: pb::SessionKind::OneToOne as i32,
            ..Default::default()
        },
    )
    .await;
    let structured = |media: pb::Media| {
        Some(pb::RemoteMedia {
            media: Some(pb::remote_media::Media::Structured(media)),
        })
    };
    let path = |n: usize| {
        (0..n)
            .map(|i| format!("msrp://127.0.0.1:9/hop{i};tcp"))
            .collect::<Vec<_>>()
    };
    let cases: Vec<(pb::AddParticipantRequest, &str)> = vec![
        (
            pb::AddParticipantRequest {
                session_id: session.clone(),
                remote: structured(pb::Media {
                    path: path(1),
                    accept_types: vec!["text/plain\r\nm=audio 9 RTP/AVP 0".into()],
                    ..Default::default()
                }),
                ..Default::default()
            },
            "remote.accept_types[0]",
        ),
        (
            pb::AddParticipantRequest {
                session_id: session.clone(),
                remote: structured(pb::Media {
                    path: path(5),
                    accept_types: vec!["text/plain".into()],
                    ..Default::default()
                }),
                ..Default::default()
            },
            "remote.path",
        ),
        (
            pb::AddParticipantRequest {
                session_id: "x".repeat(1 << 20),
                ..Default::default()
            },
            "session_id",
        ),
        (
            pb::AddParticipantRequest {
                session_id: session.clone(),
                correlation_tag: "t".repeat(257),
                ..Default::default()
            },
            "correlation_tag",
        ),
        (
            pb::AddParticipantRequest {
                session_id: session.clone(),
                identity: Some(pb::Identity {
                    im_address: "sip:a@example.net\r\nTo: <sip:b@example.net>".into(),
                    privacy_alias: String::new(),
                }),
                ..Default::default()
            },
            "identity.im_address",
        ),
        (
            pb::AddParticipantRequest {
                session_id: session.clone(),
                answer_with: "p-1".into(),
                ..Default::default()
            },
            "answer_with",
        ),
    ];
    for (request, field) in cases {
        let err = client.add_participant(request).await.unwrap_err();
        check(err, field);
    }
    let info = client
        .get_session(pb::GetSessionRequest {
            session_id: session.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(info.participants.is_empty(), "nothing was added");
    let err = client
        .list_sessions(pb::ListSessionsRequest {
            page_size: 1001,
            ..Default::default()
        })
        .await
        .unwrap_err();
    check(err, "page_size");
}

/// A modification the IM Server offers (OMA IM 7.2.2.6): the switch stages its own
/// offer, the current media stay until the 200 OK, whose answer comes with the
/// commit and is checked like any answer (a widening one is 488, nothing changes).
#[tokio::test]
async fn a_modification_offered_by_the_im_server_is_answered_at_commit() {
    let engine = start_engine(1, |_| {});
    let server = ControlServer::start(&engine, None).await;
    let mut client = server.client().await;
    let session = create(
        &mut client,
        pb::CreateSessionRequest {
            kind: pb::SessionKind::OneToOne as i32,
            policy: Some(pb::Policy {
                accept_types: vec!["text/plain".into(), "image/png".into()],
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    let path = "msrp://127.0.0.1:9/modA;tcp";
    let added = client
        .add_participant(pb::AddParticipantRequest {
            session_id: session.clone(),
            remote: sdp(sdp_offer(path, "text/plain")),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let (before, _) = local(&added.local);
    assert_eq!(before.accept_types, ["text/plain"]);
    let id = added.participant_id;

    let staged = client
        .modify_participant(pb::ModifyParticipantRequest {
            participant_id: id.clone(),
            remote: None,
            commit: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(staged.staged);
    let (offer, _) = local(&staged.local);
    assert_eq!(offer.accept_types, ["text/plain", "image/png"]);
    // Committing without the answer, or with one that widens: refused.
    let err = client
        .commit_modification(pb::CommitModificationRequest {
            participant_id: id.clone(),
            remote: None,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_field(&err).as_deref(), Some("remote"), "{err:?}");
    let err = client
        .commit_modification(pb::CommitModificationRequest {
            participant_id: id.clone(),
            remote: sdp(sdp_answer(path, "image/png video/mp4", "active")),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("not_acceptable_here"));
    let info = client
        .get_participant(pb::GetParticipantRequest {
            key: Some(pb::get_participant_request::Key::ParticipantId(id.clone())),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        info.modification_staged,
        "the refused answer kept the stage"
    );
    let (in_force, _) = local(&info.local);
    assert_eq!(
        in_force.accept_types,
        ["text/plain"],
        "the current media stay"
    );

    // The 200 OK's answer: now in force.
    let committed = client
        .commit_modification(pb::CommitModificationRequest {
            participant_id: id.clone(),
            remote: sdp(sdp_answer(path, "image/png", "active")),
        })
        .await
        .unwrap()
        .into_inner();
    let (now, _) = local(&committed.local);
    assert_eq!(now.accept_types, ["text/plain", "image/png"]);
    let info = engine.participant(id.parse().unwrap()).await.unwrap();
    assert!(info.staged.is_none());
}
