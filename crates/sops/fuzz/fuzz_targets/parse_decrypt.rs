//! Fuzzes the parsers and the decryptor: any input may be rejected, none may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orch_sops::{Document, Format, Identities, SopsFile};

const TEST_KEY: &str = include_str!("../../tests/fixtures/age-key.txt");

fuzz_target!(|data: &[u8]| {
    let Some((selector, input)) = data.split_first() else {
        return;
    };
    let format = if selector & 1 == 0 { Format::Yaml } else { Format::Json };
    if let Ok(file) = SopsFile::parse(input, format) {
        let _ = file.to_text();
        if let Ok(keys) = Identities::parse(TEST_KEY, "test key")
            && let Ok(mut opened) = file.open(&keys)
        {
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
});
