//! Steady-state allocations of Large Message Mode's fan-out, sans IO: a sender
//! streams one 32 MiB message (one chunk, read 64 KiB at a time) to three
//! bound receivers that keep up; the store is the test's (a list of the
//! `Bytes` the switch hands it, confirmed at once), each receiver answers every
//! chunk it gets with a 200. Allocations are counted over the middle of the
//! message, after the first 4 MiB.
//!
//! The socket reads are made up front (each its own buffer, as a driver's
//! reads would be), so what is counted is the switch's: the receivers' chunk
//! heads (the encoder's blocks, taken back once written), the window and the
//! store actions, the transactions of the receivers' chunks and their timers.
//! The delivered bodies are checked whole (hash and length) on every run.

#![allow(unsafe_code)] // the counting global allocator of support/counting.rs

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use msrp_proto::codec::{ContinuationFlag, Decoder, Item, Limits, MsrpUri, TransactionId};
use msrp_proto::endpoint::{Action, Endpoint, EndpointConfig};
use msrp_proto::ids::{ConnId, WireIds};
use msrp_proto::media::{RemoteMedia, SetupRole};
use msrp_proto::session::SessionKind;
use msrp_proto::stats::Stats;

#[path = "support/counting.rs"]
mod counting;

const SENDER: &str = "msrp://127.0.0.1:40001/lmsend01;tcp";
const RECEIVERS: [&str; 3] = [
    "msrp://127.0.0.1:40002/lmrecv01;tcp",
    "msrp://127.0.0.1:40003/lmrecv02;tcp",
    "msrp://127.0.0.1:40004/lmrecv03;tcp",
];
const MESSAGE: usize = 32 << 20;
const READ: usize = 64 * 1024;
/// Bytes of the message before counting starts.
const WARM_UP: usize = 4 << 20;
/// Allocations allowed over the counted 28 MiB (about 340 chunks of 256 KiB to
/// each receiver) besides one per read: tables and queues that grow once, far
/// below one per chunk.
const MAX_ALLOCS: u64 = 64;

fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3))
}

const FNV_START: u64 = 0xcbf29ce484222325;

fn remote(path: &str) -> RemoteMedia {
    RemoteMedia {
        path: vec![MsrpUri::parse_str(path).unwrap()],
        accept_types: vec!["*".into()],
        setup: SetupRole::Passive,
        ..Default::default()
    }
}

fn bind(tid: &str, to: &MsrpUri, from: &str) -> BytesMut {
    BytesMut::from(
        format!("MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n-------{tid}$\r\n")
            .as_bytes(),
    )
}

/// One receiver as a peer: its connection, decoder, what it got.
struct Receiver {
    conn: ConnId,
    path: &'static str,
    switch_uri: String,
    decoder: Decoder,
    buf: BytesMut,
    hash: u64,
    len: usize,
    to_answer: Vec<TransactionId>,
    answers: BytesMut,
    ended: bool,
}

struct Rig {
    switch: Endpoint,
    now: Instant,
    sender: ConnId,
    receivers: Vec<Receiver>,
    /// The store: what the switch asked to be stored.
    stored: Vec<Bytes>,
    stored_len: u64,
    pieces: Vec<Bytes>,
    sender_out: Vec<Bytes>,
}

impl Rig {
    fn new() -> (Self, String) {
        let now = Instant::now();
        let mut switch = Endpoint::new(
            EndpointConfig::default(),
            0,
            WireIds::seeded(9),
            Arc::new(Stats::default()),
            now,
        );
        let session = switch.create_session(SessionKind::LargeMessage);
        let ps = switch
            .add_participant(session, remote(SENDER), now)
            .unwrap();
        let sender = switch.open_connection(now);
        switch.handle_input(sender, &mut bind("bindS", &ps.local_uri, SENDER), now);
        let mut receivers = Vec::new();
        for (i, path) in RECEIVERS.iter().enumerate() {
            let pr = switch.add_participant(session, remote(path), now).unwrap();
            let conn = switch.open_connection(now);
            switch.handle_input(
                conn,
                &mut bind(&format!("bindR{i}"), &pr.local_uri, path),
                now,
            );
            receivers.push(Receiver {
                conn,
                path,
                switch_uri: pr.local_uri.to_string(),
                decoder: Decoder::new(Limits::default()),
                buf: BytesMut::with_capacity(4 << 20),
                hash: FNV_START,
                len: 0,
                to_answer: Vec::with_capacity(64),
                answers: BytesMut::with_capacity(64 * 1024),
                ended: false,
            });
        }
        let mut rig = Self {
            switch,
            now,
            sender,
            receivers,
            stored: Vec::with_capacity(MESSAGE / READ + 16),
            stored_len: 0,
            pieces: Vec::with_capacity(1024),
            sender_out: Vec::with_capacity(64),
        };
        rig.settle();
        (rig, ps.local_uri.to_string())
    }

    /// Carries out the switch's actions: stores at once, ignores wakes.
    fn actions(&mut self) {
        while let Some(action) = self.switch.poll_action() {
            match action {
                Action::Store {
                    session,
                    offset,
                    bytes,
                } => {
                    assert_eq!(offset, self.stored_len);
                    self.stored_len += bytes.len() as u64;
                    self.stored.push(bytes);
                    self.switch
                        .large_message_stored(session, self.stored_len, self.now);
                }
                Action::Replay { .. } => panic!("receivers that keep up need no replay"),
                Action::ReleaseStore { .. } | Action::Wake(_) | Action::Connect { .. } => {}
            }
        }
        while self.switch.poll_event().is_some() {}
    }

    /// Every receiver reads and answers; the sender reads its answers.
    fn settle(&mut self) {
        self.actions();
        for r in &mut self.receivers {
            self.switch
                .take_output(r.conn, &mut self.pieces, usize::MAX);
            for piece in &self.pieces {
                r.buf.extend_from_slice(piece);
            }
            self.pieces.clear();
            let mut current = false;
            loop {
                match r.decoder.decode(&mut r.buf) {
                    Ok(Some(Item::Head(head))) if head.response_status().is_some() => {}
                    Ok(Some(Item::Head(head))) => {
                        let range = head.byte_range().unwrap();
                        assert_eq!(range.start, r.len as u64 + 1, "chunks in order");
                        r.to_answer.push(*head.transaction_id());
                        current = true;
                    }
                    Ok(Some(Item::Body(piece))) => {
                        assert!(current);
                        r.hash = fnv(r.hash, &piece);
                        r.len += piece.len();
                    }
                    Ok(Some(Item::End(flag))) => {
                        current = false;
                        r.ended |= flag == ContinuationFlag::End;
                    }
                    Ok(None) => break,
                    Err(err) => panic!("a receiver got a malformed frame: {err}"),
                }
            }
            for tid in &r.to_answer {
                let tid = tid.as_bytes();
                let out = &mut r.answers;
                out.extend_from_slice(b"MSRP ");
                out.extend_from_slice(tid);
                out.extend_from_slice(b" 200 OK\r\nTo-Path: ");
                out.extend_from_slice(r.switch_uri.as_bytes());
                out.extend_from_slice(b"\r\nFrom-Path: ");
                out.extend_from_slice(r.path.as_bytes());
                out.extend_from_slice(b"\r\n-------");
                out.extend_from_slice(tid);
                out.extend_from_slice(b"$\r\n");
            }
            r.to_answer.clear();
            self.switch.handle_input(r.conn, &mut r.answers, self.now);
        }
        self.actions();
        self.switch
            .take_output(self.sender, &mut self.sender_out, usize::MAX);
        self.sender_out.clear();
    }
}

#[test]
fn fanning_a_large_message_out_allocates_nothing_per_chunk() {
    let (mut rig, to) = Rig::new();
    // Letters only: no body byte can begin an end-line, so the decoder holds
    // nothing back at a read's end and every read is consumed whole.
    let body: Vec<u8> = (0..MESSAGE).map(|i| b'a' + (i * 7 % 26) as u8).collect();
    let mut stream = format!(
        "MSRP big1 SEND\r\nTo-Path: {to}\r\nFrom-Path: {SENDER}\r\nMessage-ID: lmsg0001\r\n\
         Byte-Range: 1-{MESSAGE}/{MESSAGE}\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    let head_len = stream.len();
    stream.extend_from_slice(&body);
    stream.extend_from_slice(b"\r\n-------big1$\r\n");
    // Every read its own buffer, made before counting.
    let mut reads: Vec<BytesMut> = stream.chunks(READ).map(BytesMut::from).collect();
    let last = reads.len();
    let mut counted = None;
    let mut counted_reads = 0u64;
    let mut carry = BytesMut::new();
    for (i, read) in reads.iter_mut().enumerate() {
        if i * READ >= head_len + WARM_UP && counted.is_none() {
            counting::start();
            counted = Some(0);
        }
        // The end-line may span the last reads: what is held back goes first.
        if i + 2 == last {
            counted = counting::stop();
        }
        if counted == Some(0) && i + 2 < last {
            counted_reads += 1;
        }
        if !carry.is_empty() {
            carry.extend_from_slice(read);
            *read = std::mem::take(&mut carry);
        }
        rig.switch.handle_input(rig.sender, read, rig.now);
        if i + 2 < last {
            assert!(read.is_empty(), "read {i}: {} bytes left", read.len());
        }
        carry = read.split();
        rig.settle();
    }
    assert!(carry.is_empty(), "the stream consumed");
    let allocations = counted.unwrap();
    rig.settle();
    let want = fnv(FNV_START, &body);
    for r in &rig.receivers {
        assert_eq!(r.len, MESSAGE, "{}: every byte", r.path);
        assert_eq!(r.hash, want, "{}: the body as sent", r.path);
        assert!(r.ended, "{}: the last chunk ended `$`", r.path);
    }
    assert_eq!(rig.stored_len, MESSAGE as u64);
    assert_eq!(rig.switch.outstanding_transactions(), 0);
    println!(
        "large_message_alloc: {allocations} allocations over {counted_reads} reads of 64 KiB \
         fanned out to {} receivers",
        RECEIVERS.len()
    );
    // Each read buffer gets one: the shared header `bytes` makes the first time
    // a slice of it is kept (a driver's fresh read buffer does the same).
    let bound = MAX_ALLOCS + counted_reads;
    assert!(
        allocations <= bound,
        "{allocations} allocations over {counted_reads} reads (bound {bound})"
    );
}
