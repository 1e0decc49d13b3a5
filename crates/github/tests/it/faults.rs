//! 5xx and rate limits: retried when short, reported with their wait when long.

use std::time::{Duration, Instant};

use orch_github::GithubError;
use orch_testkit::github::Fault;

use crate::support::{self, BOB};

fn statuses(sim: &orch_testkit::github::GithubSim, path: &str) -> Vec<u16> {
    sim.requests()
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.status)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_then_reported() {
    let sim = support::sim().await;
    support::Repo::create(&sim, "web").await;
    let gh = support::token_client(&sim, BOB).await;
    sim.inject_fault(Fault::status(502).times(2).on_path("/repos/acme/web"));
    gh.repository("acme", "web")
        .await
        .expect("third attempt succeeds");
    assert_eq!(statuses(&sim, "/repos/acme/web"), [502, 502, 200]);

    sim.clear_requests();
    sim.inject_fault(Fault::status(503).times(10).on_path("/repos/acme/web"));
    let err = gh
        .repository("acme", "web")
        .await
        .expect_err("still failing");
    assert!(
        matches!(err, GithubError::Server { status: 503, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(
        statuses(&sim, "/repos/acme/web"),
        [503, 503, 503],
        "max_attempts = 3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_rate_limit_is_waited_out_and_a_long_one_is_returned() {
    let sim = support::sim().await;
    support::Repo::create(&sim, "web").await;
    let gh = support::token_client(&sim, BOB).await;
    sim.inject_fault(Fault::secondary_rate_limit(1).on_path("/repos/acme/web"));
    let started = Instant::now();
    gh.repository("acme", "web").await.expect("after the wait");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(statuses(&sim, "/repos/acme/web"), [403, 200]);

    sim.inject_fault(Fault::primary_rate_limit(3600).on_path("/repos/acme/web"));
    let err = gh
        .repository("acme", "web")
        .await
        .expect_err("too long to wait");
    let wait = err.retry_after().expect("the wait is known");
    assert!(wait > Duration::from_secs(3500), "{wait:?}");
    assert!(matches!(err, GithubError::RateLimited { .. }) && err.is_transient());
    assert!(err.to_string().contains("retry after"), "{err}");
}
