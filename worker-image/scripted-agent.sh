#!/bin/sh
# orch-scripted-agent — a deterministic "coding agent" for the offline demo and the tests (AgentKind `scripted`).
#
# It follows the directives in $ORCH_TASK_FILE (TASK.md) literally, one per line; lines that do not start with
# `@` are prose and are ignored. It runs in the repository directory, like every agent.
#
#   @write PATH TEXT...        create or replace PATH with TEXT and a newline (parent directories are created)
#   @append PATH TEXT...       append TEXT and a newline to PATH
#   @delete PATH               remove PATH
#   @commit MESSAGE...         commit everything itself (as aider does); the runner pushes
#   @record FILE COMMAND...    append "$ COMMAND", its output and "exit=N" to FILE (probes whose output is pushed)
#   @run COMMAND...            run COMMAND with sh -c; a failure stops the agent with its exit code
#   @sleep SECONDS             sleep
#   @allocate MIB              hold MIB mebibytes of memory for a moment (dd with a MIB-sized buffer)
#   @fork-bomb                 fork until the pids limit stops it, forever
#   @fake-push                 point the push URL at a local bare repository: the push "succeeds" but nothing
#                              reaches the real remote (a lying worker)
#   @summary TEXT...           append TEXT to the summary the runner reports
#   @usage IN OUT COST_MICROS  report token usage and cost
#   @exit CODE                 stop now with CODE
#
# An unknown directive is an error (exit 2): a typo must not look like a task that did nothing.

set -u

task=${ORCH_TASK_FILE:-TASK.md}
[ -f "$task" ] || { echo "[scripted] no task file at $task" >&2; exit 2; }

say() { printf '[scripted] %s\n' "$*"; }

write_file() {
    mode=$1 path=$2
    shift 2
    mkdir -p "$(dirname "$path")"
    if [ "$mode" = write ]; then printf '%s\n' "$*" >"$path"; else printf '%s\n' "$*" >>"$path"; fi
}

record() {
    file=$1
    shift
    mkdir -p "$(dirname "$file")"
    {
        printf '$ %s\n' "$*"
        sh -c "$*" 2>&1
        printf 'exit=%s\n' "$?"
    } >>"$file"
}

fork_bomb() {
    say "fork bomb"
    # perl (perl-base is in every Debian and Ubuntu image) keeps forking after a failed fork, so the bomb stays
    # pinned at the pids limit; a shell bomb gives up at its first "Cannot fork" and collapses by itself before
    # the spawner's pids watch can see it pinned.
    exec perl -e 'while (1) { fork }'
}

fake_push() {
    say "pointing the push URL at a local repository"
    git init -q --bare "${ORCH_STATE_DIR:-/tmp/orch}/fake-remote.git"
    git config remote.origin.pushurl "${ORCH_STATE_DIR:-/tmp/orch}/fake-remote.git"
}

run_directive() {
    directive=$1
    shift
    case $directive in
    @write | @append)
        [ $# -ge 1 ] || { say "$directive needs a path"; exit 2; }
        say "${directive#@} $1"
        write_file "${directive#@}" "$@"
        ;;
    @delete) say "delete $1"; rm -rf -- "$1" ;;
    @commit) say "commit"; git add -A && git commit -q -m "$*" ;;
    @record) say "record $1"; record "$@" ;;
    @run)
        say "run $*"
        sh -c "$*" || exit $?
        ;;
    @sleep) say "sleep $1"; sleep "$1" ;;
    @allocate)
        say "allocate $1 MiB"
        dd if=/dev/zero of=/dev/null bs="$1M" count=1 2>/dev/null || exit $?
        ;;
    @fork-bomb) fork_bomb ;;
    @fake-push) fake_push ;;
    @summary) printf '%s\n' "$*" >>"${ORCH_SUMMARY_FILE:-/dev/null}" ;;
    @usage)
        printf 'input_tokens=%s\noutput_tokens=%s\ncost_usd_micros=%s\n' "$1" "$2" "$3" \
            >"${ORCH_USAGE_FILE:-/dev/null}"
        ;;
    @exit) say "exit $1"; exit "$1" ;;
    *) say "unknown directive $directive"; exit 2 ;;
    esac
}

# Directives are read up front, so files the agent writes (TASK.md included) cannot change the plan.
directives=$(grep '^@' "$task" || true)
say "$(printf '%s\n' "$directives" | grep -c '^@') directives"
old_ifs=$IFS
IFS='
'
for line in $directives; do
    IFS=$old_ifs
    # shellcheck disable=SC2086 # word splitting of the directive line is intended
    set -f
    set -- $line
    set +f
    run_directive "$@"
    IFS='
'
done
IFS=$old_ifs
say "done"
