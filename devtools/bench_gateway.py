"""``make bench-gateway``: the gateway's req/s and latency against the model server it fronts, in one run.

One penguins model server (the registered champion). The same V1 body, ``{"instances": [<9 encoded values>, ...]}``
with 1 and 32 rows, goes to the model server directly (``POST /v1/models/penguins:predict``) and through the
gateway (``POST /api/models/penguins/predict``, which validates, scores and stores one predictions row per
request) at concurrency 1, 8 and 32, measured with ``wrk --latency``. The gateway runs on PostgreSQL with its
default durability (fsync and synchronous commit on, as in the cluster) and on SQLite (as in ``make demo``);
a third run on PostgreSQL with ``MODELSHIP_FAST_PREDICT=false`` (FastAPI's route answers every request instead of
the lean path) is the reference for what the lean path is worth, and a fourth with
``MODELSHIP_COALESCE_PREDICTIONS=false`` (every request its own model-server call) for what coalescing is worth;
the references have no targets.
After each gateway run the predictions table must hold at least one row per answered request: a 200 means the
row is committed. Prints Markdown tables with PASS/FAIL against the targets:

- through the gateway, 1 row, concurrency 8: at least half the model server's req/s (each store);
- through the gateway, 1 row, concurrency 32: p99 at most 25 ms (each store).

    python -m devtools.bench_gateway [--duration 6] [--workers 2] [--state-dir DIR] [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, func, select

from devtools import bench, servers, wrk
from devtools.bench import Checks, Point, batch, broken, load_parser, penguins_champion, run_bench
from devtools.procs import ProcGroup

MODEL = "penguins"
CONCURRENCY = (1, 8, 32)
ROWS = (1, 32)
DIRECT = "model server (direct)"
PG = "gateway on PostgreSQL"
SQLITE = "gateway on SQLite"
#: For reference: the gateway on PostgreSQL with its predict route's lean path off (FastAPI answers every request).
ROUTED = "gateway on PostgreSQL, FastAPI route (reference)"
#: For reference: the gateway on PostgreSQL with every request its own model-server call (no coalescing).
UNCOALESCED = "gateway on PostgreSQL, no coalescing (reference)"
REFERENCES = (ROUTED, UNCOALESCED)
TARGET_RATIO_C8 = 0.5
TARGET_P99_C32_MS = 25.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = load_parser("devtools.bench_gateway", "modelship gateway benchmark")
    p.add_argument("--workers", type=int, default=2, help="gateway worker processes (default 2: one per core here)")
    return p.parse_args(argv)


def log(msg: str) -> None:
    bench.log(msg, "bench-gateway")


def body(x: np.ndarray, rows: int) -> str:
    return json.dumps({"instances": batch(x, rows).tolist()})


def stored_rows(database_url: str) -> int:
    from modelship_common.db import Prediction

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Prediction)).scalar_one())
    finally:
        engine.dispose()


def measure(target: str, url: str, x: np.ndarray, duration: float) -> tuple[list[Point], int]:
    """The load points of ``target``, and how many requests were answered with a 2xx in all (warm-up included)."""
    warm = wrk.run(url, body(x, 1), connections=8, duration_s=1.0)  # warm-up: connections, caches, registry lookup
    points = []
    for rows in ROWS:
        payload = body(x, rows)
        for c in CONCURRENCY:
            result = wrk.run(url, payload, connections=c, duration_s=duration)
            log(
                f"{target:30s} rows={rows:2d} c={c:2d}: {result.rps:9.1f} req/s  p50 {result.p50_ms:7.2f} ms"
                f"  p99 {result.p99_ms:7.2f} ms  errors {result.errors}"
            )
            points.append(Point(target, rows, c, result))
    return points, warm.requests - warm.errors + sum(p.result.requests - p.result.errors for p in points)


def render(points: list[Point], stores: dict[str, tuple[int, int]], workers: str, duration: float) -> tuple[str, bool]:
    by = {(p.server, p.rows, p.concurrency): p.result for p in points}
    out = [
        f"### penguins V1 body: model server directly vs through the gateway ({workers}), wrk {duration:g}s per point",
        "",
        "| target | rows/request | concurrency | req/s | p50 ms | p99 ms | errors | vs direct |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        r, d = p.result, by[(DIRECT, p.rows, p.concurrency)]
        share = "" if p.server == DIRECT or d.rps <= 0 else f"{r.rps / d.rps:.0%}"
        out.append(
            f"| {p.server} | {p.rows} | {p.concurrency} | {r.rps:,.1f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.errors} | {share} |"
        )
    checks = Checks()
    row = checks.row

    direct = by[(DIRECT, 1, 8)]

    def target_rows(store: str) -> None:
        gw = by[(store, 1, 8)]
        problem = broken(DIRECT, direct) or broken(store, gw)
        ratio = gw.rps / direct.rps if direct.rps > 0 else 0.0
        low = "" if ratio >= TARGET_RATIO_C8 else f"below {TARGET_RATIO_C8:.0%}"
        row(
            f"{store} / direct req/s, 1 row, c=8",
            f"{ratio:.0%} ({gw.rps:,.0f} / {direct.rps:,.0f})",
            f">= {TARGET_RATIO_C8:.0%}",
            problem is None and not low,
            problem or low,
        )
        gw32 = by[(store, 1, 32)]
        problem = broken(store, gw32)
        slow = "" if gw32.p99_ms <= TARGET_P99_C32_MS else f"above {TARGET_P99_C32_MS:g} ms"
        row(
            f"{store} p99, 1 row, c=32",
            f"{gw32.p99_ms:.1f} ms",
            f"<= {TARGET_P99_C32_MS:g} ms",
            problem is None and not slow,
            problem or slow,
        )

    for store, (answered, stored) in stores.items():
        if store not in REFERENCES:  # the references (what the lean path, coalescing are worth) have no targets
            target_rows(store)
        row(
            f"{store}: a stored row per answered request",
            f"{stored:,} rows, {answered:,} answered",
            "rows >= answered",
            stored >= answered,
            f"{answered - stored} answered requests have no row",
        )
    return "\n".join([*out, *checks.lines]), checks.ok


def run(args: argparse.Namespace) -> int:
    state: Path = args.state_dir.expanduser().resolve()
    wrk.find_wrk()
    group = ProcGroup()
    try:
        champion = penguins_champion(state, group)
        tracking_uri, logs, uri, x_test = champion.tracking_uri, champion.logs, champion.uri, champion.x_test
        pg = group.add(servers.start_postgres(durable=True))
        ms = group.add(servers.start_model_server(uri, tracking_uri=tracking_uri, log_dir=logs, model_name=MODEL))
        log(f"{uri} at {ms.url}; PostgreSQL (fsync on) at {pg.meta['url']}")
        points, _ = measure(DIRECT, f"{ms.url}/v1/models/{MODEL}:predict", x_test, args.duration)

        sqlite_path = state / "bench-gateway.db"
        sqlite_path.unlink(missing_ok=True)
        pg_url = servers.create_database(pg, "bench_gateway")
        databases = {
            PG: (pg_url, {}),
            SQLITE: (f"sqlite:///{sqlite_path}", {}),
            ROUTED: (pg_url, {"MODELSHIP_FAST_PREDICT": "false"}),
            UNCOALESCED: (pg_url, {"MODELSHIP_COALESCE_PREDICTIONS": "false"}),
        }
        env = {"MODELSHIP_LOG_LEVEL": "WARNING", "MODELSHIP_WORKERS": str(args.workers)}
        stores: dict[str, tuple[int, int]] = {}
        for store, (database_url, store_env) in databases.items():
            gateway = servers.start_gateway(
                tracking_uri=tracking_uri,
                database_url=database_url,
                log_dir=logs,
                model_servers={MODEL: str(ms.url)},
                env={**env, **store_env},
            )
            try:
                before = stored_rows(database_url)
                store_points, answered = measure(
                    store, f"{gateway.url}/api/models/{MODEL}/predict", x_test, args.duration
                )
            finally:
                gateway.stop()
            # Every 2xx wrk counted has its row (wrk's last in-flight requests, cut off at the end, may add rows
            # without being counted: hence >=).
            stores[store] = (answered, stored_rows(database_url) - before)
            points += store_points
        table, ok = render(points, stores, f"{args.workers} worker process(es)", args.duration)
        print(table, flush=True)
        return 0 if ok or not args.check else 1
    finally:
        group.stop_all()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench("bench-gateway", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
