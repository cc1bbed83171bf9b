"""Fixtures of the chart tests: helm and the chart, rendering helpers, and (integration) a real control plane.

The tools come from ``scripts/k8s/install-tools.sh`` (``make k8s-tools``) under ``$MODELSHIP_CACHE/bin``; a
missing tool FAILS the test with that hint, it never skips. Integration tests start (or reuse) the control
plane of ``scripts/k8s/control-plane.sh`` under the name ``charts-tests`` and stop it at the end of the
session if they started it. Every integration test installs its own release into its own namespace.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.control_plane import ControlPlane, run, start_control_plane, tool

REPO = Path(__file__).resolve().parents[2]
# MODELSHIP_CHART_UNDER_TEST: render another copy of the chart (e.g. while a subchart is being written).
CHART = Path(os.environ.get("MODELSHIP_CHART_UNDER_TEST") or REPO / "charts" / "modelship")
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
CACHE = Path(os.environ.get("MODELSHIP_CACHE") or Path.home() / ".cache" / "modelship")
CLUSTER_NAME = "charts-tests"
APP_SUBCHARTS = ("operator", "gateway", "serving", "training", "streaming")
INFRA_SUBCHARTS = ("postgresql", "minio", "mlflow", "kafka", "prometheus", "grafana")
# Each subchart's own install matrix (charts/<sub>/ci/*-values.yaml), rendered and linted with the subchart alone.
SUBCHART_CI_VALUES = sorted((CHART / "charts").glob("*/ci/*-values.yaml"))
# The library chart of the shared helpers (type: library): the umbrella reads charts/modelship-lib, every subchart
# its vendored copy charts/<sub>/charts/modelship-lib-<version>.tgz (charts/vendor-lib.sh).
LIBRARY = "modelship-lib"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "k8s: needs the local Kubernetes control plane (scripts/k8s, make k8s-tools)")


#: PyYAML's safe loader on libyaml (the same safe constructors; parses a rendered chart about ten times faster
#: than the pure-Python one, which took most of the chart unit tests' time).
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def docs(text: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a rendered manifest."""
    return [d for d in yaml.load_all(text, Loader=SAFE_LOADER) if d]


@dataclass
class Helm:
    """helm bound to the chart (no cluster needed for template/lint)."""

    binary: str

    def template(
        self,
        *values: Path | str,
        release: str = "r",
        namespace: str = "ns",
        sets: tuple[str, ...] = (),
        api_versions: tuple[str, ...] = (),
        check: bool = True,
        extra: tuple[str, ...] = (),
        chart: Path = CHART,
    ) -> subprocess.CompletedProcess[str]:
        args = [self.binary, "template", release, str(chart), "--namespace", namespace]
        for v in values:
            args += ["-f", str(v)]
        for s in sets:
            args += ["--set", s]
        for a in api_versions:
            args += ["--api-versions", a]
        return run([*args, *extra], check=check)

    def render(self, *values: Path | str, **kwargs: Any) -> list[dict[str, Any]]:
        return docs(self.template(*values, **kwargs).stdout)

    def render_sources(self, *values: Path | str, **kwargs: Any) -> list[tuple[str, dict[str, Any]]]:
        """Rendered objects with the chart that made each: "modelship" or the subchart's name."""
        out: list[tuple[str, dict[str, Any]]] = []
        for text in re.split(r"^---\s*$", self.template(*values, **kwargs).stdout, flags=re.MULTILINE):
            m = re.search(r"^# Source: modelship/(?:charts/([^/]+)/)?", text, flags=re.MULTILINE)
            obj = yaml.load(text, Loader=SAFE_LOADER)
            if obj:
                out.append(((m.group(1) or "modelship") if m else "modelship", obj))
        return out


@pytest.fixture(scope="session")
def helm() -> Helm:
    binary = tool("helm")
    missing = [n for n in (*INFRA_SUBCHARTS, *APP_SUBCHARTS) if not (CHART / "charts" / n / "Chart.yaml").exists()]
    if missing:
        pytest.fail(f"subcharts missing under {CHART / 'charts'}: {', '.join(missing)}", pytrace=False)
    return Helm(binary)


@pytest.fixture(scope="session")
def render(helm: Helm) -> Callable[..., list[dict[str, Any]]]:
    """Cached rendering of a values file (session-wide: the chart does not change during a run)."""
    cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}

    def _render(*values: Path | str, **kwargs: Any) -> list[dict[str, Any]]:
        key = (values, tuple(sorted((k, tuple(v) if isinstance(v, list | tuple) else v) for k, v in kwargs.items())))
        if key not in cache:
            cache[key] = helm.render(*values, **kwargs)
        return cache[key]

    return _render


# ---------------------------------------------------------------------------------------------- integration


@dataclass
class Cluster(ControlPlane):
    """The control plane, with helm (its caches under $MODELSHIP_CACHE/helm) and a JSON ``get``."""

    def helm(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return run([tool("helm"), *args], check=check, env=self.env, timeout=timeout)

    def get(self, *args: str) -> dict[str, Any]:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    tool("helm")
    with start_control_plane(CLUSTER_NAME) as cp:
        helm_homes = {f"HELM_{part.upper()}_HOME": str(CACHE / "helm" / part) for part in ("cache", "config", "data")}
        env = {**cp.env, **helm_homes}
        yield Cluster(env=env, kubeconfig=cp.kubeconfig)


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = cluster.namespace("ct")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
