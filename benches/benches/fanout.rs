//! Criterion benchmark of group fan-out through the sans-IO endpoint of one shard
//! (RFC 7701): a group of 100, one sender, 64 pipelined 1 KiB CPIM messages per
//! iteration. An iteration feeds the sender's SENDs, takes its 200s and every
//! member's copies out of the endpoint (as a driver's writers would, without
//! decoding them: the members' side is not the switch's cost) and drains actions.
//! Copies ask for errors only (`Failure-Report: partial`), so no member answers.
//!
//! ```sh
//! cargo bench -p msrp-benches --bench fanout -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use msrp_proto::codec::MsrpUri;
use msrp_proto::endpoint::{Endpoint, EndpointConfig};
use msrp_proto::ids::{ConnId, WireIds};
use msrp_proto::media::{Identity, Policy, RemoteMedia, SetupRole};
use msrp_proto::session::SessionKind;
use msrp_proto::stats::Stats;

const ROOM: &str = "sip:room@chat.example.com";
const MEMBERS: usize = 100;
const MESSAGES: usize = 64;

/// A group of [`MEMBERS`] bound, member 0 the sender, and the reused buffers.
struct Rig {
    endpoint: Endpoint,
    conns: Vec<ConnId>,
    /// Member 0's 64 SENDs, as one read.
    burst: Vec<u8>,
    input: BytesMut,
    pieces: Vec<Bytes>,
    now: Instant,
}

impl Rig {
    fn new() -> Self {
        let now = Instant::now();
        let mut endpoint = Endpoint::new(
            EndpointConfig::default(),
            0,
            WireIds::seeded(3),
            Arc::new(Stats::default()),
            now,
        );
        let session =
            endpoint.create_session_with(SessionKind::Group, ROOM.into(), Policy::default(), now);
        let mut conns = Vec::with_capacity(MEMBERS);
        let mut sender = None;
        for i in 0..MEMBERS {
            let path = format!("msrp://127.0.0.1:{}/m{i:04};tcp", 41000 + i);
            let remote = RemoteMedia {
                path: vec![MsrpUri::parse_str(&path).expect("member path")],
                accept_types: vec!["message/cpim".into()],
                accept_wrapped_types: vec!["*".into()],
                max_size: None,
                setup: SetupRole::Passive,
                cema: false,
                ..Default::default()
            };
            let identity = Identity {
                im_address: format!("sip:m{i}@example.com"),
                privacy_alias: None,
            };
            let info = endpoint
                .add_participant_as(session, identity, remote, now)
                .expect("member");
            let conn = endpoint.open_connection(now);
            let bind = format!(
                "MSRP bind{i:04} SEND\r\nTo-Path: {}\r\nFrom-Path: {path}\r\n\
                 Message-ID: bind{i:04}\r\nByte-Range: 1-0/0\r\n-------bind{i:04}$\r\n",
                info.local_uri
            );
            endpoint.handle_input(conn, &mut BytesMut::from(bind.as_bytes()), now);
            if i == 0 {
                sender = Some((info.local_uri.to_string(), path));
            }
            conns.push(conn);
        }
        let (to, from) = sender.expect("a sender");
        let text = "x".repeat(1024 - 80);
        let mut burst = Vec::new();
        for n in 0..MESSAGES {
            let body = format!(
                "From: <sip:m0@example.com>\r\nTo: <{ROOM}>\r\n\r\n\
                 Content-Type: text/plain\r\n\r\n{text}"
            );
            burst.extend_from_slice(
                format!(
                    "MSRP tx{n:06} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n\
                     Message-ID: msg{n:06}\r\nByte-Range: 1-{len}/{len}\r\n\
                     Content-Type: message/cpim\r\n\r\n{body}\r\n-------tx{n:06}$\r\n",
                    len = body.len()
                )
                .as_bytes(),
            );
        }
        let mut rig = Self {
            endpoint,
            conns,
            burst,
            input: BytesMut::with_capacity(128 * 1024),
            pieces: Vec::with_capacity(4096),
            now,
        };
        rig.drain();
        rig
    }

    /// Takes every connection's output, as the writers would, and drops it.
    fn drain(&mut self) -> usize {
        let mut taken = 0;
        for &conn in &self.conns {
            taken += self
                .endpoint
                .take_output(conn, &mut self.pieces, usize::MAX);
            self.pieces.clear();
        }
        while self.endpoint.poll_action().is_some() {}
        while self.endpoint.poll_event().is_some() {}
        taken
    }

    /// One burst from the sender, fanned out and taken.
    fn iteration(&mut self) -> usize {
        self.input.extend_from_slice(&self.burst);
        let sender = self.conns[0];
        self.endpoint
            .handle_input(sender, &mut self.input, self.now);
        assert!(self.input.is_empty(), "the burst was read whole");
        self.drain()
    }
}

fn group_100(c: &mut Criterion) {
    let mut rig = Rig::new();
    // Every member but the sender gets every message.
    let per_iteration = rig.iteration();
    assert!(
        per_iteration > (MEMBERS - 1) * MESSAGES * 1024,
        "copies went out: {per_iteration} bytes"
    );
    let mut group = c.benchmark_group("group_100");
    group.throughput(Throughput::Elements(((MEMBERS - 1) * MESSAGES) as u64));
    group.bench_function("fanout_1k", |b| b.iter(|| black_box(rig.iteration())));
    group.finish();
}

criterion_group!(benches, group_100);
criterion_main!(benches);
