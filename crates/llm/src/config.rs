//! Turning a `model_configs` row into what a call needs: the route, the sampling settings and the key.

use std::time::Duration;

use orch_store::model_configs::ModelConfig;
use secrecy::SecretString;

use crate::cost::Prices;
use crate::error::ConfigError;
use crate::keys::{KeyRef, KeyResolver};
use crate::provider::{Provider, Route};
use crate::retry::RetryPolicy;

/// Settings shared by every client of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Retries and backoff.
    pub retry: RetryPolicy,
    /// Upper bound of one HTTP request (a long completion takes minutes).
    pub request_timeout: Duration,
    /// Upper bound of opening a connection.
    pub connect_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The sampling settings of a role.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// Sent as `temperature`; `None` for models that accept only their default (see [`Sampling::from_config`]).
    pub temperature: Option<f64>,
    /// Completion token limit.
    pub max_tokens: u32,
    /// The role's system prompt (may be empty).
    pub system_prompt: String,
}

impl Sampling {
    /// Reads the row's settings. OpenAI's reasoning models (`o1`, `o3`, `o4`, `gpt-5*`) reject any
    /// temperature but their default, so none is sent to them (a warning is logged when the row
    /// asks for another value); every other route gets the row's temperature.
    pub fn from_config(config: &ModelConfig, route: &Route) -> Result<Self, ConfigError> {
        let invalid = |field, reason: String| ConfigError::InvalidSetting {
            role: config.role.clone(),
            field,
            reason,
        };
        let max_tokens = u32::try_from(config.max_tokens)
            .ok()
            .filter(|t| *t > 0)
            .ok_or_else(|| {
                invalid(
                    "max_tokens",
                    format!("{} is not positive", config.max_tokens),
                )
            })?;
        let temperature = f64::from(config.temperature);
        if !(0.0..=2.0).contains(&temperature) {
            return Err(invalid(
                "temperature",
                format!("{temperature} is outside 0..=2"),
            ));
        }
        // f32 → f64 turns 0.2 into 0.20000000298…; three decimals is all a temperature needs.
        let temperature = (temperature * 1000.0).round() / 1000.0;
        let temperature = if fixed_temperature(route) {
            if (temperature - 1.0).abs() > f64::EPSILON {
                tracing::warn!(role = %config.role, model = %route.model, temperature,
                    "model accepts only its default temperature; not sending one");
            }
            None
        } else {
            Some(temperature)
        };
        Ok(Self {
            temperature,
            max_tokens,
            system_prompt: config.system_prompt.clone(),
        })
    }
}

/// Whether the route is an OpenAI reasoning model, which refuses a `temperature`.
fn fixed_temperature(route: &Route) -> bool {
    let model = route.model.as_str();
    route.provider == Provider::OpenAi
        && ["o1", "o3", "o4", "gpt-5"]
            .iter()
            .any(|prefix| model.starts_with(prefix))
}

/// The prices of a role.
pub(crate) fn prices_of(config: &ModelConfig) -> Prices {
    Prices {
        input_per_mtok_micros: config.input_price_per_mtok_micros,
        output_per_mtok_micros: config.output_price_per_mtok_micros,
    }
}

/// Resolves the role's key: required for hosted providers, optional for local ones.
pub(crate) async fn resolve_key(
    config: &ModelConfig,
    provider: Provider,
    keys: &dyn KeyResolver,
) -> Result<Option<SecretString>, ConfigError> {
    let key_error = |source| ConfigError::Key {
        role: config.role.clone(),
        source,
    };
    let reference = config
        .api_key_ref
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let Some(reference) = reference else {
        if provider.requires_key() {
            return Err(ConfigError::MissingKeyRef {
                role: config.role.clone(),
                provider: provider.as_str(),
            });
        }
        return Ok(None);
    };
    let key_ref = KeyRef::parse(reference).map_err(key_error)?;
    let key = keys.resolve(&key_ref).await.map_err(key_error)?;
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(provider: &str, model: &str, temperature: f32, max_tokens: i32) -> ModelConfig {
        ModelConfig {
            role: "spec".to_owned(),
            provider: provider.to_owned(),
            model: model.to_owned(),
            endpoint: None,
            api_key_ref: None,
            temperature,
            max_tokens,
            system_prompt: "You write specs.".to_owned(),
            input_price_per_mtok_micros: 1,
            output_price_per_mtok_micros: 2,
        }
    }

    fn sampling(config: &ModelConfig) -> Result<Sampling, ConfigError> {
        let route = Route::resolve("spec", &config.provider, &config.model, None).expect("route");
        Sampling::from_config(config, &route)
    }

    #[test]
    fn temperature_is_rounded_and_kept() {
        let s = sampling(&row("anthropic", "claude-opus-4.5", 0.2, 100)).expect("valid");
        assert_eq!(s.temperature, Some(0.2));
        assert_eq!(s.max_tokens, 100);
        assert_eq!(s.system_prompt, "You write specs.");
    }

    #[test]
    fn openai_reasoning_models_get_no_temperature() {
        for model in ["gpt-5.2", "o3-mini"] {
            let s = sampling(&row("openai", model, 0.2, 100)).expect("valid");
            assert_eq!(s.temperature, None, "{model}");
        }
        let s = sampling(&row("openai", "gpt-4.1-mini", 0.2, 100)).expect("valid");
        assert_eq!(s.temperature, Some(0.2));
        let s = sampling(&row("openrouter", "openai/gpt-5.2", 0.2, 100)).expect("valid");
        assert_eq!(
            s.temperature,
            Some(0.2),
            "openrouter adapts parameters itself"
        );
    }

    #[test]
    fn out_of_range_settings_are_errors() {
        assert!(sampling(&row("openai", "gpt-4.1", 0.2, 0)).is_err());
        assert!(sampling(&row("openai", "gpt-4.1", 2.5, 10)).is_err());
    }
}
