"""LangGraph side of the graph benchmark: the same 5-node graph as crates/graph/benches/engine.rs, on the same
PostgreSQL, with LangGraph's own Postgres checkpointers. Prints one JSON object (figures in microseconds or
steps per second). Run through bench/graph.sh, which runs both sides and prints the comparison.

Durability: every run uses durability="sync" (each super-step's checkpoint is committed before the next step
starts), the same guarantee the Rust engine gives. LangGraph's default ("async") is measured too, for reference.
"""

import argparse
import asyncio
import json
import operator
import os
import statistics
import time
from importlib.metadata import version
from typing import Annotated, TypedDict

import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import END, START, StateGraph
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

NODES = ["n1", "n2", "n3", "n4", "n5"]
STEPS = len(NODES)
CONN_KWARGS = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}


class Chain(TypedDict):
    counter: Annotated[int, operator.add]
    visited: Annotated[list[str], operator.add]


def build(checkpointer=None, is_async=False):
    graph = StateGraph(Chain)
    for name in NODES:
        if is_async:
            async def node(state, name=name):
                return {"counter": 1, "visited": [name]}
        else:
            def node(state, name=name):
                return {"counter": 1, "visited": [name]}
        graph.add_node(name, node)
    graph.add_edge(START, NODES[0])
    for a, b in zip(NODES, NODES[1:]):
        graph.add_edge(a, b)
    graph.add_edge(NODES[-1], END)
    return graph.compile(checkpointer=checkpointer)


def fresh():
    return {"counter": 0, "visited": []}


def config(thread):
    return {"configurable": {"thread_id": thread}}


def insert_floor(conn, n):
    """One bare INSERT + COMMIT (autocommit), n times; mean seconds per round trip."""
    with conn.cursor() as cur:
        started = time.perf_counter()
        for i in range(n):
            cur.execute("INSERT INTO bench_floor (v) VALUES (%s)", (Jsonb({"n": i}),), prepare=True)
        return (time.perf_counter() - started) / n


def sequential(graph, tag, runs, durability):
    started = time.perf_counter()
    for i in range(runs):
        out = graph.invoke(fresh(), config(f"{tag}-{i}"), durability=durability)
        assert out["counter"] == STEPS
    return (time.perf_counter() - started) / (runs * STEPS)


async def concurrent(url, tag, threads, runs, pool_size, durability, saver_per_task=False):
    """threads coroutines at once over one connection pool; checkpointed steps per second.

    The documented set-up shares one AsyncPostgresSaver, which serializes its queries behind an asyncio.Lock;
    saver_per_task=True gives each coroutine its own saver (and lock) over the same pool instead.
    """
    pool = AsyncConnectionPool(url, min_size=pool_size, max_size=pool_size, kwargs=CONN_KWARGS, open=False)
    await pool.open()
    try:
        shared = build(AsyncPostgresSaver(pool), is_async=True)

        async def one(t):
            graph = build(AsyncPostgresSaver(pool), is_async=True) if saver_per_task else shared
            for r in range(runs):
                thread = f"{tag}-{pool_size}-{saver_per_task}-{t}-{r}"
                out = await graph.ainvoke(fresh(), config(thread), durability=durability)
                assert out["counter"] == STEPS

        started = time.perf_counter()
        await asyncio.gather(*(one(t) for t in range(threads)))
        return threads * runs * STEPS / (time.perf_counter() - started)
    finally:
        await pool.close()


def no_checkpointer(runs):
    graph = build()
    for _ in range(50):
        graph.invoke(fresh())
    started = time.perf_counter()
    for _ in range(runs):
        graph.invoke(fresh())
    return (time.perf_counter() - started) / (runs * STEPS)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", default=os.environ.get(
        "GRAPH_BENCH_DATABASE_URL", "postgres://orchestrator:orchestrator@127.0.0.1:5432/graph_bench"))
    p.add_argument("--floor-n", type=int, default=300)
    p.add_argument("--seq-runs", type=int, default=40)
    p.add_argument("--threads", type=int, default=100)
    p.add_argument("--runs-per-thread", type=int, default=2)
    p.add_argument("--pool-sizes", default="20,40")
    p.add_argument("--nocp-runs", type=int, default=2000)
    a = p.parse_args()
    tag = f"lg{os.getpid()}"
    with psycopg.connect(a.url, **CONN_KWARGS) as conn:
        saver = PostgresSaver(conn)
        saver.setup()
        conn.execute("TRUNCATE checkpoints, checkpoint_blobs, checkpoint_writes")
        graph = build(saver)
        sequential(graph, f"{tag}-warm", 3, "sync")
        floor_alone = insert_floor(conn, a.floor_n)
        # Interleaved one run at a time (fsync latency and free CPU drift on a shared machine).
        floor, seq, seq_async = [], [], []
        for i in range(a.seq_runs):
            floor.append(insert_floor(conn, STEPS))
            seq.append(sequential(graph, f"{tag}-s{i}", 1, "sync"))
            seq_async.append(sequential(graph, f"{tag}-a{i}", 1, "async"))
    conc, per_task = {}, {}
    for size in [int(s) for s in a.pool_sizes.split(",")]:
        conc[size] = asyncio.run(concurrent(a.url, tag, a.threads, a.runs_per_thread, size, "sync"))
        per_task[size] = asyncio.run(
            concurrent(a.url, tag, a.threads, a.runs_per_thread, size, "sync", saver_per_task=True))
    nocp = no_checkpointer(a.nocp_runs)
    best = max(conc, key=conc.get)
    print(json.dumps({
        "langgraph": version("langgraph"),
        "langgraph_checkpoint_postgres": version("langgraph-checkpoint-postgres"),
        "psycopg": version("psycopg"),
        "floor_us": round(statistics.mean(floor) * 1e6, 1),
        "floor_alone_us": round(floor_alone * 1e6, 1),
        "seq_step_us": round(statistics.mean(seq) * 1e6, 1),
        "seq_step_async_durability_us": round(statistics.mean(seq_async) * 1e6, 1),
        "seq_ratio_to_own_floor": round(statistics.mean(seq) / statistics.mean(floor), 2),
        "threads": a.threads,
        "conc_steps_per_s": round(conc[best]),
        "conc_pool_size": best,
        "conc_by_pool_size": {str(k): round(v) for k, v in conc.items()},
        "conc_saver_per_task_steps_per_s": round(max(per_task.values())),
        "conc_saver_per_task_by_pool_size": {str(k): round(v) for k, v in per_task.items()},
        "nocp_step_us": round(nocp * 1e6, 2),
    }))


if __name__ == "__main__":
    main()
