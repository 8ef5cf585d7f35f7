//! Replays the SDP fuzz seeds and every fuzzer-found regression through the SDP fuzz
//! harness, and runs a short deterministic stream of pseudo-random SDP through it,
//! so `cargo test` exercises the harness without cargo-fuzz.
//!
//! The harness is `msrp-proto/fuzz/sdp_harness.rs`, included here and by the fuzz
//! target (`msrp-proto/fuzz/fuzz_targets/sdp.rs`). It lives with the other fuzz
//! harnesses; its test lives here because this crate is the one that links both
//! the control API (SDP text) and `msrp-proto` (the media rules), as the daemon does.

use std::fs;
use std::path::{Path, PathBuf};

#[allow(dead_code)]
mod harness {
    include!("../../msrp-proto/fuzz/sdp_harness.rs");
}

use harness::{Summary, run};

mod corpus {
    include!("../../msrp-proto/fuzz/inputs.rs");
}

/// Every input file in the fuzz directory's `dir`, sorted.
fn inputs(dir: &str) -> Vec<(PathBuf, Vec<u8>)> {
    corpus::inputs_in(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../msrp-proto/fuzz"),
        dir,
    )
}

/// Runs one input, naming the file if the harness panics.
fn replay(path: &Path, input: &[u8]) -> Summary {
    std::panic::catch_unwind(|| run(input))
        .unwrap_or_else(|_| panic!("{} failed (see the panic above)", path.display()))
}

#[test]
fn seeds_parse_and_negotiate() {
    let seeds = inputs("seeds_sdp");
    assert!(seeds.len() >= 8, "only {} seeds", seeds.len());
    let mut answered = 0;
    let mut offered_and_answered = 0;
    for (path, input) in &seeds {
        let summary = replay(path, input);
        // Every seed is a real offer or answer: it parses.
        assert!(summary.parsed, "{}: {summary:?}", path.display());
        answered += summary.answered;
        offered_and_answered += usize::from(summary.offered_and_answered);
    }
    assert!(answered >= 8, "{answered} answers");
    assert!(
        offered_and_answered >= 2,
        "{offered_and_answered} offers answered"
    );
}

#[test]
fn regressions_stay_fixed() {
    for (path, input) in &inputs("regressions_sdp") {
        replay(path, input);
    }
}

/// xorshift64: the same stream of inputs on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Good `a=path` lines.
const PATHS: &[&str] = &[
    "a=path:msrp://10.0.0.1:7394/s1;tcp",
    "a=path:msrps://relay.example:2855/r;tcp msrp://10.0.0.1:7394/s2;tcp",
    "a=path:msrp://[2001:db8::1]:7394/v6;tcp",
    "a=path:MSRP://Host.Example:7394/s3;tcp;x=y",
];

/// Good `a=accept-types` lines.
const TYPES: &[&str] = &[
    "a=accept-types:message/cpim text/plain",
    "a=accept-types:*",
    "a=accept-types:text/* image/png",
    "a=accept-types:message/cpim",
];

/// Lines an SDP mutation is built from: the attributes the parser knows, with
/// good and bad values, so that random picks often parse.
const LINES: &[&str] = &[
    "v=0",
    "o=- 1 1 IN IP4 10.0.0.1",
    "s=-",
    "t=0 0",
    "c=IN IP4 10.0.0.1",
    "c=IN IP6 2001:db8::1",
    "c=IN IP4 host.example.com",
    "c=IN IP6 1.2.3.4",
    "c=bogus",
    "m=message 7394 TCP/MSRP *",
    "m=message 7394 TCP/TLS/MSRP *",
    "m=message 0 TCP/MSRP *",
    "m=message 99999 TCP/MSRP *",
    "m=audio 49170 RTP/AVP 0",
    "a=path:msrp://10.0.0.1:7394/s1;tcp",
    "a=path:msrps://relay.example:2855/r;tcp msrp://10.0.0.1:7394/s2;tcp",
    "a=path:msrp://[2001:db8::1]:7394/v6;tcp",
    "a=path:msrp://10.0.0.1/noport;tcp",
    "a=path:http://nope",
    "a=path:",
    "a=accept-types:message/cpim text/plain",
    "a=accept-types:*",
    "a=accept-types:text/* image/png",
    "a=accept-types:text/plain;charset=utf-8",
    "a=accept-wrapped-types:text/plain message/imdn+xml",
    "a=accept-wrapped-types:*",
    "a=max-size:1000",
    "a=max-size:50",
    "a=max-size:18446744073709551616",
    "a=setup:active",
    "a=setup:passive",
    "a=setup:actpass",
    "a=setup:holdconn",
    "a=setup:sideways",
    "a=connection:new",
    "a=connection:existing",
    "a=fingerprint:SHA-256 4A:AD:B9",
    "a=fingerprint:SHA-1 zz",
    "a=msrp-cema",
    "a=chatroom:nickname private-messages",
    "a=sendonly",
    "a=recvonly",
    "a=inactive",
    "a=sendrecv",
];

/// The CI's short fuzz run: SDP put together from [`LINES`] (some cut, some with a
/// random byte flipped), behind a random control byte, from a fixed seed.
/// `MSRP_FUZZ_INPUTS` and `MSRP_FUZZ_SEED` run more, or others.
#[test]
fn pseudo_random_sdp() {
    let env = |name: &str, default: u64| {
        std::env::var(name).map_or(default, |v| v.parse().expect("a number"))
    };
    let inputs = env("MSRP_FUZZ_INPUTS", RANDOM_INPUTS) as usize;
    let mut rng = XorShift(env("MSRP_FUZZ_SEED", 0x2545_F491_4F6C_DD1D) | 1);
    let mut parsed = 0;
    let mut answered = 0;
    for i in 0..inputs {
        let mut input = vec![0x80 | rng.next() as u8];
        // Most inputs are an m=message section with a path and types.
        if rng.next() % 4 != 0 {
            let pick = |rng: &mut XorShift, lines: &[&str]| {
                lines[(rng.next() % lines.len() as u64) as usize].to_owned()
            };
            let head = format!(
                "m=message 7394 TCP/MSRP *\r\nc=IN IP4 10.0.0.1\r\n{}\r\n{}\r\n",
                pick(&mut rng, PATHS),
                pick(&mut rng, TYPES)
            );
            input.extend_from_slice(head.as_bytes());
        }
        for _ in 0..rng.next() % 6 {
            let line = LINES[(rng.next() % LINES.len() as u64) as usize].as_bytes();
            let mut line = line.to_vec();
            match rng.next() % 8 {
                0 => line.truncate((rng.next() % (line.len() as u64 + 1)) as usize),
                1 => {
                    let at = (rng.next() % line.len() as u64) as usize;
                    line[at] = rng.next() as u8;
                }
                _ => {}
            }
            input.extend_from_slice(&line);
            input.extend_from_slice(if rng.next() % 2 == 0 { b"\r\n" } else { b"\n" });
        }
        let summary = std::panic::catch_unwind(|| run(&input)).unwrap_or_else(|_| {
            let path = std::env::temp_dir().join(format!("fuzz_sdp_random_{i}"));
            fs::write(&path, &input).unwrap();
            panic!("pseudo-random SDP #{i} failed; it is in {}", path.display());
        });
        parsed += usize::from(summary.parsed);
        answered += summary.answered;
    }
    eprintln!("{inputs} inputs: {parsed} parsed, {answered} answers");
    assert!(parsed > inputs / 10, "{parsed} of {inputs} parsed");
    assert!(answered > 0, "none answered");
}

/// Inputs in [`pseudo_random_sdp`].
const RANDOM_INPUTS: u64 = 5_000;
