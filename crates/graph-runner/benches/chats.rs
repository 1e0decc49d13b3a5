//! Placeholder; replaced by the chats benchmark.
fn main() {}
