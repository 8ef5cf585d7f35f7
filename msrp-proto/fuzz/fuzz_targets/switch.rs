//! Fuzzes the sans-IO switch: each input is a program of connections, frames,
//! closes, clock steps and control calls run against one `Endpoint`, with the
//! invariants of `../switch_harness.rs` (shared with
//! `msrp-proto/tests/fuzz_switch_replay.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod harness {
    include!("../switch_harness.rs");
}

fuzz_target!(|data: &[u8]| {
    harness::run(data);
});
