// The SDP fuzz harness, shared by the cargo-fuzz target (`fuzz/fuzz_targets/sdp.rs`)
// and the replay test (`msrp-switch/tests/fuzz_sdp_replay.rs`), which both `include!`
// this file so the two can never drift apart. Plain `//` comments only: an included
// file cannot carry inner attributes or `//!` docs.
//
// A participant's SDP goes through three hands: the control API reads the
// `m=message` section (`control_api::sdp::parse_media_section`), the daemon's control
// front checks the fields and parses each `a=path` URI into `RemoteMedia`
// (`msrp-switch/src/control/grpc.rs`, `remote_media`: copied below as `remote`, since
// the daemon does not export it), and `msrp_proto::media` negotiates, through the
// endpoint's control calls. The switch's own answers and offers go back out as SDP
// (`grpc.rs` `local_media`, copied below as `local_sdp`, then
// `control_api::sdp::format_media_section`). One run takes the input through all of
// it.
//
// Input: if the first byte has its high bit set it is a control byte and the rest is
// the SDP text; any other input is all text (the seeds start with `v=` or `m=`).
// Control bits 0-1 pick the session policy (see `policy`). The text is read as UTF-8,
// invalid sequences replaced, and cut to the control API's `MAX_SDP_BYTES`.
//
// What one run checks (any violation panics, which libFuzzer reports as a crash):
// - nothing panics;
// - a refusal names an SDP field (`m=`, `c=`, `a=...`) and its message is short
//   whatever the input (values quoted by at most `limits::QUOTED_CHARS` characters);
// - what the parser accepts is well formed: a port in 1..=65535, a non-empty path of
//   `msrp://`/`msrps://` URIs, non-empty accept-types, tokens without whitespace, a
//   known direction and `a=connection` value;
// - written back with the control API's SDP writer, it parses again to the same
//   value, and writing that gives the same text (the writer's documented round trip
//   for everything it can express, which is everything the parser accepts); the text
//   written stays within a bound of the input's size;
// - every `a=path` URI the daemon's check accepts reads back from its own text to the
//   same URI;
// - the switch's negotiation, as offer and as answer, in a 1:1 session and a group,
//   never widens (RFC 3264 §6): each type it answers or offers is covered by the
//   offer it answers (or forwards) and by the session policy; an answer is never
//   empty; max-size follows the policy (and the other leg's answer); a min-max-size
//   policy refuses a smaller offer; chatroom tokens only in a group. An answer to the
//   switch's own offer is accepted only if it narrows that offer;
// - every answer and offer the switch makes, written as SDP the way the daemon writes
//   it, parses back to the same media.

use control_api::limits;
use control_api::pb;
use control_api::sdp::{SdpError, format_media_section, parse_media_section};
use msrp_proto::codec::MsrpUri;
use msrp_proto::control::{Negotiation, ParticipantInfo, SessionOptions};
use msrp_proto::endpoint::{Endpoint, EndpointConfig};
use msrp_proto::ids::WireIds;
use msrp_proto::media::{
    self, ConnectionReuse, Identity, LocalMedia, Offered, OfferedSetup, OfferedTransport, Policy,
    RemoteMedia, SetupRole,
};
use msrp_proto::session::SessionKind;
use msrp_proto::stats::Stats;
use std::sync::Arc;
use std::time::Instant;

/// What a run reached, for tests that check a seed gets where it was written for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// The control API parsed the section.
    pub parsed: bool,
    /// The daemon's checks and `media::remote_media` accepted it as an offer.
    pub offer: bool,
    /// ... and `media::remote_answer` as an answer.
    pub answer: bool,
    /// Participants the switch answered (1:1 and group).
    pub answered: usize,
    /// The switch's offer forwarding it, and the answer to that offer, accepted.
    pub offered_and_answered: bool,
}

/// Runs one fuzz input; returns how far it got.
pub fn run(raw: &[u8]) -> Summary {
    let (control, data) = match raw.split_first() {
        Some((&first, rest)) if first & 0x80 != 0 => (first, rest),
        _ => (0, raw),
    };
    let data = &data[..data.len().min(limits::MAX_SDP_BYTES)];
    let text = String::from_utf8_lossy(data);
    let mut summary = Summary::default();
    let parsed = match parse_media_section(&text) {
        Ok(media) => media,
        Err(err) => {
            check_refusal(&err);
            return summary;
        }
    };
    summary.parsed = true;
    check_parsed(&parsed);
    check_round_trip(&parsed, text.len());
    let offer = remote(&parsed, Side::Offer);
    let answer = remote(&parsed, Side::Answer);
    summary.offer = offer.is_some();
    summary.answer = answer.is_some();
    negotiate(
        &policy(control),
        offer.as_ref(),
        answer.as_ref(),
        parsed.cema,
        &mut summary,
    );
    summary
}

/// The session policy from control bits 0-1: none; `message/cpim text/plain`;
/// `text/*` with max-size 1000 and min-max-size 100, nicknames; `*` and wrapped
/// `text/plain`, private messages.
pub fn policy(control: u8) -> Policy {
    let list = |types: &[&str]| types.iter().map(|t| (*t).to_owned()).collect();
    match control & 3 {
        0 => Policy::default(),
        1 => Policy {
            accept_types: list(&["message/cpim", "text/plain"]),
            ..Policy::default()
        },
        2 => Policy {
            accept_types: list(&["text/*"]),
            max_size: Some(1000),
            min_max_size: Some(100),
            nicknames: true,
            ..Policy::default()
        },
        _ => Policy {
            accept_types: list(&["*"]),
            accept_wrapped_types: list(&["text/plain"]),
            private_messages: true,
            ..Policy::default()
        },
    }
}

/// A refusal names the SDP line at fault, in a message of bounded size.
fn check_refusal(err: &SdpError) {
    let field = err.field();
    assert!(
        field.starts_with("m=") || field.starts_with("c=") || field.starts_with("a="),
        "{err:?} names no SDP field: {field:?}"
    );
    let message = err.to_string();
    assert!(
        message.len() <= MAX_ERROR_BYTES,
        "a {} byte message: {message:?}",
        message.len()
    );
}

/// The longest refusal message: a value is quoted by at most `limits::QUOTED_CHARS`
/// characters, each printed as at most 10 bytes (`\u{10ffff}`), plus the text.
const MAX_ERROR_BYTES: usize = 10 * limits::QUOTED_CHARS + 192;

/// What the parser accepts is well formed.
fn check_parsed(media: &pb::Media) {
    assert!((1..=65535).contains(&media.port), "port {}", media.port);
    assert!(!media.path.is_empty(), "no path");
    assert!(!media.accept_types.is_empty(), "no accept-types");
    for uri in &media.path {
        let lower = uri.to_ascii_lowercase();
        assert!(
            lower.starts_with("msrp://") || lower.starts_with("msrps://"),
            "path entry {uri:?}"
        );
    }
    for token in media
        .path
        .iter()
        .chain(&media.accept_types)
        .chain(&media.accept_wrapped_types)
        .chain(&media.chatroom)
    {
        assert!(
            !token.is_empty() && !token.bytes().any(|b| b.is_ascii_whitespace()),
            "token {token:?}"
        );
    }
    assert!(
        ["", "sendonly", "recvonly", "inactive"].contains(&media.direction.as_str()),
        "direction {:?}",
        media.direction
    );
    assert!(
        ["", "new", "existing"].contains(&media.connection.as_str()),
        "connection {:?}",
        media.connection
    );
    assert!(
        pb::Setup::try_from(media.setup).is_ok(),
        "setup {}",
        media.setup
    );
    assert!(
        matches!(
            pb::Transport::try_from(media.transport),
            Ok(pb::Transport::Tcp | pb::Transport::Tls)
        ),
        "transport {}",
        media.transport
    );
    assert!(
        !media.connection_address.is_empty(),
        "no connection address"
    );
}

/// The writer gives text the parser reads back to the same media, and writing that
/// again gives the same text.
fn check_round_trip(media: &pb::Media, input_len: usize) {
    let written = format_media_section(media);
    assert!(
        written.len() <= 2 * input_len + 256,
        "{} bytes written for {input_len} bytes of SDP",
        written.len()
    );
    match parse_media_section(&written) {
        Ok(again) => {
            assert_eq!(&again, media, "written back as {written:?}");
            assert_eq!(format_media_section(&again), written, "written twice");
        }
        Err(err) => panic!("the writer's own {written:?} does not parse: {err}"),
    }
}

/// Whose SDP the media are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// The remote side's offer: the switch answers.
    Offer,
    /// The remote side's answer to the switch's offer.
    Answer,
}

/// The daemon's checks of remote media, then `media::remote_media` or
/// `media::remote_answer`: a copy of `remote_media` and `check_media` in
/// `msrp-switch/src/control/grpc.rs` (with the default `max_uris_per_path`).
/// `None` where the daemon refuses the media.
fn remote(media: &pb::Media, side: Side) -> Option<RemoteMedia> {
    let max_uris = msrp_proto::codec::Limits::default().max_uris_per_path;
    limits::check_count("remote.path", &media.path, max_uris).ok()?;
    for (i, uri) in media.path.iter().enumerate() {
        limits::check_text(&format!("remote.path[{i}]"), uri, limits::MAX_URI_BYTES).ok()?;
    }
    limits::check_media_types("remote.accept_types", &media.accept_types).ok()?;
    limits::check_media_types("remote.accept_wrapped_types", &media.accept_wrapped_types).ok()?;
    limits::check_tokens("remote.chatroom", &media.chatroom).ok()?;
    for (field, value) in [
        ("remote.connection", &media.connection),
        ("remote.fingerprint", &media.fingerprint),
        ("remote.connection_address", &media.connection_address),
        ("remote.direction", &media.direction),
    ] {
        limits::check_text(field, value, limits::MAX_ATTRIBUTE_BYTES).ok()?;
    }
    let mut path = Vec::with_capacity(media.path.len());
    for text in &media.path {
        let uri = MsrpUri::parse_str(text).ok()?;
        check_uri(&uri);
        path.push(uri);
    }
    let transport = match pb::Transport::try_from(media.transport) {
        Ok(pb::Transport::Unspecified) => OfferedTransport::Unspecified,
        Ok(pb::Transport::Tcp) => OfferedTransport::Tcp,
        Ok(pb::Transport::Tls) => OfferedTransport::Tls,
        Ok(pb::Transport::Ws) => OfferedTransport::WebSocket,
        Ok(pb::Transport::Wss) => OfferedTransport::SecureWebSocket,
        Err(_) => return None,
    };
    let setup = match pb::Setup::try_from(media.setup) {
        Ok(pb::Setup::Unspecified) => OfferedSetup::Unspecified,
        Ok(pb::Setup::Active) => OfferedSetup::Active,
        Ok(pb::Setup::Passive) => OfferedSetup::Passive,
        Ok(pb::Setup::Actpass) => OfferedSetup::Actpass,
        Ok(pb::Setup::Holdconn) => OfferedSetup::Holdconn,
        Err(_) => return None,
    };
    let connection = ConnectionReuse::from_sdp(&media.connection)?;
    let offered = Offered {
        path,
        accept_types: media.accept_types.clone(),
        accept_wrapped_types: media.accept_wrapped_types.clone(),
        max_size: (media.max_size > 0).then_some(media.max_size),
        setup,
        transport,
        cema: media.cema,
        fingerprints: (!media.fingerprint.is_empty())
            .then(|| media.fingerprint.clone())
            .into_iter()
            .collect(),
        media_address: (!media.connection_address.is_empty())
            .then(|| {
                u16::try_from(media.port)
                    .ok()
                    .map(|port| (media.connection_address.clone(), port))
            })
            .flatten(),
        connection,
    };
    let checked = match side {
        Side::Offer => media::remote_media(offered),
        Side::Answer => media::remote_answer(offered),
    };
    match checked {
        Ok(remote) => Some(remote),
        Err(err) => {
            assert!(err.field.starts_with("remote."), "{err:?}");
            None
        }
    }
}

/// A URI reads back from its own text to the same URI.
fn check_uri(uri: &MsrpUri) {
    let again = match MsrpUri::parse_str(uri.as_str()) {
        Ok(again) => again,
        Err(err) => panic!("{:?} does not parse again: {err}", uri.as_str()),
    };
    assert_eq!(again.as_str(), uri.as_str());
    assert!(
        again.matches(uri) && uri.matches(&again),
        "{:?}",
        uri.as_str()
    );
    assert_eq!(again.session_id(), uri.session_id());
    assert_eq!(again.port(), uri.port());
}

/// True if the answered or offered entry `t` is covered by the list `by` (RFC 3264
/// §6, RFC 4975 §8.6 wildcards): `*` only by `*`, `type/*` by itself or `*`, a
/// type by itself, its `type/*` or `*`.
fn covered(by: &[String], t: &str) -> bool {
    if by.iter().any(|b| b == "*") {
        return true;
    }
    let kind = t.split('/').next().unwrap_or_default();
    t != "*"
        && by
            .iter()
            .any(|b| b.eq_ignore_ascii_case(t) || b.eq_ignore_ascii_case(&format!("{kind}/*")))
}

/// Every entry of `types` is covered by `by` (and by the policy's list, unless it is
/// empty).
fn all_covered(what: &str, types: &[String], by: &[String], policy: &[String]) {
    for t in types {
        assert!(covered(by, t), "{what}: {t:?} is not covered by {by:?}");
        assert!(
            policy.is_empty() || covered(policy, t),
            "{what}: {t:?} is not covered by the policy {policy:?}"
        );
    }
}

/// The smaller of two optional sizes (a missing one does not count).
fn smaller(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The switch's media for a participant as the daemon writes them: the structured
/// `Media` of `local_media` in `msrp-switch/src/control/grpc.rs`.
fn local_sdp(local: &LocalMedia, cema: bool) -> pb::Media {
    pb::Media {
        path: vec![local.uri.to_string()],
        accept_types: local.accept_types.clone(),
        accept_wrapped_types: local.accept_wrapped_types.clone(),
        max_size: local.max_size.unwrap_or(0),
        setup: match local.setup {
            Some(SetupRole::Passive) => pb::Setup::Passive,
            Some(SetupRole::Active) => pb::Setup::Active,
            None => pb::Setup::Actpass,
        } as i32,
        connection: local.connection.as_sdp().into(),
        cema,
        transport: pb::Transport::Tcp as i32,
        connection_address: local.uri.host().to_string(),
        port: u32::from(local.uri.port().unwrap_or(2855)),
        chatroom: local.chatroom.clone(),
        ..pb::Media::default()
    }
}

/// The switch's media for a participant are never empty, and their SDP reads back.
fn check_local(info: &ParticipantInfo, kind: SessionKind, cema: bool) {
    let local = &info.local;
    assert!(
        !local.accept_types.is_empty(),
        "no accept-types in {local:?}"
    );
    assert_eq!(
        local.chatroom.is_empty(),
        kind == SessionKind::OneToOne || local.chatroom.is_empty(),
        "chatroom tokens in a 1:1 session"
    );
    check_uri(&local.uri);
    let structured = local_sdp(local, cema);
    let written = format_media_section(&structured);
    match parse_media_section(&written) {
        Ok(again) => assert_eq!(again, structured, "the switch's SDP {written:?}"),
        Err(err) => panic!("the switch's SDP {written:?} does not parse: {err}"),
    }
}

/// Negotiates the parsed media every way the control API can: as an offer the
/// switch answers (1:1 and group), forwarded in an offer of the switch's, as the
/// answer to that offer, joined with it (an answer "selected from both"), and as a
/// modification, staged and committed.
fn negotiate(
    policy: &Policy,
    offer: Option<&RemoteMedia>,
    answer: Option<&RemoteMedia>,
    cema: bool,
    summary: &mut Summary,
) {
    let now = Instant::now();
    let mut switch = Endpoint::new(
        EndpointConfig::default(),
        0,
        WireIds::seeded(3),
        Arc::new(Stats::default()),
        now,
    );
    let options = |kind| SessionOptions {
        group_identity: if kind == SessionKind::Group {
            "sip:room@example.com".into()
        } else {
            String::new()
        },
        policy: policy.clone(),
        ..SessionOptions::default()
    };
    let one_to_one =
        switch.create_session_opts(SessionKind::OneToOne, options(SessionKind::OneToOne), now);
    let group = switch.create_session_opts(SessionKind::Group, options(SessionKind::Group), now);
    let identity = Identity {
        im_address: "sip:fuzz@example.com".into(),
        privacy_alias: None,
    };
    let Some(offer) = offer else {
        return;
    };
    // The switch answers the offer.
    let mut answered = None;
    for (key, kind) in [
        (one_to_one, SessionKind::OneToOne),
        (group, SessionKind::Group),
    ] {
        let negotiation = Negotiation::Answer {
            offer: offer.clone(),
            answer_with: None,
        };
        let result = switch.add(key, identity.clone(), negotiation, String::new(), now);
        let refused_for_size = matches!(
            (policy.min_max_size, offer.max_size),
            (Some(min), Some(size)) if size < min
        );
        match result {
            Ok(info) => {
                assert!(
                    !refused_for_size,
                    "an offer under min-max-size was answered"
                );
                summary.answered += 1;
                let local = &info.local;
                all_covered(
                    "answer",
                    &local.accept_types,
                    &offer.accept_types,
                    &policy.accept_types,
                );
                all_covered(
                    "answer (wrapped)",
                    &local.accept_wrapped_types,
                    &offer.accept_wrapped_types,
                    &policy.accept_wrapped_types,
                );
                assert_eq!(local.max_size, policy.max_size, "answer max-size");
                assert_eq!(local.setup, Some(offer.setup), "answer setup role");
                check_local(&info, kind, cema);
                if kind == SessionKind::OneToOne {
                    answered = Some(info);
                }
            }
            Err(err) => assert!(!err.to_string().is_empty()),
        }
    }
    let Some(first) = answered else {
        return;
    };
    // The switch offers to a second 1:1 leg, forwarding the first one's offer...
    let forwarded = Negotiation::Offer {
        offer_from: Some(first.id),
        transport: None,
        websocket: false,
        ws_proto: false,
    };
    if let Ok(second) = switch.add(
        one_to_one,
        Identity::default(),
        forwarded,
        String::new(),
        now,
    ) {
        let local = &second.local;
        all_covered(
            "offer",
            &local.accept_types,
            &offer.accept_types,
            &policy.accept_types,
        );
        assert_eq!(
            local.max_size,
            smaller(policy.max_size, offer.max_size),
            "offer max-size"
        );
        assert_eq!(local.setup, None, "an offer's setup is actpass");
        assert!(second.pending);
        check_local(&second, SessionKind::OneToOne, cema);
        // ... which the same media answer: accepted only if they narrow it.
        if let Some(answer) = answer {
            let offered = second.local.clone();
            if let Ok(answered) = switch.set_remote_answer(second.id, answer.clone(), now) {
                all_covered(
                    "remote answer",
                    &answer.accept_types,
                    &offered.accept_types,
                    &[],
                );
                if !offered.accept_wrapped_types.is_empty() {
                    all_covered(
                        "remote answer (wrapped)",
                        &answer.accept_wrapped_types,
                        &offered.accept_wrapped_types,
                        &[],
                    );
                }
                assert!(!answered.pending);
                assert_eq!(answered.local.setup, Some(answer.setup));
                check_local(&answered, SessionKind::OneToOne, cema);
                summary.offered_and_answered = true;
                // The first leg's answer "selected from both".
                if let Ok(both) = switch.answer_from_both_legs(first.id, second.id) {
                    let types = &both.local.accept_types;
                    all_covered(
                        "answer from both",
                        types,
                        &offer.accept_types,
                        &policy.accept_types,
                    );
                    all_covered("answer from both", types, &answer.accept_types, &[]);
                    assert_eq!(
                        both.local.max_size,
                        smaller(policy.max_size, answer.max_size),
                        "answer-from-both max-size"
                    );
                    check_local(&both, SessionKind::OneToOne, cema);
                }
            }
        }
    }
    // A re-INVITE with the same media, then staged and committed, and the switch's
    // own re-offer.
    if let Ok(info) = switch.modify_participant(first.id, offer.clone(), now) {
        check_local(&info, SessionKind::OneToOne, cema);
    }
    if switch.stage_modification(first.id, offer.clone()).is_ok() {
        if let Ok(info) = switch.commit_modification(first.id, now) {
            check_local(&info, SessionKind::OneToOne, cema);
        }
    }
    if let Ok(info) = switch.stage_offer(first.id) {
        if let Some(staged) = &info.staged {
            all_covered(
                "re-offer",
                &staged.accept_types,
                &policy_or_any(policy),
                &[],
            );
        }
        if let Some(answer) = answer {
            if let Ok(info) = switch.commit_modification_with(first.id, Some(answer.clone()), now) {
                check_local(&info, SessionKind::OneToOne, cema);
            }
        }
    }
    for key in switch.session_keys() {
        assert!(switch.release_session(key).is_ok());
    }
}

/// The types the switch offers under `policy` with nothing to forward: the
/// policy's, or `*`.
fn policy_or_any(policy: &Policy) -> Vec<String> {
    if policy.accept_types.is_empty() {
        vec!["*".to_owned()]
    } else {
        policy.accept_types.clone()
    }
}
