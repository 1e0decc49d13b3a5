//! The files a new repository starts with, derived only from the spec and the plan (so a retry produces the
//! same bytes and, committed with the same dates, the same commit).
//!
//! - `README.md`: what the project is, its features, acceptance criteria and layout.
//! - `AGENTS.md`: how coding agents work here (one task per branch, tests, no secrets).
//! - `Makefile`: a `test` target — the worker runs `make test` after the agent — that runs the language's
//!   tests once there are any.
//! - `.github/workflows/ci.yml`: CI running the same `make test`.
//! - `.gitignore` for the language.

use std::fmt::Write as _;

use orch_contracts::plan::BuildPlan;
use orch_contracts::spec::{Priority, ProjectSpec};

/// One file of the scaffold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaffoldFile {
    /// Path relative to the repository root.
    pub path: &'static str,
    /// Content.
    pub content: String,
}

/// Returns the scaffold of `plan`'s repository, in a fixed order.
pub fn scaffold_files(spec: &ProjectSpec, plan: &BuildPlan) -> Vec<ScaffoldFile> {
    let stack = Stack::from_language(&plan.repository.language);
    vec![
        file("README.md", readme(spec, plan)),
        file("AGENTS.md", agents(plan, stack)),
        file("Makefile", makefile(stack)),
        file(".github/workflows/ci.yml", ci_workflow()),
        file(".gitignore", stack.gitignore().to_owned()),
    ]
}

fn file(path: &'static str, content: String) -> ScaffoldFile {
    ScaffoldFile { path, content }
}

/// The language families the scaffold knows; anything else gets a neutral scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stack {
    Python,
    Rust,
    Node,
    Go,
    Other,
}

impl Stack {
    fn from_language(language: &str) -> Self {
        let language = language.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| language.contains(w));
        if has(&["python"]) {
            Self::Python
        } else if has(&["rust"]) {
            Self::Rust
        } else if has(&["typescript", "javascript", "node"]) {
            Self::Node
        } else if language == "go" || has(&["golang"]) {
            Self::Go
        } else {
            Self::Other
        }
    }

    /// The `make test` recipe: runs the tests once there are any, so an empty repository passes.
    fn test_recipe(self) -> &'static str {
        match self {
            Self::Python => {
                "\tif ls tests/test_*.py >/dev/null 2>&1; then python3 -m pytest -q; else echo \"no tests yet\"; fi"
            }
            Self::Rust => {
                "\tif [ -f Cargo.toml ]; then cargo test --quiet; else echo \"no crate yet\"; fi"
            }
            Self::Node => {
                "\tif [ -f package.json ]; then npm test --silent; else echo \"no package yet\"; fi"
            }
            Self::Go => "\tif [ -f go.mod ]; then go test ./...; else echo \"no module yet\"; fi",
            Self::Other => {
                "\tif [ -x tests/run.sh ]; then tests/run.sh; else echo \"no tests yet\"; fi"
            }
        }
    }

    fn test_hint(self) -> &'static str {
        match self {
            Self::Python => "pytest files named `tests/test_*.py`",
            Self::Rust => {
                "`cargo test` (unit tests next to the code, integration tests in `tests/`)"
            }
            Self::Node => "an `npm test` script in package.json",
            Self::Go => "`go test ./...`",
            Self::Other => "an executable `tests/run.sh` that exits non-zero on failure",
        }
    }

    fn gitignore(self) -> &'static str {
        match self {
            Self::Python => "__pycache__/\n*.pyc\n.venv/\n.env\n",
            Self::Rust => "/target\n.env\n",
            Self::Node => "node_modules/\ndist/\n.env\n",
            Self::Go => "/bin\n.env\n",
            Self::Other => ".env\n",
        }
    }
}

fn readme(spec: &ProjectSpec, plan: &BuildPlan) -> String {
    let mut text = format!("# {}\n\n{}\n\n## Features\n\n", spec.name, spec.summary);
    for feature in &spec.features {
        let priority = match feature.priority {
            Priority::Must => "must",
            Priority::Should => "should",
            Priority::Could => "could",
        };
        let _ = writeln!(
            text,
            "- **{}** ({priority}): {}",
            feature.title, feature.description
        );
    }
    text.push_str("\n## Done when\n\n");
    for criterion in &spec.acceptance_criteria {
        let _ = writeln!(text, "- {criterion}");
    }
    text.push_str("\n## Layout\n\n");
    for entry in &plan.repository.layout {
        let _ = writeln!(text, "- `{}`: {}", entry.path, entry.purpose);
    }
    if !spec.secrets.is_empty() {
        text.push_str("\n## Configuration\n\nRead from the environment (never committed):\n\n");
        for secret in &spec.secrets {
            let _ = writeln!(text, "- `{}`: {}", secret.name, secret.purpose);
        }
    }
    text.push_str("\nRun the tests with `make test`.\n\n_Built by codegen-orchestrator._\n");
    text
}

fn agents(plan: &BuildPlan, stack: Stack) -> String {
    let mut text = format!(
        "# Working in {name}\n\n\
         You are a coding agent working on one task of this repository. The task is in `TASK.md`.\n\n\
         - Work only on your task, on the branch you were given; keep to the layout below.\n\
         - Write tests for what you build: {hint}. `make test` must pass before you finish.\n\
         - Small, focused commits with clear messages.\n\
         - Never commit secrets or `.env` files. Code reads its secrets from environment variables.\n\
         - Do not edit `AGENTS.md`, the `Makefile` test target or the CI workflow unless the task says so.\n\n\
         ## Layout\n\n",
        name = plan.repository.name,
        hint = stack.test_hint()
    );
    for entry in &plan.repository.layout {
        let _ = writeln!(text, "- `{}`: {}", entry.path, entry.purpose);
    }
    text
}

fn makefile(stack: Stack) -> String {
    format!(
        ".PHONY: test\n\n# The coding workers and CI run this target.\ntest:\n{}\n",
        stack.test_recipe()
    )
}

fn ci_workflow() -> String {
    "name: ci\n\
     on:\n  push:\n    branches: [main]\n  pull_request:\n\
     jobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n\
     \x20     - uses: actions/checkout@v4\n\
     \x20     - run: make test\n"
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_are_recognised_and_unknown_ones_get_a_neutral_scaffold() {
        assert_eq!(Stack::from_language("Python 3.12"), Stack::Python);
        assert_eq!(Stack::from_language("TypeScript"), Stack::Node);
        assert_eq!(Stack::from_language("go"), Stack::Go);
        assert_eq!(Stack::from_language("cobol"), Stack::Other);
    }

    #[test]
    fn every_makefile_has_a_tab_indented_test_recipe() {
        for stack in [
            Stack::Python,
            Stack::Rust,
            Stack::Node,
            Stack::Go,
            Stack::Other,
        ] {
            let text = makefile(stack);
            assert!(text.contains("\ntest:\n\t"), "{text}");
        }
    }

    #[test]
    fn the_workflow_is_yaml_with_two_space_indents() {
        let text = ci_workflow();
        assert!(
            text.contains("\n      - uses: actions/checkout@v4\n"),
            "{text}"
        );
        assert!(text.contains("\n      - run: make test\n"), "{text}");
    }
}
