//! Native SOPS+age: reads and writes files that real sops 3.11 produces and accepts.
//!
//! # Overview
//! - [`SopsFile::parse`] reads an encrypted YAML or JSON file; [`SopsFile::decrypt`] unwraps the data key
//!   with age [`Identities`], decrypts every value and verifies the MAC, giving a plaintext [`Document`].
//! - [`encrypt`] / [`encrypt_with`] turn a [`Document`] into a [`SopsFile`] for one or more [`Recipient`]s;
//!   `to_string()` writes it (YAML with a 4-space indent, JSON with tabs, `version: 3.11.0`).
//! - [`SopsFile::open`] gives a [`DecryptedFile`] that keeps the data key: [`DecryptedFile::set`],
//!   [`DecryptedFile::rotate`], [`DecryptedFile::add_recipient`], [`DecryptedFile::remove_recipient`],
//!   then [`DecryptedFile::encrypt`]. Unchanged values keep their ciphertext, as with sops.
//! - [`KeyPath`] addresses values (`llm.providers[0].api_key`).
//! - Identities are always passed explicitly; [`Identities::from_env`] / [`KeySources::from_env`] is the
//!   only code that reads the environment (`SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, the default key file).
//!
//! # Layout
//! `value` (tree), `path`, `document` (+ [`Format`]), `yaml` / `json` (text), `codec` (Go-compatible
//! plaintext bytes), `cipher` (AES-256-GCM, 32-byte IV), `walk` (encrypt/decrypt walk and MAC),
//! `metadata` (the `sops` block), `keys` (age), `file` (the public file types).
//!
//! # Secrets
//! Plaintext strings live in zeroize-on-drop buffers ([`SecretText`]); `Debug` of values, documents,
//! identities and keys never shows secret material, and no error message contains a plaintext value.
//!
//! # Not supported
//! Key sources other than age (they are carried when reading, but files using them cannot be
//! re-encrypted), Shamir key groups, the comment-regex rules, multi-document YAML, `SOPS_AGE_KEY_CMD`
//! and SSH identities.

mod cipher;
mod codec;
mod document;
mod error;
mod file;
mod json;
mod keys;
mod metadata;
mod path;
mod value;
mod walk;
mod yaml;

pub use document::{Document, Format};
pub use error::{
    CipherError, DecryptError, EmitError, EncryptError, KeyError, ParseError, PathError,
};
pub use file::{DecryptedFile, EncryptOptions, SopsFile, encrypt, encrypt_with};
pub use keys::{Identities, KeySources, Recipient};
pub use metadata::SOPS_VERSION;
pub use path::{KeyPath, Segment};
pub use value::{List, ListItem, Map, MapItem, SecretBytes, SecretText, Value};
pub use walk::EncryptionRule;

/// Re-export of the age X25519 identity type, for building [`Identities`] in code.
pub use age::x25519::Identity as AgeIdentity;
