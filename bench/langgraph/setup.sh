#!/usr/bin/env bash
# Creates the Python venv for the LangGraph side of the graph benchmark (idempotent) and prints its path.
#   VENV (default $HOME/.cache/codegen-orchestrator/venv-langgraph)
set -euo pipefail
VENV=${VENV:-$HOME/.cache/codegen-orchestrator/venv-langgraph}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" >&2
fi
if ! "$VENV/bin/python" -c 'import langgraph, langgraph.checkpoint.postgres, psycopg, psycopg_pool' 2>/dev/null; then
    "$VENV/bin/pip" install --quiet --upgrade pip >&2
    "$VENV/bin/pip" install --quiet langgraph langgraph-checkpoint-postgres "psycopg[binary]" psycopg-pool >&2
fi
echo "$VENV"
