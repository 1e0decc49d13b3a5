//! The GitHub simulator driven by the real clients: octocrab and the `git` binary.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use octocrab::models::pulls::{MergeableState, ReviewAction, ReviewState};
use octocrab::models::{AppId, InstallationId, IssueState};
use octocrab::params::pulls::MergeMethod;
use octocrab::params::repos::Reference;
use octocrab::secrecy::ExposeSecret;
use octocrab::{EncodingKey, Octocrab};
use orch_testkit::github::{AppConfig, Fault, GithubSim, GithubSimConfig};
use serde_json::{Value, json};
use tempfile::TempDir;

const ALICE: &str = "ghp_alice_token";
const BOB: &str = "ghp_bob_token";
const MALLORY: &str = "ghp_mallory_token";

/// A fresh 2048-bit RSA private key (PEM) from the `openssl` CLI; keys are never committed.
fn new_rsa_key() -> String {
    let out = std::process::Command::new("openssl")
        .args(["genrsa", "2048"])
        .output()
        .expect("the openssl CLI generates test RSA keys");
    assert!(out.status.success(), "openssl genrsa failed");
    String::from_utf8(out.stdout).expect("PEM is UTF-8")
}

fn app_key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(new_rsa_key)
}

/// alice and bob are members of org `acme`; mallory is not. App 42 is installed on `acme` as 7.
fn config() -> GithubSimConfig {
    GithubSimConfig::default()
        .with_token("alice", ALICE)
        .with_token("bob", BOB)
        .with_token("mallory", MALLORY)
        .with_org_member("acme", "alice")
        .with_org_member("acme", "bob")
        .with_app(AppConfig::new(42, app_key()).with_installation(7, "acme"))
}

async fn start(cfg: GithubSimConfig) -> GithubSim {
    GithubSim::start(cfg).await.expect("simulator starts")
}

fn client(sim: &GithubSim, token: &str) -> Octocrab {
    Octocrab::builder()
        .base_uri(sim.api_url())
        .expect("base uri")
        .personal_token(token.to_owned())
        .build()
        .expect("octocrab client")
}

fn app_client(sim: &GithubSim, id: u64, pem: &str) -> Octocrab {
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("RSA key");
    Octocrab::builder()
        .base_uri(sim.api_url())
        .expect("base uri")
        .app(AppId(id), key)
        .build()
        .expect("app client")
}

/// The GitHub error inside an octocrab error: (status, message, errors).
fn gh_error(err: octocrab::Error) -> (u16, String, Vec<Value>) {
    match err {
        octocrab::Error::GitHub { source, .. } => (
            source.status_code.as_u16(),
            source.message,
            source.errors.unwrap_or_default(),
        ),
        other => panic!("expected a GitHub error, got {other:?}"),
    }
}

async fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .output()
        .await
        .expect("git runs")
}

async fn git_ok(dir: &Path, args: &[&str]) -> String {
    let out = git(dir, args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "git {args:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Clones `url` into a new directory under `tmp` and returns the work tree.
async fn clone(tmp: &TempDir, url: &str, name: &str) -> PathBuf {
    git_ok(tmp.path(), &["clone", "--quiet", url, name]).await;
    tmp.path().join(name)
}

/// Writes a file on a new branch off `from`, commits and pushes it.
async fn push_branch(work: &Path, from: &str, branch: &str, file: &str, content: &str) -> String {
    git_ok(
        work,
        &[
            "checkout",
            "--quiet",
            "-B",
            branch,
            &format!("origin/{from}"),
        ],
    )
    .await;
    std::fs::write(work.join(file), content).expect("write file");
    git_ok(work, &["add", file]).await;
    git_ok(
        work,
        &[
            "commit",
            "--quiet",
            "-m",
            &format!("change {file} on {branch}"),
        ],
    )
    .await;
    git_ok(work, &["push", "--quiet", "origin", branch]).await;
    git_ok(work, &["rev-parse", "HEAD"]).await
}

/// An org repository `acme/<name>` with a README on `main`, cloned with alice's token.
async fn org_repo(sim: &GithubSim, tmp: &TempDir, name: &str) -> PathBuf {
    client(sim, ALICE)
        .orgs("acme")
        .create_repo(name)
        .private(true)
        .auto_init(true)
        .send()
        .await
        .expect("repo");
    clone(tmp, &sim.git_url_with_token("acme", name, ALICE), name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_jwt_installation_token_creates_org_repo() {
    let sim = start(config()).await;
    let app = app_client(&sim, 42, app_key());
    assert_eq!(app.current().app().await.expect("GET /app").id, AppId(42));
    let installs = app
        .apps()
        .installations()
        .send()
        .await
        .expect("installations");
    assert_eq!(installs.items[0].account.login, "acme");

    let (inst, token) = app
        .installation_and_token(InstallationId(7))
        .await
        .expect("installation token");
    assert!(token.expose_secret().starts_with("ghs_"));
    let repo = inst
        .orgs("acme")
        .create_repo("app")
        .private(true)
        .auto_init(true)
        .send()
        .await
        .expect("org repo");
    assert_eq!((repo.name.as_str(), repo.private), ("app", Some(true)));
    assert!(
        sim.branch_sha("acme", "app", "main")
            .await
            .expect("git")
            .is_some()
    );

    let listed: Value = inst
        .get("/installation/repositories", None::<&()>)
        .await
        .expect("installation repos");
    assert_eq!(listed["total_count"], 1);
    let (status, message, _) = gh_error(
        inst.current()
            .create_repo("mine")
            .send()
            .await
            .expect_err("403"),
    );
    assert_eq!(
        (status, message.as_str()),
        (403, "Resource not accessible by integration")
    );

    let tmp = TempDir::new().expect("tmp");
    let work = clone(
        &tmp,
        &sim.git_url_with_token("acme", "app", token.expose_secret()),
        "app",
    )
    .await;
    assert!(work.join("README.md").exists());
    assert_eq!(sim.count_requests("POST", "/orgs/acme/repos"), 1);
    assert_eq!(
        sim.count_requests("POST", "/app/installations/7/access_tokens"),
        1
    );
    assert_eq!(sim.repos().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_jwts_and_expired_installation_tokens_are_rejected() {
    let sim = start(config().with_installation_token_ttl(Duration::from_secs(1))).await;
    let wrong_key = app_client(&sim, 42, &new_rsa_key());
    let (status, message, _) = gh_error(
        wrong_key
            .installation_and_token(InstallationId(7))
            .await
            .expect_err("bad signature"),
    );
    assert_eq!(
        (status, message.as_str()),
        (401, "A JSON web token could not be decoded")
    );
    let wrong_id = app_client(&sim, 43, app_key());
    assert_eq!(
        gh_error(wrong_id.current().app().await.expect_err("bad iss")).1,
        "Integration not found"
    );

    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": 42, "iat": now - 60, "exp": now + 3600});
    let key = EncodingKey::from_rsa_pem(app_key().as_bytes()).expect("key");
    let jwt = octocrab::jsonwebtoken::encode(
        &octocrab::jsonwebtoken::Header::new(octocrab::jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .expect("jwt");
    let resp = reqwest::Client::new()
        .get(format!("{}/app", sim.api_url()))
        .bearer_auth(jwt)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body["message"],
        "'Expiration time' claim ('exp') is too far in the future"
    );

    let app = app_client(&sim, 42, app_key());
    let (_, token) = app
        .installation_and_token(InstallationId(7))
        .await
        .expect("token");
    client(&sim, ALICE)
        .orgs("acme")
        .create_repo("svc")
        .send()
        .await
        .expect("repo");
    let inst = client(&sim, token.expose_secret());
    inst.repos("acme", "svc")
        .get()
        .await
        .expect("fresh token works");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, message, _) =
        gh_error(inst.repos("acme", "svc").get().await.expect_err("expired"));
    assert_eq!((status, message.as_str()), (401, "Bad credentials"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_token_creates_user_repo_once_and_wrong_token_is_401() {
    let sim = start(config()).await;
    let alice = client(&sim, ALICE);
    let repo = alice
        .current()
        .create_repo("tools")
        .auto_init(true)
        .send()
        .await
        .expect("user repo");
    assert_eq!(repo.full_name.as_deref(), Some("alice/tools"));
    let (status, message, errors) = gh_error(
        alice
            .current()
            .create_repo("tools")
            .send()
            .await
            .expect_err("duplicate"),
    );
    assert_eq!(
        (status, message.as_str()),
        (422, "Repository creation failed.")
    );
    assert_eq!(errors[0]["message"], "name already exists on this account");
    assert_eq!(sim.count_requests("POST", "/user/repos"), 2);
    assert_eq!(sim.repos().iter().filter(|r| r.name == "tools").count(), 1);

    let (status, message, _) = gh_error(
        client(&sim, "ghp_wrong")
            .repos("alice", "tools")
            .get()
            .await
            .expect_err("401"),
    );
    assert_eq!((status, message.as_str()), (401, "Bad credentials"));
    let (status, _, _) = gh_error(
        client(&sim, MALLORY)
            .orgs("acme")
            .create_repo("x")
            .send()
            .await
            .expect_err("not a member"),
    );
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(deprecated)] // `pull_number(..).reviews().create_review(..)` is octocrab's only typed review call
async fn push_pull_request_review_comment_and_squash_merge() {
    let sim = start(config()).await;
    let tmp = TempDir::new().expect("tmp");
    let work = org_repo(&sim, &tmp, "web").await;
    let head = push_branch(&work, "main", "feature", "hello.txt", "hello\nworld\n").await;
    push_branch(&work, "main", "other", "other.txt", "other\n").await;
    let (alice, bob) = (client(&sim, ALICE), client(&sim, BOB));

    let branches = alice
        .repos("acme", "web")
        .list_branches()
        .send()
        .await
        .expect("branches");
    assert_eq!(
        branches
            .items
            .iter()
            .map(|b| b.name.as_str())
            .collect::<Vec<_>>(),
        ["feature", "main", "other"]
    );
    let git_ref = alice
        .repos("acme", "web")
        .get_ref(&Reference::Branch("feature".into()))
        .await
        .expect("ref");
    assert!(
        format!("{:?}", git_ref.object).contains(&head),
        "ref points at the pushed commit"
    );
    let commit = alice
        .commits("acme", "web")
        .get(&head)
        .await
        .expect("commit");
    assert_eq!(commit.commit.message, "change hello.txt on feature");

    let pulls = alice.pulls("acme", "web");
    let pr = pulls
        .create("Add greeting", "feature", "main")
        .body("Says hello")
        .send()
        .await
        .expect("create PR");
    assert_eq!((pr.number, pr.head.sha.as_str()), (1, head.as_str()));
    assert!(
        pulls
            .get_diff(1)
            .await
            .expect("diff")
            .contains("+hello\n+world")
    );
    assert!(
        pulls
            .get_patch(1)
            .await
            .expect("patch")
            .contains("Subject: [PATCH] change hello.txt on feature")
    );

    let (status, _, errors) = gh_error(
        pulls
            .pull_number(1)
            .reviews()
            .create_review(&head, "lgtm", ReviewAction::Approve, vec![])
            .await
            .expect_err("own PR"),
    );
    assert_eq!(
        (status, errors[0].as_str()),
        (422, Some("Can not approve your own pull request"))
    );
    let bob_pulls = bob.pulls("acme", "web");
    let review = bob_pulls
        .pull_number(1)
        .reviews()
        .create_review(&head, "lgtm", ReviewAction::Approve, vec![])
        .await
        .expect("approve");
    assert_eq!(review.state, Some(ReviewState::Approved));
    let with_lines: octocrab::models::pulls::Review = bob
        .post("/repos/acme/web/pulls/1/reviews", Some(&json!({"event": "COMMENT", "body": "nits", "comments": [{"path": "hello.txt", "line": 2, "body": "why world?"}]})))
        .await
        .expect("review with a line comment");
    assert_eq!(with_lines.state, Some(ReviewState::Commented));
    let line = bob_pulls
        .create_comment(1, "typo?", &head, "hello.txt", 1)
        .await
        .expect("line comment");
    assert!(line.diff_hunk.contains("+hello"));
    let (status, _, _) = gh_error(
        bob_pulls
            .create_comment(1, "no", &head, "hello.txt", 99)
            .await
            .expect_err("line outside the diff"),
    );
    assert_eq!(status, 422);
    let comment = bob
        .issues("acme", "web")
        .create_comment(1, "Ship it")
        .await
        .expect("comment");
    assert_eq!(comment.user.login, "bob");
    assert_eq!(
        alice
            .pulls("acme", "web")
            .list_reviews(1)
            .send()
            .await
            .expect("reviews")
            .items
            .len(),
        3
    );
    assert_eq!(sim.comments().len(), 3);

    let merged = pulls
        .merge(1)
        .method(MergeMethod::Squash)
        .sha(&head)
        .send()
        .await
        .expect("squash merge");
    assert!(merged.merged);
    let sha = merged.sha.expect("merge sha");
    assert_eq!(
        sim.branch_sha("acme", "web", "main")
            .await
            .expect("git")
            .as_deref(),
        Some(sha.as_str())
    );
    let pr = pulls.get(1).await.expect("get merged PR");
    assert_eq!(
        (pr.state, pr.merge_commit_sha.as_deref()),
        (Some(IssueState::Closed), Some(sha.as_str()))
    );
    assert!(pr.merged_at.is_some() && pulls.is_merged(1).await.expect("is_merged"));

    let again = clone(
        &tmp,
        &sim.git_url_with_token("acme", "web", BOB),
        "web-again",
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(again.join("hello.txt")).expect("merged file"),
        "hello\nworld\n"
    );
    let parents = git_ok(&again, &["rev-list", "--parents", "-n1", "HEAD"]).await;
    assert_eq!(
        parents.split_whitespace().count(),
        2,
        "a squash commit has one parent"
    );
    assert_eq!(
        git_ok(&again, &["log", "-1", "--format=%s"]).await,
        "Add greeting (#1)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_and_rebase_methods_write_real_history() {
    let sim = start(config()).await;
    let tmp = TempDir::new().expect("tmp");
    let work = org_repo(&sim, &tmp, "hist").await;
    let a = push_branch(&work, "main", "a", "a.txt", "a\n").await;
    push_branch(&work, "main", "b", "b.txt", "b\n").await;
    let alice = client(&sim, ALICE);
    let pulls = alice.pulls("acme", "hist");
    pulls.create("A", "a", "main").send().await.expect("PR a");
    pulls.create("B", "b", "main").send().await.expect("PR b");

    let m = pulls
        .merge(1)
        .method(MergeMethod::Merge)
        .send()
        .await
        .expect("merge commit");
    let r = pulls
        .merge(2)
        .method(MergeMethod::Rebase)
        .send()
        .await
        .expect("rebase");
    git_ok(&work, &["fetch", "--quiet", "origin"]).await;
    let merge_parents = git_ok(
        &work,
        &["rev-list", "--parents", "-n1", &m.sha.expect("sha")],
    )
    .await;
    assert!(
        merge_parents.ends_with(&a),
        "merge commit has the head as second parent"
    );
    assert_eq!(merge_parents.split_whitespace().count(), 3);
    let rebased = r.sha.expect("sha");
    assert_eq!(
        git_ok(&work, &["log", "-1", "--format=%s|%an", &rebased]).await,
        "change b.txt on b|Dev"
    );
    assert_eq!(git_ok(&work, &["rev-parse", "origin/main"]).await, rebased);
    assert_eq!(
        git_ok(&work, &["ls-tree", "--name-only", "origin/main"]).await,
        "README.md\na.txt\nb.txt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_merge_is_405_and_stale_sha_is_409() {
    let sim = start(config()).await;
    let tmp = TempDir::new().expect("tmp");
    let work = org_repo(&sim, &tmp, "clash").await;
    push_branch(&work, "main", "one", "README.md", "# one\n").await;
    push_branch(&work, "main", "two", "README.md", "# two\n").await;
    push_branch(&work, "main", "three", "three.txt", "3\n").await;
    let alice = client(&sim, ALICE);
    let pulls = alice.pulls("acme", "clash");
    for (title, head) in [("One", "one"), ("Two", "two"), ("Three", "three")] {
        pulls.create(title, head, "main").send().await.expect("PR");
    }
    pulls.merge(1).send().await.expect("first merge is clean");

    let two = pulls.get(2).await.expect("PR 2");
    assert_eq!(
        (two.mergeable, two.mergeable_state),
        (Some(false), Some(MergeableState::Dirty))
    );
    let (status, message, _) = gh_error(pulls.merge(2).send().await.expect_err("conflict"));
    assert_eq!(
        (status, message.as_str()),
        (405, "Pull Request is not mergeable")
    );
    let (status, message, _) = gh_error(
        pulls
            .merge(3)
            .sha("0000000000000000000000000000000000000001")
            .send()
            .await
            .expect_err("stale sha"),
    );
    assert_eq!(
        (status, message.as_str()),
        (
            409,
            "Head branch was modified. Review and try the merge again."
        )
    );
    let (status, _, _) = gh_error(pulls.merge(1).send().await.expect_err("already merged"));
    assert_eq!(status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_request_creation_is_validated() {
    let sim = start(config()).await;
    let tmp = TempDir::new().expect("tmp");
    let work = org_repo(&sim, &tmp, "val").await;
    push_branch(&work, "main", "feat", "f.txt", "f\n").await;
    git_ok(
        &work,
        &["push", "--quiet", "origin", "origin/main:refs/heads/same"],
    )
    .await;
    let alice = client(&sim, ALICE);
    let pulls = alice.pulls("acme", "val");

    let (status, _, errors) = gh_error(
        pulls
            .create("x", "missing", "main")
            .send()
            .await
            .expect_err("no head"),
    );
    assert_eq!((status, &errors[0]["field"]), (422, &json!("head")));
    let (_, _, errors) = gh_error(
        pulls
            .create("x", "same", "main")
            .send()
            .await
            .expect_err("no commits"),
    );
    assert_eq!(errors[0]["message"], "No commits between main and same");
    pulls
        .create("x", "acme:feat", "main")
        .send()
        .await
        .expect("first PR");
    let (_, _, errors) = gh_error(
        pulls
            .create("y", "feat", "main")
            .send()
            .await
            .expect_err("duplicate"),
    );
    assert_eq!(
        errors[0]["message"],
        "A pull request already exists for acme:feat."
    );
    let open = pulls
        .list()
        .state(octocrab::params::State::Open)
        .send()
        .await
        .expect("list");
    assert_eq!(open.items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_over_http_enforces_credentials() {
    let sim = start(config()).await;
    let tmp = TempDir::new().expect("tmp");
    let work = org_repo(&sim, &tmp, "locked").await;
    std::fs::write(work.join("x.txt"), "x").expect("write");
    git_ok(&work, &["add", "x.txt"]).await;
    git_ok(&work, &["commit", "--quiet", "-m", "x"]).await;

    let push_as = |token: &str| sim.git_url_with_token("acme", "locked", token);
    let denied = git(&work, &["push", &push_as("ghp_wrong"), "HEAD:main"]).await;
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("Authentication failed"));
    let hidden = git(&work, &["push", &push_as(MALLORY), "HEAD:main"]).await;
    assert!(
        String::from_utf8_lossy(&hidden.stderr).contains("not found"),
        "private repos are hidden from non-members"
    );
    let anonymous = git(
        tmp.path(),
        &["clone", "--quiet", &sim.git_url("acme", "locked"), "anon"],
    )
    .await;
    assert!(!anonymous.status.success());
    assert_eq!(
        sim.branch_sha("acme", "locked", "main").await.expect("git"),
        Some(git_ok(&work, &["rev-parse", "origin/main"]).await)
    );

    // A pack over git's 1 MiB post buffer goes out with chunked transfer encoding.
    std::fs::write(work.join("big.bin"), noise(3 << 20)).expect("write");
    git_ok(&work, &["add", "big.bin"]).await;
    git_ok(&work, &["commit", "--quiet", "-m", "big"]).await;
    git_ok(&work, &["push", "--quiet", &push_as(BOB), "HEAD:main"]).await;
    let pushed = git_ok(&work, &["rev-parse", "HEAD"]).await;
    assert_eq!(
        sim.branch_sha("acme", "locked", "main").await.expect("git"),
        Some(pushed)
    );
    let fresh = clone(&tmp, &push_as(ALICE), "fresh").await;
    assert_eq!(
        std::fs::metadata(fresh.join("big.bin"))
            .expect("cloned")
            .len(),
        3 << 20
    );
}

/// Incompressible bytes (xorshift), so the pushed pack really is large.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_and_rate_limits_look_like_github() {
    let sim = start(config().with_rate_limit(8)).await;
    let alice = client(&sim, ALICE);
    alice.current().create_repo("f").send().await.expect("repo");

    sim.inject_fault(Fault::status(502).times(2).on_path("/repos/alice/f"));
    alice
        .repos("alice", "f")
        .get()
        .await
        .expect("octocrab retries 5xx");
    let statuses: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/repos/alice/f")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [502, 502, 200]);

    sim.inject_fault(Fault::secondary_rate_limit(30));
    let (status, message, _) = gh_error(
        alice
            .repos("alice", "f")
            .get()
            .await
            .expect_err("secondary"),
    );
    assert!(status == 403 && message.contains("secondary rate limit"));
    sim.inject_fault(Fault::primary_rate_limit(60).on_method("GET"));
    let resp = reqwest::Client::new()
        .get(format!("{}/repos/alice/f", sim.api_url()))
        .bearer_auth(ALICE)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");

    // 2 requests so far counted (injected faults answer before the limiter); 6 more use up the 8.
    let http = reqwest::Client::new();
    let mut remaining = Vec::new();
    let mut last = None;
    for _ in 0..7 {
        let r = http
            .get(format!("{}/repos/alice/f", sim.api_url()))
            .bearer_auth(ALICE)
            .send()
            .await
            .expect("request");
        assert!(
            r.headers().contains_key("x-ratelimit-limit")
                && r.headers().contains_key("x-ratelimit-reset")
        );
        remaining.push(
            r.headers()["x-ratelimit-remaining"]
                .to_str()
                .expect("ascii")
                .to_owned(),
        );
        last = Some(r);
    }
    assert_eq!(remaining, ["5", "4", "3", "2", "1", "0", "0"]);
    let last = last.expect("responses");
    assert_eq!(last.status(), 403);
    let body: Value = last.json().await.expect("json");
    assert_eq!(body["message"], "API rate limit exceeded for user ID 1.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_api_inspects_and_injects_over_http() {
    let sim = start(config()).await;
    client(&sim, ALICE)
        .current()
        .create_repo("ctl")
        .send()
        .await
        .expect("repo");
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}/_sim/{p}", sim.api_url());
    let repos: Value = http
        .get(url("repos"))
        .send()
        .await
        .expect("repos")
        .json()
        .await
        .expect("json");
    assert_eq!(repos[0]["name"], "ctl");
    let fault = json!({"kind": "status", "status": 500, "count": 1, "path_prefix": "/user"});
    assert_eq!(
        http.post(url("faults"))
            .json(&fault)
            .send()
            .await
            .expect("fault")
            .status(),
        204
    );
    let resp = http
        .get(format!("{}/user", sim.api_url()))
        .bearer_auth(ALICE)
        .send()
        .await
        .expect("user");
    assert_eq!(resp.status(), 500);
    let log: Value = http
        .get(url("requests"))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    assert_eq!(log.as_array().map(Vec::len), Some(2));
    assert_eq!(
        log[1],
        json!({"method": "GET", "path": "/user", "status": 500, "actor": "alice"})
    );
    http.post(url("tokens"))
        .json(&json!({"login": "carol", "token": "ghp_carol"}))
        .send()
        .await
        .expect("token");
    assert_eq!(
        client(&sim, "ghp_carol")
            .current()
            .user()
            .await
            .expect("carol")
            .login,
        "carol"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_binary_serves_api_and_git() {
    use tokio::io::AsyncBufReadExt;
    let tmp = TempDir::new().expect("tmp");
    let key_path = tmp.path().join("app.pem");
    std::fs::write(&key_path, app_key()).expect("key file");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_github-sim"))
        .args([
            "--data-dir",
            &tmp.path().join("data").to_string_lossy(),
            "--token",
            &format!("alice:{ALICE}"),
        ])
        .args([
            "--app-id",
            "42",
            "--app-key-pem",
            &key_path.to_string_lossy(),
            "--installation",
            "7:acme",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    tokio::io::BufReader::new(stdout)
        .read_line(&mut line)
        .await
        .expect("banner");
    let url = line.trim().rsplit(' ').next().expect("url").to_owned();
    let key = EncodingKey::from_rsa_pem(app_key().as_bytes()).expect("key");
    let app = Octocrab::builder()
        .base_uri(url.as_str())
        .expect("uri")
        .app(AppId(42), key)
        .build()
        .expect("client");
    let (inst, token) = app
        .installation_and_token(InstallationId(7))
        .await
        .expect("token");
    inst.orgs("acme")
        .create_repo("bin")
        .auto_init(true)
        .send()
        .await
        .expect("repo");
    let clone_url = format!(
        "http://x-access-token:{}@{}/acme/bin.git",
        token.expose_secret(),
        url.trim_start_matches("http://")
    );
    let work = clone(&tmp, &clone_url, "bin").await;
    assert!(work.join("README.md").exists());
    assert!(tmp.path().join("data/repos/acme/bin.git/HEAD").exists());
    child.kill().await.expect("stop binary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_tokens_refs_and_restart_keep_git_data() {
    let data = TempDir::new().expect("data dir");
    let sim = start(config().with_data_dir(data.path())).await;
    let alice = client(&sim, ALICE);
    for name in ["one", "two"] {
        alice
            .orgs("acme")
            .create_repo(name)
            .private(true)
            .auto_init(true)
            .send()
            .await
            .expect("repo");
    }
    let key = EncodingKey::from_rsa_pem(app_key().as_bytes()).expect("key");
    let jwt = octocrab::auth::create_jwt(AppId(42), &key).expect("jwt");
    let minted: Value = reqwest::Client::new()
        .post(format!(
            "{}/app/installations/7/access_tokens",
            sim.api_url()
        ))
        .bearer_auth(jwt)
        .json(&json!({"repositories": ["one"]}))
        .send()
        .await
        .expect("mint")
        .json()
        .await
        .expect("json");
    assert_eq!(minted["repository_selection"], "selected");
    let scoped = client(&sim, minted["token"].as_str().expect("token"));
    scoped.repos("acme", "one").get().await.expect("in scope");
    assert_eq!(
        gh_error(
            scoped
                .repos("acme", "two")
                .get()
                .await
                .expect_err("out of scope")
        )
        .0,
        404
    );

    let main = sim
        .branch_sha("acme", "one", "main")
        .await
        .expect("git")
        .expect("main");
    let one = scoped.repos("acme", "one");
    one.create_ref(&Reference::Branch("release".into()), main.clone())
        .await
        .expect("create ref");
    let (status, message, _) = gh_error(
        one.create_ref(&Reference::Branch("release".into()), main.clone())
            .await
            .expect_err("exists"),
    );
    assert_eq!(
        (status, message.as_str()),
        (422, "Reference already exists")
    );
    one.delete_ref(&Reference::Branch("release".into()))
        .await
        .expect("delete ref");
    assert_eq!(
        sim.branch_sha("acme", "one", "release").await.expect("git"),
        None
    );
    one.create_ref(&Reference::Branch("kept".into()), main.clone())
        .await
        .expect("create ref");

    sim.shutdown().await;
    let again = start(config().with_data_dir(data.path())).await;
    assert_eq!(
        again.repos().len(),
        2,
        "repositories on disk are adopted after a restart"
    );
    let repo = client(&again, ALICE)
        .repos("acme", "one")
        .get()
        .await
        .expect("adopted repo");
    assert_eq!(repo.private, Some(true));
    assert_eq!(
        again.branch_sha("acme", "one", "kept").await.expect("git"),
        Some(main)
    );
}
