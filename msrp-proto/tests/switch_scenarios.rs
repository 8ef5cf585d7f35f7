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
use msrp_proto::codec::{ContinuationFlag, Decoder, FailureReport, Head, Item, Limits, MsrpUri};
use msrp_proto::endpoint::{Action, Endpoint, EndpointConfig, Readiness};
use msrp_proto::ids::{ConnId, WireIds};
use msrp_proto::media::{RemoteMedia, SetupRole};
use msrp_proto::session::SessionKind;
use msrp_proto::stats::Stats as ShardMetrics;

const A: &str = "msrp://127.0.0.1:40001/aaaa1111;tcp";
const B: &str = "msrp://127.0.0.1:40002/bbbb2222;tcp";

/// One whole frame as a peer reads it.
#[derive(Debug)]
struct Frame {
    head: Head,
    body: Vec<u8>,
    flag: ContinuationFlag,
}

impl Frame {
    fn tid(&self) -> &str {
        self.head.transaction_id().as_str()
    }
    fn method(&self) -> Option<&str> {
        self.head.method_name()
    }
    fn status(&self) -> Option<u16> {
        self.head.response_status().map(|s| s.as_u16())
    }
    fn target_path(&self) -> Vec<String> {
        self.head.to_path().map(|u| u.to_string()).collect()
    }
    fn sender_path(&self) -> Vec<String> {
        self.head.from_path().map(|u| u.to_string()).collect()
    }
    fn message_id(&self) -> String {
        self.head.message_id().unwrap().as_str().to_string()
    }
    fn byte_range(&self) -> String {
        self.head.byte_range().unwrap().to_string()
    }
}

/// A participant's endpoint: its URI, the switch's URI for it, its connection.
struct Peer {
    me: &'static str,
    switch_uri: MsrpUri,
    conn: ConnId,
    /// The connection's read buffer: what the switch has not consumed stays here.
    input: RefCell<BytesMut>,
    decoder: Decoder,
    buf: BytesMut,
    /// A frame whose end-line has not arrived yet.
    partial: Option<(Head, Vec<u8>)>,
}

impl Peer {
    /// Everything the switch queued for this peer, decoded: the whole frames (a frame
    /// still streaming stays in `partial`).
    fn read(&mut self, switch: &mut Endpoint) -> Vec<Frame> {
        let mut pieces = Vec::new();
        switch.take_output(self.conn, &mut pieces, usize::MAX);
        for piece in pieces {
            self.buf.extend_from_slice(&piece);
        }
        let mut frames = Vec::new();
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(Item::Head(head))) => {
                    assert!(self.partial.is_none(), "head inside a frame");
                    self.partial = Some((head, Vec::new()));
                }
                Ok(Some(Item::Body(piece))) => {
                    self.partial.as_mut().unwrap().1.extend_from_slice(&piece);
                }
                Ok(Some(Item::End(flag))) => {
                    let (head, body) = self.partial.take().unwrap();
                    frames.push(Frame { head, body, flag });
                }
                Ok(None) => return frames,
                Err(err) => panic!("the switch wrote a malformed frame: {err}"),
            }
        }
    }

    /// Body bytes the switch has written of the frame still streaming to this peer
    /// (including the few this peer's own decoder holds back, in `buf`).
    fn partial_body(&self) -> usize {
        self.partial
            .as_ref()
            .map_or(0, |(_, body)| body.len() + self.buf.len())
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
            decoder: Decoder::new(Limits::default()),
            buf: BytesMut::new(),
            partial: None,
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
    assert!(b.partial.is_none());
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
    let (head, _) = b.partial.as_ref().unwrap();
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
    let answers: Vec<_> = a.read(&mut switch).iter().map(|f| f.status()).collect();
    assert!(!answers.is_empty());
    assert!(answers.iter().all(|s| *s == Some(481)), "{answers:?}");
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
    let answers: Vec<_> = a.read(&mut switch).iter().map(|f| f.status()).collect();
    assert!(!answers.is_empty());
    assert!(answers.iter().all(|s| *s == Some(481)), "{answers:?}");
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
