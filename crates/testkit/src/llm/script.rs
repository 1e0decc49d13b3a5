//! Scripted answers: what the simulated model says, and rules choosing it per request.

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::LlmSimError;
use super::request::ChatRequest;

/// What the simulator answers to one chat-completions request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Answer {
    /// An assistant message with text content.
    Text {
        /// Message content.
        text: String,
    },
    /// An assistant message calling tools.
    ToolCalls {
        /// Optional text content next to the calls.
        #[serde(default)]
        text: Option<String>,
        /// The calls.
        calls: Vec<ToolCallSpec>,
    },
    /// An OpenAI-style error with any status.
    Error {
        /// HTTP status.
        status: u16,
        /// `error.message`.
        message: String,
        /// `error.type`.
        #[serde(default = "default_error_type")]
        error_type: String,
        /// `error.code`.
        #[serde(default)]
        code: Option<String>,
    },
    /// `429` with a `Retry-After` header.
    RateLimit {
        /// Seconds in `Retry-After`.
        retry_after_secs: u64,
    },
    /// `500` with OpenAI's server-error body.
    ServerError,
    /// `200` with a truncated, unparsable JSON body (or SSE event when streaming).
    MalformedJson,
    /// The TCP connection is closed without any response.
    DropConnection,
}

fn default_error_type() -> String {
    "invalid_request_error".to_owned()
}

impl Answer {
    /// A text answer.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }

    /// A single tool call with JSON arguments.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Self::ToolCalls {
            text: None,
            calls: vec![ToolCallSpec {
                id: None,
                name: name.into(),
                arguments,
            }],
        }
    }

    /// Short name of the variant, recorded with captured requests.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::ToolCalls { .. } => "tool_calls",
            Self::Error { .. } => "error",
            Self::RateLimit { .. } => "rate_limit",
            Self::ServerError => "server_error",
            Self::MalformedJson => "malformed_json",
            Self::DropConnection => "drop_connection",
        }
    }
}

/// One tool call of a scripted answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCallSpec {
    /// Call id; generated (`call_N`) when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Function name.
    pub name: String,
    /// Arguments; sent JSON-encoded as OpenAI does.
    #[serde(default)]
    pub arguments: Value,
}

/// Conditions on a request; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    /// Exact model id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Substring of the system (or developer) prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_contains: Option<String>,
    /// Substring of the last user message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_user_contains: Option<String>,
    /// Regex searched in the last user message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_user_regex: Option<String>,
    /// Substring of any message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any_contains: Option<String>,
    /// Role of the last message (`user`, `tool`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_role: Option<String>,
    /// Custom tag: the `x-sim-tag` header, `metadata.tag` or `user` of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Whether the request offers tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_tools: Option<bool>,
    /// Whether the request streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

/// A scripted rule: when the matcher holds, give the answer (`times` times, or forever).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Name recorded with the requests it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Conditions.
    #[serde(default)]
    pub when: Matcher,
    /// The answer.
    pub answer: Answer,
    /// How many requests the rule answers; `None` = unlimited, `Some(1)` = one-shot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Extra delay before this rule's answer, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

impl Rule {
    /// A rule matching every request.
    pub fn new(answer: Answer) -> Self {
        Self {
            name: None,
            when: Matcher::default(),
            answer,
            times: None,
            delay_ms: None,
        }
    }

    /// Names the rule.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Replaces the conditions.
    pub fn when(mut self, matcher: Matcher) -> Self {
        self.when = matcher;
        self
    }

    /// Requires the model id.
    pub fn for_model(mut self, model: impl Into<String>) -> Self {
        self.when.model = Some(model.into());
        self
    }

    /// Requires a system-prompt substring.
    pub fn when_system_contains(mut self, text: impl Into<String>) -> Self {
        self.when.system_contains = Some(text.into());
        self
    }

    /// Requires a substring of the last user message.
    pub fn when_last_user_contains(mut self, text: impl Into<String>) -> Self {
        self.when.last_user_contains = Some(text.into());
        self
    }

    /// Requires a regex match in the last user message.
    pub fn when_last_user_matches(mut self, regex: impl Into<String>) -> Self {
        self.when.last_user_regex = Some(regex.into());
        self
    }

    /// Requires the role of the last message.
    pub fn when_last_role(mut self, role: impl Into<String>) -> Self {
        self.when.last_role = Some(role.into());
        self
    }

    /// Requires the custom tag.
    pub fn when_tag(mut self, tag: impl Into<String>) -> Self {
        self.when.tag = Some(tag.into());
        self
    }

    /// Answers only once.
    pub fn once(self) -> Self {
        self.times(1)
    }

    /// Answers `n` times.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }
}

/// A rule in use: its compiled regex and remaining uses.
#[derive(Debug, Clone)]
pub(crate) struct ActiveRule {
    pub rule: Rule,
    pub index: usize,
    regex: Option<Regex>,
    pub remaining: Option<u32>,
}

impl ActiveRule {
    /// Compiles the rule's regex.
    pub fn new(rule: Rule, index: usize) -> Result<Self, LlmSimError> {
        let regex = rule
            .when
            .last_user_regex
            .as_deref()
            .map(Regex::new)
            .transpose()
            .map_err(|e| LlmSimError::InvalidRule {
                reason: e.to_string(),
            })?;
        Ok(Self {
            remaining: rule.times,
            rule,
            index,
            regex,
        })
    }

    /// Label recorded with captured requests.
    pub fn label(&self) -> String {
        self.rule
            .name
            .clone()
            .unwrap_or_else(|| format!("rule#{}", self.index))
    }

    /// Whether the rule is still usable and its conditions hold.
    pub fn matches(&self, request: &ChatRequest) -> bool {
        if self.remaining == Some(0) {
            return false;
        }
        let when = &self.rule.when;
        let contains = |haystack: &str, needle: &Option<String>| {
            needle.as_deref().is_none_or(|n| haystack.contains(n))
        };
        let last_user = request.last_user_text().unwrap_or_default();
        when.model.as_deref().is_none_or(|m| m == request.model)
            && contains(&request.system_text(), &when.system_contains)
            && contains(&last_user, &when.last_user_contains)
            && contains(&request.all_text(), &when.any_contains)
            && self.regex.as_ref().is_none_or(|r| r.is_match(&last_user))
            && when
                .last_role
                .as_deref()
                .is_none_or(|r| request.last_role() == Some(r))
            && when
                .tag
                .as_deref()
                .is_none_or(|t| request.tag.as_deref() == Some(t))
            && when.has_tools.is_none_or(|t| t == request.has_tools())
            && when.stream.is_none_or(|s| s == request.stream)
    }

    /// Uses the rule once.
    pub fn consume(&mut self) {
        if let Some(remaining) = self.remaining.as_mut() {
            *remaining = remaining.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(body: Value) -> ChatRequest {
        ChatRequest::parse(&body, None).expect("valid request")
    }

    #[test]
    fn matcher_conditions() {
        let req = request(json!({"model": "m", "messages": [
            {"role": "system", "content": "You are the planner"},
            {"role": "user", "content": "weather in Tokyo?"}]}));
        let rule = |r: Rule| ActiveRule::new(r, 0).expect("valid rule");
        assert!(rule(Rule::new(Answer::text("x")).when_system_contains("planner")).matches(&req));
        assert!(
            rule(Rule::new(Answer::text("x")).when_last_user_matches(r"weather in \w+"))
                .matches(&req)
        );
        assert!(!rule(Rule::new(Answer::text("x")).for_model("other")).matches(&req));
        assert!(!rule(Rule::new(Answer::text("x")).when_last_role("tool")).matches(&req));
    }

    #[test]
    fn one_shot_rule_is_used_up() {
        let req = request(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
        let mut rule = ActiveRule::new(Rule::new(Answer::text("x")).once(), 0).expect("valid");
        assert!(rule.matches(&req));
        rule.consume();
        assert!(!rule.matches(&req));
    }

    #[test]
    fn invalid_regex_is_rejected() {
        let rule = Rule::new(Answer::text("x")).when_last_user_matches("(");
        assert!(matches!(
            ActiveRule::new(rule, 0),
            Err(LlmSimError::InvalidRule { .. })
        ));
    }

    #[test]
    fn answer_serde_shape() {
        let answer: Answer =
            serde_json::from_value(json!({"type": "rate_limit", "retry_after_secs": 2}))
                .expect("valid answer");
        assert_eq!(
            answer,
            Answer::RateLimit {
                retry_after_secs: 2
            }
        );
        assert_eq!(answer.kind(), "rate_limit");
    }
}
