#!/bin/sh
# execute_task.sh — the task runner of a coding-worker container (POSIX sh; runs on busybox, dash and bash).
#
# Clones the repository, writes TASK.md and AGENTS.md, runs the configured coding agent, runs the repository's
# own tests, commits, pushes the branch and writes a structured result to $ORCH_OUT_DIR/result.json. The
# spawner copies that file out of the container; nothing here is meant to be parsed from stdout.
#
# Input (environment, set by worker-spawner; none of it is secret):
#   ORCH_WORKER_ID        the worker id (commit trailer, logs)
#   ORCH_REPO_URL         http(s) clone URL without credentials
#   ORCH_BASE_BRANCH      branch to start from
#   ORCH_BRANCH           branch to push (continued when it already exists on the remote)
#   ORCH_TASK_TITLE       one-line title, used as the commit subject
#   ORCH_AGENT_KIND       droid | claude_code | codex | aider | scripted (informational)
#   ORCH_AGENT_CMD        shell command that runs the agent in the repository (template from the spawner config)
#   ORCH_TEST_CMD         "auto" (make test when the Makefile has a test target), "none", or a shell command
#   ORCH_GIT_AUTHOR_NAME / ORCH_GIT_AUTHOR_EMAIL   commit identity
#   ORCH_CLONE_DEPTH      optional shallow-clone depth (empty = full history)
#   ORCH_OUT_DIR (/out), ORCH_WORK_DIR (/workspace), ORCH_STATE_DIR (/tmp/orch)
# Input (stdin, written once by the spawner and never stored in the container's configuration):
#   lines "ORCH-SECRET <NAME> <base64 value>" (exported to the agent; GIT_TOKEN is kept for git only),
#   then a line "ORCH-TASK", then the TASK.md text until end of input.
#
# The agent may write:
#   $ORCH_SUMMARY_FILE   a short summary of what it did (first 4000 bytes are reported)
#   $ORCH_USAGE_FILE     lines input_tokens=N, output_tokens=N, cost_usd_micros=N
#
# Exit code: 0 when the branch was pushed; the agent's own exit code when it failed (so an OOM kill, 137,
# stays visible); 97 when no task arrived on stdin (the spawner died while starting the container: a restarted
# spawner starts it again instead of reporting a failure); 1 for every other failure. The result file is
# written in every case it can be.

set -u
umask 077

OUT_DIR=${ORCH_OUT_DIR:-/out}
WORK_DIR=${ORCH_WORK_DIR:-/workspace}
STATE_DIR=${ORCH_STATE_DIR:-/tmp/orch}
export ORCH_STATE_DIR="$STATE_DIR"
REPO_DIR=$WORK_DIR/repo
export ORCH_TASK_FILE="$REPO_DIR/TASK.md"
export ORCH_SUMMARY_FILE="$STATE_DIR/summary.md"
export ORCH_USAGE_FILE="$STATE_DIR/usage.env"
export GIT_TERMINAL_PROMPT=0
# The root file system is read-only; git and the agents keep their configuration under the writable state dir.
export HOME="$STATE_DIR/home"
unset GIT_TOKEN

status=failed
reason=""
commit_sha=""
tests=skipped
agent_exit=""
git_token=""

log() { printf '[orch] %s\n' "$*"; }

# Prints stdin as a JSON string literal (without control characters other than tab and newline).
json_string() {
    tr -d '\000-\010\013\014\016-\037' | awk 'BEGIN { ORS = ""; printf "\"" }
        { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); gsub(/\t/, "\\t"); gsub(/\r/, "\\r");
          if (NR > 1) printf "\\n"; printf "%s", $0 }
        END { printf "\"" }'
}

# Prints the value of key $1 from the usage file when it is a plain number, else 0.
usage_value() {
    v=$(sed -n "s/^$1=\([0-9][0-9]*\)\$/\1/p" "$ORCH_USAGE_FILE" 2>/dev/null | head -n 1)
    printf '%s' "${v:-0}"
}

usage_json() {
    if [ -s "$ORCH_USAGE_FILE" ]; then
        printf '{"input_tokens":%s,"output_tokens":%s,"cost_usd_micros":%s}' \
            "$(usage_value input_tokens)" "$(usage_value output_tokens)" "$(usage_value cost_usd_micros)"
    else
        printf 'null'
    fi
}

summary_text() {
    if [ -s "$ORCH_SUMMARY_FILE" ]; then
        head -c 4000 "$ORCH_SUMMARY_FILE"
    elif [ -n "$reason" ]; then
        printf '%s' "$reason"
    elif [ -n "$commit_sha" ]; then
        git -C "$REPO_DIR" log -1 --format=%s 2>/dev/null
    fi
}

log_tail() { tail -n 40 "$WORK_DIR/.orch/agent.log" 2>/dev/null; }

write_result() {
    mkdir -p "$OUT_DIR" || return
    tmp="$OUT_DIR/.result.json.tmp"
    {
        printf '{"version":1,"status":"%s","reason":' "$status"
        printf '%s' "$reason" | json_string
        printf ',"branch":'
        printf '%s' "${ORCH_BRANCH:-}" | json_string
        if [ -n "$commit_sha" ]; then printf ',"commit_sha":"%s"' "$commit_sha"; else printf ',"commit_sha":null'; fi
        printf ',"summary":'
        summary_text | json_string
        printf ',"usage":%s,"tests":"%s"' "$(usage_json)" "$tests"
        if [ -n "$agent_exit" ]; then printf ',"agent_exit_code":%s' "$agent_exit"; else printf ',"agent_exit_code":null'; fi
        printf ',"log_tail":'
        log_tail | json_string
        printf '}\n'
    } >"$tmp" && mv -f "$tmp" "$OUT_DIR/result.json"
}

# Records a failure, writes the result and exits with $2 (default 1).
fail() {
    status=failed
    reason=$1
    log "failed: $reason"
    write_result
    exit "${2:-1}"
}

require_env() {
    for name in ORCH_REPO_URL ORCH_BASE_BRANCH ORCH_BRANCH ORCH_TASK_TITLE ORCH_AGENT_CMD; do
        eval "value=\${$name:-}"
        [ -n "$value" ] || fail "missing environment variable $name"
    done
}

# Reads secrets and the task from stdin; secrets are exported, except GIT_TOKEN which only git sees.
read_input() {
    got_task=no
    while IFS=' ' read -r tag name value; do
        case $tag in
        ORCH-SECRET)
            case $name in
            '' | *[!A-Z0-9_]*) fail "malformed secret name on stdin" ;;
            esac
            decoded=$(printf '%s' "$value" | base64 -d 2>/dev/null) || fail "secret $name is not base64"
            if [ "$name" = GIT_TOKEN ]; then git_token=$decoded; else export "$name=$decoded"; fi
            ;;
        ORCH-TASK)
            got_task=yes
            break
            ;;
        '') ;;
        *) fail "unexpected line on stdin" ;;
        esac
    done
    [ "$got_task" = yes ] || fail "no task on stdin" 97
    cat >"$STATE_DIR/TASK.md"
}

configure_git() {
    git config --global user.name "${ORCH_GIT_AUTHOR_NAME:-orchestrator worker}"
    git config --global user.email "${ORCH_GIT_AUTHOR_EMAIL:-worker@orchestrator.invalid}"
    git config --global advice.detachedHead false
    git config --global init.defaultBranch main
    # The helper prints the token from the environment of the git process that asks; the token never appears in
    # a command line, a URL or this script's output.
    git config --global credential.helper \
        '!f() { test "$1" = get || exit 0; echo username=x-access-token; echo "password=${GIT_TOKEN:-}"; }; f'
}

# Runs git with the token in its environment (and only there).
git_auth() { GIT_TOKEN=$git_token git "$@"; }

clone() {
    log "cloning $ORCH_REPO_URL ($ORCH_BASE_BRANCH)"
    depth=""
    [ -n "${ORCH_CLONE_DEPTH:-}" ] && depth="--depth=$ORCH_CLONE_DEPTH"
    # shellcheck disable=SC2086 # $depth is empty or one word
    git_auth clone -q $depth --branch "$ORCH_BASE_BRANCH" "$ORCH_REPO_URL" "$REPO_DIR" ||
        fail "clone of $ORCH_REPO_URL ($ORCH_BASE_BRANCH) failed"
    cd "$REPO_DIR" || fail "cannot enter the repository"
    if [ -n "$(git_auth ls-remote --heads origin "$ORCH_BRANCH")" ]; then
        log "continuing the existing branch $ORCH_BRANCH"
        git_auth fetch -q origin "refs/heads/$ORCH_BRANCH:refs/remotes/origin/$ORCH_BRANCH" ||
            fail "fetch of $ORCH_BRANCH failed"
        git checkout -q -B "$ORCH_BRANCH" "origin/$ORCH_BRANCH" || fail "checkout of $ORCH_BRANCH failed"
    else
        git checkout -q -b "$ORCH_BRANCH" || fail "cannot create branch $ORCH_BRANCH"
    fi
}

write_instructions() {
    cp "$STATE_DIR/TASK.md" TASK.md
    echo "/TASK.md" >>.git/info/exclude
    if [ ! -e AGENTS.md ] && [ -f /usr/local/share/orch/AGENTS.md ]; then
        cp /usr/local/share/orch/AGENTS.md AGENTS.md
        echo "/AGENTS.md" >>.git/info/exclude
    fi
}

# Runs the agent; its output goes to the container log and to a file on the workspace volume (not memory).
run_agent() {
    log "running the ${ORCH_AGENT_KIND:-configured} agent"
    mkdir -p "$WORK_DIR/.orch"
    rc_file="$STATE_DIR/agent.rc"
    { sh -c "$ORCH_AGENT_CMD" </dev/null 2>&1; echo $? >"$rc_file"; } | tee "$WORK_DIR/.orch/agent.log"
    agent_exit=$(cat "$rc_file" 2>/dev/null || echo 1)
    log "agent exited with $agent_exit"
    [ "$agent_exit" = 0 ] || fail "the agent exited with code $agent_exit" "$agent_exit"
}

run_tests() {
    cmd=${ORCH_TEST_CMD:-auto}
    if [ "$cmd" = auto ]; then
        cmd=none
        [ -f Makefile ] && grep -Eq '^test:' Makefile && cmd="make test"
    fi
    [ "$cmd" = none ] && return 0
    log "running the repository's checks: $cmd"
    if sh -c "$cmd" </dev/null; then tests=passed; else tests=failed; fi
}

commit_and_push() {
    git add -A || fail "git add failed"
    if ! git diff --cached --quiet; then
        git commit -q -m "$ORCH_TASK_TITLE" -m "Worker: ${ORCH_WORKER_ID:-unknown}" || fail "git commit failed"
    fi
    [ "$(git rev-parse HEAD)" != "$base_sha" ] || fail "the agent made no changes"
    commit_sha=$(git rev-parse HEAD)
    log "pushing $commit_sha to $ORCH_BRANCH"
    git_auth push -q origin "HEAD:refs/heads/$ORCH_BRANCH" || fail "push of $ORCH_BRANCH failed"
}

# Whatever stops the script (a shell error included), a result file is left behind.
on_exit() {
    rc=$?
    if [ ! -f "$OUT_DIR/result.json" ]; then
        status=failed
        reason="the runner stopped unexpectedly (exit $rc)"
        write_result
    fi
}

main() {
    mkdir -p "$STATE_DIR" "$HOME" "$OUT_DIR" || exit 1
    rm -f "$OUT_DIR/result.json"
    trap on_exit EXIT
    read_input
    require_env
    configure_git
    clone
    write_instructions
    base_sha=$(git rev-parse HEAD)
    run_agent
    run_tests
    commit_and_push
    if [ "$tests" = failed ]; then
        reason="the repository's checks failed"
        status=failed
        write_result
        exit 1
    fi
    status=succeeded
    write_result
    log "done"
}

main "$@"
