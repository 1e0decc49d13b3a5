//! Git smart HTTP (`clone`, `fetch`, `push`) at `/{owner}/{repo}.git/...`, served by running
//! `git http-backend` as a CGI subprocess per request with streamed stdin and stdout.
//!
//! Authentication is HTTP Basic with a token as the password (`x-access-token:<token>`), as GitHub
//! accepts. A request that needs credentials and has none gets `401` with `WWW-Authenticate`, so
//! git asks its credential helpers and retries.

use std::process::Stdio;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio_util::io::ReaderStream;

use super::auth::{Access, Principal, repo_access};
use super::state::Shared;

/// The git endpoint a path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GitPath {
    pub owner: String,
    pub repo: String,
    /// `info/refs`, `git-upload-pack` or `git-receive-pack`.
    pub tail: &'static str,
}

/// Parses `/{owner}/{repo}[.git]/{info/refs|git-upload-pack|git-receive-pack}`.
pub(crate) fn parse_git_path(path: &str) -> Option<GitPath> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (owner, repo, tail) = match segments.as_slice() {
        [o, r, "info", "refs"] => (*o, *r, "info/refs"),
        [o, r, "git-upload-pack"] => (*o, *r, "git-upload-pack"),
        [o, r, "git-receive-pack"] => (*o, *r, "git-receive-pack"),
        _ => return None,
    };
    let repo = repo.strip_suffix(".git").unwrap_or(repo);
    let valid = |s: &str| !s.is_empty() && !s.starts_with('.') && !s.contains('\\');
    (valid(owner) && valid(repo)).then(|| GitPath {
        owner: owner.to_owned(),
        repo: repo.to_owned(),
        tail,
    })
}

fn wants_write(git: &GitPath, query: &str) -> bool {
    git.tail == "git-receive-pack"
        || (git.tail == "info/refs" && query.contains("service=git-receive-pack"))
}

/// A plain-text answer like GitHub's git endpoints give.
fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `401` with the Basic challenge that makes git retry with credentials.
pub(crate) fn challenge() -> Response {
    let mut resp = text(
        StatusCode::UNAUTHORIZED,
        "Invalid username or token. Password authentication is not supported for Git operations.\n"
            .to_owned(),
    );
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"GitHub\""),
    );
    resp
}

/// Serves one smart HTTP request.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    principal: Principal,
    git: GitPath,
    req: Request,
) -> Response {
    let query = req.uri().query().unwrap_or("").to_owned();
    let method_ok = if git.tail == "info/refs" {
        req.method() == Method::GET
    } else {
        req.method() == Method::POST
    };
    if !method_ok {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed\n".to_owned(),
        );
    }
    let write = wants_write(&git, &query);
    let repo_dir = match authorize(&shared, &principal, &git, write) {
        Ok(dir) => dir,
        Err(denied) => return denied.respond(&git),
    };
    let actor = principal.actor(shared.app.as_ref()).unwrap_or_default();
    match run_backend(&shared, &repo_dir, &git, &actor, &query, req).await {
        Ok(resp) => resp,
        Err(err) => {
            tracing::error!(error = %err, "git http-backend failed");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error\n".to_owned(),
            )
        }
    }
}

/// Why a git request is refused.
enum Denied {
    /// No (usable) credentials: ask for them.
    Challenge,
    /// The repository does not exist or is hidden from the principal.
    NotFound,
    /// Read-only access to a push; carries who was denied.
    Forbidden(String),
}

impl Denied {
    fn respond(self, git: &GitPath) -> Response {
        match self {
            Self::Challenge => challenge(),
            Self::NotFound => text(StatusCode::NOT_FOUND, "Repository not found.\n".to_owned()),
            Self::Forbidden(who) => text(
                StatusCode::FORBIDDEN,
                format!(
                    "Permission to {}/{}.git denied to {who}.\n",
                    git.owner, git.repo
                ),
            ),
        }
    }
}

/// Checks access and returns the repository path relative to the repositories root.
fn authorize(
    shared: &Shared,
    principal: &Principal,
    git: &GitPath,
    write: bool,
) -> Result<String, Denied> {
    let mut db = shared.db();
    let access = db
        .repo(&git.owner, &git.repo)
        .map(|r| repo_access(&db, principal, r));
    let anonymous = *principal == Principal::Anonymous;
    match access {
        None | Some(Access::None) if anonymous => Err(Denied::Challenge),
        None | Some(Access::None) => Err(Denied::NotFound),
        Some(Access::Read) if write && anonymous => Err(Denied::Challenge),
        Some(Access::Read) if write => Err(Denied::Forbidden(
            principal.actor(shared.app.as_ref()).unwrap_or_default(),
        )),
        Some(_) => {
            let repo = db.repo_mut(&git.owner, &git.repo).ok_or(Denied::NotFound)?;
            if write {
                repo.pushed_at = chrono::Utc::now();
            }
            let rel = repo
                .path
                .strip_prefix(&shared.repos_root)
                .unwrap_or(&repo.path);
            Ok(rel.to_string_lossy().into_owned())
        }
    }
}

async fn run_backend(
    shared: &Shared,
    repo_dir: &str,
    git: &GitPath,
    actor: &str,
    query: &str,
    req: Request,
) -> std::io::Result<Response> {
    let mut cmd = shared.git.base_command();
    cmd.arg("http-backend")
        .env("GIT_PROJECT_ROOT", &shared.repos_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", format!("/{repo_dir}/{}", git.tail))
        .env("REQUEST_METHOD", req.method().as_str())
        .env("QUERY_STRING", query)
        .env("REMOTE_USER", actor)
        .env("REMOTE_ADDR", "127.0.0.1")
        .envs(cgi_headers(req.headers()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    if let Some(stdin) = stdin {
        tokio::spawn(feed_stdin(stdin, req.into_body()));
    }
    tokio::spawn(async move {
        let mut err = String::new();
        if let Some(mut s) = stderr {
            let _ = s.read_to_string(&mut err).await;
        }
        match child.wait().await {
            Ok(status) if status.success() => {}
            other => {
                tracing::warn!(?other, stderr = %err.trim(), "git http-backend exited abnormally")
            }
        }
    });
    let stdout = stdout.ok_or_else(|| std::io::Error::other("no stdout"))?;
    cgi_response(stdout).await
}

/// The request headers http-backend reads, as CGI variables.
fn cgi_headers(headers: &HeaderMap) -> Vec<(&'static str, String)> {
    let get = |h: &str| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    [
        ("CONTENT_TYPE", get("content-type")),
        ("CONTENT_LENGTH", get("content-length")),
        ("HTTP_CONTENT_ENCODING", get("content-encoding")),
        ("GIT_PROTOCOL", get("git-protocol")),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect()
}

async fn feed_stdin(mut stdin: ChildStdin, body: Body) {
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { return };
        if stdin.write_all(&chunk).await.is_err() {
            return;
        }
    }
    let _ = stdin.shutdown().await;
}

/// Reads the CGI header block, then streams the rest of stdout as the body.
async fn cgi_response(stdout: ChildStdout) -> std::io::Result<Response> {
    let mut reader = BufReader::new(stdout);
    let mut builder = Response::builder().status(StatusCode::OK);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().and_then(|c| c.parse().ok());
            builder = builder.status(code.unwrap_or(500));
        } else {
            builder = builder.header(name.trim(), value);
        }
    }
    let body = Body::from_stream(ReaderStream::new(reader));
    builder.body(body).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_git_paths() {
        let p = parse_git_path("/acme/app.git/info/refs").expect("path");
        assert_eq!(
            (p.owner.as_str(), p.repo.as_str(), p.tail),
            ("acme", "app", "info/refs")
        );
        assert!(parse_git_path("/acme/app/git-receive-pack").is_some());
        assert!(parse_git_path("/repos/acme/app").is_none());
        assert!(parse_git_path("/acme/../info/refs").is_none());
    }

    #[test]
    fn receive_pack_needs_write() {
        let p = parse_git_path("/a/b.git/info/refs").expect("path");
        assert!(wants_write(&p, "service=git-receive-pack"));
        assert!(!wants_write(&p, "service=git-upload-pack"));
    }
}
