//! The IM Server's offer/answer on the sans-IO [`Endpoint`], on a fake clock: the
//! switch offers (`a=setup:actpass`), the answer narrows and resolves the setup
//! role, an answer that widens is refused and changes nothing, a B2BUA's answer to
//! its originating leg is "selected from both", offers expire, sessions end by
//! themselves, and events carry the IM Server's correlation tags.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use msrp_proto::codec::MsrpUri;
use msrp_proto::control::{
    ControlError, Event, Negotiation, ReleaseReason, SessionFilter, SessionOptions,
};
use msrp_proto::endpoint::{Action, Endpoint, EndpointConfig};
use msrp_proto::ids::{SessionKey, WireIds};
use msrp_proto::media::{Identity, Policy, RemoteMedia, SetupRole};
use msrp_proto::session::{SessionKind, SessionLimits};
use msrp_proto::stats::Stats;

const A: &str = "msrp://10.0.0.1:7001/aaaa;tcp";
const B: &str = "msrp://10.0.0.2:7002/bbbb;tcp";

fn endpoint(tune: impl FnOnce(&mut EndpointConfig)) -> (Endpoint, Instant) {
    let mut config = EndpointConfig::default();
    tune(&mut config);
    let t0 = Instant::now();
    let switch = Endpoint::new(
        config,
        0,
        WireIds::seeded(7),
        Arc::new(Stats::default()),
        t0,
    );
    (switch, t0)
}

fn types(list: &[&str]) -> Vec<String> {
    list.iter().map(|t| t.to_string()).collect()
}

fn media(path: &str, accept: &[&str], max_size: Option<u64>, setup: SetupRole) -> RemoteMedia {
    RemoteMedia {
        path: vec![MsrpUri::parse_str(path).unwrap()],
        accept_types: types(accept),
        accept_wrapped_types: Vec::new(),
        max_size,
        setup,
        cema: false,
        ..Default::default()
    }
}

fn policy(accept: &[&str], max_size: Option<u64>) -> SessionOptions {
    SessionOptions {
        policy: Policy {
            accept_types: types(accept),
            max_size,
            ..Policy::default()
        },
        correlation_tag: "call-1@example.net".into(),
        ..SessionOptions::default()
    }
}

fn offer(from: Option<msrp_proto::ids::ParticipantId>) -> Negotiation {
    Negotiation::Offer {
        offer_from: from,
        transport: None,
        websocket: false,
        ws_proto: false,
    }
}

fn answer(offer: RemoteMedia) -> Negotiation {
    Negotiation::Answer {
        offer,
        answer_with: None,
    }
}

/// The B2BUA flow of OMA IM 7.2.1.2: A's offer, the switch's offer to B built from
/// it, B's narrower answer, and the answer to A selected from both.
#[test]
fn a_b2bua_answers_its_originating_leg_from_both_legs() {
    let (mut switch, t0) = endpoint(|_| {});
    let session = switch.create_session_opts(
        SessionKind::OneToOne,
        policy(&["text/plain", "message/cpim", "image/png"], Some(100_000)),
        t0,
    );
    // A offers three types the policy carries and one it does not.
    let a_offer = media(
        A,
        &["message/cpim", "text/plain", "video/mp4", "image/png"],
        Some(50_000),
        SetupRole::Passive,
    );
    let a = switch
        .add(
            session,
            Identity::default(),
            answer(a_offer),
            "a-leg".into(),
            t0,
        )
        .unwrap();
    assert!(!a.pending);

    // The offer to B: A's types under the policy, in A's order; actpass.
    let b = switch
        .add(
            session,
            Identity::default(),
            offer(Some(a.id)),
            "b-leg".into(),
            t0,
        )
        .unwrap();
    assert!(b.pending);
    assert_eq!(
        b.local.accept_types,
        types(&["message/cpim", "text/plain", "image/png"])
    );
    assert_eq!(b.local.setup, None, "the switch offers actpass");
    assert_eq!(b.local.max_size, Some(50_000));

    // B answers with fewer types, a smaller max-size, and connects itself.
    let b_answer = media(
        B,
        &["text/plain", "image/png"],
        Some(20_000),
        SetupRole::Passive,
    );
    let b = switch.set_remote_answer(b.id, b_answer, t0).unwrap();
    assert!(!b.pending);
    assert_eq!(b.local.setup, Some(SetupRole::Passive));
    assert!(
        switch.poll_action().is_none(),
        "B connects: the switch waits"
    );

    // The answer to A: A's order, in both, in the policy; the smaller max-size.
    let a = switch.answer_from_both_legs(a.id, b.id).unwrap();
    assert_eq!(a.local.accept_types, types(&["text/plain", "image/png"]));
    assert_eq!(a.local.max_size, Some(20_000));
    // The same answer when the IM Server adds A after B answered.
    let (mut other, t0) = endpoint(|_| {});
    let session = other.create_session_opts(
        SessionKind::OneToOne,
        policy(&["text/plain", "message/cpim", "image/png"], None),
        t0,
    );
    let b = other
        .add(session, Identity::default(), offer(None), String::new(), t0)
        .unwrap();
    assert_eq!(
        b.local.accept_types,
        types(&["text/plain", "message/cpim", "image/png"])
    );
    other
        .set_remote_answer(
            b.id,
            media(B, &["image/png", "text/plain"], None, SetupRole::Passive),
            t0,
        )
        .unwrap();
    let a = other
        .add(
            session,
            Identity::default(),
            Negotiation::Answer {
                offer: media(
                    A,
                    &["text/plain", "message/cpim", "image/png"],
                    None,
                    SetupRole::Active,
                ),
                answer_with: Some(b.id),
            },
            String::new(),
            t0,
        )
        .unwrap();
    assert_eq!(a.local.accept_types, types(&["text/plain", "image/png"]));
}

/// RFC 3264: an answer may narrow the offered types, never widen them. A widening
/// answer is refused (SIP 488) and the participant stays pending, unchanged.
#[test]
fn an_answer_that_widens_the_offer_is_refused_and_changes_nothing() {
    let (mut switch, t0) = endpoint(|_| {});
    let session = switch.create_session_opts(
        SessionKind::OneToOne,
        policy(&["text/plain", "image/*"], None),
        t0,
    );
    let p = switch
        .add(session, Identity::default(), offer(None), String::new(), t0)
        .unwrap();
    for widening in [
        &["text/plain", "video/mp4"][..],
        &["*"][..],
        &["audio/*"][..],
    ] {
        let err = switch
            .set_remote_answer(p.id, media(B, widening, None, SetupRole::Active), t0)
            .unwrap_err();
        assert!(
            matches!(err, ControlError::NotAcceptable(_)),
            "{widening:?}: {err:?}"
        );
        let info = switch.participant_info(p.id).unwrap();
        assert!(info.pending, "{widening:?}");
        assert_eq!(info.local.setup, None);
    }
    // A type under the offered wildcard, and fewer types, are fine.
    let info = switch
        .set_remote_answer(p.id, media(B, &["image/png"], None, SetupRole::Active), t0)
        .unwrap();
    assert!(!info.pending);
    // Answered once: a second answer is refused.
    let again = switch
        .set_remote_answer(p.id, media(B, &["image/png"], None, SetupRole::Active), t0)
        .unwrap_err();
    assert_eq!(again, ControlError::NoOfferPending(p.id));
}

/// The answer decides who connects: `passive` (or no a=setup) lets the switch
/// connect out and bind with a bodiless SEND; until the answer, no request binds.
#[test]
fn a_passive_answer_makes_the_switch_connect_and_nothing_binds_before_the_answer() {
    let (mut switch, t0) = endpoint(|_| {});
    let session = switch.create_session(SessionKind::OneToOne);
    let p = switch
        .add(session, Identity::default(), offer(None), String::new(), t0)
        .unwrap();
    assert_eq!(p.local.accept_types, types(&["*"]), "no policy: anything");

    // A request naming the pending participant's URI: 481, nothing bound.
    let conn = switch.open_connection(t0);
    let frame = format!(
        "MSRP t0001 SEND\r\nTo-Path: {}\r\nFrom-Path: {B}\r\nMessage-ID: m0001\r\n\
         Byte-Range: 1-0/0\r\n-------t0001$\r\n",
        p.local_uri
    );
    switch.handle_input(conn, &mut BytesMut::from(frame.as_str()), t0);
    let mut out: Vec<Bytes> = Vec::new();
    switch.take_output(conn, &mut out, usize::MAX);
    let written: Vec<u8> = out.concat();
    assert!(
        written.starts_with(b"MSRP t0001 481"),
        "{}",
        String::from_utf8_lossy(&written)
    );
    assert!(!switch.participant_info(p.id).unwrap().bound);
    while switch.poll_action().is_some() {}

    // The passive answer: the switch connects to B's path.
    let info = switch
        .set_remote_answer(p.id, media(B, &["text/plain"], None, SetupRole::Active), t0)
        .unwrap();
    assert_eq!(info.local.setup, Some(SetupRole::Active));
    match switch.poll_action() {
        Some(Action::Connect { host, port, .. }) => {
            assert_eq!((host.as_str(), port), ("10.0.0.2", 7002))
        }
        other => panic!("expected a connect, got {other:?}"),
    }
}

/// An offer with no answer in time: the participant goes, with one `OfferExpired`
/// event carrying both correlation tags.
#[test]
fn an_unanswered_offer_expires_with_an_event() {
    let (mut switch, t0) = endpoint(|c| c.offer_timeout = Duration::from_secs(20));
    let session =
        switch.create_session_opts(SessionKind::Group, policy(&["message/cpim"], None), t0);
    let member = Identity {
        im_address: "sip:bob@example.net".into(),
        privacy_alias: None,
    };
    let p = switch
        .add(session, member, offer(None), "bob-dialog".into(), t0)
        .unwrap();
    assert_eq!(
        p.local.chatroom,
        Vec::<String>::new(),
        "policy offers no tokens"
    );
    switch.handle_timeout(t0 + Duration::from_secs(19));
    assert!(switch.participant_info(p.id).is_ok());
    switch.handle_timeout(t0 + Duration::from_secs(20));
    assert_eq!(
        switch.participant_info(p.id).unwrap_err(),
        ControlError::NoSuchParticipant(p.id)
    );
    let tagged = switch.poll_tagged_event().expect("an event");
    assert_eq!(
        tagged.event,
        Event::OfferExpired {
            session,
            participant: p.id
        }
    );
    assert_eq!(&*tagged.correlation_tag, "call-1@example.net");
    assert_eq!(&*tagged.participant_tag, "bob-dialog");
    assert!(
        switch.poll_event().is_none(),
        "no second event for the same removal"
    );
}

/// Sessions end by themselves: after their maximum duration, or after their idle
/// release time without a request (which a request postpones).
#[test]
fn sessions_are_released_after_their_maximum_duration_or_idle_time() {
    let (mut switch, t0) = endpoint(|c| {
        c.session_idle = None;
        c.session_limits.idle_release = Some(Duration::from_secs(60));
    });
    let limited = SessionOptions {
        limits: SessionLimits {
            max_duration: Some(Duration::from_secs(30)),
            idle_release: None,
        },
        ..SessionOptions::default()
    };
    let short = switch.create_session_opts(SessionKind::OneToOne, limited, t0);
    let idle = switch.create_session_opts(SessionKind::OneToOne, SessionOptions::default(), t0);
    let info = switch.session_info(short).unwrap();
    assert_eq!(info.limits.max_duration, Some(Duration::from_secs(30)));
    assert_eq!(
        info.limits.idle_release,
        Some(Duration::from_secs(60)),
        "the endpoint's default fills what the session does not set"
    );
    switch.handle_timeout(t0 + Duration::from_secs(30));
    assert!(switch.session_info(short).is_err());
    assert_eq!(
        switch.poll_event(),
        Some(Event::SessionReleased {
            session: short,
            reason: ReleaseReason::MaxDuration
        })
    );
    assert!(switch.session_info(idle).is_ok());
    switch.handle_timeout(t0 + Duration::from_secs(60));
    assert!(switch.session_info(idle).is_err());
    assert_eq!(
        switch.poll_event(),
        Some(Event::SessionReleased {
            session: idle,
            reason: ReleaseReason::Idle
        })
    );
}

/// Listing pages through sessions in key order and filters by kind, IM address
/// and correlation tag.
#[test]
fn sessions_are_listed_a_page_at_a_time_with_filters() {
    let (mut switch, t0) = endpoint(|_| {});
    let mut keys: Vec<SessionKey> = Vec::new();
    for n in 0..25 {
        let kind = if n % 5 == 0 {
            SessionKind::Group
        } else {
            SessionKind::OneToOne
        };
        let options = SessionOptions {
            correlation_tag: format!("call-{n}"),
            ..SessionOptions::default()
        };
        keys.push(switch.create_session_opts(kind, options, t0));
    }
    let filter = SessionFilter::default();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let (page, more) = switch.list_sessions(after, 10, &filter);
        assert!(page.len() <= 10);
        seen.extend(page.iter().map(|s| s.key));
        after = page.last().map(|s| s.key);
        if !more {
            break;
        }
    }
    assert_eq!(seen, keys);
    let groups = SessionFilter {
        kind: Some(SessionKind::Group),
        ..SessionFilter::default()
    };
    assert_eq!(switch.list_sessions(None, 100, &groups).0.len(), 5);
    let tagged = SessionFilter {
        correlation_tag: Some("call-7".into()),
        ..SessionFilter::default()
    };
    let (page, more) = switch.list_sessions(None, 100, &tagged);
    assert_eq!((page.len(), more), (1, false));
    assert_eq!(page[0].key, keys[7]);
    let member = Identity {
        im_address: "sip:carol@example.net".into(),
        privacy_alias: None,
    };
    switch
        .add(
            keys[3],
            member,
            answer(media(A, &["*"], None, SetupRole::Active)),
            String::new(),
            t0,
        )
        .unwrap();
    let by_address = SessionFilter {
        im_address: Some("sip:carol@example.net".into()),
        ..SessionFilter::default()
    };
    let (page, _) = switch.list_sessions(None, 100, &by_address);
    assert_eq!(
        page.iter().map(|s| s.key).collect::<Vec<_>>(),
        vec![keys[3]]
    );
}

/// Ids start at the configured base, so a daemon restarted with a later base never
/// reissues an id of its former run.
#[test]
fn ids_start_at_the_configured_base() {
    let (mut first, t0) = endpoint(|c| c.id_base = 1_000);
    let old = first.create_session(SessionKind::OneToOne);
    let (mut second, _) = endpoint(|c| c.id_base = 2_000);
    let new = second.create_session(SessionKind::OneToOne);
    assert_ne!(old, new);
    assert!(new > old);
    assert!(first.create_session_opts(SessionKind::OneToOne, SessionOptions::default(), t0) > old);
}

/// A released session's timers do not outlive it for long: 20,000 sessions created
/// and released (each with idle and release timers due in hours) leave the timer
/// heap near the number of live ones, not 40,000 entries.
#[test]
fn released_sessions_leave_no_timers_behind() {
    let (mut switch, t0) = endpoint(|c| {
        c.session_limits.max_duration = Some(Duration::from_secs(3600));
    });
    let live: Vec<SessionKey> = (0..100)
        .map(|_| switch.create_session_opts(SessionKind::OneToOne, SessionOptions::default(), t0))
        .collect();
    for _ in 0..20_000 {
        let key = switch.create_session_opts(SessionKind::OneToOne, SessionOptions::default(), t0);
        switch
            .add(key, Identity::default(), offer(None), String::new(), t0)
            .unwrap();
        switch.release_session(key).unwrap();
    }
    let timers = switch.pending_timers();
    assert!(
        timers <= 2 * 2 * 1024 + 3 * live.len(),
        "{timers} timers left"
    );
    for key in live {
        assert!(switch.session_info(key).is_ok());
    }
    // The live sessions' timers survived the sweeps.
    switch.handle_timeout(t0 + Duration::from_secs(3600));
    let mut released = 0;
    while let Some(event) = switch.poll_event() {
        if matches!(event, Event::SessionReleased { .. }) {
            released += 1;
        }
    }
    assert_eq!(released, 100);
}
