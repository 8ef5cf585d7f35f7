//! WebSocket participants through the gRPC control API, as SDP: the spellings
//! `TCP/WS/MSRP` and `TCP/WSS/MSRP` some clients write (answered in the same
//! spelling; RFC 7977 §5.2.2 itself keeps `TCP/MSRP`), and the switch's own
//! offer to a browser (a `;ws` URI, `a=setup:passive`), answered, bound over a
//! WebSocket and carrying a message to a TCP member.

use control_api::pb;
use control_api::pb::switch_control_client::SwitchControlClient;
use msrp_switch::codec::MsrpUri;
use msrp_test_support::wire::bind_frame;
use msrp_test_support::ws::WsPeer;
use msrp_test_support::{
    ControlServer, PATH_B, Peer, TestEngine, add_with_sdp, sdp_media, sdp_offer, start_ws_engine,
    switch_uri,
};
use tonic::Code;
use tonic::transport::Channel;

const BROWSER: &str = "msrp://df7jal23ls0d.invalid:9/98cjs;ws";

/// A browser's offer: `proto` in the media line, its `;ws` path, active.
fn browser_offer(proto: &str, path: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=message 9 {proto} *\r\n\
         c=IN IP4 192.0.2.1\r\na=path:{path}\r\na=accept-types:text/plain\r\n\
         a=setup:active\r\n"
    )
}

async fn one_to_one(client: &mut SwitchControlClient<Channel>) -> String {
    msrp_test_support::create_one_to_one(client).await
}

/// The `m=` line and the `a=setup` line of an SDP answer or offer.
fn lines_of(sdp: &str) -> (String, String) {
    let find = |prefix: &str| {
        sdp.lines()
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {sdp:?}"))
            .to_owned()
    };
    (find("m=message "), find("a=setup:"))
}

/// The switch's SDP puts it on `port` with `proto`, passive (a browser connects).
#[track_caller]
fn assert_passive_on(media: &pb::LocalMedia, port: u16, proto: &str) {
    assert_eq!(
        lines_of(&media.sdp),
        (
            format!("m=message {port} {proto} *"),
            "a=setup:passive".to_owned()
        ),
        "{}",
        media.sdp
    );
}

/// A browser that connects over WebSocket and binds to `to_browser`.
async fn bound_browser(engine: &TestEngine, to_browser: &str) -> WsPeer {
    let mut browser = WsPeer::connect(engine.ws_addr().unwrap(), BROWSER).await;
    let tid = browser.next_tid();
    browser
        .send(bind_frame(&tid, to_browser, BROWSER).as_bytes())
        .await;
    assert_eq!(browser.read_frame().await.status(), Some(200));
    browser
}

#[tokio::test]
async fn an_offer_spelled_tcp_ws_msrp_is_answered_in_kind_and_binds() {
    let engine = start_ws_engine();
    let control = ControlServer::start(&engine, None).await;
    let mut client = control.client().await;
    let session = one_to_one(&mut client).await;
    let ws_port = engine.ws_addr().unwrap().port();

    let added = add_with_sdp(&mut client, &session, browser_offer("TCP/WS/MSRP", BROWSER)).await;
    assert_passive_on(added.local.as_ref().unwrap(), ws_port, "TCP/WS/MSRP");
    let to_browser = switch_uri(&added);
    assert!(
        to_browser.starts_with(&format!("msrp://127.0.0.1:{ws_port}/"))
            && to_browser.ends_with(";ws"),
        "{to_browser}"
    );
    // The same participant read back keeps the spelling.
    let read = client
        .get_participant(pb::GetParticipantRequest {
            key: Some(pb::get_participant_request::Key::ParticipantId(
                added.participant_id.clone(),
            )),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        read.local.unwrap().sdp.contains(" TCP/WS/MSRP *"),
        "GetParticipant spells it as the answer did"
    );

    bound_browser(&engine, &to_browser).await;

    // RFC 7977's own spelling is answered in RFC 7977's spelling.
    let session = one_to_one(&mut client).await;
    let added = add_with_sdp(
        &mut client,
        &session,
        browser_offer("TCP/MSRP", "msrp://k2.invalid:9/other1;ws"),
    )
    .await;
    let (m_line, _) = lines_of(&added.local.unwrap().sdp);
    assert_eq!(m_line, format!("m=message {ws_port} TCP/MSRP *"));
}

#[tokio::test]
async fn a_websocket_spelling_that_contradicts_the_path_is_refused_by_field() {
    let engine = start_ws_engine();
    let control = ControlServer::start(&engine, None).await;
    let mut client = control.client().await;
    let session = one_to_one(&mut client).await;
    for (proto, path, why) in [
        ("TCP/WS/MSRP", PATH_B, "needs transport ws"),
        (
            "TCP/WSS/MSRP",
            "msrp://k2.invalid:9/x1;ws",
            "secure WebSocket needs msrps",
        ),
        (
            "TCP/WS/MSRP",
            "msrps://k2.invalid:9/x1;ws",
            "secure WebSocket is TCP/WSS/MSRP",
        ),
    ] {
        let status = client
            .add_participant(pb::AddParticipantRequest {
                session_id: session.clone(),
                remote: Some(sdp_media(browser_offer(proto, path))),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{proto} {path}");
        assert!(status.message().contains(why), "{proto} {path}: {status:?}");
        assert!(
            status.message().contains("remote.transport"),
            "{status:?} names the field"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_switch_offers_to_a_browser_which_answers_binds_and_talks_to_a_tcp_member() {
    let engine = start_ws_engine();
    let control = ControlServer::start(&engine, None).await;
    let mut client = control.client().await;
    let session = one_to_one(&mut client).await;
    let ws_port = engine.ws_addr().unwrap().port();

    // The caller at a desk (TCP) offered; the IM Server forwards an offer of the
    // switch's to the browser it calls.
    let desk = add_with_sdp(&mut client, &session, sdp_offer(PATH_B, "text/plain")).await;
    let offered = client
        .add_participant(pb::AddParticipantRequest {
            session_id: session.clone(),
            offer_from: desk.participant_id.clone(),
            websocket: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(offered.pending);
    assert_passive_on(offered.local.as_ref().unwrap(), ws_port, "TCP/MSRP");
    let to_browser = switch_uri(&offered);
    assert!(to_browser.ends_with(";ws"), "{to_browser}");

    // An answer that wants the switch to connect cannot be: refused, 488.
    let refused = client
        .set_remote_answer(pb::SetRemoteAnswerRequest {
            participant_id: offered.participant_id.clone(),
            remote: Some(sdp_media(
                browser_offer("TCP/MSRP", BROWSER).replace("a=setup:active", "a=setup:passive"),
            )),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    // A TCP answer to a WebSocket offer is refused too.
    let refused = client
        .set_remote_answer(pb::SetRemoteAnswerRequest {
            participant_id: offered.participant_id.clone(),
            remote: Some(sdp_media(sdp_offer(
                "msrp://127.0.0.1:41009/tcp00001;tcp",
                "text/plain",
            ))),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");

    client
        .set_remote_answer(pb::SetRemoteAnswerRequest {
            participant_id: offered.participant_id.clone(),
            remote: Some(sdp_media(browser_offer("TCP/MSRP", BROWSER))),
        })
        .await
        .unwrap();
    let mut browser = bound_browser(&engine, &to_browser).await;

    let desk_uri = MsrpUri::parse(switch_uri(&desk).into()).unwrap();
    let mut desk = Peer::connect(engine.local_addr(), PATH_B, &desk_uri).await;
    desk.bind().await;
    desk.send_message("fromdesk", b"hello, browser").await;
    let got = browser.read_frame().await;
    assert_eq!(got.body, b"hello, browser");
    assert_eq!(got.target_path(), [BROWSER]);

    // Asked for the other spelling, the switch's offer says TCP/WS/MSRP.
    let session = one_to_one(&mut client).await;
    let spelled = client
        .add_participant(pb::AddParticipantRequest {
            session_id: session,
            transport: pb::Transport::Ws as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        lines_of(&spelled.local.unwrap().sdp).0,
        format!("m=message {ws_port} TCP/WS/MSRP *")
    );
}
