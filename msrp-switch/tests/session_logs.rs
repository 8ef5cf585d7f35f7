//! The operator's log lines of sessions and connections (target
//! `msrp_switch::sessions`, at info), from the daemon binary: a connection
//! bound and dropped (with the peer's address), and the session released by the
//! switch itself (with its correlation tag).

use control_api::pb;
use control_api::pb::switch_control_client::SwitchControlClient;
use msrp_test_support::daemon::Daemon;
use msrp_test_support::wire::bind_frame;
use msrp_test_support::{FrameReader, LIMIT, sdp_offer, switch_uri};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::timeout;

#[tokio::test]
async fn binds_drops_and_releases_are_logged_with_session_and_peer() {
    let mut daemon = Daemon::spawn(env!("CARGO_BIN_EXE_msrp-switch"), &[]).await;
    let mut control = timeout(LIMIT, SwitchControlClient::connect(daemon.control.clone()))
        .await
        .unwrap()
        .unwrap();
    let session = control
        .create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::Group as i32,
            group_identity: "sip:room@conf.example.net".into(),
            correlation_tag: "call-42@ims".into(),
            idle_release_seconds: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .session_id;
    let path = "msrp://127.0.0.1:40001/aaaa1111;tcp";
    let added = control
        .add_participant(pb::AddParticipantRequest {
            session_id: session.clone(),
            identity: Some(pb::Identity {
                im_address: "sip:alice@example.net".into(),
                privacy_alias: String::new(),
            }),
            remote: Some(pb::RemoteMedia {
                media: Some(pb::remote_media::Media::Sdp(sdp_offer(
                    path,
                    "message/cpim",
                ))),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut stream = TcpStream::connect(daemon.msrp).await.unwrap();
    let peer = stream.local_addr().unwrap().to_string();
    stream
        .write_all(bind_frame("bind0001", &switch_uri(&added), path).as_bytes())
        .await
        .unwrap();
    let mut reader = FrameReader::new(stream);
    assert_eq!(reader.read_frame().await.status(), Some(200));

    let bound = daemon.log_line_with("connection bound").await;
    for field in [&session, &added.participant_id, &peer] {
        assert!(bound.contains(field), "{field} not in {bound}");
    }
    drop(reader);
    let dropped = daemon.log_line_with("connection dropped").await;
    for field in [&session, &added.participant_id, &peer] {
        assert!(dropped.contains(field), "{field} not in {dropped}");
    }
    // Nobody sends for 2 s: the switch releases the session by itself.
    let released = daemon.log_line_with("session ended by the switch").await;
    assert!(released.contains(&session), "{released}");
    assert!(released.contains("call-42@ims"), "{released}");
    assert!(released.contains("Idle"), "{released}");
}
