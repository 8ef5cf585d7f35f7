//! Large Message Mode's memory bound, on the daemon as operators run it: a
//! 200 MiB message with `--large-message-memory-bytes` at 16 MiB, its receiver
//! binding after the sender finished (so all of it is read back from the
//! store). The daemon's peak RSS stays under the bound plus a fixed overhead,
//! the receiver gets every byte in place, and the spill file is gone once the
//! receiver has the message.

use std::time::Duration;

use control_api::pb;
use control_api::pb::switch_control_client::SwitchControlClient;
use msrp_switch::codec::{ContinuationFlag, MsrpUri};
use msrp_test_support::daemon::Daemon;
use msrp_test_support::wire::SendChunk;
use msrp_test_support::{LIMIT, Peer, TempDir, add_with_sdp, sdp_offer, switch_uri};
use tokio::time::timeout;

const SENDER: &str = "msrp://127.0.0.1:42700/lmbigsnd;tcp";
const RECEIVER: &str = "msrp://127.0.0.1:42701/lmbigrcv;tcp";
const MESSAGE_BYTES: usize = 200 << 20;
const CHUNK_BYTES: usize = 1 << 20;
const MEMORY_BOUND: u64 = 16 << 20;

/// A block of a prime length: byte `i` of the message is `block[i % len]`, so
/// no chunk boundary lines up with the pattern and a misplaced byte shows.
fn block() -> Vec<u8> {
    msrp_test_support::noise(1_048_583)
}

/// `len` bytes of the message from `offset`.
fn part(block: &[u8], offset: usize, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut at = offset % block.len();
    while out.len() < len {
        let take = (len - out.len()).min(block.len() - at);
        out.extend_from_slice(&block[at..at + take]);
        at = 0;
    }
    out
}

/// A field of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mib_message_spills_past_a_16_mib_bound_and_rss_stays_bounded() {
    let dir = TempDir::new("lm-200mib");
    let memory = MEMORY_BOUND.to_string();
    let daemon = Daemon::spawn(
        env!("CARGO_BIN_EXE_msrp-switch"),
        &[
            "--large-message-dir",
            dir.path().to_str().unwrap(),
            "--large-message-memory-bytes",
            &memory,
        ],
    )
    .await;
    let pid = daemon.child.id().unwrap();
    let mut client = timeout(LIMIT, SwitchControlClient::connect(daemon.control.clone()))
        .await
        .unwrap()
        .unwrap();
    let session = client
        .create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::LargeMessage as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .session_id;
    let sender = add_with_sdp(&mut client, &session, sdp_offer(SENDER, "*")).await;
    let receiver = add_with_sdp(&mut client, &session, sdp_offer(RECEIVER, "*")).await;
    let idle_rss = status_bytes(pid, "VmRSS:");

    let block = block();
    let sender_uri = MsrpUri::parse_str(&switch_uri(&sender)).unwrap();
    let mut a = Peer::connect(daemon.msrp, SENDER, &sender_uri).await;
    a.bind().await;
    for (i, offset) in (0..MESSAGE_BYTES).step_by(CHUNK_BYTES).enumerate() {
        let tid = a.next_tid();
        let last = offset + CHUNK_BYTES >= MESSAGE_BYTES;
        let frame = SendChunk {
            start: offset + 1,
            total: MESSAGE_BYTES,
            content_type: "application/octet-stream",
            flag: if last { '$' } else { '+' },
            ..a.chunk_head(&tid, "lm200mib")
        }
        .encode(&part(&block, offset, CHUNK_BYTES));
        a.write(&frame).await;
        let answer = a.read_frame().await;
        assert_eq!(
            (answer.tid(), answer.status()),
            (tid, Some(200)),
            "chunk {i}"
        );
    }
    let spilled: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(
        spilled,
        MESSAGE_BYTES as u64 - MEMORY_BOUND,
        "everything past the bound is in the spill file"
    );

    // The receiver binds now: every byte comes from the store.
    let receiver_uri = MsrpUri::parse_str(&switch_uri(&receiver)).unwrap();
    let mut b = Peer::connect(daemon.msrp, RECEIVER, &receiver_uri).await;
    b.bind().await;
    let mut got = 0usize;
    loop {
        let frame = b.read_frame().await;
        let range = frame.head.byte_range().unwrap();
        assert_eq!(range.start, got as u64 + 1);
        assert!(
            frame.body == part(&block, got, frame.body.len()),
            "bytes {got}.. in place"
        );
        got += frame.body.len();
        b.answer(&frame, "200 OK").await;
        if frame.flag == ContinuationFlag::End {
            break;
        }
        assert_eq!(frame.flag, ContinuationFlag::More);
    }
    assert_eq!(got, MESSAGE_BYTES);

    // Delivered: the store and its file go.
    timeout(LIMIT, async {
        while std::fs::read_dir(dir.path()).unwrap().next().is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the spill file is removed once the receiver has the message");
    assert_eq!(
        daemon
            .metric("msrp_switch_large_message_deliveries_total")
            .await,
        1
    );
    let peak = status_bytes(pid, "VmHWM:");
    let above_idle = peak.saturating_sub(idle_rss);
    eprintln!(
        "idle RSS {} KiB, peak {} KiB, {} KiB above idle",
        idle_rss / 1024,
        peak / 1024,
        above_idle / 1024
    );
    // The bound, plus a fixed overhead: the window of recent pieces, the
    // receiver's queue, read buffers and the allocator's slack.
    const OVERHEAD: u64 = 24 << 20;
    assert!(
        above_idle < MEMORY_BOUND + OVERHEAD,
        "peak RSS {} KiB above idle, over the {} KiB bound plus {} KiB",
        above_idle / 1024,
        MEMORY_BOUND / 1024,
        OVERHEAD / 1024
    );
    client
        .release_session(pb::ReleaseSessionRequest {
            session_id: session,
        })
        .await
        .unwrap();
}
