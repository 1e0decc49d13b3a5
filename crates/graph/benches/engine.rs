//! Placeholder; the benchmark lands in the next commit.

fn main() {}
