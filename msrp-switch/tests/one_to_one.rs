//! 1:1 sessions through the real engine over loopback TCP (issue 4).

use std::time::Duration;

use msrp_proto::control::ParticipantInfo;
use msrp_test_support::wire::SendChunk;
use msrp_test_support::{PATH_A as A, PATH_B as B, *};

#[tokio::test]
async fn a_1k_message_is_delivered_with_its_body_and_rewritten_paths() {
    let engine = start_engine(1, |_| {});
    let (_, pa, pb) = one_to_one(&engine, A, B).await;
    let mut a = Peer::connect(engine.local_addr(), A, &pa.local_uri).await;
    let mut b = Peer::connect(engine.local_addr(), B, &pb.local_uri).await;
    a.bind().await;
    b.bind().await;

    let body: Vec<u8> = (0..1024u32).map(|i| (i * 7 % 251) as u8).collect();
    a.send_message("msg00001", &body).await;
    let got = b.read_frame().await;
    assert_eq!(got.method().as_deref(), Some("SEND"));
    assert_eq!(hash(&got.body), hash(&body));
    assert_eq!(got.body.len(), 1024);
    assert_eq!(got.target_path(), [B]);
    assert_eq!(got.sender_path(), [pb.local_uri.to_string()]);
    assert_eq!(got.head.message_id().unwrap().as_str(), "msg00001");
    assert_eq!(got.head.byte_range().unwrap().to_string(), "1-*/1024");
    assert_eq!(got.head.content_type(), Some("text/plain"));
    assert_ne!(got.tid(), "t0000002", "a fresh transaction id per hop");
    b.answer(&got, "200 OK").await;
}

/// Two bound peers in a fresh 1:1 session.
async fn pair(
    engine: &TestEngine,
) -> (
    Peer,
    Peer,
    msrp_proto::ids::SessionKey,
    ParticipantInfo,
    ParticipantInfo,
) {
    let (session, pa, pb) = one_to_one(engine, A, B).await;
    let mut a = Peer::connect(engine.local_addr(), A, &pa.local_uri).await;
    let mut b = Peer::connect(engine.local_addr(), B, &pb.local_uri).await;
    a.bind().await;
    b.bind().await;
    (a, b, session, pa, pb)
}

/// One `application/octet-stream` SEND chunk from `peer`.
fn chunk(
    peer: &Peer,
    tid: &str,
    message_id: &str,
    start: usize,
    total: usize,
    body: &[u8],
    flag: char,
) -> Vec<u8> {
    SendChunk {
        start,
        total,
        content_type: "application/octet-stream",
        flag,
        ..peer.chunk_head(tid, message_id)
    }
    .encode(body)
}

#[tokio::test]
async fn a_10_mib_message_in_64_kib_chunks_streams_through_intact() {
    let engine = start_engine(1, |_| {});
    let (mut a, mut b, ..) = pair(&engine).await;
    let total = 10 * 1024 * 1024;
    let message: Vec<u8> = (0..total).map(|i| (i % 253) as u8).collect();
    let chunks: Vec<&[u8]> = message.chunks(64 * 1024).collect();

    // The first chunk reaches B before A has written the second.
    let first = chunk(&a, "big00000", "bigmsg01", 1, total, chunks[0], '+');
    a.write(&first).await;
    let got = b.read_frame().await;
    assert_eq!(got.body.len(), chunks[0].len());
    assert_eq!(got.flag, msrp_switch::codec::ContinuationFlag::More);
    b.answer(&got, "200 OK").await;

    let mut received = got.body;
    let writer = {
        let frames: Vec<Vec<u8>> = chunks
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, body)| {
                let flag = if i + 1 == chunks.len() { '$' } else { '+' };
                chunk(
                    &a,
                    &format!("big{i:05}"),
                    "bigmsg01",
                    i * 64 * 1024 + 1,
                    total,
                    body,
                    flag,
                )
            })
            .collect();
        let mut stream = a;
        tokio::spawn(async move {
            for frame in frames {
                stream.write(&frame).await;
            }
            // Every chunk gets its 200 (hop by hop).
            let mut oks = 0;
            while oks < chunks_len(total) {
                let answer = stream.read_frame().await;
                assert_eq!(answer.status(), Some(200));
                oks += 1;
            }
            stream
        })
    };
    let mut flag = msrp_switch::codec::ContinuationFlag::More;
    while flag != msrp_switch::codec::ContinuationFlag::End {
        let got = b.read_frame().await;
        assert_eq!(got.head.message_id().unwrap().as_str(), "bigmsg01");
        let range = got.head.byte_range().unwrap();
        assert_eq!(range.start as usize, received.len() + 1);
        assert_eq!(range.total, Some(total as u64));
        received.extend_from_slice(&got.body);
        flag = got.flag;
        b.answer(&got, "200 OK").await;
    }
    tokio::time::timeout(LIMIT, writer).await.unwrap().unwrap();
    assert_eq!(received.len(), total);
    assert_eq!(hash(&received), hash(&message));
}

fn chunks_len(total: usize) -> usize {
    total.div_ceil(64 * 1024)
}

#[tokio::test]
async fn reports_are_mapped_back_to_the_original_sender_both_ways() {
    let engine = start_engine(1, |_| {});
    let (mut a, mut b, _, pa, pb) = pair(&engine).await;
    report_round_trip(&mut a, &mut b, A, &pa.local_uri, &pb.local_uri).await;
    report_round_trip(&mut b, &mut a, B, &pb.local_uri, &pa.local_uri).await;
}

/// `sender` asks for a success REPORT; `receiver`'s REPORT reaches `sender` with
/// `sender`'s paths.
async fn report_round_trip(
    sender: &mut Peer,
    receiver: &mut Peer,
    sender_path: &str,
    sender_local: &msrp_switch::codec::MsrpUri,
    receiver_local: &msrp_switch::codec::MsrpUri,
) {
    let tid = sender.next_tid();
    let frame = sender.send_frame(&tid, "rptmsg01", "Success-Report: yes\r\n", b"hello");
    sender.write(&frame).await;
    assert_eq!(sender.read_frame().await.status(), Some(200));
    let got = receiver.read_frame().await;
    assert_eq!(
        got.head
            .value(msrp_switch::codec::HeaderName::SuccessReport),
        Some("yes")
    );
    receiver.answer(&got, "200 OK").await;
    let report = format!(
        "MSRP rep{tid} REPORT\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: rptmsg01\r\n\
         Byte-Range: 1-5/5\r\nStatus: 000 200 OK\r\n-------rep{tid}$\r\n",
        receiver_local, receiver.me
    );
    receiver.write(report.as_bytes()).await;
    let mapped = sender.read_frame().await;
    assert_eq!(mapped.method().as_deref(), Some("REPORT"));
    assert_eq!(mapped.target_path(), [sender_path]);
    assert_eq!(mapped.sender_path(), [sender_local.to_string()]);
    assert_eq!(mapped.head.message_id().unwrap().as_str(), "rptmsg01");
    assert_eq!(mapped.head.byte_range().unwrap().to_string(), "1-5/5");
    let status = mapped.head.status().unwrap();
    assert_eq!((status.namespace, status.code.as_u16()), (0, 200));
}

#[tokio::test]
async fn an_unanswered_chunk_becomes_a_408_report_after_the_timeout() {
    let engine = start_engine(1, |c| c.transaction_timeout = Duration::from_millis(300));
    let (mut a, mut b, _, pa, _) = pair(&engine).await;
    a.send_message("late0001", b"anyone there?").await;
    let got = b.read_frame().await; // delivered, never answered
    assert_eq!(got.body, b"anyone there?");
    let report = a.read_frame().await;
    assert_eq!(report.method().as_deref(), Some("REPORT"));
    assert_eq!(report.target_path(), [A]);
    assert_eq!(report.sender_path(), [pa.local_uri.to_string()]);
    assert_eq!(report.head.message_id().unwrap().as_str(), "late0001");
    assert_eq!(report.head.byte_range().unwrap().to_string(), "1-13/13");
    let status = report.head.status().unwrap();
    assert_eq!(status.code.as_u16(), 408);
    assert_eq!(
        metric(
            &engine,
            "msrp_switch_reports_generated_total{status=\"408\"}"
        ),
        1
    );
    assert_eq!(metric(&engine, "msrp_switch_transaction_timeouts_total"), 1);
}

#[tokio::test]
async fn an_error_response_becomes_a_report_and_413_stops_the_message() {
    let engine = start_engine(1, |_| {});
    let (mut a, mut b, ..) = pair(&engine).await;
    a.write(&chunk(
        &a,
        "err00001",
        "errmsg01",
        1,
        20,
        b"0123456789",
        '+',
    ))
    .await;
    assert_eq!(a.read_frame().await.status(), Some(200));
    let got = b.read_frame().await;
    b.answer(&got, "413 Too big").await;
    let report = a.read_frame().await;
    assert_eq!(report.method().as_deref(), Some("REPORT"));
    assert_eq!(report.head.status().unwrap().code.as_u16(), 413);
    assert_eq!(report.head.byte_range().unwrap().to_string(), "1-10/20");
    // The rest of that message is refused with 413 and never reaches B.
    a.write(&chunk(
        &a,
        "err00002",
        "errmsg01",
        11,
        20,
        b"abcdefghij",
        '$',
    ))
    .await;
    let answer = a.read_frame().await;
    assert_eq!(
        (answer.tid().as_str(), answer.status()),
        ("err00002", Some(413))
    );
    // Another message still flows.
    a.send_message("okmsg001", b"next").await;
    let next = b.read_frame().await;
    assert_eq!(next.body, b"next");
}

#[tokio::test]
async fn binding_errors_481_403_506_and_the_bind_timeout() {
    let engine = start_engine(1, |c| c.bind_timeout = Duration::from_millis(300));
    let (_, pa, _) = one_to_one(&engine, A, B).await;
    let addr = engine.local_addr();

    // 481: a session-id nobody has.
    let unknown =
        msrp_switch::codec::MsrpUri::parse_str("msrp://127.0.0.1:1/nosuchsession;tcp").unwrap();
    let mut stranger = Peer::connect(addr, A, &unknown).await;
    let tid = stranger.next_tid();
    let frame = stranger.send_frame(&tid, "m0000001", "", b"x");
    stranger.write(&frame).await;
    assert_eq!(stranger.read_frame().await.status(), Some(481));

    // 403: the right session, From-Path other than the SDP path.
    let mut impostor = Peer::connect(addr, "msrp://127.0.0.1:9/evil;tcp", &pa.local_uri).await;
    let tid = impostor.next_tid();
    let frame = impostor.send_frame(&tid, "m0000002", "", b"x");
    impostor.write(&frame).await;
    assert_eq!(impostor.read_frame().await.status(), Some(403));

    // 506: the session is bound on another connection.
    let mut a = Peer::connect(addr, A, &pa.local_uri).await;
    a.bind().await;
    let mut second = Peer::connect(addr, A, &pa.local_uri).await;
    let tid = second.next_tid();
    let frame = second.send_frame(&tid, "m0000003", "", b"x");
    second.write(&frame).await;
    assert_eq!(second.read_frame().await.status(), Some(506));

    // A connection that never binds is closed after the bind timeout.
    let mut idle = Peer::connect(addr, A, &pa.local_uri).await;
    assert!(idle.closed_within(Duration::from_secs(5)).await);
    assert!(metric(&engine, "msrp_switch_bind_timeouts_total") >= 1);
}

#[tokio::test]
async fn a_sender_that_disconnects_mid_chunk_leaves_the_receiver_a_hash_ended_chunk() {
    let engine = start_engine(1, |_| {});
    let (mut a, mut b, ..) = pair(&engine).await;
    let frame = chunk(
        &a,
        "cut00001",
        "cutmsg01",
        1,
        100_000,
        &[b'z'; 100_000],
        '$',
    );
    // Head and 50,000 body bytes, then the connection drops.
    a.write(&frame[..frame.len() - 50_020]).await;
    drop(a);
    let got = b.read_frame().await;
    assert_eq!(got.flag, msrp_switch::codec::ContinuationFlag::Abort);
    assert!(got.body.len() <= 50_000 && got.body.iter().all(|&c| c == b'z'));
    assert_eq!(got.head.message_id().unwrap().as_str(), "cutmsg01");
}

#[tokio::test]
async fn removing_a_participant_aborts_its_chunk_closes_it_and_later_requests_get_481() {
    let engine = start_engine(1, |_| {});
    let (mut a, mut b, session, _, pb) = pair(&engine).await;
    let frame = chunk(&a, "rem00001", "remmsg01", 1, 10_000, &[b'q'; 10_000], '$');
    a.write(&frame[..frame.len() - 5_020]).await;
    b.await_bytes(5_000).await; // B's chunk is open: its head and some body arrived
    let counters = engine.remove_participant(pb.id).await.unwrap();
    assert_eq!(counters.frames_in, 1); // the bind SEND
    let got = b.read_frame().await;
    assert_eq!(got.flag, msrp_switch::codec::ContinuationFlag::Abort);
    assert!(b.closed_within(Duration::from_secs(5)).await);
    // A finishes its chunk: the session it was for is gone.
    a.write(&frame[frame.len() - 5_020..]).await;
    assert_eq!(a.read_frame().await.status(), Some(481));
    // B's session-id is unknown now.
    let mut again = Peer::connect(engine.local_addr(), B, &pb.local_uri).await;
    let tid = again.next_tid();
    let frame = again.send_frame(&tid, "m0000009", "", b"x");
    again.write(&frame).await;
    assert_eq!(again.read_frame().await.status(), Some(481));
    // Releasing the session removes A too.
    let released = engine.release_session(session).await.unwrap();
    assert_eq!(released.len(), 1);
    assert!(a.closed_within(Duration::from_secs(5)).await);
    assert!(engine.session(session).await.is_err());
}

#[tokio::test]
async fn a_stalled_receiver_throttles_the_sender_and_nothing_is_lost() {
    const QUEUE: usize = 64 * 1024;
    const MESSAGES: usize = 512;
    const SIZE: usize = 64 * 1024;
    let engine = start_engine(1, |c| c.queue_bytes = QUEUE);
    let (a, mut b, ..) = pair(&engine).await;
    let bodies: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|m| (0..SIZE).map(|i| ((i * 31 + m * 7) % 256) as u8).collect())
        .collect();
    let frames: Vec<Vec<u8>> = bodies
        .iter()
        .enumerate()
        .map(|(m, body)| {
            chunk(
                &a,
                &format!("stl{m:05}"),
                &format!("stlmsg{m:05}"),
                1,
                SIZE,
                body,
                '$',
            )
        })
        .collect();
    let mut a = a;
    let writer = tokio::spawn(async move {
        for frame in &frames {
            a.write(frame).await;
        }
        a
    });
    // B reads nothing: 32 MiB cannot fit in the queues and socket buffers between.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!writer.is_finished(), "the sender was not held back");
    let queued = metric(&engine, "msrp_switch_queue_bytes");
    assert!(
        queued as usize <= QUEUE + 3 * SIZE,
        "queue grew to {queued}"
    );

    // B resumes: every message arrives, in order, intact.
    for (m, body) in bodies.iter().enumerate() {
        let got = b.read_frame().await;
        assert_eq!(
            got.head.message_id().unwrap().as_str(),
            format!("stlmsg{m:05}")
        );
        assert_eq!(hash(&got.body), hash(body), "message {m}");
        b.answer(&got, "200 OK").await;
    }
    let mut a = tokio::time::timeout(LIMIT, writer).await.unwrap().unwrap();
    for m in 0..MESSAGES {
        let answer = a.read_frame().await;
        assert_eq!(
            (answer.tid(), answer.status()),
            (format!("stl{m:05}"), Some(200))
        );
    }
}

#[tokio::test]
async fn in_the_active_role_the_switch_connects_out_and_binds_before_sending_data() {
    let engine = start_engine(1, |_| {});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_path = format!(
        "msrp://127.0.0.1:{}/bactive1;tcp",
        listener.local_addr().unwrap().port()
    );
    let session = engine
        .create_session(msrp_proto::session::SessionKind::OneToOne)
        .await
        .unwrap();
    let pa = engine.add_participant(session, remote(A)).await.unwrap();
    let mut b_media = remote(&b_path);
    b_media.setup = msrp_proto::media::SetupRole::Active;
    let pb = engine.add_participant(session, b_media).await.unwrap();

    let (stream, _) = tokio::time::timeout(LIMIT, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut b = Peer::over(stream, &b_path, pb.local_uri.as_str());
    let bind = b.read_frame().await;
    assert_eq!(bind.method().as_deref(), Some("SEND"));
    assert!(bind.body.is_empty() && !bind.head.has_body());
    assert_eq!(bind.target_path(), [b_path.as_str()]);
    assert_eq!(bind.sender_path(), [pb.local_uri.to_string()]);
    assert_eq!(bind.head.byte_range().unwrap().to_string(), "1-0/0");

    // A message for B waits until B has answered the bind SEND.
    let mut a = Peer::connect(engine.local_addr(), A, &pa.local_uri).await;
    a.bind().await;
    a.send_message("actmsg01", b"after the bind").await;
    let early = tokio::time::timeout(Duration::from_millis(300), b.try_read_frame()).await;
    assert!(
        early.is_err(),
        "data arrived before the bind SEND was answered"
    );
    b.answer(&bind, "200 OK").await;
    let got = b.read_frame().await;
    assert_eq!(got.body, b"after the bind");
    assert!(engine.participant(pb.id).await.unwrap().bound);
}

#[tokio::test]
async fn metrics_over_http_count_known_traffic() {
    let engine = start_engine(1, |_| {});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(msrp_switch::metrics::serve_metrics(
        listener,
        engine.engine.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let (mut a, mut b, ..) = pair(&engine).await;
    for i in 0..3 {
        a.send_message(&format!("metric0{i}"), &[b'm'; 1000]).await;
        let got = b.read_frame().await;
        b.answer(&got, "200 OK").await;
    }
    // The third 200 from B is in flight; a bind round trip on B orders it first.
    b.bind().await;

    let scrape = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut http = tokio::net::TcpStream::connect(metrics_addr).await.unwrap();
        // Connection: close, so the server ends the connection after the answer
        // and reading to the end returns.
        http.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        tokio::time::timeout(LIMIT, http.read_to_string(&mut text))
            .await
            .unwrap()
            .unwrap();
        text
    };
    assert!(scrape.starts_with("HTTP/1.1 200 OK\r\n"));
    let head = scrape.to_ascii_lowercase();
    assert!(head.contains("content-type: application/openmetrics-text; version=1.0.0"));
    assert!(scrape.ends_with("# EOF\n"), "{scrape}");
    for (series, value) in [
        ("msrp_switch_sessions{kind=\"one_to_one\"}", 1),
        ("msrp_switch_participants{kind=\"one_to_one\"}", 2),
        ("msrp_switch_connections", 2),
        ("msrp_switch_connections_accepted_total", 2),
        // 3 binds (one repeated) + 3 messages.
        ("msrp_switch_frames_received_total{method=\"SEND\"}", 6),
        ("msrp_switch_frames_received_total{method=\"response\"}", 3),
        ("msrp_switch_frames_sent_total{method=\"SEND\"}", 3),
        ("msrp_switch_responses_sent_total{status=\"200\"}", 6),
        ("msrp_switch_responses_received_total{status=\"200\"}", 3),
        ("msrp_switch_reports_generated_total{status=\"408\"}", 0),
        ("msrp_switch_shard_handovers_total", 0),
    ] {
        let line = format!("{series} {value}\n");
        assert!(scrape.contains(&line), "expected {line:?} in\n{scrape}");
    }
    let received: i64 = scrape
        .lines()
        .find_map(|l| l.strip_prefix("msrp_switch_received_bytes_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(received > 3000, "received bytes {received}");
    let _ = stop.send(());
    server.await.unwrap();
}

#[tokio::test]
async fn connections_are_handed_to_the_shard_that_owns_their_session() {
    let engine = start_engine(2, |_| {});
    let mut pairs = Vec::new();
    for i in 0..8 {
        let a_path = format!("msrp://127.0.0.1:4100{i}/ha{i}aaaa;tcp");
        let b_path = format!("msrp://127.0.0.1:4200{i}/hb{i}bbbb;tcp");
        let (_, pa, pb) = one_to_one(&engine, &a_path, &b_path).await;
        let mut a = Peer::connect(engine.local_addr(), &a_path, &pa.local_uri).await;
        let mut b = Peer::connect(engine.local_addr(), &b_path, &pb.local_uri).await;
        a.bind().await;
        b.bind().await;
        pairs.push((a, b));
    }
    for (i, (a, b)) in pairs.iter_mut().enumerate() {
        let body = format!("message {i} across shards");
        a.send_message(&format!("hand{i:04}"), body.as_bytes())
            .await;
        assert_eq!(b.read_frame().await.body, body.as_bytes());
    }
    // Sessions alternate between the two shards and the kernel spreads the 16
    // connections over both listeners: some must have changed shard (all 16
    // landing right has probability 2^-16).
    assert!(metric(&engine, "msrp_switch_shard_handovers_total") > 0);
}

#[tokio::test]
async fn a_stalled_chunk_is_interrupted_for_a_waiting_frame_and_resumed_after_it() {
    let engine = start_engine(1, |_| {});
    let (mut a, mut b, ..) = pair(&engine).await;
    let message: Vec<u8> = (0..65_536u32).map(|i| (i % 241) as u8).collect();
    let frame = chunk(&a, "int00001", "intmsg01", 1, message.len(), &message, '$');
    let split = frame.len() - 40_000 - 20; // head + 25,536 body bytes
    a.write(&frame[..split]).await;
    // B has every body byte A wrote but the last 8 (held back in case they start
    // the end-line), so the switch has read all of A's write: A has stalled with
    // the chunk to B open.
    b.await_body_bytes(25_536 - 8).await;

    // B sends A a message: the switch's 200 to B must not wait for A's chunk.
    let tid = b.next_tid();
    let to_a = b.send_frame(&tid, "fromb001", "", b"meanwhile");
    b.write(&to_a).await;
    let first = b.read_frame().await;
    assert_eq!(first.flag, msrp_switch::codec::ContinuationFlag::More);
    assert_eq!(first.head.byte_range().unwrap().to_string(), "1-*/65536");
    let answer = b.read_frame().await;
    assert_eq!((answer.tid(), answer.status()), (tid, Some(200)));
    b.answer(&first, "200 OK").await;

    // A goes on: the rest arrives as a new chunk from the position reached.
    a.write(&frame[split..]).await;
    let rest = b.read_frame().await;
    assert_eq!(rest.head.message_id().unwrap().as_str(), "intmsg01");
    assert_eq!(
        rest.head.byte_range().unwrap().to_string(),
        format!("{}-*/65536", first.body.len() + 1)
    );
    assert_eq!(rest.flag, msrp_switch::codec::ContinuationFlag::End);
    assert_ne!(rest.tid(), first.tid());
    let whole = [first.body, rest.body].concat();
    assert_eq!(hash(&whole), hash(&message));
    let got = a.read_frame().await;
    assert_eq!(got.body, b"meanwhile");
}
