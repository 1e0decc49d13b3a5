//! The fixture's side effect: one row in `chaos_effects` per handled message, guarded by the inbox.

use std::time::Duration;

use orch_bus::{Delivery, HandlerError};
use orch_contracts::messages::worker::WorkerProgress;
use orch_store::inbox;
use sqlx::PgPool;

use crate::{FixtureArgs, GROUP};

/// The DDL of the effects table the tests create in their database.
pub const EFFECTS_DDL: &str = "CREATE TABLE chaos_effects (
    id BIGSERIAL PRIMARY KEY,
    event_id UUID NOT NULL,
    seq BIGINT NOT NULL,
    consumer TEXT NOT NULL,
    deliveries BIGINT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now())";

/// Applies one message's effect as the flags say.
#[derive(Clone)]
pub struct EffectHandler {
    /// The test database.
    pub pool: PgPool,
    /// The fixture's flags.
    pub args: FixtureArgs,
}

impl EffectHandler {
    /// Handles one delivery: optional fault, then inbox claim + effect row in one transaction.
    pub async fn apply(&self, delivery: Delivery<WorkerProgress>) -> Result<(), HandlerError> {
        let seq = delivery.envelope.body.seq;
        if self.args.panic_on_seq == Some(seq) {
            panic!("poison message {seq}");
        }
        if self.args.hang_on_seq == Some(seq) {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(Duration::from_millis(self.args.work_ms)).await;
        self.commit(&delivery).await.map_err(HandlerError::retry)?;
        tokio::time::sleep(Duration::from_millis(self.args.pause_after_commit_ms)).await;
        Ok(())
    }

    async fn commit(&self, delivery: &Delivery<WorkerProgress>) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        let fresh =
            self.args.no_inbox || inbox::claim(&mut tx, GROUP, delivery.envelope.event_id).await?;
        if fresh {
            sqlx::query("INSERT INTO chaos_effects (event_id, seq, consumer, deliveries) VALUES ($1, $2, $3, $4)")
                .bind(delivery.envelope.event_id.0)
                .bind(delivery.envelope.body.seq as i64)
                .bind(&self.args.name)
                .bind(delivery.deliveries as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
