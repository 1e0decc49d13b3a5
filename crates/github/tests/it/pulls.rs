//! Pull requests: read, diff, review with line comments, comment, merge (and its refusals).

use orch_github::{GithubError, LineComment, MergeMethod, MergeRequest, NewReview, ReviewEvent};

use crate::support::{self, BOB};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_with_line_comments_then_squash_merge() {
    let sim = support::sim().await;
    let repo = support::Repo::create(&sim, "web").await;
    let head = repo
        .push("main", "feature", "hello.txt", "hello\nworld\n")
        .await;
    let number = repo.open_pull(&sim, "feature", "Add greeting").await;
    let gh = support::token_client(&sim, BOB).await;

    let pr = gh
        .pull_request("acme", "web", number)
        .await
        .expect("pull request");
    assert_eq!(
        (pr.head.sha.as_str(), pr.base.branch.as_str()),
        (head.as_str(), "main")
    );
    assert!(pr.is_open() && !pr.merged && !pr.has_conflicts());
    let diff = gh
        .pull_request_diff("acme", "web", number)
        .await
        .expect("diff");
    assert!(
        diff.contains("+++ b/hello.txt") && diff.contains("+world"),
        "{diff}"
    );

    let review = NewReview {
        commit_id: head.clone(),
        body: "one nit".into(),
        event: ReviewEvent::RequestChanges,
        comments: vec![LineComment {
            path: "hello.txt".into(),
            line: 2,
            body: "why world?".into(),
        }],
    };
    let posted = gh
        .create_review("acme", "web", number, &review)
        .await
        .expect("review");
    let on_host = sim.reviews();
    assert_eq!(on_host.len(), 1);
    assert_eq!(
        (
            on_host[0].id,
            on_host[0].state.as_str(),
            on_host[0].user.as_str()
        ),
        (posted.id, "CHANGES_REQUESTED", "bob")
    );
    let lines: Vec<_> = sim
        .comments()
        .into_iter()
        .filter(|c| c.path.is_some())
        .collect();
    assert_eq!(
        (lines[0].line, lines[0].review_id, lines[0].body.as_str()),
        (Some(2), Some(posted.id), "why world?")
    );
    assert_eq!(
        gh.reviews("acme", "web", number).await.expect("list")[0].id,
        posted.id
    );
    gh.create_issue_comment("acme", "web", number, "see the review")
        .await
        .expect("comment");
    assert!(
        sim.comments()
            .iter()
            .any(|c| c.body == "see the review" && c.path.is_none())
    );

    let merged = gh
        .merge(
            "acme",
            "web",
            number,
            &MergeRequest {
                method: MergeMethod::Squash,
                expected_head_sha: head,
                commit_title: None,
            },
        )
        .await
        .expect("merge");
    assert_eq!(
        sim.branch_sha("acme", "web", "main").await.expect("git"),
        Some(merged.sha.clone())
    );
    assert_eq!(repo.main_file("hello.txt").await, "hello\nworld");
    let after = gh
        .pull_request("acme", "web", number)
        .await
        .expect("merged pr");
    assert!(after.merged && after.merge_commit_sha == Some(merged.sha));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_head_and_a_conflict_are_refused_with_their_own_errors() {
    let sim = support::sim().await;
    let repo = support::Repo::create(&sim, "clash").await;
    repo.push("main", "one", "README.md", "# one\n").await;
    let two = repo.push("main", "two", "README.md", "# two\n").await;
    let first = repo.open_pull(&sim, "one", "One").await;
    let second = repo.open_pull(&sim, "two", "Two").await;
    let gh = support::token_client(&sim, BOB).await;

    let stale = MergeRequest {
        method: MergeMethod::Squash,
        expected_head_sha: "0".repeat(40),
        commit_title: None,
    };
    let err = gh
        .merge("acme", "clash", first, &stale)
        .await
        .expect_err("stale sha");
    assert!(matches!(err, GithubError::HeadMoved { .. }), "{err:?}");
    let head = gh
        .pull_request("acme", "clash", first)
        .await
        .expect("pr")
        .head
        .sha;
    gh.merge(
        "acme",
        "clash",
        first,
        &MergeRequest {
            expected_head_sha: head,
            ..stale.clone()
        },
    )
    .await
    .expect("first merges");

    let pr = gh.pull_request("acme", "clash", second).await.expect("pr");
    assert!(pr.has_conflicts(), "{pr:?}");
    let err = gh
        .merge(
            "acme",
            "clash",
            second,
            &MergeRequest {
                expected_head_sha: two,
                ..stale
            },
        )
        .await
        .expect_err("conflict");
    assert!(matches!(err, GithubError::NotMergeable { .. }), "{err:?}");
    assert_eq!(repo.main_file("README.md").await, "# one");
    let err = gh
        .pull_request("acme", "clash", 99)
        .await
        .expect_err("missing");
    assert!(matches!(err, GithubError::NotFound { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_pull_request_twice_returns_the_first() {
    let sim = support::sim().await;
    let repo = support::Repo::create(&sim, "api").await;
    let head = repo.push("main", "task/a", "a.txt", "a\n").await;
    let gh = support::token_client(&sim, support::ALICE).await;
    let new = orch_github::NewPullRequest {
        title: "Task A".into(),
        head: "task/a".into(),
        base: "main".into(),
        body: "Implements task A.".into(),
    };
    let first = gh
        .open_pull_request("acme", "api", &new)
        .await
        .expect("opened");
    assert_eq!(
        (first.head.sha.as_str(), first.title.as_str()),
        (head.as_str(), "Task A")
    );
    let again = gh
        .open_pull_request("acme", "api", &new)
        .await
        .expect("a retry finds it");
    assert_eq!(again.number, first.number);
    assert_eq!(sim.pull_requests().await.len(), 1, "one pull request");

    let nothing_to_merge = orch_github::NewPullRequest {
        head: "main".into(),
        ..new
    };
    let err = gh
        .open_pull_request("acme", "api", &nothing_to_merge)
        .await
        .expect_err("no commits between main and main");
    assert!(matches!(err, GithubError::Unprocessable { .. }), "{err:?}");
}
