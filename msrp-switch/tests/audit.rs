//! Every control call that changes state leaves one audit line (target
//! `msrp_switch::audit`): the call, the caller's address, the session and the
//! participant; reads leave none.

use std::io::Write;
use std::sync::{Arc, Mutex};

use control_api::pb;
use msrp_test_support::{ControlServer, create_one_to_one, sdp_offer, start_engine};

/// Log output gathered in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn audit_lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|line| line.contains("msrp_switch::audit"))
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test]
async fn state_changing_control_calls_are_audited_and_reads_are_not() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    // The test's runtime runs the gRPC server on this thread: it logs here.
    let _guard = tracing::subscriber::set_default(subscriber);

    let engine = start_engine(1, |_| {});
    let server = ControlServer::start(&engine, None).await;
    let mut client = server.client().await;
    let session = create_one_to_one(&mut client).await;
    let added = client
        .add_participant(pb::AddParticipantRequest {
            session_id: session.clone(),
            remote: Some(pb::RemoteMedia {
                media: Some(pb::remote_media::Media::Sdp(sdp_offer(
                    "msrp://127.0.0.1:9/audit;tcp",
                    "text/plain",
                ))),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    client
        .get_session(pb::GetSessionRequest {
            session_id: session.clone(),
        })
        .await
        .unwrap();
    client
        .release_session(pb::ReleaseSessionRequest {
            session_id: session.clone(),
        })
        .await
        .unwrap();

    let lines = captured.audit_lines();
    let calls: Vec<&str> = lines
        .iter()
        .map(|line| {
            [
                "CreateSession",
                "AddParticipant",
                "ReleaseSession",
                "GetSession",
            ]
            .into_iter()
            .find(|call| line.contains(&format!("call=\"{call}\"")))
            .unwrap_or("?")
        })
        .collect();
    assert_eq!(
        calls,
        ["CreateSession", "AddParticipant", "ReleaseSession"],
        "{lines:#?}"
    );
    assert!(lines[1].contains(&added.participant_id), "{}", lines[1]);
    assert!(lines.iter().all(|l| l.contains(&session)), "{lines:#?}");
    assert!(
        lines.iter().all(|l| l.contains("peer=127.0.0.1:")),
        "{lines:#?}"
    );
}
