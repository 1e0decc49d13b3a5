//! Configuration of the chat-completions simulator and the script file format.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::LlmSimError;
use super::script::{Answer, Rule};

/// API key accepted by [`LlmConfig::default`].
pub const DEFAULT_API_KEY: &str = "sk-sim-test-key";

/// Models served by [`LlmConfig::default`].
pub const DEFAULT_MODELS: &[&str] = &[
    "sim-model",
    "gpt-4o-mini",
    "gpt-4.1-mini",
    "gpt-5.2",
    "google/gemini-3-pro",
    "anthropic/claude-opus-4.5",
];

/// Settings of one simulator instance.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Accepted bearer keys; empty accepts any request, even without a key.
    pub api_keys: Vec<String>,
    /// Known model ids; empty accepts any model.
    pub models: Vec<String>,
    /// Delay before every answer.
    pub latency: Duration,
    /// Delay between two chunks of a streamed answer.
    pub stream_chunk_delay: Duration,
    /// Characters of content per streamed chunk.
    pub stream_chunk_chars: usize,
    /// Answer when no queued answer or rule applies.
    pub default_answer: Answer,
    /// Scripted rules, matched in order.
    pub rules: Vec<Rule>,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            api_keys: vec![DEFAULT_API_KEY.to_owned()],
            models: DEFAULT_MODELS.iter().map(|m| (*m).to_owned()).collect(),
            latency: Duration::ZERO,
            stream_chunk_delay: Duration::ZERO,
            stream_chunk_chars: 8,
            default_answer: Answer::text("OK"),
            rules: Vec::new(),
        }
    }
}

impl LlmConfig {
    /// Sets the listen address.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Adds a scripted rule.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Applies a script: its rules are appended, its other fields replace the configured ones.
    pub fn with_script(mut self, script: Script) -> Self {
        self.rules.extend(script.rules);
        if let Some(answer) = script.default {
            self.default_answer = answer;
        }
        if let Some(models) = script.models {
            self.models = models;
        }
        if let Some(keys) = script.api_keys {
            self.api_keys = keys;
        }
        if let Some(ms) = script.latency_ms {
            self.latency = Duration::from_millis(ms);
        }
        self
    }
}

/// A script file (JSON, or YAML when the extension is `.yaml`/`.yml`).
///
/// ```yaml
/// models: [sim-model]
/// api_keys: [sk-demo]
/// latency_ms: 0
/// default: { type: text, text: "I don't know." }
/// rules:
///   - name: planner
///     when: { system_contains: "You are the planner" }
///     answer: { type: text, text: "1. build it" }
///   - when: { last_user_regex: "weather in \\w+" }
///     answer: { type: tool_calls, calls: [{ name: get_weather, arguments: { city: Tokyo } }] }
///     times: 1
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Rules, matched in order.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Fallback answer.
    #[serde(default)]
    pub default: Option<Answer>,
    /// Known model ids.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// Accepted API keys.
    #[serde(default)]
    pub api_keys: Option<Vec<String>>,
    /// Delay before every answer, in milliseconds.
    #[serde(default)]
    pub latency_ms: Option<u64>,
}

impl Script {
    /// Parses a script from text; `yaml` selects YAML, otherwise JSON.
    pub fn parse(text: &str, yaml: bool) -> Result<Self, LlmSimError> {
        if yaml {
            serde_yaml_ng::from_str(text).map_err(|e| LlmSimError::Script {
                reason: e.to_string(),
            })
        } else {
            serde_json::from_str(text).map_err(|e| LlmSimError::Script {
                reason: e.to_string(),
            })
        }
    }

    /// Reads a script file.
    pub fn from_path(path: &Path) -> Result<Self, LlmSimError> {
        let text = std::fs::read_to_string(path).map_err(|source| LlmSimError::ReadScript {
            path: path.to_owned(),
            source,
        })?;
        let yaml = path
            .extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| ext.eq_ignore_ascii_case("yaml") || ext.eq_ignore_ascii_case("yml"));
        Self::parse(&text, yaml)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_script_parses() {
        let yaml = r#"
default: { type: text, text: "fallback" }
rules:
  - name: weather
    when: { last_user_regex: "weather in \\w+" }
    answer: { type: tool_calls, calls: [{ name: get_weather, arguments: { city: Tokyo } }] }
    times: 1
  - when: { model: sim-model }
    answer: { type: rate_limit, retry_after_secs: 3 }
"#;
        let script = Script::parse(yaml, true).expect("valid yaml");
        assert_eq!(script.rules.len(), 2);
        assert_eq!(script.rules[0].times, Some(1));
        let config = LlmConfig::default().with_script(script);
        assert_eq!(config.default_answer, Answer::text("fallback"));
    }

    #[test]
    fn json_script_rejects_unknown_fields() {
        assert!(Script::parse(r#"{"rulez": []}"#, false).is_err());
        assert!(Script::parse(r#"{"rules": []}"#, false).is_ok());
    }
}
