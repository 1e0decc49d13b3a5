//! Mutable simulator state: rules, the answer queue, injected faults and captured requests.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use super::config::LlmConfig;
use super::error::LlmSimError;
use super::request::ChatRequest;
use super::script::{ActiveRule, Answer, Rule};

/// Headers never captured: they carry credentials.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "api-key",
    "proxy-authorization",
];

/// A request as the simulator received it, for assertions on what a client sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapturedRequest {
    /// Position among captured requests (starts at 1).
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Headers, lower-cased, without credentials.
    pub headers: BTreeMap<String, String>,
    /// JSON body, or the raw body as a string when it is not JSON.
    pub body: Value,
    /// HTTP status answered (0 when the connection was dropped).
    pub status: u16,
    /// What chose the answer: a rule's name (`rule#N` when unnamed), `queue`, `fault` or
    /// `default`; `None` when the request was refused before an answer was chosen.
    pub answered_by: Option<String>,
    /// Kind of the answer (see [`Answer::kind`]).
    pub answer_kind: Option<String>,
}

impl CapturedRequest {
    /// Whether `needle` occurs anywhere in the body or the captured headers.
    pub fn contains(&self, needle: &str) -> bool {
        self.body.to_string().contains(needle)
            || self.body.as_str().is_some_and(|raw| raw.contains(needle))
            || self.headers.values().any(|value| value.contains(needle))
    }

    /// The `messages` of the body.
    pub fn messages(&self) -> Vec<Value> {
        self.body
            .get("messages")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }
}

/// Keeps the headers worth capturing.
pub(crate) fn capture_headers(headers: &axum::http::HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter(|(name, _)| !SECRET_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// Where an answer came from.
#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub answer: Answer,
    pub source: String,
    pub delay: Duration,
}

/// The mutable part of the simulator.
#[derive(Debug)]
pub(crate) struct LlmState {
    pub rules: Vec<ActiveRule>,
    pub next_rule_index: usize,
    pub queue: VecDeque<Answer>,
    pub faults: VecDeque<Answer>,
    pub default_answer: Answer,
    pub requests: Vec<CapturedRequest>,
    pub next_id: u64,
}

impl LlmState {
    fn new(config: &LlmConfig) -> Result<Self, LlmSimError> {
        let mut state = Self {
            rules: Vec::new(),
            next_rule_index: 0,
            queue: VecDeque::new(),
            faults: VecDeque::new(),
            default_answer: config.default_answer.clone(),
            requests: Vec::new(),
            next_id: 1,
        };
        for rule in &config.rules {
            state.add_rule(rule.clone())?;
        }
        Ok(state)
    }

    /// Appends a rule after validating it.
    pub fn add_rule(&mut self, rule: Rule) -> Result<(), LlmSimError> {
        let active = ActiveRule::new(rule, self.next_rule_index)?;
        self.next_rule_index += 1;
        self.rules.push(active);
        Ok(())
    }

    /// Picks the answer: injected faults, then queued answers, then rules in order, then the
    /// default.
    pub fn choose(&mut self, request: &ChatRequest) -> Choice {
        let plain = |answer, source: &str| Choice {
            answer,
            source: source.to_owned(),
            delay: Duration::ZERO,
        };
        if let Some(answer) = self.faults.pop_front() {
            return plain(answer, "fault");
        }
        if let Some(answer) = self.queue.pop_front() {
            return plain(answer, "queue");
        }
        if let Some(rule) = self.rules.iter_mut().find(|rule| rule.matches(request)) {
            rule.consume();
            return Choice {
                answer: rule.rule.answer.clone(),
                source: rule.label(),
                delay: Duration::from_millis(rule.rule.delay_ms.unwrap_or(0)),
            };
        }
        plain(self.default_answer.clone(), "default")
    }

    /// Next id for completions and tool calls.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

/// State shared by the handlers and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: LlmConfig,
    state: Mutex<LlmState>,
    changes: watch::Sender<u64>,
}

impl Shared {
    /// Builds the state; fails on invalid configured rules.
    pub fn new(config: LlmConfig) -> Result<Arc<Self>, LlmSimError> {
        let state = LlmState::new(&config)?;
        Ok(Arc::new(Self {
            config,
            state: Mutex::new(state),
            changes: watch::Sender::new(0),
        }))
    }

    /// Locks the state.
    pub fn lock(&self) -> MutexGuard<'_, LlmState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the state and wakes waiters.
    pub fn update<R>(&self, f: impl FnOnce(&mut LlmState) -> R) -> R {
        let result = f(&mut self.lock());
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
        result
    }

    /// Captures a request.
    pub fn capture(&self, mut request: CapturedRequest) {
        self.update(|state| {
            request.seq = state.requests.len() as u64 + 1;
            state.requests.push(request);
        });
    }

    /// Forgets rules beyond the configured ones, queue, faults and captures.
    pub fn reset(&self) -> Result<(), LlmSimError> {
        let fresh = LlmState::new(&self.config)?;
        self.update(|state| {
            let next_id = state.next_id;
            *state = fresh;
            state.next_id = next_id;
        });
        Ok(())
    }

    /// Waits until `check` returns `Some` or the timeout passes.
    pub async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&LlmState) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut changes = self.changes.subscribe();
        loop {
            changes.borrow_and_update();
            if let Some(value) = check(&self.lock()) {
                return Some(value);
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return None },
                () = tokio::time::sleep_until(deadline) => return None,
            }
        }
    }
}
