//! Fuzzes SDP: the control API's `m=message` parser and writer, the daemon's checks
//! of remote media, and the switch's offers and answers, with the invariants of
//! `../sdp_harness.rs` (shared with `msrp-switch/tests/fuzz_sdp_replay.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod harness {
    include!("../sdp_harness.rs");
}

fuzz_target!(|data: &[u8]| {
    harness::run(data);
});
