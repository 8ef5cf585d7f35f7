//! `Anchor` over HTTP/JSON, as a SIP proxy's script calls it: whole SIP bodies
//! in (an audio section beside the message one), the bodies to forward out,
//! and MSRP peers that use only the paths of the bodies they were given, so
//! every message goes through the switch. A 1:1 call set up, modified by a
//! re-INVITE that takes effect only at its 200, released by BYE (a later SEND
//! gets 481); a group of three joining by INVITE; and the errors.

use control_api::auth::Auth;
use control_api::sdp::parse_media_section;
use msrp_switch::codec::MsrpUri;
use msrp_test_support::http::{HttpFront, post_raw};
use msrp_test_support::{Peer, TestEngine, start_engine};
use serde_json::{Value, json};

const CALL: &str = "a84b4c76e66710@pc33.example.com";
const A_TAG: &str = "1928301774";
const B_TAG: &str = "a6c85cf";
const A: &str = "msrp://127.0.0.1:41101/alice001;tcp";
const B: &str = "msrp://127.0.0.1:41102/bob00002;tcp";

/// A whole SIP body: an audio section, then the MSRP one.
fn body(path: &str, accept_types: &str, setup: &str) -> String {
    format!(
        "v=0\r\no=- 2890844526 2890844526 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
         t=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
         m=message 41100 TCP/MSRP *\r\na=path:{path}\r\na=accept-types:{accept_types}\r\n\
         a=setup:{setup}\r\n"
    )
}

async fn anchor(http: &HttpFront, request: Value) -> Value {
    http.ok("Anchor", request).await
}

/// The switch's URI in a body the proxy forwarded, and the check that the
/// rest of the body came through.
fn switch_path(forwarded: &Value) -> MsrpUri {
    let sdp = forwarded["sdp"].as_str().unwrap();
    assert!(
        sdp.contains("m=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"),
        "the audio section is untouched: {sdp}"
    );
    let media = parse_media_section(sdp).unwrap();
    MsrpUri::parse_str(&media.path[0]).unwrap()
}

async fn setup(engine: &TestEngine) -> HttpFront {
    HttpFront::start(engine, Auth::none(), "127.0.0.1:0").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_anchored_modified_at_its_200_and_released_by_bye() {
    let engine = start_engine(1, |_| {});
    let http = setup(&engine).await;

    // INVITE A -> B through the proxy.
    let to_b = anchor(
        &http,
        json!({
            "step": "ANCHOR_STEP_OFFER", "callId": CALL, "fromTag": A_TAG,
            "sdp": body(A, "text/plain", "active"), "imAddress": "sip:alice@example.com",
        }),
    )
    .await;
    let b_switch = switch_path(&to_b);
    assert!(
        to_b["sdp"].as_str().unwrap().contains("a=setup:actpass"),
        "{to_b}"
    );
    // Its copy, retransmitted, gets the same offer and makes nothing new.
    let again = anchor(
        &http,
        json!({
            "step": "ANCHOR_STEP_OFFER", "callId": CALL, "fromTag": A_TAG,
            "sdp": body(A, "text/plain", "active"),
        }),
    )
    .await;
    assert_eq!(again["sdp"], to_b["sdp"]);
    // 200 OK B -> A.
    let to_a = anchor(
        &http,
        json!({
            "step": "ANCHOR_STEP_ANSWER", "callId": CALL, "fromTag": A_TAG,
            "sdp": body(B, "text/plain", "active"),
        }),
    )
    .await;
    let a_switch = switch_path(&to_a);
    assert_ne!(a_switch, b_switch);
    // The 200 after a reliable 183 repeats the answer: the caller gets the
    // switch's answer again, never the callee's own path.
    let repeated = anchor(
        &http,
        json!({
            "step": "ANCHOR_STEP_ANSWER", "callId": CALL, "fromTag": A_TAG,
            "sdp": body(B, "text/plain", "active"),
        }),
    )
    .await;
    assert_eq!(repeated["sdp"], to_a["sdp"]);
    assert_eq!(to_a["sessionId"], to_b["sessionId"]);

    // Each side talks to the path it was given: the switch.
    let mut a = Peer::connect(engine.local_addr(), A, &a_switch).await;
    let mut b = Peer::connect(engine.local_addr(), B, &b_switch).await;
    a.bind().await;
    b.bind().await;
    assert_eq!(a.send_as("msg00001", "text/plain", b"hi bob").await, 200);
    let got = b.read_frame().await;
    assert_eq!(got.body, b"hi bob");
    b.answer(&got, "200 OK").await;
    // HTML is not in the call's media yet.
    assert_eq!(a.send_as("msg00002", "text/html", b"<b>hi</b>").await, 415);

    // B re-INVITEs adding text/html: staged until its 200 OK.
    let re_offer = anchor(
        &http,
        json!({
            "step": "ANCHOR_STEP_OFFER", "callId": CALL, "fromTag": B_TAG,
            "sdp": body(B, "text/plain text/html", "active"),
        }),
    )
    .await;
    assert_eq!(
        switch_path(&re_offer),
        a_switch,
        "the switch's offer goes to A, with A's URI"
    );
    assert_eq!(a.send_as("msg00003", "text/html", b"<b>hi</b>").await, 415);
    let re_answer = anchor(
        &http,
        json!({
            "step": "ANCHOR_STEP_ANSWER", "callId": CALL, "fromTag": B_TAG,
            "sdp": body(A, "text/plain text/html", "active"),
        }),
    )
    .await;
    assert_eq!(switch_path(&re_answer), b_switch, "the answer goes to B");
    assert_eq!(a.send_as("msg00004", "text/html", b"<b>hi</b>").await, 200);
    let got = b.read_frame().await;
    assert_eq!(got.body, b"<b>hi</b>");
    b.answer(&got, "200 OK").await;

    // BYE: released; a later SEND finds no session.
    let bye = anchor(
        &http,
        json!({ "step": "ANCHOR_STEP_RELEASE", "callId": CALL }),
    )
    .await;
    assert_eq!(bye["released"], true);
    assert!(a.closed_within(std::time::Duration::from_secs(5)).await);
    let mut late = Peer::connect(engine.local_addr(), A, &a_switch).await;
    assert_eq!(
        late.send_as("msg00005", "text/plain", b"anyone?").await,
        481
    );
    let again = anchor(
        &http,
        json!({ "step": "ANCHOR_STEP_RELEASE", "callId": CALL }),
    )
    .await;
    assert_eq!(again["released"], Value::Null, "false: nothing left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_join_a_group_by_invite_and_chat() {
    let engine = start_engine(1, |_| {});
    let http = setup(&engine).await;
    const ROOM: &str = "sip:team@conf.example.com";
    let names = ["alice", "bob", "carol"];
    let mut members = Vec::new();
    for (n, name) in names.iter().enumerate() {
        let path = format!("msrp://127.0.0.1:4120{n}/{name}00;tcp");
        let answer = anchor(
            &http,
            json!({
                "step": "ANCHOR_STEP_OFFER", "callId": format!("{name}-call@example.com"),
                "fromTag": "t1", "groupIdentity": ROOM,
                "imAddress": format!("sip:{name}@example.com"),
                "sdp": body(&path, "message/cpim", "active") + "a=accept-wrapped-types:*\r\n",
            }),
        )
        .await;
        let sdp = answer["sdp"].as_str().unwrap();
        assert!(
            sdp.starts_with("v=0\r\no=msrp-switch "),
            "the focus's own answer: {sdp}"
        );
        assert!(
            sdp.contains("m=audio 0 RTP/AVP 0\r\n"),
            "audio refused: {sdp}"
        );
        assert!(sdp.contains("a=chatroom:"), "{sdp}");
        let media = parse_media_section(sdp).unwrap();
        let switch = MsrpUri::parse_str(&media.path[0]).unwrap();
        let mut peer = Peer::connect(engine.local_addr(), &path, &switch).await;
        peer.bind().await;
        members.push((answer["sessionId"].clone(), peer));
    }
    assert!(
        members.iter().all(|(s, _)| *s == members[0].0),
        "one group for the three"
    );
    let cpim = format!(
        "From: <sip:alice@example.com>\r\nTo: <{ROOM}>\r\n\r\nContent-Type: text/plain\r\n\r\nhello team"
    );
    let (_, alice) = &mut members[0];
    assert_eq!(
        alice
            .send_as("group001", "message/cpim", cpim.as_bytes())
            .await,
        200
    );
    for (_, peer) in &mut members[1..] {
        let got = peer.read_frame().await;
        assert_eq!(got.body, cpim.as_bytes());
        peer.answer(&got, "200 OK").await;
    }

    // Carol's BYE: she leaves, the others stay.
    let bye = anchor(
        &http,
        json!({ "step": "ANCHOR_STEP_RELEASE", "callId": "carol-call@example.com" }),
    )
    .await;
    assert_eq!(bye["released"], true);
    let session = http
        .ok("GetSession", json!({ "sessionId": members[0].0 }))
        .await;
    assert_eq!(session["participants"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bad_anchor_calls_are_refused_by_field_and_leave_nothing() {
    let engine = start_engine(1, |_| {});
    let http = setup(&engine).await;
    let refused = |answer: &msrp_test_support::http::Answer| {
        (
            answer.status,
            answer.json["details"][0]["fieldViolations"][0]["field"].clone(),
        )
    };
    let no_tag = http
        .call(
            "Anchor",
            &json!({ "step": "ANCHOR_STEP_OFFER", "callId": CALL, "sdp": body(A, "text/plain", "active") })
                .to_string(),
            None,
        )
        .await;
    assert_eq!(refused(&no_tag), (400, json!("from_tag")), "{no_tag:?}");
    let no_call = http
        .call("Anchor", r#"{"step": "ANCHOR_STEP_RELEASE"}"#, None)
        .await;
    assert_eq!(refused(&no_call), (400, json!("call_id")));
    let unknown = http
        .call(
            "Anchor",
            &json!({ "step": "ANCHOR_STEP_ANSWER", "callId": "nobody", "fromTag": "x",
                     "sdp": body(B, "text/plain", "active") })
            .to_string(),
            None,
        )
        .await;
    assert_eq!(unknown.status, 404, "{unknown:?}");

    // TLS media on a switch without TLS: 488 for the script, and the session
    // the first step made is gone again.
    let tls = body(
        "msrps://127.0.0.1:41101/alice001;tcp",
        "text/plain",
        "active",
    )
    .replace("TCP/MSRP", "TCP/TLS/MSRP");
    let not_here = http
        .call(
            "Anchor",
            &json!({ "step": "ANCHOR_STEP_OFFER", "callId": CALL, "fromTag": A_TAG, "sdp": tls })
                .to_string(),
            None,
        )
        .await;
    assert_eq!(not_here.status, 400, "{not_here:?}");
    assert_eq!(not_here.json["details"][0]["reason"], "not_acceptable_here");
    let stats = http.ok("Stats", json!({})).await;
    assert_eq!(stats["sessions"], Value::Null, "no session left: {stats}");
}

/// A script that cannot build JSON posts the SIP body itself
/// (`application/sdp`) with the other fields in the query, and gets the body
/// to forward back as it is.
#[tokio::test]
async fn a_script_may_post_the_sdp_body_itself() {
    let engine = start_engine(1, |_| {});
    let http = setup(&engine).await;
    let url = format!(
        "{}?step=ANCHOR_STEP_OFFER&callId={}&fromTag={A_TAG}&imAddress=sip%3Aalice%40example.com",
        http.url("Anchor"),
        CALL.replace('@', "%40")
    );
    let offered = post_raw(url, "application/sdp", body(A, "text/plain", "active")).await;
    assert_eq!(offered.status, 200, "{offered:?}");
    assert_eq!(offered.header("content-type"), Some("application/sdp"));
    assert!(
        offered
            .header("x-msrp-session-id")
            .is_some_and(|id| id.starts_with("s-")),
        "{offered:?}"
    );
    let media = parse_media_section(&offered.text).unwrap();
    assert!(media.path[0].starts_with("msrp://127.0.0.1:"), "{media:?}");
    assert!(
        offered.text.contains("m=audio 49170 RTP/AVP 0\r\n"),
        "{offered:?}"
    );
    // A field the query cannot name is refused by name, as JSON.
    let url = format!("{}?step=ANCHOR_STEP_OFFER&callid=x", http.url("Anchor"));
    let refused = post_raw(url, "application/sdp", body(A, "text/plain", "active")).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(refused.text.contains("\"field\":\"query\""), "{refused:?}");
}
