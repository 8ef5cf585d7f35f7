//! Placeholder: replaced by the codec benchmarks.
fn main() {}
