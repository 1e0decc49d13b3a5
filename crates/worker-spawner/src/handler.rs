//! The `worker:spawn` handler.
//!
//! Delivery guarantee: at-least-once (the bus redelivers an entry whose consumer died; the entry stays pending
//! — and its lease alive through the consumer's keepalive — for as long as the worker runs). Idempotency key:
//! the spawn's `idempotency_key`. It names the `workers` row (unique) and the container (deterministic name),
//! so a redelivery never creates a second container: it resumes the existing one, or republishes the stored
//! result when the worker already finished.
//!
//! Concurrency: the consumer reads no more entries than `max_workers` free slots, so excess spawns wait in the
//! stream. A spawn over its project's limit is put back at the end of the stream after a short pause (same
//! envelope, same event id) and acknowledged: it waits, it does not fail.

use orch_bus::{Delivery, HandlerError};
use orch_contracts::messages::worker::{WorkerSpawn, WorkerStatus};
use orch_contracts::{Envelope, RunId};
use orch_store::audit::{self, AuditEntry};
use serde_json::json;
use tracing::{info, instrument};

use crate::names::WorkerNames;
use crate::run::{RunError, infra_result};
use crate::sandbox::is_reserved_env;
use crate::secrets::{ResolveContext, ResolvedSecrets, SecretError};
use crate::spawner::{Spawner, refusal};
use crate::workers::{self, Finish, RowState, WorkersError};

/// What to do with a delivery after its row was checked.
enum Admission {
    /// Nothing left to do (finished before, or refused now).
    Finished,
    /// The project is at its limit: put the spawn back.
    Requeue,
    /// Run (or resume) the worker.
    Run,
}

impl Spawner {
    /// Handles one `worker:spawn` delivery.
    #[instrument(skip_all, fields(worker_id = %delivery.envelope.body.worker_id,
        key = %delivery.envelope.body.idempotency_key))]
    pub async fn handle(&self, delivery: Delivery<WorkerSpawn>) -> Result<(), HandlerError> {
        let envelope = delivery.envelope;
        let run_id = envelope.run_id;
        let _guard = self.claim_active(&envelope.body.idempotency_key).await;
        match self.admission(&envelope.body, run_id).await? {
            Admission::Finished => Ok(()),
            Admission::Requeue => self.requeue(&envelope).await,
            Admission::Run => self.execute(&envelope.body, run_id).await,
        }
    }

    async fn admission(
        &self,
        spawn: &WorkerSpawn,
        run_id: Option<RunId>,
    ) -> Result<Admission, HandlerError> {
        let row = match workers::record(&self.pool, spawn).await {
            Ok(Some(row)) if row.id == spawn.worker_id => row,
            Ok(_) => {
                return Err(HandlerError::reject(format!(
                    "worker id {} and idempotency key `{}` do not belong together",
                    spawn.worker_id, spawn.idempotency_key
                )));
            }
            Err(WorkersError::UnknownProject(project)) => {
                let summary = format!("project {project} does not exist");
                let result = refusal(
                    spawn.worker_id,
                    &spawn.branch,
                    WorkerStatus::Rejected,
                    summary,
                );
                self.publish_result(result, run_id)
                    .await
                    .map_err(HandlerError::retry)?;
                return Ok(Admission::Finished);
            }
            Err(e) => return Err(HandlerError::retry(e)),
        };
        match row.state {
            RowState::Done(_) => {
                info!("already finished; republishing its result if missing");
                self.republish_if_missing(&row, run_id)
                    .await
                    .map_err(HandlerError::retry)?;
                Ok(Admission::Finished)
            }
            RowState::Running => Ok(Admission::Run),
            RowState::Queued => self.admit_queued(spawn, run_id).await,
        }
    }

    async fn admit_queued(
        &self,
        spawn: &WorkerSpawn,
        run_id: Option<RunId>,
    ) -> Result<Admission, HandlerError> {
        if let Some(reason) = self.refusal_reason(spawn) {
            let result = refusal(
                spawn.worker_id,
                &spawn.branch,
                WorkerStatus::Rejected,
                reason,
            );
            self.conclude(spawn, run_id, result).await?;
            return Ok(Admission::Finished);
        }
        let admitted = workers::admit(
            &self.pool,
            spawn.worker_id,
            spawn.project_id,
            self.config.max_workers_per_project,
        )
        .await
        .map_err(HandlerError::retry)?;
        Ok(if admitted {
            Admission::Run
        } else {
            Admission::Requeue
        })
    }

    /// Returns why this spawner refuses a spawn it could read.
    fn refusal_reason(&self, spawn: &WorkerSpawn) -> Option<String> {
        if self.config.agents.command(spawn.agent).is_none() {
            return Some(format!(
                "agent kind {:?} is not configured on this spawner",
                spawn.agent
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for secret in &spawn.secrets {
            if is_reserved_env(&secret.env) {
                return Some(format!("secret env `{}` is reserved", secret.env));
            }
            if !seen.insert(secret.env.as_str()) {
                return Some(format!("secret env `{}` is given twice", secret.env));
            }
        }
        None
    }

    async fn requeue(&self, envelope: &Envelope<WorkerSpawn>) -> Result<(), HandlerError> {
        info!("project at its worker limit; requeueing");
        tokio::time::sleep(self.config.requeue_delay()).await;
        self.bus
            .publish(&Self::spawn_stream(), envelope)
            .await
            .map_err(HandlerError::retry)?;
        self.metrics.requeued();
        Ok(())
    }

    async fn execute(
        &self,
        spawn: &WorkerSpawn,
        run_id: Option<RunId>,
    ) -> Result<(), HandlerError> {
        let secrets = match self.resolve_secrets(spawn, run_id).await {
            Ok(secrets) => secrets,
            Err(e) if e.is_refusal() => {
                let result = refusal(
                    spawn.worker_id,
                    &spawn.branch,
                    WorkerStatus::Rejected,
                    e.to_string(),
                );
                return self.conclude(spawn, run_id, result).await;
            }
            Err(e) => return Err(HandlerError::retry(e)),
        };
        let result = match self.run_worker(spawn, run_id, &secrets).await {
            Ok(Some(result)) => result,
            Ok(None) => return self.republish_stored(spawn, run_id).await,
            // The container keeps running; the redelivery resumes it once the database is back.
            Err(RunError::Workers(e)) => return Err(HandlerError::retry(e)),
            Err(e) => infra_result(spawn, &e),
        };
        self.conclude(spawn, run_id, result).await
    }

    /// Republishes the stored result of a worker another spawner finished (if its stream lacks one).
    async fn republish_stored(
        &self,
        spawn: &WorkerSpawn,
        run_id: Option<RunId>,
    ) -> Result<(), HandlerError> {
        if let Some(row) = workers::by_key(&self.pool, &spawn.idempotency_key)
            .await
            .map_err(HandlerError::retry)?
        {
            self.republish_if_missing(&row, run_id)
                .await
                .map_err(HandlerError::retry)?;
        }
        Ok(())
    }

    /// Resolves every secret handle of the spawn and audits each resolution (values are never recorded).
    async fn resolve_secrets(
        &self,
        spawn: &WorkerSpawn,
        run_id: Option<RunId>,
    ) -> Result<ResolvedSecrets, SecretError> {
        let mut resolved = ResolvedSecrets::default();
        for injection in &spawn.secrets {
            let context = ResolveContext {
                worker_id: spawn.worker_id,
                env: injection.env.clone(),
                run_id,
            };
            let value = self.secrets.resolve(&injection.handle, &context).await?;
            self.audit_resolution(spawn, &injection.env, &injection.handle.0, run_id)
                .await
                .map_err(|reason| SecretError::Backend {
                    handle: injection.handle.0.clone(),
                    reason,
                })?;
            resolved.push(injection.env.clone(), value);
        }
        Ok(resolved)
    }

    async fn audit_resolution(
        &self,
        spawn: &WorkerSpawn,
        env: &str,
        handle: &str,
        run_id: Option<RunId>,
    ) -> Result<(), String> {
        let mut conn = self.pool.acquire().await.map_err(|e| e.to_string())?;
        let entry = AuditEntry {
            actor: "worker-spawner",
            action: "secret.inject",
            subject: handle,
            detail: json!({ "worker_id": spawn.worker_id, "env": env }),
            run_id,
        };
        audit::append(&mut conn, &entry)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Stores the outcome (first outcome wins), publishes it and removes the worker's Docker objects.
    async fn conclude(
        &self,
        spawn: &WorkerSpawn,
        run_id: Option<RunId>,
        result: orch_contracts::messages::worker::WorkerResult,
    ) -> Result<(), HandlerError> {
        let outcome = Finish {
            status: result.status,
            commit_sha: result.commit_sha.as_deref(),
            exit_code: result.exit_code,
            summary: &result.summary,
        };
        let stored = workers::finish(&self.pool, spawn.worker_id, &outcome)
            .await
            .map_err(HandlerError::retry)?;
        info!(status = ?result.status, verified = result.verified, stored, "worker finished");
        if stored {
            self.publish_result(result, run_id)
                .await
                .map_err(HandlerError::retry)?;
        } else {
            self.republish_stored(spawn, run_id).await?;
        }
        self.cleanup(&WorkerNames::for_key(&spawn.idempotency_key))
            .await;
        Ok(())
    }
}
