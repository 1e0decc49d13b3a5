//! Sealing user secrets: age to several X25519 recipients, ASCII-armored (what `user_secrets.ciphertext`
//! requires), and opening them again with any of our identities.

use std::io::{Read, Write};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::x25519;
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::SecretsError;

fn seal_error(reason: impl ToString) -> SecretsError {
    SecretsError::Seal {
        action: "seal",
        reason: reason.to_string(),
    }
}

fn open_error(reason: impl ToString) -> SecretsError {
    SecretsError::Seal {
        action: "open",
        reason: reason.to_string(),
    }
}

/// Encrypts `value` to every recipient; returns the armored age file.
pub fn seal(recipients: &[x25519::Recipient], value: &str) -> Result<String, SecretsError> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(seal_error)?;
    let mut out = Vec::new();
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(seal_error)?;
    let mut writer = encryptor.wrap_output(armor).map_err(seal_error)?;
    writer.write_all(value.as_bytes()).map_err(seal_error)?;
    writer
        .finish()
        .and_then(ArmoredWriter::finish)
        .map_err(seal_error)?;
    String::from_utf8(out).map_err(seal_error)
}

/// Decrypts an armored age file with any of `identities`.
pub fn open(identities: &[x25519::Identity], armored: &str) -> Result<SecretString, SecretsError> {
    let decryptor =
        age::Decryptor::new(ArmoredReader::new(armored.as_bytes())).map_err(open_error)?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        .map_err(open_error)?;
    let mut plain = Zeroizing::new(Vec::new());
    reader.read_to_end(&mut plain).map_err(open_error)?;
    let text = std::str::from_utf8(&plain).map_err(|_| open_error("not utf-8"))?;
    Ok(SecretString::from(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn seals_to_several_recipients_and_each_can_open() {
        let a = x25519::Identity::generate();
        let b = x25519::Identity::generate();
        let armored = seal(&[a.to_public(), b.to_public()], "bot-token-123").expect("seals");
        assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        assert!(!armored.contains("bot-token-123"));
        for identity in [a, b] {
            let value = open(&[identity], &armored).expect("opens");
            assert_eq!(value.expose_secret(), "bot-token-123");
        }
        let stranger = x25519::Identity::generate();
        let error = open(&[stranger], &armored).expect_err("wrong key");
        assert!(!error.to_string().contains("bot-token-123"));
    }
}
