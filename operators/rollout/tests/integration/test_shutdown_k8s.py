"""A stopping operator releases kopf's finalizers (shutdown.py), against the REAL API server of scripts/k8s.

Without it, ``helm uninstall`` (operator Deployment and ModelRegistry deleted at once) left the ModelRegistry, and
so its namespace, terminating forever: seen on the real node in tests/e2e.
"""

from __future__ import annotations

import kopf
import pytest

from devtools.control_plane import wait_for
from modelship_operator.shutdown import KOPF_FINALIZER, release_finalizers

from .conftest import Cluster, kube_client

pytestmark = pytest.mark.integration


def _registry(namespace: str, name: str, finalizers: list[str]) -> dict[str, object]:
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelRegistry",
        "metadata": {"name": name, "namespace": namespace, "finalizers": finalizers},
        "spec": {"trackingUri": "http://mlflow.invalid:5000"},
    }


# A finalizer of this test's own: a kopf operator another test runs on the same cluster adds and drops kopf's.
HELD = "test.modelship.io/held"


def test_the_released_finalizer_is_kopfs() -> None:
    assert kopf.OperatorSettings().persistence.finalizer == KOPF_FINALIZER


def test_release_finalizers_lets_a_deleted_registry_go(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        [
            _registry(namespace, "held", [HELD, "example.com/keep"]),
            _registry(namespace, "untouched", ["example.com/keep"]),
        ]
    )
    cluster.kubectl("delete", "modelregistries.modelship.io", "held", "-n", namespace, "--wait=false")
    held = cluster.get("modelregistries.modelship.io", "held", namespace)
    assert held is not None and held["metadata"].get("deletionTimestamp"), held

    # As the operator's own ServiceAccount: its RBAC must allow the patch.
    released = release_finalizers(kube_client(cluster.operator_kubeconfig), [namespace], finalizer=HELD)

    assert released == 1
    held = cluster.get("modelregistries.modelship.io", "held", namespace)
    assert held is not None and HELD not in held["metadata"]["finalizers"], held
    assert "example.com/keep" in held["metadata"]["finalizers"], held
    untouched = cluster.get("modelregistries.modelship.io", "untouched", namespace)
    assert untouched is not None and "example.com/keep" in untouched["metadata"]["finalizers"], untouched
    # Only kopf's finalizer was ours to drop; once the other one goes, the object is deleted.
    cluster.kubectl(
        "patch",
        "modelregistries.modelship.io",
        "held",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"metadata": {"finalizers": null}}',
    )
    wait_for(
        lambda: cluster.get("modelregistries.modelship.io", "held", namespace) is None,
        timeout=30,
        what="the deleted ModelRegistry gone",
    )
    cluster.kubectl(
        "patch",
        "modelregistries.modelship.io",
        "untouched",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"metadata": {"finalizers": null}}',
    )
