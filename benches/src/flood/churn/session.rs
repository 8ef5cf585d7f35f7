//! One churned session's life, as an IM Server and its two clients go through
//! it:
//!
//! ```text
//!  CreateSession ─▶ AddParticipant(A, SDP offer) ─▶ AddParticipant(B, SDP offer)
//!    ─▶ B connects, binds ─▶ A connects, binds            (set-up ends here)
//!    ─▶ N × { A: SEND ─▶ switch ─▶ B: 200 ; switch ─▶ A: 200 }
//!    ─▶ ReleaseSession ─▶ both connections close
//! ```
//!
//! The offers are SDP bodies as a SIP INVITE and its 200 carry them (the IM
//! Server pastes them into AddParticipant), each client connecting in
//! (`a=setup:active`). The receiver binds first so that the first SEND finds
//! it. Messages go one at a time: each is read whole by B (its body checked
//! against the flood layout, [`crate::flood::body`]) and answered, and A waits
//! for its 200 before the next one, as a person's chat does. Both ends are
//! awaited together, so each time is taken when it happens whichever the switch
//! does first.
//!
//! Every step has a time limit ([`Shared::step_timeout`]); a session that fails
//! counts its failure by kind, is released if it was created, and ends.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use control_api::pb;
use hdrhistogram::Histogram;
use msrp_switch::codec::{ContinuationFlag, Method, StatusCode};
use tokio::time::timeout;

use crate::flood::body::{self, BodyCheck, BodyHeader, FLAG_MEASURED};
use crate::flood::clock;
use crate::flood::receiver::latency_histogram;
use crate::flood::target::switch::Control;
use crate::flood::target::{LOCAL_HOST, Leg, address_of};
use crate::flood::timeline::IntervalRecorder;
use crate::flood::wire::{
    ChunkRange, FLOOD_CONTENT_TYPE, MsrpConn, Paths, put_end_line, put_message_id, put_ok,
    put_send_head, wants_ok,
};

/// What every session of a run shares.
pub(super) struct Shared {
    /// The control API client; each session clones it (one HTTP/2 connection,
    /// as an IM Server keeps one to its media server).
    pub client: Control,
    /// Where to connect for MSRP instead of the host:port of the switch's URIs.
    pub msrp_addr: Option<SocketAddr>,
    /// Unique to the run: in own paths and correlation tags.
    pub tag: String,
    /// Messages per session.
    pub messages: u32,
    /// Body bytes per message.
    pub size: usize,
    /// Pause between one message's 200 and the next SEND.
    pub message_interval: Duration,
    /// Limit on each step: a control call, connecting and binding a leg, one
    /// message's delivery and answer.
    pub step_timeout: Duration,
    /// The timeline's recorder: latencies as they happen.
    pub recorder: Arc<IntervalRecorder>,
    /// Running totals.
    pub counters: Counters,
    /// The whole run's histograms.
    pub totals: Mutex<Totals>,
    /// The first failure's text, for the report.
    pub first_error: Mutex<Option<String>>,
}

/// Running totals the watcher reads.
#[derive(Debug, Default)]
pub(super) struct Counters {
    /// Sessions between their start and their end.
    pub open: AtomicU64,
    /// Sessions set up: both legs bound.
    pub setups: AtomicU64,
    /// Sessions that carried every message and were released.
    pub completed: AtomicU64,
    /// Messages delivered intact and answered 200.
    pub messages: AtomicU64,
    /// Failures by kind, indexed by [`Failure::index`].
    pub failures: [AtomicU64; Failure::COUNT],
}

impl Counters {
    /// Every failure so far.
    pub fn errors(&self) -> u64 {
        self.failures
            .iter()
            .map(|f| f.load(Ordering::Relaxed))
            .sum()
    }

    /// The count of one kind.
    pub fn failures(&self, kind: Failure) -> u64 {
        self.failures[kind.index()].load(Ordering::Relaxed)
    }
}

/// The run's latency histograms, in microseconds.
#[derive(Debug)]
pub(super) struct Totals {
    /// From when the session was due to both legs bound.
    pub setup: Histogram<u64>,
    /// From A writing a SEND to B having read all of it.
    pub delivery: Histogram<u64>,
    /// From A writing a SEND to A reading its 200.
    pub ack: Histogram<u64>,
}

impl Totals {
    pub(super) fn new() -> anyhow::Result<Self> {
        Ok(Self {
            setup: latency_histogram()?,
            delivery: latency_histogram()?,
            ack: latency_histogram()?,
        })
    }
}

/// Why a session failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// A control call of the set-up was refused, or a leg did not connect or
    /// bind.
    Setup,
    /// A SEND was answered with another status than 200, or a REPORT said it
    /// failed.
    Refused,
    /// B got other bytes than A sent, or another message.
    Mismatch,
    /// A step took longer than its limit.
    TimedOut,
    /// The switch closed a connection, or wrote what the decoder refused.
    Closed,
    /// ReleaseSession was refused.
    Release,
}

impl Failure {
    /// Kinds of failure.
    pub const COUNT: usize = 6;

    fn index(self) -> usize {
        match self {
            Self::Setup => 0,
            Self::Refused => 1,
            Self::Mismatch => 2,
            Self::TimedOut => 3,
            Self::Closed => 4,
            Self::Release => 5,
        }
    }
}

/// A failed step: its kind and what happened.
type Failed = (Failure, anyhow::Error);

/// Session `n`, due at `due_ns` ([`clock::now_ns`] time; its set-up is timed
/// from then): its whole life. Every outcome is recorded in `shared`.
pub(super) async fn churn(shared: Arc<Shared>, n: u64, due_ns: u64) {
    shared.counters.open.fetch_add(1, Ordering::Relaxed);
    let mut latencies = Latencies::default();
    if let Err((kind, err)) = life(&shared, n, due_ns, &mut latencies).await {
        shared.counters.failures[kind.index()].fetch_add(1, Ordering::Relaxed);
        let mut first = shared
            .first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            *first = Some(format!("session {n}: {err:#}"));
        }
    }
    {
        let mut totals = shared.totals.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(us) = latencies.setup_us {
            totals.setup.saturating_record(us);
        }
        for &us in &latencies.delivery_us {
            totals.delivery.saturating_record(us);
        }
        for &us in &latencies.ack_us {
            totals.ack.saturating_record(us);
        }
    }
    shared.counters.open.fetch_sub(1, Ordering::Relaxed);
}

/// One session's times, added to the run's histograms once it ends (one lock per
/// session rather than per message).
#[derive(Debug, Default)]
struct Latencies {
    setup_us: Option<u64>,
    delivery_us: Vec<u64>,
    ack_us: Vec<u64>,
}

async fn life(
    shared: &Shared,
    n: u64,
    due_ns: u64,
    latencies: &mut Latencies,
) -> Result<(), Failed> {
    let mut client = shared.client.clone();
    let session_id = shared
        .step(
            Failure::Setup,
            client.create_session(pb::CreateSessionRequest {
                kind: pb::SessionKind::OneToOne as i32,
                correlation_tag: format!("{}-churn-{n}", shared.tag),
                ..Default::default()
            }),
        )
        .await?
        .map_err(|status| {
            (
                Failure::Setup,
                anyhow::Error::new(status).context("CreateSession"),
            )
        })?
        .into_inner()
        .session_id;
    let used = async {
        let (mut a, mut b) = set_up(shared, &mut client, &session_id, n).await?;
        let setup_us = clock::now_ns().saturating_sub(due_ns) / 1000;
        latencies.setup_us = Some(setup_us);
        shared.recorder.record_setup_us(setup_us);
        shared.counters.setups.fetch_add(1, Ordering::Relaxed);
        for seq in 0..u64::from(shared.messages) {
            if seq > 0 && !shared.message_interval.is_zero() {
                tokio::time::sleep(shared.message_interval).await;
            }
            exchange(shared, &mut a, &mut b, n, seq, latencies).await?;
            shared.counters.messages.fetch_add(1, Ordering::Relaxed);
        }
        // The legs stay open until the session is released: the IM Server's BYE
        // comes before the clients hang up.
        Ok::<_, Failed>((a, b))
    }
    .await;
    let released = release(shared, &mut client, &session_id).await;
    let legs = used?;
    released?;
    drop(legs);
    shared.counters.completed.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

impl Shared {
    /// `future` within the step limit; a timeout is a [`Failure::TimedOut`]
    /// unless the step is a set-up one, which counts as `kind`.
    async fn step<T>(&self, kind: Failure, future: impl Future<Output = T>) -> Result<T, Failed> {
        timeout(self.step_timeout, future).await.map_err(|_| {
            let kind = match kind {
                Failure::Setup | Failure::Release => kind,
                _ => Failure::TimedOut,
            };
            (
                kind,
                anyhow::anyhow!("no progress within {:?}", self.step_timeout),
            )
        })
    }
}

/// Both participants added with SDP offers, B then A connected and bound.
async fn set_up(
    shared: &Shared,
    client: &mut Control,
    session_id: &str,
    n: u64,
) -> Result<(Leg, Leg), Failed> {
    let setup = |err: anyhow::Error| (Failure::Setup, err);
    let mut switch_uris = Vec::with_capacity(2);
    let own = [own_path(&shared.tag, n, 'a'), own_path(&shared.tag, n, 'b')];
    for path in &own {
        let request = pb::AddParticipantRequest {
            session_id: session_id.to_owned(),
            remote: Some(pb::RemoteMedia {
                media: Some(pb::remote_media::Media::Sdp(sdp_offer(path, n))),
            }),
            correlation_tag: format!("{}-churn-{n}", shared.tag),
            ..Default::default()
        };
        let added = shared
            .step(Failure::Setup, client.add_participant(request))
            .await?
            .map_err(|status| setup(anyhow::Error::new(status).context("AddParticipant")))?
            .into_inner();
        let uri = added
            .local
            .and_then(|local| local.structured)
            .and_then(|media| media.path.into_iter().next())
            .context("AddParticipant answered without the switch's path")
            .map_err(setup)?;
        switch_uris.push(uri);
    }
    let [a_uri, b_uri] = <[String; 2]>::try_from(switch_uris)
        .map_err(|_| setup(anyhow::anyhow!("two participants were added")))?;
    let [a_path, b_path] = own;
    // The receiver first, so nothing the sender sends waits for it.
    let b = shared
        .step(Failure::Setup, bind(shared, Paths::new(b_uri, b_path)))
        .await?
        .context("binding B")
        .map_err(setup)?;
    let a = shared
        .step(Failure::Setup, bind(shared, Paths::new(a_uri, a_path)))
        .await?
        .context("binding A")
        .map_err(setup)?;
    Ok((a, b))
}

/// Connects to the switch for `paths` and binds (a bodiless SEND, its 200).
async fn bind(shared: &Shared, paths: Paths) -> anyhow::Result<Leg> {
    let addr = match shared.msrp_addr {
        Some(addr) => addr,
        None => address_of(&paths.to_path).await?,
    };
    let mut conn = MsrpConn::connect(addr).await?;
    conn.bind(&paths, shared.step_timeout).await?;
    Ok(Leg { conn, paths })
}

/// A's message `seq` to B: sent, read whole and answered by B, its 200 read
/// by A.
async fn exchange(
    shared: &Shared,
    a: &mut Leg,
    b: &mut Leg,
    n: u64,
    seq: u64,
    latencies: &mut Latencies,
) -> Result<(), Failed> {
    let size = shared.size;
    let tid = a.conn.next_tid();
    let sent_ns = clock::now_ns();
    let header = BodyHeader {
        sent_ns,
        session: session_number(n),
        flags: FLAG_MEASURED,
        seq,
    };
    let mut frame = Vec::with_capacity(size + 512);
    let mut message_id = Vec::with_capacity(24);
    put_message_id(&mut message_id, header.session, seq);
    put_send_head(
        &mut frame,
        tid,
        &a.paths,
        &message_id,
        ChunkRange {
            start: 1,
            end: size as u64,
            total: size as u64,
        },
        FLOOD_CONTENT_TYPE.as_bytes(),
    );
    body::write_range(&mut frame, &header, 0..size);
    put_end_line(&mut frame, tid, ContinuationFlag::End);
    shared
        .step(Failure::TimedOut, a.conn.write_all(&frame))
        .await?
        .map_err(|err| (Failure::Closed, err.context("A writing a SEND")))?;
    let tid_text = tid.text();
    let (delivered, answered) = tokio::join!(
        shared.step(Failure::TimedOut, deliver(b, header, size)),
        shared.step(Failure::TimedOut, answer(&mut a.conn, &tid_text)),
    );
    let delivered_ns = delivered??;
    let (answered_ns, status) = answered??;
    let delivery_us = delivered_ns.saturating_sub(sent_ns) / 1000;
    latencies.delivery_us.push(delivery_us);
    latencies
        .ack_us
        .push(answered_ns.saturating_sub(sent_ns) / 1000);
    shared.recorder.record_latency_us(delivery_us);
    if status != StatusCode::OK {
        return Err((
            Failure::Refused,
            anyhow::anyhow!("message {seq} answered {}", status.as_u16()),
        ));
    }
    Ok(())
}

/// B reads until the message `expected` arrives whole, checks it and answers
/// 200; when it had arrived.
async fn deliver(b: &mut Leg, expected: BodyHeader, size: usize) -> Result<u64, Failed> {
    loop {
        let frame = b
            .conn
            .read_frame()
            .await
            .map_err(|err| (Failure::Closed, err.context("B reading")))?;
        let arrived_ns = clock::now_ns();
        if frame.head.method() != Some(Method::Send) {
            // A REPORT or a response: nothing to answer.
            continue;
        }
        if wants_ok(&frame.head) {
            let mut ok = Vec::with_capacity(256);
            put_ok(&mut ok, &frame.head, &b.paths.from_path);
            b.conn
                .write_all(&ok)
                .await
                .map_err(|err| (Failure::Closed, err.context("B answering")))?;
        }
        if frame.body.is_empty() {
            // A keep-alive.
            continue;
        }
        let mut check = BodyCheck::new();
        check.feed(&frame.body);
        let whole = frame.flag == ContinuationFlag::End && check.received() == size;
        if !(whole && check.is_intact() && check.header() == Some(expected)) {
            return Err((
                Failure::Mismatch,
                anyhow::anyhow!(
                    "B got {} bytes ({:?}) that are not message {} as sent",
                    check.received(),
                    frame.flag,
                    expected.seq
                ),
            ));
        }
        return Ok(arrived_ns);
    }
}

/// A reads until the response to `tid`; when it came, and its status.
async fn answer(a: &mut MsrpConn, tid: &str) -> Result<(u64, StatusCode), Failed> {
    loop {
        let frame = a
            .read_frame()
            .await
            .map_err(|err| (Failure::Closed, err.context("A reading")))?;
        let head = &frame.head;
        match head.response_status() {
            Some(status) if head.transaction_id().as_bytes() == tid.as_bytes() => {
                return Ok((clock::now_ns(), status));
            }
            Some(_) => {}
            // A REPORT here means the switch gave up on the message.
            None if head.method() == Some(Method::Report)
                && head.status().is_none_or(|s| !s.code.is_success()) =>
            {
                return Err((
                    Failure::Refused,
                    anyhow::anyhow!("a failure REPORT for the message"),
                ));
            }
            None => {}
        }
    }
}

/// ReleaseSession; a session the switch already released is no error.
async fn release(shared: &Shared, client: &mut Control, session_id: &str) -> Result<(), Failed> {
    let request = pb::ReleaseSessionRequest {
        session_id: session_id.to_owned(),
    };
    match shared
        .step(Failure::Release, client.release_session(request))
        .await?
    {
        Ok(_) => Ok(()),
        Err(status) if status.code() == tonic::Code::NotFound => Ok(()),
        Err(status) => Err((
            Failure::Release,
            anyhow::Error::new(status).context("ReleaseSession"),
        )),
    }
}

/// Session `n`'s number in message bodies (they carry 32 bits; a run of more
/// than 4 billion sessions wraps, which only weakens the cross-session check).
fn session_number(n: u64) -> u32 {
    n as u32
}

/// A participant's own URI. Nothing connects to it (each client connects out),
/// so the port is a placeholder, the same as the m= line's.
fn own_path(tag: &str, n: u64, side: char) -> String {
    format!("msrp://{LOCAL_HOST}:9/{tag}c{n}{side};tcp")
}

/// The SDP offer of a client that connects in over TCP (RFC 4975 §8, RFC 6135
/// `a=setup:active`), as the IM Server pastes it from the INVITE or its 200.
fn sdp_offer(path: &str, n: u64) -> String {
    format!(
        "v=0\r\n\
         o=- {n} 1 IN IP4 {LOCAL_HOST}\r\n\
         s=-\r\n\
         c=IN IP4 {LOCAL_HOST}\r\n\
         t=0 0\r\n\
         m=message 9 TCP/MSRP *\r\n\
         a=accept-types:text/plain {FLOOD_CONTENT_TYPE}\r\n\
         a=path:{path}\r\n\
         a=setup:active\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offer_reads_back_as_the_media_it_describes() {
        let path = own_path("ftag", 7, 'a');
        let media = control_api::sdp::parse_media_section(&sdp_offer(&path, 7)).unwrap();
        assert_eq!(media.path, [path]);
        assert_eq!(media.accept_types, ["text/plain", FLOOD_CONTENT_TYPE]);
        assert_eq!(media.setup, pb::Setup::Active as i32);
        assert_eq!(media.connection_address, LOCAL_HOST);
    }
}
