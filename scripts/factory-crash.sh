#!/usr/bin/env bash
# The factory's crash test (issue 6): runs the offline demo RUNS times (default 3) with DEMO_CHAOS=1, which
# kills -9 graph-runner, worker-spawner and reviewer — one each, at random moments, in random order — and
# restarts them. Every run must still finish the whole build with each step once: the scripted person checks
# the chat (every step seen, no message twice), the demo checks GitHub (one repository, one merged pull
# request per task) and the canary scan checks no secret leaked. Prints one line per run; on a failure, the
# end of that run's output.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-3}
log_dir=${CRASH_LOG_DIR:-.demo-crash}
mkdir -p "$log_dir"
for run in $(seq "$runs"); do
    log="$log_dir/run-$run.log"
    start=$(date +%s)
    if DEMO_CHAOS=1 DEMO_DIR="$log_dir/demo" scripts/demo.sh >"$log" 2>&1; then
        kills=$(grep -o 'kill -9 [a-z-]* at +[0-9.]* s' "$log" | paste -sd ';' -)
        echo "crash run $run/$runs: ok in $(($(date +%s) - start)) s ($kills)"
    else
        echo "crash run $run/$runs FAILED; the end of its output ($log):"
        tail -80 "$log"
        exit 1
    fi
done
