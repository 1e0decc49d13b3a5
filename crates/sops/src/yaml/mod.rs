//! YAML support: an order- and comment-preserving reader on top of saphyr-parser, typed like go-yaml v3,
//! and a writer in sops's layout.

mod emit;
mod parse;
mod scalar;

pub(crate) use emit::emit;
pub(crate) use parse::parse;

#[cfg(test)]
mod tests;
