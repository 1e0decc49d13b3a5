//! Renders records as GitHub REST JSON, with every field octocrab's models require.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::auth::{Access, AppRuntime};
use super::config::InstallationConfig;
use super::git::{CommitInfo, FileStat};
use super::state::{
    Account, AccountKind, Db, IssueComment, Pull, PullState, Repo, Review, ReviewComment,
};

/// GitHub's timestamp format, e.g. `2024-01-01T12:00:00Z`.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A user/organization/bot object with all 18 fields of octocrab's `Author`.
pub(crate) fn user(base: &str, a: &Account) -> Value {
    let login = &a.login;
    let path = login.replace('[', "%5B").replace(']', "%5D");
    let u = format!("{base}/users/{path}");
    let html = match a.kind {
        AccountKind::Bot => format!("{base}/apps/{}", login.trim_end_matches("[bot]")),
        _ => format!("{base}/{path}"),
    };
    json!({
        "login": login, "id": a.id, "node_id": format!("U_{}", a.id),
        "avatar_url": format!("{base}/avatars/u/{}", a.id), "gravatar_id": "",
        "url": u, "html_url": html,
        "followers_url": format!("{u}/followers"), "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"), "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"), "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"), "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": a.kind.as_str(), "user_view_type": "public", "site_admin": false,
    })
}

/// The user object for `login`, falling back to a synthetic user when the login is unknown.
pub(crate) fn user_by_login(db: &Db, base: &str, login: &str) -> Value {
    match db.account(login) {
        Some(a) => user(base, a),
        None => user(
            base,
            &Account {
                id: 0,
                login: login.to_owned(),
                kind: AccountKind::User,
            },
        ),
    }
}

/// `{base}/repos/{owner}/{name}`.
pub(crate) fn repo_api(base: &str, r: &Repo) -> String {
    format!("{base}/repos/{}/{}", r.owner, r.name)
}

/// A repository; `access` adds the `permissions` object for the requesting principal.
pub(crate) fn repo(base: &str, db: &Db, r: &Repo, access: Option<Access>) -> Value {
    let api = repo_api(base, r);
    let html = format!("{base}/{}/{}", r.owner, r.name);
    let open = r
        .pulls
        .iter()
        .filter(|p| p.state == PullState::Open)
        .count();
    let mut v = json!({
        "id": r.id, "node_id": format!("R_{}", r.id), "name": r.name, "full_name": r.full_name(),
        "private": r.private, "owner": user_by_login(db, base, &r.owner), "html_url": html,
        "description": r.description, "fork": false, "url": api,
        "branches_url": format!("{api}/branches{{/branch}}"), "pulls_url": format!("{api}/pulls{{/number}}"),
        "commits_url": format!("{api}/commits{{/sha}}"), "git_refs_url": format!("{api}/git/refs{{/sha}}"),
        "issue_comment_url": format!("{api}/issues/comments{{/number}}"),
        "clone_url": format!("{html}.git"), "git_url": format!("git://{}/{}/{}.git", host(base), r.owner, r.name),
        "ssh_url": format!("git@{}:{}/{}.git", host(base).split(':').next().unwrap_or(""), r.owner, r.name), "svn_url": html,
    });
    extend(
        &mut v,
        json!({
            "homepage": null, "size": 0, "stargazers_count": 0, "watchers_count": 0, "language": null,
            "has_issues": true, "has_projects": true, "has_downloads": true, "has_wiki": true, "has_pages": false,
            "has_discussions": false, "forks_count": 0, "mirror_url": null, "archived": false, "disabled": false,
            "open_issues_count": open, "license": null, "allow_forking": true, "is_template": false,
            "topics": [], "visibility": if r.private { "private" } else { "public" },
            "forks": 0, "open_issues": open, "watchers": 0, "default_branch": r.default_branch,
            "allow_merge_commit": true, "allow_squash_merge": true, "allow_rebase_merge": true,
            "delete_branch_on_merge": false,
            "created_at": ts(r.created_at), "updated_at": ts(r.pushed_at), "pushed_at": ts(r.pushed_at),
        }),
    );
    if let Some(a) = access {
        let write = a == Access::Write;
        v["permissions"] = json!({"admin": write, "maintain": write, "push": write, "triage": write, "pull": a >= Access::Read});
    }
    v
}

/// Adds the fields of object `more` to object `v` (keeps `json!` invocations under the macro recursion limit).
fn extend(v: &mut Value, more: Value) {
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), more) {
        obj.extend(more);
    }
}

fn host(base: &str) -> &str {
    base.split("://").nth(1).unwrap_or(base)
}

/// Statistics of an open or merged pull request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PullStats {
    pub commits: u64,
    pub additions: u64,
    pub deletions: u64,
    pub changed_files: u64,
    /// `None` when unknown (e.g. after merge).
    pub mergeable: Option<bool>,
}

/// A pull request.
pub(crate) fn pull(base: &str, db: &Db, r: &Repo, p: &Pull, stats: PullStats) -> Value {
    let api = format!("{}/pulls/{}", repo_api(base, r), p.number);
    let issue = format!("{}/issues/{}", repo_api(base, r), p.number);
    let html = format!("{base}/{}/pull/{}", r.full_name(), p.number);
    let merged = p.merged.as_ref();
    let state = if p.state == PullState::Open {
        "open"
    } else {
        "closed"
    };
    let mergeable_state = match stats.mergeable {
        _ if p.state == PullState::Closed => "unknown",
        Some(true) if p.draft => "draft",
        Some(true) => "clean",
        Some(false) => "dirty",
        None => "unknown",
    };
    let side = |r_ref: &str, sha: &str| {
        json!({
            "label": format!("{}:{r_ref}", r.owner), "ref": r_ref, "sha": sha,
            "user": user_by_login(db, base, &r.owner), "repo": repo(base, db, r, None),
        })
    };
    let mut v = json!({
        "url": api, "id": p.id, "node_id": format!("PR_{}", p.id), "html_url": html,
        "diff_url": format!("{html}.diff"), "patch_url": format!("{html}.patch"), "issue_url": issue,
        "commits_url": format!("{api}/commits"), "review_comments_url": format!("{api}/comments"),
        "review_comment_url": format!("{}/pulls/comments{{/number}}", repo_api(base, r)),
        "comments_url": format!("{issue}/comments"),
        "statuses_url": format!("{}/statuses/{}", repo_api(base, r), p.head_sha),
        "number": p.number, "state": state, "locked": false, "title": p.title,
        "user": user_by_login(db, base, &p.user), "body": p.body, "labels": [], "milestone": null,
        "active_lock_reason": null, "created_at": ts(p.created_at), "updated_at": ts(p.updated_at),
        "closed_at": p.closed_at.map(ts), "merged_at": merged.map(|m| ts(m.at)),
        "merge_commit_sha": merged.map(|m| m.sha.clone()), "assignee": null, "assignees": [],
        "requested_reviewers": [], "requested_teams": [], "draft": p.draft,
    });
    extend(
        &mut v,
        json!({
            "head": side(&p.head_ref, &p.head_sha), "base": side(&p.base_ref, &p.base_sha),
            "_links": {
                "self": {"href": api}, "html": {"href": html}, "issue": {"href": issue},
                "comments": {"href": format!("{issue}/comments")}, "review_comments": {"href": format!("{api}/comments")},
                "commits": {"href": format!("{api}/commits")},
                "statuses": {"href": format!("{}/statuses/{}", repo_api(base, r), p.head_sha)},
            },
            "author_association": "OWNER", "auto_merge": null,
            "merged": merged.is_some(), "mergeable": stats.mergeable, "rebaseable": stats.mergeable,
            "mergeable_state": mergeable_state,
            "merged_by": merged.map(|m| user_by_login(db, base, &m.by)),
            "comments": r.issue_comments.iter().filter(|c| c.number == p.number).count(),
            "review_comments": r.review_comments.iter().filter(|c| c.number == p.number).count(),
            "maintainer_can_modify": false, "commits": stats.commits, "additions": stats.additions,
            "deletions": stats.deletions, "changed_files": stats.changed_files,
        }),
    );
    v
}

/// A pull request review.
pub(crate) fn review(base: &str, db: &Db, r: &Repo, v: &Review) -> Value {
    let pr = format!("{}/pulls/{}", repo_api(base, r), v.number);
    let html = format!(
        "{base}/{}/pull/{}#pullrequestreview-{}",
        r.full_name(),
        v.number,
        v.id
    );
    let mut out = json!({
        "id": v.id, "node_id": format!("PRR_{}", v.id), "user": user_by_login(db, base, &v.user),
        "body": v.body, "state": v.state, "html_url": html, "pull_request_url": pr,
        "author_association": "OWNER", "commit_id": v.commit_id,
        "_links": {"html": {"href": html}, "pull_request": {"href": pr}},
    });
    if v.state != "PENDING" {
        out["submitted_at"] = json!(ts(v.submitted_at));
    }
    out
}

/// A conversation comment on an issue or pull request.
pub(crate) fn issue_comment(base: &str, db: &Db, r: &Repo, c: &IssueComment) -> Value {
    json!({
        "id": c.id, "node_id": format!("IC_{}", c.id),
        "url": format!("{}/issues/comments/{}", repo_api(base, r), c.id),
        "html_url": format!("{base}/{}/pull/{}#issuecomment-{}", r.full_name(), c.number, c.id),
        "issue_url": format!("{}/issues/{}", repo_api(base, r), c.number),
        "body": c.body, "user": user_by_login(db, base, &c.user),
        "created_at": ts(c.created_at), "updated_at": ts(c.created_at), "author_association": "OWNER",
    })
}

/// A line comment on a pull request diff.
pub(crate) fn review_comment(base: &str, db: &Db, r: &Repo, c: &ReviewComment) -> Value {
    let url = format!("{}/pulls/comments/{}", repo_api(base, r), c.id);
    let html = format!(
        "{base}/{}/pull/{}#discussion_r{}",
        r.full_name(),
        c.number,
        c.id
    );
    let pr = format!("{}/pulls/{}", repo_api(base, r), c.number);
    json!({
        "url": url, "pull_request_review_id": c.review_id, "id": c.id, "node_id": format!("PRRC_{}", c.id),
        "diff_hunk": c.diff_hunk, "path": c.path, "position": c.position, "original_position": c.position,
        "commit_id": c.commit_id, "original_commit_id": c.commit_id, "in_reply_to_id": null,
        "user": user_by_login(db, base, &c.user), "body": c.body,
        "created_at": ts(c.created_at), "updated_at": ts(c.created_at), "html_url": html,
        "pull_request_url": pr, "author_association": "OWNER",
        "_links": {"self": {"href": url}, "html": {"href": html}, "pull_request": {"href": pr}},
        "start_line": null, "original_start_line": null, "start_side": null,
        "line": c.line, "original_line": c.line, "side": c.side, "subject_type": "line",
    })
}

/// A branch as listed by `GET /repos/{o}/{r}/branches`.
pub(crate) fn branch_short(base: &str, r: &Repo, name: &str, sha: &str) -> Value {
    json!({
        "name": name, "protected": false,
        "commit": {"sha": sha, "url": format!("{}/commits/{sha}", repo_api(base, r))},
    })
}

/// A ref as returned by `GET /repos/{o}/{r}/git/ref/heads/{b}`.
pub(crate) fn git_ref(base: &str, r: &Repo, name: &str, sha: &str) -> Value {
    json!({
        "ref": format!("refs/heads/{name}"), "node_id": format!("REF_{}_{name}", r.id),
        "url": format!("{}/git/refs/heads/{name}", repo_api(base, r)),
        "object": {"type": "commit", "sha": sha, "url": format!("{}/git/commits/{sha}", repo_api(base, r))},
    })
}

/// A commit as returned by `GET /repos/{o}/{r}/commits/{sha}`.
pub(crate) fn commit(base: &str, db: &Db, r: &Repo, c: &CommitInfo, files: &[FileStat]) -> Value {
    let api = repo_api(base, r);
    let html = format!("{base}/{}/commit/{}", r.full_name(), c.sha);
    let sig = |s: &super::git::Signature| json!({"name": s.name, "email": s.email, "date": s.date});
    let gh_user = |email: &str| {
        noreply_login(email)
            .and_then(|l| db.account(&l))
            .map(|a| user(base, a))
    };
    let (add, del) = files
        .iter()
        .fold((0, 0), |(a, d), f| (a + f.additions, d + f.deletions));
    json!({
        "sha": c.sha, "node_id": format!("C_{}", c.sha), "url": format!("{api}/commits/{}", c.sha),
        "html_url": html, "comments_url": format!("{api}/commits/{}/comments", c.sha),
        "commit": {
            "url": format!("{api}/git/commits/{}", c.sha), "author": sig(&c.author), "committer": sig(&c.committer),
            "message": c.message, "comment_count": 0,
            "tree": {"sha": c.tree, "url": format!("{api}/git/trees/{}", c.tree)},
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null},
        },
        "author": gh_user(&c.author.email), "committer": gh_user(&c.committer.email),
        "parents": c.parents.iter().map(|p| json!({
            "sha": p, "url": format!("{api}/commits/{p}"), "html_url": format!("{base}/{}/commit/{p}", r.full_name()),
        })).collect::<Vec<_>>(),
        "stats": {"total": add + del, "additions": add, "deletions": del},
        "files": files.iter().map(|f| file(base, r, &c.sha, f)).collect::<Vec<_>>(),
    })
}

/// A changed file (`DiffEntry`).
pub(crate) fn file(base: &str, r: &Repo, sha: &str, f: &FileStat) -> Value {
    let api = repo_api(base, r);
    json!({
        "sha": null, "filename": f.path, "status": f.status, "additions": f.additions,
        "deletions": f.deletions, "changes": f.additions + f.deletions,
        "blob_url": format!("{base}/{}/blob/{sha}/{}", r.full_name(), f.path),
        "raw_url": format!("{base}/{}/raw/{sha}/{}", r.full_name(), f.path),
        "contents_url": format!("{api}/contents/{}?ref={sha}", f.path),
    })
}

/// The login in a `<id>+<login>@users.noreply.github.com` address.
pub(crate) fn noreply_login(email: &str) -> Option<String> {
    let local = email.strip_suffix("@users.noreply.github.com")?;
    Some(local.split_once('+').map_or(local, |(_, l)| l).to_owned())
}

/// The commit e-mail GitHub uses for an account.
pub(crate) fn noreply_email(a: &Account) -> String {
    format!("{}+{}@users.noreply.github.com", a.id, a.login)
}

/// An app installation.
pub(crate) fn installation(base: &str, db: &Db, app: &AppRuntime, i: &InstallationConfig) -> Value {
    let account = user_by_login(db, base, &i.account);
    json!({
        "id": i.id, "account": account, "app_id": app.id, "app_slug": app.slug,
        "target_id": account["id"], "target_type": "Organization", "repository_selection": "all",
        "access_tokens_url": format!("{base}/app/installations/{}/access_tokens", i.id),
        "repositories_url": format!("{base}/installation/repositories"),
        "html_url": format!("{base}/organizations/{}/settings/installations/{}", i.account, i.id),
        "permissions": permissions(), "events": [], "single_file_name": null,
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
    })
}

/// The permissions every installation token gets.
pub(crate) fn permissions() -> Value {
    json!({"administration": "write", "contents": "write", "pull_requests": "write", "issues": "write", "metadata": "read"})
}

/// The authenticated app (`GET /app`).
pub(crate) fn app(base: &str, db: &Db, app: &AppRuntime) -> Value {
    let owner = app.installations.first().map_or_else(
        || user_by_login(db, base, &app.slug),
        |i| user_by_login(db, base, &i.account),
    );
    json!({
        "id": app.id, "slug": app.slug, "node_id": format!("A_{}", app.id), "client_id": format!("Iv1.{}", app.id),
        "owner": owner, "name": app.slug, "description": "GitHub simulator app",
        "external_url": base, "html_url": format!("{base}/apps/{}", app.slug),
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
        "permissions": permissions(), "events": [], "installations_count": app.installations.len(),
    })
}
