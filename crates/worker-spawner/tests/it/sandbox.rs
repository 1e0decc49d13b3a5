//! Reliability tests 21, 22 and 24 and the timeout kill: the sandbox holds, and each way of breaking it ends in
//! its own failure class.

use std::time::{Duration, Instant};

use orch_contracts::messages::worker::{WorkerLimits, WorkerStatus};

use crate::support::{self, Fleet, Git};

/// Test 21: a fork bomb hits the pids limit, the host stays responsive, the class is `resource_exhausted`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_bomb_hits_the_pids_limit_and_is_resource_exhausted() {
    let _slot = support::docker_slot().await;
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 2).await;
    let fleet = Fleet::new(&git);
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let mut spawn = support::spawn(&git, project, "task/bomb", "@fork-bomb\n");
    spawn.limits = WorkerLimits {
        memory_mib: 256,
        cpu_millis: 500,
        pids: 64,
    };
    spawn.timeout_secs = 300;
    support::publish(&bus, &spawn).await;
    let started = Instant::now();
    let probe = tokio::spawn(host_latency_while(Duration::from_secs(8)));
    let result = support::result(&bus, spawn.worker_id, Duration::from_secs(120)).await;
    let worst = probe.await.expect("probe");
    assert_eq!(result.status, WorkerStatus::ResourceExhausted, "{result:?}");
    assert!(result.summary.contains("pids"), "{}", result.summary);
    assert!(!result.verified);
    // Killed by the pid watch (3 s pinned), long before the 300 s timeout.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert!(
        worst < Duration::from_secs(1),
        "the host stalled for {worst:?} during the fork bomb"
    );
    spawner.stop().await;
    fleet.assert_no_leftovers().await;
}

/// Starts `true` on the host repeatedly for `period`; returns the slowest start.
async fn host_latency_while(period: Duration) -> Duration {
    let until = Instant::now() + period;
    let mut worst = Duration::ZERO;
    while Instant::now() < until {
        let t = Instant::now();
        tokio::process::Command::new("true")
            .status()
            .await
            .expect("true runs");
        worst = worst.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worst
}

/// Test 22: allocating twice the memory limit ends in an OOM kill (exit 137), classified `oom`, not retryable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocating_twice_the_limit_is_oom_killed() {
    let _slot = support::docker_slot().await;
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 2).await;
    let fleet = Fleet::new(&git);
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let mut spawn = support::spawn(
        &git,
        project,
        "task/oom",
        "@allocate 256\n@write never.txt x\n",
    );
    spawn.limits.memory_mib = 128;
    support::publish(&bus, &spawn).await;
    let result = support::result(&bus, spawn.worker_id, Duration::from_secs(120)).await;
    assert_eq!(result.status, WorkerStatus::Oom, "{result:?}");
    assert_eq!(result.exit_code, Some(137), "{result:?}");
    assert!(!result.status.is_retryable());
    assert_eq!(git.branch_sha("task/oom").await, None, "nothing was pushed");
    spawner.stop().await;
    fleet.assert_no_leftovers().await;
}

const PROBES: &str = "\
@record probe.txt test -e /var/run/docker.sock && echo docker.sock present || echo docker.sock absent
@record probe.txt grep -E '^(CapPrm|CapEff|CapBnd|NoNewPrivs)' /proc/self/status
@record probe.txt touch /written-to-root
@record probe.txt id -u
";

/// Test 24: no Docker socket, an empty capability set (effective and bounding), no new privileges, a read-only
/// root. The probes run inside the worker and their output is committed and pushed, so the test reads what
/// the worker really saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_have_no_socket_no_capabilities_and_a_read_only_root() {
    let _slot = support::docker_slot().await;
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 2).await;
    let fleet = Fleet::new(&git);
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let spawn = support::spawn(&git, project, "task/probe", PROBES);
    support::publish(&bus, &spawn).await;
    let result = support::result(&bus, spawn.worker_id, Duration::from_secs(120)).await;
    assert_eq!(result.status, WorkerStatus::Succeeded, "{result:?}");
    let probe = git.file("task/probe", "probe.txt");
    assert_hardened(&probe);
    spawner.stop().await;
    fleet.assert_no_leftovers().await;

    // Negative control: the same probes in a plain container of the same image fail the same assertions.
    let plain = std::process::Command::new("docker")
        .args(["run", "--rm", "--network", "none", "--user", "0", support::test_image(), "sh", "-c"])
        .arg("grep -E '^(CapPrm|CapEff|CapBnd|NoNewPrivs)' /proc/self/status; touch /written-to-root && echo root writable")
        .output()
        .expect("docker run");
    let plain = String::from_utf8_lossy(&plain.stdout);
    assert!(!plain.contains("CapBnd:\t0000000000000000"), "{plain}");
    assert!(plain.contains("root writable"), "{plain}");
}

fn assert_hardened(probe: &str) {
    assert!(probe.contains("docker.sock absent"), "{probe}");
    for cap in ["CapPrm", "CapEff", "CapBnd"] {
        assert!(
            probe.contains(&format!("{cap}:\t0000000000000000")),
            "{cap}: {probe}"
        );
    }
    assert!(probe.contains("NoNewPrivs:\t1"), "{probe}");
    assert!(probe.contains("Read-only file system"), "{probe}");
    assert!(probe.contains("$ id -u\n1000\n"), "{probe}");
}

/// A worker that outlives its wall-clock limit is killed and reported as `timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_past_its_deadline_is_killed_as_timeout() {
    let _slot = support::docker_slot().await;
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 2).await;
    let fleet = Fleet::new(&git);
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let mut spawn = support::spawn(&git, project, "task/slow", "@sleep 600\n");
    spawn.timeout_secs = 5;
    support::publish(&bus, &spawn).await;
    let started = Instant::now();
    let result = support::result(&bus, spawn.worker_id, Duration::from_secs(60)).await;
    assert_eq!(result.status, WorkerStatus::Timeout, "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(
        (5000..20_000).contains(&result.duration_ms),
        "{}",
        result.duration_ms
    );
    assert!(
        result.log_tail.contains("[scripted] sleep 600"),
        "{}",
        result.log_tail
    );
    spawner.stop().await;
    fleet.assert_no_leftovers().await;
}
