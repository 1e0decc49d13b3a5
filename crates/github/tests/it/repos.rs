//! Repositories are created idempotently; branches are read.

use orch_github::{Github, NewRepository};

use crate::support::{self, ALICE, BOB};

fn new_repo(name: &str) -> NewRepository {
    NewRepository {
        name: name.into(),
        description: None,
        private: false,
        auto_init: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_twice_returns_the_same_repository() {
    let sim = support::sim().await;
    let gh = Github::connect(&support::token_config(&sim, BOB, Some("acme")))
        .await
        .expect("bob connects");
    let first = gh
        .create_repository(&new_repo("api"))
        .await
        .expect("created");
    let again = gh
        .create_repository(&new_repo("api"))
        .await
        .expect("existing one");
    assert_eq!(first.id, again.id);
    assert_eq!(sim.repos().len(), 1, "one repository on the host");
    assert_eq!(sim.count_requests("POST", "/orgs/acme/repos"), 2);

    let mine = support::token_client(&sim, ALICE).await;
    let user_repo = mine
        .create_repository(&new_repo("api"))
        .await
        .expect("user repo");
    assert_eq!(user_repo.owner.login, "alice");
    assert_ne!(
        user_repo.id, first.id,
        "a user repository of the same name is another repository"
    );
    assert_eq!(sim.count_requests("POST", "/user/repos"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_reads_its_head_or_none() {
    let sim = support::sim().await;
    let repo = support::Repo::create(&sim, "web").await;
    let head = repo.push("main", "feature/x", "a.txt", "a\n").await;
    let gh = support::token_client(&sim, BOB).await;
    let branch = gh.branch("acme", "web", "feature/x").await.expect("read");
    assert_eq!(branch.map(|b| b.sha), Some(head));
    assert_eq!(gh.branch("acme", "web", "nope").await.expect("read"), None);
    let main = gh.repository("acme", "web").await.expect("repo");
    assert_eq!(main.default_branch.as_deref(), Some("main"));
}
