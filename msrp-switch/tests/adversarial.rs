//! Adversarial input on the wire (issue 13): a real engine on loopback takes a table
//! of malformed requests, slow and half-open connections and a head written one byte
//! per segment, while a healthy 1:1 session streams beside them and must lose
//! nothing.
//!
//! - The table (`adversarial/cases.rs`) holds one row per case: its name, the RFC
//!   section its bytes break, the exact bytes and what the switch must do: answer a
//!   given status with given paths, ignore the frame, or close the connection. Each
//!   case runs on its own connection against its own live 1:1 session, some against
//!   the healthy session's session-ids. Rows marked as bugs carry the RFC's
//!   expectation, which the switch does not meet yet: they fail until it does.
//! - Slow connections (a head dripped a byte at a time, or left half-written, or
//!   nothing at all) are closed by the bind timeout.
//! - A head near `max_head_bytes` written one byte per TCP segment is answered as if
//!   written at once. That the decoder's cost stays linear when a head or body
//!   arrives a byte per read is proven, by counting the bytes it examines rather
//!   than by timing, in `msrp-proto/tests/codec_scan.rs`; this suite checks the
//!   answers on the wire.
//!
//! The engine uses one shard so that where a connection runs does not depend on the
//! kernel; the one test on two shards is about exactly that.

#[path = "adversarial/cases.rs"]
mod cases;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use msrp_proto::control::ParticipantInfo;
use msrp_proto::ids::shard_of_session_id;
use msrp_proto::session::SessionKind;
use msrp_switch::codec::ContinuationFlag;
use msrp_test_support::wire::SendChunk;
use msrp_test_support::{FrameReader, LIMIT, Peer, TestEngine, hash, metric, remote, start_engine};

use cases::{Case, Expect, REASONS, Wire};

/// The path of the healthy session's participant A.
const PATH_A: &str = "msrp://127.0.0.1:40001/healthyA;tcp";
/// The path of the healthy session's participant B.
const PATH_B: &str = "msrp://127.0.0.1:40002/healthyB;tcp";

/// Short, so that slow connections are closed within the test; long enough that
/// every case connection binds (its probe) well before it.
const BIND_TIMEOUT: Duration = Duration::from_secs(4);

/// A chunk body larger than this is refused 413 (the cases test both sides of it);
/// the healthy session's chunks stay below it.
const MAX_CHUNK_BYTES: usize = 64 * 1024;

/// A closed case must be closed this soon after its bytes: well before the bind
/// timeout could have closed a connection that was merely left waiting.
const CLOSED_WITHIN: Duration = Duration::from_millis(2500);

/// Cases in flight at once.
const CONCURRENT_CASES: usize = 16;

/// Messages each healthy participant sends at least, whatever else is going on.
const HEALTHY_MIN_MESSAGES: usize = 100;

/// Time between two messages of one healthy participant: the stream runs for as
/// long as the adversarial traffic does.
const HEALTHY_PACE: Duration = Duration::from_millis(10);

#[tokio::test]
async fn malformed_input_is_refused_while_a_healthy_session_loses_nothing() {
    let started = Instant::now();
    let engine = start_engine(1, |c| {
        c.bind_timeout = BIND_TIMEOUT;
        c.limits.max_chunk_bytes = MAX_CHUNK_BYTES as u64;
    });
    let addr = engine.local_addr();

    // The healthy session streams from the start to the end.
    let (_, pa, pb) = msrp_test_support::one_to_one(&engine, PATH_A, PATH_B).await;
    let mut a = Peer::connect(addr, PATH_A, &pa.local_uri).await;
    let mut b = Peer::connect(addr, PATH_B, &pb.local_uri).await;
    a.bind().await;
    b.bind().await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut healthy_a = Healthy::start('a', a, Arc::clone(&stop));
    let mut healthy_b = Healthy::start('b', b, Arc::clone(&stop));

    // Beside it: the slow connections, then every case of the table.
    let timeouts_before = metric(&engine, "msrp_switch_bind_timeouts_total");
    let slow = tokio::spawn(slow_connections(engine.local_addr(), pa.clone()));
    let table = cases::cases();
    let failures = run_cases(&engine, table, [&pa, &pb]).await;
    let slow = tokio::time::timeout(LIMIT, slow)
        .await
        .expect("slow connections not closed in time")
        .expect("slow connection task");

    // Then the healthy session winds down and is checked.
    stop.store(true, Ordering::Relaxed);
    let sent_a = healthy_a.finish_sending().await;
    let sent_b = healthy_b.finish_sending().await;
    await_delivery(&healthy_a, &sent_a, &healthy_b, &sent_b).await;
    let (seen_a, seen_b) = (healthy_a.stop(), healthy_b.stop());
    check_healthy('a', &sent_a, &seen_a, &seen_b);
    check_healthy('b', &sent_b, &seen_b, &seen_a);

    let (closed, slow_failures) = slow;
    let timeouts = metric(&engine, "msrp_switch_bind_timeouts_total") - timeouts_before;
    assert!(
        slow_failures.is_empty(),
        "slow connections:\n{}",
        slow_failures.join("\n")
    );
    assert!(
        timeouts >= closed as i64,
        "{closed} slow connections closed, but {timeouts} bind timeouts counted"
    );
    eprintln!(
        "adversarial: {closed} slow connections closed, {} + {} healthy messages, {:?}",
        sent_a.messages.len(),
        sent_b.messages.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of the cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------
// The table

/// Runs every case, `CONCURRENT_CASES` at a time, each on its own connection and
/// its own 1:1 session; returns a description of each that failed.
async fn run_cases(
    engine: &TestEngine,
    table: Vec<Case>,
    [ha, hb]: [&ParticipantInfo; 2],
) -> Vec<String> {
    assert!(table.len() >= 100, "only {} cases", table.len());
    let mut sections: Vec<(&str, usize)> = Vec::new();
    for case in &table {
        match sections.iter_mut().find(|(s, _)| *s == case.section) {
            Some((_, n)) => *n += 1,
            None => sections.push((case.section, 1)),
        }
    }
    eprintln!("adversarial: {} cases: {sections:?}", table.len());
    let port = engine.local_addr().port();
    let own = format!("msrp://127.0.0.1:{port};tcp");
    let limit = Arc::new(Semaphore::new(CONCURRENT_CASES));
    let mut running = JoinSet::new();
    for (index, case) in table.into_iter().enumerate() {
        let vars = case_vars(engine, index, &own, ha, hb).await;
        let addr = engine.local_addr();
        let permit = Arc::clone(&limit).acquire_owned().await.expect("semaphore");
        running.spawn(async move {
            let result = run_case(addr, &case, &vars).await;
            drop(permit);
            result.err().map(|why| {
                let bug = case.bug.map_or(String::new(), |now| {
                    format!(" [known BUG; the switch {now}]")
                });
                format!("#{index} {} ({}){bug}: {why}", case.name, case.section)
            })
        });
    }
    let mut failures = Vec::new();
    while let Some(done) = running.join_next().await {
        if let Some(failure) = done.expect("case task") {
            failures.push(failure);
        }
    }
    failures.sort();
    failures
}

/// A fresh 1:1 session for case `index` and the values its template takes. X is
/// the participant the case writes as; Y, the other one, accepts only text/plain of
/// at most 100,000 bytes and never connects.
async fn case_vars(
    engine: &TestEngine,
    index: usize,
    own: &str,
    ha: &ParticipantInfo,
    hb: &ParticipantInfo,
) -> HashMap<&'static str, String> {
    let xport = 41000 + index;
    let xsid = format!("cx{index:03}path");
    let from = format!("msrp://127.0.0.1:{xport}/{xsid};tcp");
    let yfrom = format!("msrp://127.0.0.1:{}/cy{index:03}path;tcp", 42000 + index);
    let session = engine.create_session(SessionKind::OneToOne).await.unwrap();
    let x = engine
        .add_participant(session, remote(&from))
        .await
        .unwrap();
    let mut y_media = remote(&yfrom);
    y_media.accept_types = vec!["text/plain".into()];
    y_media.max_size = Some(100_000);
    let y = engine.add_participant(session, y_media).await.unwrap();

    let to = x.local_uri.to_string();
    let sid = x.local_uri.session_id().expect("a session-id").to_string();
    let port = engine.local_addr().port();
    assert_eq!(to, format!("msrp://127.0.0.1:{port}/{sid};tcp"));
    let tid = format!("t{index:03}adv");
    let bind_tid = format!("b{index:03}bnd");
    let bind = format!(
        "MSRP {bind_tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: {bind_tid}\r\n\
         Byte-Range: 1-0/0\r\n-------{bind_tid}$\r\n"
    );
    let swapped = swap_case(&sid);
    assert_ne!(swapped, sid, "a session-id with letters");
    HashMap::from([
        ("tid", tid.clone()),
        ("TID", tid.to_ascii_uppercase()),
        ("to", to),
        ("from", from),
        ("port", port.to_string()),
        ("sidcut", sid[..sid.len() - 1].to_string()),
        ("SID", swapped),
        ("sid", sid),
        ("xport", xport.to_string()),
        ("XSID", swap_case(&xsid)),
        ("xsid", xsid),
        ("own", own.to_string()),
        ("yto", y.local_uri.to_string()),
        ("yfrom", yfrom),
        ("hato", ha.local_uri.to_string()),
        ("hafrom", PATH_A.to_string()),
        ("hbto", hb.local_uri.to_string()),
        ("hbfrom", PATH_B.to_string()),
        ("bind", bind),
        ("bindtid", bind_tid),
        ("probetid", format!("p{index:03}prb")),
    ])
}

fn swap_case(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Writes the case's bytes and the probe on a new connection and checks what comes
/// back, byte for byte.
async fn run_case(
    addr: std::net::SocketAddr,
    case: &Case,
    vars: &HashMap<&'static str, String>,
) -> Result<(), String> {
    let template = match &case.wire {
        Wire::Text(bytes) => bytes.to_vec(),
        Wire::Built(build) => build(),
    };
    let bytes = render(&template, vars);
    let var = |name: &str| vars[name].as_str();
    let probe = format!(
        "MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: {tid}\r\n\
         Byte-Range: 1-0/0\r\n-------{tid}$\r\n",
        tid = var("probetid"),
        to = var("to"),
        from = var("from"),
    );

    let mut expected = Vec::new();
    if template.windows(6).any(|w| w == b"{bind}") {
        expected.extend(response(var("bindtid"), 200, var("from"), var("to")));
    }
    if let Expect::Answer {
        status,
        tid,
        to,
        from,
    } = case.expect
    {
        let [tid, to, from] =
            [tid, to, from].map(|t| String::from_utf8(render(t.as_bytes(), vars)).expect("ASCII"));
        expected.extend(response(&tid, status, &to, &from));
    }
    let closes = matches!(case.expect, Expect::Closed);
    if !closes {
        expected.extend(response(var("probetid"), 200, var("from"), var("to")));
    }

    let mut stream = tokio::time::timeout(LIMIT, TcpStream::connect(addr))
        .await
        .map_err(|_| "no connection in time".to_string())?
        .map_err(|err| format!("connect: {err}"))?;
    stream.set_nodelay(true).expect("nodelay");
    // One write: what the switch does with the probe depends only on the bytes
    // before it. A switch that closed early may make this write fail.
    let _ = stream
        .write_all(&[bytes, probe.into_bytes()].concat())
        .await;
    let wrote = Instant::now();
    let (got, closed) = if closes {
        read_until(&mut stream, usize::MAX, CLOSED_WITHIN).await
    } else {
        read_until(&mut stream, expected.len(), LIMIT / 4).await
    };
    if got != expected {
        return Err(format!(
            "expected\n    {}\ngot\n    {}{}",
            text(&expected),
            text(&got),
            if closed { " (then closed)" } else { "" }
        ));
    }
    if closes && !closed {
        return Err(format!(
            "the connection was still open after {:?}",
            wrote.elapsed()
        ));
    }
    Ok(())
}

/// Replaces each `{name}` in `template` with its value; `{pad:N}` becomes filler
/// that makes the whole rendering N bytes long.
fn render(template: &[u8], vars: &HashMap<&'static str, String>) -> Vec<u8> {
    let mut out = Vec::with_capacity(template.len() + 512);
    let mut pad = None;
    let mut rest = template;
    while let Some(open) = rest.iter().position(|&b| b == b'{') {
        out.extend_from_slice(&rest[..open]);
        let close = rest[open..]
            .iter()
            .position(|&b| b == b'}')
            .map(|at| open + at)
            .expect("an unclosed placeholder");
        let name = std::str::from_utf8(&rest[open + 1..close]).expect("placeholder name");
        if let Some(len) = name.strip_prefix("pad:") {
            pad = Some((out.len(), len.parse::<usize>().expect("pad length")));
        } else {
            let value = vars
                .get(name)
                .unwrap_or_else(|| panic!("no placeholder {{{name}}}"));
            out.extend_from_slice(value.as_bytes());
        }
        rest = &rest[close + 1..];
    }
    out.extend_from_slice(rest);
    if let Some((at, len)) = pad {
        let filler = len
            .checked_sub(out.len())
            .expect("pad shorter than the rest");
        out.splice(at..at, std::iter::repeat_n(b'p', filler));
    }
    out
}

/// A response exactly as the switch writes it (RFC 4975 §7.2).
fn response(tid: &str, status: u16, to: &str, from: &str) -> Vec<u8> {
    let reason = REASONS
        .iter()
        .find(|(code, _)| *code == status)
        .map(|(_, reason)| *reason)
        .unwrap_or_else(|| panic!("no reason for {status}"));
    format!(
        "MSRP {tid} {status} {reason}\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n-------{tid}$\r\n"
    )
    .into_bytes()
}

/// Reads until `want` bytes came, the connection closed (true) or `wait` passed.
async fn read_until(stream: &mut TcpStream, want: usize, wait: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut closed = false;
    let _ = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        while got.len() < want {
            // Never past `want`: what follows is the next read's.
            let room = buf.len().min(want - got.len());
            match stream.read(&mut buf[..room]).await {
                Ok(0) | Err(_) => {
                    closed = true;
                    return;
                }
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    (got, closed)
}

/// Bytes as readable text: CR and LF escaped, other bytes as `\xNN`.
fn text(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

// ---------------------------------------------------------------------------------
// Slow and half-open connections

/// How a slow connection misbehaves.
#[derive(Clone, Copy, Debug)]
enum Slow {
    /// Writes a whole head one byte every 100 ms: far too slowly to finish it.
    Drip,
    /// Writes part of a head, then nothing.
    HalfOpen,
    /// Connects and writes nothing.
    Idle,
}

/// Opens slow connections of every kind, some after a first request refused 481
/// (the connection is then the switch's, not the accept loop's), and waits for
/// each to be closed. Returns how many were closed and what went wrong.
async fn slow_connections(
    addr: std::net::SocketAddr,
    healthy_a: ParticipantInfo,
) -> (usize, Vec<String>) {
    let head = format!(
        "MSRP slow0001 SEND\r\nTo-Path: {}\r\nFrom-Path: {PATH_A}\r\nMessage-ID: slow0001\r\n\
         Byte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------slow0001$\r\n",
        healthy_a.local_uri
    );
    let mut kinds = Vec::new();
    for (kind, count) in [(Slow::Drip, 8), (Slow::HalfOpen, 6), (Slow::Idle, 4)] {
        kinds.extend(std::iter::repeat_n((kind, false), count));
    }
    for (kind, count) in [(Slow::Drip, 4), (Slow::HalfOpen, 2)] {
        kinds.extend(std::iter::repeat_n((kind, true), count));
    }
    let mut running = JoinSet::new();
    for (n, (kind, after_481)) in kinds.iter().copied().enumerate() {
        let head = head.clone();
        running.spawn(async move {
            let result = slow_connection(addr, kind, after_481, head.into_bytes()).await;
            result.map_err(|why| format!("slow #{n} {kind:?} (after a 481: {after_481}): {why}"))
        });
    }
    let mut failures = Vec::new();
    while let Some(done) = running.join_next().await {
        if let Err(failure) = done.expect("slow task") {
            failures.push(failure);
        }
    }
    (kinds.len(), failures)
}

async fn slow_connection(
    addr: std::net::SocketAddr,
    kind: Slow,
    after_481: bool,
    head: Vec<u8>,
) -> Result<(), String> {
    let connected = Instant::now();
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).expect("nodelay");
    let (mut read, mut write) = stream.into_split();
    let mut expected = Vec::new();
    if after_481 {
        let refused = "MSRP slow0481 SEND\r\nTo-Path: msrp://127.0.0.1:9/nosuchsession;tcp\r\n\
             From-Path: msrp://127.0.0.1:9/slow;tcp\r\nMessage-ID: slow0481\r\n\
             Byte-Range: 1-0/0\r\n-------slow0481$\r\n";
        write
            .write_all(refused.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        expected = response(
            "slow0481",
            481,
            "msrp://127.0.0.1:9/slow;tcp",
            "msrp://127.0.0.1:9/nosuchsession;tcp",
        );
    }
    let writer = tokio::spawn(async move {
        match kind {
            Slow::Drip => {
                for byte in head {
                    if write.write_all(&[byte]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Slow::HalfOpen => {
                let _ = write.write_all(&head[..head.len() / 3]).await;
            }
            Slow::Idle => {}
        }
        // Keep the write half (and so the connection) open until aborted.
        std::future::pending::<()>().await;
    });
    let mut got = Vec::new();
    let read_all = read.read_to_end(&mut got);
    let outcome = tokio::time::timeout(BIND_TIMEOUT + Duration::from_secs(8), read_all).await;
    writer.abort();
    let elapsed = connected.elapsed();
    if outcome.is_err() {
        return Err(format!("still open after {elapsed:?}"));
    }
    if got != expected {
        return Err(format!("expected {} got {}", text(&expected), text(&got)));
    }
    // Closed by the bind timer, which cannot fire sooner.
    if elapsed < BIND_TIMEOUT {
        return Err(format!("closed after {elapsed:?}, before the bind timeout"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// The healthy session

/// What one healthy participant sent.
struct Sent {
    /// Message-ID, FNV hash and length of each message.
    messages: Vec<(String, u64, usize)>,
    /// The transaction id of every chunk.
    tids: Vec<String>,
}

/// What one healthy participant received.
#[derive(Default)]
struct Seen {
    /// The status of each response, by transaction id.
    answers: HashMap<String, u16>,
    /// Messages being received: the bytes so far, by Message-ID.
    partial: HashMap<String, Vec<u8>>,
    /// Whole messages: hash and length, by Message-ID.
    delivered: HashMap<String, (u64, usize)>,
    /// Anything that should not have happened.
    problems: Vec<String>,
}

/// A healthy participant: a producer of messages, a reader that answers and
/// reassembles what arrives, and a writer that is the only one to write (the reader
/// never waits for the producer, so backpressure cannot deadlock the two peers).
struct Healthy {
    seen: Arc<Mutex<Seen>>,
    producer: Option<tokio::task::JoinHandle<Sent>>,
    reader: tokio::task::JoinHandle<()>,
    writer: tokio::task::JoinHandle<()>,
}

impl Healthy {
    fn start(side: char, peer: Peer, stop: Arc<AtomicBool>) -> Healthy {
        let (me, switch) = (peer.me.clone(), peer.switch.clone());
        let (read_half, write_half) = peer.into_stream().into_split();
        let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let writer = tokio::spawn(write_healthy(write_half, rx));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let reader = tokio::spawn(read_healthy(
            FrameReader::new(read_half),
            me.clone(),
            switch.clone(),
            tx.clone(),
            Arc::clone(&seen),
        ));
        let producer = Some(tokio::spawn(produce(side, me, switch, tx, stop)));
        Healthy {
            seen,
            producer,
            reader,
            writer,
        }
    }

    /// Waits for the producer, which ends once `stop` is set and it has sent
    /// `HEALTHY_MIN_MESSAGES`.
    async fn finish_sending(&mut self) -> Sent {
        let producer = self.producer.take().expect("producer running");
        tokio::time::timeout(LIMIT, producer)
            .await
            .expect("healthy producer did not stop")
            .expect("healthy producer")
    }

    /// Looks at what was seen so far.
    fn with_seen<T>(&self, look: impl FnOnce(&Seen) -> T) -> T {
        look(&self.seen.lock().expect("seen"))
    }

    fn stop(self) -> Seen {
        self.reader.abort();
        self.writer.abort();
        std::mem::take(&mut *self.seen.lock().expect("seen"))
    }
}

async fn write_healthy(mut write_half: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Vec<u8>>) {
    while let Some(frame) = rx.recv().await {
        // Each frame in one write (msrplib's end-line bug: never split one).
        write_half.write_all(&frame).await.expect("healthy write");
    }
}

/// Message sizes, in turn: around the 2048-byte interruptible size, tiny ones and
/// ones of several reads.
const SIZES: [usize; 10] = [1, 17, 300, 1000, 2048, 2049, 5000, 12_000, 20_000, 40_000];

/// The body of message `n` of `side`: every byte value, CR LF pairs and lookalike
/// end-lines of another transaction.
fn healthy_body(side: char, n: usize) -> Vec<u8> {
    let len = SIZES[n % SIZES.len()];
    let seed = n * 131 + usize::from(side == 'b') * 7;
    let mut body: Vec<u8> = (0..len).map(|i| ((i * 31 + seed) % 256) as u8).collect();
    let lookalike = b"\r\n-------zzzz9999$\r\n-------";
    let mut at = 3;
    while at + lookalike.len() < len {
        body[at..at + lookalike.len()].copy_from_slice(lookalike);
        at += 997;
    }
    body
}

/// Sends messages (in one to three chunks each, pipelined) until `stop` is set and
/// at least `HEALTHY_MIN_MESSAGES` are out.
async fn produce(
    side: char,
    me: String,
    switch: String,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    stop: Arc<AtomicBool>,
) -> Sent {
    let mut sent = Sent {
        messages: Vec::new(),
        tids: Vec::new(),
    };
    let mut n = 0;
    while n < HEALTHY_MIN_MESSAGES || !stop.load(Ordering::Relaxed) {
        let body = healthy_body(side, n);
        let message_id = format!("h{side}{n:05}");
        let chunks = (1 + n % 3).min(body.len());
        let size = body.len().div_ceil(chunks);
        for (k, part) in body.chunks(size).enumerate() {
            let tid = format!("h{side}{n:05}c{k}");
            let frame = SendChunk {
                to_path: &switch,
                from_path: &me,
                tid: &tid,
                message_id: &message_id,
                start: k * size + 1,
                total: body.len(),
                extra_headers: "",
                content_type: "application/octet-stream",
                flag: if (k + 1) * size >= body.len() {
                    '$'
                } else {
                    '+'
                },
            }
            .encode(part);
            tx.send(frame).expect("healthy writer");
            sent.tids.push(tid);
        }
        sent.messages.push((message_id, hash(&body), body.len()));
        n += 1;
        tokio::time::sleep(HEALTHY_PACE).await;
    }
    sent
}

/// Reads everything that reaches a healthy participant: responses are recorded,
/// SENDs answered 200 and reassembled by Byte-Range, anything else is a problem.
async fn read_healthy(
    mut reader: FrameReader<tokio::net::tcp::OwnedReadHalf>,
    me: String,
    switch: String,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    seen: Arc<Mutex<Seen>>,
) {
    loop {
        let Some(frame) = reader.try_read_frame().await else {
            seen.lock()
                .expect("seen")
                .problems
                .push("connection closed".into());
            return;
        };
        let mut seen = seen.lock().expect("seen");
        if let Some(status) = frame.status() {
            if seen.answers.insert(frame.tid(), status).is_some() {
                seen.problems
                    .push(format!("second answer for {}", frame.tid()));
            }
            continue;
        }
        if frame.method().as_deref() != Some("SEND") {
            seen.problems.push(format!("unexpected request {frame:?}"));
            continue;
        }
        let answer = msrp_test_support::wire::response_frame(&frame.tid(), "200 OK", &switch, &me);
        let _ = tx.send(answer.into_bytes());
        if frame.target_path() != [me.as_str()] || frame.sender_path() != [switch.as_str()] {
            seen.problems
                .push(format!("SEND with foreign paths {frame:?}"));
            continue;
        }
        let (Some(id), Some(range)) = (frame.head.message_id(), frame.head.byte_range()) else {
            seen.problems
                .push(format!("SEND without Message-ID or Byte-Range {frame:?}"));
            continue;
        };
        let id = id.as_str().to_string();
        if seen.delivered.contains_key(&id) {
            seen.problems.push(format!("{id} arrived again"));
            continue;
        }
        let so_far = seen.partial.entry(id.clone()).or_default();
        if range.start != so_far.len() as u64 + 1 {
            let problem = format!(
                "{id}: chunk at {} after {} bytes",
                range.start,
                so_far.len()
            );
            seen.problems.push(problem);
            continue;
        }
        so_far.extend_from_slice(&frame.body);
        match frame.flag {
            ContinuationFlag::More => {}
            ContinuationFlag::End => {
                let body = seen.partial.remove(&id).unwrap_or_default();
                seen.delivered.insert(id, (hash(&body), body.len()));
            }
            ContinuationFlag::Abort => seen.problems.push(format!("{id} aborted")),
        }
    }
}

/// Waits until each side has every answer to its chunks and the other side has
/// every one of its messages.
async fn await_delivery(a: &Healthy, sent_a: &Sent, b: &Healthy, sent_b: &Sent) {
    let complete = |sender: &Healthy, sent: &Sent, receiver: &Healthy| {
        let answered = sender.with_seen(|s| sent.tids.iter().all(|t| s.answers.contains_key(t)));
        let delivered = receiver.with_seen(|s| {
            sent.messages
                .iter()
                .all(|(id, ..)| s.delivered.contains_key(id))
        });
        answered && delivered
    };
    let waited = tokio::time::timeout(LIMIT, async {
        while !(complete(a, sent_a, b) && complete(b, sent_b, a)) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let problems = a.with_seen(|s| s.problems.clone());
    let problems_b = b.with_seen(|s| s.problems.clone());
    assert!(
        waited.is_ok(),
        "the healthy session did not complete: problems at A {problems:?}, at B {problems_b:?}"
    );
}

/// Every chunk `side` sent was answered 200, every message reached the other side
/// whole, and nothing else happened to either.
fn check_healthy(side: char, sent: &Sent, own: &Seen, other: &Seen) {
    assert!(sent.messages.len() >= HEALTHY_MIN_MESSAGES);
    assert!(own.problems.is_empty(), "{side}: {:?}", own.problems);
    assert_eq!(own.answers.len(), sent.tids.len(), "{side}: answers");
    for tid in &sent.tids {
        assert_eq!(own.answers.get(tid), Some(&200), "{side}: answer to {tid}");
    }
    assert_eq!(
        other.delivered.len(),
        sent.messages.len(),
        "{side}: delivered"
    );
    assert!(other.partial.is_empty(), "{side}: messages left unfinished");
    for (id, hash, len) in &sent.messages {
        assert_eq!(
            other.delivered.get(id),
            Some(&(*hash, *len)),
            "{side}: {id}"
        );
    }
}

// ---------------------------------------------------------------------------------
// A head one byte per segment

/// A bodiless SEND (or, with `body`, a SEND with that body) from `from` to `to`
/// whose head is padded with `X-Pad-NN` headers to `head_len` bytes (the end-line
/// included when there is no body: it counts against max_head_bytes then).
fn padded_frame(tid: &str, to: &str, from: &str, head_len: usize, body: Option<&[u8]>) -> Vec<u8> {
    let mut head =
        format!("MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n");
    let tail = match body {
        Some(body) => format!(
            "Byte-Range: 1-{len}/{len}\r\nContent-Type: text/plain\r\n\r\n",
            len = body.len()
        ),
        None => format!("Byte-Range: 1-0/0\r\n-------{tid}$\r\n"),
    };
    // Pad lines of 400 bytes (max_headers is 64), then one shorter line for the rest.
    let mut n = 0;
    while head.len() + tail.len() + 400 < head_len {
        let value = "x".repeat(400 - "X-Pad-00: \r\n".len());
        head.push_str(&format!("X-Pad-{n:02}: {value}\r\n"));
        n += 1;
    }
    let rest = head_len - head.len() - tail.len();
    assert!(
        rest >= "X-Pad-00: \r\n".len(),
        "no room for the last pad line"
    );
    head.push_str(&format!(
        "X-Pad-{n:02}: {}\r\n",
        "y".repeat(rest - "X-Pad-00: \r\n".len())
    ));
    head.push_str(&tail);
    assert_eq!(head.len(), head_len);
    let mut frame = head.into_bytes();
    if let Some(body) = body {
        frame.extend_from_slice(body);
        frame.extend_from_slice(format!("\r\n-------{tid}$\r\n").as_bytes());
    }
    frame
}

/// Writes `bytes` one byte per write: with TCP_NODELAY, one segment each.
async fn write_bytewise(stream: &mut TcpStream, bytes: &[u8]) {
    for byte in bytes {
        stream.write_all(std::slice::from_ref(byte)).await.unwrap();
    }
}

/// A head just under max_head_bytes (16,384), written one byte per segment: first
/// as the connection's first request (read by the accept loop until it names its
/// session), then as a SEND with a body on the bound connection (read by the
/// switch's decoder). Both are answered exactly as if written at once, and the
/// message arrives whole with its 40 extension headers.
#[tokio::test]
async fn a_head_written_one_byte_per_segment_is_answered() {
    const HEAD_LEN: usize = 16_000;
    let engine = start_engine(1, |_| {});
    let (_, pa, pb) = msrp_test_support::one_to_one(&engine, PATH_A, PATH_B).await;
    let mut b = Peer::connect(engine.local_addr(), PATH_B, &pb.local_uri).await;
    b.bind().await;
    let to = pa.local_uri.to_string();
    let mut a = TcpStream::connect(engine.local_addr()).await.unwrap();
    a.set_nodelay(true).unwrap();

    let bind = padded_frame("byte0001", &to, PATH_A, HEAD_LEN, None);
    write_bytewise(&mut a, &bind).await;
    let expected = response("byte0001", 200, PATH_A, &to);
    let (got, _) = read_until(&mut a, expected.len(), LIMIT).await;
    assert_eq!(text(&got), text(&expected));

    let body = b"written one byte at a time";
    let send = padded_frame("byte0002", &to, PATH_A, HEAD_LEN, Some(body));
    write_bytewise(&mut a, &send).await;
    let expected = response("byte0002", 200, PATH_A, &to);
    let (got, _) = read_until(&mut a, expected.len(), LIMIT).await;
    assert_eq!(text(&got), text(&expected));

    let delivered = b.read_frame().await;
    assert_eq!(delivered.body, body);
    assert_eq!(delivered.head.message_id().unwrap().as_str(), "mbyte0002");
    let pads = delivered
        .head
        .headers()
        .filter(|(_, name, _)| name.starts_with("X-Pad-"))
        .count();
    let sent_pads = send.windows(6).filter(|w| w == b"X-Pad-").count();
    assert!(sent_pads > 30, "{sent_pads} pad headers");
    assert_eq!(pads, sent_pads, "extension headers passed through (§12)");
}

// ---------------------------------------------------------------------------------
// Two shards

/// BUG: RFC 4975 §7.3 answers 481 only for a session that does not exist (or is
/// not the connection's). A connection whose first request was refused 400 stays
/// on the shard the kernel gave it (`feed_unbound` settles it on a malformed
/// frame), so its next request, binding a live session of the other shard, is
/// answered 481 although the session exists and is free. After a 481 or a 403 the
/// connection may still move (`transport.rs` tests those); after a 400 it must too.
///
/// Sixteen connections each bind a different session of shard 1 after a 400; the
/// kernel spreads connections over both shards' listeners, so some land on shard 0
/// (all 16 landing on shard 1 has probability 2^-16).
#[tokio::test]
async fn a_400_does_not_keep_a_connection_from_binding_a_session_of_another_shard() {
    const CONNECTIONS: usize = 16;
    let engine = start_engine(2, |_| {});
    let mut targets = Vec::new();
    for n in 0..256 {
        if targets.len() == CONNECTIONS {
            break;
        }
        let (x, y) = (
            format!("msrp://127.0.0.1:9/shx{n:03};tcp"),
            format!("msrp://127.0.0.1:9/shy{n:03};tcp"),
        );
        let (_, px, _) = msrp_test_support::one_to_one(&engine, &x, &y).await;
        let sid = px.local_uri.session_id().expect("a session-id");
        if shard_of_session_id(sid) == Some(1) {
            targets.push((px.local_uri.to_string(), x));
        }
    }
    assert_eq!(targets.len(), CONNECTIONS, "too few sessions on shard 1");

    let mut refused = Vec::new();
    for (n, (to, from)) in targets.iter().enumerate() {
        let mut stream = TcpStream::connect(engine.local_addr()).await.unwrap();
        let bad = format!(
            "MSRP bad{n:05} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: bad{n:05}\r\n\
             Byte-Range: 9-1/5\r\nContent-Type: text/plain\r\n\r\noops!\r\n-------bad{n:05}$\r\n"
        );
        let bind = format!(
            "MSRP bnd{n:05} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: bnd{n:05}\r\n\
             Byte-Range: 1-0/0\r\n-------bnd{n:05}$\r\n"
        );
        stream
            .write_all([bad, bind].concat().as_bytes())
            .await
            .unwrap();
        let first = response(&format!("bad{n:05}"), 400, from, to);
        let (got, _) = read_until(&mut stream, first.len(), LIMIT).await;
        assert_eq!(text(&got), text(&first));
        let tid = format!("bnd{n:05}");
        let bound = response(&tid, 200, from, to);
        let (mut got, _) = read_until(&mut stream, bound.len(), LIMIT).await;
        if got != bound {
            // The longer 481 answer: read the rest of it.
            let not_found = response(&tid, 481, from, to);
            let (rest, _) = read_until(&mut stream, not_found.len() - got.len(), LIMIT).await;
            got.extend(rest);
            assert_eq!(text(&got), text(&not_found), "neither 200 nor 481");
            refused.push(n);
        }
    }
    assert!(
        refused.is_empty(),
        "after a 400, binding a free session of the other shard was answered 481 on \
         connections {refused:?} of {CONNECTIONS}"
    );
}
