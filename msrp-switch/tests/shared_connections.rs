//! Shared connections through the control API (issue 14; RFC 6135 and RFC 4145
//! §5 `a=connection:existing`): one TCP connection carries two MSRP sessions.
//!
//! A is one client with a participant in each of two 1:1 sessions (A1 in session
//! 1, A2 in session 2), both on one connection to the switch; their peers B1 and
//! B2 are on connections of their own. Session 2 is created with
//! `colocate_with` = session 1, so both live on one shard.

use std::time::Duration;

use control_api::pb;
use control_api::pb::switch_control_client::SwitchControlClient;
use msrp_switch::codec::{ContinuationFlag, MsrpUri};
use msrp_switch::msrp_proto::ids::SessionKey;
use msrp_test_support::wire::{SendChunk, bind_frame, response_frame};
use msrp_test_support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use tonic::transport::Channel;

/// A's two participants: one client, one authority.
const A1: &str = "msrp://127.0.0.1:40001/aone1111;tcp";
const A2: &str = "msrp://127.0.0.1:40001/atwo2222;tcp";
const B1: &str = "msrp://127.0.0.1:40002/bone1111;tcp";
const B2: &str = "msrp://127.0.0.1:40003/btwo2222;tcp";

type Client = SwitchControlClient<Channel>;

/// One side of an MSRP session on a connection: its URI and the switch's for it.
#[derive(Clone)]
struct Leg {
    me: String,
    switch: String,
}

impl Leg {
    /// A one-chunk `text/plain` message of this leg.
    fn message(&self, tid: &str, message_id: &str, body: &[u8]) -> Vec<u8> {
        SendChunk {
            total: body.len(),
            ..self.head(tid, message_id)
        }
        .encode(body)
    }

    /// The head of a one-chunk `text/plain` SEND of this leg; a chunk sets its
    /// Byte-Range and flag.
    fn head<'a>(&'a self, tid: &'a str, message_id: &'a str) -> SendChunk<'a> {
        SendChunk::text(&self.switch, &self.me, tid, message_id)
    }
}

/// A connection whose frames come through a channel (a reader task), so that a
/// test can wait for the next frame or for something else without losing one.
/// The reader can be paused: then the peer stops reading its socket (after the
/// frame it is in).
struct Wire {
    write: OwnedWriteHalf,
    frames: mpsc::UnboundedReceiver<Frame>,
    reading: watch::Sender<bool>,
}

impl Wire {
    fn over(stream: TcpStream) -> Wire {
        stream.set_nodelay(true).unwrap();
        let (read, write) = stream.into_split();
        let (tx, frames) = mpsc::unbounded_channel();
        let (reading, mut gate) = watch::channel(true);
        tokio::spawn(async move {
            let mut reader = FrameReader::new(read);
            while gate.wait_for(|reading| *reading).await.is_ok() {
                let Some(frame) = reader.try_read_frame().await else {
                    return;
                };
                if tx.send(frame).is_err() {
                    return;
                }
            }
        });
        Wire {
            write,
            frames,
            reading,
        }
    }

    /// The peer stops reading its socket (after the frame it is reading).
    fn pause(&self) {
        self.reading.send_replace(false);
    }

    /// The peer reads its socket again.
    fn resume(&self) {
        self.reading.send_replace(true);
    }

    async fn connect(addr: std::net::SocketAddr) -> Wire {
        Wire::over(
            timeout(LIMIT, TcpStream::connect(addr))
                .await
                .unwrap()
                .unwrap(),
        )
    }

    /// A connection with a small receive buffer: when its peer pauses, the
    /// switch's queue for it fills after a few KiB in the kernel, not MiBs.
    async fn connect_small(addr: std::net::SocketAddr) -> Wire {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(8 * 1024).unwrap();
        Wire::over(timeout(LIMIT, socket.connect(addr)).await.unwrap().unwrap())
    }

    async fn write(&mut self, bytes: &[u8]) {
        timeout(LIMIT, self.write.write_all(bytes))
            .await
            .expect("write stalled")
            .unwrap();
    }

    /// The next frame, within [`LIMIT`].
    async fn next(&mut self) -> Frame {
        timeout(LIMIT, self.frames.recv())
            .await
            .expect("no frame in time")
            .expect("connection closed")
    }

    /// `leg` binds on this connection with a bodiless SEND; its 200 comes back.
    async fn bind(&mut self, leg: &Leg, tid: &str) {
        self.write(bind_frame(tid, &leg.switch, &leg.me).as_bytes())
            .await;
        let answer = self.next().await;
        assert_eq!(
            (answer.tid(), answer.status()),
            (tid.to_string(), Some(200))
        );
        assert_eq!(answer.target_path(), [leg.me.as_str()]);
    }

    /// The 200 for `request`, from `leg`.
    async fn ok(&mut self, leg: &Leg, request: &Frame) {
        let frame = response_frame(&request.tid(), "200 OK", &request.sender_path()[0], &leg.me);
        self.write(frame.as_bytes()).await;
    }
}

/// A 1:1 session on the shard of `beside` (any if empty).
async fn session_beside(client: &mut Client, beside: &str) -> Result<String, tonic::Status> {
    client
        .create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::OneToOne as i32,
            colocate_with: beside.to_owned(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().session_id)
}

/// An offer (the party connects) asking to reuse its connection.
fn existing(path: &str) -> String {
    format!("{}a=connection:existing\r\n", sdp_offer(path, "*"))
}

/// The shard a session id names.
fn shard(session: &str) -> u8 {
    session.parse::<SessionKey>().unwrap().shard()
}

/// Two colocated sessions: A1 and A2 bound on one connection `a`, B1 and B2 on
/// their own (A's and B1's with small receive buffers, so that their legs fill
/// soon when they stop reading).
struct Rig {
    engine: TestEngine,
    _control: ControlServer,
    client: Client,
    sessions: [String; 2],
    a1: Leg,
    a2: Leg,
    b1: Leg,
    b2: Leg,
    a: Wire,
    wb1: Wire,
    wb2: Wire,
}

async fn rig(shards: usize, queue_bytes: usize) -> Rig {
    let engine = start_engine(shards, |c| c.queue_bytes = queue_bytes);
    let control = ControlServer::start(&engine, None).await;
    let mut client = control.client().await;
    let s1 = create_one_to_one(&mut client).await;
    let s2 = session_beside(&mut client, &s1).await.unwrap();
    assert_eq!(shard(&s2), shard(&s1), "colocated");
    let mut legs = Vec::new();
    for (session, me, sdp, connection) in [
        (&s1, A1, existing(A1), "existing"),
        (&s1, B1, sdp_offer(B1, "*"), "new"),
        (&s2, A2, existing(A2), "existing"),
        (&s2, B2, sdp_offer(B2, "*"), "new"),
    ] {
        let added = add_with_sdp(&mut client, session, sdp).await;
        let answer = &added.local.as_ref().unwrap().sdp;
        assert!(
            answer.contains(&format!("a=connection:{connection}\r\n")),
            "{me}: {answer}"
        );
        legs.push(Leg {
            me: me.to_owned(),
            switch: switch_uri(&added),
        });
    }
    let [a1, b1, a2, b2] = <[Leg; 4]>::try_from(legs).ok().unwrap();
    let mut a = Wire::connect_small(engine.local_addr()).await;
    a.bind(&a1, "bindaone").await;
    a.bind(&a2, "bindatwo").await;
    let mut wb1 = Wire::connect_small(engine.local_addr()).await;
    wb1.bind(&b1, "bindbone").await;
    let mut wb2 = Wire::connect(engine.local_addr()).await;
    wb2.bind(&b2, "bindbtwo").await;
    Rig {
        engine,
        _control: control,
        client,
        sessions: [s1, s2],
        a1,
        a2,
        b1,
        b2,
        a,
        wb1,
        wb2,
    }
}

fn body(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + seed * 7) % 251) as u8)
        .collect()
}

/// One TCP connection carries A1 and A2: messages both ways in both sessions
/// arrive with their own session's paths and bodies, on two shards with the
/// sessions colocated (the connection arrives on either shard's listener and
/// moves to theirs).
#[tokio::test]
async fn one_connection_carries_two_sessions_both_ways() {
    let mut r = rig(2, 1024 * 1024).await;
    for session in &r.sessions {
        let info = r.engine.session(session.parse().unwrap()).await.unwrap();
        assert!(info.participants.iter().all(|p| p.bound), "{session}");
    }
    assert_eq!(metric(&r.engine, "msrp_switch_connection_joins_total"), 1);

    let (one, two) = (body(10_000, 1), body(20_000, 2));
    for (leg, tid, message_id, data) in [
        (&r.a1, "t1aone00", "msgone01", &one),
        (&r.a2, "t2atwo00", "msgtwo01", &two),
    ] {
        let frame = leg.message(tid, message_id, data);
        r.a.write(&frame).await;
        let answer = r.a.next().await;
        assert_eq!(
            (answer.tid(), answer.status()),
            (tid.to_string(), Some(200))
        );
        assert_eq!(answer.target_path(), [leg.me.as_str()]);
    }
    for (wire, leg, message_id, data) in [
        (&mut r.wb1, &r.b1, "msgone01", &one),
        (&mut r.wb2, &r.b2, "msgtwo01", &two),
    ] {
        let got = wire.next().await;
        assert_eq!(got.target_path(), [leg.me.as_str()]);
        assert_eq!(got.sender_path(), [leg.switch.as_str()]);
        assert_eq!(got.head.message_id().unwrap().as_str(), message_id);
        assert_eq!(hash(&got.body), hash(data));
        wire.ok(leg, &got).await;
    }

    // Back onto the shared connection, each with its own session's paths.
    r.wb1
        .write(&r.b1.message("t3bone00", "back0001", &two))
        .await;
    r.wb2
        .write(&r.b2.message("t4btwo00", "back0002", &one))
        .await;
    for wire in [&mut r.wb1, &mut r.wb2] {
        assert_eq!(wire.next().await.status(), Some(200));
    }
    let mut back = [r.a.next().await, r.a.next().await];
    back.sort_by_key(|f| f.head.message_id().unwrap().to_string());
    for (got, leg, data) in [(&back[0], &r.a1, &two), (&back[1], &r.a2, &one)] {
        assert_eq!(got.target_path(), [leg.me.as_str()]);
        assert_eq!(got.sender_path(), [leg.switch.as_str()]);
        assert_eq!(hash(&got.body), hash(data));
    }
}

/// A connection carries sessions of its own shard only: A3, whose media say
/// `existing` but whose session sits on the other shard, is refused 481 on A's
/// connection, which goes on carrying A1 and A2. `colocate_with` takes only ids
/// of this switch.
#[tokio::test]
async fn a_session_of_another_shard_gets_481_on_a_shared_connection() {
    let mut r = rig(2, 1024 * 1024).await;
    let s3 = session_beside(&mut r.client, "").await.unwrap();
    assert_ne!(shard(&s3), shard(&r.sessions[0]), "placed in turn");
    const A3: &str = "msrp://127.0.0.1:40001/athree33;tcp";
    let added = add_with_sdp(&mut r.client, &s3, existing(A3)).await;
    let a3 = Leg {
        me: A3.to_owned(),
        switch: switch_uri(&added),
    };
    r.a.write(bind_frame("bindathr", &a3.switch, A3).as_bytes())
        .await;
    let refused = r.a.next().await;
    assert_eq!(
        (refused.tid(), refused.status()),
        ("bindathr".to_string(), Some(481))
    );
    r.a.write(&r.a2.message("t5atwo00", "stillok1", b"still here"))
        .await;
    assert_eq!(r.a.next().await.status(), Some(200));
    assert_eq!(r.wb2.next().await.body, b"still here");

    let bad = session_beside(&mut r.client, "nonsense").await.unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("colocate_with"), "{}", bad.message());
    let gone = session_beside(&mut r.client, "s-1").await.unwrap_err();
    assert_eq!(gone.code(), tonic::Code::NotFound);
}

/// Backpressure per session on the shared connection. B1 stops reading while A
/// streams a large message in session 1, one chunk at a time, each after the
/// 200 to the one before: once B1's leg is over the queue bound, A's session-1
/// chunk is not answered (the switch withholds the 200) and A stops, yet a
/// message A sends in session 2 is delivered to B2 and answered. Then B1 reads
/// again and all of session 1 arrives, intact and in order.
#[tokio::test]
async fn a_full_session_holds_back_only_its_own_sender() {
    const QUEUE: usize = 64 * 1024;
    const CHUNK: usize = 32 * 1024;
    const TOTAL: usize = 8 * 1024 * 1024;
    let mut r = rig(1, QUEUE).await;
    let data = body(TOTAL, 3);
    let chunks: Vec<&[u8]> = data.chunks(CHUNK).collect();
    let send = |i: usize| {
        let flag = if i + 1 == chunks.len() { '$' } else { '+' };
        let tid = format!("big{i:05}");
        let frame = SendChunk {
            start: i * CHUNK + 1,
            total: TOTAL,
            flag,
            ..r.a1.head(&tid, "bigmsg01")
        }
        .encode(chunks[i]);
        (tid, frame)
    };
    let mut next = 0;
    r.wb1.pause();
    // Until a session-1 chunk goes unanswered while session 2's message is.
    let held = loop {
        let (tid, frame) = send(next);
        r.a.write(&frame).await;
        next += 1;
        assert!(next < chunks.len(), "A was never held back");
        // Its 200, or the switch says it withholds one.
        let withheld = async {
            while metric(&r.engine, "msrp_switch_answers_withheld") < 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let answer = tokio::select! {
            answer = r.a.frames.recv() => answer,
            held = timeout(LIMIT, withheld) => {
                held.expect("neither a 200 nor a withheld one");
                None
            }
        };
        if let Some(answer) = answer {
            assert_eq!((answer.tid(), answer.status()), (tid, Some(200)));
            continue;
        }
        // Held back: session 2 still goes. (Should the leg drain a little
        // meanwhile, the withheld 200 comes first: then A goes on filling.)
        let other = format!("oth{next:05}");
        r.a.write(&r.a2.message(&other, &other, b"meanwhile")).await;
        let first = r.a.next().await;
        let transient = first.tid() == tid;
        let answer = if transient { r.a.next().await } else { first };
        assert_eq!((answer.tid(), answer.status()), (other, Some(200)));
        assert_eq!(answer.target_path(), [A2]);
        let got = r.wb2.next().await;
        assert_eq!(got.body, b"meanwhile");
        r.wb2.ok(&r.b2, &got).await;
        if !transient {
            break tid;
        }
    };
    assert!(next * CHUNK >= QUEUE, "held back after {next} chunks");
    assert!(metric(&r.engine, "msrp_switch_queue_bytes") >= QUEUE as i64);

    // B1 reads again: every chunk in order, each answered.
    let (mut wb1, b1) = (r.wb1, r.b1.clone());
    wb1.resume();
    let reader = tokio::spawn(async move {
        let mut message = Vec::new();
        loop {
            let got = wb1.next().await;
            let range = got.head.byte_range().unwrap();
            assert_eq!(range.start as usize, message.len() + 1, "in order");
            message.extend_from_slice(&got.body);
            wb1.ok(&b1, &got).await;
            match got.flag {
                ContinuationFlag::More => {}
                ContinuationFlag::End => return message,
                ContinuationFlag::Abort => panic!("aborted at {}", message.len()),
            }
        }
    });
    let answer = r.a.next().await;
    assert_eq!((answer.tid(), answer.status()), (held, Some(200)));
    while next < chunks.len() {
        let (tid, frame) = send(next);
        r.a.write(&frame).await;
        next += 1;
        let answer = r.a.next().await;
        assert_eq!((answer.tid(), answer.status()), (tid, Some(200)));
    }
    let message = timeout(LIMIT, reader).await.unwrap().unwrap();
    assert_eq!(message.len(), TOTAL);
    assert_eq!(hash(&message), hash(&data));
    assert_eq!(metric(&r.engine, "msrp_switch_answers_withheld"), 0);
}

/// The other direction: B1 streams a 16 MiB message in 64 KiB chunks to A1,
/// and A reads nothing until B1 is held back (A1's 2 MiB queue is full). B2's
/// small message to A2 is still answered (A2's leg has room), and when A reads,
/// it comes right after what had left the switch by then (at most a write batch
/// and a chunk later), not behind the 2 MiB queued for A1: the shared
/// connection's writer takes one frame per leg in turn.
#[tokio::test]
async fn a_stream_in_one_session_does_not_starve_the_other() {
    const QUEUE: usize = 2 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    const TOTAL: usize = 16 * 1024 * 1024;
    let r = rig(1, QUEUE).await;
    let data = body(TOTAL, 4);
    let frames: Vec<Vec<u8>> = data
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, part)| {
            let flag = if (i + 1) * CHUNK >= TOTAL { '$' } else { '+' };
            let tid = format!("str{i:05}");
            SendChunk {
                start: i * CHUNK + 1,
                total: TOTAL,
                flag,
                ..r.b1.head(&tid, "stream01")
            }
            .encode(part)
        })
        .collect();
    let chunk_count = frames.len();
    let Rig {
        engine,
        a1,
        a2,
        b2,
        mut a,
        wb1,
        mut wb2,
        ..
    } = r;
    let mut wb1 = wb1;
    a.pause();
    let writer = tokio::spawn(async move {
        for frame in &frames {
            wb1.write(frame).await;
        }
        wb1
    });
    // A1's leg full: B1 is held back.
    timeout(LIMIT, async {
        while metric(&engine, "msrp_switch_queue_bytes") < QUEUE as i64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("A1's leg never filled");
    wb2.write(&b2.message("t6btwo00", "ping0001", b"ping"))
        .await;
    let answer = wb2.next().await;
    assert_eq!(
        (answer.tid(), answer.status()),
        ("t6btwo00".to_string(), Some(200))
    );
    // The ping is queued (its 200 went after its end-line): what the switch
    // has written by now, on every connection, bounds what A gets before it.
    let written = metric(&engine, "msrp_switch_sent_bytes_total") as usize;

    a.resume();
    let mut message = Vec::new();
    let mut ping_at = None;
    let mut frames_read = 0;
    while message.len() < TOTAL {
        let got = a.next().await;
        frames_read += 1;
        let message_id = got.head.message_id().unwrap().to_string();
        if message_id == "ping0001" {
            assert_eq!(got.target_path(), [A2]);
            ping_at = Some(message.len());
            a.ok(&a2, &got).await;
            continue;
        }
        assert_eq!(got.target_path(), [A1]);
        assert_eq!(
            got.head.byte_range().unwrap().start as usize,
            message.len() + 1
        );
        message.extend_from_slice(&got.body);
        a.ok(&a1, &got).await;
    }
    let ping_at = ping_at.expect("the ping never came");
    // Behind A1's whole queue it would have come at least QUEUE later.
    assert!(
        ping_at <= written + 256 * 1024 + CHUNK,
        "the ping came after {ping_at} bytes of session 1 ({frames_read} frames), \
         {written} bytes written when it was queued"
    );
    assert_eq!(hash(&message), hash(&data));
    let mut wb1 = timeout(LIMIT, writer).await.unwrap().unwrap();
    for i in 0..chunk_count {
        let answer = wb1.next().await;
        assert_eq!(
            (answer.tid(), answer.status()),
            (format!("str{i:05}"), Some(200))
        );
    }
}

/// The switch is the active side (`a=setup:passive`) for two participants of
/// colocated sessions behind one peer (an IBCF, say). For the second, whose media
/// say `a=connection:existing`, it sends its bind SEND on the connection it
/// opened for the first instead of dialling again, and answers `existing`;
/// then the second session's messages arrive on that connection.
#[tokio::test]
async fn the_active_switch_reuses_its_connection_to_the_same_hop() {
    let engine = start_engine(1, |_| {});
    let control = ControlServer::start(&engine, None).await;
    let mut client = control.client().await;
    let s1 = create_one_to_one(&mut client).await;
    let s2 = session_beside(&mut client, &s1).await.unwrap();
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = peer.local_addr().unwrap().port();
    let x1 = format!("msrp://127.0.0.1:{port}/xone1111;tcp");
    let x2 = format!("msrp://127.0.0.1:{port}/xtwo2222;tcp");
    let passive = |path: &str, connection: &str| {
        sdp_offer(path, "*").replace("a=setup:active", "a=setup:passive")
            + &format!("a=connection:{connection}\r\n")
    };

    let added_x1 = add_with_sdp(&mut client, &s1, passive(&x1, "new")).await;
    let (stream, _) = timeout(LIMIT, peer.accept()).await.unwrap().unwrap();
    let mut x = Wire::over(stream);
    let bind = x.next().await;
    assert_eq!(bind.target_path(), [x1.as_str()]);
    let x1_leg = Leg {
        me: x1.clone(),
        switch: switch_uri(&added_x1),
    };
    x.ok(&x1_leg, &bind).await;
    // The connection is X1's once the switch has the 200.
    let x1_id = added_x1.participant_id.parse().unwrap();
    timeout(LIMIT, async {
        while !engine.participant(x1_id).await.unwrap().bound {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("X1 never bound");

    let added_x2 = add_with_sdp(&mut client, &s2, passive(&x2, "existing")).await;
    let answer = &added_x2.local.as_ref().unwrap().sdp;
    assert!(answer.contains("a=connection:existing\r\n"), "{answer}");
    assert!(answer.contains("a=setup:active\r\n"), "{answer}");
    let bind = x.next().await;
    assert_eq!(
        (bind.method().as_deref(), bind.target_path()),
        (Some("SEND"), vec![x2.clone()])
    );
    assert_eq!(bind.sender_path(), [switch_uri(&added_x2)]);
    assert!(bind.body.is_empty());
    let x2_leg = Leg {
        me: x2.clone(),
        switch: switch_uri(&added_x2),
    };
    x.ok(&x2_leg, &bind).await;

    // Y, X2's peer, dials in; its message reaches X2 on the shared connection.
    const Y: &str = "msrp://127.0.0.1:40005/yyyy5555;tcp";
    let added_y = add_with_sdp(&mut client, &s2, sdp_offer(Y, "*")).await;
    let uri_y = MsrpUri::parse_str(&switch_uri(&added_y)).unwrap();
    let mut y = Peer::connect(engine.local_addr(), Y, &uri_y).await;
    y.bind().await;
    y.send_message("toxtwo01", b"over the shared connection")
        .await;
    let got = x.next().await;
    assert_eq!(got.target_path(), [x2.as_str()]);
    assert_eq!(got.sender_path(), [x2_leg.switch.as_str()]);
    assert_eq!(got.body, b"over the shared connection");
    assert_eq!(metric(&engine, "msrp_switch_connection_joins_total"), 1);
    assert_eq!(metric(&engine, "msrp_switch_connections_opened_total"), 1);
}
