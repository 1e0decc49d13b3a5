//! Attaches the caller's bearer token to every request (`authorization: Bearer <token>`), marked sensitive so
//! HTTP/2 header compression never indexes it and `Debug` of the metadata hides it.

use secrecy::{ExposeSecret, SecretString};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;

use crate::error::ClientError;

/// A tonic interceptor adding one service's credentials.
#[derive(Clone)]
pub struct BearerAuth {
    header: MetadataValue<Ascii>,
}

impl BearerAuth {
    /// Builds the interceptor; the token must be non-empty visible ASCII.
    pub fn new(token: &SecretString) -> Result<Self, ClientError> {
        let token = token.expose_secret();
        if token.is_empty() {
            return Err(ClientError::Config("the zavhoz token is empty".into()));
        }
        let mut header: MetadataValue<Ascii> = format!("Bearer {token}")
            .parse()
            .map_err(|_| ClientError::Config("the zavhoz token is not visible ASCII".into()))?;
        header.set_sensitive(true);
        Ok(Self { header })
    }
}

impl std::fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerAuth([REDACTED])")
    }
}

impl Interceptor for BearerAuth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.header.clone());
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_a_sensitive_bearer_header() {
        let mut auth = BearerAuth::new(&SecretString::from("abc123")).expect("valid");
        let request = auth.call(tonic::Request::new(())).expect("passes");
        let value = request.metadata().get("authorization").expect("set");
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().expect("ascii"), "Bearer abc123");
        assert!(!format!("{auth:?}").contains("abc123"));
    }

    #[test]
    fn refuses_empty_and_non_ascii_tokens() {
        assert!(BearerAuth::new(&SecretString::from("")).is_err());
        assert!(BearerAuth::new(&SecretString::from("tök\n")).is_err());
    }
}
