//! The tokio shell on real sockets: where an accepted connection runs, what the
//! connection metrics count, and how a dead client is noticed.
//! Each test starts its own engine on 127.0.0.1:0 and waits only for observable
//! things (a frame, an event, a metric value), bounded by `support::LIMIT`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use msrp_proto::control::{Event, ParticipantInfo};
use msrp_proto::ids::shard_of_session_id;
use msrp_test_support::{LIMIT, Peer, metric, one_to_one, start_engine};

/// Polls `check` until it holds; panics after [`LIMIT`] with `what`.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let waited = timeout(LIMIT, async {
        while !check() {
            // A metric written on a shard thread: look again shortly.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for {what}");
}

/// A session-id nobody created whose first character names `shard` (see
/// `shard_of_session_id`).
fn made_up_session_id(shard: u8) -> String {
    let first = ('a'..='z')
        .chain('A'..='Z')
        .chain('0'..='9')
        .find(|c| shard_of_session_id(&c.to_string()) == Some(shard))
        .expect("some character names the shard");
    format!("{first}NoSuchSession0000000000")
}

/// RFC 4975 §7.3: a request answered 481 is ignored, so the next request on the
/// same connection may still bind. Here the 481 came from the other shard, which
/// must not keep the connection once it names a session it does not own.
#[tokio::test]
async fn a_481_for_another_shards_session_does_not_pin_the_connection() {
    let engine = start_engine(2, |_| {});
    let (_, pa, pb) = one_to_one(
        &engine,
        "msrp://127.0.0.1:9/pinA;tcp",
        "msrp://127.0.0.1:9/pinB;tcp",
    )
    .await;
    let sid = pa
        .local_uri
        .session_id()
        .expect("local URI has a session-id");
    let owner = shard_of_session_id(sid).expect("local session-ids name their shard");
    let elsewhere = 1 - owner;
    let stranger = format!(
        "msrp://127.0.0.1:{}/{};tcp",
        engine.local_addr().port(),
        made_up_session_id(elsewhere)
    );

    let mut a = Peer::connect(
        engine.local_addr(),
        "msrp://127.0.0.1:9/pinA;tcp",
        &pa.local_uri,
    )
    .await;
    let frame = format!(
        "MSRP t0000481 SEND\r\nTo-Path: {stranger}\r\nFrom-Path: {}\r\nMessage-ID: m481\r\n\
         Byte-Range: 1-0/0\r\n-------t0000481$\r\n",
        a.me
    );
    a.write(frame.as_bytes()).await;
    let refused = a.read_frame().await;
    assert_eq!(
        (refused.tid().as_str(), refused.status()),
        ("t0000481", Some(481))
    );

    // The same connection now binds to the real participant...
    a.bind().await;
    let mut b = Peer::connect(
        engine.local_addr(),
        "msrp://127.0.0.1:9/pinB;tcp",
        &pb.local_uri,
    )
    .await;
    b.bind().await;
    // ...and what it sends is delivered.
    a.send_message("after481", b"hello after a 481").await;
    let delivered = b.read_frame().await;
    assert_eq!(delivered.method().as_deref(), Some("SEND"));
    assert_eq!(delivered.body, b"hello after a 481");
    let info = engine.participant(pa.id).await.unwrap();
    assert!(info.bound);
}

/// `msrp_switch_connections` counts every open MSRP connection from accept to
/// close, including those that have not sent a byte yet.
#[tokio::test]
async fn connections_gauge_counts_connections_waiting_for_their_first_frame() {
    const IDLE: i64 = 50;
    let engine = start_engine(2, |_| {});
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(engine.local_addr()).await.unwrap());
    }
    until("the gauge to show every idle connection", || {
        metric(&engine, "msrp_switch_connections") == IDLE
    })
    .await;
    assert_eq!(engine.stats().connections, IDLE as u64);
    drop(idle);
    until("the gauge to go back to zero", || {
        metric(&engine, "msrp_switch_connections") == 0
    })
    .await;
}

/// `msrp_switch_received_bytes_total` counts every byte read, the first read of a
/// connection (taken to find its owning shard) included.
#[tokio::test]
async fn received_bytes_count_the_first_read() {
    let engine = start_engine(2, |_| {});
    let (_, pa, _) = one_to_one(
        &engine,
        "msrp://127.0.0.1:9/rxA;tcp",
        "msrp://127.0.0.1:9/rxB;tcp",
    )
    .await;
    let mut a = Peer::connect(
        engine.local_addr(),
        "msrp://127.0.0.1:9/rxA;tcp",
        &pa.local_uri,
    )
    .await;
    let bind = format!(
        "MSRP t0000001 SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: bind1\r\n\
         Byte-Range: 1-0/0\r\n-------t0000001$\r\n",
        a.switch, a.me
    );
    a.write(bind.as_bytes()).await;
    let answer = a.read_frame().await;
    assert_eq!(answer.status(), Some(200));
    // The 200 is written after the bytes were read and counted.
    assert_eq!(
        metric(&engine, "msrp_switch_received_bytes_total"),
        bind.len() as i64
    );
    let message = a.send_frame("t0000002", "msg00002", "", b"twelve bytes");
    a.write(&message).await;
    // B is not connected: the switch still answers A (hop by hop) once B's leg
    // has room, which it has.
    let answer = a.read_frame().await;
    assert_eq!(answer.tid(), "t0000002");
    assert_eq!(
        metric(&engine, "msrp_switch_received_bytes_total"),
        (bind.len() + message.len()) as i64
    );
}

/// A client held back (its peer stopped reading, so the queue it feeds is over the
/// bound) is not being read; when it dies the switch must still notice, report
/// `ConnectionLost`, show it unbound and stop counting its connection.
#[tokio::test]
async fn a_held_back_client_that_dies_is_reported_connection_lost() {
    const QUEUE_BYTES: usize = 64 * 1024;
    let engine = start_engine(1, |c| c.queue_bytes = QUEUE_BYTES);
    let mut events = engine.subscribe();
    let (_, pa, pb) = one_to_one(
        &engine,
        "msrp://127.0.0.1:9/deadA;tcp",
        "msrp://127.0.0.1:9/deadB;tcp",
    )
    .await;
    let mut a = Peer::connect(
        engine.local_addr(),
        "msrp://127.0.0.1:9/deadA;tcp",
        &pa.local_uri,
    )
    .await;
    a.bind().await;
    let mut b = Peer::connect(
        engine.local_addr(),
        "msrp://127.0.0.1:9/deadB;tcp",
        &pb.local_uri,
    )
    .await;
    b.bind().await;
    // B never reads again. A streams one long chunk whose end-line never comes, so
    // the switch owes it no answer and has nothing to write to it: only a read can
    // see it die. It dies with a reset, as a crashed client's kernel answers.
    socket2::SockRef::from(a.stream())
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    const BODY_BYTES: usize = 60 * 1024 * 1024;
    let head = format!(
        "MSRP s0000001 SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: long0001\r\n\
         Byte-Range: 1-{BODY_BYTES}/{BODY_BYTES}\r\nContent-Type: text/plain\r\n\r\n",
        a.switch, a.me
    );
    let (mut from_switch, mut to_switch) = a.into_stream().into_split();
    let drain = tokio::spawn(async move {
        let mut sink = vec![0u8; 64 * 1024];
        while let Ok(1..) = from_switch.read(&mut sink).await {}
    });
    let written = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&written);
    let writer = tokio::spawn(async move {
        if to_switch.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        counter.fetch_add(head.len() as u64, Ordering::Relaxed);
        let piece = vec![b'x'; 64 * 1024];
        let mut body = 0;
        while body < BODY_BYTES {
            let Ok(n) = to_switch
                .write(&piece[..piece.len().min(BODY_BYTES - body)])
                .await
            else {
                return;
            };
            body += n;
            counter.fetch_add(n as u64, Ordering::Relaxed);
        }
    });
    // Held back, and no longer read: B's leg is over its bound, the switch read
    // nothing from A between two looks, and far more than its read-ahead (64 KiB)
    // waits in the kernel (B never reads, so nothing will release A again).
    let mut seen = u64::MAX;
    until("the switch to stop reading A", || {
        let received = metric(&engine, "msrp_switch_received_bytes_total") as u64;
        let still = received == seen;
        seen = received;
        still
            && metric(&engine, "msrp_switch_queue_bytes") >= QUEUE_BYTES as i64
            && written.load(Ordering::Relaxed) >= received + 512 * 1024
    })
    .await;
    assert_eq!(metric(&engine, "msrp_switch_connections"), 2);
    // The client dies.
    writer.abort();
    drain.abort();
    let _ = writer.await;
    let _ = drain.await;

    let lost = timeout(LIMIT, async {
        loop {
            match events.recv().await.map(|tagged| tagged.event) {
                Ok(Event::ConnectionLost { participant, .. }) if participant == pa.id => {
                    return;
                }
                Ok(_) => {}
                Err(err) => panic!("event stream broke: {err}"),
            }
        }
    })
    .await;
    assert!(lost.is_ok(), "no ConnectionLost for the dead client");
    assert!(!engine.participant(pa.id).await.unwrap().bound);
    assert!(engine.participant(pb.id).await.unwrap().bound);
    assert_eq!(metric(&engine, "msrp_switch_connections"), 1);
    drop(b);
}

/// The engine's stats count every session kind: a 1:1 session and a group, two
/// participants each, are two sessions and four participants.
#[tokio::test]
async fn stats_count_groups_as_well_as_one_to_one_sessions() {
    use msrp_proto::media::{Identity, Policy};
    use msrp_proto::session::SessionKind;
    let engine = start_engine(2, |_| {});
    one_to_one(
        &engine,
        "msrp://127.0.0.1:40001/aaaa1111;tcp",
        "msrp://127.0.0.1:40002/bbbb2222;tcp",
    )
    .await;
    let room = engine
        .create_session_with(
            SessionKind::Group,
            "sip:room@example.com".into(),
            Policy::default(),
        )
        .await
        .unwrap();
    for (i, name) in ["alice", "bob"].into_iter().enumerate() {
        let identity = Identity {
            im_address: format!("sip:{name}@example.com"),
            privacy_alias: None,
        };
        let path = format!("msrp://127.0.0.1:{}/{name}{i};tcp", 41000 + i);
        engine
            .add_participant_as(room, identity, msrp_test_support::remote(&path))
            .await
            .unwrap();
    }
    let stats = engine.stats();
    assert_eq!((stats.sessions, stats.participants), (2, 4));
}

/// The same as for a 481, after a 403 from the connection's own shard: a request
/// for a session this shard owns, refused for its From-Path, does not bind the
/// connection, so its next request may bind to a session of the other shard.
#[tokio::test]
async fn a_403_on_this_shard_does_not_pin_the_connection() {
    let engine = start_engine(2, |_| {});
    // Sessions until one is on each shard.
    let mut by_shard: [Option<(ParticipantInfo, ParticipantInfo, String, String)>; 2] =
        [None, None];
    for n in 0..64 {
        if by_shard.iter().all(Option::is_some) {
            break;
        }
        let (a, b) = (
            format!("msrp://127.0.0.1:9/pin{n}A;tcp"),
            format!("msrp://127.0.0.1:9/pin{n}B;tcp"),
        );
        let (_, pa, pb) = one_to_one(&engine, &a, &b).await;
        let sid = pa.local_uri.session_id().expect("a session-id");
        let shard = usize::from(shard_of_session_id(sid).expect("names its shard"));
        by_shard[shard].get_or_insert((pa, pb, a, b));
    }
    let [Some(first), Some(second)] = by_shard else {
        panic!("64 sessions all landed on one shard");
    };

    // The connection lands on the first shard, through a session it owns...
    let (pa, ..) = &first;
    let mut c = Peer::connect(
        engine.local_addr(),
        "msrp://127.0.0.1:9/intruder;tcp",
        &pa.local_uri,
    )
    .await;
    let frame = format!(
        "MSRP t0000403 SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: m403\r\n\
         Byte-Range: 1-0/0\r\n-------t0000403$\r\n",
        pa.local_uri, c.me
    );
    c.write(frame.as_bytes()).await;
    let refused = c.read_frame().await;
    // ...which refuses it: the From-Path is not the participant's.
    assert_eq!(
        (refused.tid().as_str(), refused.status()),
        ("t0000403", Some(403))
    );

    // The next request binds to the other shard's participant, on this connection.
    let (qa, qb, qa_uri, qb_uri) = &second;
    c.me = qa_uri.clone();
    c.switch = qa.local_uri.as_str().to_owned();
    c.bind().await;
    let mut d = Peer::connect(engine.local_addr(), qb_uri, &qb.local_uri).await;
    d.bind().await;
    c.send_message("after403", b"hello after a 403").await;
    let delivered = d.read_frame().await;
    assert_eq!(delivered.body, b"hello after a 403");
    assert!(engine.participant(qa.id).await.unwrap().bound);
}

/// One instance per port: a second engine on a port the first listens on is
/// refused at start (address in use) instead of sharing it through SO_REUSEPORT
/// and taking a share of the first one's connections.
#[tokio::test]
async fn a_second_engine_on_the_same_port_is_refused() {
    let first = start_engine(2, |_| {});
    let second = msrp_switch::transport::Engine::start(msrp_switch::transport::EngineConfig {
        listen: first.local_addr(),
        shards: 1,
        pin_cores: false,
        ..Default::default()
    });
    let err = second.err().expect("the second engine must not start");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    // The first still serves.
    assert!(TcpStream::connect(first.local_addr()).await.is_ok());
}
