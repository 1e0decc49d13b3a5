//! The state of one conversation thread, its updates and reducer, and what an interrupt waits for.
//!
//! The state is small and bounded: the dialogue (capped at [`MAX_TURNS`], the idea always kept), the latest
//! spec proposal, counters, and the ids of the last [`MAX_APPLIED`] `chat:in` events applied to the thread —
//! which is how a redelivered event is recognised after a crash (see [`crate::handler`]).

use orch_contracts::spec::ProjectSpec;
use orch_contracts::{EventId, ProjectId, RunId};
use orch_graph::State;
use serde::{Deserialize, Serialize};

/// Dialogue turns kept in the state (the first — the idea — is always kept).
pub const MAX_TURNS: usize = 60;
/// Applied event ids remembered for deduplication.
pub const MAX_APPLIED: usize = 64;

/// One conversation about one project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// The Telegram chat.
    pub chat_id: i64,
    /// The project's owner (`users.id`), who pays for its LLM calls.
    pub owner_user_id: i64,
    /// The project being specified.
    pub project_id: ProjectId,
    /// The brainstorm run (correlation id of spans and usage rows).
    pub run_id: RunId,
    /// The dialogue so far.
    pub turns: Vec<Turn>,
    /// What the graph does next.
    pub next: Next,
    /// The latest spec proposal.
    pub spec: Option<ProjectSpec>,
    /// How many specs were proposed (the latest is `spec_rev`; 0 before the first).
    pub spec_rev: u32,
    /// Questions asked so far.
    pub questions: u32,
    /// Set once the person approved a spec.
    pub approved: Option<Approved>,
    /// The last `chat:in` events applied to this thread (oldest first).
    pub applied: Vec<EventId>,
    /// The project's repository, once the architect created it.
    #[serde(default)]
    pub repository: Option<RepositoryRef>,
}

/// Where the project's code lives (no credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryRef {
    /// `owner/name`.
    pub full_name: String,
    /// HTTPS clone URL.
    pub clone_url: String,
    /// The commit `main` pointed at when it was set up.
    pub main_sha: String,
    /// How many tasks the plan holds.
    pub tasks: u32,
    /// The zavhoz handle of the project's own git token for workers, when one was allocated (else the
    /// configured `GRAPH_RUNNER__WORKERS__GIT_TOKEN_HANDLE`).
    #[serde(default)]
    pub git_token_handle: Option<String>,
}

impl Conversation {
    /// A fresh conversation; with an `idea` the model thinks about it at once, without one the person is asked
    /// for it.
    pub fn new(ids: ThreadIds, idea: Option<(String, EventId)>) -> Self {
        let (turns, next, applied) = match idea {
            Some((text, event)) => (vec![Turn::Person { text }], Next::Think, vec![event]),
            None => (
                Vec::new(),
                Next::Ask {
                    text: GREETING.to_owned(),
                },
                Vec::new(),
            ),
        };
        Self {
            chat_id: ids.chat_id,
            owner_user_id: ids.owner_user_id,
            project_id: ids.project_id,
            run_id: ids.run_id,
            turns,
            next,
            spec: None,
            spec_rev: 0,
            questions: 0,
            approved: None,
            applied,
            repository: None,
        }
    }

    /// Returns true when `event` was applied to this thread already.
    pub fn has_applied(&self, event: EventId) -> bool {
        self.applied.contains(&event)
    }
}

/// The ids a thread is created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadIds {
    /// The Telegram chat.
    pub chat_id: i64,
    /// The project's owner.
    pub owner_user_id: i64,
    /// The project.
    pub project_id: ProjectId,
    /// The run.
    pub run_id: RunId,
}

/// What a new thread without an idea asks first.
pub const GREETING: &str = "What would you like to build? Describe the idea in a few sentences — \
who it is for and what it should do.";

/// One turn of the dialogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Turn {
    /// Something the person wrote.
    Person {
        /// The text.
        text: String,
    },
    /// A question the model asked.
    Question {
        /// The question.
        text: String,
    },
    /// A spec the model proposed (the latest one is [`Conversation::spec`]).
    Spec {
        /// Its revision.
        rev: u32,
    },
}

/// The next step of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Next {
    /// Ask the model for a question or a spec.
    Think,
    /// Send `text` and wait for the person's answer.
    Ask {
        /// What to send.
        text: String,
    },
    /// Show the latest spec and wait for Approve / Change.
    Review,
    /// Store the approved spec.
    Approve {
        /// The button press to answer.
        callback_query_id: String,
    },
    /// Ask what to change and wait for the answer.
    Change {
        /// The button press to answer.
        callback_query_id: String,
    },
    /// Plan the repository and the tasks and create the repository.
    Architect,
    /// Start the tasks that are ready on coding workers and wait for their results.
    Develop,
    /// Nothing: the spec is approved (and the repository set up, when the factory is configured).
    Done,
}

/// The outcome of an approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approved {
    /// The project's final name (the spec's name, made unique among the owner's projects).
    pub name: String,
    /// The stored spec version (`project_specs.version`).
    pub version: i32,
}

/// What a node returns; [`Conversation::apply`] merges it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ConversationUpdate {
    /// Turns to append.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub turns: Vec<Turn>,
    /// The next step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Next>,
    /// A new spec proposal (bumps the revision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ProjectSpec>,
    /// A question was asked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub asked: bool,
    /// The approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<Approved>,
    /// The event applied by this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<EventId>,
    /// The repository the architect set up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<RepositoryRef>,
}

impl ConversationUpdate {
    /// An update that only moves on to `next`.
    pub fn goto(next: Next) -> Self {
        Self {
            next: Some(next),
            ..Self::default()
        }
    }
}

impl State for Conversation {
    type Update = ConversationUpdate;

    fn apply(&mut self, update: ConversationUpdate) {
        self.turns.extend(update.turns);
        if self.turns.len() > MAX_TURNS {
            let excess = self.turns.len() - MAX_TURNS;
            self.turns.drain(1..=excess);
        }
        if let Some(next) = update.next {
            self.next = next;
        }
        if let Some(spec) = update.spec {
            self.spec = Some(spec);
            self.spec_rev += 1;
        }
        self.questions += u32::from(update.asked);
        if let Some(approved) = update.approved {
            self.approved = Some(approved);
        }
        if let Some(repository) = update.repository {
            self.repository = Some(repository);
        }
        if let Some(event) = update.applied {
            self.applied.push(event);
            if self.applied.len() > MAX_APPLIED {
                self.applied.remove(0);
            }
        }
    }
}

/// What a paused thread waits for (the interrupt payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Waiting {
    /// A text from the person (an answer, the idea, what to change).
    Text {
        /// What was asked.
        asked: String,
    },
    /// A press of Approve or Change under spec `rev`.
    Approval {
        /// The spec revision on show.
        rev: u32,
    },
    /// Results of the coding workers running the project's tasks, and of the reviews of their pull requests.
    Workers {
        /// How many workers are running.
        running: u32,
        /// How many pull requests are in review.
        #[serde(default)]
        reviewing: u32,
        /// How many questions to the person are open (answered with a button or a text).
        #[serde(default)]
        asking: u32,
    },
}

/// The answer a thread is resumed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// The person wrote something.
    Text {
        /// The text.
        text: String,
        /// The `chat:in` event.
        event_id: EventId,
    },
    /// The person pressed Approve.
    Approve {
        /// The press, to be answered.
        callback_query_id: String,
        /// The `chat:in` event.
        event_id: EventId,
    },
    /// The person pressed Change.
    Change {
        /// The press, to be answered.
        callback_query_id: String,
        /// The `chat:in` event.
        event_id: EventId,
    },
    /// The reviewer finished reviewing a task's pull request.
    ReviewFinished {
        /// The task's key.
        task_key: String,
        /// What the reviewer decided and did.
        result: Box<orch_contracts::messages::review::ReviewResult>,
        /// Derived from the review id, so a result resumes the thread once.
        event_id: EventId,
    },
    /// The person pressed a button under a question (an escalation).
    Decision {
        /// The escalation (`escalations.id`).
        escalation: uuid::Uuid,
        /// True for the approving button.
        approve: bool,
        /// The press, to be answered.
        callback_query_id: String,
        /// The `chat:in` event.
        event_id: EventId,
    },
    /// A coding worker finished a task.
    WorkerFinished {
        /// The task's key.
        task_key: String,
        /// What the spawner reported.
        result: Box<orch_contracts::messages::worker::WorkerResult>,
        /// Derived from the worker id, so a result resumes the thread once.
        event_id: EventId,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> ThreadIds {
        ThreadIds {
            chat_id: 1,
            owner_user_id: 2,
            project_id: ProjectId::new(),
            run_id: RunId::new(),
        }
    }

    #[test]
    fn an_idea_starts_with_thinking_and_no_idea_with_the_greeting() {
        let event = EventId::new();
        let with = Conversation::new(ids(), Some(("a bot".into(), event)));
        assert_eq!(with.next, Next::Think);
        assert!(with.has_applied(event));
        let without = Conversation::new(ids(), None);
        assert!(matches!(without.next, Next::Ask { .. }));
        assert!(without.turns.is_empty());
    }

    #[test]
    fn the_reducer_keeps_the_idea_and_bounds_turns_and_events() {
        let mut state = Conversation::new(ids(), Some(("idea".into(), EventId::new())));
        for n in 0..100 {
            state.apply(ConversationUpdate {
                turns: vec![Turn::Question {
                    text: format!("q{n}"),
                }],
                asked: true,
                applied: Some(EventId::new()),
                ..ConversationUpdate::default()
            });
        }
        assert_eq!(state.turns.len(), MAX_TURNS);
        assert_eq!(
            state.turns[0],
            Turn::Person {
                text: "idea".into()
            }
        );
        assert_eq!(
            state.turns[MAX_TURNS - 1],
            Turn::Question { text: "q99".into() }
        );
        assert_eq!(state.questions, 100);
        assert_eq!(state.applied.len(), MAX_APPLIED);
    }

    #[test]
    fn updates_round_trip_through_json_as_checkpoints_store_them() {
        let update = ConversationUpdate {
            next: Some(Next::Approve {
                callback_query_id: "cb".into(),
            }),
            applied: Some(EventId::new()),
            ..ConversationUpdate::default()
        };
        let json = serde_json::to_value(&update).expect("serializes");
        let back: ConversationUpdate = serde_json::from_value(json).expect("parses");
        assert_eq!(back.next, update.next);
        assert_eq!(back.applied, update.applied);
    }
}
