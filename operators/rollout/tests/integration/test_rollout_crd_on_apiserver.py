"""``spec.rollout`` against a REAL kube-apiserver: the CRD's defaults, CEL rules and patterns as the API server
applies them (server-side dry run; no operator needed), and the defaulted object parses as the operator would."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from modelship_operator.spec import parse_spec

from .conftest import Cluster

pytestmark = pytest.mark.integration


def _isvc(namespace: str, rollout: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"model": {"name": "penguins", "alias": "champion"}}
    if rollout is not None:
        spec["rollout"] = rollout
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": "penguins", "namespace": namespace},
        "spec": spec,
    }


def _dry_run(cluster: Cluster, obj: dict[str, Any]) -> tuple[int, str]:
    done = cluster.kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-", input=yaml.safe_dump(obj), check=False
    )
    return done.returncode, done.stdout if done.returncode == 0 else done.stderr


def test_rollout_defaults_and_validation_on_the_api_server(cluster: Cluster, namespace: str) -> None:
    code, out = _dry_run(cluster, _isvc(namespace, None))
    assert code == 0, out
    assert json.loads(out)["spec"]["rollout"] == {"strategy": "Rolling"}

    canary = {"strategy": "Canary", "canary": {}, "analysis": {"maxP95LatencyMs": 250, "minAgreement": None}}
    code, out = _dry_run(cluster, _isvc(namespace, canary))
    assert code == 0, out
    rollout = json.loads(out)["spec"]["rollout"]
    assert rollout["canary"] == {
        "minRequests": 200,
        "minDuration": "60s",
        "steps": [{"weight": 10}, {"weight": 50}, {"weight": 100}],
    }
    assert rollout["analysis"]["maxErrorRate"] == 0.02 and rollout["analysis"]["maxP95LatencyMs"] == 250
    assert rollout["analysis"]["minAgreement"] is None  # nullable: the gate is switched off
    assert "warmDuration" not in rollout  # 10m, applied by the parser
    parsed = parse_spec(json.loads(out)["spec"], strategies=("Rolling", "Shadow", "Canary")).rollout
    assert parsed.analysis.min_agreement is None and [s.weight for s in parsed.steps] == [10, 50, 100]

    shadow = {"strategy": "Shadow", "shadow": {"share": 0.25, "minDuration": 90}}
    code, out = _dry_run(cluster, _isvc(namespace, shadow))
    assert code == 0, out
    assert json.loads(out)["spec"]["rollout"]["shadow"] == {"share": 0.25, "minDuration": 90, "minRequests": 200}

    for bad, says in (
        ({"strategy": "BlueGreen"}, "strategy"),
        ({"shadow": {"share": 0}}, "must be greater than 0"),
        ({"shadow": {"share": 2}}, "share"),
        ({"canary": {"steps": [{"weight": 0}]}}, "weight"),
        ({"canary": {"steps": []}}, "steps"),
        ({"canary": {"minDuration": "soon"}}, "minDuration"),
        ({"analysis": {"maxLatencyRatio": 0}}, "must be greater than 0"),
        ({"warmDuration": "forever"}, "warmDuration"),
    ):
        code, out = _dry_run(cluster, _isvc(namespace, bad))
        assert code != 0 and says in out, (bad, out)
