//! AES-256-GCM with a 32-byte IV, and the `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` encoding.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce, Tag};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use crate::codec::DataType;
use crate::error::{CipherError, EncryptError};

type Aes256Gcm32 = AesGcm<Aes256, U32>;

/// IV length sops uses (`NewGCMWithNonceSize(32)`).
pub(crate) const IV_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// The 32-byte data key; wiped on drop, never printed.
#[derive(Clone)]
pub(crate) struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// Generates a fresh random key.
    pub(crate) fn generate() -> Result<Self, EncryptError> {
        let mut key = Zeroizing::new([0u8; 32]);
        fill_random(key.as_mut())?;
        Ok(Self(key))
    }

    /// Wraps raw key bytes; `None` unless exactly 32 bytes.
    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(Zeroizing::new(array)))
    }

    /// Returns the raw key bytes.
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> Aes256Gcm32 {
        let key: &[u8; 32] = &self.0;
        Aes256Gcm32::new(&(*key).into())
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// Fills `buf` from the OS random generator.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), EncryptError> {
    getrandom::fill(buf).map_err(|e| EncryptError::Random {
        reason: e.to_string(),
    })
}

/// A decrypted value: its type, its plaintext and the IV it was encrypted with.
pub(crate) struct Opened {
    pub(crate) datatype: DataType,
    pub(crate) plaintext: Zeroizing<Vec<u8>>,
    pub(crate) iv: [u8; IV_LEN],
}

/// Encrypts `plaintext` and returns the `ENC[...]` string.
pub(crate) fn seal(
    key: &DataKey,
    iv: &[u8; IV_LEN],
    aad: &[u8],
    plaintext: &[u8],
    datatype: DataType,
) -> String {
    let mut buffer = plaintext.to_vec();
    let nonce = Nonce::<U32>::from(*iv);
    let tag = key
        .cipher()
        .encrypt_inout_detached(&nonce, aad, buffer.as_mut_slice().into());
    // Encryption only fails for messages longer than GCM's 64 GiB limit.
    let tag = tag.unwrap_or_else(|_| unreachable!("gcm message limit exceeded"));
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]",
        B64.encode(&buffer),
        B64.encode(iv),
        B64.encode(tag),
        datatype.name()
    )
}

/// Tells whether a string looks like an encrypted sops value.
pub(crate) fn is_encrypted(text: &str) -> bool {
    text.starts_with("ENC[AES256_GCM,")
}

struct Parts<'a> {
    data: &'a str,
    iv: &'a str,
    tag: &'a str,
    datatype: &'a str,
}

fn split(text: &str) -> Result<Parts<'_>, CipherError> {
    let inner = text
        .strip_prefix("ENC[AES256_GCM,data:")
        .and_then(|rest| rest.strip_suffix(']'))
        .ok_or(CipherError::Format)?;
    let (data, rest) = inner.split_once(",iv:").ok_or(CipherError::Format)?;
    let (iv, rest) = rest.split_once(",tag:").ok_or(CipherError::Format)?;
    let (tag, datatype) = rest.split_once(",type:").ok_or(CipherError::Format)?;
    Ok(Parts {
        data,
        iv,
        tag,
        datatype,
    })
}

fn decode(field: &'static str, text: &str) -> Result<Vec<u8>, CipherError> {
    B64.decode(text).map_err(|_| CipherError::Base64 { field })
}

fn fixed<const N: usize>(field: &'static str, bytes: Vec<u8>) -> Result<[u8; N], CipherError> {
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| CipherError::Length { field, len })
}

/// Decrypts an `ENC[...]` string with `aad`.
pub(crate) fn open(key: &DataKey, text: &str, aad: &[u8]) -> Result<Opened, CipherError> {
    let parts = split(text)?;
    let datatype = DataType::from_name(parts.datatype)?;
    let mut buffer = Zeroizing::new(decode("data", parts.data)?);
    let iv: [u8; IV_LEN] = fixed("iv", decode("iv", parts.iv)?)?;
    let tag: [u8; TAG_LEN] = fixed("tag", decode("tag", parts.tag)?)?;
    key.cipher()
        .decrypt_inout_detached(
            &Nonce::<U32>::from(iv),
            aad,
            buffer.as_mut_slice().into(),
            &Tag::from(tag),
        )
        .map_err(|_| CipherError::Authentication)?;
    Ok(Opened {
        datatype,
        plaintext: buffer,
        iv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips() {
        let key = DataKey::generate().expect("random key");
        let iv = [7u8; IV_LEN];
        let text = seal(&key, &iv, b"a:b:", b"secret", DataType::Str);
        assert!(text.ends_with(",type:str]"), "{text}");
        let opened = open(&key, &text, b"a:b:").expect("opens");
        assert_eq!(opened.plaintext.as_slice(), b"secret");
        assert_eq!(opened.iv, iv);
        assert!(matches!(
            open(&key, &text, b"a:c:"),
            Err(CipherError::Authentication)
        ));
    }

    #[test]
    fn rejects_malformed_values() {
        let key = DataKey::generate().expect("random key");
        for bad in [
            "ENC[AES256_GCM,data:,iv:,tag:]",
            "plain",
            "ENC[AES256_GCM,data:!!,iv:AA==,tag:AA==,type:str]",
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]",
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:nope]",
        ] {
            assert!(open(&key, bad, b"").is_err(), "{bad}");
        }
    }

    #[test]
    fn opens_known_vector_from_fixture() {
        // secrets.enc.yaml, app.port, with the data key from expected.json.
        let key_hex = "5ff09aacacf46e1c693540fc4131b6c76195c2bcc108c9d15e48ebe96365889d";
        let key_bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&key_hex[2 * i..2 * i + 2], 16).expect("hex"))
            .collect();
        let key = DataKey::from_slice(&key_bytes).expect("32 bytes");
        let value = "ENC[AES256_GCM,data:rG0Hvg==,iv:02d0JYgqreOL3dmQM6YEFVFIQK38ThMC4jye0XyG7fQ=,tag:UgduJENiHosTHfLvOJd9Xw==,type:int]";
        let opened = open(&key, value, b"app:port:").expect("fixture value opens");
        assert_eq!(opened.plaintext.as_slice(), b"8080");
        assert_eq!(opened.datatype, DataType::Int);
    }
}
