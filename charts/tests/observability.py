"""What the alert and dashboard tests share: the metric names the components export (read from their code),
promtool, and a PromQL metric-name extractor.

For the dashboards' and alerts' tests: every metric a panel or an alert queries must be one of these.

* model server: :class:`modelship_serving.metrics.ServingMetrics` plus what prometheus_client's default registry
  holds once kserve's metrics are imported (kserve's ``request_*_seconds`` histograms, process and Python
  collectors): kserve's ``/metrics`` serves that registry;
* streaming worker: :class:`modelship_streaming.metrics.WorkerMetrics`'s registry;
* operator: :class:`modelship_operator.metrics.Metrics`'s registry (its custom collector included);
* gateway: the ``Counter``/``Histogram``/``Gauge``/``Summary`` definitions in services/gateway/src; while it has
  none, the names of its metrics contract (:data:`GATEWAY_CONTRACT`);
* Prometheus itself: ``up`` and the other series every scrape makes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry

REPO = Path(__file__).resolve().parents[2]
GATEWAY_SRC = REPO / "services" / "gateway" / "src"

#: The gateway's metrics (issue 12), family name -> type; the alerts and the gateway dashboard use them.
GATEWAY_CONTRACT = {
    "modelship_gateway_request_duration_seconds": "histogram",
    "modelship_gateway_requests": "counter",
    "modelship_gateway_upstream_request_duration_seconds": "histogram",
}
#: Series Prometheus adds to every scrape target.
PROMETHEUS_MADE = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "unknown": ("",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
}


def sample_names(family: str, kind: str) -> set[str]:
    """The sample names a family of ``kind`` exposes (a counter ``x`` is scraped as ``x_total``...)."""
    return {family + suffix for suffix in SUFFIXES[kind]}


def registry_names(registry: CollectorRegistry) -> set[str]:
    return {name for family in registry.collect() for name in sample_names(family.name, family.type)}


def serving_names() -> set[str]:
    import kserve.metrics  # noqa: F401  (registers kserve's request_*_seconds in the default registry)
    from prometheus_client import REGISTRY

    from modelship_serving.metrics import ServingMetrics

    ours = CollectorRegistry()
    ServingMetrics(ours)
    return registry_names(ours) | registry_names(REGISTRY)


def streaming_names() -> set[str]:
    from modelship_streaming.metrics import WorkerMetrics

    return registry_names(WorkerMetrics().registry)


def operator_names() -> set[str]:
    from modelship_operator.metrics import Metrics

    return registry_names(Metrics().registry)


_DEFINITION = re.compile(r"\b(Counter|Histogram|Gauge|Summary|Info)\(\s*[\"'](modelship_gateway_[a-zA-Z0-9_:]+)[\"']")


def gateway_definitions(src: Path = GATEWAY_SRC) -> dict[str, str]:
    """``modelship_gateway_*`` metric definitions in the gateway's source: family name -> type."""
    out: dict[str, str] = {}
    for path in sorted(src.rglob("*.py")):
        for kind, name in _DEFINITION.findall(path.read_text(encoding="utf-8")):
            out[name.removesuffix("_total") if kind == "Counter" else name] = kind.lower()
    return out


def gateway_names() -> set[str]:
    defined = gateway_definitions() or GATEWAY_CONTRACT
    return {name for family, kind in defined.items() for name in sample_names(family, kind)}


def exported() -> dict[str, set[str]]:
    """Sample names by component."""
    return {
        "serving": serving_names(),
        "streaming": streaming_names(),
        "operator": operator_names(),
        "gateway": gateway_names(),
        "prometheus": set(PROMETHEUS_MADE),
    }


# ----------------------------------------------------------------------------------------------------- PromQL

_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
    "inf", "nan", "atan2", "start", "end",
}  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_NUMBER = re.compile(r"(?<![\w:.])(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?)(?![\w:])")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (identifiers that are neither functions, nor keywords,
    nor label names in matchers or grouping clauses)."""
    text = _STRING.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names = set()
    for m in _IDENT.finditer(text):
        rest = text[m.end() :].lstrip()
        if rest.startswith("(") or m.group(0).lower() in _KEYWORDS:
            continue  # a function or an aggregation
        names.add(m.group(0))
    # a selector written only as {__name__="x"}
    names.update(re.findall(r'__name__\s*=\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"', expr))
    return names


def promtool() -> str:
    """Path of promtool (Debian's prometheus package); FAILS (never skips) the test when it is missing."""
    import pytest

    found = shutil.which("promtool") or next((p for p in ("/usr/bin/promtool",) if os.access(p, os.X_OK)), None)
    if not found:
        pytest.fail(
            "promtool is missing: run `make services` (devtools/install_services.sh installs Debian's "
            "prometheus package, which ships it)",
            pytrace=False,
        )
    return found


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=300, check=False)


def unknown(names: Iterable[str], known: set[str]) -> list[str]:
    return sorted(set(names) - known)
