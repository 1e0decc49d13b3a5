//! The LLM simulator driven by the real genai client.

use std::time::{Duration, Instant};

use futures::StreamExt;
use genai::adapter::AdapterKind;
use genai::chat::{ChatMessage, ChatOptions, ChatRequest, ChatStreamEvent, Tool, ToolResponse};
use genai::resolver::{AuthData, Endpoint, ServiceTargetResolver};
use genai::{Client, ModelIden, ServiceTarget};
use orch_testkit::llm::{Answer, LlmConfig, LlmSim, Rule, Script, estimate_tokens};
use serde_json::{Value, json};

const MODEL: &str = "sim-model";
const WAIT: Duration = Duration::from_secs(5);

fn client(sim: &LlmSim, key: &str) -> Client {
    let endpoint = sim.base_url();
    let key = key.to_owned();
    let resolver = ServiceTargetResolver::from_resolver_fn(
        move |target: ServiceTarget| -> Result<ServiceTarget, genai::resolver::Error> {
            Ok(ServiceTarget {
                endpoint: Endpoint::from_owned(endpoint.clone()),
                auth: AuthData::from_single(key.clone()),
                model: ModelIden::new(AdapterKind::OpenAI, target.model.model_name),
            })
        },
    );
    Client::builder()
        .with_service_target_resolver(resolver)
        .build()
        .expect("genai client builds")
}

async fn start(config: LlmConfig) -> (LlmSim, Client) {
    let sim = LlmSim::start(config).await.expect("simulator starts");
    let client = client(&sim, sim.api_key());
    (sim, client)
}

fn prompt_tokens(texts: &[&str]) -> i32 {
    let sum: u32 = texts.iter().map(|t| estimate_tokens(t) + 4).sum();
    i32::try_from(sum + 3).expect("small")
}

#[tokio::test]
async fn plain_chat_with_usage_and_capture() {
    let rule = Rule::new(Answer::text("Hello from the planner"))
        .named("planner")
        .when_system_contains("You are the planner");
    let (sim, client) = start(LlmConfig::default().rule(rule)).await;
    let request = ChatRequest::new(vec![
        ChatMessage::system("You are the planner"),
        ChatMessage::user("Plan a todo app"),
    ]);
    let response = client.exec_chat(MODEL, request, None).await.expect("chat");
    assert_eq!(response.first_text(), Some("Hello from the planner"));
    let usage = response.usage;
    let prompt = prompt_tokens(&["You are the planner", "Plan a todo app"]);
    let completion = i32::try_from(estimate_tokens("Hello from the planner")).expect("small");
    assert_eq!(usage.prompt_tokens, Some(prompt));
    assert_eq!(usage.completion_tokens, Some(completion));
    assert_eq!(usage.total_tokens, Some(prompt + completion));

    let captured = sim.requests();
    assert_eq!(captured.len(), 1);
    assert_eq!(captured[0].answered_by.as_deref(), Some("planner"));
    assert_eq!(captured[0].body["model"], MODEL);
    assert!(captured[0].contains("Plan a todo app"));
    assert!(!captured[0].headers.contains_key("authorization"));
}

#[tokio::test]
async fn tool_call_round_trip() {
    let config = LlmConfig::default()
        .rule(
            Rule::new(Answer::tool_call("get_weather", json!({"city": "Tokyo"})))
                .when_last_role("user")
                .when_last_user_matches(r"weather in \w+"),
        )
        .rule(Rule::new(Answer::text("It is sunny in Tokyo.")).when_last_role("tool"));
    let (sim, client) = start(config).await;
    let tool = Tool::new("get_weather")
        .with_description("Current weather of a city")
        .with_schema(
            json!({"type": "object", "properties": {"city": {"type": "string"}},
            "required": ["city"]}),
        );
    let request = ChatRequest::new(vec![ChatMessage::user("What is the weather in Tokyo?")])
        .with_tools(vec![tool]);

    let response = client
        .exec_chat(MODEL, request.clone(), None)
        .await
        .expect("first call");
    let calls = response.into_tool_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].fn_name, "get_weather");
    assert_eq!(calls[0].fn_arguments, json!({"city": "Tokyo"}));

    let call_id = calls[0].call_id.clone();
    let request = request
        .append_message(calls)
        .append_message(ToolResponse::new(call_id.clone(), r#"{"sky":"sunny"}"#));
    let response = client
        .exec_chat(MODEL, request, None)
        .await
        .expect("second call");
    assert_eq!(response.first_text(), Some("It is sunny in Tokyo."));

    let second = &sim.requests()[1];
    let tool_message = second
        .messages()
        .into_iter()
        .find(|m| m["role"] == "tool")
        .expect("tool result sent back");
    assert_eq!(tool_message["tool_call_id"], json!(call_id));
    assert_eq!(second.body["tools"][0]["function"]["name"], "get_weather");
}

#[tokio::test]
async fn streaming_with_captured_usage() {
    let text = "Streaming answers arrive in several chunks.";
    let (sim, client) = start(LlmConfig::default()).await;
    sim.push_answer(Answer::text(text));
    let options = ChatOptions::default()
        .with_capture_usage(true)
        .with_capture_content(true);
    let request = ChatRequest::new(vec![ChatMessage::user("stream please")]);
    let response = client
        .exec_chat_stream(MODEL, request, Some(&options))
        .await
        .expect("stream starts");
    let mut stream = response.stream;
    let (mut streamed, mut chunks, mut end) = (String::new(), 0, None);
    while let Some(event) = stream.next().await {
        match event.expect("stream event") {
            ChatStreamEvent::Chunk(chunk) => {
                chunks += 1;
                streamed.push_str(&chunk.content);
            }
            ChatStreamEvent::End(stream_end) => end = Some(stream_end),
            _ => {}
        }
    }
    assert_eq!(streamed, text);
    assert!(chunks > 1, "content arrived in {chunks} chunks");
    let usage = end.and_then(|e| e.captured_usage).expect("usage captured");
    let prompt = prompt_tokens(&["stream please"]);
    let completion = i32::try_from(estimate_tokens(text)).expect("small");
    assert_eq!(usage.prompt_tokens, Some(prompt));
    assert_eq!(usage.completion_tokens, Some(completion));
    assert_eq!(usage.total_tokens, Some(prompt + completion));

    let body = &sim.requests()[0].body;
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn rate_limit_with_retry_after() {
    let (sim, client) = start(LlmConfig::default()).await;
    sim.fail_next(
        1,
        Answer::RateLimit {
            retry_after_secs: 7,
        },
    );
    let request = ChatRequest::new(vec![ChatMessage::user("hi")]);
    let error = client
        .exec_chat(MODEL, request.clone(), None)
        .await
        .expect_err("rate limited");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(429));
    let retry_after = error
        .headers()
        .and_then(|h| h.get("retry-after"))
        .and_then(|v| v.to_str().ok());
    assert_eq!(retry_after, Some("7"));
    assert!(
        format!("{error}").contains("rate_limit_exceeded"),
        "{error}"
    );
    let ok = client
        .exec_chat(MODEL, request, None)
        .await
        .expect("recovered");
    assert_eq!(ok.first_text(), Some("OK"));
}

#[tokio::test]
async fn server_error_malformed_json_and_dropped_connection() {
    let (sim, client) = start(LlmConfig::default()).await;
    let request = ChatRequest::new(vec![ChatMessage::user("hi")]);

    sim.fail_next(1, Answer::ServerError);
    let error = client
        .exec_chat(MODEL, request.clone(), None)
        .await
        .expect_err("500");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(500));

    sim.fail_next(1, Answer::MalformedJson);
    let error = client
        .exec_chat(MODEL, request.clone(), None)
        .await
        .expect_err("unparsable body");
    assert_eq!(error.status(), None, "{error}");

    sim.fail_next(1, Answer::DropConnection);
    let error = client
        .exec_chat(MODEL, request.clone(), None)
        .await
        .expect_err("connection dropped");
    assert_eq!(error.status(), None, "{error}");

    let kinds: Vec<Option<String>> = sim.requests().into_iter().map(|r| r.answer_kind).collect();
    assert_eq!(
        kinds,
        vec![
            Some("server_error".to_owned()),
            Some("malformed_json".to_owned()),
            Some("drop_connection".to_owned())
        ]
    );
    client
        .exec_chat(MODEL, request, None)
        .await
        .expect("the simulator keeps serving after a dropped connection");
}

#[tokio::test]
async fn auth_and_unknown_model() {
    let (sim, _) = start(LlmConfig::default()).await;
    let request = ChatRequest::new(vec![ChatMessage::user("hi")]);
    let wrong = client(&sim, "sk-not-the-right-key");
    let error = wrong
        .exec_chat(MODEL, request.clone(), None)
        .await
        .expect_err("wrong key");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(401));
    assert!(format!("{error}").contains("invalid_api_key"), "{error}");

    let right = client(&sim, sim.api_key());
    let error = right
        .exec_chat("gpt-unknown", request, None)
        .await
        .expect_err("unknown model");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(404));
    assert!(format!("{error}").contains("model_not_found"), "{error}");
}

#[tokio::test]
async fn secret_key_never_captured_and_latency_applies() {
    let secret = "sk-live-TOP-SECRET-0123456789";
    let config = LlmConfig {
        api_keys: vec![secret.to_owned()],
        latency: Duration::from_millis(200),
        ..LlmConfig::default()
    };
    let (sim, client) = start(config).await;
    let started = Instant::now();
    client
        .exec_chat(
            MODEL,
            ChatRequest::new(vec![ChatMessage::user("hello")]),
            None,
        )
        .await
        .expect("chat");
    assert!(started.elapsed() >= Duration::from_millis(200));
    let captured = sim.wait_for_requests(1, WAIT).await.expect("captured");
    assert!(captured[0].contains("hello"));
    assert!(captured.iter().all(|r| !r.contains(secret)));
    assert!(captured.iter().all(|r| !r.contains("TOP-SECRET")));
}

#[tokio::test]
async fn one_shot_rules_queue_and_script() {
    let script = Script::parse(
        r#"
default: { type: text, text: "scripted default" }
rules:
  - name: once
    when: { last_user_contains: "ping" }
    answer: { type: text, text: "pong" }
    times: 1
"#,
        true,
    )
    .expect("valid script");
    let (sim, client) = start(LlmConfig::default().with_script(script)).await;
    let ask = |text: &'static str| {
        let client = client.clone();
        async move {
            let request = ChatRequest::new(vec![ChatMessage::user(text)]);
            let response = client.exec_chat(MODEL, request, None).await.expect("chat");
            response.first_text().map(str::to_owned)
        }
    };
    assert_eq!(ask("ping").await.as_deref(), Some("pong"));
    assert_eq!(ask("ping").await.as_deref(), Some("scripted default"));
    sim.push_answer(Answer::text("queued 1"));
    sim.push_answer(Answer::text("queued 2"));
    assert_eq!(ask("x").await.as_deref(), Some("queued 1"));
    assert_eq!(ask("x").await.as_deref(), Some("queued 2"));
    assert_eq!(ask("x").await.as_deref(), Some("scripted default"));
}

#[tokio::test]
async fn control_api_adds_rules_and_lists_requests() {
    let (sim, client) = start(LlmConfig::default()).await;
    let http = reqwest::Client::new();
    let control = sim.control_url();
    let added: Value = http
        .post(format!("{control}/rules"))
        .json(&json!({"name": "reviewer", "when": {"tag": "review"},
            "answer": {"type": "text", "text": "LGTM"}}))
        .send()
        .await
        .expect("add rule")
        .json()
        .await
        .expect("json");
    assert_eq!(added, json!({"added": 1}));

    let request = ChatRequest::new(vec![ChatMessage::user("review this diff")]);
    let options = ChatOptions::default()
        .with_extra_headers(vec![("x-sim-tag".to_owned(), "review".to_owned())]);
    let response = client
        .exec_chat(MODEL, request, Some(&options))
        .await
        .expect("chat");
    assert_eq!(response.first_text(), Some("LGTM"));

    let requests: Vec<Value> = http
        .get(format!("{control}/requests"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["answered_by"], "reviewer");

    let bad = http
        .post(format!("{control}/rules"))
        .json(&json!({"when": {"last_user_regex": "("}, "answer": {"type": "server_error"}}))
        .send()
        .await
        .expect("add rule");
    assert_eq!(bad.status(), 400);

    let models: Value = http
        .get(format!("{}models", sim.base_url()))
        .bearer_auth(sim.api_key())
        .send()
        .await
        .expect("models")
        .json()
        .await
        .expect("json");
    let listed = sim.requests();
    assert_eq!(listed.last().map(|r| r.path.as_str()), Some("/v1/models"));
    assert!(
        listed
            .iter()
            .all(|r| !r.headers.contains_key("authorization"))
    );
    assert!(
        models["data"]
            .as_array()
            .is_some_and(|d| d.iter().any(|m| m["id"] == MODEL))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn streamed_tool_call_is_reassembled() {
    let (sim, client) = start(LlmConfig::default()).await;
    sim.push_answer(Answer::tool_call(
        "create_repo",
        json!({"name": "todo-app", "private": true}),
    ));
    let options = ChatOptions::default()
        .with_capture_usage(true)
        .with_capture_tool_calls(true);
    let request = ChatRequest::new(vec![ChatMessage::user("make a repo")]);
    let response = client
        .exec_chat_stream(MODEL, request, Some(&options))
        .await
        .expect("stream starts");
    let mut stream = response.stream;
    let (mut tool_chunks, mut end) = (0, None);
    while let Some(event) = stream.next().await {
        match event.expect("stream event") {
            ChatStreamEvent::ToolCallChunk(_) => tool_chunks += 1,
            ChatStreamEvent::End(stream_end) => end = Some(stream_end),
            _ => {}
        }
    }
    assert!(tool_chunks > 0);
    let end = end.expect("stream ended");
    let calls = end.captured_tool_calls().expect("tool calls captured");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].fn_name, "create_repo");
    assert_eq!(
        calls[0].fn_arguments,
        json!({"name": "todo-app", "private": true})
    );
    assert!(
        end.captured_usage
            .is_some_and(|u| u.completion_tokens > Some(0))
    );
}

#[tokio::test]
async fn stream_request_rate_limited() {
    let (sim, client) = start(LlmConfig::default()).await;
    sim.fail_next(
        1,
        Answer::RateLimit {
            retry_after_secs: 2,
        },
    );
    let request = ChatRequest::new(vec![ChatMessage::user("stream please")]);
    let outcome = client.exec_chat_stream(MODEL, request, None).await;
    let error = match outcome {
        Err(error) => error,
        Ok(response) => {
            let mut stream = response.stream;
            let mut first_error = None;
            while let Some(event) = stream.next().await {
                if let Err(error) = event {
                    first_error = Some(error);
                    break;
                }
            }
            first_error.expect("the stream fails")
        }
    };
    assert!(format!("{error:?}").contains("429"), "{error:?}");
    assert_eq!(sim.requests()[0].status, 429);
}
