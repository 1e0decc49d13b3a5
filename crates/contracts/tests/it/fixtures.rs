//! One valid example of every message type.

use orch_contracts::ids::DeploymentId;
use orch_contracts::messages::chat::{
    Button, ChatAction, ChatEvent, ChatIn, ChatOut, ChatUser, TextFormat,
};
use orch_contracts::messages::deploy::{DeployRequest, DeployResult, DeployStatus};
use orch_contracts::messages::review::{
    LineComment, MergeMethod, ReviewRequest, ReviewResult, Verdict,
};
use orch_contracts::messages::worker::{
    AgentKind, RepoRef, SecretHandle, SecretInjection, TaskSpec, Usage, WorkerLimits,
    WorkerProgress, WorkerResult, WorkerSpawn, WorkerStatus,
};
use orch_contracts::{ProjectId, ReviewId, WorkerId};

pub const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

pub fn chat_in() -> ChatIn {
    ChatIn {
        update_id: 7,
        chat_id: 42,
        user: ChatUser {
            id: 42,
            username: Some("alice".into()),
            first_name: "Alice".into(),
        },
        event: ChatEvent::Text {
            message_id: 3,
            text: "build me a weather bot".into(),
        },
    }
}

pub fn chat_out() -> ChatOut {
    ChatOut {
        chat_id: 42,
        action: ChatAction::Send {
            text: "Here is the spec".into(),
            format: TextFormat::Markdown,
            buttons: vec![vec![Button {
                label: "Approve".into(),
                data: "approve:1".into(),
            }]],
            ref_key: Some("spec:1".into()),
        },
    }
}

pub fn repo() -> RepoRef {
    RepoRef {
        owner: "acme".into(),
        name: "weather-bot".into(),
        clone_url: "https://github.com/acme/weather-bot.git".into(),
    }
}

pub fn task() -> TaskSpec {
    TaskSpec {
        title: "Add /forecast command".into(),
        body: "Implement the command.".into(),
    }
}

pub fn worker_spawn() -> WorkerSpawn {
    WorkerSpawn {
        worker_id: WorkerId::new(),
        project_id: ProjectId::new(),
        idempotency_key: "run-1/task-2/attempt-1".into(),
        repo: repo(),
        base_branch: "main".into(),
        branch: "task/forecast".into(),
        task: task(),
        agent: AgentKind::ClaudeCode,
        secrets: vec![SecretInjection {
            env: "ANTHROPIC_API_KEY".into(),
            handle: SecretHandle("hdl_0123456789abcdefABCDEF".into()),
        }],
        limits: WorkerLimits {
            memory_mib: 2048,
            cpu_millis: 1000,
            pids: 512,
        },
        timeout_secs: 1800,
    }
}

pub fn worker_result() -> WorkerResult {
    WorkerResult {
        worker_id: WorkerId::new(),
        status: WorkerStatus::Succeeded,
        branch: "task/forecast".into(),
        commit_sha: Some(SHA.into()),
        verified: true,
        summary: "added the command".into(),
        usage: Some(Usage {
            input_tokens: 1000,
            output_tokens: 200,
            cost_usd_micros: 4_500,
        }),
        exit_code: Some(0),
        log_tail: "done".into(),
        duration_ms: 12_000,
    }
}

pub fn worker_progress() -> WorkerProgress {
    WorkerProgress {
        worker_id: WorkerId::new(),
        seq: 1,
        lines: vec!["cloning".into()],
    }
}

pub fn review_request() -> ReviewRequest {
    ReviewRequest {
        review_id: ReviewId::new(),
        project_id: ProjectId::new(),
        repo: repo(),
        pr_number: 3,
        head_sha: SHA.into(),
        task: task(),
        spec_summary: "a weather bot".into(),
        iteration: 1,
        merge_when_approved: true,
        merge_method: MergeMethod::Squash,
        idempotency_key: "review-3-1".into(),
    }
}

pub fn review_result() -> ReviewResult {
    ReviewResult {
        review_id: ReviewId::new(),
        pr_number: 3,
        verdict: Verdict::ChangesRequested,
        summary: "handle the empty city".into(),
        comments: vec![LineComment {
            path: "src/main.rs".into(),
            line: 10,
            body: "unwrap on input".into(),
        }],
        merged: false,
        merge_sha: None,
        conflict: false,
    }
}

pub fn deploy_request() -> DeployRequest {
    DeployRequest {
        deployment_id: DeploymentId::new(),
        project_id: ProjectId::new(),
        repo: repo(),
        commit_sha: SHA.into(),
        server_resource: "srv-1".into(),
        domain: "weather.example.com".into(),
        port: 8080,
        health_path: "/health".into(),
        secrets: vec![],
        idempotency_key: "deploy-1".into(),
    }
}

pub fn deploy_result() -> DeployResult {
    DeployResult {
        deployment_id: DeploymentId::new(),
        status: DeployStatus::Deployed,
        url: Some("https://weather.example.com".into()),
        summary: "deployed".into(),
        log_tail: String::new(),
    }
}
