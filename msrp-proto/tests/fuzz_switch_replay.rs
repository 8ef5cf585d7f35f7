//! Replays the switch fuzz seeds and every fuzzer-found regression through the
//! switch fuzz harness, and runs a short deterministic stream of pseudo-random
//! programs through it, so `cargo test` exercises the harness without cargo-fuzz.
//!
//! The harness is `fuzz/switch_harness.rs`, included here and by the fuzz target
//! (`fuzz/fuzz_targets/switch.rs`): one copy of the invariants for both.

use std::fs;
use std::path::{Path, PathBuf};

#[allow(dead_code)]
mod harness {
    include!("../fuzz/switch_harness.rs");
}

use harness::{Op, Summary, run, run_traced};

mod corpus {
    include!("../fuzz/inputs.rs");
}

/// Every input file in the fuzz directory's `dir`, sorted.
fn inputs(dir: &str) -> Vec<(PathBuf, Vec<u8>)> {
    corpus::inputs_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz"), dir)
}

/// Runs one input, naming the file if the harness panics.
fn replay(path: &Path, input: &[u8]) -> Summary {
    std::panic::catch_unwind(|| run(input))
        .unwrap_or_else(|_| panic!("{} failed (see the panic above)", path.display()))
}

#[test]
fn seeds_run_cleanly_and_reach_what_they_were_written_for() {
    let seeds = inputs("seeds_switch");
    assert!(seeds.len() >= 5, "only {} seeds", seeds.len());
    let mut all = Summary::default();
    for (path, input) in &seeds {
        let summary = replay(path, input);
        assert!(summary.ops > 0, "{}: no op ran", path.display());
        all.requests_read += summary.requests_read;
        all.responses_out += summary.responses_out;
        all.sends_out += summary.sends_out;
        all.reports_out += summary.reports_out;
        all.answers_in += summary.answers_in;
        all.connects += summary.connects;
    }
    // Between them the seeds forward, answer, report and connect out.
    assert!(all.requests_read > 0 && all.responses_out > 0, "{all:?}");
    assert!(all.sends_out > 0 && all.reports_out > 0, "{all:?}");
    assert!(all.answers_in > 0 && all.connects > 0, "{all:?}");
}

/// A program: the header bytes, then each op with its operands (see the harness's
/// `Op` and `Run::setup` for what each byte means).
fn program(header: &[u8], ops: &[(Op, &[u8])]) -> Vec<u8> {
    let mut bytes = header.to_vec();
    for (op, operands) in ops {
        bytes.push(op.byte());
        bytes.extend_from_slice(operands);
    }
    bytes
}

/// The seeds of `fuzz/seeds_switch/`, as recipes. Members are numbered in the order
/// they were added; connections are the accepted ones first (each participant that
/// dials binds the next one at setup), then those the switch opened.
fn seed_recipes() -> Vec<(&'static str, Vec<u8>)> {
    use Op::*;
    vec![
        (
            // 1:1, A (member 0) on connection 0 and B (1) on 1: A's message is
            // forwarded and answered, B's REPORT is mapped back, B's two-chunk
            // message is answered 413 (a REPORT to B), the rest times out (408).
            "one_to_one_forward",
            program(
                &[0x00, 0x00, 0x00, 0x00, 0x00],
                &[
                    // SEND tid msg range=1-L/L flags=Success-Report:yes body=32 B
                    // cpim paths cuts
                    (Send, &[0, 0, 1, 1, 2, 0x04, 4, 0, 0, 0x40, 0xC0]),
                    (Take, &[1, 255]),
                    (Answer, &[1, 0, 0]),
                    (Take, &[0, 255]),
                    (Report, &[1, 1, 2, 1, 0x80, 0]),
                    (Take, &[0, 255]),
                    // B: Failure-Report partial, flag +, then the last chunk.
                    (Send, &[1, 1, 3, 2, 4, 0x13, 8, 0, 0, 0, 0]),
                    (Send, &[1, 1, 4, 2, 3 + 6, 0x01, 8, 0, 0, 0x20, 0]),
                    (Take, &[0, 255]),
                    (Answer, &[0, 0, 4]),
                    (Take, &[1, 255]),
                    (
                        Send,
                        &[0, 0, 5, 3, 1, 0x00, 0x85, 0, 0, 0x10, 0x90, 1, 2, 3, 4, 5],
                    ),
                    (Advance, &[4]),
                    (Take, &[1, 255]),
                    (Take, &[0, 255]),
                    (Release, &[0]),
                ],
            ),
        ),
        (
            // A group of three (message/cpim), private messages and nicknames on:
            // a public message fanned out, a private one, success reports, a
            // nickname taken twice, then a member removed and the room released.
            "group_fanout",
            program(
                &[0x40, 0x03, 0x01, 0x06, 0x06, 0x03],
                &[
                    (Send, &[0, 0, 1, 1, 2, 0x44, 4, 0x00, 0, 0x30, 0xA0]),
                    (Take, &[1, 255]),
                    (Take, &[2, 255]),
                    (Take, &[0, 255]),
                    // Private to the next member.
                    (Send, &[0, 0, 2, 2, 2, 0x40, 2, 0x04, 0, 0, 0]),
                    (Take, &[1, 255]),
                    (Other, &[0, 0, 3, 0, 0]),
                    (Other, &[1, 1, 4, 0, 1]),
                    (Take, &[0, 255]),
                    (Take, &[1, 255]),
                    // Two chunks, cut into 64-byte copies with config bit 2 off.
                    (Send, &[2, 2, 5, 3, 4, 0x50, 40, 0x00, 0, 0x80, 0]),
                    (Send, &[2, 2, 6, 3, 3 + 6, 0x40, 40, 0x00, 0, 0, 0]),
                    (Take, &[0, 255]),
                    (Answer, &[0, 0, 4]),
                    (Remove, &[2]),
                    (Take, &[2, 255]),
                    (Advance, &[3]),
                    (Release, &[0]),
                ],
            ),
        ),
        (
            // 1:1 where the switch dials A (setup active): its bind SEND on
            // connection 2 is answered 200, B (connection 0) sends to A, then A is
            // given a new path: the switch dials again and that bind is refused.
            "active_setup",
            program(
                &[0x00, 0x00, 0x00, 0x08, 0x00],
                &[
                    (Take, &[2, 255]),
                    (Answer, &[2, 0, 0]),
                    (Send, &[0, 1, 1, 1, 2, 0x00, 4, 0, 0, 0, 0]),
                    (Take, &[2, 255]),
                    (Answer, &[2, 0, 0]),
                    (Take, &[0, 255]),
                    (Modify, &[0, 0x08, 1]),
                    (Take, &[3, 255]),
                    (Answer, &[3, 0, 6]),
                    (Advance, &[4]),
                    (Take, &[0, 255]),
                ],
            ),
        ),
        (
            // A group with small queues and 64-byte fan-out chunks: nobody reads,
            // so the legs fill, senders are held back and slow consumers dropped.
            "slow_consumers",
            program(
                &[0x46, 0x00, 0x01, 0x00, 0x00, 0x00],
                &[
                    (Send, &[0, 0, 1, 1, 1, 0x40, 100, 0x00, 0, 0, 0]),
                    (Take, &[2, 40]),
                    (Send, &[0, 0, 2, 2, 1, 0x40, 100, 0x00, 0, 0, 0]),
                    (Block, &[1, 1]),
                    (Send, &[2, 2, 3, 3, 1, 0x40, 100, 0x00, 0, 0, 0]),
                    (Advance, &[3]),
                    (Take, &[2, 16]),
                    (Send, &[0, 0, 4, 4, 1, 0x40, 100, 0x00, 0, 0, 0]),
                    (Advance, &[4]),
                    (Take, &[0, 255]),
                    (Take, &[2, 255]),
                ],
            ),
        ),
        (
            // 1:1 with small queues: the switch offers to A (pending), A answers
            // and binds on connection 1; B's long message is held back and A is
            // removed while it streams.
            "offer_answer_removal",
            program(
                &[0x02, 0x00, 0x00, 0x10, 0x00],
                &[
                    (SetAnswer, &[0, 0x00]),
                    (Bind, &[1, 0, 1, 0]),
                    (Take, &[1, 255]),
                    (Send, &[0, 1, 2, 1, 1, 0x00, 120, 0, 0, 0x40, 0x80]),
                    (Take, &[1, 8]),
                    (Remove, &[0]),
                    (Take, &[1, 255]),
                    (Take, &[0, 255]),
                ],
            ),
        ),
        (
            // Small limits: a chunk over max_chunk_bytes (413), bodiless SENDs with
            // each Failure-Report, a request the decoder refuses, garbage.
            "limits_and_garbage",
            program(
                &[0x01, 0x00, 0x02, 0x00, 0x00],
                &[
                    (Send, &[0, 0, 1, 1, 1, 0x00, 60, 0, 0, 0, 0]),
                    (Bind, &[0, 0, 2, 1]),
                    (Bind, &[0, 0, 3, 2]),
                    (Bind, &[0, 0, 4, 3]),
                    // 80 raw bytes on connection 2 (unbound) in two reads: a SEND
                    // whose To-Path is no URI (answered 400 from the switch's own
                    // URI), then two bytes that lose framing.
                    (
                        Raw,
                        b"\x02\x50\x00\x80MSRP abcd SEND\r\nTo-Path: x\r\n\
                          From-Path: msrp://10.9.9.9:9/q;tcp\r\n-------abcd$\r\n\x01\x02",
                    ),
                    (Take, &[0, 255]),
                    (Take, &[2, 255]),
                    (Close, &[0]),
                    (Advance, &[5]),
                ],
            ),
        ),
        (
            // Session limits on: nobody speaks, the switch releases the sessions
            // by itself; binds time out on the extra connections.
            "session_limits",
            program(
                &[0xC8, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00],
                &[
                    (Advance, &[6]),
                    (Advance, &[6]),
                    (Send, &[0, 0, 1, 1, 1, 0x40, 2, 0, 0, 0, 0]),
                    (Advance, &[7 + 8 * 12]),
                    (Add, &[0, 0x00]),
                ],
            ),
        ),
    ]
}

#[test]
fn seeds_are_their_recipes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds_switch");
    let write = std::env::var_os("MSRP_FUZZ_WRITE_SEEDS").is_some();
    for (name, bytes) in seed_recipes() {
        let path = dir.join(name);
        if write {
            fs::write(&path, &bytes).unwrap();
        }
        let stored = fs::read(&path).unwrap_or_default();
        assert!(
            stored == bytes,
            "{} differs from its recipe: MSRP_FUZZ_WRITE_SEEDS=1 cargo test -p msrp-proto \
             --test fuzz_switch_replay seeds_are_their_recipes writes it",
            path.display()
        );
    }
}

#[test]
fn regressions_stay_fixed() {
    for (path, input) in &inputs("regressions_switch") {
        replay(path, input);
    }
}

/// xorshift64: the same stream of programs on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The CI's short fuzz run: pseudo-random programs from a fixed seed. Each is a
/// header biased towards binding everyone, then op bytes with random operands.
/// `MSRP_FUZZ_PROGRAMS` and `MSRP_FUZZ_SEED` run more, or others.
#[test]
fn pseudo_random_programs() {
    let env = |name: &str, default: u64| {
        std::env::var(name).map_or(default, |v| v.parse().expect("a number"))
    };
    let programs = env("MSRP_FUZZ_PROGRAMS", RANDOM_PROGRAMS as u64) as usize;
    let mut rng = XorShift(env("MSRP_FUZZ_SEED", 0x9E37_79B9_7F4A_7C15) | 1);
    let mut total = Summary::default();
    for i in 0..programs {
        let len = 8 + (rng.next() % 600) as usize;
        let mut input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Mostly keep the setup binds (config bit 5 clear).
        if i % 4 != 0 {
            input[0] &= !32;
        }
        let summary = std::panic::catch_unwind(|| run(&input)).unwrap_or_else(|_| {
            let path = std::env::temp_dir().join(format!("fuzz_switch_random_{i}"));
            fs::write(&path, &input).unwrap();
            panic!(
                "pseudo-random program #{i} failed; it is in {} (replay it with \
                 MSRP_FUZZ_REPLAY={0} cargo test -p msrp-proto --test fuzz_switch_replay \
                 replay_one -- --nocapture)",
                path.display()
            );
        });
        total.ops += summary.ops;
        total.requests_read += summary.requests_read;
        total.sends_out += summary.sends_out;
        total.responses_out += summary.responses_out;
    }
    assert!(total.ops > programs * 10, "{total:?}");
    assert!(total.requests_read > 0 && total.sends_out > 0, "{total:?}");
}

/// Programs in [`pseudo_random_programs`].
const RANDOM_PROGRAMS: usize = 3_000;

#[test]
fn op_bytes_select_their_ops() {
    for (i, op) in harness::OPS.iter().enumerate() {
        assert_eq!(usize::from(op.byte()), i);
    }
    assert_eq!(Op::Modify.byte(), 15);
    // The empty program and a header alone run too.
    run(&[]);
    run(&[0xFF, 0xFF, 0xFF]);
}

/// Runs the input file named by `MSRP_FUZZ_REPLAY` with the harness's trace on (a
/// crasher from `fuzz/artifacts/switch/`, say); does nothing without it.
#[test]
fn replay_one() {
    let Some(path) = std::env::var_os("MSRP_FUZZ_REPLAY") else {
        return;
    };
    let input = fs::read(&path).unwrap();
    let summary = run_traced(&input, true);
    eprintln!("{summary:?}");
}
