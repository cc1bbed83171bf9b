"""Session fixtures of the end-to-end tests: a real cluster, our images in it, the umbrella chart installed.

``make e2e`` builds the images first (``scripts/images/build.sh``) and these fixtures bring up the local node
(``scripts/k8s/node.sh up``). ``KEEP=1`` leaves the node and the release running after the tests and prints how to
reach them. ``MODELSHIP_E2E_KIND_CLUSTER=<name>`` runs the same tests against an existing kind cluster instead.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator

import pytest

from devtools.cluster import BIN, E2E_VALUES, NODE, Cluster, ClusterError, clean_install, image_names, local_node, run

KEEP = os.environ.get("KEEP", "0") == "1"


def _need(path: str, target: str) -> None:
    if not (BIN / path).exists() and not shutil.which(path):
        pytest.fail(f"{path} is missing: run `make {target}` (the e2e tests need it)", pytrace=False)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    kind_cluster = os.environ.get("MODELSHIP_E2E_KIND_CLUSTER")
    if kind_cluster:
        env = dict(os.environ)
        cl = Cluster(kind="kind", env=env)
        cl.env["KUBECONFIG"] = os.environ.get("KUBECONFIG", str(os.path.expanduser("~/.kube/config")))
        run(["kubectl", "config", "use-context", f"kind-{kind_cluster}"], env=env)
        for image in image_names():
            run(["kind", "load", "docker-image", "--name", kind_cluster, image], env=env, timeout=900)
        yield cl
        return
    for tool, target in [
        ("kubelet", "k8s-tools"),
        ("kube-proxy", "k8s-tools"),
        ("coredns", "k8s-tools"),
        ("helm", "k8s-tools"),
    ]:
        _need(tool, target)
    if not shutil.which("dockerd") or not shutil.which("containerd"):
        pytest.fail("docker.io/containerd are missing: run `make images` (the e2e tests need them)", pytrace=False)
    node = str(NODE)
    try:
        cl = local_node("e2e", image_names())
    except ClusterError as exc:
        pytest.fail(f"the local node did not come up (scripts/k8s/node.sh, `make e2e`): {exc}", pytrace=False)
    env = cl.env
    yield cl
    if KEEP:
        print(
            f"\nKEEP=1: the node and the release stay up. export KUBECONFIG={env['KUBECONFIG']}\n"
            "  kubectl -n modelship port-forward svc/modelship-gateway 8000:8000      # gateway + dashboard\n"
            "  kubectl -n modelship port-forward svc/modelship-mlflow 5000:5000       # MLflow\n"
            "  kubectl -n modelship port-forward svc/modelship-prometheus 9090:9090   # Prometheus\n"
            "  (Grafana is not in the e2e values; see docker/local/README.md)\n"
            f"  stop it all: {node} down --name e2e"
        )
    else:
        run([node, "down", "--name", "e2e"], timeout=300, check=False)


@pytest.fixture(scope="session")
def release(cluster: Cluster) -> Iterator[dict[str, float]]:
    """``helm install`` of charts/modelship with the e2e values, waiting for the hooks (topics, buckets, training).

    ``MODELSHIP_E2E_REUSE=1`` (with ``KEEP=1`` before) reuses a release that is already deployed: for working on the
    tests themselves, never in ``make test``.
    """
    if os.environ.get("MODELSHIP_E2E_REUSE") == "1":
        status = cluster.helm("status", cluster.release, "-o", "json", check=False)
        if status.returncode == 0 and '"status":"deployed"' in status.stdout.replace(" ", ""):
            yield {"installed_at": time.monotonic(), "install_seconds": 0.0}
            return
    # A clean start: no release, no claims or data left by an earlier run.
    try:
        seconds = clean_install(cluster, [E2E_VALUES])
    except ClusterError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield {"installed_at": time.monotonic(), "install_seconds": seconds}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The e2e tests are one ordered story on one release: run them last, in file order, whatever shuffled the rest
    (pytest-randomly)."""
    here = os.path.dirname(__file__)
    e2e = [item for item in items if str(item.path).startswith(here + os.sep)]
    if not e2e:
        return
    rest = [item for item in items if item not in set(e2e)]
    e2e.sort(key=lambda item: (str(item.path), item.location[1] or 0, item.name))
    items[:] = rest + e2e
