//! Successful chat-completions answers: the `chat.completion` object and the SSE stream of
//! `chat.completion.chunk` objects, with deterministic token usage.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::request::{ChatRequest, estimate_tokens};

/// Token usage reported in `usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Estimated prompt tokens.
    pub prompt_tokens: u32,
    /// Estimated completion tokens.
    pub completion_tokens: u32,
    /// Sum of both.
    pub total_tokens: u32,
}

/// One tool call of an answer, with its final id and JSON-encoded arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// An assistant answer ready to render.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Completion {
    pub id: String,
    pub created: i64,
    pub model: String,
    pub text: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: &'static str,
    pub usage: Usage,
}

impl Completion {
    /// Builds the answer, truncating text to `max_tokens` like a real model (`finish_reason`
    /// `length`).
    pub fn new(
        id: String,
        request: &ChatRequest,
        text: Option<String>,
        tool_calls: Vec<ToolCall>,
    ) -> Self {
        let mut text = text;
        let mut finish_reason = if tool_calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        if let (Some(limit), Some(content)) = (request.max_tokens, text.as_mut())
            && u64::from(estimate_tokens(content)) > limit
        {
            let keep = usize::try_from(limit.saturating_mul(4)).unwrap_or(usize::MAX);
            *content = content.chars().take(keep).collect();
            finish_reason = "length";
        }
        let completion_tokens = text.as_deref().map_or(0, estimate_tokens)
            + tool_calls
                .iter()
                .map(|c| estimate_tokens(&c.name) + estimate_tokens(&c.arguments))
                .sum::<u32>();
        let prompt_tokens = request.prompt_tokens();
        Self {
            id,
            created: chrono::Utc::now().timestamp(),
            model: request.model.clone(),
            text,
            tool_calls,
            finish_reason,
            usage: Usage {
                prompt_tokens,
                completion_tokens,
                total_tokens: prompt_tokens + completion_tokens,
            },
        }
    }

    fn envelope(&self, object: &str) -> Value {
        json!({
            "id": self.id,
            "object": object,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_sim",
        })
    }

    /// The non-streamed `chat.completion` object.
    pub fn to_json(&self) -> Value {
        let mut message = json!({ "role": "assistant", "content": self.text, "refusal": null });
        if !self.tool_calls.is_empty() {
            let calls: Vec<Value> = self
                .tool_calls
                .iter()
                .map(|c| {
                    json!({ "id": c.id, "type": "function",
                    "function": { "name": c.name, "arguments": c.arguments } })
                })
                .collect();
            message["tool_calls"] = Value::Array(calls);
        }
        let mut body = self.envelope("chat.completion");
        body["choices"] = json!([{ "index": 0, "message": message, "logprobs": null,
            "finish_reason": self.finish_reason }]);
        body["usage"] = json!(self.usage);
        body
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>, include_usage: bool) -> String {
        let mut chunk = self.envelope("chat.completion.chunk");
        chunk["choices"] = json!([{ "index": 0, "delta": delta, "logprobs": null,
            "finish_reason": finish_reason }]);
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk.to_string()
    }

    /// The `data:` payloads of the SSE stream, ending with `[DONE]`.
    pub fn stream_events(&self, include_usage: bool, chunk_chars: usize) -> Vec<String> {
        let chunk_chars = chunk_chars.max(1);
        let mut events = vec![self.chunk(
            json!({ "role": "assistant", "content": "", "refusal": null }),
            None,
            include_usage,
        )];
        for piece in pieces(self.text.as_deref().unwrap_or(""), chunk_chars) {
            events.push(self.chunk(json!({ "content": piece }), None, include_usage));
        }
        for (index, call) in self.tool_calls.iter().enumerate() {
            let head = json!({ "tool_calls": [{ "index": index, "id": call.id, "type": "function",
                "function": { "name": call.name, "arguments": "" } }] });
            events.push(self.chunk(head, None, include_usage));
            for piece in pieces(&call.arguments, chunk_chars) {
                let delta = json!({ "tool_calls": [{ "index": index,
                    "function": { "arguments": piece } }] });
                events.push(self.chunk(delta, None, include_usage));
            }
        }
        events.push(self.chunk(json!({}), Some(self.finish_reason), include_usage));
        if include_usage {
            let mut last = self.envelope("chat.completion.chunk");
            last["choices"] = json!([]);
            last["usage"] = json!(self.usage);
            events.push(last.to_string());
        }
        events.push("[DONE]".to_owned());
        events
    }
}

/// Splits text into pieces of `size` characters.
fn pieces(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// A body that starts like a completion and breaks off: not valid JSON.
pub(crate) fn malformed_body(model: &str) -> String {
    format!(
        "{{\"id\":\"chatcmpl-broken\",\"object\":\"chat.completion\",\"model\":\"{model}\",\
         \"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"Hel"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(max_tokens: Option<u64>) -> ChatRequest {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hello"}]});
        if let Some(max) = max_tokens {
            body["max_tokens"] = json!(max);
        }
        ChatRequest::parse(&body, None).expect("valid")
    }

    #[test]
    fn text_completion_shape_and_usage() {
        let completion = Completion::new(
            "c1".into(),
            &request(None),
            Some("Hello there".into()),
            vec![],
        );
        let body = completion.to_json();
        assert_eq!(body["choices"][0]["message"]["content"], "Hello there");
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
        assert_eq!(body["usage"]["completion_tokens"], 3);
        assert_eq!(body["usage"]["prompt_tokens"], 2 + 4 + 3);
    }

    #[test]
    fn max_tokens_truncates() {
        let completion = Completion::new(
            "c1".into(),
            &request(Some(1)),
            Some("Hello there".into()),
            vec![],
        );
        assert_eq!(completion.text.as_deref(), Some("Hell"));
        assert_eq!(completion.finish_reason, "length");
    }

    #[test]
    fn stream_ends_with_usage_and_done() {
        let call = ToolCall {
            id: "call_1".into(),
            name: "f".into(),
            arguments: "{\"a\":1}".into(),
        };
        let completion = Completion::new("c1".into(), &request(None), None, vec![call]);
        let events = completion.stream_events(true, 4);
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        let usage: Value = serde_json::from_str(&events[events.len() - 2]).expect("json");
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(
            usage["usage"]["total_tokens"],
            completion.usage.total_tokens
        );
        let head: Value = serde_json::from_str(&events[1]).expect("json");
        assert_eq!(head["choices"][0]["delta"]["tool_calls"][0]["id"], "call_1");
    }

    #[test]
    fn malformed_body_does_not_parse() {
        assert!(serde_json::from_str::<Value>(&malformed_body("m")).is_err());
    }
}
