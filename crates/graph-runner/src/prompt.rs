//! What the brainstorm model is told and what it must answer.
//!
//! The role's own system prompt comes from `model_configs` (seeded with [`ROLE_PROMPT`]); this module adds
//! the protocol on every call — the answer format, the spec's JSON Schema, the question budget and, while a
//! spec is being changed, the current draft — so an edited role prompt can never break the protocol.
//!
//! The model answers exactly one of `{"question": "…"}` or `{"spec": <project_spec v1>}`.

use std::sync::LazyLock;

use orch_contracts::spec::ProjectSpec;
use orch_llm::chat::{ChatMessage, ChatRequest};
use serde::{Deserialize, Serialize};

use crate::state::{Conversation, Turn};

/// The default system prompt of the `brainstorm` role (seeded into `model_configs`).
pub const ROLE_PROMPT: &str = "You are an experienced product manager helping a person turn an idea for a \
piece of software into a clear, buildable specification. Ask the questions a good product person would: \
who it is for, what problem it solves, the few features that matter for a first version, the services or \
APIs it depends on, the secrets it needs (names only — never ask for their values), and where it runs. Ask \
one short, concrete question at a time, in the person's language. Stop asking once the idea is clear enough \
to build a first version; then write the spec. Prefer sensible defaults over questions about details.";

/// Longest question accepted from the model.
pub const MAX_QUESTION_CHARS: usize = 1000;

static SCHEMA: LazyLock<String> = LazyLock::new(|| ProjectSpec::json_schema().to_string());

/// The model's answer: exactly one of the two fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelAnswer {
    /// The next question for the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// The finished spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ProjectSpec>,
}

/// A validated answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Thought {
    /// Ask this.
    Question(String),
    /// Propose this spec.
    Spec(ProjectSpec),
}

impl ModelAnswer {
    /// Checks the answer: one field, a reasonable question, a valid spec. The message is sent back to the
    /// model for its one repair attempt.
    pub fn check(&self) -> Result<(), String> {
        match (&self.question, &self.spec) {
            (Some(q), None) if q.trim().is_empty() => Err("the question is empty".into()),
            (Some(q), None) if q.chars().count() > MAX_QUESTION_CHARS => Err(format!(
                "the question is longer than {MAX_QUESTION_CHARS} characters"
            )),
            (Some(_), None) => Ok(()),
            (None, Some(spec)) => spec
                .validate()
                .map_err(|v| format!("the spec is invalid: {v}")),
            _ => Err("answer with exactly one of `question` or `spec`".into()),
        }
    }

    /// Returns the answer as a [`Thought`] (call [`ModelAnswer::check`] first).
    pub fn into_thought(self) -> Option<Thought> {
        match (self.question, self.spec) {
            (Some(q), None) => Some(Thought::Question(q.trim().to_owned())),
            (None, Some(spec)) => Some(Thought::Spec(spec)),
            _ => None,
        }
    }
}

/// Builds the request for the next brainstorm call.
pub fn request(state: &Conversation, max_questions: u32) -> ChatRequest {
    let mut request = ChatRequest::from_system(protocol(state, max_questions));
    for turn in &state.turns {
        request = request.append_message(message(state, turn));
    }
    request
}

fn message(state: &Conversation, turn: &Turn) -> ChatMessage {
    match turn {
        Turn::Person { text } => ChatMessage::user(text.clone()),
        Turn::Question { text } => ChatMessage::assistant(answer_json(&ModelAnswer {
            question: Some(text.clone()),
            spec: None,
        })),
        Turn::Spec { rev } if *rev == state.spec_rev => {
            ChatMessage::assistant(answer_json(&ModelAnswer {
                question: None,
                spec: state.spec.clone(),
            }))
        }
        Turn::Spec { rev } => ChatMessage::assistant(format!(
            "(spec draft v{rev}, since revised; not repeated here)"
        )),
    }
}

fn answer_json(answer: &ModelAnswer) -> String {
    serde_json::to_string(answer).unwrap_or_default()
}

fn protocol(state: &Conversation, max_questions: u32) -> String {
    let mut text = format!(
        "Answer every message with one JSON object and nothing else: either {{\"question\": \"<one \
         question for the person>\"}} or {{\"spec\": <the project spec>}}. The spec must satisfy this JSON \
         Schema (schema_version 1; names lower-case with dashes; secrets by name only, never values):\n{}\n\n\
         You have asked {} of at most {max_questions} questions.",
        *SCHEMA, state.questions
    );
    if state.questions >= max_questions {
        text.push_str(
            " You may not ask more: answer with the spec now, choosing sensible defaults.",
        );
    }
    if state.spec.is_some() {
        text.push_str(&format!(
            " The person is reviewing spec v{}: apply the changes they ask for and answer with the complete \
             revised spec, or ask one question if a change is unclear.",
            state.spec_rev
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use orch_contracts::{EventId, ProjectId, RunId};
    use orch_graph::State;

    use super::*;
    use crate::state::{ConversationUpdate, ThreadIds};

    fn conversation() -> Conversation {
        let ids = ThreadIds {
            chat_id: 1,
            owner_user_id: 1,
            project_id: ProjectId::new(),
            run_id: RunId::new(),
        };
        Conversation::new(ids, Some(("a weather bot".into(), EventId::new())))
    }

    fn spec() -> ProjectSpec {
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "name": "weather-bot", "summary": "Forecasts in Telegram.",
            "modules": [{"name": "bot", "purpose": "talks to Telegram"}],
            "features": [{"id": "forecast", "title": "/forecast", "description": "today", "priority": "must"}],
            "acceptance_criteria": ["answers"], "deploy_target": {"kind": "telegram_bot", "public": false}
        }))
        .expect("valid spec")
    }

    #[test]
    fn answers_must_have_exactly_one_valid_field() {
        let question = ModelAnswer {
            question: Some("Who is it for?".into()),
            spec: None,
        };
        assert!(question.check().is_ok());
        let both = ModelAnswer {
            question: Some("q".into()),
            spec: Some(spec()),
        };
        assert!(both.check().expect_err("both").contains("exactly one"));
        let neither = ModelAnswer {
            question: None,
            spec: None,
        };
        assert!(neither.check().is_err());
        let mut bad = spec();
        bad.name = "Weather Bot".into();
        let invalid = ModelAnswer {
            question: None,
            spec: Some(bad),
        };
        assert!(invalid.check().expect_err("invalid").contains("name"));
        assert!(serde_json::from_str::<ModelAnswer>(r#"{"question":"q","extra":1}"#).is_err());
    }

    #[test]
    fn the_request_carries_the_protocol_and_the_dialogue() {
        let mut state = conversation();
        state.apply(ConversationUpdate {
            turns: vec![Turn::Question {
                text: "Which city?".into(),
            }],
            asked: true,
            ..ConversationUpdate::default()
        });
        let request = request(&state, 1);
        let system = request.system.clone().expect("system");
        assert!(system.contains("\"question\"") && system.contains("schema_version"));
        assert!(system.contains("may not ask more"), "{system}");
        assert_eq!(request.messages.len(), 2);
    }

    #[test]
    fn while_changing_the_current_spec_is_context() {
        let mut state = conversation();
        state.apply(ConversationUpdate {
            turns: vec![Turn::Spec { rev: 1 }],
            spec: Some(spec()),
            ..ConversationUpdate::default()
        });
        let request = request(&state, 8);
        assert!(
            request
                .system
                .expect("system")
                .contains("reviewing spec v1")
        );
        let json = serde_json::to_string(&request.messages).expect("json");
        assert!(json.contains("weather-bot"), "{json}");
    }
}
