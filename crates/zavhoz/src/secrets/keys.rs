//! The age identities zavhoz decrypts with, loaded from the same sources sops uses. Both forms are kept:
//! `orch_sops::Identities` for secrets.yaml and raw X25519 identities for sealed user secrets.

use std::str::FromStr;

use age::x25519;
use orch_sops::{Identities, KeySources};
use zeroize::Zeroizing;

use super::SecretsError;

/// The loaded identities.
pub struct AgeKeys {
    sops: Identities,
    raw: Vec<x25519::Identity>,
}

impl AgeKeys {
    /// Loads every identity the sources name; at least one is required.
    pub fn load(sources: &KeySources) -> Result<Self, SecretsError> {
        let sops = Identities::load(sources).map_err(|e| SecretsError::Keys(e.to_string()))?;
        let mut raw = Vec::new();
        for text in key_texts(sources)? {
            raw.extend(parse_identities(&text));
        }
        if sops.is_empty() || raw.is_empty() {
            return Err(SecretsError::Keys(
                "no age identity found (set ZAVHOZ__AGE_KEY_FILE, SOPS_AGE_KEY or SOPS_AGE_KEY_FILE)"
                    .into(),
            ));
        }
        Ok(Self { sops, raw })
    }

    /// The identities for secrets.yaml.
    pub fn sops(&self) -> &Identities {
        &self.sops
    }

    /// The identities for sealed user secrets.
    pub fn identities(&self) -> &[x25519::Identity] {
        &self.raw
    }
}

fn key_texts(sources: &KeySources) -> Result<Vec<Zeroizing<String>>, SecretsError> {
    let mut texts = Vec::new();
    if let Some(inline) = &sources.inline {
        texts.push(Zeroizing::new(inline.expose().to_owned()));
    }
    let files = sources
        .key_file
        .iter()
        .chain(sources.default_file.iter().filter(|p| p.is_file()));
    for path in files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SecretsError::Keys(format!("cannot read {}: {e}", path.display())))?;
        texts.push(Zeroizing::new(text));
    }
    Ok(texts)
}

fn parse_identities(text: &str) -> Vec<x25519::Identity> {
    text.lines()
        .map(str::trim)
        .filter(|line| line.starts_with("AGE-SECRET-KEY-1"))
        .filter_map(|line| x25519::Identity::from_str(line).ok())
        .collect()
}
