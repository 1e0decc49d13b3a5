#!/usr/bin/env bash
# Runs the graph benchmark on both sides — orch-graph (cargo bench) and LangGraph (bench/langgraph/bench.py) —
# against the same PostgreSQL, one after the other, and prints a comparison table.
#
#   GRAPH_BENCH_DATABASE_URL (postgres://orchestrator:orchestrator@127.0.0.1:5432/graph_bench)
#   CARGO_TARGET_DIR (/work/targets/graph)   BENCH_THREADS (100)
#   LANGGRAPH_ARGS (extra flags for bench.py, e.g. "--runs-per-thread 1")
set -euo pipefail
cd "$(dirname "$0")/.."

export GRAPH_BENCH_DATABASE_URL=${GRAPH_BENCH_DATABASE_URL:-postgres://orchestrator:orchestrator@127.0.0.1:5432/graph_bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/targets/graph}
export BENCH_THREADS=${BENCH_THREADS:-100}
out=$(mktemp -d)

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "== orch-graph (cargo bench -p orch-graph --bench engine)" >&2
BENCH_JSON="$out/rust.json" cargo bench -q -p orch-graph --bench engine >&2

echo "== LangGraph (bench/langgraph/bench.py)" >&2
venv=$(bench/langgraph/setup.sh)
# shellcheck disable=SC2086
"$venv/bin/python" bench/langgraph/bench.py --threads "$BENCH_THREADS" ${LANGGRAPH_ARGS:-} > "$out/langgraph.json"
cat "$out/langgraph.json" >&2

"$venv/bin/python" - "$out/rust.json" "$out/langgraph.json" <<'PY'
import json, sys
r, l = (json.load(open(p)) for p in sys.argv[1:3])
floor = r["floor_us"]
rows = [
    ("bare INSERT+COMMIT floor (us)", f'{floor:.0f}', f'{l["floor_us"]:.0f}', ""),
    ("(a) sequential, us per durable step", f'{r["seq_step_us"]:.0f}', f'{l["seq_step_us"]:.0f}',
     f'{l["seq_step_us"] / r["seq_step_us"]:.1f}x faster'),
    ("(a) ... as a multiple of the floor", f'{r["seq_ratio_to_floor"]:.2f}x', f'{l["seq_ratio_to_own_floor"]:.2f}x',
     "target <= 1.5x (each side interleaved with its own floor)"),
    ("(a) ... with a fenced lease (ours only)", f'{r["seq_step_leased_us"]:.0f} ({r["seq_leased_ratio_to_floor"]:.2f}x)', "-", ""),
    (f'(b) {r["threads"]} threads, durable steps/s', f'{r["conc_steps_per_s"]:.0f}', f'{l["conc_steps_per_s"]:.0f}',
     f'{r["conc_steps_per_s"] / l["conc_steps_per_s"]:.0f}x (target >= 10x)'),
    ("(b) ... LangGraph with a saver per coroutine", "", f'{l["conc_saver_per_task_steps_per_s"]:.0f}',
     f'{r["conc_steps_per_s"] / l["conc_saver_per_task_steps_per_s"]:.0f}x'),
    ("(b) ... ours with fenced leases", f'{r["conc_leased_steps_per_s"]:.0f}', "-",
     f'{r["conc_leased_steps_per_s"] / l["conc_steps_per_s"]:.0f}x'),
    ("(c) no checkpointer, us per step", f'{r["nocp_step_us"]:.2f}', f'{l["nocp_step_us"]:.1f}',
     f'{l["nocp_step_us"] / r["nocp_step_us"]:.0f}x less (target >= 20x)'),
]
w = [max(len(row[i]) for row in rows) for i in range(4)]
head = ("figure", "orch-graph", f'LangGraph {l["langgraph"]}', "ratio")
w = [max(a, len(b)) for a, b in zip(w, head)]
for row in [head, tuple("-" * n for n in w), *rows]:
    print(" | ".join(c.ljust(n) for c, n in zip(row, w)))
PY
