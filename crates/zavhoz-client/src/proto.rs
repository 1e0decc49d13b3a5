//! The code generated from `proto/zavhoz.proto` (package `zavhoz.v1`), plus redacted `Debug` for the two
//! messages that carry secret values.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

use std::fmt;

tonic::include_proto!("zavhoz.v1");

impl fmt::Debug for ResolveResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolveResponse")
            .field("value", &"[REDACTED]")
            .field("resource_id", &self.resource_id)
            .finish()
    }
}

impl fmt::Debug for StoreUserSecretRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreUserSecretRequest")
            .field("acting_user_id", &self.acting_user_id)
            .field("project_id", &self.project_id)
            .field("name", &self.name)
            .field("value", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_secret_carrying_messages_is_redacted() {
        let response = ResolveResponse {
            value: "canary-value".into(),
            resource_id: "r1".into(),
        };
        let request = StoreUserSecretRequest {
            value: "canary-value".into(),
            name: "bot".into(),
            ..Default::default()
        };
        for printed in [format!("{response:?}"), format!("{request:?}")] {
            assert!(!printed.contains("canary-value"), "{printed}");
            assert!(printed.contains("REDACTED"), "{printed}");
        }
    }
}
