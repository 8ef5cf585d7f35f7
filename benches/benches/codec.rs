//! Criterion benchmarks of the sans-IO MSRP codec (`msrp_switch::codec`).
//!
//! Run from the workspace root:
//!
//! ```text
//! cargo bench -p msrp-benches --bench codec
//! cargo bench -p msrp-benches --bench codec -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p msrp-benches --bench codec -- send_1k   # one group
//! ```
//!
//! Groups:
//! - `send_1k`: decode (head, body, end-line) and encode (`Encoder::head` +
//!   `Encoder::end_line`) of 1 KiB SENDs, 64 pipelined frames per iteration, reported
//!   in frames/s. `read_decode_encode` includes copying the 64 frames into the reused
//!   read buffer, as a socket read would; `decode_encode` times the codec alone (the
//!   copy is done outside the timed part, with `iter_custom`).
//! - `chunk_64k`: one SEND with a 64 KiB body arriving in 16 KiB reads, decoded and
//!   its head and end-line encoded, reported in bytes/s; `read_copy_only` is the cost
//!   of the reads' copies alone, for comparison.
//! - `encode_head`: writing the head of a 1 KiB SEND back (`Encoder::head`), and for
//!   the next hop (`Encoder::forward` with a fresh transaction id and new paths, with
//!   and without new Message-ID and Byte-Range), reported in heads/s.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use msrp_benches::{pipelined_sends, send_frame};
use msrp_switch::codec::{
    ByteRange, Decoder, Encoder, Item, Limits, MessageId, MsrpUri, Rewrite, TransactionId,
};

/// Frames per iteration in `send_1k`.
const PIPELINED: usize = 64;
/// A socket read in `chunk_64k`.
const READ_BYTES: usize = 16 * 1024;

/// A decoder and an encoder, and the frame in progress: what a forwarder keeps per
/// connection.
struct Codec {
    decoder: Decoder,
    encoder: Encoder,
    head_out: Bytes,
    tid: Option<TransactionId>,
    has_body: bool,
}

impl Codec {
    fn new() -> Self {
        Self {
            decoder: Decoder::new(Limits::default()),
            encoder: Encoder::new(),
            head_out: Bytes::new(),
            tid: None,
            has_body: false,
        }
    }

    /// Decodes everything in `read_buf`, writing each head and end-line back; returns
    /// the frames completed and the bytes that would go out.
    fn decode_encode(&mut self, read_buf: &mut BytesMut) -> (usize, usize) {
        let mut frames = 0;
        let mut out = 0;
        loop {
            match self.decoder.decode(read_buf) {
                Ok(Some(Item::Head(head))) => {
                    self.head_out = self.encoder.head(&head);
                    self.tid = Some(*head.transaction_id());
                    self.has_body = head.has_body();
                }
                Ok(Some(Item::Body(piece))) => out += black_box(piece).len(),
                Ok(Some(Item::End(flag))) => {
                    let Some(tid) = self.tid.take() else {
                        panic!("end-line without a head");
                    };
                    let end_line = self.encoder.end_line(&tid, flag, self.has_body);
                    let head_out = std::mem::take(&mut self.head_out);
                    out += black_box(head_out).len() + black_box(end_line).len();
                    frames += 1;
                }
                Ok(None) => return (frames, out),
                Err(err) => panic!("bench input does not decode: {err}"),
            }
        }
    }
}

fn send_1k(c: &mut Criterion) {
    let input = pipelined_sends(PIPELINED, 1024);
    let mut group = c.benchmark_group("send_1k");
    group.throughput(Throughput::Elements(PIPELINED as u64));

    let mut codec = Codec::new();
    let mut read_buf = BytesMut::with_capacity(2 * input.len());
    group.bench_function("read_decode_encode", |b| {
        b.iter(|| {
            read_buf.reserve(input.len());
            read_buf.extend_from_slice(black_box(&input));
            let (frames, out) = codec.decode_encode(&mut read_buf);
            assert_eq!(frames, PIPELINED);
            out
        })
    });

    // The same, with the copy into the read buffer left out of the timing.
    group.bench_function("decode_encode", |b| {
        b.iter_custom(|iterations| {
            let mut codec_time = Duration::ZERO;
            for _ in 0..iterations {
                read_buf.reserve(input.len());
                read_buf.extend_from_slice(black_box(&input));
                let started = Instant::now();
                let (frames, out) = codec.decode_encode(&mut read_buf);
                codec_time += started.elapsed();
                assert_eq!(frames, PIPELINED);
                black_box(out);
            }
            codec_time
        })
    });
    group.finish();
}

fn chunk_64k(c: &mut Criterion) {
    let frame = send_frame("chunk64k", 64 * 1024);
    let mut group = c.benchmark_group("chunk_64k");
    group.throughput(Throughput::Bytes(frame.len() as u64));

    let mut codec = Codec::new();
    let mut read_buf = BytesMut::with_capacity(4 * READ_BYTES);
    group.bench_function("read_decode_encode_16k_reads", |b| {
        b.iter(|| {
            let mut frames = 0;
            let mut out = 0;
            for read in frame.chunks(READ_BYTES) {
                read_buf.reserve(READ_BYTES);
                read_buf.extend_from_slice(black_box(read));
                let (done, bytes) = codec.decode_encode(&mut read_buf);
                frames += done;
                out += bytes;
            }
            assert_eq!(frames, 1);
            out
        })
    });

    group.bench_function("read_copy_only", |b| {
        b.iter(|| {
            for read in frame.chunks(READ_BYTES) {
                read_buf.reserve(READ_BYTES);
                read_buf.extend_from_slice(black_box(read));
                black_box(&read_buf);
                read_buf.clear();
            }
        })
    });
    group.finish();
}

fn encode_head(c: &mut Criterion) {
    let frame = send_frame("a786hjs2", 1024);
    let Ok(Some(Item::Head(head))) =
        Decoder::new(Limits::default()).decode(&mut BytesMut::from(&frame[..]))
    else {
        panic!("bench frame does not decode");
    };
    let uri = |text: &str| MsrpUri::parse_str(text).unwrap_or_else(|err| panic!("{text}: {err}"));
    let to_path = [uri("msrp://10.0.0.1:2855/s2ab9qz;tcp")];
    let from_path = [
        uri("msrp://switch.example.net:2855/r9x7kd;tcp"),
        uri("msrp://127.0.0.1:40112/9di4eae923wzd;tcp"),
    ];
    let tid =
        |text: &str| TransactionId::parse(text.as_bytes(), 32).unwrap_or_else(|e| panic!("{e}"));
    let paths_only = Rewrite {
        transaction_id: tid("fwd0000000042"),
        to_path: &to_path,
        from_path: &from_path,
        message_id: None,
        byte_range: None,
    };
    let everything = Rewrite {
        message_id: Some(MessageId::parse(b"sw7734kdy2", 32).unwrap_or_else(|e| panic!("{e}"))),
        byte_range: Some(ByteRange::whole(1024)),
        ..paths_only
    };

    let mut group = c.benchmark_group("encode_head");
    group.throughput(Throughput::Elements(1));
    let mut encoder = Encoder::new();
    group.bench_function("head", |b| b.iter(|| encoder.head(black_box(&head))));
    group.bench_function("forward_paths", |b| {
        b.iter(|| encoder.forward(black_box(&head), black_box(&paths_only)))
    });
    group.bench_function("forward_paths_message_id_byte_range", |b| {
        b.iter(|| encoder.forward(black_box(&head), black_box(&everything)))
    });
    group.finish();
}

criterion_group!(benches, send_1k, chunk_64k, encode_head);
criterion_main!(benches);
