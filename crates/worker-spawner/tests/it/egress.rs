//! Reliability test 23: a worker reaches the allowlisted git host through the proxy and nothing else — not the
//! internet, not the metadata address, not the host (gateway, other ports, Redis, Postgres), directly or through
//! the proxy. The probes run inside the worker; their output is pushed, so the test reads what it saw.

use std::collections::HashMap;
use std::time::Duration;

use orch_contracts::messages::worker::WorkerStatus;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use worker_spawner::config::EgressPolicy;

use crate::support::{self, Fleet, Git};

/// A host-side HTTP server that must stay unreachable from workers.
async fn forbidden_listener() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind((support::bridge_gateway().await, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket
                .write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 9\r\n\r\nforbidden")
                .await;
        }
    });
    (addr, task)
}

const CURL: &str = "curl -sS -m 4 -o /dev/null -w code=%{http_code}";

/// Splits `@record` output into command → what it printed and its exit status.
fn outcomes(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for block in text.split("$ ").filter(|b| !b.is_empty()) {
        let (command, rest) = block.split_once('\n').unwrap_or((block, ""));
        out.insert(command.trim().to_owned(), rest.trim().to_owned());
    }
    out
}

/// The worker's view of `curl <args>`.
fn seen<'a>(outcomes: &'a HashMap<String, String>, args: &str) -> &'a str {
    let command = format!("{CURL} {args}");
    outcomes
        .get(&command)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no probe `{command}`: {outcomes:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_allowlisted_host_is_reachable() {
    let _slot = support::docker_slot().await;
    let git = Git::start().await;
    let (forbidden, listener) = forbidden_listener().await;
    let gateway = support::bridge_gateway().await;
    let sim = git.host_port();
    let pool = support::pool().await;
    let project = support::project(&pool, 2).await;
    let fleet = Fleet::new(&git);
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let allowed = format!("http://{sim}/_sim/health");
    let refused_by_proxy = [
        "http://example.com/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://{forbidden}/"),
        format!("http://{gateway}:6379/"),
        format!("http://{gateway}:5432/"),
    ];
    let tunnel_refused = [
        "https://example.com/".to_owned(),
        format!("https://{forbidden}/"),
    ];
    let direct = [
        format!("--noproxy '*' http://{forbidden}/"),
        format!("--noproxy '*' http://{gateway}:6379/"),
        "--noproxy '*' http://169.254.169.254/".to_owned(),
    ];
    let task: String = std::iter::once(&allowed)
        .chain(&refused_by_proxy)
        .chain(&tunnel_refused)
        .chain(&direct)
        .map(|args| format!("@record egress.txt {CURL} {args}\n"))
        .collect();
    let spawn = support::spawn(&git, project, "task/egress", &task);
    support::publish(&bus, &spawn).await;
    let result = support::result(&bus, spawn.worker_id, Duration::from_secs(180)).await;
    // The clone and the push went through the proxy to the allowlisted git host.
    assert_eq!(result.status, WorkerStatus::Succeeded, "{result:?}");
    let text = git.file("task/egress", "egress.txt");
    println!("{text}");
    let seen_by_worker = outcomes(&text);
    assert!(
        seen(&seen_by_worker, &allowed).starts_with("code=200"),
        "{text}"
    );
    for args in &refused_by_proxy {
        let outcome = seen(&seen_by_worker, args);
        assert!(outcome.starts_with("code=403"), "{args}: {outcome}");
    }
    for args in tunnel_refused.iter().chain(&direct) {
        let outcome = seen(&seen_by_worker, args);
        assert!(
            outcome.contains("code=000") && !outcome.ends_with("exit=0"),
            "{args}: {outcome}"
        );
    }
    spawner.stop().await;
    fleet.assert_no_leftovers().await;

    // Negative control: a plain container on Docker's default bridge does reach the forbidden listener, so the
    // probes above could have seen it.
    let plain = std::process::Command::new("docker")
        .args([
            "run",
            "--rm",
            support::test_image(),
            "curl",
            "-sS",
            "-m",
            "4",
        ])
        .arg(format!("http://{forbidden}/"))
        .output()
        .expect("docker run");
    assert_eq!(String::from_utf8_lossy(&plain.stdout), "forbidden");
    listener.abort();
}

/// Policy `none`: no network at all, so the runner cannot even clone; no network objects are created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_none_leaves_the_worker_without_network() {
    let _slot = support::docker_slot().await;
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 2).await;
    let mut fleet = Fleet::new(&git);
    fleet.config.egress.policy = EgressPolicy::None;
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let spawn = support::spawn(&git, project, "task/offline", "@write a.txt a\n");
    support::publish(&bus, &spawn).await;
    let result = support::result(&bus, spawn.worker_id, Duration::from_secs(120)).await;
    assert_eq!(result.status, WorkerStatus::Failed, "{result:?}");
    assert!(result.summary.contains("clone"), "{}", result.summary);
    assert!(
        result.log_tail.contains("Could not resolve")
            || result.log_tail.contains("unable to access"),
        "{}",
        result.log_tail
    );
    spawner.stop().await;
    fleet.assert_no_leftovers().await;
}
