"""The provisioned Grafana dashboards (charts/grafana/files/dashboards/*.json, as the chart renders them):
every panel's PromQL parses (promtool check rules, each expression loaded as a recording rule) and queries
only metrics the components export (read from their code: charts/tests/observability.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from charts.tests import observability as obs
from charts.tests.conftest import CHART, Helm
from charts.tests.manifests import one

DASHBOARDS = {
    "model-servers.json": "modelship-model-servers",
    "overview.json": "modelship-overview",
    "gateway.json": "modelship-gateway",
    "streaming.json": "modelship-streaming",
    "operator.json": "modelship-operator",
}
#: Grafana's built-in interval variables, replaced by a typical value before promtool reads the expression.
BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__range_s": "3600", "__range_ms": "3600000"}
_VARIABLE = re.compile(r"\$\{?(\w+)\}?")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$", re.DOTALL)


@pytest.fixture(scope="module")
def dashboards(helm: Helm) -> dict[str, dict[str, Any]]:
    """The dashboards ConfigMap of the default install, parsed (the model-server selector substituted)."""
    cm = one(helm.render(CHART / "ci" / "default-values.yaml"), "ConfigMap", "r-grafana-dashboards")
    return {name: json.loads(text) for name, text in cm["data"].items()}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels


def expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable (label_values(<expr>, label))."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield f"{panel['title']} [{target['refId']}]", target["expr"]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            m = _LABEL_VALUES.match(query)
            assert m, f"variable {var['name']}: only label_values(<selector>, <label>) queries are checked: {query}"
            yield f"variable {var['name']}", m.group(1)


def substitute(expr: str, variables: set[str]) -> str:
    """Grafana's variables replaced: interval ones by a duration, the dashboard's own (in regexes) by .*"""

    def one_var(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in BUILTINS:
            return BUILTINS[name]
        assert name in variables, f"${name} is not a variable of the dashboard"
        return ".*"

    return _VARIABLE.sub(one_var, expr)


def test_the_chart_provisions_every_dashboard(dashboards: dict[str, dict[str, Any]]) -> None:
    assert {name: d["uid"] for name, d in dashboards.items()} == DASHBOARDS
    titles = [d["title"] for d in dashboards.values()]
    assert len(set(titles)) == len(titles) and all(t.startswith("modelship / ") for t in titles)
    files = {p.name for p in (CHART / "charts" / "grafana" / "files" / "dashboards").glob("*.json")}
    assert files == set(DASHBOARDS)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_layout_and_datasource(dashboards: dict[str, dict[str, Any]], name: str) -> None:
    d = dashboards[name]
    assert d["editable"] is False and "modelship" in d["tags"]
    ids = [p["id"] for p in panels(d)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    seen: set[tuple[int, int]] = set()
    for p in panels(d):
        pos = p["gridPos"]
        assert pos["x"] + pos["w"] <= 24, p["title"]
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & seen, f"{p['title']} overlaps another panel"
        seen |= cells
        if p["type"] != "row":
            assert p.get("targets"), f"{p['title']} has no query"
            assert p["datasource"] == {"type": "prometheus", "uid": "prometheus"}, p["title"]
            assert p.get("description"), f"{p['title']} has no description"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_expression_parses(dashboards: dict[str, dict[str, Any]], name: str, tmp_path: Path) -> None:
    d = dashboards[name]
    variables = {v["name"] for v in d["templating"]["list"]}
    exprs = [(where, substitute(expr, variables)) for where, expr in expressions(d)]
    assert exprs
    rules = [{"record": f"dashboard:expr_{i}:check", "expr": expr} for i, (_, expr) in enumerate(exprs)]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": name, "rules": rules}]}, sort_keys=False))
    done = obs.run_promtool("check", "rules", str(path))
    detail = "\n".join(f"expr_{i}: {where}: {expr}" for i, (where, expr) in enumerate(exprs))
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\n{detail}"
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout, done.stdout


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_metric_is_exported_by_a_component(dashboards: dict[str, dict[str, Any]], name: str) -> None:
    known = set().union(*obs.exported().values())
    unknown = {}
    for where, expr in expressions(dashboards[name]):
        names = obs.metric_names(expr)
        assert names, f"{where}: no metric found in {expr}"
        if missing := obs.unknown(names, known):
            unknown[where] = missing
    assert unknown == {}


def test_exported_names_cover_what_the_dashboards_rely_on() -> None:
    """The collection itself: kserve's histograms count for the model server, counters end in _total."""
    names = obs.exported()
    assert {"request_predict_seconds_bucket", "modelship_predictions_total", "modelship_model_info"} <= names["serving"]
    assert {"modelship_streaming_messages_total", "modelship_streaming_consumer_lag"} <= names["streaming"]
    assert {
        "modelship_operator_rollouts_total",
        "modelship_operator_registry_last_sync_timestamp_seconds",
        "modelship_operator_webhook_deliveries_total",
        "modelship_operator_rollout_decisions_total",
        "modelship_operator_rollout_candidate_weight_ratio",
        "modelship_operator_rollout_phase",
    } <= names["operator"]
    assert "modelship_gateway_requests_total" in names["gateway"]


def test_the_gateway_defines_the_metrics_the_dashboards_and_alerts_use() -> None:
    """Once the gateway's code defines its metrics, they must be the contract's (names and types)."""
    defined = obs.gateway_definitions()
    if defined:
        assert {k: defined.get(k) for k in obs.GATEWAY_CONTRACT} == obs.GATEWAY_CONTRACT


def test_metric_names_extraction() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, model) (rate(a_bucket{namespace=~"$ns", x="by (y)"}[5m]))) '
        "/ on(pod) group_left(node) b offset 1h * 1e3 > bool 2 or vector(0) and time() - c"
    )
    assert obs.metric_names(expr) == {"a_bucket", "b", "c"}
    assert obs.metric_names('{__name__="d", job="x"}') == {"d"}
