//! Personal tokens and GitHub App installations.

use orch_github::{Github, GithubError, NewRepository};
use secrecy::SecretString;

use crate::support::{self, ALICE, INSTALLATION};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_acts_as_its_user() {
    let sim = support::sim().await;
    let gh = support::token_client(&sim, ALICE).await;
    let me = gh.identity();
    assert_eq!(
        (me.login.as_str(), me.owner.as_str(), me.owner_is_org),
        ("alice", "alice", false)
    );
    assert_eq!(sim.count_requests("GET", "/user"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_finds_its_installation_and_org() {
    let sim = support::sim().await;
    let gh = Github::connect(&support::app_config(&sim, None))
        .await
        .expect("app connects");
    let me = gh.identity();
    assert_eq!(
        (me.login.as_str(), me.owner.as_str(), me.owner_is_org),
        ("sim-app[bot]", "acme", true)
    );

    let repo = gh
        .create_repository(&NewRepository {
            name: "factory".into(),
            description: Some("made by the app".into()),
            private: true,
            auto_init: true,
        })
        .await
        .expect("org repository through the installation token");
    assert_eq!((repo.owner.login.as_str(), repo.private), ("acme", true));
    assert_eq!(sim.count_requests("POST", "/orgs/acme/repos"), 1);
    let minted = format!("/app/installations/{INSTALLATION}/access_tokens");
    assert_eq!(sim.count_requests("POST", &minted), 1);
    let actors: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == "/orgs/acme/repos")
        .filter_map(|r| r.actor)
        .collect();
    assert_eq!(actors, ["sim-app[bot]"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_unauthorized_and_never_echoed() {
    let sim = support::sim().await;
    let err = Github::connect(&support::token_config(&sim, "ghp_wrong_secret_value", None))
        .await
        .expect_err("wrong token");
    assert!(matches!(err, GithubError::Unauthorized { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("ghp_wrong_secret_value"));

    let unknown = Github::connect(&support::app_config(&sim, Some(99)))
        .await
        .expect_err("no such installation");
    assert!(
        matches!(unknown, GithubError::NotFound { .. }),
        "{unknown:?}"
    );

    let mut garbage = support::app_config(&sim, None);
    if let orch_github::GithubAuth::App {
        private_key_pem, ..
    } = &mut garbage.auth
    {
        *private_key_pem = SecretString::from("not a key".to_owned());
    }
    let err = Github::connect(&garbage).await.expect_err("bad key");
    assert!(matches!(err, GithubError::Config { .. }), "{err:?}");
}
