//! Shared fixtures for the benchmarks: wire frames of known shapes.

pub mod flood;

/// A SEND of `body_len` bytes of `x`, with the headers a real chat client sends.
pub fn send_frame(tid: &str, body_len: usize) -> Vec<u8> {
    let mut frame = format!(
        "MSRP {tid} SEND\r\n\
         To-Path: msrp://127.0.0.1:2855/iau39soe2843z;tcp\r\n\
         From-Path: msrp://127.0.0.1:40112/9di4eae923wzd;tcp\r\n\
         Message-ID: 12339sdqwer\r\n\
         Byte-Range: 1-{body_len}/{body_len}\r\n\
         Success-Report: no\r\n\
         Failure-Report: yes\r\n\
         Content-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    frame.resize(frame.len() + body_len, b'x');
    frame.extend_from_slice(format!("\r\n-------{tid}$\r\n").as_bytes());
    frame
}

/// `count` SENDs of `body_len` bytes back to back, as a pipelining client writes them,
/// each with its own transaction id.
pub fn pipelined_sends(count: usize, body_len: usize) -> Vec<u8> {
    (0..count)
        .flat_map(|i| send_frame(&format!("bench{i:06}"), body_len))
        .collect()
}
