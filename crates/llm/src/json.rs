//! Structured answers: [`LlmClient::chat_json`] asks for JSON, parses and validates it, and on
//! garbage asks once more with the error, so the graph gets a typed spec, plan or review or a clear
//! [`LlmError::InvalidJson`].
//!
//! The request gets an instruction to answer with one JSON value (and genai's JSON mode, which
//! OpenAI-protocol providers honour and others ignore). A Markdown code fence around the value is
//! accepted. Each answer is a separate call with its own usage row: the repair call is keyed
//! `<key>/json-repair`.

use genai::chat::{ChatMessage, ChatRequest, ChatResponseFormat};
use serde::de::DeserializeOwned;

use crate::call::{CallContext, ChatOutcome, JsonOutcome};
use crate::client::LlmClient;
use crate::error::LlmError;
use crate::failure::truncate;

/// Appended to the system prompt of a JSON call.
const JSON_INSTRUCTION: &str = "Answer with exactly one JSON value and nothing else: no prose before \
or after it and no Markdown code fences.";

/// Longest part of a bad answer kept in the error.
const EXCERPT_CHARS: usize = 200;

impl LlmClient {
    /// Asks for a JSON answer and deserializes it into `T`, repairing once on garbage.
    pub async fn chat_json<T: DeserializeOwned>(
        &self,
        ctx: &CallContext,
        request: ChatRequest,
    ) -> Result<JsonOutcome<T>, LlmError> {
        self.chat_json_validated(ctx, request, |_: &T| Ok(())).await
    }

    /// Like [`LlmClient::chat_json`], and `validate` must accept the value too; its message is
    /// sent back to the model in the repair request.
    #[tracing::instrument(skip_all, fields(role = %self.role(), key = %ctx.idempotency_key))]
    pub async fn chat_json_validated<T, V>(
        &self,
        ctx: &CallContext,
        request: ChatRequest,
        validate: V,
    ) -> Result<JsonOutcome<T>, LlmError>
    where
        T: DeserializeOwned,
        V: Fn(&T) -> Result<(), String>,
    {
        let request = with_json_instruction(request);
        let options = self
            .chat_options()
            .with_response_format(ChatResponseFormat::JsonMode);
        let first = self
            .chat_with(ctx, request.clone(), options.clone())
            .await?;
        let reason = match parse_answer(&first, &validate) {
            Ok(value) => return Ok(outcome(value, &[&first])),
            Err(reason) => reason,
        };
        tracing::warn!(%reason, "llm answer is not the expected json; asking once more");
        let repair = request
            .append_message(ChatMessage::assistant(
                first.text.clone().unwrap_or_default(),
            ))
            .append_message(ChatMessage::user(repair_prompt(&reason)));
        let second = self
            .chat_with(&ctx.derived("json-repair"), repair, options)
            .await?;
        match parse_answer(&second, &validate) {
            Ok(value) => Ok(outcome(value, &[&first, &second])),
            Err(reason) => Err(LlmError::InvalidJson {
                route: self.route().clone(),
                attempts: 2,
                reason,
                excerpt: excerpt(second.text.as_deref().unwrap_or_default()),
            }),
        }
    }
}

fn with_json_instruction(mut request: ChatRequest) -> ChatRequest {
    request.system = Some(match request.system.take() {
        Some(own) if !own.trim().is_empty() => format!("{own}\n\n{JSON_INSTRUCTION}"),
        _ => JSON_INSTRUCTION.to_owned(),
    });
    request
}

fn repair_prompt(reason: &str) -> String {
    format!(
        "Your previous answer could not be used: {reason}. Reply again with only the corrected \
         JSON value."
    )
}

/// Parses and validates an answer; the error is what the model is told.
fn parse_answer<T, V>(answer: &ChatOutcome, validate: &V) -> Result<T, String>
where
    T: DeserializeOwned,
    V: Fn(&T) -> Result<(), String>,
{
    let text = answer
        .text
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| "the answer contained no text".to_owned())?;
    let value: T = serde_json::from_str(strip_fences(text))
        .map_err(|e| format!("it is not valid JSON of the expected shape ({e})"))?;
    validate(&value).map_err(|e| format!("it failed validation ({e})"))?;
    Ok(value)
}

/// Removes one surrounding Markdown code fence (```` ```json … ``` ````), if any.
fn strip_fences(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

fn excerpt(text: &str) -> String {
    let short: String = text.chars().take(EXCERPT_CHARS).collect();
    truncate(&short)
}

fn outcome<T>(value: T, answers: &[&ChatOutcome]) -> JsonOutcome<T> {
    JsonOutcome {
        value,
        answers: u32::try_from(answers.len()).unwrap_or(u32::MAX),
        usage: answers
            .iter()
            .map(|a| a.usage)
            .reduce(|a, b| a + b)
            .unwrap_or_default(),
        cost_usd_micros: answers.iter().map(|a| a.cost_usd_micros).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::TokenUsage;

    fn answer(text: &str) -> ChatOutcome {
        ChatOutcome {
            text: Some(text.to_owned()),
            tool_calls: Vec::new(),
            usage: TokenUsage::default(),
            cost_usd_micros: 0,
            attempts: 1,
            usage_recorded: true,
            truncated: false,
        }
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Plan {
        steps: Vec<String>,
    }

    fn no_check(_: &Plan) -> Result<(), String> {
        Ok(())
    }

    #[test]
    fn plain_and_fenced_json_parse() {
        for text in [
            r#"{"steps":["a"]}"#,
            "```json\n{\"steps\":[\"a\"]}\n```",
            "```\n{\"steps\":[\"a\"]}```",
            "  {\"steps\":[\"a\"]}  ",
        ] {
            let plan: Plan = parse_answer(&answer(text), &no_check).expect(text);
            assert_eq!(plan.steps, vec!["a"]);
        }
    }

    #[test]
    fn garbage_wrong_shape_and_validation_fail_with_reasons() {
        let error =
            parse_answer::<Plan, _>(&answer("Sure! Here is"), &no_check).expect_err("prose");
        assert!(error.contains("not valid JSON"), "{error}");
        let error =
            parse_answer::<Plan, _>(&answer(r#"{"stages":[]}"#), &no_check).expect_err("shape");
        assert!(error.contains("steps"), "{error}");
        let nonempty = |p: &Plan| {
            if p.steps.is_empty() {
                Err("steps must not be empty".to_owned())
            } else {
                Ok(())
            }
        };
        let error =
            parse_answer::<Plan, _>(&answer(r#"{"steps":[]}"#), &nonempty).expect_err("empty");
        assert!(error.contains("steps must not be empty"), "{error}");
        let error = parse_answer::<Plan, _>(&answer("  "), &no_check).expect_err("blank");
        assert!(error.contains("no text"), "{error}");
    }

    #[test]
    fn instruction_follows_the_callers_system_text() {
        let request = with_json_instruction(ChatRequest::from_system("Be brief."));
        let system = request.system.expect("system");
        assert!(system.starts_with("Be brief.") && system.ends_with(JSON_INSTRUCTION));
    }
}
