//! The OpenAI-compatible endpoints: `POST /v1/chat/completions`, `GET /v1/models[/{id}]`.
//!
//! Order of checks per request: bearer key (401), JSON body (400), request validation (400),
//! model (404); then the answer is chosen (fault, queue, rule, default), the request captured,
//! the latency applied and the answer rendered.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::StreamExt;
use serde_json::{Value, json};

use super::control;
use super::error::OpenAiError;
use super::request::ChatRequest;
use super::response::{Completion, ToolCall, malformed_body};
use super::script::Answer;
use super::server::ConnectionKiller;
use super::state::{CapturedRequest, Shared, capture_headers};

/// Header that sets the custom tag rules can match on.
pub const TAG_HEADER: &str = "x-sim-tag";

/// The whole HTTP app: OpenAI endpoints plus the control API under `/control`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{*id}", get(get_model))
        .nest("/control", control::router())
        .fallback(invalid_url)
        .with_state(shared)
}

async fn invalid_url(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> OpenAiError {
    capture_plain(&shared, &method, &uri, &headers, 404);
    OpenAiError::new(
        StatusCode::NOT_FOUND,
        format!("Invalid URL ({method} {})", uri.path()),
        "invalid_request_error",
    )
}

/// Captures a request that carries no chat body (models, unknown URLs).
fn capture_plain(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, status: u16) {
    shared.capture(CapturedRequest {
        seq: 0,
        method: method.as_str().to_owned(),
        path: uri.path().to_owned(),
        headers: capture_headers(headers),
        body: Value::Null,
        status,
        answered_by: None,
        answer_kind: None,
    });
}

fn check_key(shared: &Shared, headers: &HeaderMap) -> Result<(), OpenAiError> {
    if shared.config.api_keys.is_empty() {
        return Ok(());
    }
    let header = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(OpenAiError::missing_key)?;
    let key = header
        .strip_prefix("Bearer ")
        .ok_or_else(OpenAiError::missing_key)?
        .trim();
    if shared.config.api_keys.iter().any(|k| k == key) {
        Ok(())
    } else {
        Err(OpenAiError::invalid_key(key))
    }
}

fn check_model(shared: &Shared, model: &str) -> Result<(), OpenAiError> {
    let models = &shared.config.models;
    if models.is_empty() || models.iter().any(|m| m == model) {
        Ok(())
    } else {
        Err(OpenAiError::model_not_found(model))
    }
}

/// What to send back, decided under the lock.
enum Plan {
    Refuse(OpenAiError),
    Answer {
        answer: Answer,
        request: ChatRequest,
        id: u64,
        delay: Duration,
    },
}

fn plan(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> (Plan, Option<String>) {
    let validated = check_key(shared, headers).and_then(|()| {
        let json: Value = serde_json::from_slice(body).map_err(|_| {
            OpenAiError::invalid_request(
                "We could not parse the JSON body of your request. (HINT: This likely means you \
                 aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, \
                 but what was sent was not valid JSON.)",
            )
        })?;
        let tag = headers.get(TAG_HEADER).and_then(|v| v.to_str().ok());
        let request = ChatRequest::parse(&json, tag)?;
        check_model(shared, &request.model)?;
        Ok(request)
    });
    let request = match validated {
        Ok(request) => request,
        Err(error) => return (Plan::Refuse(error), None),
    };
    shared.update(|state| {
        let choice = state.choose(&request);
        let plan = Plan::Answer {
            answer: choice.answer,
            request,
            id: state.next_id(),
            delay: choice.delay,
        };
        (plan, Some(choice.source))
    })
}

fn status_of(plan: &Plan) -> u16 {
    match plan {
        Plan::Refuse(error) => error.status.as_u16(),
        Plan::Answer { answer, .. } => match answer {
            Answer::Error { status, .. } => *status,
            Answer::RateLimit { .. } => 429,
            Answer::ServerError => 500,
            Answer::DropConnection => 0,
            Answer::Text { .. } | Answer::ToolCalls { .. } | Answer::MalformedJson => 200,
        },
    }
}

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    Extension(killer): Extension<ConnectionKiller>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (plan, source) = plan(&shared, &headers, &body);
    let captured_body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    shared.capture(CapturedRequest {
        seq: 0,
        method: "POST".to_owned(),
        path: uri.path().to_owned(),
        headers: capture_headers(&headers),
        body: captured_body,
        status: status_of(&plan),
        answered_by: source,
        answer_kind: match &plan {
            Plan::Answer { answer, .. } => Some(answer.kind().to_owned()),
            Plan::Refuse(_) => None,
        },
    });
    let (answer, request, id, delay) = match plan {
        Plan::Refuse(error) => return error.into_response(),
        Plan::Answer {
            answer,
            request,
            id,
            delay,
        } => (answer, request, id, delay),
    };
    let latency = shared.config.latency + delay;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    render(&shared, answer, &request, id, &killer).await
}

async fn render(
    shared: &Shared,
    answer: Answer,
    request: &ChatRequest,
    id: u64,
    killer: &ConnectionKiller,
) -> Response {
    let (text, calls) = match answer {
        Answer::Text { text } => (Some(text), Vec::new()),
        Answer::ToolCalls { text, calls } => (text, calls),
        Answer::Error {
            status,
            message,
            error_type,
            code,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            let mut error = OpenAiError::new(status, message, &error_type);
            error.code = code;
            return error.into_response();
        }
        Answer::RateLimit { retry_after_secs } => {
            return OpenAiError::rate_limited(retry_after_secs).into_response();
        }
        Answer::ServerError => return OpenAiError::server_error().into_response(),
        Answer::MalformedJson => return malformed(request),
        Answer::DropConnection => {
            killer.kill();
            return std::future::pending().await;
        }
    };
    let tool_calls = calls
        .into_iter()
        .enumerate()
        .map(|(index, call)| ToolCall {
            id: call.id.unwrap_or_else(|| format!("call_sim{id}_{index}")),
            arguments: call.arguments.to_string(),
            name: call.name,
        })
        .collect();
    let completion = Completion::new(format!("chatcmpl-sim{id}"), request, text, tool_calls);
    if request.stream {
        let events =
            completion.stream_events(request.include_usage, shared.config.stream_chunk_chars);
        return sse(events, shared.config.stream_chunk_delay);
    }
    Json(completion.to_json()).into_response()
}

fn malformed(request: &ChatRequest) -> Response {
    let (content_type, body) = if request.stream {
        (
            "text/event-stream",
            "data: {\"id\":\"chatcmpl-broken\",\"choices\":[{\"delta\":\n\n".to_owned(),
        )
    } else {
        ("application/json", malformed_body(&request.model))
    };
    ([(CONTENT_TYPE, content_type)], body).into_response()
}

fn sse(events: Vec<String>, delay: Duration) -> Response {
    let stream = futures::stream::iter(events).then(move |event| async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok::<_, Infallible>(format!("data: {event}\n\n"))
    });
    (
        [
            (CONTENT_TYPE, "text/event-stream"),
            (CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

fn model_json(id: &str) -> Value {
    json!({ "id": id, "object": "model", "created": 1_700_000_000, "owned_by": "sim" })
}

async fn list_models(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let checked = check_key(&shared, &headers);
    let status = checked
        .as_ref()
        .map_or_else(|e| e.status.as_u16(), |()| 200);
    capture_plain(&shared, &method, &uri, &headers, status);
    if let Err(error) = checked {
        return error.into_response();
    }
    let data: Vec<Value> = shared.config.models.iter().map(|m| model_json(m)).collect();
    Json(json!({ "object": "list", "data": data })).into_response()
}

async fn get_model(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let checked = check_key(&shared, &headers).and_then(|()| check_model(&shared, &id));
    let status = checked
        .as_ref()
        .map_or_else(|e| e.status.as_u16(), |()| 200);
    capture_plain(&shared, &method, &uri, &headers, status);
    match checked {
        Ok(()) => Json(model_json(&id)).into_response(),
        Err(error) => error.into_response(),
    }
}
