//! Docker operations on one worker container: create (idempotently), start with its stdin, wait, kill, inspect,
//! copy the result file out, read the log tail, remove everything.

use std::collections::HashMap;
use std::io::Read;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{ContainerCreateBody, ContainerStateStatusEnum, VolumeCreateRequest};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder,
    DownloadFromContainerOptionsBuilder, KillContainerOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptions, StatsOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretSlice};
use tokio::io::AsyncWriteExt;

use crate::docker::{DockerError, is_conflict, is_not_found, status_code};
use crate::names::WorkerNames;

/// The largest result file accepted (a worker cannot make the spawner buffer more).
pub const MAX_RESULT_BYTES: usize = 1024 * 1024;
/// The largest log tail kept, in bytes (the contract's text limit).
pub const MAX_LOG_TAIL_BYTES: usize = 64 * 1024;

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Created, never started.
    Created,
    /// Running (or paused/restarting).
    Running,
    /// Exited or dead.
    Exited,
}

/// A worker container that exists.
#[derive(Debug, Clone)]
pub struct Existing {
    /// The container id.
    pub id: String,
    /// Its phase.
    pub phase: Phase,
    /// Its labels.
    pub labels: HashMap<String, String>,
    /// Its exit code, once exited.
    pub exit_code: Option<i64>,
}

impl Existing {
    /// True for a container that exited because its task never arrived on stdin: a spawner died between
    /// starting it and writing the task. Nothing ran; it is started again rather than reported as a failure.
    pub fn never_got_its_task(&self) -> bool {
        self.phase == Phase::Exited && self.exit_code == Some(crate::classify::NO_TASK_EXIT)
    }
}

/// How a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    /// The exit code, when it exited.
    pub code: Option<i64>,
    /// Whether the kernel OOM killer struck in its cgroup.
    pub oom_killed: bool,
}

/// Worker container operations.
#[derive(Clone)]
pub struct Containers {
    docker: Docker,
}

impl Containers {
    /// Wraps a connected client.
    pub fn new(docker: Docker) -> Self {
        Self { docker }
    }

    /// Returns the container named `name`, if it exists.
    pub async fn find(&self, name: &str) -> Result<Option<Existing>, DockerError> {
        let inspect = match self.docker.inspect_container(name, None).await {
            Ok(inspect) => inspect,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(DockerError::api("inspect container")(e)),
        };
        let exit_code = inspect.state.as_ref().and_then(|s| s.exit_code);
        let phase = match inspect.state.and_then(|s| s.status) {
            Some(ContainerStateStatusEnum::CREATED) => Phase::Created,
            Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD) => {
                Phase::Exited
            }
            _ => Phase::Running,
        };
        Ok(Some(Existing {
            id: inspect.id.unwrap_or_default(),
            phase,
            labels: inspect.config.and_then(|c| c.labels).unwrap_or_default(),
            exit_code,
        }))
    }

    /// Creates the volumes and the container; when a container of that name exists already (a redelivery, or a
    /// peer that won the race), returns it instead. Returns the container.
    pub async fn create(
        &self,
        names: &WorkerNames,
        body: ContainerCreateBody,
        volume_labels: &HashMap<String, String>,
    ) -> Result<Existing, DockerError> {
        for volume in [&names.workspace_volume, &names.out_volume] {
            let request = VolumeCreateRequest {
                name: Some(volume.clone()),
                labels: Some(volume_labels.clone()),
                ..Default::default()
            };
            self.docker
                .create_volume(request)
                .await
                .map_err(DockerError::api("create volume"))?;
        }
        let options = CreateContainerOptionsBuilder::default()
            .name(&names.container)
            .build();
        match self.docker.create_container(Some(options), body).await {
            Ok(_) => {}
            Err(e) if is_conflict(&e) => {}
            Err(e) => return Err(DockerError::api("create container")(e)),
        }
        self.find(&names.container)
            .await?
            .ok_or_else(|| DockerError::Archive {
                path: "/",
                reason: "the container vanished right after it was created".into(),
            })
    }

    /// Attaches to stdin, starts the container, writes `input` and closes stdin (the container reads it once).
    pub async fn start_with_input(
        &self,
        name: &str,
        input: &SecretSlice<u8>,
    ) -> Result<(), DockerError> {
        let options = AttachContainerOptionsBuilder::default()
            .stdin(true)
            .stream(true)
            .build();
        let mut attached = self
            .docker
            .attach_container(name, Some(options))
            .await
            .map_err(DockerError::api("attach"))?;
        self.docker
            .start_container(name, None)
            .await
            .map_err(DockerError::api("start container"))?;
        let io = |e: std::io::Error| DockerError::Archive {
            path: "stdin",
            reason: e.to_string(),
        };
        attached
            .input
            .write_all(input.expose_secret())
            .await
            .map_err(io)?;
        attached.input.shutdown().await.map_err(io)?;
        Ok(())
    }

    /// Resolves when the container is not running any more.
    pub async fn wait(&self, name: &str) -> Result<(), DockerError> {
        let options = WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        let mut stream = self.docker.wait_container(name, Some(options));
        match stream.next().await {
            None | Some(Ok(_) | Err(BollardError::DockerContainerWaitError { .. })) => Ok(()),
            Some(Err(e)) if is_not_found(&e) => Ok(()),
            Some(Err(e)) => Err(DockerError::api("wait")(e)),
        }
    }

    /// Kills the container with SIGKILL; a container that already stopped is fine.
    pub async fn kill(&self, name: &str) -> Result<(), DockerError> {
        let options = KillContainerOptionsBuilder::default()
            .signal("SIGKILL")
            .build();
        match self.docker.kill_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) || status_code(&e) == Some(409) => Ok(()),
            Err(e) => Err(DockerError::api("kill")(e)),
        }
    }

    /// Returns the exit code and the OOM flag of a stopped container.
    pub async fn exit_info(&self, name: &str) -> Result<ExitInfo, DockerError> {
        let inspect = self
            .docker
            .inspect_container(name, None)
            .await
            .map_err(DockerError::api("inspect container"))?;
        let state = inspect.state.unwrap_or_default();
        Ok(ExitInfo {
            code: state.exit_code,
            oom_killed: state.oom_killed.unwrap_or(false),
        })
    }

    /// Copies one file out of the container (works on stopped containers); `None` when it does not exist.
    pub async fn read_file(
        &self,
        name: &str,
        path: &'static str,
    ) -> Result<Option<Vec<u8>>, DockerError> {
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let mut stream = self.docker.download_from_container(name, Some(options));
        let mut archive = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => archive.extend_from_slice(&bytes),
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) => return Err(DockerError::api("download from container")(e)),
            }
            if archive.len() > MAX_RESULT_BYTES + 64 * 1024 {
                return Err(DockerError::Archive {
                    path,
                    reason: format!("larger than {MAX_RESULT_BYTES} bytes"),
                });
            }
        }
        first_file_of_tar(&archive)
            .map(Some)
            .map_err(|reason| DockerError::Archive { path, reason })
    }

    /// Returns the last `lines` lines of the container's output (stdout and stderr), at most 64 KiB.
    pub async fn log_tail(&self, name: &str, lines: usize) -> Result<String, DockerError> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut stream = self.docker.logs(name, Some(options));
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(output) => out.extend_from_slice(&output.into_bytes()),
                Err(e) if is_not_found(&e) => break,
                Err(e) => return Err(DockerError::api("logs")(e)),
            }
        }
        Ok(tail_bytes(&String::from_utf8_lossy(&out), MAX_LOG_TAIL_BYTES).to_owned())
    }

    /// Returns the container's current number of processes (threads included), when the engine reports it.
    pub async fn pids(&self, name: &str) -> Result<Option<u64>, DockerError> {
        let options = StatsOptionsBuilder::default()
            .stream(false)
            .one_shot(true)
            .build();
        let mut stream = self.docker.stats(name, Some(options));
        match stream.next().await {
            Some(Ok(stats)) => Ok(stats.pids_stats.and_then(|p| p.current)),
            Some(Err(e)) => Err(DockerError::api("stats")(e)),
            None => Ok(None),
        }
    }

    /// Removes the container and its volumes; objects already gone are fine.
    pub async fn remove(&self, names: &WorkerNames) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match self
            .docker
            .remove_container(&names.container, Some(options))
            .await
        {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(DockerError::api("remove container")(e)),
        }
        for volume in [&names.workspace_volume, &names.out_volume] {
            match self
                .docker
                .remove_volume(volume, None::<RemoveVolumeOptions>)
                .await
            {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(DockerError::api("remove volume")(e)),
            }
        }
        Ok(())
    }
}

/// Returns the contents of the first regular file in a tar archive.
fn first_file_of_tar(archive: &[u8]) -> Result<Vec<u8>, String> {
    let mut tar = tar::Archive::new(archive);
    let entries = tar.entries().map_err(|e| e.to_string())?;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.header().entry_type().is_file() {
            let mut data = Vec::new();
            entry
                .take(MAX_RESULT_BYTES as u64 + 1)
                .read_to_end(&mut data)
                .map_err(|e| e.to_string())?;
            if data.len() > MAX_RESULT_BYTES {
                return Err(format!("larger than {MAX_RESULT_BYTES} bytes"));
            }
            return Ok(data);
        }
    }
    Err("the archive holds no regular file".into())
}

/// Returns the longest suffix of `text` that fits in `max` bytes, starting at a character boundary.
pub fn tail_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_exited_container_without_its_task_is_started_again() {
        let container = |phase, exit_code| Existing {
            id: "c".into(),
            phase,
            labels: HashMap::new(),
            exit_code,
        };
        assert!(container(Phase::Exited, Some(97)).never_got_its_task());
        assert!(!container(Phase::Exited, Some(1)).never_got_its_task());
        assert!(!container(Phase::Exited, Some(0)).never_got_its_task());
        assert!(!container(Phase::Running, None).never_got_its_task());
        assert!(!container(Phase::Created, None).never_got_its_task());
    }

    #[test]
    fn the_first_file_of_a_tar_is_read() {
        let mut builder = tar::Builder::new(Vec::new());
        let data = br#"{"status":"succeeded"}"#;
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "result.json", &data[..])
            .expect("append");
        let archive = builder.into_inner().expect("tar");
        assert_eq!(first_file_of_tar(&archive).expect("file"), data);
        assert!(first_file_of_tar(b"not a tar").is_err());
    }

    #[test]
    fn tails_cut_at_character_boundaries() {
        assert_eq!(tail_bytes("abc", 10), "abc");
        assert_eq!(tail_bytes("aéb", 2), "b");
        assert_eq!(tail_bytes("hello", 3), "llo");
    }
}
