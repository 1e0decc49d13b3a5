//! Authentication (personal tokens, installation tokens, RS256 App JWTs, HTTP Basic for git)
//! and repository access rules.

use std::collections::HashSet;

use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::traits::PublicKeyParts;
use serde::Deserialize;
use serde_json::Value;

use super::config::{AppConfig, InstallationConfig};
use super::error::{ApiError, SimError};
use super::state::{Db, Repo, TokenGrant};

/// Who a request is authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    Anonymous,
    User {
        login: String,
    },
    Installation {
        id: u64,
        account: String,
        repositories: Option<Vec<String>>,
    },
    App,
}

/// What a principal may do with a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Access {
    None,
    Read,
    Write,
}

/// The configured GitHub App with its verification key.
pub(crate) struct AppRuntime {
    pub id: u64,
    pub slug: String,
    pub installations: Vec<InstallationConfig>,
    key: DecodingKey,
}

impl std::fmt::Debug for AppRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRuntime")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .finish_non_exhaustive()
    }
}

impl AppRuntime {
    /// Builds the runtime app, deriving the public key from a private key PEM when needed.
    pub fn new(config: &AppConfig) -> Result<Self, SimError> {
        Ok(Self {
            id: config.id,
            slug: config.slug.clone(),
            installations: config.installations.clone(),
            key: decoding_key(&config.key_pem)?,
        })
    }

    /// The login installation actions are attributed to.
    pub fn bot_login(&self) -> String {
        format!("{}[bot]", self.slug)
    }

    /// The installation with `id`.
    pub fn installation(&self, id: u64) -> Option<&InstallationConfig> {
        self.installations.iter().find(|i| i.id == id)
    }
}

fn decoding_key(pem: &str) -> Result<DecodingKey, SimError> {
    use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
    use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
    let public = rsa::RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(pem))
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs8_pem(pem).map(|k| k.to_public_key()))
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem).map(|k| k.to_public_key()))
        .map_err(|e| SimError::AppKey(e.to_string()))?;
    let (n, e) = (public.n().to_bytes_be(), public.e().to_bytes_be());
    Ok(DecodingKey::from_rsa_raw_components(&n, &e))
}

impl Principal {
    /// The login this principal acts as, if any.
    pub fn actor(&self, app: Option<&AppRuntime>) -> Option<String> {
        match self {
            Self::Anonymous => None,
            Self::User { login } => Some(login.clone()),
            Self::Installation { .. } => {
                Some(app.map_or_else(|| "app[bot]".to_owned(), AppRuntime::bot_login))
            }
            Self::App => Some(app.map_or_else(|| "app".to_owned(), |a| a.slug.clone())),
        }
    }

    /// The key the primary rate limit is counted under.
    pub fn rate_key(&self) -> String {
        match self {
            Self::Anonymous => "anonymous".to_owned(),
            Self::User { login } => format!("user:{}", login.to_lowercase()),
            Self::Installation { id, .. } => format!("installation:{id}"),
            Self::App => "app".to_owned(),
        }
    }

    /// GitHub's primary rate limit message for this principal.
    pub fn rate_limit_message(&self, db: &Db, app: Option<&AppRuntime>) -> String {
        match self {
            Self::Anonymous => "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)".to_owned(),
            Self::User { login } => {
                let id = db.account(login).map_or(0, |a| a.id);
                format!("API rate limit exceeded for user ID {id}.")
            }
            Self::Installation { id, .. } => format!("API rate limit exceeded for installation ID {id}."),
            Self::App => format!("API rate limit exceeded for integration ID {}.", app.map_or(0, |a| a.id)),
        }
    }

    /// The actor, or 401 for anonymous and 403 for the bare App JWT, for endpoints that act on repositories.
    pub fn require_actor(&self, app: Option<&AppRuntime>) -> Result<String, ApiError> {
        match self {
            Self::Anonymous => Err(ApiError::requires_auth()),
            Self::App => Err(ApiError::not_accessible_by_integration()),
            _ => self.actor(app).ok_or_else(ApiError::requires_auth),
        }
    }
}

/// What a principal may do with `repo`.
pub(crate) fn repo_access(db: &Db, principal: &Principal, repo: &Repo) -> Access {
    let public = if repo.private {
        Access::None
    } else {
        Access::Read
    };
    match principal {
        Principal::User { login } => {
            let own = login.eq_ignore_ascii_case(&repo.owner) || db.is_member(&repo.owner, login);
            if own { Access::Write } else { public }
        }
        Principal::Installation {
            account,
            repositories,
            ..
        } => {
            let scoped = repositories
                .as_ref()
                .is_none_or(|names| names.iter().any(|n| n.eq_ignore_ascii_case(&repo.name)));
            if account.eq_ignore_ascii_case(&repo.owner) && scoped {
                Access::Write
            } else {
                public
            }
        }
        Principal::App | Principal::Anonymous => public,
    }
}

/// A credential taken from the `Authorization` header.
enum Credential {
    Token(String),
    Basic(String),
}

fn credential(headers: &HeaderMap) -> Result<Option<Credential>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::bad_credentials())?
        .trim();
    let (scheme, rest) = value
        .split_once(' ')
        .ok_or_else(ApiError::bad_credentials)?;
    let rest = rest.trim().to_owned();
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" | "token" => Ok(Some(Credential::Token(rest))),
        "basic" => basic_token(&rest).map(|t| Some(Credential::Basic(t))),
        _ => Err(ApiError::bad_credentials()),
    }
}

/// The token in `user:password` Basic credentials: the password, or the user when the password is empty.
fn basic_token(encoded: &str) -> Result<String, ApiError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| ApiError::bad_credentials())?;
    let text = String::from_utf8(raw).map_err(|_| ApiError::bad_credentials())?;
    let (user, pass) = text.split_once(':').unwrap_or((text.as_str(), ""));
    let token = if pass.is_empty() || pass == "x-oauth-basic" {
        user
    } else {
        pass
    };
    Ok(token.to_owned())
}

/// Resolves the request's principal; invalid or expired credentials are `401 Bad credentials`.
pub(crate) fn resolve(
    db: &Db,
    app: Option<&AppRuntime>,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<Principal, ApiError> {
    match credential(headers)? {
        None => Ok(Principal::Anonymous),
        Some(Credential::Token(t)) if looks_like_jwt(&t) => {
            let app = app.ok_or_else(jwt_undecodable)?;
            verify_jwt(app, &t, now.timestamp()).map(|()| Principal::App)
        }
        Some(Credential::Token(t) | Credential::Basic(t)) => lookup(db, &t, now),
    }
}

fn lookup(db: &Db, token: &str, now: DateTime<Utc>) -> Result<Principal, ApiError> {
    match db.tokens.get(token) {
        Some(TokenGrant::Personal { login }) => Ok(Principal::User {
            login: login.clone(),
        }),
        Some(TokenGrant::Installation {
            installation_id,
            account,
            expires_at,
            repositories,
        }) if *expires_at > now => Ok(Principal::Installation {
            id: *installation_id,
            account: account.clone(),
            repositories: repositories.clone(),
        }),
        _ => Err(ApiError::bad_credentials()),
    }
}

fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

/// 401 for a JWT that is malformed or fails signature verification.
pub(crate) fn jwt_undecodable() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "A JSON web token could not be decoded",
    )
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: Option<Value>,
    iat: Option<i64>,
    exp: Option<i64>,
}

/// The longest JWT lifetime GitHub accepts (10 minutes), plus clock-skew slack.
const MAX_JWT_LIFETIME_SECS: i64 = 600 + 30;

fn verify_jwt(app: &AppRuntime, token: &str, now: i64) -> Result<(), ApiError> {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.required_spec_claims = HashSet::new();
    let claims = jsonwebtoken::decode::<Claims>(token, &app.key, &validation)
        .map_err(|_| jwt_undecodable())?
        .claims;
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m);
    let iss_ok = match &claims.iss {
        Some(Value::Number(n)) => n.as_u64() == Some(app.id),
        Some(Value::String(s)) => s == &app.id.to_string(),
        _ => false,
    };
    if !iss_ok {
        return Err(unauthorized("Integration not found"));
    }
    match (claims.iat, claims.exp) {
        (Some(iat), _) if iat > now + 60 => Err(unauthorized(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        )),
        (Some(_), Some(exp)) if exp <= now => Err(unauthorized(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        )),
        (Some(_), Some(exp)) if exp > now + MAX_JWT_LIFETIME_SECS => Err(unauthorized(
            "'Expiration time' claim ('exp') is too far in the future",
        )),
        (Some(_), Some(_)) => Ok(()),
        _ => Err(jwt_undecodable()),
    }
}

/// Fails unless the request carries a valid App JWT.
pub(crate) fn require_app(principal: &Principal) -> Result<(), ApiError> {
    match principal {
        Principal::App => Ok(()),
        Principal::Anonymous => Err(ApiError::requires_auth()),
        _ => Err(jwt_undecodable()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_token_prefers_password() {
        let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(
            basic_token(&enc("x-access-token:ghs_1")).ok(),
            Some("ghs_1".to_owned())
        );
        assert_eq!(
            basic_token(&enc("tok:x-oauth-basic")).ok(),
            Some("tok".to_owned())
        );
        assert_eq!(basic_token(&enc("tok:")).ok(), Some("tok".to_owned()));
    }

    #[test]
    fn detects_jwt_shape() {
        assert!(looks_like_jwt("eyJhbGciOi.eyJpc3Mi.sig"));
        assert!(!looks_like_jwt("ghp_abc"));
    }
}
