//! Fuzzes the MSRP decoder: arbitrary bytes, fed whole and in pieces, with the
//! invariants of `../harness.rs` (shared with `msrp-proto/tests/fuzz_replay.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod harness {
    include!("../harness.rs");
}

fuzz_target!(|data: &[u8]| harness::fuzz_one(data));
