//! Replays the decoder fuzz seeds and every fuzzer-found regression through the fuzz
//! harness, so `cargo test` keeps them fixed without cargo-fuzz or a nightly toolchain.
//!
//! The harness is `fuzz/harness.rs`, included here and by the fuzz target
//! (`fuzz/fuzz_targets/decode.rs`): one copy of the invariants for both.

use std::fs;
use std::path::{Path, PathBuf};

#[allow(dead_code)]
mod harness {
    include!("../fuzz/harness.rs");
}

use harness::{Event, REPLAY_SPLITS, Split, check, fuzz_one, small_limits};
use msrp_proto::codec::Limits;

mod corpus {
    include!("../fuzz/inputs.rs");
}

/// Every input file in the fuzz directory's `dir`, sorted.
fn inputs(dir: &str) -> Vec<(PathBuf, Vec<u8>)> {
    corpus::inputs_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz"), dir)
}

/// Runs one input as the fuzzer does, then as plain data whole and at every replay
/// split, under both sets of limits. Returns the events of the whole input under the
/// default limits.
fn replay(path: &Path, input: &[u8]) -> Vec<Event> {
    let name = path.display();
    for (i, limits) in [Limits::default(), small_limits()].iter().enumerate() {
        for &split in REPLAY_SPLITS {
            // Name the file and split when the harness panics.
            std::panic::catch_unwind(|| check(input, limits, split))
                .unwrap_or_else(|_| panic!("{name}: {split:?}, limits #{i}"));
        }
    }
    fuzz_one(input);
    check(input, &Limits::default(), Split::Whole)
}

#[test]
fn seeds_decode_cleanly_at_every_split() {
    let seeds = inputs("seeds");
    assert!(seeds.len() >= 10, "only {} seeds", seeds.len());
    for (path, input) in &seeds {
        let events = replay(path, input);
        // The seeds are valid frames: no error, and the stream ends between frames.
        assert!(
            !events.iter().any(|e| matches!(e, Event::Error(_))),
            "{}: {events:?}",
            path.display()
        );
        assert!(
            matches!(events.last(), Some(Event::End(_))),
            "{}: {events:?}",
            path.display()
        );
        // Every seed has at least one head, and as many ends as heads.
        let heads = events
            .iter()
            .filter(|e| matches!(e, Event::Head { .. }))
            .count();
        let ends = events.iter().filter(|e| matches!(e, Event::End(_))).count();
        assert!(
            heads >= 1 && heads == ends,
            "{}: {events:?}",
            path.display()
        );
    }
}

#[test]
fn regressions_stay_fixed() {
    for (path, input) in &inputs("regressions") {
        replay(path, input);
    }
}

#[test]
fn every_control_byte_works_on_a_seed() {
    // The fuzz input format: a control byte with its high bit set, then data.
    let seed = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/chunked_pair.msrp"))
        .unwrap();
    for control in 0x80..=0xFFu8 {
        let mut input = vec![control];
        input.extend_from_slice(&seed);
        fuzz_one(&input);
    }
}

#[test]
fn irregular_splits_add_up() {
    for seed in [0, 1, 7, 63] {
        let pieces = Split::Irregular(seed).pieces(10_000);
        assert_eq!(pieces.iter().sum::<usize>(), 10_000);
        assert!(pieces.iter().all(|&p| (1..=1024).contains(&p)));
        assert!(pieces.len() > 20, "seed {seed}: {} pieces", pieces.len());
    }
    assert_eq!(Split::Whole.pieces(5), [5]);
    assert!(Split::Whole.pieces(0).is_empty());
    assert_eq!(Split::Step(2).pieces(5), [2, 2, 1]);
}
