#!/usr/bin/env python3
"""The demo's full-flow canary scan (issue 4): after a factory run, secrets must appear nowhere they do not belong.

The coding workers' git token is a canary that travels only secrets.yaml -> zavhoz -> worker-spawner -> the worker
container. This scan counts it (and every other secret named with --secret-env: the services' zavhoz tokens) in
  - each service's process log (the simulators' own logs are not scanned: github-sim receives the token in HTTP
    auth, as GitHub would),
  - every Redis key under the demo prefix (stream entries, hashes, strings, lists, sets),
  - `pg_dump --data-only` of the demo database (every table and column: graph checkpoints, effects, audit log,
    outbox, workers, ...),
  - the requests the LLM simulator received (its control API),
as plain text, hex (how pg_dump writes bytea) and base64 at the three alignments (HTTP basic auth). Each place has
a positive control, so an empty or unreadable place cannot pass silently. It then checks positively that the
canary did its job: the worker account pushed to the GitHub simulator (only the canary authenticates as it), a
pull request was merged, and zavhoz audited the resolution of the project's git token handle (secret.resolve by
worker-spawner) and its allocation by graph-runner.

Prints a table place -> hits per secret and exits 1 on any hit or failed check.
"""

import argparse
import base64
import json
import os
import subprocess
import sys
import urllib.request


def variants(secret):
    """Encodings the secret could be stored or logged in."""
    raw = secret.encode()
    found = {secret, raw.hex(), raw.hex().upper()}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode().rstrip("=")
        start = -(-offset * 8 // 6)  # characters carrying bits of the padding prefix
        end = (offset + len(raw)) * 8 // 6  # characters made only of whole bits
        found.add(encoded[start:end])
    return sorted(v for v in found if len(v) >= 12)


def hits(text, secret_variants):
    return sum(text.count(v) for v in secret_variants)


class Scan:
    def __init__(self, secrets):
        self.secrets = secrets  # [(label, variants)]
        self.rows = []  # (place, what was scanned, [hits per secret])
        self.failures = []

    def place(self, name, text, scanned, control=None):
        """Counts every secret in `text`; `control` (a substring) must be there or the place did not really scan."""
        counts = [hits(text, v) for _, v in self.secrets]
        if control is not None and control not in text:
            self.failures.append(f"{name}: positive control missing ({scanned})")
            scanned += " [CONTROL MISSING]"
        self.rows.append((name, scanned, counts))
        for (label, _), count in zip(self.secrets, counts):
            if count:
                self.failures.append(f"{name}: {label} found {count} time(s)")

    def check(self, name, ok, detail):
        self.rows.append((name, ("ok: " if ok else "FAILED: ") + detail, None))
        if not ok:
            self.failures.append(f"{name}: {detail}")

    def report(self):
        labels = [label for label, _ in self.secrets]
        width = max(len(r[0]) for r in self.rows)
        print(f"{'place':<{width}}  {'  '.join(labels)}  scanned")
        for name, scanned, counts in self.rows:
            cells = "  ".join(
                f"{(str(c) if counts is not None else '-'):>{len(l)}}"
                for l, c in zip(labels, counts or [None] * len(labels))
            )
            print(f"{name:<{width}}  {cells}  {scanned}")
        for failure in self.failures:
            print(f"FAIL {failure}")
        return not self.failures


def run(args, stdin=None):
    return subprocess.run(args, input=stdin, capture_output=True, text=True, errors="replace", check=True).stdout


def scan_logs(scan, logs, services):
    for service in services:
        path = os.path.join(logs, f"{service}.log")
        text = open(path, encoding="utf-8", errors="replace").read() if os.path.exists(path) else ""
        lines = text.count("\n")
        # Every service logs its start as JSON lines; an empty log would pass vacuously.
        scan.place(f"log {service}", text, f"{lines} lines", control='"level"' if lines else "<empty log>")


REDIS_READ = {
    "stream": "XRANGE {} - +",
    "hash": "HGETALL {}",
    "string": "GET {}",
    "list": "LRANGE {} 0 -1",
    "set": "SMEMBERS {}",
    "zset": "ZRANGE {} 0 -1 WITHSCORES",
}


def redis_quote(key):
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def scan_redis(scan, url, prefix, control):
    cli = ["redis-cli", "-u", url, "--raw"]
    keys = [k for k in run(cli + ["--scan", "--pattern", f"{prefix}*"]).splitlines() if k]
    types = run(cli, "".join(f"TYPE {redis_quote(k)}\n" for k in keys)).splitlines() if keys else []
    commands = [REDIS_READ[t].format(redis_quote(k)) for k, t in zip(keys, types) if t in REDIS_READ]
    other = sorted({t for t in types if t not in REDIS_READ})
    text = run(cli, "".join(c + "\n" for c in commands)) if commands else ""
    streams = types.count("stream")
    note = f"{len(keys)} keys ({streams} streams){', unread types ' + ','.join(other) if other else ''}"
    scan.place(f"redis {prefix}*", text, note, control=control)
    if other:
        scan.failures.append(f"redis: key types not scanned: {other}")


def scan_postgres(scan, database_url, control):
    dump = run(["pg_dump", "--data-only", "--no-owner", "--no-privileges", database_url])
    tables = dump.count("\nCOPY ")
    scan.place("postgres (pg_dump)", dump, f"{tables} tables, {len(dump)} bytes", control=control)


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8", errors="replace")


def scan_llm(scan, llm_url):
    text = fetch(f"{llm_url}/control/requests")
    count = len(json.loads(text))
    scan.place("llm-sim requests", text, f"{count} requests", control='"messages"' if count else "<no requests>")


def sql(database_url, query):
    return run(["psql", "-X", "-q", "-At", database_url, "-c", query]).strip()


def positive_checks(scan, database_url, github_url, repo, handle):
    requests = json.loads(fetch(f"{github_url}/_sim/requests"))
    pushes = [
        r
        for r in requests
        if r.get("actor") == "worker" and r["path"].endswith("/git-receive-pack") and r["status"] == 200
    ]
    scan.check("worker pushed with the canary", bool(pushes), f"{len(pushes)} push(es) authenticated as `worker`")
    merged = [p for p in json.loads(fetch(f"{github_url}/_sim/pulls")) if p["repo"] == repo and p["merged"]]
    scan.check("pull requests merged", bool(merged), f"{len(merged)} merged in {repo}")
    resolves = sql(
        database_url,
        "SELECT count(*) FROM audit_log WHERE action = 'secret.resolve' AND actor = 'worker-spawner' "
        f"AND subject = '{handle}'",
    )
    scan.check("zavhoz audited the resolves", int(resolves or 0) > 0, f"{resolves} secret.resolve of {handle}")
    allocations = sql(
        database_url,
        "SELECT count(*) FROM audit_log WHERE action = 'resource.allocate' AND actor = 'graph-runner' "
        f"AND detail->>'handle' = '{handle}'",
    )
    scan.check("graph-runner allocated it once", allocations == "1", f"{allocations} resource.allocate")


def git_token_handle(database_url):
    return sql(
        database_url,
        "SELECT h.handle FROM secret_handles h JOIN resources r ON r.id = h.resource_id "
        "WHERE r.idempotency_key LIKE 'git-token:%' ORDER BY h.created_at LIMIT 1",
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--secret-env", action="append", required=True, help="variable holding a secret; repeat")
    parser.add_argument("--logs", required=True)
    parser.add_argument("--service", action="append", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--llm-url", required=True)
    parser.add_argument("--github-url", required=True)
    parser.add_argument("--repo", required=True)
    args = parser.parse_args()
    secrets = []
    for name in args.secret_env:
        value = os.environ.get(name, "")
        if len(value) < 12:
            sys.exit(f"canary-scan: ${name} is unset or too short to search for")
        secrets.append((name, variants(value)))
    scan = Scan(secrets)
    handle = git_token_handle(args.database_url)
    if not handle.startswith("hdl_"):
        scan.failures.append("no git-token handle was allocated: the workers did not get the token from zavhoz")
        handle = "<no handle>"
    scan_logs(scan, args.logs, args.service)
    # The spawns carry the handle; the dump holds it in secret_handles and the checkpoints.
    scan_redis(scan, args.redis_url, args.prefix, control=handle)
    scan_postgres(scan, args.database_url, control=handle)
    scan_llm(scan, args.llm_url)
    positive_checks(scan, args.database_url, args.github_url, args.repo, handle)
    sys.exit(0 if scan.report() else 1)


if __name__ == "__main__":
    main()
