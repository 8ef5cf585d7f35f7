//! Scenarios of the sans-IO [`Endpoint`] on a fake clock (`t0` plus durations), no
//! sockets: transaction timeouts and error responses turned into REPORTs, a chunk
//! interrupted for a frame waiting on its leg and resumed, and the bind timeout.
//!
//! Each side is a small peer: it writes literal frames into the switch and decodes
//! what the switch queues for its connection with the crate's decoder.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use msrp_proto::codec::{
    ContinuationFlag, Decoder, FailureReport, HeaderName, Item, Limits, MsrpUri,
};
use msrp_proto::endpoint::{Action, Endpoint, EndpointConfig, Readiness};
use msrp_proto::ids::{ConnId, WireIds};
use msrp_proto::media::{RemoteMedia, SetupRole};
use msrp_proto::session::SessionKind;
use msrp_proto::stats::Stats as ShardMetrics;

#[path = "support/frames.rs"]
mod frames;

use frames::{Frame, FrameReader};

const A: &str = "msrp://127.0.0.1:40001/aaaa1111;tcp";
const B: &str = "msrp://127.0.0.1:40002/bbbb2222;tcp";

/// A participant's endpoint: its URI, the switch's URI for it, its connection.
struct Peer {
    me: &'static str,
    switch_uri: MsrpUri,
    conn: ConnId,
    /// The connection's read buffer: what the switch has not consumed stays here.
    input: RefCell<BytesMut>,
    /// What the switch writes to it, decoded.
    reader: FrameReader,
}

impl Peer {
    /// Everything the switch queued for this peer, decoded: the whole frames (a frame
    /// still streaming stays in `reader.partial`).
    fn read(&mut self, switch: &mut Endpoint) -> Vec<Frame> {
        let mut pieces = Vec::new();
        switch.take_output(self.conn, &mut pieces, usize::MAX);
        self.reader.decode(&pieces.concat())
    }

    /// Body bytes the switch has written of the frame still streaming to this peer
    /// (including the few this peer's own decoder holds back).
    fn partial_body(&self) -> usize {
        self.reader.partial_body()
    }

    /// A request head from this peer (no blank line: add it if a body follows).
    fn head(&self, tid: &str, method: &str, headers: &str) -> String {
        format!(
            "MSRP {tid} {method}\r\nTo-Path: {}\r\nFrom-Path: {}\r\n{headers}",
            self.switch_uri, self.me
        )
    }

    /// A whole SEND chunk from this peer.
    fn send(&self, tid: &str, headers: &str, body: &[u8], flag: char) -> Vec<u8> {
        let mut frame = self.head(tid, "SEND", headers).into_bytes();
        frame.extend_from_slice(b"Content-Type: text/plain\r\n\r\n");
        frame.extend_from_slice(body);
        frame.extend_from_slice(format!("\r\n-------{tid}{flag}\r\n").as_bytes());
        frame
    }

    /// This peer's response to a request it read (hop by hop: To-Path is the
    /// request's first From-Path URI).
    fn answer(&self, request: &Frame, status: &str) -> Vec<u8> {
        let tid = request.tid();
        format!(
            "MSRP {tid} {status}\r\nTo-Path: {}\r\nFrom-Path: {}\r\n-------{tid}$\r\n",
            request.sender_path()[0],
            self.me
        )
        .into_bytes()
    }
}

/// `bytes` arrive on the peer's connection (one socket read).
fn feed(switch: &mut Endpoint, peer: &Peer, bytes: &[u8], now: Instant) {
    let mut input = peer.input.borrow_mut();
    input.extend_from_slice(bytes);
    switch.handle_input(peer.conn, &mut input, now);
    // Only body bytes that could begin an end-line may wait for the next read.
    assert_eq!(input.len(), HELD_BACK, "input left unread");
}

fn remote(path: &str) -> RemoteMedia {
    RemoteMedia {
        path: vec![MsrpUri::parse_str(path).unwrap()],
        accept_types: vec!["*".into()],
        accept_wrapped_types: Vec::new(),
        max_size: None,
        setup: SetupRole::Passive,
        cema: false,
        ..Default::default()
    }
}

/// A 1:1 session with A and B bound at `t0` by bodiless SENDs, their 200s read.
fn bound_pair(config: EndpointConfig) -> (Endpoint, Peer, Peer, Instant) {
    let (switch, a, b, t0, _) = bound_pair_with_stats(config);
    (switch, a, b, t0)
}

/// [`bound_pair`], with the endpoint's counters.
fn bound_pair_with_stats(
    config: EndpointConfig,
) -> (Endpoint, Peer, Peer, Instant, Arc<ShardMetrics>) {
    let (mut switch, [mut a, mut b], t0, metrics) = unbound_pair(config);
    for peer in [&mut a, &mut b] {
        bind(&mut switch, peer, t0);
    }
    (switch, a, b, t0, metrics)
}

/// A 1:1 session with A and B added and their connections accepted, not yet bound.
fn unbound_pair(config: EndpointConfig) -> (Endpoint, [Peer; 2], Instant, Arc<ShardMetrics>) {
    let t0 = Instant::now();
    let metrics = Arc::new(ShardMetrics::default());
    let mut switch = Endpoint::new(config, 0, WireIds::seeded(11), metrics.clone(), t0);
    let session = switch.create_session(SessionKind::OneToOne);
    let peers = [A, B].map(|me| {
        let info = switch.add_participant(session, remote(me), t0).unwrap();
        Peer {
            me,
            switch_uri: info.local_uri,
            conn: switch.open_connection(t0),
            input: RefCell::new(BytesMut::new()),
            reader: FrameReader::new(),
        }
    });
    (switch, peers, t0, metrics)
}

/// The peer binds its connection with a bodiless SEND and reads the 200 to it,
/// which must be the first thing the switch writes to it.
fn bind(switch: &mut Endpoint, peer: &mut Peer, t0: Instant) -> Vec<Frame> {
    let tid = format!("bind{}", &peer.me[23..27]);
    let bind = peer.head(
        &tid,
        "SEND",
        &format!("Message-ID: {tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n"),
    );
    feed(switch, peer, bind.as_bytes(), t0);
    let frames = peer.read(switch);
    assert!(!frames.is_empty(), "no answer to the bind");
    assert_eq!((frames[0].tid(), frames[0].status()), (&tid[..], Some(200)));
    frames[1..]
        .iter()
        .map(|f| Frame {
            head: f.head.clone(),
            body: f.body.clone(),
            flag: f.flag,
        })
        .collect()
}

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

const S: Duration = Duration::from_secs(1);

// ------------------------------------------------------------------- (a) timeout

#[test]
fn an_unanswered_send_becomes_a_408_report_after_the_transaction_timeout() {
    let config = EndpointConfig {
        transaction_timeout: 30 * S,
        ..EndpointConfig::default()
    };
    let (mut switch, mut a, mut b, t0) = bound_pair(config);
    let message = a.send(
        "tx000001",
        "Message-ID: msg408\r\nByte-Range: 1-1024/1024\r\n",
        &body(1024),
        '$',
    );
    feed(&mut switch, &a, &message, t0);
    let to_a = a.read(&mut switch);
    assert_eq!(to_a.len(), 1);
    assert_eq!((to_a[0].tid(), to_a[0].status()), ("tx000001", Some(200)));
    let to_b = b.read(&mut switch);
    assert_eq!(to_b.len(), 1, "forwarded to B, which never answers");
    assert_eq!(to_b[0].message_id(), "msg408");
    assert_eq!(switch.outstanding_transactions(), 1);

    switch.handle_timeout(t0 + 29 * S);
    assert!(
        a.read(&mut switch).is_empty(),
        "no REPORT before the timeout"
    );
    assert_eq!(switch.outstanding_transactions(), 1);

    switch.handle_timeout(t0 + 31 * S);
    let report = a.read(&mut switch);
    assert_eq!(report.len(), 1, "{report:?}");
    let report = &report[0];
    assert_eq!(report.method(), Some("REPORT"));
    assert_eq!(report.target_path(), [A], "To-Path: A's remote path");
    assert_eq!(report.sender_path(), [a.switch_uri.to_string()]);
    assert_eq!(report.message_id(), "msg408");
    assert_eq!(report.byte_range(), "1-1024/1024");
    let status = report.head.status().unwrap();
    assert_eq!((status.namespace, status.code.as_u16()), (0, 408));
    let raw = std::str::from_utf8(report.head.as_bytes()).unwrap();
    assert!(raw.contains("\r\nStatus: 000 408"), "{raw}");
    assert!(report.body.is_empty());
    assert_eq!(report.flag, ContinuationFlag::End);
    assert_eq!(switch.outstanding_transactions(), 0);
    assert!(b.read(&mut switch).is_empty());
    assert!(!switch.is_closing(a.conn) && !switch.is_closing(b.conn));
}

#[test]
fn failure_report_no_gets_no_408_report() {
    let config = EndpointConfig {
        transaction_timeout: 30 * S,
        ..EndpointConfig::default()
    };
    let (mut switch, mut a, mut b, t0) = bound_pair(config);
    let message = a.send(
        "tx000001",
        "Message-ID: msgquiet\r\nByte-Range: 1-1024/1024\r\nFailure-Report: no\r\n",
        &body(1024),
        '$',
    );
    feed(&mut switch, &a, &message, t0);
    assert!(
        a.read(&mut switch).is_empty(),
        "Failure-Report: no: no 200 either"
    );
    let to_b = b.read(&mut switch);
    assert_eq!(to_b.len(), 1);
    assert_eq!(to_b[0].head.failure_report(), Some(FailureReport::No));

    switch.handle_timeout(t0 + 31 * S);
    assert!(a.read(&mut switch).is_empty(), "no REPORT");
    assert_eq!(switch.outstanding_transactions(), 0);
}

// -------------------------------------------------------------------- (b) 413

#[test]
fn a_413_from_b_becomes_a_413_report_and_stops_the_message() {
    let (mut switch, mut a, mut b, t0) = bound_pair(EndpointConfig::default());
    let first = a.send(
        "tx000001",
        "Message-ID: msgbig\r\nByte-Range: 1-1024/2048\r\n",
        &body(1024),
        '+',
    );
    feed(&mut switch, &a, &first, t0);
    let to_a = a.read(&mut switch);
    assert_eq!((to_a[0].tid(), to_a[0].status()), ("tx000001", Some(200)));
    let to_b = b.read(&mut switch);
    assert_eq!(to_b.len(), 1);
    assert_eq!(to_b[0].flag, ContinuationFlag::More);

    feed(
        &mut switch,
        &b,
        &b.answer(&to_b[0], "413 Stop sending message"),
        t0,
    );
    let report = a.read(&mut switch);
    assert_eq!(report.len(), 1, "{report:?}");
    let report = &report[0];
    assert_eq!(report.method(), Some("REPORT"));
    assert_eq!(report.target_path(), [A]);
    assert_eq!(report.sender_path(), [a.switch_uri.to_string()]);
    assert_eq!(report.message_id(), "msgbig");
    assert_eq!(report.byte_range(), "1-1024/2048");
    let status = report.head.status().unwrap();
    assert_eq!((status.namespace, status.code.as_u16()), (0, 413));
    assert_eq!(switch.outstanding_transactions(), 0);

    // RFC 4975 §7.1.1: nothing more of that message goes to B; its sender is told 413.
    let second = a.send(
        "tx000002",
        "Message-ID: msgbig\r\nByte-Range: 1025-2048/2048\r\n",
        &body(1024),
        '$',
    );
    feed(&mut switch, &a, &second, t0);
    let to_a = a.read(&mut switch);
    assert_eq!(to_a.len(), 1);
    assert_eq!((to_a[0].tid(), to_a[0].status()), ("tx000002", Some(413)));
    assert!(b.read(&mut switch).is_empty());
    assert_eq!(b.partial_body(), 0);
    assert_eq!(switch.outstanding_transactions(), 0);
}

// ----------------------------------------------------------- (c) interruption

const BIG: usize = 64 * 1024;
/// The decoder hands out every body byte that cannot begin the end-line at once; the
/// test bodies (letters only, no CR) hold nothing back, so the switch forwards all
/// it got.
const HELD_BACK: usize = 0;

/// A's 64 KiB chunk (Message-ID `msgbig`, tid `txbig001`) and its bytes cut after
/// each of `cuts` body bytes, as separate socket reads: the first holds the head.
fn big_chunk(a: &Peer, cuts: &[usize]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let data = body(BIG);
    let frame = a.send(
        "txbig001",
        &format!("Message-ID: msgbig\r\nByte-Range: 1-{BIG}/{BIG}\r\n"),
        &data,
        '$',
    );
    let head_len = frame.len() - BIG - "\r\n-------txbig001$\r\n".len();
    let mut reads = Vec::new();
    let mut from = 0;
    for cut in cuts {
        reads.push(frame[from..head_len + cut].to_vec());
        from = head_len + cut;
    }
    reads.push(frame[from..].to_vec());
    (data, reads)
}

/// The first chunk B gets of A's interrupted message: the head as forwarded, the
/// body written before the stall, ended with `+`.
fn assert_interrupted(first: &Frame, b: &Peer, body_len: usize, data: &[u8]) {
    assert_eq!(first.method(), Some("SEND"));
    assert_eq!(first.target_path(), [B]);
    assert_eq!(first.sender_path(), [b.switch_uri.to_string()]);
    assert_eq!(first.message_id(), "msgbig");
    assert_eq!(first.byte_range(), format!("1-*/{BIG}"));
    assert_eq!(first.flag, ContinuationFlag::More, "interrupted with '+'");
    assert_eq!(first.body.len(), body_len);
    assert_eq!(first.body, data[..body_len]);
}

/// B answers every forwarded chunk 200; then nothing is outstanding and A hears of
/// no failure.
fn b_answers(switch: &mut Endpoint, a: &mut Peer, b: &Peer, chunks: &[&Frame], t0: Instant) {
    for chunk in chunks {
        feed(switch, b, &b.answer(chunk, "200 OK"), t0);
    }
    assert_eq!(switch.outstanding_transactions(), 0);
    assert!(a.read(switch).is_empty(), "no REPORT");
}

/// The order of a real stall: A's read ends mid-chunk (head and 10 KiB) and A sends
/// nothing more for now; only then does B's SEND arrive. The switch's 200 to it would
/// wait behind A's open chunk to B, and A may not send again for a long time (B's
/// transaction would time out meanwhile), so once B's input is read the switch ends
/// the chunk with `+` and writes the 200. (Feeding A's partial read after B's SEND
/// instead would not test a stall: the chunk opens after the 200 went out.) When A's
/// read brings the rest, it goes to B as a new chunk of the same message from the
/// position reached.
#[test]
fn a_stalled_chunk_is_interrupted_for_a_held_response_and_resumed() {
    let (mut switch, mut a, mut b, t0) = bound_pair(EndpointConfig::default());
    let (data, reads) = big_chunk(&a, &[10 * 1024]);
    let written = 10 * 1024 - HELD_BACK;

    feed(&mut switch, &a, &reads[0], t0);
    assert!(b.read(&mut switch).is_empty());
    assert_eq!(b.partial_body(), written, "cut-through");

    let probe = b.head(
        "txprobe1",
        "SEND",
        "Message-ID: probe1\r\nByte-Range: 1-0/0\r\n-------txprobe1$\r\n",
    );
    feed(&mut switch, &b, probe.as_bytes(), t0);
    let to_b = b.read(&mut switch);
    let shapes: Vec<_> = to_b.iter().map(|f| (f.method(), f.status())).collect();
    assert_eq!(
        shapes,
        [(Some("SEND"), None), (None, Some(200))],
        "{to_b:?}"
    );
    assert_interrupted(&to_b[0], &b, written, &data);
    assert_eq!(to_b[1].tid(), "txprobe1");
    assert_eq!(to_b[1].target_path(), [B]);
    assert_eq!(to_b[1].sender_path(), [b.switch_uri.to_string()]);
    assert!(b.reader.partial.is_none());
    assert!(
        a.read(&mut switch).is_empty(),
        "A's chunk is not answered yet"
    );

    feed(&mut switch, &a, &reads[1], t0);
    let resumed = b.read(&mut switch);
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    let resumed = &resumed[0];
    assert_eq!(resumed.method(), Some("SEND"));
    assert_ne!(resumed.tid(), to_b[0].tid(), "a new transaction per chunk");
    assert_eq!(resumed.message_id(), "msgbig");
    assert_eq!(resumed.byte_range(), format!("{}-*/{BIG}", written + 1));
    assert_eq!(resumed.body.len(), BIG - written);
    assert_eq!(resumed.flag, ContinuationFlag::End);
    assert_eq!([&to_b[0].body[..], &resumed.body[..]].concat(), data);

    let to_a = a.read(&mut switch);
    assert_eq!(to_a.len(), 1);
    assert_eq!((to_a[0].tid(), to_a[0].status()), ("txbig001", Some(200)));
    b_answers(&mut switch, &mut a, &b, &[&to_b[0], resumed], t0);
}

/// B's SEND carries a message for A: it goes to A at once (nothing is open on A's
/// leg) while its 200 interrupts A's stalled chunk to B. A's next read, still mid-chunk,
/// opens the resumed chunk, which streams on and ends with the read after.
#[test]
fn an_interrupted_chunk_resumes_across_reads_while_b_sends_to_a() {
    let (mut switch, mut a, mut b, t0) = bound_pair(EndpointConfig::default());
    let (data, reads) = big_chunk(&a, &[4 * 1024, 10 * 1024]);
    let written = 4 * 1024 - HELD_BACK;

    feed(&mut switch, &a, &reads[0], t0);
    assert!(b.read(&mut switch).is_empty());

    let hello = b.send(
        "txhello1",
        "Message-ID: hello1\r\nByte-Range: 1-5/5\r\n",
        b"hello",
        '$',
    );
    feed(&mut switch, &b, &hello, t0);
    let to_b = b.read(&mut switch);
    let shapes: Vec<_> = to_b.iter().map(|f| (f.method(), f.status())).collect();
    assert_eq!(
        shapes,
        [(Some("SEND"), None), (None, Some(200))],
        "{to_b:?}"
    );
    assert_interrupted(&to_b[0], &b, written, &data);
    assert_eq!(to_b[1].tid(), "txhello1");
    let to_a = a.read(&mut switch);
    assert_eq!(to_a.len(), 1, "{to_a:?}");
    assert_eq!(to_a[0].message_id(), "hello1");
    assert_eq!(to_a[0].body, b"hello");
    // A answers once its own chunk is done: a response cannot go inside it.
    let a_answer = a.answer(&to_a[0], "200 OK");

    // Mid-chunk again: the rest streams as a new chunk from the position reached.
    feed(&mut switch, &a, &reads[1], t0);
    assert!(b.read(&mut switch).is_empty());
    let (head, _) = b.reader.partial.as_ref().unwrap();
    assert_eq!(
        head.byte_range().unwrap().to_string(),
        format!("{}-*/{BIG}", written + 1)
    );
    assert_ne!(head.transaction_id(), to_b[0].head.transaction_id());
    assert_eq!(b.partial_body(), 10 * 1024 - HELD_BACK - written);

    feed(&mut switch, &a, &reads[2], t0);
    let resumed = b.read(&mut switch);
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    let resumed = &resumed[0];
    assert_eq!(resumed.message_id(), "msgbig");
    assert_eq!(resumed.byte_range(), format!("{}-*/{BIG}", written + 1));
    assert_eq!(resumed.flag, ContinuationFlag::End);
    assert_eq!([&to_b[0].body[..], &resumed.body[..]].concat(), data);

    let to_a = a.read(&mut switch);
    assert_eq!(to_a.len(), 1);
    assert_eq!((to_a[0].tid(), to_a[0].status()), ("txbig001", Some(200)));
    feed(&mut switch, &a, &a_answer, t0);
    b_answers(&mut switch, &mut a, &b, &[&to_b[0], resumed], t0);
}

// ------------------------------------------------------------ (d) bind timeout

#[test]
fn an_unbound_connection_closes_after_the_bind_timeout() {
    let config = EndpointConfig {
        bind_timeout: 10 * S,
        ..EndpointConfig::default()
    };
    let bind_timeout = config.bind_timeout;
    let (mut switch, a, _b, t0) = bound_pair(config);
    let idle = switch.open_connection(t0);
    assert_eq!(switch.poll_timeout(), Some(t0 + bind_timeout));

    switch.handle_timeout(t0 + bind_timeout - S);
    assert!(!switch.is_closing(idle));

    switch.handle_timeout(t0 + bind_timeout + S);
    assert!(switch.is_closing(idle), "unbound past the bind timeout");
    assert!(!switch.is_closing(a.conn), "a bound connection stays");
}

#[test]
fn a_session_without_requests_is_reported_idle_once_until_traffic_resumes() {
    use msrp_proto::control::Event;
    use msrp_proto::media::Policy;
    let t0 = Instant::now();
    let config = EndpointConfig {
        session_idle: Some(Duration::from_secs(60)),
        ..EndpointConfig::default()
    };
    let mut switch = Endpoint::new(
        config,
        0,
        WireIds::seeded(9),
        Arc::new(ShardMetrics::default()),
        t0,
    );
    let session =
        switch.create_session_with(SessionKind::OneToOne, String::new(), Policy::default(), t0);
    let pa = switch.add_participant(session, remote(A), t0).unwrap();
    let idle_events = |switch: &mut Endpoint| {
        std::iter::from_fn(|| switch.poll_event())
            .filter(|e| matches!(e, Event::SessionIdle { .. }))
            .count()
    };
    switch.handle_timeout(t0 + Duration::from_secs(59));
    assert_eq!(idle_events(&mut switch), 0);
    switch.handle_timeout(t0 + Duration::from_secs(61));
    assert_eq!(idle_events(&mut switch), 1);
    switch.handle_timeout(t0 + Duration::from_secs(200));
    assert_eq!(idle_events(&mut switch), 0, "reported once");

    // A request at t0+300 restarts the clock: idle again at t0+360, not before.
    let conn = switch.open_connection(t0 + Duration::from_secs(300));
    let bind = format!(
        "MSRP bind0001 SEND\r\nTo-Path: {}\r\nFrom-Path: {A}\r\nMessage-ID: bindmsg1\r\n\
         Byte-Range: 1-0/0\r\n-------bind0001$\r\n",
        pa.local_uri
    );
    let mut buf = BytesMut::from(bind.as_bytes());
    switch.handle_input(conn, &mut buf, t0 + Duration::from_secs(300));
    switch.handle_timeout(t0 + Duration::from_secs(359));
    assert_eq!(idle_events(&mut switch), 0);
    switch.handle_timeout(t0 + Duration::from_secs(361));
    assert_eq!(idle_events(&mut switch), 1);
}

// ------------------------------------------------------------- (f) backpressure

/// Both legs are over the queue bound: A's requests wait for B to read, B's for A.
/// A peer that reads only between its writes (most do) must still get its answers
/// through, or the two would wait on each other forever. So a held-back connection
/// still has its responses read, and its requests stay unread.
#[test]
fn a_held_back_connection_still_has_its_responses_read_but_not_its_requests() {
    let config = EndpointConfig {
        queue_bytes: 4096,
        ..EndpointConfig::default()
    };
    let (mut switch, mut a, mut b, t0) = bound_pair(config);
    let chunk = body(3000);
    let send = |peer: &Peer, n: u32| {
        let tid = format!("{}{n:04}", &peer.me[23..27]);
        peer.send(
            &tid,
            &format!("Message-ID: m{tid}\r\nByte-Range: 1-3000/3000\r\n"),
            &chunk,
            '$',
        )
    };
    // B reads A's first message: it owes the switch an answer.
    feed(&mut switch, &a, &send(&a, 1), t0);
    assert_eq!(a.read(&mut switch).len(), 1, "A's 200");
    let to_b = b.read(&mut switch);
    assert_eq!(to_b.len(), 1);
    // B sends to A, which reads nothing: A's leg goes over the bound.
    feed(&mut switch, &b, &[send(&b, 1), send(&b, 2)].concat(), t0);
    // A sends to B, which reads nothing now: B's leg goes over the bound too.
    feed(&mut switch, &a, &[send(&a, 2), send(&a, 3)].concat(), t0);
    assert!(!switch.wants_read(a.conn) && !switch.wants_read(b.conn));
    assert_eq!(switch.readiness(b.conn), Readiness::ResponsesOnly);
    let outstanding = switch.outstanding_transactions();

    // B's answer to the first message, then a request: the answer is taken, the
    // request waits in B's read buffer.
    let held = send(&b, 3);
    let mut input = BytesMut::new();
    input.extend_from_slice(&b.answer(&to_b[0], "200 OK"));
    input.extend_from_slice(&held);
    switch.handle_input(b.conn, &mut input, t0);
    assert_eq!(switch.outstanding_transactions(), outstanding - 1);
    assert_eq!(
        &input[..],
        &held[..],
        "the request is not read while A's leg is full"
    );

    // A reads its leg down: B's request goes through.
    let to_a = a.read(&mut switch);
    let sends: Vec<_> = to_a.iter().filter(|f| f.method() == Some("SEND")).collect();
    let answers: Vec<_> = to_a.iter().filter_map(Frame::status).collect();
    assert_eq!(sends.len(), 2, "B's first two messages");
    assert_eq!(answers, [200, 200], "for A's second and third");
    assert_eq!(switch.readiness(b.conn), Readiness::Everything);
    switch.handle_input(b.conn, &mut input, t0);
    assert!(input.is_empty());
    let to_a = a.read(&mut switch);
    assert_eq!(to_a.len(), 1);
    assert_eq!(to_a[0].message_id(), "mbbbb0003");
}

// ------------------------------------------------------- (g) connection lifecycle

/// A message for B arrives before B's client has dialled in. B's first request
/// binds the connection, and the 200 to it must be the first frame B reads: a real
/// client (msrplib) drops a connection that gets a chunk while it is binding.
#[test]
fn a_message_queued_before_the_receiver_binds_goes_after_the_answer_to_its_bind() {
    let (mut switch, [mut a, mut b], t0, _) = unbound_pair(EndpointConfig::default());
    bind(&mut switch, &mut a, t0);
    let hello = a.send(
        "txhello1",
        "Message-ID: early1\r\nByte-Range: 1-5/5\r\n",
        b"hello",
        '$',
    );
    feed(&mut switch, &a, &hello, t0);
    assert_eq!(a.read(&mut switch)[0].status(), Some(200));

    let after_bind = bind(&mut switch, &mut b, t0);
    assert_eq!(after_bind.len(), 1, "{after_bind:?}");
    assert_eq!(after_bind[0].message_id(), "early1");
    assert_eq!(after_bind[0].body, b"hello");
}

/// Fills B's leg past the bound while B reads nothing, so that A is held back with
/// a request still in its read buffer. Returns that buffer.
fn hold_a_back(switch: &mut Endpoint, a: &mut Peer, t0: Instant) -> BytesMut {
    let chunk = body(3000);
    let send = |n: u32| {
        let tid = format!("txfill{n:02}");
        a.send(
            &tid,
            &format!("Message-ID: fill{n:02}\r\nByte-Range: 1-3000/3000\r\n"),
            &chunk,
            '$',
        )
    };
    let mut input = BytesMut::new();
    for n in 0..4 {
        input.extend_from_slice(&send(n));
    }
    switch.handle_input(a.conn, &mut input, t0);
    assert_eq!(switch.readiness(a.conn), Readiness::ResponsesOnly);
    assert!(!input.is_empty(), "a request waits unread");
    let answers = a.read(switch);
    assert!(
        answers.iter().all(|f| f.status() == Some(200)),
        "{answers:?}"
    );
    input
}

fn wakes(switch: &mut Endpoint, conn: ConnId) -> bool {
    std::iter::from_fn(|| switch.poll_action()).any(|action| action == Action::Wake(conn))
}

/// B is removed while A is held back by B's full queue: A must be read again, its
/// waiting and later requests answered 481 (the session is gone), and the queue
/// gauge must come back to zero.
#[test]
fn removing_the_receiver_releases_a_held_back_sender_with_481() {
    let config = EndpointConfig {
        queue_bytes: 4096,
        ..EndpointConfig::default()
    };
    let (mut switch, mut a, b, t0, stats) = bound_pair_with_stats(config);
    let mut input = hold_a_back(&mut switch, &mut a, t0);
    while switch.poll_action().is_some() {}
    let pb = switch
        .session_keys()
        .into_iter()
        .flat_map(|key| switch.session_info(key).unwrap().participants)
        .find(|p| p.local_uri == b.switch_uri)
        .unwrap();

    switch.remove_participant(pb.id).unwrap();
    assert!(wakes(&mut switch, a.conn), "the held-back sender is woken");
    assert_eq!(switch.readiness(a.conn), Readiness::Everything);
    switch.handle_input(a.conn, &mut input, t0);
    assert!(input.is_empty());
    let frames = a.read(&mut switch);
    let (reports, answers): (Vec<_>, Vec<_>) =
        frames.iter().partition(|f| f.method() == Some("REPORT"));
    let answers: Vec<_> = answers.iter().map(|f| f.status()).collect();
    assert!(!answers.is_empty());
    assert!(answers.iter().all(|s| *s == Some(481)), "{answers:?}");
    // The messages A had 200s for and B never acknowledged: one REPORT each.
    let reported: Vec<_> = reports
        .iter()
        .map(|r| {
            (
                String::from_utf8_lossy(r.head.value_bytes(HeaderName::MessageId).unwrap())
                    .into_owned(),
                String::from_utf8_lossy(r.head.value_bytes(HeaderName::Status).unwrap())
                    .into_owned(),
            )
        })
        .collect();
    assert!(
        !reported.is_empty(),
        "every unacknowledged message is reported"
    );
    assert!(
        reported
            .iter()
            .all(|(_, status)| status.starts_with("000 481")),
        "{reported:?}"
    );
    let mut ids: Vec<_> = reported.iter().map(|(id, _)| id.clone()).collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        reported.len(),
        "one REPORT per message: {reported:?}"
    );
    let mut gone = Vec::new();
    switch.take_output(b.conn, &mut gone, usize::MAX);
    assert!(switch.is_closing(b.conn));
    switch.handle_close(b.conn, t0);
    assert_eq!(
        stats.queue_bytes.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

/// B's connection breaks while A is held back by B's full queue: A is read again,
/// and what it sends B meanwhile is refused with 481 rather than queued for a
/// connection that is gone (B binds again only with new SDP).
#[test]
fn a_lost_receiver_releases_a_held_back_sender_with_481() {
    let config = EndpointConfig {
        queue_bytes: 4096,
        ..EndpointConfig::default()
    };
    let (mut switch, mut a, b, t0, stats) = bound_pair_with_stats(config);
    let mut input = hold_a_back(&mut switch, &mut a, t0);
    while switch.poll_action().is_some() {}

    switch.handle_close(b.conn, t0);
    assert!(wakes(&mut switch, a.conn), "the held-back sender is woken");
    assert_eq!(switch.readiness(a.conn), Readiness::Everything);
    switch.handle_input(a.conn, &mut input, t0);
    assert!(input.is_empty());
    let frames = a.read(&mut switch);
    let (reports, answers): (Vec<_>, Vec<_>) =
        frames.iter().partition(|f| f.method() == Some("REPORT"));
    let answers: Vec<_> = answers.iter().map(|f| f.status()).collect();
    assert!(!answers.is_empty());
    assert!(answers.iter().all(|s| *s == Some(481)), "{answers:?}");
    // What A holds 200s for and B never acknowledged is reported at once (408),
    // not after the transaction timeout: no response can come on a closed
    // connection.
    let mut reported: Vec<_> = reports
        .iter()
        .map(|r| (r.message_id(), r.head.status().unwrap().code.as_u16()))
        .collect();
    reported.sort();
    // The two messages read and answered 200 before A was held back.
    assert_eq!(
        reported,
        vec![("fill00".to_owned(), 408), ("fill01".to_owned(), 408)]
    );
    assert_eq!(switch.outstanding_transactions(), 0);
    assert_eq!(
        stats.queue_bytes.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

/// B is removed while A's chunk to it streams: B's connection gets the chunk ended
/// with `#` before it closes, and nothing after.
#[test]
fn removing_a_receiver_mid_chunk_ends_the_chunk_with_abort_before_closing() {
    let (mut switch, a, mut b, t0, stats) = bound_pair_with_stats(EndpointConfig::default());
    let (_, reads) = big_chunk(&a, &[10 * 1024]);
    feed(&mut switch, &a, &reads[0], t0);
    assert!(b.read(&mut switch).is_empty());
    assert!(b.partial_body() > 0);
    let pb = switch
        .session_keys()
        .into_iter()
        .flat_map(|key| switch.session_info(key).unwrap().participants)
        .find(|p| p.local_uri == b.switch_uri)
        .unwrap();

    switch.remove_participant(pb.id).unwrap();
    let ended = b.read(&mut switch);
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].flag, ContinuationFlag::Abort);
    assert!(switch.is_closing(b.conn));
    switch.handle_close(b.conn, t0);
    // The rest of A's chunk is answered 481 at its end-line.
    feed(&mut switch, &a, &reads[1], t0);
    let mut a = a;
    let to_a: Vec<_> = a.read(&mut switch).iter().map(|f| f.status()).collect();
    assert_eq!(to_a, [Some(481)]);
    assert_eq!(
        stats.queue_bytes.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

/// The switch connects out (active role) and binds with a bodiless SEND; once that
/// is answered and everything is written, no byte is left counted as queued.
#[test]
fn the_queue_gauge_returns_to_zero_after_a_bind_send_when_the_switch_dials_out() {
    let t0 = Instant::now();
    let stats = Arc::new(ShardMetrics::default());
    let mut switch = Endpoint::new(
        EndpointConfig::default(),
        0,
        WireIds::seeded(5),
        stats.clone(),
        t0,
    );
    let session = switch.create_session(SessionKind::OneToOne);
    let mut media = remote(A);
    media.setup = SetupRole::Active;
    switch.add_participant(session, media, t0).unwrap();
    let Some(Action::Connect { conn, .. }) = switch.poll_action() else {
        panic!("no connect");
    };
    switch.connected(conn);
    let mut out = Vec::new();
    switch.take_output(conn, &mut out, usize::MAX);
    let mut decoder = Decoder::new(Limits::default());
    let mut buf = BytesMut::from(&out.concat()[..]);
    let Ok(Some(Item::Head(bind))) = decoder.decode(&mut buf) else {
        panic!("no bind SEND");
    };
    assert_eq!(
        stats.queue_bytes.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    let tid = bind.transaction_id().as_str().to_string();
    let answer = format!(
        "MSRP {tid} 200 OK\r\nTo-Path: {}\r\nFrom-Path: {A}\r\n-------{tid}$\r\n",
        bind.from_path().next().unwrap()
    );
    let mut input = BytesMut::from(answer.as_bytes());
    switch.handle_input(conn, &mut input, t0);
    assert_eq!(
        stats.queue_bytes.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    switch.handle_close(conn, t0);
    assert_eq!(
        stats.queue_bytes.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

// --------------------------------------------- (k) slow, stalled, drained receivers

/// Takes at most `max` bytes of B's output (a slow socket), decoding nothing.
fn trickle(switch: &mut Endpoint, peer: &Peer, max: usize) -> usize {
    let mut pieces = Vec::new();
    switch.take_output(peer.conn, &mut pieces, max)
}

/// Report statuses A holds, by Message-ID.
fn reports_to(switch: &mut Endpoint, a: &mut Peer) -> Vec<(String, u16)> {
    a.read(switch)
        .iter()
        .filter(|f| f.method() == Some("REPORT"))
        .map(|f| (f.message_id(), f.head.status().unwrap().code.as_u16()))
        .collect()
}

/// Ten 4 KiB messages A sends B, each answered 200 to A.
fn ten_messages(switch: &mut Endpoint, a: &mut Peer, t0: Instant) {
    for n in 0..10 {
        let tid = format!("slow{n:04}");
        let frame = a.send(
            &tid,
            &format!("Message-ID: msg{n:04}\r\nByte-Range: 1-4096/4096\r\n"),
            &body(4096),
            '$',
        );
        feed(switch, a, &frame, t0);
    }
    let answers = a.read(switch);
    let statuses: Vec<_> = answers.iter().map(|f| (f.tid(), f.status())).collect();
    assert_eq!(statuses.len(), 10);
    assert!(statuses.iter().all(|s| s.1 == Some(200)), "{statuses:?}");
}

/// A receiver whose socket takes a little every few seconds is slow, not failed:
/// the transaction timers of what still waits for it are held, so no REPORT 408
/// goes to the sender for a message B then receives (and answers).
#[test]
fn a_slow_receiver_gets_no_false_408() {
    let config = EndpointConfig {
        transaction_timeout: 30 * S,
        ..EndpointConfig::default()
    };
    let (mut switch, mut a, b, t0) = bound_pair(config);
    ten_messages(&mut switch, &mut a, t0);
    // 100 s at 1 KiB every 5 s: far past the 30 s timeout of every message.
    let mut now = t0;
    for _ in 0..20 {
        now += 5 * S;
        trickle(&mut switch, &b, 1024);
        switch.handle_timeout(now);
    }
    assert_eq!(
        reports_to(&mut switch, &mut a),
        vec![],
        "no 408 while B reads"
    );
    assert_eq!(switch.outstanding_transactions(), 10);
}

/// A receiver that takes nothing for a whole transaction timeout while output
/// waits is stalled: its connection is aborted, and every message A holds a 200
/// for gets its REPORT 408 at once.
#[test]
fn a_stalled_receiver_is_aborted_and_every_message_reported() {
    let config = EndpointConfig {
        transaction_timeout: 30 * S,
        ..EndpointConfig::default()
    };
    let (mut switch, mut a, b, t0, stats) = bound_pair_with_stats(config);
    ten_messages(&mut switch, &mut a, t0);
    trickle(&mut switch, &b, 1024);
    switch.handle_timeout(t0 + 31 * S);
    assert!(!switch.is_aborted(b.conn), "it took bytes in the last 30 s");
    assert_eq!(reports_to(&mut switch, &mut a), vec![]);
    switch.handle_timeout(t0 + 62 * S);
    assert!(switch.is_aborted(b.conn), "nothing taken for 30 s");
    let mut reported = reports_to(&mut switch, &mut a);
    reported.sort();
    let expected: Vec<_> = (0..10).map(|n| (format!("msg{n:04}"), 408)).collect();
    assert_eq!(reported, expected);
    assert_eq!(switch.outstanding_transactions(), 0);
    assert_eq!(
        stats
            .stalled_receivers
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

/// Drain: quiescent only once nothing is in flight; finishing it REPORTs every
/// message B has not acknowledged and closes both connections after their output.
#[test]
fn finishing_a_drain_reports_what_was_not_acknowledged_and_closes() {
    let (mut switch, mut a, mut b, t0) = bound_pair(EndpointConfig::default());
    assert!(switch.is_quiescent(), "bound and idle: nothing in flight");
    ten_messages(&mut switch, &mut a, t0);
    assert!(!switch.is_quiescent(), "ten messages wait for B");
    // B reads and answers the first three.
    let to_b = b.read(&mut switch);
    for request in to_b.iter().take(3) {
        let answer = b.answer(request, "200 OK");
        feed(&mut switch, &b, &answer, t0);
    }
    assert_eq!(switch.finish_drain(t0 + S), 7);
    let mut reported = reports_to(&mut switch, &mut a);
    reported.sort();
    let expected: Vec<_> = (3..10).map(|n| (format!("msg{n:04}"), 408)).collect();
    assert_eq!(reported, expected);
    assert!(switch.is_closing(a.conn) && switch.is_closing(b.conn));
    assert_eq!(switch.outstanding_transactions(), 0);
}

/// A SEND refused at its head (here 481: B's connection is gone) whose body then
/// runs past `max_chunk_bytes` is still answered, once: the decoder's 413 carries no
/// address of its own (the head was handed out already), so the answer is the one
/// the refusal had addressed. Found by the switch fuzz target.
#[test]
fn a_refused_send_whose_body_breaks_the_chunk_limit_is_answered_once() {
    let config = EndpointConfig {
        limits: Limits {
            max_chunk_bytes: 256,
            ..Limits::default()
        },
        ..EndpointConfig::default()
    };
    let (mut switch, mut a, b, t0) = bound_pair(config);
    switch.handle_close(b.conn, t0);
    let message = a.send(
        "tx000001",
        "Message-ID: msgbig\r\nByte-Range: 1-1024/1024\r\n",
        &body(1024),
        '$',
    );
    feed(&mut switch, &a, &message, t0);
    let to_a: Vec<_> = a
        .read(&mut switch)
        .iter()
        .map(|f| (f.tid().to_owned(), f.status()))
        .collect();
    assert_eq!(to_a, [("tx000001".to_owned(), Some(413))]);
    assert!(!switch.is_closing(a.conn));
}

/// The switch dials out (active role), that connection fails before its bind SEND is
/// answered, and the participant dials in instead: when the bind SEND's transaction
/// times out, only the connection it went on is given up, never the participant's
/// new one. Found by the switch fuzz target.
#[test]
fn a_stale_bind_timeout_leaves_the_participants_new_connection_open() {
    let t0 = Instant::now();
    let config = EndpointConfig {
        transaction_timeout: 2 * S,
        bind_timeout: 60 * S,
        ..EndpointConfig::default()
    };
    let mut switch = Endpoint::new(
        config,
        0,
        WireIds::seeded(5),
        Arc::new(ShardMetrics::default()),
        t0,
    );
    let session = switch.create_session(SessionKind::OneToOne);
    let mut media = remote(A);
    media.setup = SetupRole::Active;
    let info = switch.add_participant(session, media, t0).unwrap();
    let Some(Action::Connect { conn: out, .. }) = switch.poll_action() else {
        panic!("no connect");
    };
    switch.handle_close(out, t0);
    let mut a = Peer {
        me: A,
        switch_uri: info.local_uri,
        conn: switch.open_connection(t0),
        input: RefCell::new(BytesMut::new()),
        reader: FrameReader::new(),
    };
    bind(&mut switch, &mut a, t0);
    switch.handle_timeout(t0 + 3 * S);
    assert!(!switch.is_closing(a.conn), "the new connection was closed");
    assert!(switch.participant_info(info.id).unwrap().bound);
    assert_eq!(switch.outstanding_transactions(), 0);
}

/// RFC 4975 §7.1.2: `Failure-Report: partial` asks for error responses only. A
/// SEND with it that fails while being forwarded (its receiver's connection goes
/// mid-chunk: 481) gets its 481; one that succeeds gets nothing.
#[test]
fn failure_report_partial_gets_the_error_response_and_no_200() {
    let (mut switch, mut a, b, t0) = bound_pair(EndpointConfig::default());
    let ok = a.send(
        "part0001",
        "Message-ID: part0001\r\nByte-Range: 1-5/5\r\nFailure-Report: partial\r\n",
        b"hello",
        '$',
    );
    feed(&mut switch, &a, &ok, t0);
    assert!(a.read(&mut switch).is_empty(), "no 200 for partial");

    let head = a.head(
        "part0002",
        "SEND",
        "Message-ID: part0002\r\nByte-Range: 1-10/10\r\nFailure-Report: partial\r\n\
         Content-Type: text/plain\r\n\r\n",
    );
    feed(&mut switch, &a, format!("{head}01234").as_bytes(), t0);
    switch.handle_close(b.conn, t0);
    feed(&mut switch, &a, b"56789\r\n-------part0002$\r\n", t0);
    let answers: Vec<_> = a
        .read(&mut switch)
        .iter()
        .filter(|f| f.method().is_none())
        .map(|f| (f.tid().to_owned(), f.status()))
        .collect();
    assert_eq!(answers, vec![("part0002".to_owned(), Some(481))]);
}

/// A's client shuts its side of the connection (end of stream): the switch writes
/// what it owes, closes, and A is lost like any broken connection: its event,
/// and B's later messages refused 481 instead of queued for nobody.
#[test]
fn a_connection_the_peer_shuts_loses_its_participant_once_closed() {
    let (mut switch, a, mut b, t0) = bound_pair(EndpointConfig::default());
    while switch.poll_event().is_some() {}
    switch.handle_end_of_input(a.conn, t0);
    assert!(switch.is_closing(a.conn));
    switch.handle_close(a.conn, t0);
    let lost = std::iter::from_fn(|| switch.poll_event())
        .filter(|e| matches!(e, msrp_proto::control::Event::ConnectionLost { .. }))
        .count();
    assert_eq!(lost, 1);
    let late = b.send(
        "txlate01",
        "Message-ID: late01\r\nByte-Range: 1-2/2\r\n",
        b"hi",
        '$',
    );
    feed(&mut switch, &b, &late, t0);
    let answer = b.read(&mut switch);
    assert_eq!(
        (answer[0].tid(), answer[0].status()),
        ("txlate01", Some(481))
    );
}
