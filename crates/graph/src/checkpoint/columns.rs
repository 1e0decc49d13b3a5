//! Turning batched jobs into column arrays for UNNEST, and statement results back into per-job answers.

use serde_json::Value;

use super::batch::{AcquireJob, CommitJob};
use super::sql::{AcquireColumns, BatchColumns, LeaseHolder, OpOutcome};
use super::{CheckpointRecord, Grant, StateBody, ttl_delta};
use crate::error::CheckpointError;

/// The commit columns of a round (op = position in `jobs`).
pub(super) fn commit_columns(jobs: &[CommitJob]) -> BatchColumns {
    let mut c = BatchColumns::default();
    for (op, job) in jobs.iter().enumerate() {
        let op = i32::try_from(op).unwrap_or(i32::MAX);
        let fence = job.commit.fence.as_ref();
        c.op.push(op);
        c.thread_id.push(job.thread.thread_id().to_owned());
        c.epoch.push(fence.map(|f| f.epoch));
        c.owner.push(fence.map(|f| f.owner.to_string()));
        c.release.push(job.commit.release);
        push_checkpoint(&mut c, op, job);
        push_writes(&mut c, op, job);
    }
    c
}

fn push_checkpoint(c: &mut BatchColumns, op: i32, job: &CommitJob) {
    for cp in &job.commit.checkpoints {
        push_record(c, op, job, cp);
    }
}

fn push_record(c: &mut BatchColumns, op: i32, job: &CommitJob, cp: &CheckpointRecord) {
    let (state, delta) = match &cp.body {
        StateBody::Snapshot(state) => (state.clone(), false),
        StateBody::Delta(updates) => (Value::Array(updates.clone()), true),
    };
    c.cp_op.push(op);
    c.cp_namespace.push(job.thread.namespace().to_owned());
    c.cp_id.push(cp.checkpoint_id);
    c.cp_parent.push(cp.parent_id);
    c.cp_step.push(cp.step);
    c.cp_state.push(state);
    c.cp_next.push(Value::from(cp.next_nodes.clone()));
    c.cp_meta.push(cp.meta.clone());
    c.cp_delta.push(delta);
}

fn push_writes(c: &mut BatchColumns, op: i32, job: &CommitJob) {
    for w in &job.commit.writes {
        c.w_op.push(op);
        c.w_namespace.push(job.thread.namespace().to_owned());
        c.w_checkpoint.push(job.commit.writes_for);
        c.w_task.push(w.task_id.clone());
        c.w_idx.push(w.idx);
        c.w_channel.push(w.channel.clone());
        c.w_value.push(w.value.clone());
    }
}

/// Answers each commit job from the statement's outcomes (matched by op = position in the round).
pub(super) fn reply_commits(jobs: Vec<CommitJob>, outcomes: &[OpOutcome]) {
    let mut by_op = vec![None; jobs.len()];
    for outcome in outcomes {
        if let Some(slot) = usize::try_from(outcome.op)
            .ok()
            .and_then(|i| by_op.get_mut(i))
        {
            *slot = Some(*outcome);
        }
    }
    for (job, outcome) in jobs.into_iter().zip(by_op) {
        let answer = verdict(&job, outcome);
        let _ = job.reply.send(answer);
    }
}

fn verdict(job: &CommitJob, outcome: Option<OpOutcome>) -> Result<(), CheckpointError> {
    let outcome = outcome.unwrap_or(OpOutcome {
        op: -1,
        fence_ok: false,
        inserted: false,
    });
    let (thread, commit) = (&job.thread, &job.commit);
    if let (false, Some(fence)) = (outcome.fence_ok, &commit.fence) {
        return Err(CheckpointError::Fenced {
            thread: thread.to_string(),
            owner: fence.owner.to_string(),
            epoch: fence.epoch,
        });
    }
    match (commit.checkpoints.first(), outcome.inserted) {
        (Some(cp), false) => Err(CheckpointError::Conflict {
            thread: thread.to_string(),
            checkpoint_id: cp.checkpoint_id,
        }),
        _ => Ok(()),
    }
}

/// Positions of the fenced plain commits whose checkpoint was not inserted.
pub(super) fn missing_fenced(jobs: &[CommitJob], inserted: &[(String, String, i64)]) -> Vec<usize> {
    (0..jobs.len())
        .filter(|i| jobs[*i].commit.fence.is_some() && !was_inserted(&jobs[*i], inserted))
        .collect()
}

fn was_inserted(job: &CommitJob, inserted: &[(String, String, i64)]) -> bool {
    let id = job
        .commit
        .checkpoints
        .first()
        .map_or(-1, |c| c.checkpoint_id);
    inserted
        .iter()
        .any(|(t, ns, i)| t == job.thread.thread_id() && ns == job.thread.namespace() && *i == id)
}

/// The fences of the jobs at `positions`, as columns.
pub(super) fn fence_columns(
    jobs: &[CommitJob],
    positions: &[usize],
) -> (Vec<String>, Vec<i64>, Vec<String>) {
    let mut columns = (Vec::new(), Vec::new(), Vec::new());
    for job in positions.iter().filter_map(|i| jobs.get(*i)) {
        let Some(fence) = &job.commit.fence else {
            continue;
        };
        columns.0.push(job.thread.thread_id().to_owned());
        columns.1.push(fence.epoch);
        columns.2.push(fence.owner.to_string());
    }
    columns
}

/// Outcomes of plain commits: inserted rows are fine; a missing row was fenced when its lease is not held
/// with its fence (`held`, aligned with `missing`), a conflict otherwise.
pub(super) fn plain_outcomes(
    jobs: &[CommitJob],
    inserted: &[(String, String, i64)],
    missing: &[usize],
    held: &[bool],
) -> Vec<OpOutcome> {
    (0..jobs.len())
        .map(|i| {
            let fence_ok = match missing.iter().position(|m| *m == i) {
                Some(k) => held.get(k).copied().unwrap_or(false),
                None => true,
            };
            OpOutcome {
                op: i32::try_from(i).unwrap_or(i32::MAX),
                fence_ok,
                inserted: was_inserted(&jobs[i], inserted),
            }
        })
        .collect()
}

/// The acquisition columns of a round.
pub(super) fn acquire_columns(jobs: &[AcquireJob]) -> AcquireColumns {
    let mut c = AcquireColumns::default();
    for job in jobs {
        c.thread_id.push(job.thread_id.clone());
        c.owner.push(job.owner.clone());
        c.expires_at.push(job.now + ttl_delta(job.ttl));
        c.now.push(job.now);
    }
    c
}

/// Pairs each acquisition with its grant: the new epoch, or the holder that kept the lease.
pub(super) fn grants(
    jobs: Vec<AcquireJob>,
    granted: &[(String, i64)],
    holders: &[LeaseHolder],
) -> Vec<(AcquireJob, Grant)> {
    jobs.into_iter()
        .map(|job| {
            let grant = match granted.iter().find(|(t, _)| *t == job.thread_id) {
                Some((_, epoch)) => Grant::Acquired { epoch: *epoch },
                None => holders
                    .iter()
                    .find(|h| h.thread_id == job.thread_id)
                    .map_or(
                        Grant::Held {
                            owner: String::new(),
                            expires_at: job.now,
                        },
                        |h| Grant::Held {
                            owner: h.owner.clone(),
                            expires_at: h.expires_at,
                        },
                    ),
            };
            (job, grant)
        })
        .collect()
}
