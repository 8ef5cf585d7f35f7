//! Large Message Mode (OMA SIMPLE IM 9.2.3, 9.3.2.1; issue 18) on a real engine:
//! one message from the first participant to every other, streamed to those
//! bound, served from the store (memory, then a spill file) to those that bind
//! late, delivered per receiver with events, failed cleanly when the store or
//! a sender fails.

use std::path::Path;
use std::time::Duration;

use msrp_switch::codec::ContinuationFlag;
use msrp_switch::msrp_proto::control::{
    Event, Negotiation, ParticipantInfo, ReleaseReason, TaggedEvent,
};
use msrp_switch::msrp_proto::ids::{ParticipantId, SessionKey};
use msrp_switch::msrp_proto::media::Identity;
use msrp_switch::msrp_proto::session::SessionKind;
use msrp_switch::store::DiskQuota;
use msrp_switch::transport::EngineConfig;
use msrp_switch::transport::large::LargeMessageSettings;
use msrp_test_support::wire::SendChunk;
use msrp_test_support::{
    Frame, Peer, TempDir, TestEngine, hash, metric, remote, start_engine_with,
};
use tokio::sync::broadcast;

const SENDER: &str = "msrp://127.0.0.1:42600/lmsender;tcp";

/// Receiver `i`'s path.
fn receiver_path(i: usize) -> String {
    format!("msrp://127.0.0.1:{}/lmrecv{i:02};tcp", 42601 + i)
}

/// The message's bytes: not periodic at any chunk size, so a byte in the wrong
/// place shows.
fn body(len: usize) -> Vec<u8> {
    msrp_test_support::noise(len)
}

/// An engine with one shard whose large messages keep `memory` bytes in memory
/// and spill the rest to `dir` (at most `disk` bytes), with `queue` bytes per leg.
fn engine(dir: &Path, memory: u64, disk: u64, tune: impl FnOnce(&mut EngineConfig)) -> TestEngine {
    let mut config = EngineConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        shards: 1,
        pin_cores: false,
        large_message: LargeMessageSettings {
            dir: dir.to_path_buf(),
            memory_bytes: memory,
            disk: DiskQuota::new(disk),
        },
        ..EngineConfig::default()
    };
    tune(&mut config);
    start_engine_with(config)
}

/// A large message session with a sender and `receivers` receivers.
async fn session(
    engine: &TestEngine,
    receivers: usize,
) -> (SessionKey, ParticipantInfo, Vec<ParticipantInfo>) {
    let key = engine
        .create_session(SessionKind::LargeMessage)
        .await
        .unwrap();
    let sender = engine.add_participant(key, remote(SENDER)).await.unwrap();
    let mut infos = Vec::new();
    for i in 0..receivers {
        let info = engine
            .add_participant(key, remote(&receiver_path(i)))
            .await
            .unwrap();
        infos.push(info);
    }
    (key, sender, infos)
}

/// Sends `message` as chunks of `chunk` bytes (`+`, the last `$`), each
/// answered before the next; returns the statuses.
async fn send(
    peer: &mut Peer,
    message_id: &str,
    message: &[u8],
    chunk: usize,
    extra: &str,
) -> Vec<u16> {
    send_seeing_reports(peer, message_id, message, chunk, extra)
        .await
        .0
}

/// [`send`], also returning the REPORTs that came between the responses.
async fn send_seeing_reports(
    peer: &mut Peer,
    message_id: &str,
    message: &[u8],
    chunk: usize,
    extra: &str,
) -> (Vec<u16>, Vec<Frame>) {
    let mut statuses = Vec::new();
    let mut reports = Vec::new();
    for (i, part) in message.chunks(chunk).enumerate() {
        let tid = peer.next_tid();
        let last = (i + 1) * chunk >= message.len();
        let frame = SendChunk {
            start: i * chunk + 1,
            total: message.len(),
            content_type: "application/octet-stream",
            extra_headers: extra,
            flag: if last { '$' } else { '+' },
            ..peer.chunk_head(&tid, message_id)
        }
        .encode(part);
        peer.write(&frame).await;
        let mut answer = peer.read_frame().await;
        while answer.method().as_deref() == Some("REPORT") {
            reports.push(answer);
            answer = peer.read_frame().await;
        }
        assert_eq!(answer.tid(), tid, "{answer:?}");
        statuses.push(answer.status().unwrap());
    }
    (statuses, reports)
}

/// Reads the message's chunks off `peer`, answering each 200 (after `pause`),
/// checking that they follow each other with exact Byte-Ranges; returns the
/// body once the chunk ended `$` came.
async fn receive(peer: &mut Peer, total: usize, pause: Duration) -> Vec<u8> {
    let mut got = Vec::with_capacity(total);
    loop {
        let frame = peer.read_frame().await;
        assert_eq!(frame.method().as_deref(), Some("SEND"), "{frame:?}");
        let range = frame.head.byte_range().unwrap();
        assert_eq!(
            range.start,
            got.len() as u64 + 1,
            "chunks follow each other"
        );
        assert_eq!(
            range.end,
            Some((got.len() + frame.body.len()) as u64),
            "exact end"
        );
        assert_eq!(range.total, Some(total as u64), "the total on every chunk");
        assert_eq!(frame.head.content_type(), Some("application/octet-stream"));
        assert!(
            !frame.body.is_empty(),
            "no empty chunk (the last bytes go out with the `$`): {:?}",
            frame.head.byte_range()
        );
        got.extend_from_slice(&frame.body);
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        peer.answer(&frame, "200 OK").await;
        match frame.flag {
            ContinuationFlag::End => return got,
            ContinuationFlag::More => {}
            ContinuationFlag::Abort => panic!("the message was aborted"),
        }
    }
}

/// Waits for the first event `pick` takes, within `wait`.
async fn event<T>(
    events: &mut broadcast::Receiver<TaggedEvent>,
    wait: Duration,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    tokio::time::timeout(wait, async {
        loop {
            let tagged = events.recv().await.unwrap();
            if std::env::var("LM_DEBUG").is_ok() {
                eprintln!("event {:?}", tagged.event);
            }
            if let Some(found) = pick(&tagged.event) {
                return found;
            }
        }
    })
    .await
    .expect("the event came in time")
}

/// Files in `dir`.
fn files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// A bound peer for `info` at `path`.
async fn bound(engine: &TestEngine, path: &str, info: &ParticipantInfo) -> Peer {
    let mut peer = Peer::connect(engine.local_addr(), path, &info.local_uri).await;
    peer.bind().await;
    peer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_mib_reach_five_receivers_two_of_them_binding_after_the_sender_finished() {
    let dir = TempDir::new("lm-twenty");
    // 4 MiB in memory: most of the message is read back from the spill file by
    // the late receivers.
    let engine = engine(dir.path(), 4 << 20, 1 << 30, |_| {});
    let mut events = engine.subscribe();
    let (key, sender, receivers) = session(&engine, 5).await;
    let message = body(20 << 20);

    let mut early = Vec::new();
    for (i, info) in receivers.iter().enumerate().take(3) {
        let mut peer = bound(&engine, &receiver_path(i), info).await;
        let total = message.len();
        early.push(tokio::spawn(async move {
            receive(&mut peer, total, Duration::ZERO).await
        }));
    }
    let mut a = bound(&engine, SENDER, &sender).await;
    let statuses = send(&mut a, "lm20mib1", &message, 1 << 20, "").await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    let size = event(&mut events, Duration::from_secs(30), |e| match e {
        Event::MessageReceived { bytes, .. } => Some(*bytes),
        _ => None,
    })
    .await;
    assert_eq!(size, message.len() as u64);
    for task in early {
        assert_eq!(hash(&task.await.unwrap()), hash(&message));
    }
    assert_eq!(
        files(dir.path()).len(),
        1,
        "one spill file while late receivers wait: {:?}",
        files(dir.path())
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut late = Vec::new();
    for (i, info) in receivers.iter().enumerate().skip(3) {
        let mut peer = bound(&engine, &receiver_path(i), info).await;
        let total = message.len();
        late.push(tokio::spawn(async move {
            receive(&mut peer, total, Duration::ZERO).await
        }));
    }
    for task in late {
        assert_eq!(
            hash(&task.await.unwrap()),
            hash(&message),
            "served from the store"
        );
    }
    let mut delivered: Vec<ParticipantId> = Vec::new();
    let (done, failed) = event(&mut events, Duration::from_secs(30), |e| match e {
        Event::MessageDelivered {
            participant, bytes, ..
        } => {
            assert_eq!(*bytes, message.len() as u64);
            delivered.push(*participant);
            None
        }
        Event::MessageFailed { reason, .. } => panic!("failed: {reason}"),
        Event::LargeMessageComplete {
            delivered, failed, ..
        } => Some((*delivered, *failed)),
        _ => None,
    })
    .await;
    assert_eq!((done, failed), (5, 0));
    delivered.sort();
    let mut expected: Vec<ParticipantId> = receivers.iter().map(|r| r.id).collect();
    expected.sort();
    assert_eq!(delivered, expected, "one message_delivered per receiver");
    assert!(metric(&engine, "msrp_switch_large_message_replays_total") > 0);
    assert_eq!(
        metric(&engine, "msrp_switch_large_message_deliveries_total"),
        5
    );
    assert!(
        files(dir.path()).is_empty(),
        "the spill file goes once all have it"
    );
    engine.release_session(key).await.unwrap();
    assert_eq!(
        metric(&engine, "msrp_switch_sessions{kind=\"large_message\"}"),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_receiver_delays_neither_the_others_nor_the_sender() {
    let dir = TempDir::new("lm-stall");
    let engine = engine(dir.path(), 1 << 20, 1 << 30, |c| {
        c.switch.queue_bytes = 256 * 1024;
        c.switch.transaction_timeout = Duration::from_secs(3);
    });
    let mut events = engine.subscribe();
    let (_, sender, receivers) = session(&engine, 3).await;
    let message = body(8 << 20);

    // Receiver 0 binds and then reads nothing at all.
    let stalled = bound(&engine, &receiver_path(0), &receivers[0]).await;
    let mut tasks = Vec::new();
    for (i, info) in receivers.iter().enumerate().skip(1) {
        let mut peer = bound(&engine, &receiver_path(i), info).await;
        let total = message.len();
        tasks.push(tokio::spawn(async move {
            receive(&mut peer, total, Duration::ZERO).await
        }));
    }
    let mut a = bound(&engine, SENDER, &sender).await;
    let started = std::time::Instant::now();
    let statuses = send(&mut a, "lmstall1", &message, 512 * 1024, "").await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    for task in tasks {
        assert_eq!(hash(&task.await.unwrap()), hash(&message));
    }
    // Both readers have it before the stalled one's transaction timeout: it
    // held nobody back.
    let mut delivered = 0;
    while delivered < 2 {
        event(&mut events, Duration::from_secs(30), |e| match e {
            Event::MessageDelivered { participant, .. } => {
                assert_ne!(*participant, receivers[0].id);
                Some(())
            }
            Event::MessageFailed { participant, .. } if *participant != receivers[0].id => {
                panic!("a reader failed")
            }
            _ => None,
        })
        .await;
        delivered += 1;
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the readers were not held back by the stalled one ({:?})",
        started.elapsed()
    );
    // The stalled one fails at its timeout: 408, and the session is complete.
    let (status, complete) = {
        let status = event(&mut events, Duration::from_secs(30), |e| match e {
            Event::MessageFailed {
                participant,
                status,
                ..
            } if *participant == receivers[0].id => Some(*status),
            _ => None,
        })
        .await;
        let complete = event(&mut events, Duration::from_secs(5), |e| match e {
            Event::LargeMessageComplete {
                delivered, failed, ..
            } => Some((*delivered, *failed)),
            _ => None,
        })
        .await;
        (status, complete)
    };
    assert_eq!(status, 408);
    assert_eq!(complete, (2, 1));
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_message_with_413_and_an_event_never_as_delivered() {
    let dir = TempDir::new("lm-full");
    // 1 MiB in memory and 2 MiB of disk: a 6 MiB message cannot be stored.
    let engine = engine(dir.path(), 1 << 20, 2 << 20, |_| {});
    let mut events = engine.subscribe();
    let (_, sender, receivers) = session(&engine, 1).await;
    let message = body(6 << 20);
    // The receiver binds later: it would need the store.
    let mut a = bound(&engine, SENDER, &sender).await;
    let (statuses, mut reports) =
        send_seeing_reports(&mut a, "lmfull01", &message, 512 * 1024, "").await;
    assert_eq!(statuses[0], 200, "the first chunk fits in memory");
    assert!(
        statuses.contains(&413),
        "a chunk that could not be stored: {statuses:?}"
    );
    let failed_at = statuses.iter().position(|&s| s == 413).unwrap();
    assert!(
        statuses[failed_at..].iter().all(|&s| s == 413),
        "nothing is accepted after the failure: {statuses:?}"
    );
    // The sender asked for failure reports (the default): it gets one, 413.
    if reports.is_empty() {
        reports.push(a.read_frame().await);
    }
    assert_eq!(reports.len(), 1, "one REPORT: {reports:?}");
    assert_eq!(reports[0].method().as_deref(), Some("REPORT"));
    assert_eq!(reports[0].head.status().map(|s| s.code.as_u16()), Some(413));
    let (status, reason) = event(&mut events, Duration::from_secs(10), |e| match e {
        Event::MessageFailed {
            status,
            reason,
            participant,
            ..
        } => {
            assert_eq!(*participant, receivers[0].id);
            Some((*status, reason.clone()))
        }
        Event::MessageDelivered { .. } => panic!("reported delivered"),
        _ => None,
    })
    .await;
    assert_eq!(status, 413);
    assert!(reason.contains("--large-message-disk-bytes"), "{reason}");
    // A receiver binding now gets nothing of it.
    let mut late = bound(&engine, &receiver_path(0), &receivers[0]).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), late.try_read_frame())
            .await
            .is_err(),
        "a failed message is not delivered"
    );
    assert!(files(dir.path()).is_empty(), "the spill file is gone");
    assert_eq!(
        metric(&engine, "msrp_switch_large_message_failures_total"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_that_vanishes_mid_message_ends_it_with_a_hash_for_every_receiver() {
    let dir = TempDir::new("lm-vanish");
    let engine = engine(dir.path(), 1 << 20, 1 << 30, |_| {});
    let mut events = engine.subscribe();
    let (_, sender, receivers) = session(&engine, 2).await;
    let mut peers = Vec::new();
    for (i, info) in receivers.iter().enumerate() {
        peers.push(bound(&engine, &receiver_path(i), info).await);
    }
    let message = body(3 << 20);
    let mut a = bound(&engine, SENDER, &sender).await;
    // The first 2 MiB in two chunks, then half a chunk and the connection goes.
    for i in 0..2 {
        let tid = a.next_tid();
        let frame = SendChunk {
            start: (i << 20) + 1,
            total: message.len(),
            content_type: "application/octet-stream",
            flag: '+',
            ..a.chunk_head(&tid, "lmgone01")
        }
        .encode(&message[i << 20..(i + 1) << 20]);
        a.write(&frame).await;
        assert_eq!(a.read_frame().await.status(), Some(200));
    }
    let tid = a.next_tid();
    let frame = SendChunk {
        start: (2 << 20) + 1,
        total: message.len(),
        content_type: "application/octet-stream",
        flag: '$',
        ..a.chunk_head(&tid, "lmgone01")
    }
    .encode(&message[2 << 20..]);
    a.write(&frame[..frame.len() / 2]).await;
    drop(a);
    for peer in &mut peers {
        let mut got = Vec::new();
        loop {
            let frame = peer.read_frame().await;
            if std::env::var("LM_DEBUG").is_ok() {
                eprintln!(
                    "frame {:?} {:?} {} bytes",
                    frame.head.byte_range(),
                    frame.flag,
                    frame.body.len()
                );
            }
            got.extend_from_slice(&frame.body);
            if frame.flag != ContinuationFlag::More {
                assert_eq!(frame.flag, ContinuationFlag::Abort, "ended with #");
                break;
            }
            peer.answer(&frame, "200 OK").await;
        }
        assert_eq!(
            got,
            message[..got.len()],
            "what came was the message's start"
        );
    }
    let mut failed = 0;
    while failed < 2 {
        event(&mut events, Duration::from_secs(10), |e| match e {
            Event::MessageFailed { .. } => Some(()),
            Event::MessageDelivered { .. } => panic!("reported delivered"),
            _ => None,
        })
        .await;
        failed += 1;
    }
    let complete = event(&mut events, Duration::from_secs(5), |e| match e {
        Event::LargeMessageComplete {
            delivered, failed, ..
        } => Some((*delivered, *failed)),
        _ => None,
    })
    .await;
    assert_eq!(complete, (0, 2));
    assert!(files(dir.path()).is_empty(), "the store is freed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_reports_are_answered_once_every_receiver_has_the_message() {
    let dir = TempDir::new("lm-success");
    let engine = engine(dir.path(), 1 << 20, 1 << 30, |c| {
        c.switch.large_message_linger = Duration::from_millis(300);
    });
    let mut events = engine.subscribe();
    let (key, sender, receivers) = session(&engine, 2).await;
    let message = body(300 * 1024);
    let mut a = bound(&engine, SENDER, &sender).await;
    let statuses = send(
        &mut a,
        "lmsucc01",
        &message,
        100 * 1024,
        "Success-Report: yes\r\n",
    )
    .await;
    assert_eq!(statuses, [200, 200, 200]);
    for (i, info) in receivers.iter().enumerate() {
        let mut peer = bound(&engine, &receiver_path(i), info).await;
        let got = receive(&mut peer, message.len(), Duration::ZERO).await;
        assert_eq!(hash(&got), hash(&message));
        // Not delivered until its success REPORT says so.
        assert!(
            tokio::time::timeout(Duration::from_millis(200), a.try_read_frame())
                .await
                .is_err(),
            "no success REPORT before every receiver reported"
        );
        let report = format!(
            "MSRP rep{i} REPORT\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: {}\r\n\
             Byte-Range: 1-{len}/{len}\r\nStatus: 000 200 OK\r\n-------rep{i}$\r\n",
            info.local_uri,
            receiver_path(i),
            "unused",
            len = message.len()
        );
        peer.write(report.as_bytes()).await;
    }
    let report = a.read_frame().await;
    assert_eq!(report.method().as_deref(), Some("REPORT"));
    assert_eq!(report.head.status().map(|s| s.code.as_u16()), Some(200));
    let range = report.head.byte_range().unwrap();
    assert_eq!(
        (range.start, range.end, range.total),
        (1, Some(300 * 1024), Some(300 * 1024))
    );
    // Nobody sends BYE: the switch releases the session after its linger.
    let reason = event(&mut events, Duration::from_secs(5), |e| match e {
        Event::SessionReleased { session, reason } if *session == key => Some(*reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, ReleaseReason::Complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_large_message_sessions_leave_nothing_behind() {
    let dir = TempDir::new("lm-loop");
    let engine = engine(dir.path(), 32 * 1024, 1 << 30, |_| {});
    let message = body(64 * 1024);
    let mut events = engine.subscribe();
    for round in 0..1000 {
        let (key, sender, receivers) = session(&engine, 1).await;
        let mut a = bound(&engine, SENDER, &sender).await;
        let mut b = bound(&engine, &receiver_path(0), &receivers[0]).await;
        let id = format!("lmloop{round:04}");
        let statuses = send(&mut a, &id, &message, 64 * 1024, "").await;
        assert_eq!(statuses, [200]);
        let got = receive(&mut b, message.len(), Duration::ZERO).await;
        assert_eq!(got.len(), message.len());
        // The IM Server's BYE comes once the switch says it is complete.
        let complete = event(&mut events, Duration::from_secs(10), |e| match e {
            Event::LargeMessageComplete {
                session,
                delivered,
                failed,
            } if *session == key => Some((*delivered, *failed)),
            _ => None,
        })
        .await;
        assert_eq!(complete, (1, 0));
        engine.release_session(key).await.unwrap();
    }
    assert_eq!(
        metric(&engine, "msrp_switch_large_message_deliveries_total"),
        1000
    );
    assert_eq!(
        metric(&engine, "msrp_switch_sessions{kind=\"large_message\"}"),
        0
    );
    assert_eq!(
        metric(&engine, "msrp_switch_participants{kind=\"large_message\"}"),
        0
    );
    assert_eq!(metric(&engine, "msrp_switch_queue_bytes"), 0);
    let stats = engine.stats();
    assert_eq!(stats.sessions, 0);
    assert!(files(dir.path()).is_empty(), "no spill file left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_offered_first_or_refusing_by_their_media_are_served_as_their_sdp_says() {
    let dir = TempDir::new("lm-media");
    let engine = engine(dir.path(), 1 << 20, 1 << 30, |_| {});
    let mut events = engine.subscribe();
    let key = engine
        .create_session(SessionKind::LargeMessage)
        .await
        .unwrap();
    let sender = engine.add_participant(key, remote(SENDER)).await.unwrap();
    // Receiver 0 only takes text; receiver 1 at most 1 KiB; receiver 2 is
    // offered to (OMA IM 7.2.1.2: the sender's offer forwarded) and answers
    // after the message is in.
    let mut text_only = remote(&receiver_path(0));
    text_only.accept_types = vec!["text/plain".into()];
    let r0 = engine.add_participant(key, text_only).await.unwrap();
    let mut small = remote(&receiver_path(1));
    small.max_size = Some(1024);
    let r1 = engine.add_participant(key, small).await.unwrap();
    let r2 = engine
        .add(
            key,
            Identity::default(),
            Negotiation::Offer {
                offer_from: Some(sender.id),
                transport: None,
                websocket: false,
                ws_proto: false,
            },
            "lm-r2".into(),
        )
        .await
        .unwrap();
    let message = body(700 * 1024);
    let mut a = bound(&engine, SENDER, &sender).await;
    let (statuses, mut reports) =
        send_seeing_reports(&mut a, "lmmedia1", &message, 256 * 1024, "").await;
    assert_eq!(statuses, [200, 200, 200]);
    for (who, status) in [(r0.id, 415), (r1.id, 413)] {
        let (got, reason) = event(&mut events, Duration::from_secs(10), |e| match e {
            Event::MessageFailed {
                participant,
                status,
                reason,
                ..
            } if *participant == who => Some((*status, reason.clone())),
            _ => None,
        })
        .await;
        assert_eq!(got, status, "{reason}");
    }
    let answered = engine
        .set_remote_answer(r2.id, remote(&receiver_path(2)))
        .await
        .unwrap();
    let mut peer = bound(&engine, &receiver_path(2), &answered).await;
    let got = receive(&mut peer, message.len(), Duration::ZERO).await;
    assert_eq!(hash(&got), hash(&message));
    let complete = event(&mut events, Duration::from_secs(10), |e| match e {
        Event::LargeMessageComplete {
            delivered, failed, ..
        } => Some((*delivered, *failed)),
        _ => None,
    })
    .await;
    assert_eq!(complete, (1, 2));
    // The sender asked for failure reports: it got one, with the first failure.
    if reports.is_empty() {
        reports.push(a.read_frame().await);
    }
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].method().as_deref(), Some("REPORT"));
    assert_eq!(reports[0].head.status().map(|s| s.code.as_u16()), Some(415));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_fails_waiting_receivers_and_reports_to_the_sender() {
    let dir = TempDir::new("lm-drain");
    let engine = engine(dir.path(), 1 << 20, 1 << 30, |_| {});
    let mut events = engine.subscribe();
    let (_, sender, receivers) = session(&engine, 1).await;
    let message = body(3 << 20);
    let mut a = bound(&engine, SENDER, &sender).await;
    let statuses = send(&mut a, "lmdrain1", &message, 1 << 20, "").await;
    assert_eq!(statuses, [200, 200, 200], "accepted: a promise");
    // Its receiver never binds; the switch stops.
    let outcome = engine.drain(Duration::from_secs(2)).await;
    assert!(!outcome.quiescent, "a receiver was still owed the message");
    let report = a.read_frame().await;
    assert_eq!(report.method().as_deref(), Some("REPORT"));
    assert_eq!(report.head.status().map(|s| s.code.as_u16()), Some(408));
    let range = report.head.byte_range().unwrap();
    assert_eq!((range.start, range.end), (1, Some(message.len() as u64)));
    let (who, status) = event(&mut events, Duration::from_secs(5), |e| match e {
        Event::MessageFailed {
            participant,
            status,
            ..
        } => Some((*participant, *status)),
        _ => None,
    })
    .await;
    assert_eq!((who, status), (receivers[0].id, 408));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_past_the_declared_total_are_refused_with_400() {
    let dir = TempDir::new("lm-over");
    let engine = engine(dir.path(), 1 << 20, 1 << 30, |_| {});
    let (_, sender, _) = session(&engine, 1).await;
    let mut a = bound(&engine, SENDER, &sender).await;
    let message = body(1500);
    let tid = a.next_tid();
    let first = SendChunk {
        start: 1,
        total: 1000,
        content_type: "application/octet-stream",
        flag: '+',
        ..a.chunk_head(&tid, "lmover01")
    }
    .encode(&message[..800]);
    a.write(&first).await;
    assert_eq!(a.read_frame().await.status(), Some(200));
    // An open-ended chunk (`801-*/1000`) that runs 500 bytes past the total.
    let tid = a.next_tid();
    let mut second = format!(
        "MSRP {tid} SEND\r\nTo-Path: {}\r\nFrom-Path: {SENDER}\r\nMessage-ID: lmover01\r\n\
         Byte-Range: 801-*/1000\r\nContent-Type: application/octet-stream\r\n\r\n",
        sender.local_uri
    )
    .into_bytes();
    second.extend_from_slice(&message[800..]);
    second.extend_from_slice(format!("\r\n-------{tid}$\r\n").as_bytes());
    a.write(&second).await;
    let answer = a.read_frame().await;
    assert_eq!((answer.tid(), answer.status()), (tid, Some(400)));
}
