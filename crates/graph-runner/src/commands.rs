//! Commands: `/start`, `/new [idea]`, `/status`, `/budget [dollars]`, `/cancel`, `/help`; anything else gets a
//! pointer to `/help`.
//!
//! `/status`, `/cancel` and `/help` take no arguments: with some they explain that and do nothing else (a
//! mistyped `/cancel now please` must not cancel by surprise). `/start` ignores its argument (Telegram deep
//! links put a payload there).

use orch_store::projects::ProjectStatus;
use orch_store::usage;

use crate::conversations::{Conversations, Event, Handled, commit, waiting};
use crate::db::{self, ActiveThread};
use crate::error::HandleError;
use crate::relay;
use crate::state::{Conversation, Next, Waiting};
use crate::texts::{self, clip};

impl Conversations {
    /// Handles `/command args`.
    pub async fn on_command(
        &self,
        event: &Event,
        command: &str,
        args: &str,
    ) -> Result<Handled, HandleError> {
        let args = args.trim();
        if matches!(command, "status" | "cancel" | "help") && !args.is_empty() {
            let text = format!(
                "/{command} takes no arguments (you wrote “{}”). Send /{command} on its own.",
                clip(args, 100)
            );
            return self.reply(event, vec![texts::send(text)]).await;
        }
        match command {
            "start" => self.reply(event, vec![texts::send(texts::WELCOME)]).await,
            "help" => self.reply(event, vec![texts::send(texts::HELP)]).await,
            "status" => self.status(event).await,
            "cancel" => self.cancel(event).await,
            "budget" => self.budget(event, args).await,
            "new" => {
                let idea = (!args.is_empty()).then(|| args.to_owned());
                let previous = self.active(event.chat_id).await?;
                self.start(event, idea, previous).await
            }
            other => {
                let text = format!("I don't know /{other}. /help lists the commands I understand.");
                self.reply(event, vec![texts::send(text)]).await
            }
        }
    }

    async fn status(&self, event: &Event) -> Result<Handled, HandleError> {
        let Some(thread) = self.active(event.chat_id).await? else {
            let text = "There is no project in progress. Send /new <idea> (or just describe your idea) to \
                        start one.";
            return self.reply(event, vec![texts::send(text)]).await;
        };
        let spent = {
            let mut conn = self.conn().await?;
            usage::project_spend(&mut conn, thread.project_id).await?
        };
        let view = self.runner.get_state(&thread.thread).await?;
        let text = status_text(
            &thread,
            view.as_ref().map(|v| (&v.state, waiting(v))),
            spent,
        );
        self.reply(event, vec![texts::send_markdown(text)]).await
    }

    /// `/budget` shows the current project's spend and budget; `/budget 5` sets the budget to $5 (audited).
    async fn budget(&self, event: &Event, args: &str) -> Result<Handled, HandleError> {
        let Some(thread) = self.active(event.chat_id).await? else {
            return self
                .reply(event, vec![texts::send("There is no project to budget.")])
                .await;
        };
        let spent = {
            let mut conn = self.conn().await?;
            usage::project_spend(&mut conn, thread.project_id).await?
        };
        if args.is_empty() {
            let text = texts::budget_shown(&thread.name, spent, thread.budget_usd_micros);
            return self.reply(event, vec![texts::send(text)]).await;
        }
        let Some(micros) = crate::answers::parse_dollars(args) else {
            let text = format!(
                "“{}” is not an amount. Write it in dollars, e.g. /budget 5",
                clip(args, 50)
            );
            return self.reply(event, vec![texts::send(text)]).await;
        };
        let mut tx = self.store.begin().await?;
        if orch_store::inbox::claim(&mut tx, crate::conversations::CONSUMER, event.id).await? {
            db::set_budget(&mut tx, &thread, event.user_id, micros).await?;
            let text = texts::budget_set(&thread.name, spent, micros);
            relay::enqueue(
                &mut tx,
                event.chat_id,
                Some(thread.run_id),
                vec![texts::send(text)],
            )
            .await?;
            commit(tx).await?;
            self.wake.notify();
        }
        Ok(Handled::Replied)
    }

    async fn cancel(&self, event: &Event) -> Result<Handled, HandleError> {
        let Some(thread) = self.active(event.chat_id).await? else {
            return self
                .reply(event, vec![texts::send("There is nothing to cancel.")])
                .await;
        };
        let mut tx = self.store.begin().await?;
        if orch_store::inbox::claim(&mut tx, crate::conversations::CONSUMER, event.id).await? {
            db::close_thread(&mut tx, &thread, &[]).await?;
            let text = format!(
                "Cancelled `{}`. Nothing more will happen with it. Send /new <idea> to start again.",
                thread.name
            );
            relay::enqueue(
                &mut tx,
                event.chat_id,
                Some(thread.run_id),
                vec![texts::send_markdown(text)],
            )
            .await?;
            commit(tx).await?;
            self.wake.notify();
        }
        Ok(Handled::Replied)
    }
}

/// Renders `/status`.
pub fn status_text(
    thread: &ActiveThread,
    view: Option<(&Conversation, Option<Waiting>)>,
    spent: i64,
) -> String {
    let (questions, drafts) = view
        .as_ref()
        .map_or((0, 0), |(s, _)| (s.questions, s.spec_rev));
    let now = match view {
        None => "just started".to_owned(),
        Some((state, waiting)) => where_we_are(state, waiting),
    };
    format!(
        "*Project:* `{}` — {}\n*Now:* {now}\n*Questions asked:* {questions} · *Spec drafts:* {drafts}\n\
         *Spend:* {} of {}",
        thread.name,
        project_status(thread.status),
        texts::dollars(spent),
        texts::dollars(thread.budget_usd_micros)
    )
}

fn where_we_are(state: &Conversation, waiting: Option<Waiting>) -> String {
    match (waiting, &state.next) {
        (Some(Waiting::Text { asked }), _) => {
            format!("waiting for your answer to: “{}”", clip(&asked, 300))
        }
        (Some(Waiting::Approval { rev }), _) => {
            format!("waiting for you to approve or change spec v{rev}")
        }
        (
            Some(Waiting::Workers {
                running,
                reviewing,
                asking,
            }),
            _,
        ) => {
            let mut text = format!(
                "building: {running} coding worker(s) running, {reviewing} pull request(s) in review"
            );
            if asking > 0 {
                text.push_str(&format!(", {asking} question(s) waiting for your answer"));
            }
            text
        }
        (None, Next::Done) => match (&state.approved, &state.repository) {
            (Some(a), Some(repo)) => format!(
                "spec version {} is approved; repository `{}` is set up with {} planned task(s)",
                a.version, repo.full_name, repo.tasks
            ),
            (Some(a), None) => format!(
                "spec version {} is approved; building starts once the factory is configured",
                a.version
            ),
            (None, _) => "finished".to_owned(),
        },
        (None, Next::Architect) => "the architect is planning the repository".to_owned(),
        (None, Next::Develop) => "starting coding workers".to_owned(),
        (None, _) => "working on your last message".to_owned(),
    }
}

fn project_status(status: ProjectStatus) -> &'static str {
    match status {
        ProjectStatus::Brainstorming => "brainstorming",
        ProjectStatus::SpecApproved => "spec approved",
        ProjectStatus::Building => "building",
        ProjectStatus::Reviewing => "in review",
        ProjectStatus::Deploying => "deploying",
        ProjectStatus::Live => "live",
        ProjectStatus::Paused => "paused",
        ProjectStatus::Failed => "failed",
        ProjectStatus::Cancelled => "cancelled",
    }
}

#[cfg(test)]
mod tests {
    use orch_contracts::{EventId, ProjectId, RunId};
    use orch_graph::ThreadKey;

    use super::*;
    use crate::state::ThreadIds;

    fn thread() -> ActiveThread {
        ActiveThread {
            thread: ThreadKey::new("chat:1:project:x"),
            project_id: ProjectId::new(),
            run_id: RunId::new(),
            owner_user_id: 1,
            name: "draft-12345678".into(),
            status: ProjectStatus::Brainstorming,
            budget_usd_micros: 20_000_000,
        }
    }

    #[test]
    fn status_names_the_project_the_wait_and_the_spend() {
        let t = thread();
        let ids = ThreadIds {
            chat_id: 1,
            owner_user_id: 1,
            project_id: t.project_id,
            run_id: t.run_id,
        };
        let state = Conversation::new(ids, Some(("idea".into(), EventId::new())));
        let waiting = Some(Waiting::Text {
            asked: "Which city?".into(),
        });
        let text = status_text(&t, Some((&state, waiting)), 1_500);
        assert!(text.contains("`draft-12345678` — brainstorming"), "{text}");
        assert!(text.contains("“Which city?”"), "{text}");
        assert!(text.contains("$0.0015 of $20.0000"), "{text}");
        let approval = status_text(&t, Some((&state, Some(Waiting::Approval { rev: 2 }))), 0);
        assert!(approval.contains("approve or change spec v2"), "{approval}");
        assert!(status_text(&t, None, 0).contains("just started"));
    }

    #[test]
    fn long_arguments_are_clipped() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("abcdef", 3), "abc…");
    }
}
