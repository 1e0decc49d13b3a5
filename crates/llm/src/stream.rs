//! Streaming: [`LlmClient::chat_stream`] hands text to a callback as it arrives and returns the same
//! [`ChatOutcome`] as `chat`, with usage recorded.
//!
//! Failures before the first text chunk are retried like any call (including a 429 with
//! `Retry-After`); once text has been handed out a failure is final
//! ([`LlmError::StreamInterrupted`]), because the caller has already shown part of an answer.
//! An interrupted stream records no usage: its token count is unknown.

use futures::StreamExt;
use genai::chat::{ChatOptions, ChatRequest, ChatStreamEvent, StreamEnd};

use crate::call::{CallContext, ChatOutcome};
use crate::client::{LlmClient, Reply};
use crate::error::LlmError;
use crate::failure::Failure;
use crate::retry::Retrier;

/// How one streamed attempt ended badly.
enum StreamFailure {
    /// Before any text was handed out: may be retried.
    Early(Failure),
    /// After text was handed out: final.
    Late(Failure),
}

impl StreamFailure {
    /// Early while nothing was handed out, late afterwards.
    fn new(failure: Failure, delivered: &str) -> Self {
        if delivered.is_empty() {
            Self::Early(failure)
        } else {
            Self::Late(failure)
        }
    }
}

impl LlmClient {
    /// Streams one chat request, calling `on_text` with each text chunk; see the module docs.
    #[tracing::instrument(skip_all, fields(role = %self.role(), provider = %self.route().provider,
        model = %self.route().model, run_id = ?ctx.run_id, key = %ctx.idempotency_key))]
    pub async fn chat_stream<F>(
        &self,
        ctx: &CallContext,
        request: ChatRequest,
        mut on_text: F,
    ) -> Result<ChatOutcome, LlmError>
    where
        F: FnMut(&str) + Send,
    {
        let request = self.with_system_prompt(request);
        let budget = self.check_budget(ctx, &request).await?;
        let options = self
            .chat_options()
            .with_capture_usage(true)
            .with_capture_content(true)
            .with_capture_tool_calls(true);
        let mut retrier = Retrier::new(self.retry_policy(), self.route());
        let reply = loop {
            retrier.begin();
            match self.stream_once(&request, &options, &mut on_text).await {
                Ok(reply) => break reply,
                Err(StreamFailure::Early(failure)) => retrier.failed(failure).await?,
                Err(StreamFailure::Late(failure)) => {
                    let cause = failure.into_error(self.route(), retrier.attempts());
                    return Err(LlmError::StreamInterrupted {
                        route: self.route().clone(),
                        reason: cause.to_string(),
                    });
                }
            }
        };
        let owner = budget.map(|b| b.owner_user_id);
        self.finish(ctx, owner, &request, reply, retrier.attempts())
            .await
    }

    async fn stream_once<F>(
        &self,
        request: &ChatRequest,
        options: &ChatOptions,
        on_text: &mut F,
    ) -> Result<Reply, StreamFailure>
    where
        F: FnMut(&str) + Send,
    {
        let classify = |error: genai::Error| Failure::from_genai(&error, self.secret());
        let response = self
            .http()
            .exec_chat_stream(self.target(), request.clone(), Some(options))
            .await
            .map_err(|e| StreamFailure::Early(classify(e)))?;
        let mut stream = response.stream;
        let mut text = String::new();
        while let Some(event) = stream.next().await {
            let event = event.map_err(|e| StreamFailure::new(classify(e), &text))?;
            match event {
                ChatStreamEvent::Chunk(chunk) if !chunk.content.is_empty() => {
                    text.push_str(&chunk.content);
                    on_text(&chunk.content);
                }
                ChatStreamEvent::End(end) => return Ok(reply_of(end, text)),
                _ => {}
            }
        }
        let failure = Failure::Malformed {
            reason: "the stream ended without its end event".to_owned(),
        };
        Err(StreamFailure::new(failure, &text))
    }
}

fn reply_of(end: StreamEnd, text: String) -> Reply {
    let truncated = end
        .captured_stop_reason
        .as_ref()
        .is_some_and(|r| r.is_max_tokens());
    let usage = end.captured_usage.clone().unwrap_or_default();
    let tool_calls = end.captured_into_tool_calls().unwrap_or_default();
    Reply {
        text: (!text.is_empty()).then_some(text),
        tool_calls,
        usage,
        truncated,
    }
}
