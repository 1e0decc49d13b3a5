//! Budget warnings: after a step that spent money, the person is told once when the project's spend crosses
//! 80% and 100% of its budget (`budget_alerts` keeps it to once per threshold and budget; raising the budget
//! re-arms them). At 100% the model calls themselves are refused before they are made (orch-llm).

use orch_graph::Ctx;
use orch_graph::effects::EffectError;
use orch_store::budget_alerts;

use crate::nodes::Deps;
use crate::state::Conversation;
use crate::texts;

impl Deps {
    /// Checks the project's spend after this step's model call and queues a warning when a threshold was
    /// crossed for the first time — in one transaction, once per step.
    pub(crate) async fn warn_about_budget(
        &self,
        state: &Conversation,
        ctx: &Ctx,
    ) -> Result<(), EffectError> {
        let project = state.project_id;
        self.write_once(ctx, "budget", state, move |conn| {
            Box::pin(async move {
                let crossed = budget_alerts::record_crossed(conn, project).await?;
                Ok(crossed
                    .map(|c| {
                        texts::send(texts::budget_warning(
                            c.threshold_pct,
                            c.spent_usd_micros,
                            c.budget_usd_micros,
                        ))
                    })
                    .into_iter()
                    .collect())
            })
        })
        .await
    }
}
