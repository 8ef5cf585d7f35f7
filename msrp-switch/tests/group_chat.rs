//! Group chats (RFC 7701) end to end: a real engine on loopback, every session set
//! up through the gRPC control API (tonic client and server), and members that speak
//! MSRP over real TCP sockets. Each test waits for something observable (a frame, a
//! status, an event), bounded by [`LIMIT`], and checks wire bytes and body hashes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use control_api::pb;
use control_api::pb::switch_control_client::SwitchControlClient;
use msrp_proto::endpoint::EndpointConfig;
use msrp_switch::codec::{ByteRange, ContinuationFlag, FailureReport};
use msrp_test_support::wire::{SendChunk, bind_frame, response_frame};
use msrp_test_support::{
    ControlServer, Frame, FrameReader, LIMIT, Peer, TestEngine, hash, metric, start_engine,
    switch_uri,
};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_stream::StreamExt;
use tonic::Streaming;
use tonic::transport::Channel;

const ROOM: &str = "sip:room@chat.example.com";

/// How long "nothing arrived" is watched for where a later frame cannot prove it.
const QUIET: Duration = Duration::from_millis(300);

// ------------------------------------------------------------------ the rig

/// A running engine, its control API on 127.0.0.1:0, a tonic client and the event
/// stream (subscribed before anything happens); stops everything when dropped.
struct Rig {
    engine: TestEngine,
    client: SwitchControlClient<Channel>,
    events: Streaming<pb::Event>,
    _control: ControlServer,
}

async fn rig(shards: usize, tune: impl FnOnce(&mut EndpointConfig)) -> Rig {
    let engine = start_engine(shards, tune);
    let control = ControlServer::start(&engine, None).await;
    let mut client = control.client().await;
    let events = client
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    Rig {
        engine,
        client,
        events,
        _control: control,
    }
}

/// What a member offers in its SDP and who it is.
struct Spec {
    name: &'static str,
    im_address: String,
    privacy_alias: Option<String>,
    accept_types: Vec<String>,
    accept_wrapped_types: Vec<String>,
}

fn spec(name: &'static str) -> Spec {
    Spec {
        name,
        im_address: format!("sip:{name}@example.com"),
        privacy_alias: None,
        accept_types: vec!["message/cpim".into()],
        accept_wrapped_types: vec!["*".into()],
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Makes every member's own URI unique within the test binary.
static NEXT_MEMBER: AtomicU32 = AtomicU32::new(1);

impl Rig {
    async fn create(&mut self, kind: pb::SessionKind, policy: pb::Policy) -> String {
        self.client
            .create_session(pb::CreateSessionRequest {
                kind: kind as i32,
                group_identity: ROOM.into(),
                policy: Some(policy),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .session_id
    }

    async fn group(&mut self, policy: pb::Policy) -> String {
        self.create(pb::SessionKind::Group, policy).await
    }

    /// AddParticipant with structured media whose path is `path`.
    async fn add(
        &mut self,
        session: &str,
        spec: &Spec,
        path: &str,
        setup: pb::Setup,
    ) -> pb::AddParticipantResponse {
        self.client
            .add_participant(pb::AddParticipantRequest {
                session_id: session.into(),
                identity: Some(pb::Identity {
                    im_address: spec.im_address.clone(),
                    privacy_alias: spec.privacy_alias.clone().unwrap_or_default(),
                }),
                remote: Some(pb::RemoteMedia {
                    media: Some(pb::remote_media::Media::Structured(pb::Media {
                        path: vec![path.into()],
                        accept_types: spec.accept_types.clone(),
                        accept_wrapped_types: spec.accept_wrapped_types.clone(),
                        setup: setup as i32,
                        transport: pb::Transport::Tcp as i32,
                        ..pb::Media::default()
                    })),
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// Connects a member, adds it (its path names its real socket), binds it.
    async fn join(&mut self, session: &str, spec: Spec) -> Member {
        let stream = timeout(LIMIT, TcpStream::connect(self.engine.local_addr()))
            .await
            .unwrap()
            .unwrap();
        self.join_over(session, spec, stream).await
    }

    async fn join_over(&mut self, session: &str, spec: Spec, stream: TcpStream) -> Member {
        let n = NEXT_MEMBER.fetch_add(1, Ordering::Relaxed);
        let port = stream.local_addr().unwrap().port();
        let path = format!("msrp://127.0.0.1:{port}/{}{n:04};tcp", spec.name);
        // a=setup:active: the member connects, the switch is passive.
        let added = self.add(session, &spec, &path, pb::Setup::Active).await;
        let switch = switch_uri(&added);
        let mut member = Member::over(stream, spec, added.participant_id, path, switch);
        member.bind().await;
        member
    }

    async fn remove(&mut self, member: &Member) {
        self.client
            .remove_participant(pb::RemoveParticipantRequest {
                participant_id: member.id.clone(),
            })
            .await
            .unwrap();
    }

    /// The next event that `wanted` accepts, skipping others; every event skipped is
    /// shown to `skipped` first.
    async fn event_where(
        &mut self,
        mut wanted: impl FnMut(&pb::Event) -> bool,
        mut skipped: impl FnMut(&pb::Event),
    ) -> pb::Event {
        timeout(LIMIT, async {
            loop {
                let event = self
                    .events
                    .next()
                    .await
                    .expect("event stream ended")
                    .expect("event stream failed");
                if wanted(&event) {
                    return event;
                }
                skipped(&event);
            }
        })
        .await
        .expect("no such event in time")
    }

    /// The slow-consumer drops reported within `wait`: (participant, queued bytes).
    async fn drops_within(&mut self, wait: Duration) -> Vec<(String, u64)> {
        let mut drops = Vec::new();
        let _ = timeout(wait, async {
            while let Some(Ok(event)) = self.events.next().await {
                if let Some(pb::event::Kind::SlowConsumerDropped(d)) = event.kind {
                    drops.push((event.participant_id, d.queued_bytes));
                }
            }
        })
        .await;
        drops
    }
}

// ------------------------------------------------------------------ members

/// The sending half of a member's connection, with what its frames carry.
struct Tx {
    half: OwnedWriteHalf,
    /// The member's own URI: its From-Path.
    path: String,
    /// The switch's URI for it: its To-Path.
    switch: String,
    seq: u32,
}

impl Tx {
    fn next_tid(&mut self) -> String {
        self.seq += 1;
        format!("t{:07}", self.seq)
    }

    async fn write(&mut self, bytes: &[u8]) {
        timeout(LIMIT, self.half.write_all(bytes))
            .await
            .expect("write stalled")
            .unwrap();
    }

    /// One SEND chunk of `message/cpim` with `Byte-Range: start-end/total`.
    fn chunk(
        &self,
        tid: &str,
        message_id: &str,
        start: usize,
        total: usize,
        body: &[u8],
        flag: char,
    ) -> Vec<u8> {
        SendChunk {
            to_path: &self.switch,
            from_path: &self.path,
            tid,
            message_id,
            start,
            total,
            extra_headers: "",
            content_type: "message/cpim",
            flag,
        }
        .encode(body)
    }

    /// Writes a one-chunk message; returns its transaction id.
    async fn publish(&mut self, message_id: &str, body: &[u8]) -> String {
        let tid = self.next_tid();
        let frame = self.chunk(&tid, message_id, 1, body.len(), body, '$');
        self.write(&frame).await;
        tid
    }

    /// Answers a request hop by hop, if it asks for an answer (RFC 4975 §7.1.2);
    /// false if the connection is gone.
    async fn answer(&mut self, request: &Frame) -> bool {
        let owed = matches!(
            request.head.failure_report(),
            None | Some(FailureReport::Yes)
        );
        if !owed {
            return true;
        }
        let frame = response_frame(
            &request.tid(),
            "200 OK",
            &request.sender_path()[0],
            &self.path,
        );
        timeout(LIMIT, self.half.write_all(frame.as_bytes()))
            .await
            .expect("write stalled")
            .is_ok()
    }
}

/// A group member: who it is and its bound connection.
struct Member {
    /// Its participant id at the switch.
    id: String,
    /// The address its CPIM From must carry: its privacy alias if it has one.
    address: String,
    /// The authenticated IM address.
    im_address: String,
    rx: FrameReader<OwnedReadHalf>,
    tx: Tx,
    next_message: u32,
}

impl Member {
    fn over(stream: TcpStream, spec: Spec, id: String, path: String, switch: String) -> Member {
        stream.set_nodelay(true).unwrap();
        let (read, write) = stream.into_split();
        Member {
            id,
            address: spec
                .privacy_alias
                .clone()
                .unwrap_or_else(|| spec.im_address.clone()),
            im_address: spec.im_address,
            rx: FrameReader::new(read),
            tx: Tx {
                half: write,
                path,
                switch,
                seq: 0,
            },
            next_message: 0,
        }
    }

    fn path(&self) -> &str {
        &self.tx.path
    }

    fn switch(&self) -> &str {
        &self.tx.switch
    }

    /// The bodiless SEND that binds the connection (RFC 4975 §5.4), and its 200.
    async fn bind(&mut self) {
        let tid = self.tx.next_tid();
        let frame = bind_frame(&tid, &self.tx.switch, &self.tx.path);
        self.tx.write(frame.as_bytes()).await;
        assert_eq!(self.status_of(&tid).await, 200, "bind");
    }

    fn message_id(&mut self) -> String {
        self.next_message += 1;
        format!("msg{:05}", self.next_message)
    }

    /// Sends a one-chunk message; returns the status it was answered with.
    async fn send(&mut self, body: &[u8]) -> u16 {
        let message_id = self.message_id();
        let tid = self.tx.publish(&message_id, body).await;
        self.status_of(&tid).await
    }

    /// Sends a message that must be accepted (200).
    async fn say(&mut self, body: &[u8]) {
        assert_eq!(
            self.send(body).await,
            200,
            "{}",
            String::from_utf8_lossy(body)
        );
    }

    /// Reads the next frame, which must be the response to `tid`; its status.
    async fn status_of(&mut self, tid: &str) -> u16 {
        let answer = self.rx.read_frame().await;
        assert_eq!(
            answer.tid(),
            tid,
            "expected the response to {tid}, got {:?} {:?}",
            answer.head,
            String::from_utf8_lossy(&answer.body)
        );
        answer.status().expect("a response")
    }

    /// The next frame, which must be a SEND; answered 200.
    async fn receive(&mut self) -> Frame {
        let frame = self.rx.read_frame().await;
        assert_eq!(
            frame.method().as_deref(),
            Some("SEND"),
            "expected a SEND, got {:?}",
            frame.head
        );
        assert!(self.tx.answer(&frame).await, "connection closed");
        frame
    }

    /// The next frame is a SEND carrying exactly `body`, in one chunk.
    async fn receives(&mut self, body: &[u8]) -> Frame {
        let frame = self.receive().await;
        assert_eq!(
            (hash(&frame.body), frame.flag),
            (hash(body), ContinuationFlag::End),
            "expected {:?}, got {:?}",
            String::from_utf8_lossy(body),
            String::from_utf8_lossy(&frame.body)
        );
        frame
    }

    /// Nothing arrives within [`QUIET`].
    async fn hears_nothing(&mut self) {
        let early = timeout(QUIET, self.rx.try_read_frame()).await;
        if let Ok(frame) = early {
            panic!("expected nothing, got {frame:?}");
        }
    }
}

/// A Message/CPIM body (RFC 3862): the CPIM headers, the MIME headers, the payload.
fn cpim(from: &str, to: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut body =
        format!("From: <{from}>\r\nTo: <{to}>\r\n\r\nContent-Type: {content_type}\r\n\r\n")
            .into_bytes();
    body.extend_from_slice(payload);
    body
}

fn text(from: &Member, to: &str, payload: &str) -> Vec<u8> {
    cpim(&from.address, to, "text/plain", payload.as_bytes())
}

fn byte_range(frame: &Frame) -> ByteRange {
    frame.head.byte_range().expect("a Byte-Range")
}

fn policy() -> pb::Policy {
    pb::Policy::default()
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn a_public_message_reaches_the_four_others_with_the_same_body_and_their_own_paths() {
    // Two shards: some members' connections are handed to the session's shard.
    let mut rig = rig(2, |_| {}).await;
    let session = rig.group(policy()).await;
    let mut m = Vec::new();
    for name in ["alice", "bob", "carol", "dave", "erin"] {
        m.push(rig.join(&session, spec(name)).await);
    }

    let body = text(&m[0], ROOM, "hello, room of five");
    let message_id = m[0].message_id();
    let tid = m[0].tx.publish(&message_id, &body).await;
    assert_eq!(m[0].status_of(&tid).await, 200);
    for member in &mut m[1..] {
        let got = member.receives(&body).await;
        assert_eq!(got.body.len(), body.len());
        assert_eq!(got.target_path(), [member.path()], "its own To-Path");
        assert_eq!(got.sender_path(), [member.switch()], "the switch's URI");
        assert_eq!(got.head.content_type(), Some("message/cpim"));
        assert_eq!(
            byte_range(&got).to_string(),
            format!("1-{0}/{0}", body.len())
        );
        let leg_id = got.head.message_id().unwrap();
        assert_ne!(
            leg_id.as_str(),
            message_id,
            "a Message-ID of the switch's own"
        );
    }
    // Nothing came back to the sender: the first thing alice gets is bob's reply.
    let reply = text(&m[1], ROOM, "hi alice");
    m[1].say(&reply).await;
    m[0].receives(&reply).await;
    for member in &mut m[2..] {
        member.receives(&reply).await;
    }
}

#[tokio::test]
async fn a_forged_cpim_from_gets_403_and_reaches_nobody() {
    let mut rig = rig(1, |_| {}).await;
    let session = rig.group(policy()).await;
    let mut m = Vec::new();
    for name in ["alice", "bob", "carol"] {
        m.push(rig.join(&session, spec(name)).await);
    }
    let forged = cpim(
        "sip:bob@example.com",
        ROOM,
        "text/plain",
        b"I am bob, honest",
    );
    assert_eq!(m[0].send(&forged).await, 403);
    // A From naming nobody in the room, and no From at all: 403 as well.
    let stranger = cpim("sip:mallory@evil.example", ROOM, "text/plain", b"hi");
    assert_eq!(m[0].send(&stranger).await, 403);
    let anonymous = format!("To: <{ROOM}>\r\n\r\nContent-Type: text/plain\r\n\r\nhi");
    assert_eq!(m[0].send(anonymous.as_bytes()).await, 403);

    let genuine = text(&m[0], ROOM, "this one is really from alice");
    m[0].say(&genuine).await;
    // The first thing the others get is the genuine message.
    m[1].receives(&genuine).await;
    m[2].receives(&genuine).await;
}

#[tokio::test]
async fn a_member_with_a_privacy_alias_speaks_as_the_alias_and_not_as_itself() {
    const ALIAS: &str = "sip:anonymous-7f3a@anonymous.invalid";
    let mut rig = rig(1, |_| {}).await;
    let session = rig
        .group(pb::Policy {
            private_messages: true,
            ..policy()
        })
        .await;
    let mut alice = rig.join(&session, spec("alice")).await;
    let mut bob = rig.join(&session, spec("bob")).await;
    let mut carol = rig
        .join(
            &session,
            Spec {
                privacy_alias: Some(ALIAS.into()),
                ..spec("carol")
            },
        )
        .await;
    assert_eq!(carol.address, ALIAS);

    let as_alias = text(&carol, ROOM, "who am I?");
    carol.say(&as_alias).await;
    alice.receives(&as_alias).await;
    bob.receives(&as_alias).await;

    // Her real address must not show: 403, delivered to nobody.
    let unmasked = cpim(&carol.im_address, ROOM, "text/plain", b"it is me, carol");
    assert_eq!(carol.send(&unmasked).await, 403);

    // A private message reaches her through her alias, not her real address.
    let to_alias = text(&bob, ALIAS, "psst, anonymous");
    bob.say(&to_alias).await;
    carol.receives(&to_alias).await;
    let to_real = text(&bob, &carol.im_address, "psst, carol");
    assert_eq!(bob.send(&to_real).await, 404);

    let after = text(&alice, ROOM, "after the refusals");
    alice.say(&after).await;
    bob.receives(&after).await;
    carol.receives(&after).await;
}

#[tokio::test]
async fn a_private_message_reaches_exactly_one_unknown_gets_404_and_428_when_not_offered() {
    let mut rig = rig(1, |_| {}).await;
    let session = rig
        .group(pb::Policy {
            private_messages: true,
            ..policy()
        })
        .await;
    let mut m = Vec::new();
    for name in ["alice", "bob", "carol", "dave"] {
        m.push(rig.join(&session, spec(name)).await);
    }
    let carol = m[2].address.clone();
    let private = text(&m[0], &carol, "for carol only");
    m[0].say(&private).await;
    m[2].receives(&private).await;

    let unknown = text(&m[0], "sip:nobody@example.com", "anyone?");
    assert_eq!(m[0].send(&unknown).await, 404);

    // bob and dave got neither: their first frame is the next public message, and
    // carol got nothing more than her private one.
    let public = text(&m[0], ROOM, "for everyone");
    m[0].say(&public).await;
    for member in &mut m[1..] {
        member.receives(&public).await;
    }

    // A room without private messages: 428, yet an IMDN still reaches its one
    // recipient (RFC 5438 through a switch).
    let session = rig.group(policy()).await;
    let mut alice = rig.join(&session, spec("alice")).await;
    let mut bob = rig.join(&session, spec("bob")).await;
    let mut carol = rig.join(&session, spec("carol")).await;
    let private = text(&alice, &bob.address, "psst");
    assert_eq!(alice.send(&private).await, 428);
    let imdn = cpim(
        &alice.address,
        &bob.address,
        "message/imdn+xml",
        b"<imdn><delivery-notification/></imdn>",
    );
    alice.say(&imdn).await;
    bob.receives(&imdn).await;
    let public = text(&alice, ROOM, "public again");
    alice.say(&public).await;
    bob.receives(&public).await;
    carol.receives(&public).await;
}

#[tokio::test]
async fn a_member_whose_accept_wrapped_types_lack_the_inner_type_is_skipped() {
    let mut rig = rig(1, |_| {}).await;
    let session = rig.group(policy()).await;
    let mut alice = rig.join(&session, spec("alice")).await;
    // Takes anything inside CPIM.
    let mut bob = rig.join(&session, spec("bob")).await;
    // Takes only text inside CPIM.
    let mut carol = rig
        .join(
            &session,
            Spec {
                accept_wrapped_types: strings(&["text/plain"]),
                ..spec("carol")
            },
        )
        .await;
    // Takes only images inside CPIM (a type/* entry).
    let mut dave = rig
        .join(
            &session,
            Spec {
                accept_wrapped_types: strings(&["image/*"]),
                ..spec("dave")
            },
        )
        .await;

    let png = cpim(&alice.address, ROOM, "image/png", b"\x89PNG\r\n\x1a\n....");
    alice.say(&png).await;
    bob.receives(&png).await;
    dave.receives(&png).await;

    let hello = text(&alice, ROOM, "plain words");
    alice.say(&hello).await;
    bob.receives(&hello).await;
    // carol's first message is the text one: the PNG was never sent to her.
    carol.receives(&hello).await;

    let jpeg = cpim(&alice.address, ROOM, "image/jpeg", b"\xff\xd8\xff....");
    alice.say(&jpeg).await;
    bob.receives(&jpeg).await;
    // dave's next is the JPEG: the text was never sent to him.
    dave.receives(&jpeg).await;
    carol.hears_nothing().await;
}

// Readers on their own threads, as separate clients are: on one thread the
// sender's task would write its burst before any reader ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_5_mib_message_in_64_kib_chunks_streams_to_every_member_intact() {
    let rig = rig(1, |_| {}).await;
    stream_to_members(
        rig,
        5 * 1024 * 1024,
        &["alice", "bob", "carol", "dave", "erin"],
        Duration::ZERO,
    )
    .await;
}

/// Issue 13's file transfer: 20 MiB in 64 KiB chunks to three members who keep
/// reading, each slower than the sender (10 ms per chunk: over 3 s for the
/// message, three times the 1 s grace period). With the default drop policy none
/// is a slow consumer: they pace the sender, and each gets every byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_20_mib_file_reaches_three_members_who_keep_reading_slowly() {
    let rig = rig(1, |config| {
        config.slow_consumer_grace = Duration::from_secs(1);
    })
    .await;
    stream_to_members(
        rig,
        20 * 1024 * 1024,
        &["alice", "bob", "carol", "dave"],
        Duration::from_millis(10),
    )
    .await;
}

/// The first of `names` sends a `payload_len`-byte message in 64 KiB chunks; each
/// other member reads it, pausing `pause` after each chunk, and must get it whole
/// (contiguous ranges, same hash) and never be dropped.
async fn stream_to_members(
    mut rig: Rig,
    payload_len: usize,
    names: &[&'static str],
    pause: Duration,
) {
    const CHUNK: usize = 64 * 1024;
    let session = rig.group(policy()).await;
    let mut m = Vec::new();
    for name in names {
        m.push(rig.join(&session, spec(name)).await);
    }
    let payload: Vec<u8> = (0..payload_len).map(|i| (i * 31 % 251) as u8).collect();
    let body = cpim(&m[0].address, ROOM, "application/octet-stream", &payload);
    let total = body.len();
    let chunks: Vec<&[u8]> = body.chunks(CHUNK).collect();
    let message_id = "bigmsg000001";

    // The first chunk reaches everybody before the second is written: streamed,
    // not reassembled at the switch.
    let mut sender = m.remove(0);
    let first = sender
        .tx
        .chunk("big00000", message_id, 1, total, chunks[0], '+');
    sender.tx.write(&first).await;
    assert_eq!(sender.status_of("big00000").await, 200);
    let mut received = Vec::new();
    for member in &mut m {
        let got = member.receive().await;
        assert_eq!(got.flag, ContinuationFlag::More);
        assert_eq!(got.body, chunks[0]);
        assert_eq!(
            byte_range(&got).to_string(),
            format!("1-{CHUNK}/{total}"),
            "the first chunk's range"
        );
        received.push(got);
    }

    let frames: Vec<Vec<u8>> = chunks
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, part)| {
            let flag = if i + 1 == chunks.len() { '$' } else { '+' };
            sender.tx.chunk(
                &format!("big{i:05}"),
                message_id,
                i * CHUNK + 1,
                total,
                part,
                flag,
            )
        })
        .collect();
    let writer = tokio::spawn(async move {
        for frame in &frames {
            sender.tx.write(frame).await;
        }
        for i in 1..=frames.len() {
            assert_eq!(sender.status_of(&format!("big{i:05}")).await, 200);
        }
    });
    let readers: Vec<_> = m
        .into_iter()
        .zip(received)
        .map(|(mut member, first)| {
            tokio::spawn(async move {
                let leg_message_id = first.head.message_id().unwrap();
                let mut message = first.body;
                let mut chunks = 1;
                loop {
                    let Some(got) = timeout(LIMIT, member.rx.try_read_frame()).await.unwrap()
                    else {
                        return Err(format!(
                            "{}: connection closed after {} of {total} bytes",
                            member.im_address,
                            message.len()
                        ));
                    };
                    assert_eq!(got.head.message_id(), Some(leg_message_id));
                    let range = byte_range(&got);
                    assert_eq!(range.start as usize, message.len() + 1, "contiguous");
                    assert_eq!(
                        range.end,
                        Some((message.len() + got.body.len()) as u64),
                        "the range covers the chunk's body"
                    );
                    assert_eq!(range.total, Some(total as u64));
                    assert_eq!(got.target_path(), [member.path()]);
                    message.extend_from_slice(&got.body);
                    chunks += 1;
                    if !member.tx.answer(&got).await {
                        return Err(format!(
                            "{}: connection closed after {} of {total} bytes",
                            member.im_address,
                            message.len()
                        ));
                    }
                    match got.flag {
                        ContinuationFlag::More => {}
                        ContinuationFlag::End => break,
                        ContinuationFlag::Abort => panic!("aborted after {} bytes", message.len()),
                    }
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                }
                Ok((message.len(), hash(&message), chunks))
            })
        })
        .collect();
    let mut cut_short = Vec::new();
    for reader in readers {
        match timeout(LIMIT, reader).await.unwrap().unwrap() {
            Ok((len, digest, chunks)) => {
                assert_eq!(len, total);
                assert_eq!(digest, hash(&body));
                assert!(chunks >= 80, "{chunks} chunks");
            }
            Err(why) => cut_short.push(why),
        }
    }
    if !cut_short.is_empty() {
        let drops = rig.drops_within(Duration::from_secs(1)).await;
        panic!("{cut_short:?}; slow-consumer drops (participant, queued bytes): {drops:?}");
    }
    timeout(LIMIT, writer).await.unwrap().unwrap();
}

#[tokio::test]
async fn nicknames_get_200_then_425_for_the_same_in_another_case_and_424_unquoted() {
    let mut rig = rig(1, |_| {}).await;
    let session = rig
        .group(pb::Policy {
            nicknames: true,
            ..policy()
        })
        .await;
    let mut alice = rig.join(&session, spec("alice")).await;
    let mut bob = rig.join(&session, spec("bob")).await;
    let ask = async |member: &mut Member, value: &str| {
        let tid = member.tx.next_tid();
        let frame = format!(
            "MSRP {tid} NICKNAME\r\nTo-Path: {}\r\nFrom-Path: {}\r\nUse-Nickname: {value}\r\n\
             -------{tid}$\r\n",
            member.switch(),
            member.path()
        );
        member.tx.write(frame.as_bytes()).await;
        let answer = member.rx.read_frame().await;
        assert_eq!(answer.tid(), tid);
        assert_eq!(answer.target_path(), [member.path()]);
        answer.status().unwrap()
    };
    assert_eq!(ask(&mut alice, "\"Alice\"").await, 200);
    let nickname_set = |e: &pb::Event| matches!(e.kind, Some(pb::event::Kind::NicknameSet(_)));
    let event = rig.event_where(nickname_set, |_| {}).await;
    assert_eq!(
        (event.session_id.as_str(), event.participant_id.as_str()),
        (session.as_str(), alice.id.as_str())
    );
    assert_eq!(
        event.kind,
        Some(pb::event::Kind::NicknameSet(pb::NicknameSet {
            nickname: "Alice".into()
        }))
    );

    assert_eq!(ask(&mut bob, "\"ALICE\"").await, 425);
    assert_eq!(ask(&mut bob, "Bobby").await, 424);
    assert_eq!(ask(&mut bob, "\"Bobby\"").await, 200);
    // The next nickname event is bob's: the refused ones set nothing.
    let event = rig.event_where(nickname_set, |_| {}).await;
    assert_eq!(event.participant_id, bob.id);
    assert_eq!(
        event.kind,
        Some(pb::event::Kind::NicknameSet(pb::NicknameSet {
            nickname: "Bobby".into()
        }))
    );

    // A room that offers no nicknames: 403.
    let plain = rig.group(policy()).await;
    let mut carol = rig.join(&plain, spec("carol")).await;
    assert_eq!(ask(&mut carol, "\"Carol\"").await, 403);
}

/// A sender, nine readers and one reader that binds and never reads again; 1,000
/// messages of 8 KiB (8 MB: more than the kernel's socket buffers absorb for the
/// stalled one), written as fast as the sender can.
// Readers on their own threads, as separate clients are: on one thread the
// sender's task would write its burst before any reader ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_reader_is_dropped_and_the_nine_others_get_all_1000_messages() {
    const MESSAGES: usize = 1000;
    const SIZE: usize = 8 * 1024;
    const QUEUE: usize = 64 * 1024;
    let mut rig = rig(1, |c| {
        c.queue_bytes = QUEUE;
        c.slow_consumer_grace = Duration::from_secs(1);
    })
    .await;
    let session = rig.group(policy()).await;
    let sender = rig.join(&session, spec("alice")).await;
    let mut readers = Vec::new();
    for name in ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"] {
        readers.push(rig.join(&session, spec(name)).await);
    }
    // It binds, then never reads again. A small receive buffer keeps the kernel from
    // soaking up what the switch has for it.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = timeout(LIMIT, socket.connect(rig.engine.local_addr()))
        .await
        .unwrap()
        .unwrap();
    let mut stalled = rig.join_over(&session, spec("stalled"), stream).await;
    let names: Vec<(String, String)> = readers
        .iter()
        .map(|r| (r.id.clone(), r.im_address.clone()))
        .chain([(stalled.id.clone(), stalled.im_address.clone())])
        .collect();

    let body_of = |i: usize| -> Vec<u8> {
        let payload: Vec<u8> = (0..SIZE).map(|b| ((b * 7 + i * 13) % 256) as u8).collect();
        cpim(
            "sip:alice@example.com",
            ROOM,
            "application/octet-stream",
            &payload,
        )
    };
    let expected: Arc<Vec<u64>> = Arc::new((0..MESSAGES).map(|i| hash(&body_of(i))).collect());

    // Each reader reads and checks every message; it reports how many it got.
    let mut tasks = Vec::new();
    for mut reader in readers {
        let expected = Arc::clone(&expected);
        tasks.push(tokio::spawn(async move {
            for (i, want) in expected.iter().enumerate() {
                let Some(got) = timeout(LIMIT, reader.rx.try_read_frame()).await.unwrap() else {
                    return (reader.im_address, i);
                };
                assert_eq!(got.method().as_deref(), Some("SEND"));
                assert_eq!(hash(&got.body), *want, "message {i}");
                assert_eq!(got.flag, ContinuationFlag::End);
                if !reader.tx.answer(&got).await {
                    return (reader.im_address, i + 1);
                }
            }
            (reader.im_address, MESSAGES)
        }));
    }
    let Member {
        rx: mut sender_rx,
        tx: mut sender_tx,
        ..
    } = sender;
    let answers = tokio::spawn(async move {
        for i in 1..=MESSAGES {
            let answer = sender_rx.read_frame().await;
            // The bind took t0000001.
            assert_eq!(
                (answer.tid(), answer.status()),
                (format!("t{:07}", i + 1), Some(200)),
                "message {i}"
            );
        }
    });
    let send_all = async {
        for i in 0..MESSAGES {
            sender_tx
                .publish(&format!("flood{i:05}"), &body_of(i))
                .await;
        }
    };
    timeout(LIMIT, send_all).await.expect("the sender stalled");
    let mut got = Vec::new();
    for task in tasks {
        got.push(timeout(LIMIT, task).await.unwrap().unwrap());
    }
    timeout(LIMIT, answers).await.unwrap().unwrap();

    // The stalled one's drop, and every other drop reported before it or soon
    // after it, named.
    let mut drops = Vec::new();
    let stalled_id = stalled.id.clone();
    let event = rig
        .event_where(
            |e| e.participant_id == stalled_id && is_drop(e),
            |e| {
                if let Some(pb::event::Kind::SlowConsumerDropped(d)) = &e.kind {
                    drops.push((e.participant_id.clone(), d.queued_bytes));
                }
            },
        )
        .await;
    drops.extend(rig.drops_within(QUIET).await);
    let who = |id: &str| {
        names
            .iter()
            .find(|(p, _)| p == id)
            .map_or(id.to_owned(), |(_, name)| name.clone())
    };
    let short: Vec<&(String, usize)> = got.iter().filter(|(_, n)| *n < MESSAGES).collect();
    assert!(
        short.is_empty() && drops.is_empty(),
        "live readers cut short (address, messages received): {short:?}; live readers \
         dropped as slow consumers (address, queued bytes): {:?}",
        drops
            .iter()
            .map(|(id, queued)| (who(id), queued))
            .collect::<Vec<_>>()
    );
    let Some(pb::event::Kind::SlowConsumerDropped(dropped)) = event.kind else {
        unreachable!()
    };
    assert!(dropped.queued_bytes >= QUEUE as u64, "{dropped:?}");
    assert!(
        stalled.rx.closed_within(Duration::from_secs(5)).await,
        "the stalled reader's connection stayed open"
    );
}

fn is_drop(event: &pb::Event) -> bool {
    matches!(event.kind, Some(pb::event::Kind::SlowConsumerDropped(_)))
}

#[tokio::test]
async fn members_who_leave_join_late_or_rejoin_get_exactly_what_is_sent_while_bound() {
    let mut rig = rig(1, |_| {}).await;
    let session = rig.group(policy()).await;
    let mut alice = rig.join(&session, spec("alice")).await;
    let mut bob = rig.join(&session, spec("bob")).await;
    let mut carol = rig.join(&session, spec("carol")).await;

    let m1 = text(&alice, ROOM, "m1: all three here");
    alice.say(&m1).await;
    bob.receives(&m1).await;
    carol.receives(&m1).await;

    // carol leaves: her connection closes, she gets nothing more.
    rig.remove(&carol).await;
    assert!(carol.rx.closed_within(Duration::from_secs(5)).await);
    let m2 = text(&alice, ROOM, "m2: carol has left");
    alice.say(&m2).await;
    bob.receives(&m2).await;

    // dave is added, then m3 is sent before his connection binds; he gets only m4.
    let n = NEXT_MEMBER.fetch_add(1, Ordering::Relaxed);
    let stream = TcpStream::connect(rig.engine.local_addr()).await.unwrap();
    let dave_path = format!(
        "msrp://127.0.0.1:{}/dave{n:04};tcp",
        stream.local_addr().unwrap().port()
    );
    let added = rig
        .add(&session, &spec("dave"), &dave_path, pb::Setup::Active)
        .await;
    let mut dave = Member::over(
        stream,
        spec("dave"),
        added.participant_id.clone(),
        dave_path,
        switch_uri(&added),
    );
    let m3 = text(&alice, ROOM, "m3: dave is added but not bound");
    alice.say(&m3).await;
    bob.receives(&m3).await;
    dave.bind().await;
    let m4 = text(&alice, ROOM, "m4: dave is bound");
    alice.say(&m4).await;
    bob.receives(&m4).await;
    dave.receives(&m4).await;

    // carol comes back: a new AddParticipant, a new connection.
    let mut carol = rig.join(&session, spec("carol")).await;
    let m5 = text(&alice, ROOM, "m5: carol is back");
    alice.say(&m5).await;
    bob.receives(&m5).await;
    dave.receives(&m5).await;
    carol.receives(&m5).await;
    let m6 = text(&carol, ROOM, "m6: carol speaks again");
    carol.say(&m6).await;
    alice.receives(&m6).await;
    bob.receives(&m6).await;
    dave.receives(&m6).await;
}

#[tokio::test]
async fn two_chained_switches_carry_a_one_to_one_users_messages_into_a_group_and_back() {
    chained_switches(false).await;
}

#[tokio::test]
async fn a_chained_uplink_moved_from_another_peer_binds_to_the_new_switch() {
    chained_switches(true).await;
}

/// Switch A carries a 1:1 session between user U and an uplink to switch B, where
/// U's leg is a member of a room. `moved`: the uplink was connected to (and bound
/// by) another MSRP peer before ModifyParticipant points it at B.
async fn chained_switches(moved: bool) {
    const URSULA: &str = "sip:ursula@example.com";
    let mut a = rig(1, |_| {}).await;
    let mut b = rig(1, |_| {}).await;

    // Switch A: a 1:1 session between user U and an uplink leg towards switch B.
    // A's SDP offer for the uplink must carry A's URI before B has answered, so the
    // uplink is added with a placeholder path first.
    let one = a.create(pb::SessionKind::OneToOne, policy()).await;
    let u_stream = TcpStream::connect(a.engine.local_addr()).await.unwrap();
    let u_path = format!(
        "msrp://127.0.0.1:{}/ursula0001;tcp",
        u_stream.local_addr().unwrap().port()
    );
    let u_spec = Spec {
        im_address: URSULA.into(),
        ..spec("ursula")
    };
    let added_u = a.add(&one, &u_spec, &u_path, pb::Setup::Active).await;
    let mut old_peer = None;
    let uplink = if moved {
        // The uplink first goes to another peer (A active): it binds there.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let old_path = format!(
            "msrp://127.0.0.1:{}/oldpeer0001;tcp",
            listener.local_addr().unwrap().port()
        );
        let uplink = a
            .add(&one, &spec("uplink"), &old_path, pb::Setup::Passive)
            .await;
        let (stream, _) = timeout(LIMIT, listener.accept()).await.unwrap().unwrap();
        let mut peer = Peer::over(stream, &old_path, &switch_uri(&uplink));
        let bind = peer.read_frame().await;
        assert_eq!(bind.method().as_deref(), Some("SEND"));
        peer.answer(&bind, "200 OK").await;
        let bound = a
            .event_where(
                |e| {
                    e.participant_id == uplink.participant_id
                        && matches!(e.kind, Some(pb::event::Kind::ParticipantBound(_)))
                },
                |_| {},
            )
            .await;
        assert_eq!(bound.session_id, one);
        old_peer = Some(peer);
        uplink
    } else {
        // Nothing to connect to yet: A passive until B answers.
        let placeholder = "msrp://127.0.0.1:9/pending0001;tcp";
        a.add(&one, &spec("uplink"), placeholder, pb::Setup::Active)
            .await
    };
    let a_uplink_uri = switch_uri(&uplink);

    // Switch B: the room. U's leg comes from switch A (A connects: B passive), its
    // path is A's URI for the uplink; bob and carol are local members.
    let room = b.group(policy()).await;
    let u_leg = b
        .add(&room, &u_spec, &a_uplink_uri, pb::Setup::Active)
        .await;
    let b_u_leg_uri = switch_uri(&u_leg);
    let mut bob = b.join(&room, spec("bob")).await;
    let mut carol = b.join(&room, spec("carol")).await;

    // B's answer arrives at A: the uplink's path is B's URI, B is passive, so A
    // connects out and binds with a bodiless SEND (RFC 4975 §5.4).
    a.client
        .modify_participant(pb::ModifyParticipantRequest {
            participant_id: uplink.participant_id.clone(),
            remote: Some(pb::RemoteMedia {
                media: Some(pb::remote_media::Media::Structured(pb::Media {
                    path: vec![b_u_leg_uri.clone()],
                    accept_types: strings(&["message/cpim"]),
                    accept_wrapped_types: strings(&["*"]),
                    setup: pb::Setup::Passive as i32,
                    transport: pb::Transport::Tcp as i32,
                    ..pb::Media::default()
                })),
            }),
            commit: true,
        })
        .await
        .unwrap();
    let bound = timeout(
        Duration::from_secs(5),
        b.event_where(
            |e| {
                e.participant_id == u_leg.participant_id
                    && matches!(e.kind, Some(pb::event::Kind::ParticipantBound(_)))
            },
            |_| {},
        ),
    )
    .await;
    assert!(
        bound.is_ok(),
        "switch A never bound to switch B after ModifyParticipant gave the uplink B's \
         path with a=setup:passive (A active): connections A opened: {}; A's uplink \
         participant: {:?}",
        metric(&a.engine, "msrp_switch_connections_opened_total"),
        a.client
            .get_session(pb::GetSessionRequest {
                session_id: one.clone()
            })
            .await
            .unwrap()
            .into_inner()
            .participants
            .iter()
            .find(|p| p.participant_id == uplink.participant_id)
    );

    if let Some(mut peer) = old_peer {
        assert!(
            peer.closed_within(Duration::from_secs(5)).await,
            "A kept its connection to the uplink's old path"
        );
    }

    // U binds to A and speaks to the room.
    let mut ursula = Member::over(
        u_stream,
        u_spec,
        added_u.participant_id.clone(),
        u_path,
        switch_uri(&added_u),
    );
    ursula.bind().await;
    let hello = cpim(URSULA, ROOM, "text/plain", b"hello from switch A");
    ursula.say(&hello).await;
    let got = bob.receives(&hello).await;
    assert_eq!(got.sender_path(), [bob.switch()]);
    let got = carol.receives(&hello).await;
    assert_eq!(got.sender_path(), [carol.switch()]);

    // And the room answers her through both switches.
    let reply = text(&bob, ROOM, "hello, ursula");
    bob.say(&reply).await;
    carol.receives(&reply).await;
    let got = ursula.receives(&reply).await;
    assert_eq!(got.target_path(), [ursula.path()]);
    assert_eq!(got.sender_path(), [ursula.switch()]);
}
