"""``make bench``: the modelship model server (ONNX-served penguins champion) against ``mlflow models serve``.

Both servers serve the same registered version, side by side in one run. For 1-row and 32-row requests at
concurrency 1, 8 and 32, ``wrk --latency`` measures req/s and p50/p99 latency: V2 tensors on the model server
(and ``/invocations`` on mlflow's), and the model server's V1 route with rows as people write them (dicts of the
dataset's raw columns). A third server, the same model server with its inference fast path off (every request
through kserve's FastAPI app), is measured alongside for reference: it shows what the fast path is worth; the
targets apply to the default. Then prediction parity on the held-out test rows (V1 included) and the model
server's cold start (process start to ready, median of 3). Prints Markdown tables with PASS/FAIL against the
targets. Trains penguins first when the bench's own registry is empty
(state under ``~/.cache/modelship/bench``).

    python -m devtools.bench [--duration 6] [--state-dir DIR] [--check]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from devtools import servers, wrk
from devtools.datasets import penguins_test_split, raw_row
from devtools.demo import train
from devtools.procs import ProcGroup, ServerError, free_port, http_ok
from modelship_common.schemas import penguins

MODEL = "penguins"
#: The model server's V1 route (``:predict``), raw-column dict rows; the plain "modelship" rows are V2.
V1 = "modelship V1"
#: The reference row: the model server with MODELSHIP_FAST_PATH=false.
KSERVE_APP = "modelship, fast path off"
CONCURRENCY = (1, 8, 32)
ROWS = (1, 32)
TARGET_RATIO_C8 = 40.0
TARGET_P99_C32_MS = 50.0
TARGET_COLD_START_S = 2.5
PARITY_TOL = 1e-5


@dataclass
class Point:
    server: str
    rows: int
    concurrency: int
    result: wrk.WrkResult


def load_parser(module: str, description: str) -> argparse.ArgumentParser:
    """The options every wrk benchmark here takes: --state-dir, --duration, --check."""
    p = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    p.add_argument("--state-dir", type=Path, default=servers.cache_dir() / "bench")
    p.add_argument("--duration", type=float, default=6.0, help="seconds per load point (default 6)")
    p.add_argument("--check", action="store_true", help="exit 1 when any row FAILs")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = load_parser("devtools.bench", "modelship serving benchmark")
    p.add_argument("--cold-starts", type=int, default=3, help="cold starts to take the median of (default 3)")
    return p.parse_args(argv)


def log(msg: str, name: str = "bench") -> None:
    print(f"[{name}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------- data


def v2_body(x: np.ndarray) -> dict[str, Any]:
    return {"inputs": [{"name": "input-0", "shape": list(x.shape), "datatype": "FP32", "data": x.reshape(-1).tolist()}]}


def v1_body(x: np.ndarray) -> dict[str, Any]:
    return {"instances": [raw_row(row) for row in x]}


def mlflow_body(x: np.ndarray) -> dict[str, Any]:
    return {"inputs": x.tolist()}


def batch(x: np.ndarray, n: int) -> np.ndarray:
    reps = -(-n // len(x))
    return np.concatenate([x] * reps)[:n]


# ----------------------------------------------------------------------------------------------- checks


def parity(ms_url: str, ml_url: str, uri: str, x: np.ndarray) -> dict[str, Any]:
    """Classes from both servers and the in-process native model; modelship's probabilities vs native."""
    import httpx
    import mlflow

    ms = httpx.post(f"{ms_url}/v2/models/{MODEL}/infer", json=v2_body(x), timeout=30)
    ms.raise_for_status()
    outputs = {o["name"]: o for o in ms.json()["outputs"]}
    ms_classes = np.asarray(outputs["class_id"]["data"], dtype=np.int64)
    ms_proba = np.asarray(outputs["probabilities"]["data"], dtype=np.float64).reshape(len(x), -1)
    v1 = httpx.post(f"{ms_url}/v1/models/{MODEL}:predict", json=v1_body(x), timeout=30)
    v1.raise_for_status()
    v1_predictions = v1.json()["predictions"]
    v1_classes = np.asarray([p["class_id"] for p in v1_predictions], dtype=np.int64)
    v1_proba = np.asarray([[p["probabilities"][c] for c in penguins.CLASSES] for p in v1_predictions])
    ml = httpx.post(f"{ml_url}/invocations", json=mlflow_body(x), timeout=30)
    ml.raise_for_status()
    ml_pred = np.asarray(ml.json()["predictions"])
    native = mlflow.sklearn.load_model(uri)
    native_proba = native.predict_proba(x)
    if ml_pred.ndim == 2:  # a pyfunc logged with predict_proba returns probabilities
        ml_classes = ml_pred.argmax(axis=1)
        ml_diff = float(np.max(np.abs(ml_pred - ms_proba)))
    else:
        ml_classes = ml_pred.astype(np.int64)
        ml_diff = None
    return {
        "n": len(x),
        "classes_equal": bool(
            np.array_equal(ms_classes, ml_classes) and np.array_equal(ms_classes, native_proba.argmax(axis=1))
        ),
        "max_diff_vs_native": float(np.max(np.abs(ms_proba - native_proba))),
        "max_diff_vs_mlflow": ml_diff,
        # The raw rows encode to the very float32 batch V2 gets: the same answers, exactly.
        "v1_equals_v2": bool(np.array_equal(v1_classes, ms_classes) and np.array_equal(v1_proba, ms_proba)),
    }


def cold_start(uri: str, tracking_uri: str, log_dir: Path, runs: int) -> list[float]:
    """Seconds from spawning ``python -m modelship_serving`` to ``/v2/models/<name>/ready`` answering 200."""
    times = []
    for _ in range(runs):
        port = free_port()
        started = time.monotonic()
        proc = servers.start_model_server(
            uri, tracking_uri=tracking_uri, log_dir=log_dir, model_name=MODEL, port=port, wait=False
        )
        try:
            ready_url = f"{proc.url}/v2/models/{MODEL}/ready"
            deadline = started + 120
            while not http_ok(ready_url, timeout=1.0):
                if not proc.running():
                    raise ServerError(str(proc.exit_message()))
                if time.monotonic() > deadline:
                    raise ServerError(f"cold start: not ready in 120s; log {proc.log_path}")
                time.sleep(0.01)
            times.append(time.monotonic() - started)
        finally:
            proc.stop()
    return times


# ---------------------------------------------------------------------------------------------------- report


def verdict(ok: bool, reason: str = "") -> str:
    """``PASS``, or ``FAIL`` with the reason when there is one."""
    if ok:
        return "PASS"
    return f"FAIL: {reason}" if reason else "FAIL"


class Checks:
    """The PASS/FAIL table under a benchmark's measurements: one row per target, and whether all of them passed."""

    def __init__(self) -> None:
        self.lines = ["", "| check | measured | target | result |", "|---|---:|---:|---|"]
        self.ok = True

    def row(self, check: str, measured: str, target: str, ok: bool, reason: str = "") -> None:
        self.ok = self.ok and ok
        self.lines.append(f"| {check} | {measured} | {target} | {verdict(ok, reason)} |")


def broken(name: str, r: wrk.WrkResult) -> str | None:
    """Why a load point cannot be trusted (no request answered, or errors), or None when it can."""
    if r.requests <= 0 or r.rps <= 0:
        return f"{name} answered no request ({r.requests} requests, {r.rps:g} req/s)"
    if r.errors:
        return f"{name} had {r.errors} errors in {r.requests} requests"
    return None


def ratio_check(ms: wrk.WrkResult, ml: wrk.WrkResult, target: float) -> tuple[str, bool, str]:
    """(measured, ok, reason) of modelship's req/s over the baseline's. A baseline that answered nothing or had
    errors gives no ratio and FAILs with the reason: a broken ``mlflow models serve`` must not make modelship
    look fast (0 req/s would make the ratio infinite)."""
    baseline, ours = broken("baseline mlflow serve", ml), broken("modelship", ms)
    reason = "; ".join(p for p in (baseline, ours) if p)
    if baseline:
        return "n/a", False, reason
    ratio = ms.rps / ml.rps
    if ours:
        return f"{ratio:.1f}x", False, reason
    if ratio < target:
        return f"{ratio:.1f}x", False, f"below {target:g}x"
    return f"{ratio:.1f}x", True, ""


def render(
    points: list[Point], version: str, onnx: bool, par: dict[str, Any], cold: list[float], duration: float
) -> tuple[str, bool]:
    by = {(p.server, p.rows, p.concurrency): p.result for p in points}
    out = [
        f"### penguins v{version} ({'ONNX' if onnx else 'native'} in modelship) vs `mlflow models serve`, "
        f"wrk {duration:g}s per point (the fast-path-off rows are for reference)",
        "",
        "| server | rows/request | concurrency | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        r = p.result
        out.append(
            f"| {p.server} | {p.rows} | {p.concurrency} | {r.rps:,.1f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} |"
        )
    checks = Checks()
    row = checks.row

    for rows in ROWS:
        ms, ml = by[("modelship", rows, 8)], by[("mlflow serve", rows, 8)]
        measured, ok, reason = ratio_check(ms, ml, TARGET_RATIO_C8)
        row(f"req/s ratio modelship / mlflow, {rows} row(s), c=8", measured, f">= {TARGET_RATIO_C8:g}x", ok, reason)
    for server in ("modelship", V1):
        for rows in ROWS:
            if server == V1 and (V1, rows, 32) not in by:  # a table of V2 points only (the verdict tests')
                continue
            ms = by[(server, rows, 32)]
            problem = broken(server, ms)
            slow = "" if ms.p99_ms <= TARGET_P99_C32_MS else f"above {TARGET_P99_C32_MS:g} ms"
            row(
                f"{server} p99, {rows} row(s), c=32",
                f"{ms.p99_ms:.1f} ms",
                f"<= {TARGET_P99_C32_MS:g} ms",
                problem is None and not slow,
                problem or slow,
            )
    ml_diff = par["max_diff_vs_mlflow"]
    v1_same = par.get("v1_equals_v2")
    measured = (
        f"classes equal={par['classes_equal']} on {par['n']} rows; max abs diff vs native "
        f"{par['max_diff_vs_native']:.1e}"
        + (f", vs mlflow {ml_diff:.1e}" if ml_diff is not None else " (mlflow serve returns class ids only)")
        + (f"; V1 raw rows = V2: {v1_same}" if v1_same is not None else "")
    )
    row(
        "prediction parity (test rows)",
        measured,
        f"same classes, abs diff <= {PARITY_TOL:g}",
        par["classes_equal"]
        and par["max_diff_vs_native"] <= PARITY_TOL
        and (ml_diff is None or ml_diff <= PARITY_TOL)
        and v1_same is not False,
    )
    med = statistics.median(cold)
    row(
        f"modelship cold start (median of {len(cold)})",
        f"{med:.2f} s ({', '.join(f'{c:.2f}' for c in cold)})",
        f"<= {TARGET_COLD_START_S:g} s",
        med <= TARGET_COLD_START_S,
    )
    reference = [
        f"{by[(KSERVE_APP, rows, 8)].rps / by[('mlflow serve', rows, 8)].rps:.1f}x ({rows} row(s))"
        for rows in ROWS
        if (KSERVE_APP, rows, 8) in by and not broken("baseline", by[("mlflow serve", rows, 8)])
    ]
    out += checks.lines
    if reference:
        out += ["", f"Reference, fast path off (kserve's FastAPI app for every request), c=8: {', '.join(reference)}."]
    return "\n".join(out), checks.ok


# ------------------------------------------------------------------------------------------------------ main


@dataclass(frozen=True)
class PenguinsChampion:
    """The benchmarks' registry: its MLflow server, the penguins champion and its held-out rows."""

    tracking_uri: str
    logs: Path
    info: Any
    uri: str
    x_test: np.ndarray


def penguins_champion(state_dir: Path, group: ProcGroup) -> PenguinsChampion:
    """Start the benchmarks' own MLflow (state under ``state_dir``) in ``group``; train penguins when the registry
    has no penguins yet; the champion's URI and the test rows, split exactly as training split them."""
    import mlflow
    from mlflow import MlflowClient

    from modelship_common import registry

    state = state_dir.expanduser().resolve()
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    training_db = f"sqlite:///{state / 'training.db'}"
    tracking_uri = str(group.add(servers.start_mlflow(state / "mlflow")).url)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    if MODEL not in registry.served_models(client):
        train(["penguins"], tracking_uri, logs, training_db)
    info = registry.resolve_alias(client, MODEL, registry.CHAMPION)
    x_test, _ = penguins_test_split(training_db)
    return PenguinsChampion(tracking_uri, logs, info, registry.model_uri(MODEL, info.version), x_test)


def run(args: argparse.Namespace) -> int:
    wrk.find_wrk()
    group = ProcGroup()
    try:
        champion = penguins_champion(args.state_dir, group)
        tracking_uri, logs, info, uri, x_test = (
            champion.tracking_uri,
            champion.logs,
            champion.info,
            champion.uri,
            champion.x_test,
        )
        log(f"{uri} (estimator {info.tags.get('modelship.io/estimator')}, onnx={bool(info.onnx_path)})")

        ms = group.add(
            servers.start_model_server(uri, tracking_uri=tracking_uri, log_dir=logs, model_name=MODEL, wait=False)
        )
        ms_kserve = group.add(
            servers.start_model_server(
                uri,
                tracking_uri=tracking_uri,
                log_dir=logs,
                model_name=MODEL,
                wait=False,
                env={"MODELSHIP_FAST_PATH": "false"},
            )
        )
        ml = group.add(servers.start_mlflow_models_serve(uri, tracking_uri=tracking_uri, log_dir=logs, wait=False))
        ms.wait_http(f"/v2/models/{MODEL}/ready", timeout=180)
        ms_kserve.wait_http(f"/v2/models/{MODEL}/ready", timeout=180)
        ml.wait_http("/ping", timeout=240)
        log(f"modelship at {ms.url} (fast path off: {ms_kserve.url}), mlflow models serve at {ml.url}")

        par = parity(str(ms.url), str(ml.url), uri, x_test)
        targets = {
            "modelship": (f"{ms.url}/v2/models/{MODEL}/infer", v2_body),
            V1: (f"{ms.url}/v1/models/{MODEL}:predict", v1_body),
            KSERVE_APP: (f"{ms_kserve.url}/v2/models/{MODEL}/infer", v2_body),
            "mlflow serve": (f"{ml.url}/invocations", mlflow_body),
        }
        points: list[Point] = []
        for server, (url, make_body) in targets.items():
            wrk.run(url, json.dumps(make_body(batch(x_test, 1))), connections=8, duration_s=1.0)  # warm-up
            for rows in ROWS:
                body = json.dumps(make_body(batch(x_test, rows)))
                for c in CONCURRENCY:
                    result = wrk.run(url, body, connections=c, duration_s=args.duration)
                    log(
                        f"{server:25s} rows={rows:2d} c={c:2d}: {result.rps:9.1f} req/s  p50 {result.p50_ms:7.2f} ms"
                        f"  p99 {result.p99_ms:7.2f} ms  errors {result.errors}"
                    )
                    points.append(Point(server, rows, c, result))
        # The load servers stop before the cold starts are measured, so those get the whole machine.
        group.stop_all()
        cold = cold_start(uri, tracking_uri, logs, args.cold_starts)
        table, ok = render(points, info.version, bool(info.onnx_path), par, cold, args.duration)
        print(table, flush=True)
        return 0 if ok or not args.check else 1
    finally:
        group.stop_all()


def run_bench(name: str, run_it: Callable[[], int]) -> int:
    """A benchmark's exit code: its own, 1 with one line on stderr when a server fails, 130 on Ctrl-C."""
    try:
        return run_it()
    except (ServerError, TimeoutError, RuntimeError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench("bench", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
