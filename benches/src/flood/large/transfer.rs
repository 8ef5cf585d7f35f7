//! One large message session's life on the switch, as an IM Server and its
//! clients go through it: CreateSession and AddParticipant (the sender first),
//! every receiver connected and bound before the sender, the message sent in
//! windowed chunks and read back by each receiver item by item (never a whole
//! chunk in memory), each chunk's Byte-Range checked and answered 200,
//! `large_message_complete` awaited on WatchEvents, ReleaseSession.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use control_api::pb;
use msrp_switch::codec::{ContinuationFlag, Head, Item, Method, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;

use super::report::{Completion, LargeErrors};
use crate::flood::body::{self, BodyCheck, BodyHeader};
use crate::flood::stream::{FloodRead, FloodWrite};
use crate::flood::target::switch::{Control, Participant, add_participant};
use crate::flood::target::{LOCAL_HOST, Leg, address_of, member_uri, run_tag};
use crate::flood::wire::{
    ChunkRange, FLOOD_CONTENT_TYPE, MsrpConn, Paths, put_end_line, put_ok, put_send_head, wants_ok,
};

/// Nothing read or written on a connection for this long fails the run: the
/// switch's own transaction timeout (30 s) would have failed the message by then.
const STALL_LIMIT: Duration = Duration::from_secs(30);

/// How long connecting and binding one leg, or one control call outside the
/// run's own timeout, may take.
pub(super) const SETUP_LIMIT: Duration = Duration::from_secs(10);

/// How long after the last receiver's last answer `large_message_complete` may
/// take; a session without it counts as unconfirmed.
const COMPLETE_LIMIT: Duration = Duration::from_secs(10);

/// A large message session on the switch.
#[derive(Debug, Clone)]
pub(super) struct LargeSession {
    pub(super) session_id: String,
    /// The first participant added: the sender.
    sender: Participant,
    receivers: Vec<Participant>,
}

/// Creates a large message session with a sender and `receivers` receivers,
/// each connecting in (`a=setup:active`) with its own URI; released again if
/// a participant cannot be added.
pub(super) async fn create_session(
    client: &mut Control,
    tag: &str,
    n: u32,
    receivers: u32,
) -> anyhow::Result<LargeSession> {
    let session_id = client
        .create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::LargeMessage as i32,
            correlation_tag: format!("flood-large-{n}"),
            ..Default::default()
        })
        .await
        .context("CreateSession (large message)")?
        .into_inner()
        .session_id;
    let added = async {
        // The order is the roles: the first participant added sends.
        let sender = member_uri(LOCAL_HOST, tag, n, 0);
        let sender = add_participant(client, &session_id, &sender, None, None).await?;
        let mut added = Vec::with_capacity(receivers as usize);
        for k in 1..=receivers {
            let path = member_uri(LOCAL_HOST, tag, n, k);
            added.push(add_participant(client, &session_id, &path, None, None).await?);
        }
        anyhow::Ok((sender, added))
    }
    .await;
    match added {
        Ok((sender, receivers)) => Ok(LargeSession {
            session_id,
            sender,
            receivers,
        }),
        Err(err) => {
            let _ = release_session(client, &session_id).await;
            Err(err)
        }
    }
}

/// ReleaseSession, the IM Server's BYE. A session the switch already released
/// (after `--large-message-linger-seconds`) is no error.
pub(super) async fn release_session(client: &mut Control, session_id: &str) -> anyhow::Result<()> {
    let request = pb::ReleaseSessionRequest {
        session_id: session_id.to_owned(),
    };
    match timeout(SETUP_LIMIT, client.release_session(request)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(status)) if status.code() == tonic::Code::NotFound => Ok(()),
        Ok(Err(status)) => Err(anyhow::Error::new(status).context("ReleaseSession")),
        Err(_) => bail!("ReleaseSession: no answer within {SETUP_LIMIT:?}"),
    }
}

/// Connects to the switch for `participant` and binds (bodiless SEND, 200).
async fn bind(msrp_addr: Option<SocketAddr>, participant: &Participant) -> anyhow::Result<Leg> {
    let addr = match msrp_addr {
        Some(addr) => addr,
        None => address_of(&participant.switch_uri).await?,
    };
    let paths = Paths::new(participant.switch_uri.clone(), participant.path.clone());
    let mut conn = timeout(SETUP_LIMIT, MsrpConn::connect(addr))
        .await
        .with_context(|| format!("connecting to {addr}: no answer within {SETUP_LIMIT:?}"))??;
    conn.bind(&paths, SETUP_LIMIT).await?;
    Ok(Leg { conn, paths })
}

/// The message one session carries.
#[derive(Debug, Clone, Copy)]
pub(super) struct Message {
    pub(super) size: u64,
    pub(super) chunk_size: u64,
    /// The body's header; its seed makes the fill.
    pub(super) header: BodyHeader,
    pub(super) verify: bool,
}

/// The body header of session `n`'s message: its seed differs per session, so a
/// receiver given another session's bytes notices.
pub(super) fn body_header(n: u32) -> BodyHeader {
    BodyHeader {
        sent_ns: 0,
        session: n,
        flags: 0,
        seq: 0,
    }
}

/// One message carried through one session.
pub(super) struct Transfer {
    pub(super) sent: Sent,
    pub(super) received: Vec<Received>,
    pub(super) completion: Option<Completion>,
    /// The connections, open until the caller has released the session.
    _legs: Vec<Leg>,
    _receivers: Vec<(FloodRead, FloodWrite)>,
}

impl Transfer {
    pub(super) fn errors(&self) -> LargeErrors {
        let mut errors = LargeErrors {
            non_200: self.sent.non_200,
            ..LargeErrors::default()
        };
        for r in &self.received {
            errors.byte_range += r.byte_range_errors;
            errors.body_mismatch += u64::from(!r.intact);
            errors.incomplete += u64::from(!r.complete);
        }
        match self.completion {
            Some(c) => errors.switch_failed += u64::from(c.failed),
            None => errors.unconfirmed += 1,
        }
        errors
    }
}

/// Binds every receiver, then the sender; sends the message while the
/// receivers take it; then waits (at most [`COMPLETE_LIMIT`]) for `done`.
pub(super) async fn transfer(
    session: &LargeSession,
    message: Message,
    window: usize,
    msrp_addr: Option<SocketAddr>,
    done: oneshot::Receiver<Completion>,
) -> anyhow::Result<Transfer> {
    let mut receiving = JoinSet::new();
    for (k, participant) in (1..).zip(&session.receivers) {
        let leg = bind(msrp_addr, participant)
            .await
            .with_context(|| format!("binding receiver {k}"))?;
        receiving.spawn(receive(leg, message));
    }
    let mut sender = bind(msrp_addr, &session.sender)
        .await
        .context("binding the sender")?;
    let message_id = format!("{}lm{}", run_tag(), message.header.session);
    let sent = send(&mut sender, &message_id, &message, window).await?;
    let mut received = Vec::with_capacity(session.receivers.len());
    let mut receivers = Vec::with_capacity(session.receivers.len());
    while let Some(joined) = receiving.join_next().await {
        let (got, halves) = joined.context("a receiver panicked")??;
        received.push(got);
        receivers.push(halves);
    }
    let completion = timeout(COMPLETE_LIMIT, done)
        .await
        .ok()
        .and_then(Result::ok);
    Ok(Transfer {
        sent,
        received,
        completion,
        _legs: vec![sender],
        _receivers: receivers,
    })
}

/// What the sender saw.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sent {
    /// Just before its first chunk was written.
    pub(super) first_byte: Instant,
    /// When its last chunk's response came.
    pub(super) last_answer: Instant,
    pub(super) chunks: u64,
    /// Non-200 responses and failure REPORTs.
    non_200: u64,
}

/// Sends `message` in chunks of `chunk_size` (`+`, the last `$`), with at most
/// `window` unanswered; returns once every chunk is answered. The switch answers
/// a chunk once it has stored it, so the window lets the store's writes overlap
/// the next chunk's transmission.
async fn send(
    leg: &mut Leg,
    message_id: &str,
    message: &Message,
    window: usize,
) -> anyhow::Result<Sent> {
    let size = message.size;
    let first = usize_of(message.chunk_size.min(size))?;
    let mut frame = Vec::with_capacity(first + 512);
    let mut offset = 0u64;
    let mut outstanding = 0usize;
    let now = Instant::now();
    let mut sent = Sent {
        first_byte: now,
        last_answer: now,
        chunks: 0,
        non_200: 0,
    };
    while offset < size || outstanding > 0 {
        while offset < size && outstanding < window {
            let end = offset.saturating_add(message.chunk_size).min(size);
            let tid = leg.conn.next_tid();
            let range = ChunkRange {
                start: offset + 1,
                end,
                total: size,
            };
            put_send_head(
                &mut frame,
                tid,
                &leg.paths,
                message_id.as_bytes(),
                range,
                FLOOD_CONTENT_TYPE.as_bytes(),
            );
            body::write_range(
                &mut frame,
                &message.header,
                usize_of(offset)?..usize_of(end)?,
            );
            let flag = match end == size {
                true => ContinuationFlag::End,
                false => ContinuationFlag::More,
            };
            put_end_line(&mut frame, tid, flag);
            if sent.chunks == 0 {
                sent.first_byte = Instant::now();
            }
            timeout(STALL_LIMIT, leg.conn.write_all(&frame))
                .await
                .with_context(|| {
                    format!("the switch took no bytes of a chunk for {STALL_LIMIT:?}")
                })??;
            frame.clear();
            sent.chunks += 1;
            outstanding += 1;
            offset = end;
        }
        let answer = timeout(STALL_LIMIT, leg.conn.read_frame())
            .await
            .with_context(|| {
                format!("no response from the switch for {STALL_LIMIT:?} ({outstanding} owed)")
            })??;
        let head = &answer.head;
        match head.response_status() {
            Some(status) => {
                outstanding = outstanding.saturating_sub(1);
                sent.non_200 += u64::from(status != StatusCode::OK);
                sent.last_answer = Instant::now();
            }
            // A REPORT: the switch gave up on the message (Failure-Report).
            None if head.method() == Some(Method::Report)
                && head.status().is_none_or(|s| !s.code.is_success()) =>
            {
                sent.non_200 += 1;
            }
            None => {}
        }
    }
    Ok(sent)
}

fn usize_of(n: u64) -> anyhow::Result<usize> {
    usize::try_from(n).with_context(|| format!("{n} bytes do not fit in memory addresses"))
}

/// What one receiver got.
#[derive(Debug, Clone, Copy)]
pub(super) struct Received {
    /// Body bytes.
    pub(super) bytes: u64,
    pub(super) chunks: u64,
    pub(super) largest_chunk: u64,
    pub(super) byte_range_errors: u64,
    /// Every byte was the generated one (true when not verifying).
    pub(super) intact: bool,
    /// The `$` chunk ended exactly at the message's size.
    pub(super) complete: bool,
    /// The `$` came on an empty chunk after the last bytes had gone with `+`.
    pub(super) empty_end: bool,
    /// When its answer to the `$` chunk was written.
    pub(super) finished: Instant,
}

/// The SEND being read: its head (for the 200) and the Byte-Range end it
/// promised.
struct Incoming {
    head: Head,
    end: Option<u64>,
    /// Bodiless (a keep-alive): answered, not counted.
    bodiless: bool,
    len: u64,
}

/// Reads the message off `leg` item by item (no chunk is held whole), checks
/// each chunk's Byte-Range follows on, feeds the body check, answers each
/// SEND 200, and returns at the `$` chunk with the connection's halves, which
/// stay open until the session is released.
async fn receive(
    leg: Leg,
    message: Message,
) -> anyhow::Result<(Received, (FloodRead, FloodWrite))> {
    let own_path = leg.paths.from_path;
    let (mut read, mut reader, mut write) = leg.conn.into_split()?;
    let size = message.size;
    let mut check = BodyCheck::new();
    let mut out = Vec::with_capacity(4096);
    let mut current: Option<Incoming> = None;
    let mut got = Received {
        bytes: 0,
        chunks: 0,
        largest_chunk: 0,
        byte_range_errors: 0,
        intact: true,
        complete: false,
        empty_end: false,
        finished: Instant::now(),
    };
    loop {
        let read_now = timeout(STALL_LIMIT, reader.fill(&mut read))
            .await
            .with_context(|| {
                format!(
                    "nothing from the switch for {STALL_LIMIT:?} after {} of {size} bytes",
                    got.bytes
                )
            })??;
        if read_now == 0 {
            bail!(
                "the switch closed the connection after {} of {size} bytes",
                got.bytes
            );
        }
        let mut ended = false;
        while let Some(item) = reader.next_item()? {
            match item {
                Item::Head(head) if head.method() == Some(Method::Send) => {
                    current = Some(incoming(head, got.bytes, size, &mut got.byte_range_errors));
                }
                // A response or a REPORT: nothing to answer or count.
                Item::Head(_) => current = None,
                Item::Body(piece) => {
                    if let Some(chunk) = current.as_mut() {
                        chunk.len += piece.len() as u64;
                        got.bytes += piece.len() as u64;
                        if message.verify {
                            check.feed(&piece);
                        }
                    }
                }
                Item::End(flag) => {
                    let Some(chunk) = current.take() else {
                        continue;
                    };
                    if wants_ok(&chunk.head) {
                        put_ok(&mut out, &chunk.head, &own_path);
                    }
                    if chunk.bodiless {
                        continue;
                    }
                    got.chunks += 1;
                    got.largest_chunk = got.largest_chunk.max(chunk.len);
                    if chunk.end != Some(got.bytes) {
                        got.byte_range_errors += 1;
                    }
                    match flag {
                        ContinuationFlag::More => {}
                        ContinuationFlag::End => {
                            ended = true;
                            got.empty_end = chunk.len == 0;
                        }
                        ContinuationFlag::Abort => bail!(
                            "the switch aborted the message (#) after {} of {size} bytes",
                            got.bytes
                        ),
                    }
                }
            }
        }
        if !out.is_empty() {
            timeout(STALL_LIMIT, async {
                write.write_all(&out).await?;
                write.flush().await
            })
            .await
            .with_context(|| format!("the switch took no answer for {STALL_LIMIT:?}"))??;
            out.clear();
        }
        if ended {
            got.finished = Instant::now();
            got.complete = got.bytes == size;
            got.intact = !message.verify
                || (check.is_intact()
                    && check.header() == Some(message.header)
                    && check.received() as u64 == size);
            return Ok((got, (read, write)));
        }
    }
}

/// A SEND's head, checked against the bytes already `received`: a chunk with a
/// body must say where it starts (right after them) and the message's size.
fn incoming(head: Head, received: u64, size: u64, errors: &mut u64) -> Incoming {
    let range = head.byte_range();
    let bodiless = !head.has_body() || range.is_some_and(|r| r.total == Some(0));
    if !bodiless && range.is_none_or(|r| r.start != received + 1 || r.total != Some(size)) {
        *errors += 1;
    }
    Incoming {
        head,
        end: range.and_then(|r| r.end),
        bodiless,
        len: 0,
    }
}

/// `large_message_complete` events off one WatchEvents stream, handed to
/// whoever waits for their session. The stream is opened (the switch
/// subscribed) before [`Completions::watch`] returns, so a session expected
/// before its message is sent cannot miss its event; one the switch dropped for
/// a slow watcher (`events_missed`) leaves its session unconfirmed.
pub(super) struct Completions {
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Completion>>>>,
    watcher: JoinHandle<()>,
}

impl Completions {
    /// Watches every session, or the one given.
    pub(super) async fn watch(client: &Control, session_id: Option<&str>) -> anyhow::Result<Self> {
        let mut client = client.clone();
        let request = pb::WatchEventsRequest {
            session_id: session_id.unwrap_or_default().to_owned(),
        };
        let mut events = timeout(SETUP_LIMIT, client.watch_events(request))
            .await
            .context("WatchEvents: no answer in time")?
            .context("WatchEvents")?
            .into_inner();
        let waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Completion>>>> = Arc::default();
        let watcher = tokio::spawn({
            let waiting = Arc::clone(&waiting);
            async move {
                while let Ok(Some(event)) = events.message().await {
                    let Some(pb::event::Kind::LargeMessageComplete(c)) = event.kind else {
                        continue;
                    };
                    let waiter = lock(&waiting).remove(&event.session_id);
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(Completion {
                            delivered: c.delivered,
                            failed: c.failed,
                        });
                    }
                }
            }
        });
        Ok(Self { waiting, watcher })
    }

    /// The completion of `session_id`, once it comes.
    pub(super) fn expect(&self, session_id: &str) -> oneshot::Receiver<Completion> {
        let (sender, receiver) = oneshot::channel();
        lock(&self.waiting).insert(session_id.to_owned(), sender);
        receiver
    }
}

impl Drop for Completions {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// The map, even if a holder panicked (the map itself stays consistent: each
/// holder does one insert or remove).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flood::wire::FrameReader;

    #[test]
    fn chunk_heads_are_checked_against_what_came_before() {
        let head = |range: &str| {
            let frame = format!(
                "MSRP t1000 SEND\r\nTo-Path: msrp://a:1/x;tcp\r\nFrom-Path: msrp://b:2/y;tcp\r\n\
                 Message-ID: m1234\r\nByte-Range: {range}\r\nContent-Type: a/b\r\n\r\nx\r\n-------t1000+\r\n"
            );
            let mut reader = FrameReader::new();
            reader_feed(&mut reader, frame.as_bytes());
            match reader.next_item().unwrap() {
                Some(Item::Head(head)) => head,
                other => panic!("{other:?}"),
            }
        };
        let mut errors = 0;
        let ok = incoming(head("11-20/100"), 10, 100, &mut errors);
        assert_eq!((errors, ok.end, ok.bodiless), (0, Some(20), false));
        incoming(head("12-20/100"), 10, 100, &mut errors);
        assert_eq!(errors, 1, "a gap");
        incoming(head("11-20/99"), 10, 100, &mut errors);
        assert_eq!(errors, 2, "another total");
        incoming(head("11-*/100"), 10, 100, &mut errors);
        assert_eq!(errors, 2, "an open end is checked at the end-line");
    }

    fn reader_feed(reader: &mut FrameReader, bytes: &[u8]) {
        let mut slice = bytes;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(reader.fill(&mut slice)).unwrap();
    }
}
