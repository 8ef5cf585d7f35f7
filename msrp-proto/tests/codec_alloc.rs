//! The codec's steady state allocates nothing per frame.
//!
//! The workload is a forwarder's: 10,000 pipelined SENDs with 1 KiB bodies arrive in
//! 64 KiB reads into one reused `BytesMut` (`reserve(64 KiB)` then the read, as
//! `read_buf` does); every item is decoded, each head written again with one reused
//! [`Encoder`] (`head` and `end_line`, or `forward` with a [`Rewrite`] to pre-parsed
//! paths), the [`Frame`] pieces held until written, then dropped. The first 1,000
//! frames warm up; the last 9,000 are measured.
//!
//! # How allocations are counted
//!
//! A counting `#[global_allocator]` (wrapping `System`, counting `alloc`, `alloc_zeroed`
//! and `realloc` calls in an `AtomicU64` while a thread-local switch is on, measured
//! sections serialised by a mutex) needs an `unsafe impl GlobalAlloc`: the workspace
//! denies unsafe code, each crate root forbids it, and this test file alone allows it.
//!
//! Counted: 0 allocations in the 9,000 measured frames, echo and forward
//! alike (18,000, 2 per frame, before Success-Report / Failure-Report stopped being
//! lowercased into a `Vec`), and 325 when frames are held across reads.
//!
//! Every build, counted or not, also checks in safe code where the heap could be
//! touched on this path, and holds that to the same bound:
//!
//! - the read buffer is reused in place on every read (`BytesMut::try_reclaim`, the
//!   same test `reserve` makes before it allocates); a miss costs a new buffer plus its
//!   shared header at the next `split_to`: two allocations;
//! - the encoder writes every head and end-line into blocks it reuses: a piece that
//!   starts neither where the last one ended nor where a block seen before starts
//!   came from a newly allocated block (again two allocations);
//! - every head and body piece is a slice of the read buffer (zero copy).
//!
//! Allocations inside head parsing are visible only to the counting allocator.
//!
//! `an_end_line_always_fits_after_its_head` pins one more encoder property: a head is
//! written with room for its end-line, so `end_line` never needs a fresh (allocated)
//! block while the head it follows is still held.

#![allow(unsafe_code)] // the counting global allocator below

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use msrp_proto::codec::{
    Decoder, Encoder, Frame, Head, Item, Limits, MsrpUri, Rewrite, TransactionId,
};

/// Frames in the stream.
const FRAMES: usize = 10_000;
/// Frames decoded before measuring starts.
const WARM_UP: usize = 1_000;
/// Body size of each SEND.
const BODY_BYTES: usize = 1024;
/// One socket read.
const READ_BYTES: usize = 64 * 1024;
/// Most heap allocations allowed in the 9,000 measured frames: a few, never one per
/// frame.
const BOUND: u64 = 16;

/// A SEND of `body_len` bytes of `x`, with the headers a real chat client sends.
fn send_frame(out: &mut Vec<u8>, tid: &str, body_len: usize) {
    out.extend_from_slice(
        format!(
            "MSRP {tid} SEND\r\n\
             To-Path: msrp://127.0.0.1:2855/iau39soe2843z;tcp\r\n\
             From-Path: msrp://127.0.0.1:40112/9di4eae923wzd;tcp\r\n\
             Message-ID: 12339sdqwer\r\n\
             Byte-Range: 1-{body_len}/{body_len}\r\n\
             Success-Report: no\r\n\
             Failure-Report: yes\r\n\
             Content-Type: text/plain\r\n\r\n"
        )
        .as_bytes(),
    );
    out.resize(out.len() + body_len, b'x');
    out.extend_from_slice(format!("\r\n-------{tid}$\r\n").as_bytes());
}

/// What the forwarder does with each frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `Encoder::head` + `Encoder::end_line`; pieces written before the next read.
    Echo,
    /// `Encoder::forward` with a fresh transaction id and new paths; pieces written
    /// before the next read.
    Forward,
    /// As `Echo`, but the parsed `Head` and every piece of a frame are held until its
    /// end-line, across reads (store-and-forward; the daemon keeps a pending `Head`).
    HoldUntilEnd,
}

/// What the measured part of a run saw.
#[derive(Debug, Default)]
struct Stats {
    /// Frames measured (after the warm-up).
    frames: usize,
    /// Reads measured.
    reads: usize,
    /// Reads whose `reserve` could not reuse the read buffer in place.
    read_buffer_allocations: u64,
    /// Heads and end-lines that needed a newly allocated encoder block.
    encoder_block_allocations: u64,
    /// Bytes handed to the (pretend) socket; keeps the work observable.
    bytes_out: usize,
}

impl Stats {
    /// Heap allocations these imply, at most: each new buffer, and its shared header
    /// allocated when the first piece is split off it. (A read buffer that is not
    /// shared but too small grows with one `realloc` instead.)
    fn heap_allocations(&self) -> u64 {
        2 * (self.read_buffer_allocations + self.encoder_block_allocations)
    }
}

/// Tells heads and end-lines cut from a reused encoder block from those cut from a
/// new one.
struct BlockWatch {
    /// Where the next piece starts if it follows the last one in the same block.
    next: usize,
    /// Where each block seen so far starts (its first piece): where it restarts when
    /// reused. Preallocated: the watch itself must not allocate while measured.
    starts: Vec<usize>,
}

impl BlockWatch {
    fn new() -> Self {
        Self {
            next: 0,
            starts: Vec::with_capacity(64),
        }
    }

    /// Notes an encoder output; true if it came from a block not seen before, i.e. a
    /// newly allocated one. (A new block at the address of a freed one would pass
    /// unnoticed: the counting allocator is the exact measure.)
    fn fresh_block(&mut self, piece: &Bytes) -> bool {
        let at = piece.as_ptr() as usize;
        let fresh = at != self.next && !self.starts.contains(&at);
        if fresh && self.starts.len() < self.starts.capacity() {
            self.starts.push(at);
        }
        self.next = at + piece.len();
        fresh
    }
}

/// True if `piece` lies inside `region` (an address range of the read buffer).
fn within(piece: &[u8], region: &Range<usize>) -> bool {
    let start = piece.as_ptr() as usize;
    region.contains(&start) && start + piece.len() <= region.end
}

/// A transaction id made without touching the heap: `fwd` and ten digits.
fn numbered_tid(n: u64) -> TransactionId {
    let mut text = *b"fwd0000000000";
    let mut rest = n;
    for digit in text[3..].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    TransactionId::parse(&text, Limits::default().max_transaction_id_bytes)
        .unwrap_or_else(|err| panic!("numbered tid: {err}"))
}

/// The frame in progress.
#[derive(Default)]
struct Pending {
    parsed: Option<Head>,
    head: Bytes,
    body: Vec<Bytes>,
    tid: Option<TransactionId>,
    has_body: bool,
}

/// Runs the workload. `on_measure(true)` is called when the warm-up ends and
/// `on_measure(false)` when the last frame is done: the counting allocator's switch.
fn pipeline(mode: Mode, on_measure: &mut dyn FnMut(bool)) -> Stats {
    // Transaction ids of varying length, so heads (and where an encoder block runs
    // out) vary from frame to frame.
    let mut input = Vec::with_capacity(FRAMES * (BODY_BYTES + 400));
    for i in 0..FRAMES {
        let tid = format!("tid{i}x{}", "y".repeat(i % 13));
        send_frame(&mut input, &tid, BODY_BYTES);
    }
    let parse = |text: &str| MsrpUri::parse_str(text).unwrap_or_else(|err| panic!("{text}: {err}"));
    let to_path = [parse("msrp://10.0.0.1:2855/s2ab9qz;tcp")];
    let from_path = [
        parse("msrp://switch.example.net:2855/r9x7kd;tcp"),
        parse("msrp://10.0.0.2:40112/9di4eae923wzd;tcp"),
    ];

    let mut decoder = Decoder::new(Limits::default());
    let mut encoder = Encoder::new();
    let mut read_buf = BytesMut::new();
    let mut blocks = BlockWatch::new();
    let mut pending = Pending {
        body: Vec::with_capacity(4),
        ..Pending::default()
    };
    let mut stats = Stats::default();
    let mut decoded = 0;
    let mut measuring = false;

    for read in input.chunks(READ_BYTES) {
        if measuring {
            stats.reads += 1;
            let room = read_buf.capacity() - read_buf.len() >= READ_BYTES;
            if !room && !read_buf.try_reclaim(READ_BYTES) {
                stats.read_buffer_allocations += 1;
            }
        }
        read_buf.reserve(READ_BYTES);
        read_buf.extend_from_slice(read);
        let start = read_buf.as_ptr() as usize;
        let region = start..start + read_buf.len();
        loop {
            let item = match decoder.decode(&mut read_buf) {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(err) => panic!("frame {decoded}: {err}"),
            };
            match item {
                Item::Head(head) => {
                    assert!(within(head.as_bytes(), &region), "head copied");
                    let (tid, out) = match mode {
                        Mode::Forward => {
                            let tid = numbered_tid(decoded as u64);
                            let rewrite = Rewrite {
                                transaction_id: tid,
                                to_path: &to_path,
                                from_path: &from_path,
                                message_id: None,
                                byte_range: None,
                            };
                            (tid, encoder.forward(&head, &rewrite))
                        }
                        Mode::Echo | Mode::HoldUntilEnd => {
                            (*head.transaction_id(), encoder.head(&head))
                        }
                    };
                    if blocks.fresh_block(&out) && measuring {
                        stats.encoder_block_allocations += 1;
                    }
                    pending.tid = Some(tid);
                    pending.has_body = head.has_body();
                    pending.head = out;
                    if mode == Mode::HoldUntilEnd {
                        pending.parsed = Some(head);
                    }
                }
                Item::Body(piece) => {
                    assert!(within(&piece, &region), "body copied");
                    pending.body.push(piece);
                }
                Item::End(flag) => {
                    let tid = pending
                        .tid
                        .take()
                        .unwrap_or_else(|| panic!("end-line without a head"));
                    let end_line = encoder.end_line(&tid, flag, pending.has_body);
                    if blocks.fresh_block(&end_line) && measuring {
                        stats.encoder_block_allocations += 1;
                    }
                    let frame = Frame {
                        head: std::mem::take(&mut pending.head),
                        body: pending.body.pop().unwrap_or_default(),
                        end_line,
                    };
                    // Written: the earlier pieces of a body that came in several, then
                    // the frame in one vectored write; then all of it is dropped.
                    stats.bytes_out += pending.body.iter().map(Bytes::len).sum::<usize>();
                    stats.bytes_out += frame.io_slices().iter().map(|s| s.len()).sum::<usize>();
                    drop(frame);
                    pending.body.clear();
                    pending.parsed = None;
                    decoded += 1;
                    if measuring {
                        stats.frames += 1;
                    }
                    if decoded == WARM_UP {
                        measuring = true;
                        on_measure(true);
                    }
                }
            }
        }
        if mode != Mode::HoldUntilEnd {
            // A streaming forwarder writes what it has of the frame in progress before
            // it reads again, and drops it.
            stats.bytes_out += pending.head.len();
            stats.bytes_out += pending.body.iter().map(Bytes::len).sum::<usize>();
            pending.head = Bytes::new();
            pending.body.clear();
        }
    }
    on_measure(false);

    assert_eq!(decoded, FRAMES);
    assert!(read_buf.is_empty(), "{} bytes undecoded", read_buf.len());
    assert!(decoder.is_between_frames());
    stats
}

mod counting {
    //! Counts `alloc`, `alloc_zeroed` and `realloc` calls made on a measuring thread.

    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Counting;

    static ALLOCS: AtomicU64 = AtomicU64::new(0);

    thread_local! {
        static ON: Cell<bool> = const { Cell::new(false) };
    }

    fn note() {
        if ON.try_with(Cell::get).unwrap_or(false) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
    }

    // SAFETY: every call is passed to `System` unchanged; the counting touches only
    // an atomic and a const-initialised thread-local, which do not allocate.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note();
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            note();
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note();
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Counting on (from zero) or off, on this thread.
    pub fn switch(on: bool) {
        if on {
            ALLOCS.store(0, Ordering::SeqCst);
        }
        ON.with(|flag| flag.set(on));
    }

    /// Allocations counted while on.
    pub fn count() -> Option<u64> {
        Some(ALLOCS.load(Ordering::SeqCst))
    }
}

/// One measured section at a time: the counter is shared by all threads.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `pipeline` with the allocation counter (if built in) on for its measured part.
fn measured(mode: Mode) -> (Stats, Option<u64>) {
    let _one_at_a_time = MEASURING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let stats = pipeline(mode, &mut counting::switch);
    (stats, counting::count())
}

fn report(name: &str, stats: &Stats, counted: Option<u64>) {
    println!(
        "{name}: {} frames in {} reads measured: {} read-buffer and {} encoder-block \
         reallocations, so at most {} heap allocations from buffers ({} bytes out)",
        stats.frames,
        stats.reads,
        stats.read_buffer_allocations,
        stats.encoder_block_allocations,
        stats.heap_allocations(),
        stats.bytes_out,
    );
    match counted {
        Some(n) => println!("{name}: counting allocator: {n} alloc/realloc calls"),
        None => panic!("{name}: allocations not counted"),
    }
}

#[test]
fn decode_and_echo_allocates_nothing_per_frame() {
    let (stats, counted) = measured(Mode::Echo);
    report("echo", &stats, counted);
    assert_eq!(stats.frames, FRAMES - WARM_UP);
    assert!(stats.heap_allocations() <= BOUND, "{stats:?}");
    if let Some(n) = counted {
        assert!(n <= BOUND, "{n} allocations in {} frames", stats.frames);
    }
}

#[test]
fn decode_and_forward_allocates_nothing_per_frame() {
    let (stats, counted) = measured(Mode::Forward);
    report("forward", &stats, counted);
    assert_eq!(stats.frames, FRAMES - WARM_UP);
    assert!(stats.heap_allocations() <= BOUND, "{stats:?}");
    if let Some(n) = counted {
        assert!(n <= BOUND, "{n} allocations in {} frames", stats.frames);
    }
}

/// Holding a frame's head or body pieces across a read keeps the read buffer shared,
/// so `reserve` cannot reuse it and allocates a new one: at most once per read, never
/// per frame. (This is what holding a `Head` until its end-line costs.)
#[test]
fn frames_held_across_reads_cost_at_most_a_buffer_per_read() {
    let (stats, counted) = measured(Mode::HoldUntilEnd);
    report("held until end-line", &stats, counted);
    assert_eq!(stats.frames, FRAMES - WARM_UP);
    let reads = stats.reads as u64;
    assert!(stats.read_buffer_allocations <= reads, "{stats:?}");
    assert!(stats.encoder_block_allocations <= BOUND / 2, "{stats:?}");
    if let Some(n) = counted {
        assert!(n <= 2 * reads + BOUND, "{n} allocations in {reads} reads");
    }
}

/// The encoder keeps room for a head's end-line: `end_line` right after `head` (or
/// `forward`) never needs a new block while the head is held, wherever in its block
/// the head falls. Without that room a head ending a few bytes before the end of a
/// block left its end-line to a fresh, allocated block.
#[test]
fn an_end_line_always_fits_after_its_head() {
    let long_tid = "t".repeat(Limits::default().max_transaction_id_bytes);
    let mut input = Vec::new();
    send_frame(&mut input, &long_tid, 16);
    let mut read_buf = BytesMut::from(&input[..]);
    let Ok(Some(Item::Head(head))) = Decoder::new(Limits::default()).decode(&mut read_buf) else {
        panic!("no head");
    };
    let to_path = [MsrpUri::parse_str("msrp://10.0.0.1:2855/s2ab9qz;tcp").unwrap()];
    let rewrite = Rewrite {
        transaction_id: TransactionId::parse(long_tid.as_bytes(), 64).unwrap(),
        to_path: &to_path,
        from_path: &to_path,
        message_id: None,
        byte_range: None,
    };
    // Fillers are end-lines of 14 to 42 bytes (ids of 4 to 32 characters), dropped at
    // once so that the encoder may reuse its block in place.
    let filler_ids: Vec<TransactionId> = (4..=32)
        .map(|len| TransactionId::parse("f".repeat(len).as_bytes(), 32).unwrap())
        .collect();
    let flag = msrp_proto::codec::ContinuationFlag::End;
    for offset in (14..40_000).step_by(7) {
        for forward in [false, true] {
            let mut encoder = Encoder::new();
            let mut left = offset;
            while left > 0 {
                let piece = if left > 56 {
                    42
                } else if left > 42 {
                    left - 14
                } else {
                    left
                };
                drop(encoder.end_line(&filler_ids[piece - 14], flag, false));
                left -= piece;
            }
            let head_out = if forward {
                encoder.forward(&head, &rewrite)
            } else {
                encoder.head(&head)
            };
            let end_line = encoder.end_line(&rewrite.transaction_id, flag, true);
            assert_eq!(
                end_line.as_ptr() as usize,
                head_out.as_ptr() as usize + head_out.len(),
                "end-line moved to a new block after {offset} bytes (forward: {forward})"
            );
        }
    }
}
