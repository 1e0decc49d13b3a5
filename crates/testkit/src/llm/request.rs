//! A received chat-completions request: validation like OpenAI's, the texts rules match on, and
//! the deterministic token estimate.

use serde_json::Value;

use super::error::OpenAiError;

const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// Estimated tokens of a text: one per started group of four characters.
pub fn estimate_tokens(text: &str) -> u32 {
    u32::try_from(text.chars().count().div_ceil(4)).unwrap_or(u32::MAX)
}

/// The parts of a request the simulator uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChatRequest {
    pub model: String,
    pub messages: Vec<Value>,
    pub stream: bool,
    pub include_usage: bool,
    pub tools: Vec<Value>,
    pub max_tokens: Option<u64>,
    pub tag: Option<String>,
}

impl ChatRequest {
    /// Validates the body; `header_tag` is the `x-sim-tag` header.
    pub fn parse(body: &Value, header_tag: Option<&str>) -> Result<Self, OpenAiError> {
        let object = body.as_object().ok_or_else(|| {
            OpenAiError::invalid_request("Invalid type for request body: expected an object.")
        })?;
        let model = object
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .ok_or_else(|| OpenAiError::invalid_request("you must provide a model parameter"))?;
        let messages = parse_messages(object.get("messages"))?;
        let stream = object
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let include_usage = stream
            && body
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        let tag = header_tag
            .map(str::to_owned)
            .or_else(|| string_at(body, "/metadata/tag"))
            .or_else(|| string_at(body, "/user"));
        Ok(Self {
            model: model.to_owned(),
            messages,
            stream,
            include_usage,
            tools: object
                .get("tools")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            max_tokens: object
                .get("max_completion_tokens")
                .or_else(|| object.get("max_tokens"))
                .and_then(Value::as_u64),
            tag,
        })
    }

    /// Concatenated system and developer prompts.
    pub fn system_text(&self) -> String {
        self.texts(|role| role == "system" || role == "developer")
    }

    /// Every message's text, newline-separated.
    pub fn all_text(&self) -> String {
        self.texts(|_| true)
    }

    fn texts(&self, keep: impl Fn(&str) -> bool) -> String {
        self.messages
            .iter()
            .filter(|m| keep(role(m)))
            .map(message_text)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Text of the last user message.
    pub fn last_user_text(&self) -> Option<String> {
        self.messages
            .iter()
            .rev()
            .find(|m| role(m) == "user")
            .map(message_text)
    }

    /// Role of the last message.
    pub fn last_role(&self) -> Option<&str> {
        self.messages.last().map(role)
    }

    /// Whether tools are offered.
    pub fn has_tools(&self) -> bool {
        !self.tools.is_empty()
    }

    /// Estimated prompt tokens: message texts plus 4 per message and 3 for the reply primer,
    /// plus the tool definitions.
    pub fn prompt_tokens(&self) -> u32 {
        let messages: u32 = self
            .messages
            .iter()
            .map(|m| estimate_tokens(&message_text(m)) + 4)
            .sum();
        let tools = if self.tools.is_empty() {
            0
        } else {
            estimate_tokens(&Value::Array(self.tools.clone()).to_string())
        };
        messages + 3 + tools
    }
}

fn string_at(body: &Value, pointer: &str) -> Option<String> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn role(message: &Value) -> &str {
    message.get("role").and_then(Value::as_str).unwrap_or("")
}

fn parse_messages(messages: Option<&Value>) -> Result<Vec<Value>, OpenAiError> {
    let messages = messages.ok_or_else(|| {
        OpenAiError::invalid_request("Missing required parameter: 'messages'.")
            .with_param("messages")
            .with_code("missing_required_parameter")
    })?;
    let list = messages.as_array().ok_or_else(|| {
        OpenAiError::invalid_request("Invalid type for 'messages': expected an array.")
            .with_param("messages")
            .with_code("invalid_type")
    })?;
    if list.is_empty() {
        return Err(OpenAiError::invalid_request(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an \
             empty array instead.",
        )
        .with_param("messages")
        .with_code("empty_array"));
    }
    for (index, message) in list.iter().enumerate() {
        let role = role(message);
        if !ROLES.contains(&role) {
            return Err(OpenAiError::invalid_request(format!(
                "Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', \
                 'function', 'tool', and 'developer'."
            ))
            .with_param(&format!("messages[{index}].role"))
            .with_code("invalid_value"));
        }
    }
    Ok(list.clone())
}

/// Text of a message: string content, text parts, and tool-call arguments.
fn message_text(message: &Value) -> String {
    let mut text = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    };
    let calls = message.get("tool_calls").and_then(Value::as_array);
    for call in calls.into_iter().flatten() {
        if let Some(function) = call.get("function") {
            text.push_str(function.get("name").and_then(Value::as_str).unwrap_or(""));
            text.push_str(
                function
                    .get("arguments")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn token_estimate_is_chars_over_four() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
    }

    #[test]
    fn parses_texts_and_tag() {
        let body = json!({"model": "m", "user": "reviewer", "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "system", "content": "sys"},
                         {"role": "user", "content": [{"type": "text", "text": "hi"}]}]});
        let request = ChatRequest::parse(&body, None).expect("valid");
        assert_eq!(request.system_text(), "sys");
        assert_eq!(request.last_user_text().as_deref(), Some("hi"));
        assert_eq!(request.tag.as_deref(), Some("reviewer"));
        assert!(request.include_usage);
        assert_eq!(request.prompt_tokens(), (1 + 4) + (1 + 4) + 3);
    }

    #[test]
    fn validation_errors() {
        let missing = ChatRequest::parse(&json!({"model": "m"}), None).expect_err("invalid");
        assert_eq!(missing.code.as_deref(), Some("missing_required_parameter"));
        let empty =
            ChatRequest::parse(&json!({"model": "m", "messages": []}), None).expect_err("invalid");
        assert_eq!(empty.code.as_deref(), Some("empty_array"));
        let role = ChatRequest::parse(
            &json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
            None,
        )
        .expect_err("invalid");
        assert_eq!(role.param.as_deref(), Some("messages[0].role"));
    }
}
