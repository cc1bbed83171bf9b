"""The serving and gateway benchmarks' tables and verdicts (devtools/bench.py, devtools/bench_gateway.py) on
hand-made wrk results: no server, no wrk.

A PASS must be earned: a baseline that served nothing or answered with errors is a FAIL with its reason, never
an infinite or flattering ratio.
"""

from __future__ import annotations

from devtools import bench
from devtools import bench_gateway as bg
from devtools.wrk import WrkResult

PARITY = {"n": 67, "classes_equal": True, "max_diff_vs_native": 1e-7, "max_diff_vs_mlflow": None}
COLD = [1.2, 1.3, 1.1]


def result(rps: float, *, errors: int = 0, p99_ms: float = 5.0, seconds: float = 6.0) -> WrkResult:
    return WrkResult(requests=int(rps * seconds), rps=rps, p50_ms=1.0, p99_ms=p99_ms, errors=errors, raw="")


def points(ms: dict[int, WrkResult], ml: dict[int, WrkResult]) -> list[bench.Point]:
    out = []
    for rows in bench.ROWS:
        for c in bench.CONCURRENCY:
            out.append(bench.Point("modelship", rows, c, ms.get(c, result(4000.0))))
            out.append(bench.Point("mlflow serve", rows, c, ml.get(c, result(50.0))))
    return out


def checks(table: str) -> dict[str, str]:
    """check name -> result column of the verdict table."""
    rows = [line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): cells[-1].strip() for cells in rows if len(cells) == 4}


def test_healthy_run_passes() -> None:
    table, ok = bench.render(points({}, {}), "3", True, PARITY, COLD, 6.0)
    assert ok, table
    assert checks(table)["req/s ratio modelship / mlflow, 1 row(s), c=8"] == "PASS"
    assert "| 80.0x |" in table


def test_baseline_at_zero_req_s_is_a_fail_with_the_reason() -> None:
    table, ok = bench.render(points({}, {8: result(0.0)}), "3", True, PARITY, COLD, 6.0)
    assert not ok
    verdict = checks(table)["req/s ratio modelship / mlflow, 1 row(s), c=8"]
    assert verdict == "FAIL: baseline mlflow serve answered no request (0 requests, 0 req/s)", table
    assert "inf" not in table


def test_baseline_errors_are_a_fail_with_the_reason() -> None:
    # 50 req/s of HTTP 500s from mlflow serve would otherwise make an 80x ratio, above the target, PASS.
    table, ok = bench.render(points({}, {8: result(50.0, errors=300)}), "3", True, PARITY, COLD, 6.0)
    assert not ok
    verdict = checks(table)["req/s ratio modelship / mlflow, 32 row(s), c=8"]
    assert verdict == "FAIL: baseline mlflow serve had 300 errors in 300 requests", table


def test_modelship_errors_fail_the_ratio_and_the_p99() -> None:
    table, ok = bench.render(points({8: result(4000.0, errors=3), 32: result(0.0)}, {}), "3", True, PARITY, COLD, 6.0)
    assert not ok
    found = checks(table)
    assert found["req/s ratio modelship / mlflow, 1 row(s), c=8"] == "FAIL: modelship had 3 errors in 24000 requests"
    assert found["modelship p99, 1 row(s), c=32"] == "FAIL: modelship answered no request (0 requests, 0 req/s)"


def test_slow_but_healthy_fails_on_the_target() -> None:
    slow = points({8: result(1000.0), 32: result(900.0, p99_ms=80.0)}, {})
    table, ok = bench.render(slow, "3", True, PARITY, COLD, 6.0)
    assert not ok
    found = checks(table)
    assert found["req/s ratio modelship / mlflow, 1 row(s), c=8"] == "FAIL: below 40x"
    assert found["modelship p99, 32 row(s), c=32"] == "FAIL: above 50 ms"


def gateway_points(pg_c8: float, pg_p99_c32: float) -> list[bench.Point]:
    out = []
    for rows in bench.ROWS:
        for c in bench.CONCURRENCY:
            out.append(bench.Point(bg.DIRECT, rows, c, result(1000.0)))
            gw = result(pg_c8 if c == 8 else 600.0, p99_ms=pg_p99_c32 if c == 32 else 5.0)
            out.append(bench.Point(bg.PG, rows, c, gw))
    return out


def test_the_gateway_table_passes_a_run_at_its_targets_and_fails_each_miss_with_its_reason() -> None:
    table, ok = bg.render(gateway_points(600.0, 20.0), {bg.PG: (3600, 3600)}, "2 worker process(es)", 6.0)
    verdicts = checks(table)
    assert ok, table
    assert verdicts[f"{bg.PG} / direct req/s, 1 row, c=8"] == "PASS"
    assert verdicts[f"{bg.PG}: a stored row per answered request"] == "PASS"

    table, ok = bg.render(gateway_points(200.0, 40.0), {bg.PG: (1200, 1199)}, "2 worker process(es)", 6.0)
    verdicts = checks(table)
    assert not ok
    assert verdicts[f"{bg.PG} / direct req/s, 1 row, c=8"] == "FAIL: below 50%"
    assert verdicts[f"{bg.PG} p99, 1 row, c=32"] == "FAIL: above 25 ms"
    assert verdicts[f"{bg.PG}: a stored row per answered request"] == "FAIL: 1 answered requests have no row"
