"""Manual promote and rollback on a cluster: the ``modelship`` command (``--target cluster``) against the REAL API
server reads an InferenceService whose status the operator's rollout loop wrote, and writes the request annotation;
the rollout loop (called directly, as in test_rollout_loop_on_kwok) applies it once through the same path as its
automatic decisions: the decision in PostgreSQL, MLflow tags and aliases, the Event, ``status.history`` and the
``RolloutAction`` condition that marks it handled.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelship_cli.app import main
from modelship_common.rollout import manual
from modelship_common.rollout.tables import active_rollout, list_decisions
from modelship_operator import constants as c
from modelship_operator import kube as k
from modelship_operator.rollout_loop import progress_rollout
from services.common.tests.rollout_helpers import feed

from . import test_reconcile_bookkeeping_on_kwok as bookkeeping
from .conftest import Cluster
from .test_reconcile_bookkeeping_on_kwok import World, _uid, run
from .test_rollout_loop_on_kwok import (
    _alias,
    _candidate_ready,
    _decisions,
    _mlflow_version,
    _serving,
    _use_db,
)

pytestmark = pytest.mark.integration

#: The reconciler tests' world (real API server as the operator's ServiceAccount, MLflow, an Operator), shared.
world = bookkeeping.world

#: The gates pass on the fed requests, but the step holds (1000 requests): the rollout stays at 50 % until a person
#: decides.
CANARY = {
    "strategy": "Canary",
    "canary": {"minRequests": 1000, "minDuration": "0s", "steps": [{"weight": 50}, {"weight": 100}]},
    "analysis": {"minSamples": 20},
    "warmDuration": "10m",
}


def cli(cluster: Cluster, world: World, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """``modelship --kubeconfig <admin> -n <ns> ARGV --json``: exit code, parsed JSON (or the text), stderr."""
    code = main(["--kubeconfig", str(cluster.kubeconfig), "-n", world.ns, *argv, "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else out), err


def _canary_at_50(world: World, pg_database: str) -> str:
    _use_db(world, pg_database)
    name = f"penguins-{_uid()}"
    _serving(world, name, CANARY)
    world.add_version(name, alias="challenger")  # version 2
    run(progress_rollout(world.op, world.ns, name))
    _candidate_ready(world, name)
    stepped = run(progress_rollout(world.op, world.ns, name))
    assert stepped.rollout.phase == "Canary" and stepped.rollout.candidate_weight == 50
    feed(world.op.rollouts.engine_, stepped.rollout, 30)
    run(progress_rollout(world.op, world.ns, name))  # an analysis pass: gates in status.rollout
    return name


def _condition(world: World, name: str) -> dict[str, Any]:
    return manual.handled_condition(world.status(name).get("conditions")) or {}


def test_status_and_a_manual_rollback_through_the_annotation(
    world: World, cluster: Cluster, pg_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = _canary_at_50(world, pg_database)
    # Status from the real object's status.rollout.
    code, view, err = cli(cluster, world, capsys, "status", name)
    assert code == 0, err
    (model,) = view["models"]
    assert model["inference_service"] == name and model["strategy"] == "Canary" and model["serving"] == "1"
    assert (model["champion"], model["challenger"]) == ("1", "2")
    r = model["rollout"]
    assert (r["phase"], r["step"], r["steps"], r["weight"], r["candidate_version"]) == ("Canary", 1, 2, 50, "2")
    gates = {g["name"]: g for g in model["analysis"]["gates"]}
    assert gates["error_rate"]["threshold"] == 0.02 and gates["agreement"]["passed"] is True

    code, out, err = cli(cluster, world, capsys, "status", "no-such-model")
    assert code == 1 and err.count("\n") == 1 and "unknown model 'no-such-model'" in err

    code, view, err = cli(cluster, world, capsys, "rollback", name, "--reason", "bad labels")
    assert code == 0, err
    request_id = view["request_id"]
    annotations = world.get(k.ISVC, name)["metadata"]["annotations"]
    assert annotations[manual.ANN_ACTION] == "rollback" and annotations[manual.ANN_ACTION_ID] == request_id
    assert annotations[manual.ANN_ACTION_BY].endswith(": bad labels")

    manual_rollbacks, automatic = _decisions(world.op, "rollback", "manual"), _decisions(world.op, "rollback")
    done = run(progress_rollout(world.op, world.ns, name))
    assert done.rollout.phase == "RolledBack" and [d.action for d in done.applied] == ["rollback"]
    assert _decisions(world.op, "rollback", "manual") == manual_rollbacks + 1
    assert _decisions(world.op, "rollback") == automatic
    engine = world.op.rollouts.engine_
    (decision,) = [d for d in list_decisions(engine, done.rollout.id) if d.action == "rollback"]
    assert decision.reason.startswith(f"manual: rollback request {request_id} by ")
    assert decision.evidence["trigger"] == "manual" and decision.evidence["requestId"] == request_id
    assert decision.evidence["stats"]["candidate"]["requests"] == 30
    status = world.status(name)
    assert status["rollout"]["phase"] == "RolledBack" and status["history"][-1]["action"] == "rollback"
    assert status["history"][-1]["reason"].startswith("manual: rollback request")
    cond = _condition(world, name)
    assert cond["status"] == "True" and cond["reason"] == "RolledBack"
    assert cond["message"].startswith(f"rollback request {request_id}: ")
    assert _mlflow_version(world, name, "2").tags[c.TAG_ROLLOUT_DECISION] == "rollback"
    assert _alias(world, name, "challenger") is None and _alias(world, name, "champion") == "1"
    assert "RolloutRolledBack" in [e[2] for e in world.events if e[0] == name]

    # Applied once: the annotation stays, the next passes do nothing with it.
    again = run(progress_rollout(world.op, world.ns, name))
    assert again.manual is None and again.applied == []
    # Nothing left to roll back: the command says so (one line, exit 1) and writes nothing.
    code, out, err = cli(cluster, world, capsys, "rollback", name)
    assert code == 1 and out == "" and err.count("\n") == 1 and "has no active rollout to roll back" in err
    assert world.get(k.ISVC, name)["metadata"]["annotations"][manual.ANN_ACTION_ID] == request_id

    code, view, err = cli(cluster, world, capsys, "history", name)
    assert code == 0, err
    (r,) = view["rollouts"]
    assert r["id"] == done.rollout.id and r["phase"] == "RolledBack"
    assert [d["action"] for d in r["decisions"]] == ["step", "rollback"]
    assert r["decisions"][-1]["evidence"]["candidateRequests"] == 30


def test_a_manual_promote_moves_champion_and_a_refused_request_says_why(
    world: World, cluster: Cluster, pg_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = _canary_at_50(world, pg_database)
    code, _, err = cli(cluster, world, capsys, "promote", name, "1")
    assert code == 1 and "active rollout of version 2, not 1" in err

    code, view, err = cli(cluster, world, capsys, "promote", name)
    assert code == 0, err
    done = run(progress_rollout(world.op, world.ns, name))
    assert done.rollout.phase == "Promoted" and [d.action for d in done.applied] == ["promote"]
    assert active_rollout(world.op.rollouts.engine_, name) is None
    assert _alias(world, name, "champion") == "2" and _alias(world, name, "challenger") is None
    cond = _condition(world, name)
    assert cond["status"] == "True" and cond["reason"] == "Promoted"
    assert cond["message"].startswith(f"promote request {view['request_id']}: rollout {done.rollout.id} Promoted")
    assert [h["action"] for h in world.status(name)["history"] if "action" in h][-1] == "promote"

    # A request the operator cannot apply (kubectl annotate by hand: rollback with no rollout) is refused once.
    cluster.kubectl(
        "annotate", "--overwrite", "-n", world.ns, f"inferenceservice.modelship.io/{name}",
        f"{manual.ANN_ACTION}=rollback", f"{manual.ANN_ACTION_ID}=by-hand-1",
    )  # fmt: skip
    refused = run(progress_rollout(world.op, world.ns, name))
    assert refused.manual is not None and refused.applied == []
    cond = _condition(world, name)
    assert cond["status"] == "False" and cond["reason"] == "Refused"
    assert cond["message"].startswith("rollback request by-hand-1: ") and "no active rollout" in cond["message"]
    assert "RolloutActionRefused" in [e[2] for e in world.events if e[0] == name]
    assert run(progress_rollout(world.op, world.ns, name)).manual is None

    # Without a rollout, promote VERSION moves the followed alias (the reconciler then rolls the predictor).
    cluster.kubectl(
        "annotate", "--overwrite", "-n", world.ns, f"inferenceservice.modelship.io/{name}",
        f"{manual.ANN_ACTION}=promote", f"{manual.ANN_ACTION_ID}=by-hand-2", f"{manual.ANN_ACTION_VERSION}=1",
    )  # fmt: skip
    moved = run(progress_rollout(world.op, world.ns, name))
    assert moved.manual is not None and moved.manual.alias_moved and moved.reconcile
    assert _alias(world, name, "champion") == "1"
    cond = _condition(world, name)
    assert cond["status"] == "True" and cond["reason"] == "AliasMoved" and "2 -> 1" in cond["message"]
