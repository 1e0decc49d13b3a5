//! Repository setup against the GitHub simulator on real git: scaffold on `main`, the same commit on every
//! retry, an existing `main` adopted and never overwritten, clear errors without the token.

use chrono::{DateTime, Utc};
use orch_factory::{GitCredentials, RepositoryError, ensure_repository, scaffold_files};
use orch_github::NewRepository;
use secrecy::SecretString;

use crate::support::{ALICE, github, github_sim, plan, spec};

fn credentials(token: &str) -> GitCredentials {
    GitCredentials {
        token: SecretString::from(token.to_owned()),
    }
}

fn approved_at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T07:00:00Z")
        .expect("date")
        .to_utc()
}

fn git_show(bare: &std::path::Path, what: &str) -> String {
    let out = std::process::Command::new("git")
        .args(["--git-dir", &bare.to_string_lossy(), "show", what])
        .output()
        .expect("git show");
    assert!(out.status.success(), "git show {what}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_scaffold_lands_on_main_once_and_retries_return_the_same_commit() {
    let sim = github_sim().await;
    let gh = github(&sim).await;
    let (spec, plan) = (spec(), plan("weather-bot"));
    let first = ensure_repository(&gh, &credentials(ALICE), &spec, &plan, approved_at())
        .await
        .expect("repository");
    assert!(first.pushed_scaffold);
    assert_eq!(
        (first.owner.as_str(), first.name.as_str()),
        ("acme", "weather-bot")
    );
    let on_host = sim
        .branch_sha("acme", "weather-bot", "main")
        .await
        .expect("read branch");
    assert_eq!(on_host.as_deref(), Some(first.main_sha.as_str()));
    let bare = sim
        .repo_path("acme", "weather-bot")
        .expect("bare repository");
    for file in scaffold_files(&spec, &plan) {
        assert_eq!(
            git_show(&bare, &format!("main:{}", file.path)),
            file.content,
            "{}",
            file.path
        );
    }
    assert!(git_show(&bare, "main:AGENTS.md").contains("TASK.md"));

    // A retry (say, after a crash between push and checkpoint) adopts what is there.
    let again = ensure_repository(&gh, &credentials(ALICE), &spec, &plan, approved_at())
        .await
        .expect("retry");
    assert_eq!(again.main_sha, first.main_sha);
    assert!(!again.pushed_scaffold);
    assert_eq!(sim.repos().len(), 1, "no second repository");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_same_inputs_build_the_same_commit_on_another_host() {
    let (spec, plan) = (spec(), plan("weather-bot"));
    let mut shas = Vec::new();
    for _ in 0..2 {
        let sim = github_sim().await;
        let gh = github(&sim).await;
        let setup = ensure_repository(&gh, &credentials(ALICE), &spec, &plan, approved_at())
            .await
            .expect("repository");
        shas.push(setup.main_sha);
        sim.shutdown().await;
    }
    assert_eq!(shas[0], shas[1], "deterministic scaffold commit");
}

#[tokio::test]
async fn an_existing_main_is_adopted_and_not_overwritten() {
    let sim = github_sim().await;
    let gh = github(&sim).await;
    gh.create_repository(&NewRepository {
        name: "weather-bot".to_owned(),
        description: None,
        private: true,
        auto_init: true,
    })
    .await
    .expect("pre-existing repository");
    let before = sim
        .branch_sha("acme", "weather-bot", "main")
        .await
        .expect("branch")
        .expect("main exists");
    let setup = ensure_repository(
        &gh,
        &credentials(ALICE),
        &spec(),
        &plan("weather-bot"),
        approved_at(),
    )
    .await
    .expect("adopted");
    assert_eq!(setup.main_sha, before);
    assert!(!setup.pushed_scaffold);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_push_refused_for_a_bad_token_fails_clearly_without_the_token() {
    let sim = github_sim().await;
    let gh = github(&sim).await;
    let bad = "ghp_not_a_real_token_123";
    let err = ensure_repository(
        &gh,
        &credentials(bad),
        &spec(),
        &plan("weather-bot"),
        approved_at(),
    )
    .await
    .expect_err("push refused");
    assert!(
        matches!(err, RepositoryError::Git { step: "push", .. }),
        "{err:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(!text.contains(bad), "the token leaked: {text}");
    assert_eq!(
        sim.branch_sha("acme", "weather-bot", "main")
            .await
            .expect("branch"),
        None,
        "nothing pushed"
    );
    sim.shutdown().await;
}
