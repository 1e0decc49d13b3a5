//! `build_plan`: how the architect turns an approved spec into a repository and a set of coding tasks.
//!
//! The architect model writes it as JSON matching [`BuildPlan::json_schema`]; it is validated before anything
//! is created. Tasks name the tasks they depend on; [`BuildPlan::waves`] orders them into waves whose tasks
//! can run in parallel, and validation rejects unknown dependencies and cycles, so every valid plan can be
//! carried out to the end.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::spec::is_repo_name;
use crate::validate::Violations;

/// The schema version this build writes and reads.
pub const PLAN_SCHEMA_VERSION: u16 = 1;
/// Most tasks one plan may hold: more would be a different project, not a plan.
pub const MAX_TASKS: usize = 24;
/// Longest task body, in bytes (the task is what a coding agent reads first).
pub const MAX_TASK_BODY: usize = 8_000;

/// A repository layout and the tasks that build the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildPlan {
    /// Always 1 for this version of the schema.
    pub schema_version: u16,
    /// The repository to create.
    pub repository: RepositoryPlan,
    /// The coding tasks (1 to 24), each done by one worker on its own branch and merged by pull request.
    pub tasks: Vec<PlannedTask>,
}

/// The repository the project lives in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepositoryPlan {
    /// Repository name: lower-case letters, digits and dashes, at most 63 characters.
    pub name: String,
    /// One line for the repository's description.
    pub description: String,
    /// The main language or stack, e.g. "python" or "rust".
    pub language: String,
    /// Top-level paths and what goes in them (at least one).
    pub layout: Vec<LayoutEntry>,
}

/// One top-level path of the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutEntry {
    /// A relative path, e.g. `bot/` or `tests/`.
    pub path: String,
    /// What goes there.
    pub purpose: String,
}

/// One coding task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannedTask {
    /// Stable key, also the branch suffix: lower-case letters, digits and dashes.
    pub key: String,
    /// One line, used as the pull request title.
    pub title: String,
    /// What to do and how to tell it is done: the coding agent's instructions.
    pub body: String,
    /// Keys of the tasks that must be merged before this one starts.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

impl BuildPlan {
    /// Returns the JSON Schema of the plan, to give the model that writes one.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(BuildPlan)).unwrap_or_default()
    }

    /// Checks everything the factory relies on: names, sizes, unique keys, known dependencies, no cycles.
    pub fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::new();
        v.check(self.schema_version == PLAN_SCHEMA_VERSION, || {
            format!("schema_version must be {PLAN_SCHEMA_VERSION}")
        });
        self.repository.check(&mut v);
        self.check_tasks(&mut v);
        if v.is_empty() && self.waves().is_none() {
            v.push("the tasks' dependencies form a cycle");
        }
        v.into_result()
    }

    fn check_tasks(&self, v: &mut Violations) {
        v.check((1..=MAX_TASKS).contains(&self.tasks.len()), || {
            format!("between 1 and {MAX_TASKS} tasks (got {})", self.tasks.len())
        });
        let keys: HashSet<&str> = self.tasks.iter().map(|t| t.key.as_str()).collect();
        v.check(keys.len() == self.tasks.len(), || {
            "task keys must be unique".into()
        });
        for task in &self.tasks {
            v.check(is_repo_name(&task.key) && task.key.len() <= 40, || {
                format!(
                    "task key `{}` must be lower-case letters, digits and dashes (1..=40)",
                    task.key
                )
            });
            v.text("task title", &task.title, 200)
                .text("task body", &task.body, MAX_TASK_BODY);
            for dep in &task.depends_on {
                v.check(keys.contains(dep.as_str()), || {
                    format!("task `{}` depends on unknown task `{dep}`", task.key)
                });
                v.check(dep != &task.key, || {
                    format!("task `{}` depends on itself", task.key)
                });
            }
        }
    }

    /// Orders the tasks into waves: every task's dependencies are in earlier waves, and the tasks of one
    /// wave can run in parallel. Keys keep the plan's order within a wave. `None` when the dependencies form a
    /// cycle or name an unknown task.
    pub fn waves(&self) -> Option<Vec<Vec<&PlannedTask>>> {
        let known: HashSet<&str> = self.tasks.iter().map(|t| t.key.as_str()).collect();
        let mut waiting: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
        for (index, task) in self.tasks.iter().enumerate() {
            let deps: BTreeSet<&str> = task.depends_on.iter().map(String::as_str).collect();
            if !deps.iter().all(|d| known.contains(d)) {
                return None;
            }
            waiting.insert(index, deps);
        }
        let mut done: HashSet<&str> = HashSet::new();
        let mut waves = Vec::new();
        while !waiting.is_empty() {
            let ready: Vec<usize> = waiting
                .iter()
                .filter(|(_, deps)| deps.iter().all(|d| done.contains(d)))
                .map(|(index, _)| *index)
                .collect();
            if ready.is_empty() {
                return None;
            }
            for index in &ready {
                waiting.remove(index);
            }
            let wave: Vec<&PlannedTask> = ready.iter().map(|i| &self.tasks[*i]).collect();
            done.extend(wave.iter().map(|t| t.key.as_str()));
            waves.push(wave);
        }
        Some(waves)
    }
}

impl RepositoryPlan {
    fn check(&self, v: &mut Violations) {
        v.check(is_repo_name(&self.name), || {
            format!(
                "repository name `{}` must be lower-case letters, digits and dashes (1..=63)",
                self.name
            )
        });
        v.text("repository description", &self.description, 300)
            .text("repository language", &self.language, 50);
        v.check(!self.layout.is_empty(), || {
            "the layout names at least one path".into()
        });
        for entry in &self.layout {
            v.check(is_relative_path(&entry.path), || {
                format!(
                    "layout path `{}` must be relative, without `..`",
                    entry.path
                )
            });
            v.text("layout purpose", &entry.purpose, 300);
        }
    }
}

fn is_relative_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 200
        && !path.starts_with('/')
        && !path.contains('\\')
        && path.split('/').all(|part| part != "..")
}
