from modelship_operator import status as st

from .helpers import deployment

NOW = "2030-01-01T00:00:00Z"
LATER = "2030-01-01T00:05:00Z"


def test_set_condition_keeps_transition_time_when_status_unchanged():
    conds = st.set_condition([], "Ready", "False", "RolloutInProgress", "0 of 1", now=NOW, generation=1)
    conds = st.set_condition(conds, "Ready", "False", "RolloutInProgress", "0 of 1 ready", now=LATER, generation=1)
    assert conds[0]["lastTransitionTime"] == NOW
    conds = st.set_condition(conds, "Ready", "True", "Available", "1 of 1", now=LATER, generation=2)
    assert conds == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Available",
            "message": "1 of 1",
            "lastTransitionTime": LATER,
            "observedGeneration": 2,
        }
    ]


def test_conditions_sorted_ready_first():
    conds = st.set_condition([], "Resolved", "True", "Resolved", "x", now=NOW)
    conds = st.set_condition(conds, "Ready", "True", "Available", "y", now=NOW)
    assert [x["type"] for x in conds] == ["Ready", "Resolved"]
    assert st.get_condition(conds, "Resolved")["message"] == "x"


def test_deployment_ready():
    r = st.deployment_readiness(deployment(), "1")
    assert r.ready and r.reason == "Available" and r.status == "True"


def test_deployment_not_ready_cases():
    assert st.deployment_readiness(None).reason == "RolloutInProgress"
    assert st.deployment_readiness(deployment(version="1"), "2").message.startswith(
        "the Deployment still runs version 1"
    )
    assert not st.deployment_readiness(deployment(observed=1), "1").ready
    assert not st.deployment_readiness(deployment(updated=0, available=1), "1").ready
    old_pods = st.deployment_readiness(deployment(total=2, updated=1, available=1), "1")
    assert not old_pods.ready and "terminating" in old_pods.message
    unavailable = st.deployment_readiness(deployment(available=0), "1")
    assert not unavailable.ready and "0 of 1" in unavailable.message
    zero = st.deployment_readiness(deployment(replicas=0, updated=0, total=0, available=0), "1")
    assert zero.reason == "ScaledToZero" and not zero.ready
    not_available = deployment(conditions=[{"type": "Available", "status": "False", "message": "min not met"}])
    assert st.deployment_readiness(not_available, "1").message == "min not met"


def test_deployment_failed_rollout():
    dep = deployment(
        available=0,
        conditions=[
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "too slow"}
        ],
    )
    r = st.deployment_readiness(dep, "1")
    assert r.failed and r.reason == "RolloutFailed" and "too slow" in r.message


def test_kserve_readiness():
    body = {
        "metadata": {"generation": 2, "labels": {"modelship.io/model-version": "4"}},
        "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]},
    }
    assert st.kserve_readiness(body, "4").ready
    assert not st.kserve_readiness(body, "5").ready
    body["status"]["observedGeneration"] = 1
    assert not st.kserve_readiness(body, "4").ready
    assert not st.kserve_readiness(None).ready


def test_history_lifecycle():
    h = st.start_rollout([], "1", now=NOW, limit=3)
    assert h == [{"version": "1", "at": NOW, "result": "Progressing"}]
    h, changed = st.finish_rollout(h, "1", "Succeeded", now=LATER)
    assert changed and h[-1]["result"] == "Succeeded" and h[-1]["finishedAt"] == LATER
    h, changed = st.finish_rollout(h, "1", "Succeeded", now=LATER)
    assert not changed
    h = st.start_rollout(h, "2", now=LATER, limit=3)
    assert [(x["version"], x["result"]) for x in h] == [("1", "Replaced"), ("2", "Progressing")]
    h, _ = st.finish_rollout(h, "2", "Failed", now=LATER, message="boom")
    assert h[-1]["message"] == "boom"
    h = st.start_rollout(h, "3", now=LATER, limit=3)
    h = st.start_rollout(h, "4", now=LATER, limit=3)
    assert [x["version"] for x in h] == ["2", "3", "4"]  # trimmed to the limit
    assert h[0]["result"] == "Failed"  # a failed rollout stays Failed
    assert st.current_rollout_started(h, "4") == LATER


def test_now_and_parse():
    assert st.now_iso().endswith("Z")
    assert st.parse_time(NOW).year == 2030
    assert st.parse_time("nope") is None
