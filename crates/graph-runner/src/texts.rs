//! Everything the person reads: command answers, the rendered spec, status lines and error explanations.
//!
//! Texts with `*bold*` or `` `code` `` are sent as [`TextFormat::Markdown`]; the gateway escapes the rest for
//! Telegram's MarkdownV2.

use orch_contracts::messages::chat::{Button, ChatAction, TextFormat};
use orch_contracts::spec::{DeployKind, Priority, ProjectSpec, SecretSource};

/// `/help`.
pub const HELP: &str = "I turn an idea into a project spec, then — once the factory is connected — into \
running software.\n\n\
/new <idea> — start a new project (the current one is set aside)\n\
/status — where the current project stands and what it has cost\n\
/budget [dollars] — show or set the current project's budget\n\
/cancel — stop the current project\n\
/help — this list\n\n\
Otherwise just write to me: I ask questions until the idea is clear, then show a spec you can Approve or \
Change.";

/// `/start`.
pub const WELCOME: &str = "Hi! Tell me what you'd like to build — a bot, a web service, a small tool — and \
I'll ask what I need to know, then write it up as a spec for you to approve.\n\n/help lists the commands.";

/// Sent when the model cannot be reached (the message stays queued and is retried).
pub const MODEL_TROUBLE: &str =
    "I'm having trouble reaching the model, I'll retry. Your message is saved.";

/// Sent when the model is not configured (the message stays queued and is retried).
pub const MODEL_MISCONFIGURED: &str = "I can't reach the model: it is not configured correctly (an \
operator needs to fix the `brainstorm` model configuration). I'll retry; your message is saved.";

/// Sent when retries are exhausted but the message is already part of the conversation.
pub const MODEL_GAVE_UP: &str = "I still can't reach the model. Your message is saved — send me anything \
(or just `ok`) to try again.";

/// Sent when the model answered garbage twice.
pub const MODEL_GARBLED: &str = "Sorry — the model's answer didn't make sense, even after I asked it \
again. Could you rephrase your last message or add a little more detail?";

/// Asked after the person pressed Change.
pub const WHAT_TO_CHANGE: &str = "What would you like to change? Describe it in your own words.";

/// Returns the over-budget explanation.
pub fn over_budget(spent_micros: i64, budget_micros: i64) -> String {
    format!(
        "This project has used its LLM budget ({} of {}), so I can't think about it any further. Raise it \
         with /budget <dollars>, then send any message to continue.",
        dollars(spent_micros),
        dollars(budget_micros)
    )
}

/// The warning when a project's spend crosses `threshold_pct` of its budget.
pub fn budget_warning(threshold_pct: i32, spent_micros: i64, budget_micros: i64) -> String {
    if threshold_pct >= 100 {
        format!(
            "⛔ This project has used its whole LLM budget ({} of {}). Further model calls and workers wait \
             until the budget is raised (/budget <dollars>).",
            dollars(spent_micros),
            dollars(budget_micros)
        )
    } else {
        format!(
            "⚠️ This project has used {threshold_pct}% of its LLM budget ({} of {}). At 100% it pauses and \
             waits for a higher budget (/budget <dollars> sets it).",
            dollars(spent_micros),
            dollars(budget_micros)
        )
    }
}

/// Formats micro-dollars as `$1.2345`.
pub fn dollars(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    format!("{sign}${}.{:04}", abs / 1_000_000, (abs % 1_000_000) / 100)
}

/// A plain text message.
pub fn send(text: impl Into<String>) -> ChatAction {
    ChatAction::Send {
        text: text.into(),
        format: TextFormat::Plain,
        buttons: Vec::new(),
        ref_key: None,
    }
}

/// A Markdown message.
pub fn send_markdown(text: impl Into<String>) -> ChatAction {
    ChatAction::Send {
        text: text.into(),
        format: TextFormat::Markdown,
        buttons: Vec::new(),
        ref_key: None,
    }
}

/// Answers a button press with a short toast.
pub fn answer_button(callback_query_id: &str, toast: &str) -> ChatAction {
    ChatAction::AnswerButton {
        callback_query_id: callback_query_id.to_owned(),
        text: Some(toast.to_owned()),
    }
}

/// The `ref_key` of the approval prompt of one spec revision, so it can be edited once decided.
pub fn approval_ref(project: &uuid::Uuid, rev: u32) -> String {
    format!("approval:{}:{rev}", project.simple())
}

/// The message with the Approve / Change buttons under spec `rev`.
pub fn approval_prompt(
    project: &uuid::Uuid,
    rev: u32,
    name: &str,
    buttons: Vec<Button>,
) -> ChatAction {
    ChatAction::Send {
        text: format!(
            "Approve spec v{rev} of *{name}* to start building, or press Change to adjust it. You can also \
             just write what to change."
        ),
        format: TextFormat::Markdown,
        buttons: vec![buttons],
        ref_key: Some(approval_ref(project, rev)),
    }
}

/// Replaces the approval prompt (removing its buttons) once the person decided.
pub fn approval_decided(project: &uuid::Uuid, rev: u32, outcome: &str) -> ChatAction {
    ChatAction::Edit {
        ref_key: approval_ref(project, rev),
        text: format!("Spec v{rev}: {outcome}"),
        format: TextFormat::Plain,
        buttons: Vec::new(),
    }
}

/// Renders a spec for reading in Telegram.
pub fn render_spec(spec: &ProjectSpec, rev: u32) -> String {
    let mut out = format!("*Spec v{rev}: {}*\n\n{}\n", spec.name, spec.summary);
    section(
        &mut out,
        "Modules",
        spec.modules
            .iter()
            .map(|m| format!("`{}` — {}", m.name, m.purpose)),
    );
    section(
        &mut out,
        "Features",
        spec.features
            .iter()
            .map(|f| format!("[{}] {} — {}", priority(f.priority), f.title, f.description)),
    );
    section(
        &mut out,
        "Done when",
        spec.acceptance_criteria.iter().cloned(),
    );
    section(
        &mut out,
        "External APIs",
        spec.external_apis
            .iter()
            .map(|a| format!("{} — {}", a.name, a.purpose)),
    );
    section(
        &mut out,
        "Secrets (names only; values are asked for later)",
        spec.secrets
            .iter()
            .map(|s| format!("`{}` — {} ({})", s.name, s.purpose, source(s.source))),
    );
    out.push_str(&format!("\n*Runs as:* {}\n", deploy(spec)));
    out
}

fn section(out: &mut String, title: &str, items: impl Iterator<Item = String>) {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        return;
    }
    out.push_str(&format!("\n*{title}*\n"));
    for item in items {
        out.push_str(&format!("• {item}\n"));
    }
}

fn priority(p: Priority) -> &'static str {
    match p {
        Priority::Must => "must",
        Priority::Should => "should",
        Priority::Could => "could",
    }
}

fn source(s: SecretSource) -> &'static str {
    match s {
        SecretSource::User => "you provide it",
        SecretSource::Platform => "the platform provides it",
    }
}

fn deploy(spec: &ProjectSpec) -> String {
    let kind = match spec.deploy_target.kind {
        DeployKind::TelegramBot => "a Telegram bot",
        DeployKind::WebService => "a web service",
        DeployKind::Worker => "a background worker",
        DeployKind::Cli => "a command-line tool",
        DeployKind::Library => "a library",
    };
    let reach = if spec.deploy_target.public {
        "public"
    } else {
        "private"
    };
    match &spec.deploy_target.subdomain {
        Some(sub) if spec.deploy_target.public => format!("{kind}, {reach} (subdomain `{sub}`)"),
        _ => format!("{kind}, {reach}"),
    }
}

/// The answer to an approval: what was stored and what happens next, honestly.
pub fn approved(spec: &ProjectSpec, name: &str, version: i32, building: bool) -> String {
    let must = spec
        .features
        .iter()
        .filter(|f| f.priority == Priority::Must)
        .count();
    let renamed = if name == spec.name {
        String::new()
    } else {
        format!(
            " (you already have a project called `{}`, so this one is `{name}`)",
            spec.name
        )
    };
    let next = if building {
        "Next, the architect plans the repository and the coding tasks; I'll tell you when the repository is \
         ready."
    } else {
        "Building is the next step: no GitHub account is configured for the factory, so nothing is being built \
         right now — it will start from this spec once one is. /status shows the project; /new starts another \
         one."
    };
    format!(
        "✅ Approved: *{name}*{renamed}, spec version {version} — {} feature(s), {must} of them must-haves. \
         The spec and the project are stored.\n\n{next}",
        spec.features.len()
    )
}

/// The answer to a message in a thread whose spec is approved.
pub fn already_approved(name: &str) -> String {
    format!(
        "The spec of *{name}* is approved and stored. Building will start from it once the factory is \
         connected (it isn't yet). Send /new <idea> to start another project."
    )
}

/// The architect could not produce a valid plan.
pub fn plan_failed(reason: &str) -> String {
    format!(
        "⚠️ The architect could not produce a valid build plan for this spec (its last answer: {}). Nothing \
         was created. An operator can check the `architect` model; /new starts over with a fresh idea.",
        clip(reason, 200)
    )
}

/// The repository is set up and the tasks are planned.
pub fn repository_ready(
    repository: &crate::state::RepositoryRef,
    web_url: Option<&str>,
    plan: &orch_contracts::plan::BuildPlan,
) -> String {
    let mut text = format!(
        "📦 Repository {} is ready{}.\n\n🗂 The plan: {} task(s)",
        repository.full_name,
        web_url.map(|u| format!(" ({u})")).unwrap_or_default(),
        plan.tasks.len()
    );
    if let Some(waves) = plan.waves() {
        text.push_str(&format!(" in {} wave(s):", waves.len()));
        for (n, wave) in waves.iter().enumerate() {
            let keys: Vec<String> = wave
                .iter()
                .map(|t| format!("{} ({})", t.title, t.key))
                .collect();
            text.push_str(&format!("\n{}. {}", n + 1, keys.join(", ")));
        }
    }
    text.push_str(
        "\n\nTasks in one wave are built in parallel; a wave starts when the one before is merged.",
    );
    text
}

/// Shortens `text` to `max` characters (with an ellipsis).
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max).collect();
    short.push('…');
    short
}

/// A task's title with its run number after the first (a retry or a rework): `Bot commands (run 2)`.
pub fn run_title(title: &str, run: i32) -> String {
    if run > 1 {
        format!("{title} (run {run})")
    } else {
        title.to_owned()
    }
}

/// Coding workers were started on these tasks (titles as [`run_title`] names them).
pub fn workers_started(titles: &[String]) -> String {
    format!(
        "🔨 Started {} coding worker(s): {}. I'll report each as it finishes.",
        titles.len(),
        titles.join(", ")
    )
}

/// A worker pushed its task and the pull request is open.
pub fn task_pushed(title: &str, number: u64, url: Option<&str>) -> String {
    let link = url.map(|u| format!(" — {u}")).unwrap_or_default();
    format!("✅ {title}: pushed and verified; pull request #{number} is open{link}.")
}

/// GitHub refused to create the repository.
pub fn repository_refused(why: &str) -> String {
    format!(
        "⚠️ GitHub refused to set up the repository: {}. This usually needs an operator (the token's or the \
         GitHub App's permissions, or the organization). Send me any message once it is fixed and I'll try again.",
        clip(why, 300)
    )
}

/// GitHub did not answer while the architect set up the repository (the step is retried).
pub const GITHUB_UNAVAILABLE: &str = "GitHub is not answering right now, so the repository is not set up \
yet. I'll keep trying; nothing is lost.";

/// A task's state in a progress line.
pub fn task_state(status: &str) -> &'static str {
    match status {
        "pending" => "waiting to start again",
        "in_review" => "pushed; in review",
        "changes_requested" => "changes requested",
        "merged" => "merged",
        "failed" => "failed",
        "escalated" => "waiting for you",
        "cancelled" => "dropped",
        _ => "working",
    }
}

/// A worker pushed more commits to a task's open pull request.
pub fn task_updated(title: &str, number: u64, url: Option<&str>) -> String {
    let link = url.map(|u| format!(" — {u}")).unwrap_or_default();
    format!(
        "✅ {title}: pushed the changes to pull request #{number}; it goes back to review{link}."
    )
}

/// A worker failed; the task runs once more with the error.
pub fn task_retrying(
    title: &str,
    status: orch_contracts::messages::worker::WorkerStatus,
    why: &str,
) -> String {
    format!(
        "⚠️ {title}: the worker ended {status:?} ({why}). Trying once more with that in the task."
    )
}

/// The question when a task failed twice.
pub fn task_failed_question(
    title: &str,
    status: orch_contracts::messages::worker::WorkerStatus,
    why: &str,
) -> String {
    format!(
        "❌ {title}: failed twice ({status:?}: {why}). Should I try again, or skip it? You can also write what \
         the worker should do differently, and I'll try again with that."
    )
}

/// The question when GitHub refused to open a pushed task's pull request.
pub fn pull_refused_question(title: &str, why: &str) -> String {
    format!(
        "⚠️ {title}: the worker pushed its branch, but GitHub refused to open the pull request ({}). Should a \
         worker try again, or skip the task? You can also write what to do differently.",
        clip(why, 300)
    )
}

/// A task's pull request was approved and merged.
pub fn task_merged(title: &str, number: u64, sha: Option<&str>) -> String {
    let commit = sha
        .map(|s| format!(" as {}", &s[..s.len().min(7)]))
        .unwrap_or_default();
    format!("🔀 {title}: review approved; pull request #{number} merged into main{commit}.")
}

/// A pull request merged because the person said so.
pub fn task_merged_as_decided(title: &str, number: u64, sha: &str) -> String {
    format!(
        "🔀 {title}: pull request #{number} merged into main as {}, as you decided.",
        &sha[..sha.len().min(7)]
    )
}

/// The review asked for changes; the task goes back to a worker.
pub fn task_reworking(
    title: &str,
    number: u64,
    summary: &str,
    comments: usize,
    next_round: u32,
) -> String {
    format!(
        "✏️ {title}: the review of pull request #{number} asks for changes: {summary} Sending it back to a worker \
         with the review's {comments} comment(s) (review round {next_round} next)."
    )
}

/// Merging hit a conflict with main; the task goes back to a worker.
pub fn task_conflicted(title: &str, number: u64) -> String {
    format!(
        "⚠️ {title}: pull request #{number} conflicts with main. Sending it back to a worker to merge main in."
    )
}

/// The review needs a person: the question.
pub fn review_question(title: &str, number: u64, summary: &str, round: u32) -> String {
    format!(
        "🙋 {title}: pull request #{number} needs your decision after review round {round}: {summary} Merge it \
         as it is, or drop the task? You can also write what to change, and a worker will do it."
    )
}

/// The question when the budget is spent before tasks could start.
pub fn budget_question(spent: i64, budget: i64, waiting: usize) -> String {
    format!(
        "⛔ This project has used its budget ({} of {}), so {waiting} task(s) cannot start. Double the budget \
         to {}, or stop here? You can also write a new budget in dollars.",
        dollars(spent),
        dollars(budget),
        dollars(budget.saturating_mul(2))
    )
}

/// Written while nothing was asked.
pub const NOTHING_ASKED: &str =
    "There is no open question right now. /status shows where the build stands.";

/// A press on a question that was answered already.
pub const ALREADY_ANSWERED: &str = "That question was already answered.";

/// A written answer that is not one.
pub fn not_an_answer(question: &str) -> String {
    format!(
        "I can't act on that. Please press one of the buttons under the question, or write in a sentence what \
         the worker should do differently. The question was:\n{}",
        clip(question, 300)
    )
}

/// A written answer to the budget question that names no usable amount.
pub fn not_a_budget(spent: i64) -> String {
    format!(
        "Please press a button, or write the new budget in dollars (more than the {} spent so far), e.g. 5.",
        dollars(spent)
    )
}

/// The person asked for another try.
pub fn task_trying_again(title: &str) -> String {
    format!("🔁 {title}: trying again.")
}

/// The person wrote guidance for a task.
pub fn task_guided(title: &str) -> String {
    format!("📝 {title}: thanks — sending it back to a worker with your guidance.")
}

/// The person dropped a task.
pub fn task_dropped(title: &str) -> String {
    format!("🗑 {title}: dropped. Tasks that depend on it will not start.")
}

/// The person approved a merge GitHub refused.
pub fn merge_refused(title: &str, number: u64, why: &str) -> String {
    format!(
        "⚠️ {title}: GitHub refused to merge pull request #{number} ({}). Sending it back to a worker to \
         bring it up to date with main.",
        clip(why, 200)
    )
}

/// Approved, but the pull request is gone.
pub fn nothing_to_merge(title: &str) -> String {
    format!(
        "{title}: its pull request is no longer open, so there is nothing to merge; the task is closed."
    )
}

/// A question still waits for an answer.
pub fn reminder(question: &str, asked_at: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "⏰ Reminder: a question from {} UTC is still waiting for your answer (the build is paused there):\n{}",
        asked_at.format("%Y-%m-%d %H:%M"),
        clip(question, 400)
    )
}

/// `/budget` without an amount.
pub fn budget_shown(name: &str, spent: i64, budget: i64) -> String {
    format!(
        "{name} has spent {} of its {} budget. /budget <dollars> sets a new budget.",
        dollars(spent),
        dollars(budget)
    )
}

/// `/budget <dollars>`.
pub fn budget_set(name: &str, spent: i64, budget: i64) -> String {
    format!(
        "💰 The budget of {name} is now {} ({} spent so far). I warn at 80% and ask before going over.",
        dollars(budget),
        dollars(spent)
    )
}

/// The budget was raised.
pub fn budget_raised(budget: i64) -> String {
    format!("💰 The budget is now {}. Continuing.", dollars(budget))
}

/// The person stopped the build at the budget question.
pub fn build_stopped(tasks: u64) -> String {
    format!("🛑 Stopped: {tasks} task(s) will not start.")
}

/// The person wrote while workers run.
pub fn building(running: u32, reviewing: u32) -> String {
    format!(
        "I'm building: {running} coding worker(s) running and {reviewing} pull request(s) in review. I'll report \
         each as it finishes; /status shows progress."
    )
}

/// Nothing runs any more: where the build stands.
pub fn build_settled(p: &crate::develop::Progress) -> String {
    let mut text = format!(
        "🏁 Workers and reviews are done for now: {} task(s) merged, {} waiting for a person, {} failed, {} \
         dropped",
        p.merged, p.needs_person, p.failed, p.dropped
    );
    if p.blocked > 0 {
        text.push_str(&format!(
            ", {} waiting for their dependencies to be merged",
            p.blocked
        ));
    }
    text.push_str(&format!(
        ". Spent {} of the {} budget",
        dollars(p.spent_usd_micros),
        dollars(p.budget_usd_micros)
    ));
    text.push('.');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ProjectSpec {
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "name": "weather-bot", "summary": "Forecasts in Telegram.",
            "modules": [{"name": "bot", "purpose": "talks to Telegram"}],
            "features": [{"id": "forecast", "title": "/forecast <city>", "description": "today", "priority": "must"}],
            "acceptance_criteria": ["answers within 5 s"],
            "secrets": [{"name": "OWM_API_KEY", "purpose": "forecasts", "source": "user"}],
            "deploy_target": {"kind": "telegram_bot", "public": false}
        }))
        .expect("valid spec")
    }

    #[test]
    fn a_spec_renders_every_section() {
        let text = render_spec(&spec(), 2);
        for needle in [
            "*Spec v2: weather-bot*",
            "`bot` — talks to Telegram",
            "[must] /forecast <city> — today",
            "• answers within 5 s",
            "`OWM_API_KEY` — forecasts (you provide it)",
            "a Telegram bot, private",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
        assert!(
            !text.contains("External APIs"),
            "empty sections are left out"
        );
    }

    #[test]
    fn money_and_approval_texts() {
        assert_eq!(dollars(20_000_000), "$20.0000");
        assert_eq!(dollars(12_345), "$0.0123");
        let text = approved(&spec(), "weather-bot-2", 1, false);
        assert!(text.contains("already have a project called `weather-bot`"));
        assert!(text.contains("no GitHub account is configured"));
        assert!(approved(&spec(), "weather-bot", 1, true).contains("the architect plans"));
    }

    #[test]
    fn approval_refs_are_valid_slugs() {
        let id = uuid::Uuid::new_v4();
        let key = approval_ref(&id, 3);
        assert!(
            key.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/:-".contains(c))
        );
        assert!(key.len() <= 128);
    }
}
