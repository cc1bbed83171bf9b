"""The one launcher of the local Kubernetes control plane (kube-apiserver, etcd, the controller manager, the scheduler
and kwok's fake nodes, run by ``scripts/k8s/control-plane.sh``) for the test suites that need an API server: the
chart's, the operator's and the gateway's discovery tests. Each suite brings up a control plane of its own name,
so that the suites never see each other's objects.

A missing tool or a control plane that does not come up fails the test with the ``make`` target to run (never a
skip). The tools are the pinned builds of ``make k8s-tools`` in ``$MODELSHIP_CACHE/bin``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.cluster import CACHE, ROOT, parse_env

BIN = CACHE / "bin"
CONTROL_PLANE = ROOT / "scripts" / "k8s" / "control-plane.sh"
#: What ``control-plane.sh up`` runs, all of ``make k8s-tools``.
TOOLS = ("kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kwok")


def tool(name: str) -> str:
    """The path of a pinned tool of ``make k8s-tools``; fails the test (never skips) when it is not built."""
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
    """Run a command and return its output; with ``check``, a non-zero exit raises with the command and its output."""
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout, input=input, check=False)
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {done.returncode}\nstdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
        )
    return done


def wait_for(check: Callable[[], Any], *, what: str, timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Call ``check`` until it returns something truthy (an object the API server has, a condition met) and return
    that; after ``timeout`` seconds fail with ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")


@dataclass
class ControlPlane:
    """A running control plane: the environment that reaches it (``KUBECONFIG`` and ``MODELSHIP_K8S_*``) and kubectl."""

    env: dict[str, str]
    kubeconfig: Path

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        timeout: float = 300,
        kubeconfig: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """kubectl as the cluster admin, or as the identity of another ``kubeconfig``."""
        env = self.env if kubeconfig is None else {**self.env, "KUBECONFIG": str(kubeconfig)}
        return run([tool("kubectl"), *args], check=check, env=env, input=input, timeout=timeout)

    def namespace(self, prefix: str) -> str:
        """A new namespace named ``<prefix>-<random>``."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.kubectl("create", "namespace", name)
        return name

    def token_kubeconfig(self, token: str, path: Path, *, user: str, namespace: str | None = None) -> Path:
        """A kubeconfig at ``path`` that authenticates with ``token`` (a ServiceAccount's) to this API server."""
        admin = yaml.safe_load(self.kubeconfig.read_text())
        cluster = dict(admin["clusters"][0]["cluster"])
        if "certificate-authority" in cluster:
            ca = Path(cluster.pop("certificate-authority"))
            ca = ca if ca.is_absolute() else self.kubeconfig.parent / ca
            cluster["certificate-authority-data"] = base64.b64encode(ca.read_bytes()).decode()
        context: dict[str, Any] = {"cluster": "cp", "user": user}
        if namespace:
            context["namespace"] = namespace
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "cp", "cluster": cluster}],
                    "users": [{"name": user, "user": {"token": token}}],
                    "contexts": [{"name": user, "context": context}],
                    "current-context": user,
                }
            )
        )
        path.chmod(0o600)
        return path


def _kube_env(text: str) -> dict[str, str]:
    """The ``KUBECONFIG`` and ``MODELSHIP_K8S_*`` lines the script prints (PATH is left alone: tools go by path)."""
    return {k: v for k, v in parse_env(text).items() if k == "KUBECONFIG" or k.startswith("MODELSHIP_K8S_")}


@contextlib.contextmanager
def start_control_plane(name: str) -> Iterator[ControlPlane]:
    """``scripts/k8s/control-plane.sh up --name NAME``, then down again at the end, unless it was up before or
    ``MODELSHIP_KEEP_CLUSTER`` is set (then it stays for the next session, which starts in seconds)."""
    for binary in TOOLS:
        tool(binary)
    base = {**os.environ, "MODELSHIP_K8S_NAME": name}
    script = ["bash", str(CONTROL_PLANE)]
    already = run([*script, "status", "--name", name], check=False, env=base).returncode == 0
    up = run([*script, "up", "--name", name], check=False, env=base, timeout=900)
    if up.returncode != 0:
        pytest.fail(
            f"the control plane {name!r} did not come up (scripts/k8s/control-plane.sh up; tools: `make k8s-tools`):"
            f"\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}",
            pytrace=False,
        )
    env = {**base, **_kube_env(up.stdout)}
    if "KUBECONFIG" not in env:
        env.update(_kube_env(run([*script, "env", "--name", name], env=base).stdout))
    try:
        yield ControlPlane(env=env, kubeconfig=Path(env["KUBECONFIG"]))
    finally:
        if not already and not os.environ.get("MODELSHIP_KEEP_CLUSTER"):
            run([*script, "down", "--name", name], check=False, env=base)
