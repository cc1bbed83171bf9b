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
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# MODELSHIP_CHART_UNDER_TEST: render another copy of the chart (e.g. while a subchart is being written).
CHART = Path(os.environ.get("MODELSHIP_CHART_UNDER_TEST") or REPO / "charts" / "modelship")
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
CACHE = Path(os.environ.get("MODELSHIP_CACHE") or Path.home() / ".cache" / "modelship")
BIN = CACHE / "bin"
CONTROL_PLANE = REPO / "scripts" / "k8s" / "control-plane.sh"
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


def tool(name: str) -> str:
    """Path of a pinned tool from the modelship cache; fails (never skips) when it is not built."""
    path = BIN / name
    if not (path.exists() and os.access(path, os.X_OK)):
        pytest.fail(f"{path} is missing: run `make k8s-tools` (scripts/k8s/install-tools.sh) first", pytrace=False)
    return str(path)


def run(
    args: list[str],
    *,
    check: bool = True,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, returning its output; on failure raise with the command and its stderr."""
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout, input=input, check=False)
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {done.returncode}\nstdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
        )
    return done


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
class Cluster:
    """The control plane: env with KUBECONFIG and the tools, and small kubectl/helm helpers."""

    env: dict[str, str]
    kubectl_bin: str
    helm_bin: str

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return run([self.kubectl_bin, *args], check=check, env=self.env, input=input, timeout=timeout)

    def helm(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return run([self.helm_bin, *args], check=check, env=self.env, timeout=timeout)

    def get(self, *args: str) -> dict[str, Any]:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def namespace(self) -> str:
        name = f"ct-{uuid.uuid4().hex[:8]}"
        self.kubectl("create", "namespace", name)
        return name


def _parse_env(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export ") :]
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            if key == "KUBECONFIG" or key.startswith("MODELSHIP_K8S_"):  # PATH: the tools are called by path
                out[key] = value.strip().strip("'\"")
    return out


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    kubectl = tool("kubectl")
    helm_bin = tool("helm")
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kwok"):
        tool(name)
    if not CONTROL_PLANE.exists():
        pytest.fail(f"{CONTROL_PLANE} is missing", pytrace=False)
    base_env = {**os.environ, "MODELSHIP_K8S_NAME": CLUSTER_NAME}
    already = (
        run(["bash", str(CONTROL_PLANE), "status", "--name", CLUSTER_NAME], check=False, env=base_env).returncode == 0
    )
    up = run(["bash", str(CONTROL_PLANE), "up", "--name", CLUSTER_NAME], check=False, env=base_env, timeout=900)
    if up.returncode != 0:
        pytest.fail(
            f"control plane did not come up (scripts/k8s/control-plane.sh up):\n{up.stdout[-3000:]}\n"
            f"{up.stderr[-3000:]}",
            pytrace=False,
        )
    env = {**base_env, **_parse_env(up.stdout)}
    if "KUBECONFIG" not in env:
        env.update(_parse_env(run(["bash", str(CONTROL_PLANE), "env", "--name", CLUSTER_NAME], env=base_env).stdout))
    env["HELM_CACHE_HOME"] = str(CACHE / "helm" / "cache")
    env["HELM_CONFIG_HOME"] = str(CACHE / "helm" / "config")
    env["HELM_DATA_HOME"] = str(CACHE / "helm" / "data")
    yield Cluster(env=env, kubectl_bin=kubectl, helm_bin=helm_bin)
    if not already:
        run(["bash", str(CONTROL_PLANE), "down", "--name", CLUSTER_NAME], check=False, env=base_env)


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = cluster.namespace()
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
