//! The SQL of the PostgreSQL checkpointer, checked at compile time against the `.sqlx/` cache.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::batch::CommitJob;
use super::{CheckpointRecord, Claimed, LeaseInfo, PendingWrite, StateBody, ttl_delta};
use crate::error::CheckpointError;
use crate::thread::ThreadKey;

/// A batch of commits as column arrays (one statement, one transaction, one fsync).
#[derive(Debug, Default)]
pub(super) struct BatchColumns {
    pub op: Vec<i32>,
    pub thread_id: Vec<String>,
    pub epoch: Vec<Option<i64>>,
    pub owner: Vec<Option<String>>,
    pub release: Vec<bool>,
    pub cp_op: Vec<i32>,
    pub cp_namespace: Vec<String>,
    pub cp_id: Vec<i64>,
    pub cp_parent: Vec<Option<i64>>,
    pub cp_step: Vec<i64>,
    pub cp_state: Vec<Value>,
    pub cp_next: Vec<Value>,
    pub cp_meta: Vec<Option<Value>>,
    pub cp_delta: Vec<bool>,
    pub w_op: Vec<i32>,
    pub w_namespace: Vec<String>,
    pub w_checkpoint: Vec<i64>,
    pub w_task: Vec<String>,
    pub w_idx: Vec<i32>,
    pub w_channel: Vec<String>,
    pub w_value: Vec<Value>,
}

/// A batch of lease acquisitions as column arrays.
#[derive(Debug, Default)]
pub(super) struct AcquireColumns {
    pub thread_id: Vec<String>,
    pub owner: Vec<String>,
    pub expires_at: Vec<DateTime<Utc>>,
    pub now: Vec<DateTime<Utc>>,
}

/// Who holds a lease that could not be taken.
#[derive(Debug, Clone)]
pub(super) struct LeaseHolder {
    pub thread_id: String,
    pub owner: String,
    pub expires_at: DateTime<Utc>,
}

/// Per commit of a batch: whether its fence held and whether its checkpoint (if any) was inserted.
#[derive(Debug, Clone, Copy)]
pub(super) struct OpOutcome {
    pub op: i32,
    pub fence_ok: bool,
    pub inserted: bool,
}

/// Writes a batch: fence check (FOR SHARE on each lease row, so a concurrent takeover waits for this
/// transaction or makes it see the new epoch), checkpoints, pending writes, clean-up of the parents' pending
/// writes, and lease releases — in one statement.
pub(super) async fn write_batch(
    conn: &mut PgConnection,
    c: &BatchColumns,
) -> Result<Vec<OpOutcome>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
WITH ops AS (
    SELECT * FROM UNNEST($1::int4[], $2::text[], $3::int8[], $4::text[], $5::bool[])
        AS o(op, thread_id, epoch, owner, release)
), fence_ok AS (
    SELECT o.op FROM ops o
    WHERE o.epoch IS NULL OR EXISTS (
        SELECT 1 FROM graph_leases l
        WHERE l.thread_id = o.thread_id AND l.epoch = o.epoch AND l.owner = o.owner
        FOR SHARE)
), cps AS (
    SELECT * FROM UNNEST($6::int4[], $7::text[], $8::int8[], $9::int8[], $10::int8[], $11::jsonb[],
                         $12::jsonb[], $13::jsonb[], $14::bool[])
        AS c(op, namespace, checkpoint_id, parent_id, step, state, next_nodes, meta, delta)
), cp AS (
    INSERT INTO graph_checkpoints
        (thread_id, namespace, checkpoint_id, parent_id, step, state, next_nodes, meta, delta, lease_epoch)
    SELECT o.thread_id, c.namespace, c.checkpoint_id, c.parent_id, c.step, c.state,
           ARRAY(SELECT jsonb_array_elements_text(c.next_nodes)), c.meta, c.delta, COALESCE(o.epoch, 0)
    FROM cps c JOIN ops o USING (op) JOIN fence_ok USING (op)
    -- All checkpoints of a commit or none: skip a commit whose ids are (partly) taken.
    WHERE NOT EXISTS (
        SELECT 1 FROM cps c2 JOIN graph_checkpoints g
            ON g.thread_id = o.thread_id AND g.namespace = c2.namespace AND g.checkpoint_id = c2.checkpoint_id
        WHERE c2.op = c.op)
    ON CONFLICT DO NOTHING
    RETURNING thread_id, namespace, checkpoint_id, parent_id
), pws AS (
    SELECT * FROM UNNEST($15::int4[], $16::text[], $17::int8[], $18::text[], $19::int4[], $20::text[],
                         $21::jsonb[])
        AS w(op, namespace, checkpoint_id, task_id, idx, channel, value)
), pw AS (
    INSERT INTO graph_pending_writes (thread_id, namespace, checkpoint_id, task_id, idx, channel, value)
    SELECT o.thread_id, w.namespace, w.checkpoint_id, w.task_id, w.idx, w.channel, w.value
    FROM pws w JOIN ops o USING (op) JOIN fence_ok USING (op)
    ON CONFLICT (thread_id, namespace, checkpoint_id, task_id, idx)
        DO UPDATE SET channel = EXCLUDED.channel, value = EXCLUDED.value WHERE EXCLUDED.idx < 0
    RETURNING 1
), gc AS (
    DELETE FROM graph_pending_writes d USING cp
    WHERE d.thread_id = cp.thread_id AND d.namespace = cp.namespace AND d.checkpoint_id = cp.parent_id
    RETURNING 1
), rel AS (
    UPDATE graph_leases l SET owner = '', expires_at = to_timestamp(0), runnable = FALSE
    FROM ops o JOIN fence_ok USING (op)
    WHERE o.release AND l.thread_id = o.thread_id AND l.epoch = o.epoch AND l.owner = o.owner
    RETURNING 1
)
SELECT o.op AS "op!", (f.op IS NOT NULL) AS "fence_ok!",
       NOT EXISTS (
           SELECT 1 FROM cps c
           LEFT JOIN cp ON cp.thread_id = o.thread_id AND cp.namespace = c.namespace
                       AND cp.checkpoint_id = c.checkpoint_id
           WHERE c.op = o.op AND cp.checkpoint_id IS NULL) AS "inserted!"
FROM ops o
LEFT JOIN fence_ok f USING (op)
"#,
        &c.op,
        &c.thread_id,
        &c.epoch as &[Option<i64>],
        &c.owner as &[Option<String>],
        &c.release,
        &c.cp_op,
        &c.cp_namespace,
        &c.cp_id,
        &c.cp_parent as &[Option<i64>],
        &c.cp_step,
        &c.cp_state,
        &c.cp_next,
        &c.cp_meta as &[Option<Value>],
        &c.cp_delta,
        &c.w_op,
        &c.w_namespace,
        &c.w_checkpoint,
        &c.w_task,
        &c.w_idx,
        &c.w_channel,
        &c.w_value,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OpOutcome {
            op: r.op,
            fence_ok: r.fence_ok,
            inserted: r.inserted,
        })
        .collect())
}

/// The common commit, alone in its statement: checkpoints only (no pending writes, no release, no parent
/// writes to drop), fenced per row like [`write_batch`]. Returns the keys of the rows inserted; a missing row
/// was fenced or conflicted ([`fences_held`] tells which).
pub(super) async fn insert_checkpoints(
    conn: &mut PgConnection,
    c: &BatchColumns,
) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
INSERT INTO graph_checkpoints
    (thread_id, namespace, checkpoint_id, parent_id, step, state, next_nodes, meta, delta, lease_epoch)
SELECT u.thread_id, u.namespace, u.checkpoint_id, u.parent_id, u.step, u.state,
       ARRAY(SELECT jsonb_array_elements_text(u.next_nodes)), u.meta, u.delta, COALESCE(u.epoch, 0)
FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::jsonb[], $7::jsonb[],
            $8::jsonb[], $9::bool[], $10::int8[], $11::text[])
    AS u(thread_id, namespace, checkpoint_id, parent_id, step, state, next_nodes, meta, delta, epoch, owner)
WHERE u.epoch IS NULL OR EXISTS (
    SELECT 1 FROM graph_leases l
    WHERE l.thread_id = u.thread_id AND l.epoch = u.epoch AND l.owner = u.owner
    FOR SHARE)
ON CONFLICT DO NOTHING
RETURNING thread_id, namespace, checkpoint_id
"#,
        &c.thread_id,
        &c.cp_namespace,
        &c.cp_id,
        &c.cp_parent as &[Option<i64>],
        &c.cp_step,
        &c.cp_state,
        &c.cp_next,
        &c.cp_meta as &[Option<Value>],
        &c.cp_delta,
        &c.epoch as &[Option<i64>],
        &c.owner as &[Option<String>],
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.thread_id, r.namespace, r.checkpoint_id))
        .collect())
}

/// [`insert_checkpoints`] for a batch of one (the sequential case): plain parameters instead of arrays, so
/// PostgreSQL does less work per commit.
pub(super) async fn insert_checkpoint(
    conn: &mut PgConnection,
    job: &CommitJob,
) -> Result<Option<(String, String, i64)>, sqlx::Error> {
    let Some(cp) = job.commit.checkpoints.first() else {
        return Ok(None);
    };
    let (state, delta) = match &cp.body {
        StateBody::Snapshot(state) => (state.clone(), false),
        StateBody::Delta(updates) => (Value::Array(updates.clone()), true),
    };
    let fence = job.commit.fence.as_ref();
    let row = sqlx::query!(
        r#"
INSERT INTO graph_checkpoints
    (thread_id, namespace, checkpoint_id, parent_id, step, state, next_nodes, meta, delta, lease_epoch)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, COALESCE($10::int8, 0)
WHERE $10 IS NULL OR EXISTS (
    SELECT 1 FROM graph_leases l
    WHERE l.thread_id = $1 AND l.epoch = $10 AND l.owner = $11
    FOR SHARE)
ON CONFLICT DO NOTHING
RETURNING thread_id, namespace, checkpoint_id
"#,
        job.thread.thread_id(),
        job.thread.namespace(),
        cp.checkpoint_id,
        cp.parent_id,
        cp.step,
        state,
        &cp.next_nodes,
        cp.meta,
        delta,
        fence.map(|f| f.epoch),
        fence.map(|f| f.owner.to_string()),
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.thread_id, r.namespace, r.checkpoint_id)))
}

/// Returns, per (thread, epoch, owner), whether that lease is currently held with that epoch by that owner.
pub(super) async fn fences_held(
    conn: &mut PgConnection,
    thread_ids: &[String],
    epochs: &[i64],
    owners: &[String],
) -> Result<Vec<bool>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM graph_leases l
                          WHERE l.thread_id = f.thread_id AND l.epoch = f.epoch AND l.owner = f.owner)
                  AS "held!"
           FROM UNNEST($1::text[], $2::int8[], $3::text[]) WITH ORDINALITY AS f(thread_id, epoch, owner, n)
           ORDER BY f.n"#,
        thread_ids,
        epochs,
        owners,
    )
    .fetch_all(conn)
    .await
}

/// Makes the writer connection reuse one plan per statement: the batch statements are planned once instead
/// of at every execution (PostgreSQL keeps choosing custom plans for them otherwise, ~0.5 ms each).
pub(super) async fn prepare_writer(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!("SET plan_cache_mode = force_generic_plan")
        .execute(conn)
        .await?;
    Ok(())
}

/// Loads the latest snapshot and the deltas after it, oldest first.
pub(super) async fn load_chain(
    pool: &PgPool,
    thread: &ThreadKey,
) -> Result<Vec<CheckpointRecord>, CheckpointError> {
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT checkpoint_id, parent_id, step, state, next_nodes, meta, delta, lease_epoch
           FROM graph_checkpoints
           WHERE thread_id = $1 AND namespace = $2 AND checkpoint_id >= COALESCE((
               SELECT checkpoint_id FROM graph_checkpoints
               WHERE thread_id = $1 AND namespace = $2 AND NOT delta
               ORDER BY checkpoint_id DESC LIMIT 1), 0)
           ORDER BY checkpoint_id"#,
        thread.thread_id(),
        thread.namespace(),
    )
    .fetch_all(pool)
    .await
    .map_err(CheckpointError::db("loading checkpoints"))?;
    Ok(rows.into_iter().map(CheckpointRecord::from).collect())
}

/// One stored checkpoint row.
struct Row {
    checkpoint_id: i64,
    parent_id: Option<i64>,
    step: i64,
    state: Value,
    next_nodes: Vec<String>,
    meta: Option<Value>,
    delta: bool,
    lease_epoch: i64,
}

impl From<Row> for CheckpointRecord {
    fn from(r: Row) -> Self {
        let body = match (r.delta, r.state) {
            (true, Value::Array(updates)) => StateBody::Delta(updates),
            (true, other) => StateBody::Delta(vec![other]),
            (false, state) => StateBody::Snapshot(state),
        };
        CheckpointRecord {
            checkpoint_id: r.checkpoint_id,
            parent_id: r.parent_id,
            step: r.step,
            body,
            next_nodes: r.next_nodes,
            meta: r.meta,
            lease_epoch: r.lease_epoch,
        }
    }
}

/// Returns up to `limit` checkpoints, newest first.
pub(super) async fn history(
    pool: &PgPool,
    thread: &ThreadKey,
    limit: i64,
) -> Result<Vec<CheckpointRecord>, CheckpointError> {
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT checkpoint_id, parent_id, step, state, next_nodes, meta, delta, lease_epoch
           FROM graph_checkpoints WHERE thread_id = $1 AND namespace = $2
           ORDER BY checkpoint_id DESC LIMIT $3"#,
        thread.thread_id(),
        thread.namespace(),
        limit,
    )
    .fetch_all(pool)
    .await
    .map_err(CheckpointError::db("listing checkpoints"))?;
    Ok(rows.into_iter().map(CheckpointRecord::from).collect())
}

/// Returns the pending writes of `checkpoint_id` (`None`: of the latest checkpoint).
pub(super) async fn pending_writes(
    pool: &PgPool,
    thread: &ThreadKey,
    checkpoint_id: Option<i64>,
) -> Result<Vec<PendingWrite>, CheckpointError> {
    let rows = sqlx::query!(
        r#"SELECT task_id, idx, channel, value FROM graph_pending_writes
           WHERE thread_id = $1 AND namespace = $2 AND checkpoint_id = COALESCE($3, (
               SELECT max(checkpoint_id) FROM graph_checkpoints WHERE thread_id = $1 AND namespace = $2))
           ORDER BY task_id, idx"#,
        thread.thread_id(),
        thread.namespace(),
        checkpoint_id,
    )
    .fetch_all(pool)
    .await
    .map_err(CheckpointError::db("loading pending writes"))?;
    Ok(rows
        .into_iter()
        .map(|r| PendingWrite {
            task_id: r.task_id,
            idx: r.idx,
            channel: r.channel,
            value: r.value,
        })
        .collect())
}

/// Returns an effect's recorded result.
pub(super) async fn effect(pool: &PgPool, key: &str) -> Result<Option<Value>, CheckpointError> {
    sqlx::query_scalar!("SELECT result FROM effects WHERE idempotency_key = $1", key)
        .fetch_optional(pool)
        .await
        .map_err(CheckpointError::db("reading an effect"))
}

/// Records an effect's result unless one exists; returns the recorded one.
pub(super) async fn record_effect(
    pool: &PgPool,
    key: &str,
    result: Value,
) -> Result<Value, CheckpointError> {
    let inserted = sqlx::query_scalar!(
        "INSERT INTO effects (idempotency_key, result) VALUES ($1, $2)
         ON CONFLICT DO NOTHING RETURNING result",
        key,
        result,
    )
    .fetch_optional(pool)
    .await
    .map_err(CheckpointError::db("recording an effect"))?;
    match inserted {
        Some(result) => Ok(result),
        None => Ok(effect(pool, key).await?.unwrap_or(Value::Null)),
    }
}

/// Takes each lease that is free or expired (epoch + 1, runnable); returns the ones taken with their epoch.
pub(super) async fn acquire_batch(
    conn: &mut PgConnection,
    c: &AcquireColumns,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"INSERT INTO graph_leases (thread_id, owner, epoch, expires_at, runnable, ready_at)
           SELECT a.thread_id, a.owner, 1, a.expires_at, TRUE, a.now
           FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
               AS a(thread_id, owner, expires_at, now)
           ON CONFLICT (thread_id) DO UPDATE
               SET owner = EXCLUDED.owner, epoch = graph_leases.epoch + 1,
                   expires_at = EXCLUDED.expires_at, runnable = TRUE
               WHERE graph_leases.expires_at <= EXCLUDED.ready_at
           RETURNING thread_id, epoch"#,
        &c.thread_id,
        &c.owner,
        &c.expires_at,
        &c.now,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.thread_id, r.epoch)).collect())
}

/// Returns the holders of the leases of `thread_ids`.
pub(super) async fn holders(
    pool: &PgPool,
    thread_ids: &[String],
) -> Result<Vec<LeaseHolder>, CheckpointError> {
    let rows = sqlx::query!(
        "SELECT thread_id, owner, expires_at FROM graph_leases WHERE thread_id = ANY($1)",
        thread_ids,
    )
    .fetch_all(pool)
    .await
    .map_err(CheckpointError::db("reading lease holders"))?;
    Ok(rows
        .into_iter()
        .map(|r| LeaseHolder {
            thread_id: r.thread_id,
            owner: r.owner,
            expires_at: r.expires_at,
        })
        .collect())
}

/// Extends a lease still held with `epoch` by `owner`.
pub(super) async fn renew(
    pool: &PgPool,
    thread_id: &str,
    owner: &str,
    epoch: i64,
    expires_at: DateTime<Utc>,
) -> Result<bool, CheckpointError> {
    let done = sqlx::query!(
        "UPDATE graph_leases SET expires_at = $4 WHERE thread_id = $1 AND owner = $2 AND epoch = $3",
        thread_id,
        owner,
        epoch,
        expires_at,
    )
    .execute(pool)
    .await
    .map_err(CheckpointError::db("renewing a lease"))?;
    Ok(done.rows_affected() == 1)
}

/// Releases a lease still held with `epoch` by `owner`.
pub(super) async fn release(
    pool: &PgPool,
    thread_id: &str,
    owner: &str,
    epoch: i64,
    runnable: bool,
) -> Result<bool, CheckpointError> {
    let done = sqlx::query!(
        "UPDATE graph_leases SET owner = '', expires_at = to_timestamp(0), runnable = $4
         WHERE thread_id = $1 AND owner = $2 AND epoch = $3",
        thread_id,
        owner,
        epoch,
        runnable,
    )
    .execute(pool)
    .await
    .map_err(CheckpointError::db("releasing a lease"))?;
    Ok(done.rows_affected() == 1)
}

/// Marks a thread runnable (its queue position is when it became runnable).
pub(super) async fn enqueue(
    pool: &PgPool,
    thread_id: &str,
    now: DateTime<Utc>,
) -> Result<(), CheckpointError> {
    sqlx::query!(
        "INSERT INTO graph_leases (thread_id, owner, epoch, expires_at, runnable, ready_at)
         VALUES ($1, '', 0, to_timestamp(0), TRUE, $2)
         ON CONFLICT (thread_id) DO UPDATE
             SET runnable = TRUE,
                 ready_at = CASE WHEN graph_leases.runnable THEN graph_leases.ready_at
                                 ELSE EXCLUDED.ready_at END",
        thread_id,
        now,
    )
    .execute(pool)
    .await
    .map_err(CheckpointError::db("enqueueing a thread"))?;
    Ok(())
}

/// Claims up to `limit` runnable threads with a free or expired lease; SKIP LOCKED makes claims exclusive.
pub(super) async fn claim(
    pool: &PgPool,
    owner: &str,
    limit: i64,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<Vec<Claimed>, CheckpointError> {
    let rows = sqlx::query!(
        "UPDATE graph_leases l SET owner = $1, epoch = l.epoch + 1, expires_at = $2
         FROM (SELECT thread_id FROM graph_leases
               WHERE runnable AND expires_at <= $3
               ORDER BY ready_at LIMIT $4
               FOR UPDATE SKIP LOCKED) c
         WHERE l.thread_id = c.thread_id
         RETURNING l.thread_id, l.epoch",
        owner,
        now + ttl_delta(ttl),
        now,
        limit,
    )
    .fetch_all(pool)
    .await
    .map_err(CheckpointError::db("claiming threads"))?;
    Ok(rows
        .into_iter()
        .map(|r| Claimed {
            thread_id: r.thread_id,
            epoch: r.epoch,
        })
        .collect())
}

/// Returns a lease row.
pub(super) async fn lease(
    pool: &PgPool,
    thread_id: &str,
) -> Result<Option<LeaseInfo>, CheckpointError> {
    let row = sqlx::query!(
        "SELECT owner, epoch, expires_at, runnable FROM graph_leases WHERE thread_id = $1",
        thread_id,
    )
    .fetch_optional(pool)
    .await
    .map_err(CheckpointError::db("reading a lease"))?;
    Ok(row.map(|r| LeaseInfo {
        owner: r.owner,
        epoch: r.epoch,
        expires_at: r.expires_at,
        runnable: r.runnable,
    }))
}
