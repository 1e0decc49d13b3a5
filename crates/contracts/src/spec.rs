//! `project_spec`: what a person approved — the contract between the conversation and the factory.
//!
//! The brainstorm agent produces it as JSON matching [`ProjectSpec::json_schema`]; it is validated before the
//! person sees it and stored with the project when they approve it. Version 1 is documented in
//! `docs/project-spec.md`; `docs/project-spec.schema.json` is the generated schema (a test keeps it current).
//! A spec names the secrets a project will need, never their values: values are given later, in chat, and
//! stored encrypted by zavhoz.

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::validate::Violations;

/// The schema version this build writes and reads.
pub const SPEC_SCHEMA_VERSION: u16 = 1;

/// An approved (or proposed) project specification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectSpec {
    /// Always 1 for this version of the schema.
    pub schema_version: u16,
    /// Short name, also the repository name: lower-case letters, digits and dashes, at most 63 characters.
    pub name: String,
    /// One paragraph: what it is and for whom.
    pub summary: String,
    /// The parts of the system (at least one), e.g. "bot" or "scheduler".
    pub modules: Vec<Module>,
    /// What it does (at least one).
    pub features: Vec<Feature>,
    /// Observable checks that tell whether it works (at least one).
    pub acceptance_criteria: Vec<String>,
    /// Third-party APIs it calls.
    #[serde(default)]
    pub external_apis: Vec<ExternalApi>,
    /// Secrets it will need at run time (names only).
    #[serde(default)]
    pub secrets: Vec<SecretRequirement>,
    /// Where and how it runs.
    pub deploy_target: DeployTarget,
}

/// One part of the system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Module {
    /// Name (lower-case, dashes).
    pub name: String,
    /// What it is responsible for.
    pub purpose: String,
}

/// How much a feature matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Required for the first version.
    Must,
    /// Wanted, can slip.
    Should,
    /// Nice to have.
    Could,
}

/// One thing the project does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    /// Stable identifier, e.g. `forecast-command`.
    pub id: String,
    /// One line.
    pub title: String,
    /// What exactly it does.
    pub description: String,
    /// How much it matters.
    pub priority: Priority,
}

/// A third-party API the project calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalApi {
    /// Its name, e.g. "OpenWeatherMap".
    pub name: String,
    /// What the project uses it for.
    pub purpose: String,
    /// Its documentation, when known.
    #[serde(default)]
    pub docs_url: Option<String>,
}

/// Who supplies a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SecretSource {
    /// The person gives it in chat (e.g. their own bot token or API key).
    User,
    /// The platform provides it (e.g. a database password it generates).
    Platform,
}

/// A secret the project needs, by name only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRequirement {
    /// The environment variable it is injected as, e.g. `TELEGRAM_BOT_TOKEN`.
    pub name: String,
    /// What it is for.
    pub purpose: String,
    /// Who supplies it.
    pub source: SecretSource,
}

/// The kind of thing being deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeployKind {
    /// A Telegram bot (long polling or webhook).
    TelegramBot,
    /// An HTTP service or website.
    WebService,
    /// A background worker or scheduled job.
    Worker,
    /// A command-line tool (built, not deployed).
    Cli,
    /// A library (published, not deployed).
    Library,
}

/// Where and how it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployTarget {
    /// What is deployed.
    pub kind: DeployKind,
    /// Whether it needs a public address (a domain and TLS).
    pub public: bool,
    /// A wished-for subdomain (e.g. `weather`), when public.
    #[serde(default)]
    pub subdomain: Option<String>,
}

impl ProjectSpec {
    /// Returns the JSON Schema of the spec, to give the model that writes one.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(ProjectSpec)).unwrap_or_default()
    }

    /// Checks every rule; returns all the violations at once.
    pub fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::new();
        v.check(self.schema_version == SPEC_SCHEMA_VERSION, || {
            format!("schema_version must be {SPEC_SCHEMA_VERSION}")
        });
        v.check(is_repo_name(&self.name), || {
            format!(
                "name `{}` must be lower-case letters, digits and dashes (1..=63)",
                self.name
            )
        });
        v.text("summary", &self.summary, 2000);
        v.check(!self.modules.is_empty(), || "at least one module".into());
        for m in &self.modules {
            v.check(is_repo_name(&m.name), || {
                format!(
                    "module name `{}` must be lower-case letters, digits and dashes",
                    m.name
                )
            });
            v.text("module purpose", &m.purpose, 500);
        }
        self.check_features(&mut v);
        v.check(!self.acceptance_criteria.is_empty(), || {
            "at least one acceptance criterion".into()
        });
        for c in &self.acceptance_criteria {
            v.text("acceptance criterion", c, 500);
        }
        for api in &self.external_apis {
            v.text("external api name", &api.name, 100).text(
                "external api purpose",
                &api.purpose,
                500,
            );
        }
        self.check_secrets(&mut v);
        if let Some(sub) = &self.deploy_target.subdomain {
            v.check(is_repo_name(sub), || {
                format!("subdomain `{sub}` must be lower-case letters, digits and dashes")
            });
        }
        v.into_result()
    }

    fn check_features(&self, v: &mut Violations) {
        v.check(!self.features.is_empty(), || "at least one feature".into());
        let mut ids = HashSet::new();
        for f in &self.features {
            v.check(is_repo_name(&f.id), || {
                format!(
                    "feature id `{}` must be lower-case letters, digits and dashes",
                    f.id
                )
            });
            v.check(ids.insert(&f.id), || {
                format!("feature id `{}` is used twice", f.id)
            });
            v.text("feature title", &f.title, 200).text(
                "feature description",
                &f.description,
                2000,
            );
        }
    }

    fn check_secrets(&self, v: &mut Violations) {
        let mut names = HashSet::new();
        for s in &self.secrets {
            let env_like = s
                .name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase())
                && s.name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            v.check(env_like, || {
                format!(
                    "secret `{}` must be an environment variable name like API_KEY",
                    s.name
                )
            });
            v.check(names.insert(&s.name), || {
                format!("secret `{}` is listed twice", s.name)
            });
            v.text("secret purpose", &s.purpose, 500);
        }
    }
}

pub(crate) fn is_repo_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}
