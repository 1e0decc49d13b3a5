//! Error types, one per boundary. No message ever contains a plaintext value.

use std::path::PathBuf;

/// Reading YAML/JSON text or the `sops` metadata failed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The text is not valid YAML.
    #[error("invalid yaml at line {line}, column {column}: {message}")]
    Yaml {
        /// 1-based line.
        line: usize,
        /// 0-based column.
        column: usize,
        /// What the YAML scanner reported.
        message: String,
    },
    /// The text is not valid JSON.
    #[error("invalid json: {message}")]
    Json {
        /// What the JSON parser reported (position, never content).
        message: String,
    },
    /// The document root is not a mapping.
    #[error("the document root must be a mapping, found {found}")]
    RootNotMapping {
        /// The kind of node found.
        found: &'static str,
    },
    /// A YAML construct sops cannot represent either.
    #[error("unsupported yaml at line {line}: {what}")]
    Unsupported {
        /// 1-based line.
        line: usize,
        /// What is unsupported.
        what: &'static str,
    },
    /// The file has no top-level `sops` key.
    #[error("sops metadata not found: the file has no top-level `sops` key (is it encrypted?)")]
    MetadataNotFound,
    /// A metadata field is missing or malformed.
    #[error("invalid sops metadata field `{field}`: {reason}")]
    Metadata {
        /// The field name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Decrypting an AES-GCM `ENC[...]` value failed.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// The string is not of the form `ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]`.
    #[error("value does not match the sops ENC[AES256_GCM,...] format")]
    Format,
    /// A base64 field did not decode.
    #[error("invalid base64 in the `{field}` field")]
    Base64 {
        /// `data`, `iv` or `tag`.
        field: &'static str,
    },
    /// The IV or tag has the wrong length.
    #[error("invalid {field} length {len}")]
    Length {
        /// `iv` or `tag`.
        field: &'static str,
        /// The decoded length.
        len: usize,
    },
    /// The GCM tag did not verify.
    #[error("authentication failed (wrong data key, wrong path, or a modified value)")]
    Authentication,
    /// The `type:` field names no known type.
    #[error("unknown value type `{datatype}`")]
    UnknownType {
        /// The type name found.
        datatype: String,
    },
    /// The decrypted bytes do not parse as the declared type.
    #[error("decrypted value is not a valid `{datatype}`")]
    InvalidPlaintext {
        /// The declared type.
        datatype: &'static str,
    },
}

/// Opening an encrypted file failed.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    /// None of the given identities can unwrap the data key.
    #[error(
        "no age identity can decrypt this file; it is encrypted to: {}; {tried} identit{} tried \
         (set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY)",
        recipients.join(", "),
        if *tried == 1 { "y was" } else { "ies were" }
    )]
    NoMatchingIdentity {
        /// The recipients listed in the file.
        recipients: Vec<String>,
        /// How many identities were tried.
        tried: usize,
    },
    /// The file lists no age recipient at all.
    #[error("the file has no age recipients (other key sources are not supported)")]
    NoAgeRecipients,
    /// An age stanza decrypted to something that is not a 32-byte key.
    #[error("the data key wrapped for {recipient} is {len} bytes, expected 32")]
    BadDataKey {
        /// The recipient of the stanza.
        recipient: String,
        /// The decrypted length.
        len: usize,
    },
    /// A value could not be decrypted.
    #[error("cannot decrypt the value at `{path}`: {source}")]
    Value {
        /// The sops path (`a:b:`) of the value.
        path: String,
        /// Why.
        source: CipherError,
    },
    /// A value that the rules say is encrypted is a bare scalar.
    #[error("the value at `{path}` should be encrypted but is a plain {kind}")]
    NotEncrypted {
        /// The sops path (`a:b:`) of the value.
        path: String,
        /// The kind of the plain value.
        kind: &'static str,
    },
    /// The stored MAC could not be decrypted.
    #[error("cannot decrypt the stored MAC: {source}")]
    Mac {
        /// Why.
        source: CipherError,
    },
    /// The file's encryption rule does not compile.
    #[error("invalid encryption rule in the file: {reason}")]
    Rule {
        /// Why.
        reason: String,
    },
    /// The recomputed MAC differs from the stored one.
    #[error("MAC mismatch: the file was modified after it was encrypted (or is corrupt)")]
    MacMismatch,
}

/// Encrypting or re-encrypting a document failed.
#[derive(Debug, thiserror::Error)]
pub enum EncryptError {
    /// No recipient was given.
    #[error("at least one age recipient is required")]
    NoRecipients,
    /// The document already has a top-level `sops` key.
    #[error("the document already has a top-level `sops` key (is it already encrypted?)")]
    AlreadyEncrypted,
    /// The recipient string is not an age X25519 recipient.
    #[error("invalid age recipient `{recipient}`: {reason}")]
    InvalidRecipient {
        /// The recipient string.
        recipient: String,
        /// Why.
        reason: String,
    },
    /// Removing would leave the file without recipients.
    #[error("cannot remove {recipient}: it is the last recipient")]
    LastRecipient {
        /// The recipient.
        recipient: String,
    },
    /// The recipient is not listed in the file.
    #[error("{recipient} is not a recipient of this file")]
    UnknownRecipient {
        /// The recipient.
        recipient: String,
    },
    /// age failed to wrap the data key.
    #[error("cannot wrap the data key for {recipient}: {reason}")]
    Wrap {
        /// The recipient.
        recipient: String,
        /// Why.
        reason: String,
    },
    /// The OS random generator failed.
    #[error("cannot read random bytes: {reason}")]
    Random {
        /// Why.
        reason: String,
    },
    /// A regex rule does not compile.
    #[error("invalid regex in rule {rule}: {reason}")]
    Rule {
        /// The rule name.
        rule: &'static str,
        /// Why.
        reason: String,
    },
    /// Only files whose keys are all age recipients can be re-encrypted.
    #[error("the file also uses {sources}; re-encrypting would drop them")]
    ForeignKeySources {
        /// The other key sources, comma-separated.
        sources: String,
    },
    /// The document cannot be written in the requested format.
    #[error(transparent)]
    Emit(#[from] EmitError),
}

/// Writing a tree as YAML or JSON text failed.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// JSON has no NaN or infinity.
    #[error("the float at `{path}` is not finite and cannot be written as json")]
    NonFiniteJsonFloat {
        /// Where.
        path: String,
    },
}

/// Loading age identities failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key file could not be read.
    #[error("cannot read age key file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line looks like a key but does not parse (the line itself is never shown).
    #[error("invalid age identity in {origin} at line {line}")]
    InvalidIdentity {
        /// Where the key came from (a path or `SOPS_AGE_KEY`).
        origin: String,
        /// 1-based line.
        line: usize,
    },
    /// A line is neither a comment nor an X25519 identity.
    #[error(
        "unsupported identity in {origin} at line {line} (only AGE-SECRET-KEY-1 keys are supported)"
    )]
    UnsupportedIdentity {
        /// Where the key came from.
        origin: String,
        /// 1-based line.
        line: usize,
    },
}

/// A path did not parse or does not fit the document.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// The path string is malformed.
    #[error("invalid path `{path}` at byte {position}: {reason}")]
    Syntax {
        /// The input.
        path: String,
        /// Byte offset.
        position: usize,
        /// Why.
        reason: &'static str,
    },
    /// The path is empty where a value is needed.
    #[error("the path is empty")]
    Empty,
    /// A segment does not fit the node it addresses.
    #[error("at `{path}`: expected a {expected}, found a {found}")]
    TypeMismatch {
        /// The path up to the mismatch.
        path: String,
        /// What the segment needs.
        expected: &'static str,
        /// What the document has.
        found: &'static str,
    },
    /// A list index is past the end (appending at `len` is allowed).
    #[error("at `{path}`: index {index} is out of bounds (length {len})")]
    OutOfBounds {
        /// The path up to the list.
        path: String,
        /// The index.
        index: usize,
        /// The list length.
        len: usize,
    },
}
