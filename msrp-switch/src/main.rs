//! The msrp-switch daemon.
fn main() {}
