//! Thin async wrappers around the `git` command line, run against the bare repositories.
//!
//! Every command runs with the system and global git configuration disabled, so the host's
//! `~/.gitconfig` cannot change what the simulator does.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::error::SimError;

/// The all-zero object id: as the old value of `update-ref` it means "the ref must not exist".
const ZERO_OID: &str = "0000000000000000000000000000000000000000";

/// A person and time in a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signature {
    pub name: String,
    pub email: String,
    /// An ISO 8601 date; `None` means now.
    pub date: Option<String>,
}

/// The parsed header and message of a commit.
#[derive(Debug, Clone)]
pub(crate) struct CommitInfo {
    pub sha: String,
    pub tree: String,
    pub parents: Vec<String>,
    pub author: Signature,
    pub committer: Signature,
    pub message: String,
}

/// One changed file between two commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStat {
    pub path: String,
    /// `added`, `modified`, `removed` (GitHub's words).
    pub status: &'static str,
    pub additions: u64,
    pub deletions: u64,
}

/// The raw result of a git command.
struct Output {
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// The git executable and the helpers that use it.
#[derive(Debug, Clone)]
pub(crate) struct Git {
    bin: PathBuf,
}

impl Git {
    /// Creates the wrapper around the given `git` binary.
    pub fn new(bin: PathBuf) -> Self {
        Self { bin }
    }

    /// A command with an isolated configuration, not yet bound to a repository.
    pub fn base_command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("LC_ALL", "C")
            .env_remove("GIT_DIR")
            .kill_on_drop(true);
        cmd
    }

    async fn run(
        &self,
        repo: &Path,
        args: &[&str],
        stdin: Option<&[u8]>,
        env: &[(&str, &str)],
    ) -> Result<Output, SimError> {
        let mut cmd = self.base_command();
        cmd.arg("--git-dir")
            .arg(repo)
            .args(args)
            .envs(env.iter().copied());
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| git_error(args, &e.to_string()))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input)
                .await
                .map_err(|e| git_error(args, &e.to_string()))?;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| git_error(args, &e.to_string()))?;
        Ok(Output {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    async fn ok(&self, repo: &Path, args: &[&str]) -> Result<String, SimError> {
        self.ok_with(repo, args, None, &[]).await
    }

    async fn ok_with(
        &self,
        repo: &Path,
        args: &[&str],
        stdin: Option<&[u8]>,
        env: &[(&str, &str)],
    ) -> Result<String, SimError> {
        let out = self.run(repo, args, stdin, env).await?;
        if out.success {
            Ok(out.stdout)
        } else {
            Err(git_error(args, &out.stderr))
        }
    }

    /// Creates a bare repository whose HEAD points at `branch`, with pushes over HTTP enabled.
    pub async fn init_bare(&self, path: &Path, branch: &str) -> Result<(), SimError> {
        let mut cmd = self.base_command();
        cmd.args(["init", "--bare", "--quiet", "--initial-branch", branch])
            .arg(path);
        let out = cmd
            .output()
            .await
            .map_err(|e| git_error(&["init"], &e.to_string()))?;
        if !out.status.success() {
            return Err(git_error(&["init"], &String::from_utf8_lossy(&out.stderr)));
        }
        self.ok(path, &["config", "http.receivepack", "true"])
            .await?;
        Ok(())
    }

    /// Resolves `rev` to a commit id, or `None` when it names no commit.
    pub async fn rev_parse(&self, repo: &Path, rev: &str) -> Result<Option<String>, SimError> {
        if rev.is_empty() || rev.starts_with('-') {
            return Ok(None);
        }
        let spec = format!("{rev}^{{commit}}");
        let out = self
            .run(
                repo,
                &["rev-parse", "--verify", "--quiet", &spec],
                None,
                &[],
            )
            .await?;
        Ok(out.success.then(|| out.stdout.trim().to_owned()))
    }

    /// Resolves the branch `name` (`refs/heads/<name>`) to its commit id.
    pub async fn branch_sha(&self, repo: &Path, name: &str) -> Result<Option<String>, SimError> {
        self.rev_parse(repo, &format!("refs/heads/{name}")).await
    }

    /// Lists the branches as `(name, sha)`, sorted by name.
    pub async fn branches(&self, repo: &Path) -> Result<Vec<(String, String)>, SimError> {
        let fmt = "--format=%(refname:strip=2) %(objectname)";
        let out = self.ok(repo, &["for-each-ref", fmt, "refs/heads"]).await?;
        Ok(out
            .lines()
            .filter_map(|l| l.rsplit_once(' '))
            .map(|(n, s)| (n.to_owned(), s.to_owned()))
            .collect())
    }

    /// The best common ancestor of two commits.
    pub async fn merge_base(
        &self,
        repo: &Path,
        a: &str,
        b: &str,
    ) -> Result<Option<String>, SimError> {
        let out = self.run(repo, &["merge-base", a, b], None, &[]).await?;
        Ok(out.success.then(|| out.stdout.trim().to_owned()))
    }

    /// The commits in `from..to`, oldest first, each with its parent count.
    pub async fn rev_list(
        &self,
        repo: &Path,
        from: &str,
        to: &str,
    ) -> Result<Vec<(String, usize)>, SimError> {
        let range = format!("{from}..{to}");
        let out = self
            .ok(repo, &["rev-list", "--reverse", "--parents", &range])
            .await?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let mut ids = l.split_whitespace();
                ids.next().map(|sha| (sha.to_owned(), ids.count()))
            })
            .collect())
    }

    /// Merges two commits in memory; `Some(tree)` when clean, `None` on conflicts.
    pub async fn merge_tree(
        &self,
        repo: &Path,
        ours: &str,
        theirs: &str,
        merge_base: Option<&str>,
    ) -> Result<Option<String>, SimError> {
        let base_arg = merge_base.map(|b| format!("--merge-base={b}"));
        let mut args = vec!["merge-tree", "--write-tree", "--no-messages"];
        args.extend(base_arg.as_deref());
        args.extend([ours, theirs]);
        let out = self.run(repo, &args, None, &[]).await?;
        match out.code {
            Some(0) => Ok(out.stdout.lines().next().map(str::to_owned)),
            Some(1) => Ok(None),
            _ => Err(git_error(&args, &out.stderr)),
        }
    }

    /// Creates a commit object and returns its id.
    pub async fn commit_tree(
        &self,
        repo: &Path,
        tree: &str,
        parents: &[&str],
        message: &str,
        author: &Signature,
        committer: &Signature,
    ) -> Result<String, SimError> {
        let mut args = vec!["commit-tree", tree];
        for p in parents {
            args.extend(["-p", p]);
        }
        let mut env = vec![
            ("GIT_AUTHOR_NAME", author.name.as_str()),
            ("GIT_AUTHOR_EMAIL", author.email.as_str()),
            ("GIT_COMMITTER_NAME", committer.name.as_str()),
            ("GIT_COMMITTER_EMAIL", committer.email.as_str()),
        ];
        env.extend(author.date.as_deref().map(|d| ("GIT_AUTHOR_DATE", d)));
        env.extend(committer.date.as_deref().map(|d| ("GIT_COMMITTER_DATE", d)));
        let out = self
            .ok_with(repo, &args, Some(message.as_bytes()), &env)
            .await?;
        Ok(out.trim().to_owned())
    }

    /// Moves `name` to `new` only if it currently is `old` (`None`: only if it does not exist).
    pub async fn update_ref(
        &self,
        repo: &Path,
        name: &str,
        new: &str,
        old: Option<&str>,
    ) -> Result<bool, SimError> {
        let old = old.unwrap_or(ZERO_OID);
        let out = self
            .run(repo, &["update-ref", name, new, old], None, &[])
            .await?;
        Ok(out.success)
    }

    /// Deletes `name`; `false` when it did not exist.
    pub async fn delete_ref(&self, repo: &Path, name: &str) -> Result<bool, SimError> {
        let out = self
            .run(repo, &["update-ref", "-d", name], None, &[])
            .await?;
        Ok(out.success)
    }

    /// `git diff base...head`: the changes on `head` since it forked from `base`.
    pub async fn diff(&self, repo: &Path, base: &str, head: &str) -> Result<String, SimError> {
        let range = format!("{base}...{head}");
        self.ok(
            repo,
            &[
                "diff",
                "--no-color",
                "--no-ext-diff",
                "--no-renames",
                &range,
            ],
        )
        .await
    }

    /// `git format-patch --stdout`: one mail per commit on `head` since it forked from `base`.
    pub async fn format_patch(
        &self,
        repo: &Path,
        base: &str,
        head: &str,
    ) -> Result<String, SimError> {
        let range = format!("{base}..{head}");
        self.ok(
            repo,
            &[
                "format-patch",
                "--stdout",
                "--no-color",
                "--no-renames",
                &range,
            ],
        )
        .await
    }

    /// The changed files between two commits with line counts.
    pub async fn file_stats(
        &self,
        repo: &Path,
        from: &str,
        to: &str,
    ) -> Result<Vec<FileStat>, SimError> {
        let names = self
            .ok(repo, &["diff", "--no-renames", "--name-status", from, to])
            .await?;
        let nums = self
            .ok(repo, &["diff", "--no-renames", "--numstat", from, to])
            .await?;
        Ok(parse_file_stats(&names, &nums))
    }

    /// Reads a commit's header and message.
    pub async fn commit_info(
        &self,
        repo: &Path,
        sha: &str,
    ) -> Result<Option<CommitInfo>, SimError> {
        let Some(sha) = self.rev_parse(repo, sha).await? else {
            return Ok(None);
        };
        let fmt = "--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B";
        let out = self.ok(repo, &["show", "-s", fmt, &sha]).await?;
        Ok(parse_commit_info(&out))
    }

    /// Writes `files` as a root commit on `branch`, which must not exist yet.
    pub async fn write_initial_commit(
        &self,
        repo: &Path,
        branch: &str,
        files: &[(&str, String)],
        message: &str,
        author: &Signature,
    ) -> Result<String, SimError> {
        let mut listing = String::new();
        for (name, content) in files {
            let args = ["hash-object", "-w", "--stdin"];
            let blob = self
                .ok_with(repo, &args, Some(content.as_bytes()), &[])
                .await?;
            listing.push_str(&format!("100644 blob {}\t{name}\n", blob.trim()));
        }
        let tree = self
            .ok_with(repo, &["mktree"], Some(listing.as_bytes()), &[])
            .await?;
        let commit = self
            .commit_tree(repo, tree.trim(), &[], message, author, author)
            .await?;
        let name = format!("refs/heads/{branch}");
        if !self.update_ref(repo, &name, &commit, None).await? {
            return Err(git_error(&["update-ref", &name], "branch already exists"));
        }
        Ok(commit)
    }
}

fn git_error(args: &[&str], stderr: &str) -> SimError {
    SimError::Git {
        args: args.join(" "),
        stderr: stderr.trim().to_owned(),
    }
}

fn parse_file_stats(names: &str, nums: &str) -> Vec<FileStat> {
    names
        .lines()
        .zip(nums.lines())
        .filter_map(|(n, c)| {
            let (code, path) = n.split_once('\t')?;
            let mut counts = c.split('\t');
            let additions = counts.next()?.parse().unwrap_or(0);
            let deletions = counts.next()?.parse().unwrap_or(0);
            let status = match code.chars().next() {
                Some('A') => "added",
                Some('D') => "removed",
                _ => "modified",
            };
            Some(FileStat {
                path: path.to_owned(),
                status,
                additions,
                deletions,
            })
        })
        .collect()
}

fn parse_commit_info(out: &str) -> Option<CommitInfo> {
    let f: Vec<&str> = out.splitn(10, '\0').collect();
    if f.len() < 10 {
        return None;
    }
    let sig = |n: &str, e: &str, d: &str| Signature {
        name: n.to_owned(),
        email: e.to_owned(),
        date: Some(d.to_owned()),
    };
    Some(CommitInfo {
        sha: f[0].to_owned(),
        tree: f[1].to_owned(),
        parents: f[2].split_whitespace().map(str::to_owned).collect(),
        author: sig(f[3], f[4], f[5]),
        committer: sig(f[6], f[7], f[8]),
        message: f[9].trim_end().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_stats() {
        let stats = parse_file_stats(
            "A\tnew.txt\nM\tsrc/lib.rs\n",
            "3\t0\tnew.txt\n1\t2\tsrc/lib.rs\n",
        );
        assert_eq!(stats.len(), 2);
        assert_eq!(stats[0].status, "added");
        assert_eq!((stats[1].additions, stats[1].deletions), (1, 2));
    }

    #[test]
    fn parses_commit_info() {
        let raw = "abc\0tree1\0p1 p2\0Ann\0a@x\x002024-01-01T00:00:00Z\0Bob\0b@x\x002024-01-02T00:00:00Z\0Subject\n\nBody\n\n";
        let info = parse_commit_info(raw).expect("parsed");
        assert_eq!(info.parents, vec!["p1", "p2"]);
        assert_eq!(info.message, "Subject\n\nBody");
        assert_eq!(info.committer.name, "Bob");
    }
}
