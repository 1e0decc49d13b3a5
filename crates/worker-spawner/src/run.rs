//! One worker's life: launch (or find) its container, supervise it until it exits, is timed out or exhausts
//! its pids, then collect what it left and judge it.
//!
//! Launch is idempotent: the container is looked up by its deterministic name first, so a redelivered spawn
//! (after a spawner crash) re-attaches to the container already running, or collects the one that already
//! exited, instead of starting a second one. The deadline lives in the container's labels, so it survives the
//! spawner too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use orch_contracts::RunId;
use orch_contracts::messages::worker::{WorkerResult, WorkerSpawn, WorkerStatus};
use tracing::{debug, info, warn};

use crate::classify::{self, Ending, KillReason, Remote, RunnerReport};
use crate::container::{Existing, Phase};
use crate::docker::DockerError;
use crate::monitor::{self, ProgressSink};
use crate::names::{self, DEADLINE, ROLE_WORKER, ROLE_WORKER_NETWORK, ROLE_WORKER_VOLUME};
use crate::sandbox::{self, RESULT_PATH, WorkerSpec};
use crate::secrets::ResolvedSecrets;
use crate::spawner::Spawner;
use crate::verify::VerifyError;
use crate::workers::{self, RowState, WorkersError};

/// The secret whose value authenticates git inside the worker and the spawner's verification.
pub const GIT_TOKEN: &str = "GIT_TOKEN";
/// The longest summary reported.
const MAX_SUMMARY_CHARS: usize = 4000;

/// Why a worker could not be run or judged.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Docker failed.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// The remote could not be read.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The database failed.
    #[error(transparent)]
    Workers(#[from] WorkersError),
}

/// How supervision ended.
struct Supervised {
    /// Why the spawner killed the container, if it did.
    killed: Option<KillReason>,
    /// Whether the pid count ever reached its limit.
    pids_limit_hit: bool,
    /// The progress publisher, still flushing the last lines.
    progress: tokio::task::JoinHandle<()>,
}

/// Waits (briefly) for the progress publisher to flush the last lines.
async fn finish_progress(progress: tokio::task::JoinHandle<()>) {
    if tokio::time::timeout(Duration::from_secs(5), progress)
        .await
        .is_err()
    {
        warn!("the log stream did not end after the container stopped");
    }
}

/// A launched worker container.
#[derive(Debug, Clone)]
struct Launched {
    /// Unix milliseconds after which the worker is killed.
    deadline_ms: i64,
    /// Unix seconds from which its log lines still need publishing.
    logs_since: i32,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Spawner {
    /// Runs (or resumes) the worker of `spawn` to its end and returns its judged result; `None` when another
    /// spawner finished it meanwhile.
    pub async fn run_worker(
        &self,
        spawn: &WorkerSpawn,
        run_id: Option<RunId>,
        secrets: &ResolvedSecrets,
    ) -> Result<Option<WorkerResult>, RunError> {
        let names = names::WorkerNames::for_key(&spawn.idempotency_key);
        let clock = std::time::Instant::now();
        let Some(launched) = self.launch_locked(spawn, &names, secrets).await? else {
            return Ok(None);
        };
        let launch_ms = clock.elapsed().as_millis();
        self.metrics.running(1);
        let supervised = self
            .supervise(spawn, &names.container, &launched, secrets, run_id)
            .await;
        self.metrics.running(-1);
        let supervised = supervised?;
        let run_ms = clock.elapsed().as_millis() - launch_ms;
        let (ending, ()) = tokio::join!(
            self.collect(
                spawn,
                &names.container,
                supervised.killed,
                supervised.pids_limit_hit,
                secrets
            ),
            finish_progress(supervised.progress)
        );
        let ending = ending?;
        debug!(
            launch_ms,
            run_ms,
            collect_ms = clock.elapsed().as_millis() - launch_ms - run_ms,
            "worker phases"
        );
        let verdict = classify::classify(&ending.0);
        let started_ms = launched.deadline_ms - i64::from(spawn.timeout_secs) * 1000;
        Ok(Some(WorkerResult {
            worker_id: spawn.worker_id,
            status: verdict.status,
            branch: spawn.branch.clone(),
            commit_sha: verdict.commit_sha,
            verified: verdict.verified,
            summary: truncate_chars(&secrets.redactor().redact(&verdict.summary)),
            usage: ending.0.report.and_then(|r| r.usage),
            exit_code: ending.0.exit_code,
            log_tail: ending.1,
            duration_ms: u64::try_from(now_ms() - started_ms).unwrap_or(0),
        }))
    }

    /// Launches under the key's advisory lock, after checking that nobody finished the worker meanwhile. Every
    /// query under the lock runs on the lock's own connection: a launch needing a second pooled connection
    /// while holding one starved the pool when as many launches ran at once as it had connections.
    async fn launch_locked(
        &self,
        spawn: &WorkerSpawn,
        names: &names::WorkerNames,
        secrets: &ResolvedSecrets,
    ) -> Result<Option<Launched>, RunError> {
        let key = &spawn.idempotency_key;
        // Never closed, so acquiring cannot fail; a launch waits here for a free connection's turn.
        let _slot = self.launches.acquire().await;
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|source| WorkersError::Database {
                action: "acquiring a connection for the launch lock",
                source,
            })?;
        workers::lock_key(&mut conn, key).await?;
        let launched = match workers::by_key(&mut *conn, key).await {
            Ok(Some(row)) if matches!(row.state, RowState::Done(_)) => Ok(None),
            Ok(_) => Box::pin(self.launch(spawn, names, secrets, &mut conn))
                .await
                .map(Some),
            Err(e) => Err(e.into()),
        };
        if workers::unlock_key(&mut conn, key).await.is_err() {
            // A connection that may still hold the lock must not go back to the pool.
            let _ = conn.close().await;
        }
        launched
    }

    async fn launch(
        &self,
        spawn: &WorkerSpawn,
        names: &names::WorkerNames,
        secrets: &ResolvedSecrets,
        locked: &mut sqlx::PgConnection,
    ) -> Result<Launched, RunError> {
        match self.containers.find(&names.container).await? {
            Some(existing) if existing.never_got_its_task() => {
                warn!(container = %names.container, "the worker's container never got its task (a spawner died \
                      while starting it); starting it again");
                self.containers.remove(names).await?;
            }
            Some(existing) => {
                info!(container = %names.container, phase = ?existing.phase, "found the worker's container; resuming");
                return self.resume(spawn, existing, secrets).await;
            }
            None => {}
        }
        let deadline_ms = now_ms() + i64::from(spawn.timeout_secs) * 1000;
        let id = &self.config.spawner_id;
        let attachment = self
            .egress
            .prepare_network(
                names.network(),
                names::worker_labels(id, ROLE_WORKER_NETWORK, spawn, deadline_ms),
            )
            .await?;
        let agent_command = self
            .config
            .agents
            .command(spawn.agent)
            .unwrap_or_default()
            .to_owned();
        let spec = WorkerSpec {
            spawn,
            names,
            agent_command: &agent_command,
            attachment: attachment.clone(),
            labels: names::worker_labels(id, ROLE_WORKER, spawn, deadline_ms),
        };
        let body = sandbox::container_body(&self.config, &spec);
        let volume_labels = names::worker_labels(id, ROLE_WORKER_VOLUME, spawn, deadline_ms);
        // The proxy must be on the network before the worker starts; creating the container need not wait.
        let (connected, created) = tokio::join!(
            self.egress.connect_worker_network(&attachment),
            self.containers.create(names, body, &volume_labels)
        );
        connected?;
        let created = created?;
        workers::set_container(locked, spawn.worker_id, &created.id).await?;
        self.resume(spawn, created, secrets).await
    }

    /// Starts a created container, or adopts a running or exited one.
    async fn resume(
        &self,
        spawn: &WorkerSpawn,
        existing: Existing,
        secrets: &ResolvedSecrets,
    ) -> Result<Launched, RunError> {
        let deadline_ms = existing
            .labels
            .get(DEADLINE)
            .and_then(|d| d.parse().ok())
            .unwrap_or_else(|| now_ms() + i64::from(spawn.timeout_secs) * 1000);
        let fresh = existing.phase == Phase::Created;
        if fresh {
            let input = sandbox::stdin_payload(secrets, spawn);
            self.containers
                .start_with_input(&existing.id, &input)
                .await?;
            self.metrics.started();
        }
        let logs_since = if fresh {
            0
        } else {
            i32::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
        };
        Ok(Launched {
            deadline_ms,
            logs_since,
        })
    }

    /// Waits for the container to stop; kills it at the deadline or when its pids stay exhausted.
    async fn supervise(
        &self,
        spawn: &WorkerSpawn,
        container: &str,
        launched: &Launched,
        secrets: &ResolvedSecrets,
        run_id: Option<RunId>,
    ) -> Result<Supervised, RunError> {
        let sink = ProgressSink {
            bus: self.bus.clone(),
            worker_id: spawn.worker_id,
            run_id,
            redactor: secrets.redactor(),
            interval: self.config.progress_interval(),
        };
        let progress = tokio::spawn(monitor::stream_progress(
            self.docker.clone(),
            container.to_owned(),
            sink,
            launched.logs_since,
        ));
        let hit = Arc::new(AtomicBool::new(false));
        let remaining =
            Duration::from_millis(u64::try_from(launched.deadline_ms - now_ms()).unwrap_or(0));
        let pids = monitor::watch_pids(
            self.containers.clone(),
            container.to_owned(),
            u64::from(spawn.limits.pids),
            self.config.stats_interval(),
            Duration::from_secs(self.config.pids_exhausted_kill_secs),
            Arc::clone(&hit),
        );
        let killed = tokio::select! {
            waited = self.containers.wait(container) => { waited?; None }
            () = tokio::time::sleep(remaining) => Some(KillReason::Timeout),
            () = pids => Some(KillReason::PidsExhausted),
        };
        if let Some(reason) = killed {
            warn!(container, ?reason, "killing the worker");
            self.containers.kill(container).await?;
            self.containers.wait(container).await?;
        }
        Ok(Supervised {
            killed,
            pids_limit_hit: hit.load(Ordering::Relaxed),
            progress,
        })
    }

    /// Reads the exit state, the result file and the log tail, and checks a claimed push on the remote.
    async fn collect(
        &self,
        spawn: &WorkerSpawn,
        container: &str,
        killed: Option<KillReason>,
        pids_limit_hit: bool,
        secrets: &ResolvedSecrets,
    ) -> Result<(Ending, String), RunError> {
        let (exit, file, log_tail) = tokio::join!(
            self.containers.exit_info(container),
            self.containers.read_file(container, RESULT_PATH),
            self.containers
                .log_tail(container, self.config.log_tail_lines)
        );
        let exit = exit?;
        let report = match file {
            Ok(bytes) => bytes.as_deref().and_then(RunnerReport::parse),
            Err(e) => {
                warn!(container, error = %e, "the result file is unreadable");
                None
            }
        };
        let claims_success = killed.is_none()
            && exit.code == Some(0)
            && report
                .as_ref()
                .is_some_and(|r| r.status == "succeeded" && r.claimed_commit().is_some());
        let remote = if claims_success {
            self.verifier
                .branch_head(&spawn.repo, &spawn.branch, secrets.get(GIT_TOKEN))
                .await?
        } else {
            Remote::NotChecked
        };
        let log_tail = log_tail.unwrap_or_default();
        let ending = Ending {
            killed,
            exit_code: exit.code,
            oom_killed: exit.oom_killed,
            pids_limit_hit,
            report,
            remote,
            timeout_secs: spawn.timeout_secs,
        };
        Ok((ending, secrets.redactor().redact(&log_tail)))
    }
}

/// The result reported when the platform, not the worker, failed.
pub fn infra_result(spawn: &WorkerSpawn, error: &RunError) -> WorkerResult {
    crate::spawner::refusal(
        spawn.worker_id,
        &spawn.branch,
        WorkerStatus::InfraError,
        truncate_chars(&format!("platform error: {error}")),
    )
}

fn truncate_chars(text: &str) -> String {
    text.chars().take(MAX_SUMMARY_CHARS).collect()
}
