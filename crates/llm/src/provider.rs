//! The explicit mapping from a `model_configs.provider` string to a genai adapter and an endpoint.
//!
//! Every provider is named here; anything else is a [`ConfigError::UnknownProvider`], never a guess.
//! The model id is passed to genai with its adapter fixed ([`Route::model_iden`]), so genai's
//! model-name inference (which falls back to a local Ollama for unknown names) never runs.

use std::fmt;
use std::str::FromStr;

use genai::ModelIden;
use genai::adapter::AdapterKind;

use crate::error::ConfigError;

/// An LLM provider a role can be configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// OpenAI chat completions.
    OpenAi,
    /// Anthropic messages API.
    Anthropic,
    /// Google Gemini (native API).
    Gemini,
    /// OpenRouter, an OpenAI-compatible gateway (`google/gemini-3-pro`, `anthropic/claude-opus-4.5`).
    OpenRouter,
    /// Ollama through its OpenAI-compatible `/v1/` API; a key is optional.
    Ollama,
    /// Any OpenAI-compatible server (vLLM, LiteLLM, a simulator); the endpoint is required, a key optional.
    OpenAiCompatible,
    /// Groq (OpenAI-compatible).
    Groq,
    /// DeepSeek (OpenAI-compatible).
    DeepSeek,
    /// xAI (OpenAI-compatible).
    Xai,
    /// Mistral (OpenAI-compatible).
    Mistral,
    /// Together AI (OpenAI-compatible).
    Together,
    /// Fireworks AI (OpenAI-compatible).
    Fireworks,
}

impl Provider {
    /// Every provider, in the order of the documentation table.
    pub const ALL: [Provider; 12] = [
        Self::OpenAi,
        Self::Anthropic,
        Self::Gemini,
        Self::OpenRouter,
        Self::Ollama,
        Self::OpenAiCompatible,
        Self::Groq,
        Self::DeepSeek,
        Self::Xai,
        Self::Mistral,
        Self::Together,
        Self::Fireworks,
    ];

    /// Returns the name stored in `model_configs.provider`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::OpenRouter => "openrouter",
            Self::Ollama => "ollama",
            Self::OpenAiCompatible => "openai_compatible",
            Self::Groq => "groq",
            Self::DeepSeek => "deepseek",
            Self::Xai => "xai",
            Self::Mistral => "mistral",
            Self::Together => "together",
            Self::Fireworks => "fireworks",
        }
    }

    /// Returns the genai adapter speaking this provider's protocol.
    pub fn adapter(self) -> AdapterKind {
        match self {
            Self::OpenAi | Self::Ollama | Self::OpenAiCompatible => AdapterKind::OpenAI,
            Self::Anthropic => AdapterKind::Anthropic,
            Self::Gemini => AdapterKind::Gemini,
            Self::OpenRouter => AdapterKind::OpenRouter,
            Self::Groq => AdapterKind::Groq,
            Self::DeepSeek => AdapterKind::DeepSeek,
            Self::Xai => AdapterKind::Xai,
            Self::Mistral => AdapterKind::Mistral,
            Self::Together => AdapterKind::Together,
            Self::Fireworks => AdapterKind::Fireworks,
        }
    }

    /// Returns the endpoint used when the row has none; `None` means an endpoint is required.
    pub fn default_endpoint(self) -> Option<&'static str> {
        Some(match self {
            Self::OpenAi => "https://api.openai.com/v1/",
            Self::Anthropic => "https://api.anthropic.com/v1/",
            Self::Gemini => "https://generativelanguage.googleapis.com/v1beta/",
            Self::OpenRouter => "https://openrouter.ai/api/v1/",
            Self::Ollama => "http://localhost:11434/v1/",
            Self::OpenAiCompatible => return None,
            Self::Groq => "https://api.groq.com/openai/v1/",
            Self::DeepSeek => "https://api.deepseek.com/v1/",
            Self::Xai => "https://api.x.ai/v1/",
            Self::Mistral => "https://api.mistral.ai/v1/",
            Self::Together => "https://api.together.xyz/v1/",
            Self::Fireworks => "https://api.fireworks.ai/inference/v1/",
        })
    }

    /// Returns whether a call needs an API key (local servers usually need none).
    pub fn requires_key(self) -> bool {
        !matches!(self, Self::Ollama | Self::OpenAiCompatible)
    }

    /// The accepted names, comma-separated, for error messages.
    pub fn known_names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown provider name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;

    /// Parses the exact lowercase name; `OpenAI` or `open_router` are not accepted, so a typo in the
    /// dashboard fails loudly instead of picking something close.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProvider(s.to_owned()))
    }
}

/// Where one role's calls go: provider, model and the normalised endpoint (no key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The provider.
    pub provider: Provider,
    /// The model id exactly as configured (`gpt-5.2`, `google/gemini-3-pro`, …).
    pub model: String,
    /// The base URL, always ending with `/`.
    pub endpoint: String,
}

impl Route {
    /// Resolves the route of a role from its configured provider, model and optional endpoint.
    pub fn resolve(
        role: &str,
        provider: &str,
        model: &str,
        endpoint: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let provider: Provider =
            provider
                .parse()
                .map_err(|UnknownProvider(provider)| ConfigError::UnknownProvider {
                    role: role.to_owned(),
                    provider,
                    known: Provider::known_names(),
                })?;
        if model.trim().is_empty() {
            return Err(ConfigError::EmptyModel {
                role: role.to_owned(),
            });
        }
        let endpoint = match endpoint.map(str::trim).filter(|e| !e.is_empty()) {
            Some(endpoint) => normalize_endpoint(role, endpoint)?,
            None => provider
                .default_endpoint()
                .ok_or_else(|| ConfigError::EndpointRequired {
                    role: role.to_owned(),
                    provider: provider.as_str(),
                })?
                .to_owned(),
        };
        Ok(Self {
            provider,
            model: model.to_owned(),
            endpoint,
        })
    }

    /// The genai model identity with the adapter fixed (no inference from the name).
    pub fn model_iden(&self) -> ModelIden {
        ModelIden::new(self.provider.adapter(), self.model.as_str())
    }

    /// The chat-completions URL of an OpenAI-protocol endpoint (what genai builds, too).
    pub(crate) fn chat_completions_url(&self) -> Result<String, url::ParseError> {
        Ok(url::Url::parse(&self.endpoint)?
            .join("chat/completions")?
            .to_string())
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "provider {} model {} at {}",
            self.provider, self.model, self.endpoint
        )
    }
}

/// Checks an endpoint is an http(s) URL without credentials and appends the `/` genai needs
/// (it joins `chat/completions` onto the base, which drops a last segment without `/`).
fn normalize_endpoint(role: &str, endpoint: &str) -> Result<String, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidEndpoint {
        role: role.to_owned(),
        endpoint: endpoint.to_owned(),
        reason,
    };
    let url = url::Url::parse(endpoint).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("unsupported scheme {}", url.scheme())));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "credentials belong in api_key_ref, not in the url".to_owned(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "query strings and fragments are not supported".to_owned(),
        ));
    }
    let mut text = url.to_string();
    if !text.ends_with('/') {
        text.push('/');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_round_trips_through_its_name() {
        for provider in Provider::ALL {
            assert_eq!(provider.as_str().parse::<Provider>(), Ok(provider));
        }
    }

    #[test]
    fn names_are_exact() {
        for name in ["OpenAI", "open_router", "openai ", "", "vllm", "claude"] {
            assert!(name.parse::<Provider>().is_err(), "{name:?} must not parse");
        }
    }

    #[test]
    fn only_openai_compatible_needs_an_endpoint() {
        for provider in Provider::ALL {
            let needs = provider.default_endpoint().is_none();
            assert_eq!(needs, provider == Provider::OpenAiCompatible, "{provider}");
            if let Some(endpoint) = provider.default_endpoint() {
                assert!(endpoint.ends_with('/'), "{endpoint}");
            }
        }
    }

    #[test]
    fn endpoint_gets_a_trailing_slash() {
        let route = Route::resolve(
            "r",
            "openai_compatible",
            "m",
            Some("http://127.0.0.1:8000/v1"),
        )
        .expect("valid");
        assert_eq!(route.endpoint, "http://127.0.0.1:8000/v1/");
        assert_eq!(
            route.chat_completions_url().expect("url"),
            "http://127.0.0.1:8000/v1/chat/completions"
        );
    }

    #[test]
    fn openai_compatible_without_endpoint_is_an_error() {
        let error = Route::resolve("coder", "openai_compatible", "m", None).expect_err("needs one");
        assert!(
            matches!(error, ConfigError::EndpointRequired { .. }),
            "{error}"
        );
        let error =
            Route::resolve("coder", "openai_compatible", "m", Some("  ")).expect_err("blank");
        assert!(
            matches!(error, ConfigError::EndpointRequired { .. }),
            "{error}"
        );
    }

    #[test]
    fn bad_endpoints_are_rejected() {
        for endpoint in [
            "not a url",
            "ftp://host/v1/",
            "https://user:pw@host/v1/",
            "https://host/v1/?key=x",
        ] {
            let result = Route::resolve("r", "openai", "gpt-5.2", Some(endpoint));
            assert!(
                matches!(result, Err(ConfigError::InvalidEndpoint { .. })),
                "{endpoint}: {result:?}"
            );
        }
    }

    #[test]
    fn unknown_provider_lists_the_known_ones() {
        let error = Route::resolve("spec", "opneai", "gpt-5.2", None).expect_err("typo");
        let text = error.to_string();
        assert!(
            text.contains("opneai") && text.contains("openai_compatible"),
            "{text}"
        );
    }

    #[test]
    fn frontier_ids_keep_their_adapter() {
        for (provider, model, adapter) in [
            ("openai", "gpt-5.2", AdapterKind::OpenAI),
            ("openrouter", "google/gemini-3-pro", AdapterKind::OpenRouter),
            (
                "openrouter",
                "anthropic/claude-opus-4.5",
                AdapterKind::OpenRouter,
            ),
            ("ollama", "some-unknown-local-model", AdapterKind::OpenAI),
        ] {
            let route = Route::resolve("r", provider, model, None).expect("valid");
            let iden = route.model_iden();
            assert_eq!(iden.adapter_kind, adapter, "{model}");
            assert_eq!(&*iden.model_name, model);
        }
    }
}
