//! msrpctl: being written.
fn main() {}
