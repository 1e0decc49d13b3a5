//! A stable-toolchain stand-in for the fuzzer: thousands of deterministic mutants of every fixture go
//! through the parsers and the decryptor, which may fail but must never panic.

use std::panic::{AssertUnwindSafe, catch_unwind};

use orch_sops::{Document, Format, SopsFile};

use crate::common::*;

const FILES: [&str; 13] = [
    "secrets.enc.yaml",
    "secrets.enc.json",
    "secrets.multi.enc.yaml",
    "secrets.tampered.enc.yaml",
    "comments.enc.yaml",
    "lists.enc.yaml",
    "secrets.yaml",
    "secrets.json",
    "comments.yaml",
    "lists.yaml",
    "secrets.sops-decrypted.yaml",
    "secrets.sops-decrypted.json",
    "expected.json",
];
const MUTANTS_PER_FILE: usize = 400;
const SNIPPETS: [&str; 16] = [
    ":",
    "- ",
    "#",
    "[",
    "{",
    "\"",
    "'",
    "\n",
    "&a ",
    "*a",
    "!!binary ",
    "!!timestamp ",
    "|",
    "ENC[AES256_GCM,data:",
    ",type:comment]",
    "\t",
];

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << rng.below(8);
            }
            1 => out.truncate(at),
            2 => {
                let end = (at + rng.below(64)).min(out.len());
                out.drain(at..end);
            }
            3 => {
                let snippet = SNIPPETS[rng.below(SNIPPETS.len())].as_bytes();
                out.splice(at..at, snippet.iter().copied());
            }
            4 => {
                let end = (at + rng.below(200)).min(out.len());
                let copy = out[at..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, copy);
            }
            _ => {
                let i = rng.below(out.len() + 1);
                out.insert(i.min(out.len()), rng.next() as u8);
            }
        }
    }
    out
}

/// Everything a caller could do with untrusted bytes.
fn exercise(input: &[u8]) {
    let keys = key1();
    for format in [Format::Yaml, Format::Json] {
        if let Ok(file) = SopsFile::parse(input, format) {
            let _ = file.to_text();
            if let Ok(mut opened) = file.open(&keys) {
                let _ = opened.rotate();
                let _ = opened.encrypt();
            }
        }
        if let Ok(text) = std::str::from_utf8(input)
            && let Ok(doc) = Document::parse(text, format)
        {
            let _ = doc.to_text(Format::Yaml);
            let _ = doc.to_text(Format::Json);
        }
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut runs = 0;
    for name in FILES {
        let original = fixture(name).into_bytes();
        for _ in 0..MUTANTS_PER_FILE {
            let mutant = mutate(&original, &mut rng);
            let outcome = catch_unwind(AssertUnwindSafe(|| exercise(&mutant)));
            assert!(
                outcome.is_ok(),
                "panic on a mutant of {name}:\n{}",
                String::from_utf8_lossy(&mutant)
            );
            runs += 1;
        }
    }
    assert_eq!(runs, FILES.len() * MUTANTS_PER_FILE);
}

#[test]
fn pathological_inputs_are_rejected_without_panic() {
    let deep = "a: ".to_owned() + &"[".repeat(5000);
    let deep_block: String = (0..400)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    let laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n".to_owned()
        + &(b'b'..=b'k')
            .map(|c| {
                let prev = (c - 1) as char;
                let c = c as char;
                format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n")
            })
            .collect::<String>();
    for input in [
        deep.as_str(),
        deep_block.as_str(),
        laughs.as_str(),
        "",
        "\u{feff}",
        "---\n---\n",
    ] {
        exercise(input.as_bytes());
        assert!(Document::parse(input, Format::Yaml).is_ok() || !input.is_empty());
    }
    assert!(
        Document::parse(&laughs, Format::Yaml).is_err(),
        "alias bombs are refused"
    );
    assert!(
        Document::parse(&deep_block, Format::Yaml).is_err(),
        "deep nesting is refused"
    );
}
