"""The cluster that the end-to-end tests and bench-rollout drive, through the same commands the README gives users.

Two kinds of cluster run the same tests:
- ``local`` (``make e2e``, the default): ``scripts/k8s/node.sh`` brings up a control plane and a real kubelet node
  on this machine, and the images of ``scripts/images/build.sh`` are imported into the node's containerd;
- ``kind`` (``make e2e-kind``): an existing kind cluster, named by ``MODELSHIP_E2E_KIND_CLUSTER``, into which the
  images are loaded with ``kind load docker-image``.
Every call is kubectl, helm or an HTTP request through ``kubectl port-forward``; nothing reaches into the cluster
by another door.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from devtools.procs import free_port

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("MODELSHIP_CACHE", Path.home() / ".cache" / "modelship"))
BIN = CACHE / "bin"
T = TypeVar("T")


class ClusterError(RuntimeError):
    """A kubectl/helm command failed; the message holds the command and its output."""


def run(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    check: bool = True,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command with a deadline; on failure raise with its output (last 4000 characters)."""
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, input=input)
    except subprocess.TimeoutExpired as exc:
        raise ClusterError(f"timed out after {timeout:.0f}s: {shlex.join(cmd)}") from exc
    if check and proc.returncode != 0:
        out = (proc.stdout + proc.stderr)[-4000:]
        raise ClusterError(f"exit {proc.returncode}: {shlex.join(cmd)}\n{out}")
    return proc


class Kubectl(Protocol):
    def kubectl(self, *args: str) -> str: ...


def refuse_other_operators(cluster: Kubectl) -> None:
    """A bench's own modelship operator and a release's (each watches every namespace) would both drive the bench's
    InferenceServices: refuse to start while a release's operator runs on the node."""
    found = cluster.kubectl("get", "deployments", "-A", "-l", "app.kubernetes.io/component=operator", "-o", "name")
    if found.strip():
        raise RuntimeError(
            f"a modelship operator already runs on the node ({' '.join(found.split())}): `helm uninstall` its "
            "release first (make e2e uninstalls it at its end)"
        )


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float, interval: float = 2.0) -> T:
    """Call ``probe`` until it returns something truthy; fail after ``timeout`` seconds, with the last error."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
            if value:
                return value
            last = value
        except (ClusterError, OSError, ValueError, KeyError) as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


@dataclass
class Cluster:
    """kubectl and helm against one cluster and namespace."""

    kind: str
    env: dict[str, str]
    namespace: str = "modelship"
    """The ``-n`` of every kubectl and helm call; empty: none (each command names its own, as manifests do)."""
    release: str = "modelship"
    port_forwards: list[subprocess.Popen[bytes]] = field(default_factory=list)
    node: str = ""
    """The name of the scripts/k8s/node.sh node (kind ``local``)."""
    started: bool = False
    """Whether :func:`local_node` brought that node up (then :meth:`stop_node` stops it; a node that was up stays)."""

    def _namespace_flag(self) -> list[str]:
        return ["-n", self.namespace] if self.namespace else []

    def kubectl(self, *args: str, timeout: float = 300, check: bool = True, input: str | None = None) -> str:
        argv = [self.tool("kubectl"), *self._namespace_flag(), *args]
        return run(argv, env=self.env, timeout=timeout, check=check, input=input).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def helm(self, *args: str, timeout: float = 1800, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run([self.tool("helm"), *self._namespace_flag(), *args], env=self.env, timeout=timeout, check=check)

    def tool(self, name: str) -> str:
        path = BIN / name
        return str(path) if path.exists() else name

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig the calls use (``KUBECONFIG`` of :attr:`env`)."""
        return Path(self.env["KUBECONFIG"])

    def apply(self, obj: dict[str, Any], *, field_manager: str = "devtools") -> None:
        """Server-side apply of one object (its own ``metadata.namespace``, if any, must match :attr:`namespace`)."""
        self.kubectl("apply", "--server-side", f"--field-manager={field_manager}", "-f", "-", input=json.dumps(obj))

    def ensure_namespace(self, namespace: str) -> None:
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})

    def release_finalizers(self, namespace: str) -> None:
        """Remove the finalizers of the modelship objects in ``namespace`` (kopf's, left when no operator runs to
        remove them: a namespace holding them would stay terminating). Best effort: no CRDs, nothing to do."""
        for kind in ("modelregistries.modelship.io", "inferenceservices.modelship.io"):
            names = self.kubectl("get", kind, "-n", namespace, "-o", "name", "--ignore-not-found", check=False)
            for name in names.split():
                patch = '{"metadata": {"finalizers": null}}'
                self.kubectl("patch", name, "-n", namespace, "--type=merge", "-p", patch, check=False)

    def delete_namespace(self, namespace: str, *, timeout: float = 300) -> None:
        """Delete ``namespace`` and wait until it is gone; its modelship objects lose their finalizers first."""
        self.release_finalizers(namespace)
        self.kubectl(
            "delete", "namespace", namespace, "--ignore-not-found", "--wait=true", f"--timeout={timeout:.0f}s",
            timeout=timeout + 30,
        )  # fmt: skip

    def load(self, images: list[str]) -> None:
        """Import Docker ``images`` into the local node's containerd (``node.sh load``; skips what is there)."""
        run([str(NODE), "load", "--name", self.node, *images], timeout=1800)

    def stop_node(self) -> None:
        """``node.sh down`` of the local node if :func:`local_node` started it; otherwise nothing."""
        if self.started:
            run([str(NODE), "down", "--name", self.node], env=self.env, timeout=300)
            self.started = False

    def psql(self, sql: str, database: str = "modelship") -> list[list[str]]:
        """Run SQL in the release's PostgreSQL pod (as a user would with kubectl exec); rows as lists of text."""
        out = self.kubectl(
            "exec",
            "-i",
            f"{self.release}-postgresql-0",
            "-c",
            "postgresql",
            "--",
            "sh",
            "-c",
            f'psql -X -q -A -t -F "|" -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d {database}',
            input=sql,
            timeout=60,
        )
        return [line.split("|") for line in out.splitlines() if line]

    @contextlib.contextmanager
    def port_forward(self, target: str, remote_port: int, *, timeout: float = 60) -> Iterator[str]:
        """``kubectl port-forward TARGET LOCAL:REMOTE`` for the duration; yields ``http://127.0.0.1:LOCAL``."""
        port = free_port()
        proc = subprocess.Popen(
            [
                self.tool("kubectl"),
                "-n",
                self.namespace,
                "port-forward",
                target,
                f"{port}:{remote_port}",
                "--address",
                "127.0.0.1",
            ],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:

            def listening() -> bool:
                if proc.poll() is not None:
                    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                    raise AssertionError(f"kubectl port-forward {target} exited: {out}")
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
                return False

            wait_for(f"port-forward to {target}", listening, timeout=timeout, interval=0.3)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def parse_env(text: str) -> dict[str, str]:
    """The ``export NAME='value'`` lines the cluster scripts print, as a dict."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^export ([A-Z_][A-Z0-9_]*)=(.*)$", line.strip())
        if m:
            (value,) = shlex.split(m.group(2)) or [""]
            env[m.group(1)] = value.replace("$PATH", os.environ.get("PATH", ""))
    return env


def image_names() -> list[str]:
    out = run([str(ROOT / "scripts/images/build.sh"), "list"], timeout=60).stdout
    return [line for line in out.splitlines() if line]


NODE = ROOT / "scripts/k8s/node.sh"
CHART = ROOT / "charts/modelship"
E2E_VALUES = CHART / "ci/e2e-values.yaml"


def local_node(name: str, images: list[str], *, env: Mapping[str, str] | None = None) -> Cluster:
    """The local real node ``name`` (``scripts/k8s/node.sh up``; a no-op when it is up) with ``images`` imported.

    ``env`` (default: this process's) is the environment of the calls, with the node's ``export`` lines on top. The
    Cluster's ``started`` says whether the node was down before (:meth:`Cluster.stop_node` stops only such a node).
    """
    base = dict(os.environ if env is None else env)
    started = run([str(NODE), "status", "--name", name], env=base, timeout=120, check=False).returncode != 0
    out = run([str(NODE), "up", "--name", name], env=base, timeout=900).stdout
    cluster = Cluster(kind="local", env={**base, **parse_env(out)}, node=name, started=started)
    if images:
        cluster.load(images)
    return cluster


def clean_install(cluster: Cluster, values: list[Path], *, node: str = "e2e", timeout_s: int = 1500) -> float:
    """``helm install`` of the umbrella chart with ``values`` after removing what an earlier run left (its release,
    namespace and the node's volumes); waits for every workload and hook. Returns the install's seconds.

    A run whose node was stopped under it can leave objects with kopf's finalizer and no operator to release them:
    those lose the finalizer first."""
    cluster.release_finalizers(cluster.namespace)
    try:
        cluster.helm("uninstall", cluster.release, "--wait", check=False, timeout=300)
    except ClusterError as exc:  # whatever it left, deleting the namespace below removes
        print(f"[cluster] cleanup of an earlier release: {exc}")
    cluster.kubectl("delete", "namespace", cluster.namespace, "--ignore-not-found", "--wait=true", timeout=300)
    if cluster.kind == "local":
        run([str(NODE), "recycle", "--name", node], env=cluster.env, timeout=120)
    t0 = time.monotonic()
    files = [arg for path in values for arg in ("-f", str(path))]
    try:
        cluster.helm(
            "install",
            cluster.release,
            str(CHART),
            "--create-namespace",
            *files,
            "--wait",
            "--wait-for-jobs",
            "--timeout",
            f"{timeout_s // 60}m",
            timeout=timeout_s + 200,
        )
    except ClusterError as exc:
        diagnostics = cluster.kubectl(
            "get", "pods,jobs,deploy,sts,inferenceservices.modelship.io", "-o", "wide", check=False
        )
        events = cluster.kubectl("get", "events", "--sort-by=.lastTimestamp", check=False)[-6000:]
        raise ClusterError(f"helm install failed: {exc}\n{diagnostics}\n{events}") from exc
    return time.monotonic() - t0
