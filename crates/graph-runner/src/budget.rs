//! Budget warnings: after a step that spent money, the person is told once when the project's spend crosses
//! 80% and 100% of its budget (`budget_alerts` keeps it to once per threshold and budget; raising the budget
//! re-arms them). At 100% the model calls themselves are refused before they are made (orch-llm).

use orch_graph::Ctx;
use orch_graph::effects::{self, EffectError};
use orch_store::budget_alerts;

use crate::nodes::Deps;
use crate::relay;
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
        let (project, chat, run) = (state.project_id, state.chat_id, state.run_id);
        let warned =
            effects::once_in_tx(self.store.pool(), &ctx.effect_key("budget"), move |conn| {
                Box::pin(async move {
                    let Some(crossed) = budget_alerts::record_crossed(&mut *conn, project).await?
                    else {
                        return Ok(false);
                    };
                    let text = texts::budget_warning(
                        crossed.threshold_pct,
                        crossed.spent_usd_micros,
                        crossed.budget_usd_micros,
                    );
                    relay::enqueue(conn, chat, Some(run), vec![texts::send(text)]).await?;
                    Ok(true)
                })
            })
            .await?;
        if warned {
            self.wake.notify();
        }
        Ok(())
    }
}
