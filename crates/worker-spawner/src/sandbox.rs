//! The hardened container profile of a worker, as pure data (unit-tested without Docker).
//!
//! Every worker gets: the configured runtime; memory (swap included), CPU and pids limits; all capabilities
//! dropped; `no-new-privileges`; a read-only root file system with a size-limited tmpfs at `/tmp` and two
//! volumes (`/workspace`, `/out`); an init process; no Docker socket; its own network (or none). Secrets are not
//! part of the container's configuration: they arrive once on stdin ([`stdin_payload`]), so `docker inspect`
//! never shows them.

use std::collections::HashMap;

use base64::Engine;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, ResourcesUlimits};
use orch_contracts::messages::worker::{AgentKind, WorkerSpawn};
use secrecy::{ExposeSecret, SecretSlice};

use crate::config::WorkerSpawnerConfig;
use crate::names::WorkerNames;
use crate::secrets::ResolvedSecrets;

/// The runner inside the image.
pub const RUNNER: &str = "/usr/local/bin/execute_task.sh";
/// Where the runner writes its result.
pub const RESULT_PATH: &str = "/out/result.json";
/// The port the egress proxy listens on.
pub const PROXY_PORT: u16 = 8888;
/// The DNS alias of the egress proxy on every worker network.
pub const PROXY_ALIAS: &str = "egress-proxy";

const MIB: i64 = 1024 * 1024;

/// How a worker is attached to the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    /// No network at all.
    None,
    /// Its private network, with the egress proxy reachable as [`PROXY_ALIAS`].
    Private {
        /// The network name.
        network: String,
    },
}

/// Everything that shapes one worker container.
#[derive(Debug, Clone)]
pub struct WorkerSpec<'a> {
    /// The spawn request.
    pub spawn: &'a WorkerSpawn,
    /// The worker's Docker names.
    pub names: &'a WorkerNames,
    /// The agent command (from the configuration).
    pub agent_command: &'a str,
    /// The network attachment.
    pub attachment: Attachment,
    /// The labels of the container.
    pub labels: HashMap<String, String>,
}

/// Returns the create body of a worker container.
pub fn container_body(config: &WorkerSpawnerConfig, spec: &WorkerSpec<'_>) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(config.docker.image.clone()),
        cmd: Some(vec![RUNNER.to_owned()]),
        user: Some(config.docker.user.clone()),
        working_dir: Some("/workspace".into()),
        hostname: Some("worker".into()),
        env: Some(environment(config, spec)),
        labels: Some(spec.labels.clone()),
        attach_stdin: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(true),
        tty: Some(false),
        host_config: Some(host_config(config, spec)),
        ..Default::default()
    }
}

fn host_config(config: &WorkerSpawnerConfig, spec: &WorkerSpec<'_>) -> HostConfig {
    let limits = spec.spawn.limits;
    let memory = i64::from(limits.memory_mib) * MIB;
    let max_file = i64::try_from(config.docker.max_file_mib)
        .unwrap_or(i64::MAX / MIB)
        .saturating_mul(MIB);
    HostConfig {
        runtime: Some(config.docker.runtime.clone()),
        memory: Some(memory),
        // Equal to `memory`: no swap on top of the limit, so an overrun is an OOM kill, not thrashing.
        memory_swap: Some(memory),
        nano_cpus: Some(i64::from(limits.cpu_millis) * 1_000_000),
        pids_limit: Some(i64::from(limits.pids)),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges:true".into()]),
        readonly_rootfs: Some(true),
        privileged: Some(false),
        init: Some(true),
        tmpfs: Some(HashMap::from([(
            "/tmp".to_owned(),
            format!(
                "rw,nosuid,nodev,size={}m,mode=1777",
                config.docker.tmpfs_mib
            ),
        )])),
        mounts: Some(vec![
            volume_mount(&spec.names.workspace_volume, "/workspace"),
            volume_mount(&spec.names.out_volume, "/out"),
        ]),
        ulimits: Some(vec![ResourcesUlimits {
            name: Some("fsize".into()),
            soft: Some(max_file),
            hard: Some(max_file),
        }]),
        network_mode: Some(match &spec.attachment {
            Attachment::None => "none".to_owned(),
            Attachment::Private { network } => network.clone(),
        }),
        ..Default::default()
    }
}

fn volume_mount(source: &str, target: &str) -> Mount {
    Mount {
        source: Some(source.to_owned()),
        target: Some(target.to_owned()),
        typ: Some(MountType::VOLUME),
        read_only: Some(false),
        ..Default::default()
    }
}

/// Returns the wire name of an agent kind (`claude_code`).
pub fn agent_kind_name(kind: AgentKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn environment(config: &WorkerSpawnerConfig, spec: &WorkerSpec<'_>) -> Vec<String> {
    let spawn = spec.spawn;
    let mut env = vec![
        format!("ORCH_WORKER_ID={}", spawn.worker_id),
        format!("ORCH_REPO_URL={}", spawn.repo.clone_url),
        format!("ORCH_BASE_BRANCH={}", spawn.base_branch),
        format!("ORCH_BRANCH={}", spawn.branch),
        format!("ORCH_TASK_TITLE={}", spawn.task.title),
        format!("ORCH_AGENT_KIND={}", agent_kind_name(spawn.agent)),
        format!("ORCH_AGENT_CMD={}", spec.agent_command),
        format!("ORCH_TEST_CMD={}", config.test_cmd),
        format!("ORCH_GIT_AUTHOR_NAME={}", config.git_author_name),
        format!("ORCH_GIT_AUTHOR_EMAIL={}", config.git_author_email),
        "LANG=C.UTF-8".to_owned(),
    ];
    if let Attachment::Private { .. } = spec.attachment {
        let proxy = format!("http://{PROXY_ALIAS}:{PROXY_PORT}");
        for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            env.push(format!("{name}={proxy}"));
        }
        env.push("NO_PROXY=localhost,127.0.0.1".into());
        env.push("no_proxy=localhost,127.0.0.1".into());
    }
    env
}

/// Environment names a spawn may not set through a secret: they would subvert the runner or the sandbox.
pub fn is_reserved_env(name: &str) -> bool {
    const RESERVED: [&str; 9] = [
        "PATH",
        "HOME",
        "SHELL",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "GIT_CONFIG_GLOBAL",
        "GIT_SSH_COMMAND",
        "GIT_ASKPASS",
    ];
    RESERVED.contains(&name)
        || name.starts_with("ORCH_")
        || name.starts_with("LD_")
        || name.starts_with("GIT_CONFIG")
}

/// Renders what the runner reads on stdin: the secrets (base64) and then TASK.md.
pub fn stdin_payload(secrets: &ResolvedSecrets, spawn: &WorkerSpawn) -> SecretSlice<u8> {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    for (name, value) in secrets.iter() {
        out.extend_from_slice(b"ORCH-SECRET ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(engine.encode(value.expose_secret()).as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"ORCH-TASK\n");
    out.extend_from_slice(format!("# {}\n\n{}\n", spawn.task.title, spawn.task.body).as_bytes());
    SecretSlice::from(out)
}

#[cfg(test)]
mod tests {
    use orch_contracts::messages::worker::{RepoRef, TaskSpec, WorkerLimits};
    use orch_contracts::{ProjectId, WorkerId};
    use secrecy::SecretString;

    use super::*;

    fn spawn() -> WorkerSpawn {
        WorkerSpawn {
            worker_id: WorkerId::new(),
            project_id: ProjectId::new(),
            idempotency_key: "k-1".into(),
            repo: RepoRef {
                owner: "acme".into(),
                name: "app".into(),
                clone_url: "https://github.com/acme/app.git".into(),
            },
            base_branch: "main".into(),
            branch: "task/a".into(),
            task: TaskSpec {
                title: "Add a".into(),
                body: "@write a.txt a".into(),
            },
            agent: AgentKind::Scripted,
            secrets: vec![],
            limits: WorkerLimits {
                memory_mib: 256,
                cpu_millis: 500,
                pids: 64,
            },
            timeout_secs: 60,
        }
    }

    fn spec<'a>(spawn: &'a WorkerSpawn, names: &'a WorkerNames) -> WorkerSpec<'a> {
        WorkerSpec {
            spawn,
            names,
            agent_command: "orch-scripted-agent",
            attachment: Attachment::Private {
                network: names.network().to_owned(),
            },
            labels: HashMap::new(),
        }
    }

    #[test]
    fn the_profile_is_hardened() {
        let spawn = spawn();
        let names = WorkerNames::for_key(&spawn.idempotency_key);
        let body = container_body(&WorkerSpawnerConfig::default(), &spec(&spawn, &names));
        let host = body.host_config.expect("host config");
        assert_eq!(host.memory, Some(256 * MIB));
        assert_eq!(host.memory_swap, host.memory);
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.pids_limit, Some(64));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.runtime.as_deref(), Some("sysbox-runc"));
        assert_eq!(host.network_mode.as_deref(), Some(names.network()));
        let binds = format!("{:?} {:?}", host.binds, host.mounts);
        assert!(!binds.contains("docker.sock"), "{binds}");
        assert_eq!(body.user.as_deref(), Some("1000:1000"));
    }

    #[test]
    fn secrets_stay_out_of_the_container_configuration() {
        let spawn = spawn();
        let names = WorkerNames::for_key(&spawn.idempotency_key);
        let body = container_body(&WorkerSpawnerConfig::default(), &spec(&spawn, &names));
        let mut secrets = ResolvedSecrets::default();
        secrets.push("GIT_TOKEN", SecretString::from("ghp_canary_value"));
        let payload = stdin_payload(&secrets, &spawn);
        assert!(!format!("{body:?}").contains("canary"));
        let text = String::from_utf8(payload.expose_secret().to_vec()).expect("utf8");
        assert!(
            text.starts_with(
                "ORCH-SECRET GIT_TOKEN Z2hwX2NhbmFyeV92YWx1ZQ==\nORCH-TASK\n# Add a\n"
            )
        );
    }

    #[test]
    fn reserved_names_cannot_be_secrets() {
        for name in ["PATH", "LD_PRELOAD", "ORCH_AGENT_CMD", "HTTPS_PROXY"] {
            assert!(is_reserved_env(name), "{name}");
        }
        assert!(!is_reserved_env("ANTHROPIC_API_KEY"));
        assert!(!is_reserved_env("GIT_TOKEN"));
    }
}
