"""The Rollouts page and ``/api/rollouts`` against real rows: rollouts started and decided with the helpers of
:mod:`modelship_common.rollout` (the controller's own ``decide``, so the evidence is what the operator records) in
a live gateway's database, predictions stored for the analysis windows."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from modelship_common.db import Prediction, make_engine, utcnow
from modelship_common.rollout import decide, parse_rollout_spec, start_rollout
from modelship_common.rollout.tables import RolloutRecord
from services.gateway.tests.testkit import LiveGateway

pytestmark = pytest.mark.integration

#: Small windows: 10 samples judge a gate, the first canary step moves on after 10 requests.
SPEC = parse_rollout_spec(
    {
        "strategy": "Canary",
        "canary": {
            "steps": [
                {"weight": 10, "minRequests": 10, "minDuration": "0s"},
                {"weight": 50, "minRequests": 1000, "minDuration": "1h"},
                {"weight": 100},
            ]
        },
        "analysis": {"minSamples": 10},
        "warmDuration": "5m",
    }
)


@pytest.fixture(autouse=True)
def local_images(image_env: Path) -> None:
    """No Kafka, uploaded images in a local directory under tmp_path."""


@pytest.fixture
def engine(gateway: LiveGateway) -> Iterator[Engine]:
    """The live gateway's database (migrated by its startup)."""
    engine = make_engine(gateway.settings.database_url)
    yield engine
    engine.dispose()


def scored(
    engine: Engine,
    model: str,
    version: str,
    at: dt.datetime,
    n: int,
    *,
    prefix: str,
    error: str | None = None,
    cls: str = "Adelie",
) -> None:
    """``n`` predictions by ``version``, one a second from ``at``, request ids ``prefix-0``... (shared ids pair the
    champion's and the candidate's answers)."""
    with Session(engine) as session, session.begin():
        for i in range(n):
            session.add(
                Prediction(
                    request_id=f"{prefix}-{i}",
                    model_name=model,
                    model_version=version,
                    predicted_class=None if error else cls,
                    confidence=None if error else 0.9,
                    latency_ms=12.0,
                    source="api",
                    created_at=at + dt.timedelta(seconds=i),
                    input={},
                    output={},
                    error=error,
                )
            )


def rolled_back(engine: Engine, now: dt.datetime) -> RolloutRecord:
    """penguins v4 against v3, two hours ago: every candidate request failed, the controller rolled it back."""
    start = now - dt.timedelta(hours=2)
    rollout = start_rollout(
        engine, model_name="penguins", champion_version="3", candidate_version="4", spec=SPEC, now=start
    )
    scored(engine, "penguins", "3", start + dt.timedelta(seconds=1), 20, prefix="bad")
    scored(engine, "penguins", "4", start + dt.timedelta(seconds=1), 12, prefix="bad", error="HTTP 500")
    outcome = decide(engine, rollout, start + dt.timedelta(minutes=1))
    assert outcome.decision is not None and outcome.decision.action == "rollback", outcome
    return outcome.rollout


def active_canary(engine: Engine, now: dt.datetime) -> RolloutRecord:
    """penguins v5 against v3, started 10 minutes ago: step 1 passed (to 50 %), step 2 holds with passing gates."""
    start = now - dt.timedelta(minutes=10)
    rollout = start_rollout(
        engine, model_name="penguins", champion_version="3", candidate_version="5", spec=SPEC, now=start
    )
    first = start + dt.timedelta(seconds=1)
    scored(engine, "penguins", "3", first, 15, prefix="s1")
    scored(engine, "penguins", "5", first, 15, prefix="s1")
    outcome = decide(engine, rollout, start + dt.timedelta(minutes=2))
    assert outcome.decision is not None and outcome.decision.action == "step", outcome
    second = start + dt.timedelta(minutes=3)
    scored(engine, "penguins", "3", second, 30, prefix="s2")
    scored(engine, "penguins", "5", second, 30, prefix="s2")
    return outcome.rollout


def pending_shadow(engine: Engine, now: dt.datetime) -> RolloutRecord:
    spec = parse_rollout_spec({"strategy": "Shadow", "shadow": {"share": 0.5}})
    return start_rollout(
        engine, model_name="digits-fast", champion_version="1", candidate_version="2", spec=spec, pending=True, now=now
    )


@pytest.fixture
def populated(engine: Engine) -> dict[str, RolloutRecord]:
    now = utcnow()
    return {
        "rolled_back": rolled_back(engine, now),
        "canary": active_canary(engine, now),
        "pending": pending_shadow(engine, now),
    }


def is_utc(value: str) -> bool:
    return value.endswith(("Z", "+00:00"))


# ------------------------------------------------------------------------------------------------------- API


def test_api_lists_nothing_and_answers_404_for_an_unknown_rollout(gateway: LiveGateway) -> None:
    assert gateway.http.get("/api/rollouts").json() == []
    for bad in ("123", "0", "-1", str(2**70)):
        response = gateway.http.get(f"/api/rollouts/{bad}")
        assert response.status_code == 404, (bad, response.text)
        assert "no rollout" in response.json()["detail"]
    assert gateway.http.get("/api/rollouts/abc").status_code == 422
    assert gateway.http.get("/api/rollouts", params={"limit": 0}).status_code == 422


def test_api_lists_rollouts_newest_first_with_their_gates(
    gateway: LiveGateway, populated: dict[str, RolloutRecord]
) -> None:
    listing = gateway.http.get("/api/rollouts").json()
    ids = [item["id"] for item in listing]
    assert ids == [populated["pending"].id, populated["canary"].id, populated["rolled_back"].id]
    pending, canary, rolled = listing

    assert pending["phase"] == "Pending" and pending["strategy"] == "Shadow" and pending["active"] is True
    assert pending["analysis"]["source"] == "live" and pending["analysis"]["gates"] == []
    assert pending["analysis"]["next_action"] == "step" and pending["last_decision"] is None

    assert canary["model"] == "penguins" and (canary["champion_version"], canary["candidate_version"]) == ("3", "5")
    assert canary["phase"] == "Canary" and canary["step_index"] == 1 and canary["steps"] == 3
    assert canary["candidate_weight"] == 50 and canary["champion_weight"] == 50 and canary["shadow_share"] == 0
    live = canary["analysis"]
    assert live["source"] == "live" and live["status"] == "pass", live
    assert {g["name"] for g in live["gates"]} == {"error_rate", "agreement", "latency_p95", "confidence_shift"}
    assert all(g["passed"] is True and g["result"] == "pass" for g in live["gates"]), live["gates"]
    assert live["samples"] == {"champion": 30, "candidate": 30, "paired": 30}
    assert live["next_action"] == "hold" and "30/1000 requests" in live["next_reason"]
    assert canary["last_decision"]["action"] == "step" and canary["last_decision"]["candidate_weight"] == 50

    assert rolled["phase"] == "RolledBack" and rolled["active"] is False and rolled["candidate_weight"] == 0
    assert rolled["analysis"]["source"] == "decision" and rolled["analysis"]["status"] == "fail"
    for item in listing:
        for key in ("started_at", "step_started_at"):
            assert is_utc(item[key]), (key, item[key])
    assert is_utc(rolled["finished_at"]) and rolled["warm_until"] is None

    only = gateway.http.get("/api/rollouts", params={"model": "penguins", "limit": 1}).json()
    assert [item["id"] for item in only] == [populated["canary"].id]
    assert gateway.http.get("/api/rollouts", params={"model": "nope"}).json() == []


def test_api_rollout_detail_of_a_rolled_back_canary(gateway: LiveGateway, populated: dict[str, RolloutRecord]) -> None:
    rollout_id = populated["rolled_back"].id
    detail = gateway.http.get(f"/api/rollouts/{rollout_id}").json()
    assert detail["id"] == rollout_id and detail["phase"] == "RolledBack"
    [decision] = detail["decisions"]
    assert decision["action"] == "rollback" and decision["phase"] == "RolledBack" and decision["candidate_weight"] == 0
    assert "gate error_rate failed: 1 > 0.02 (12 of 12 failed)" in decision["reason"], decision["reason"]
    assert is_utc(decision["decided_at"])
    evidence = decision["evidence"]
    assert evidence["thresholds"]["maxErrorRate"] == 0.02 and evidence["stats"]["candidate"]["errors"] == 12
    analysis = detail["analysis"]
    assert analysis["decision_id"] == decision["id"] and analysis["samples"]["candidate"] == 12
    gates = {g["name"]: g for g in analysis["gates"]}
    assert gates["error_rate"]["passed"] is False and gates["error_rate"]["value"] == 1.0
    assert gates["error_rate"]["threshold"] == 0.02 and gates["error_rate"]["result"] == "fail"
    assert gates["agreement"]["passed"] is None and gates["agreement"]["result"] == "waiting"
    assert is_utc(analysis["window_start"]) and is_utc(analysis["window_end"])

    canary = gateway.http.get(f"/api/rollouts/{populated['canary'].id}").json()
    assert [d["action"] for d in canary["decisions"]] == ["step"]
    assert canary["decisions"][0]["evidence"]["step"]["index"] == 0  # judged at step 1, moved to step 2


# ----------------------------------------------------------------------------------------------------- page


def rollout_section(html: str, rollout_id: int) -> str:
    match = re.search(rf'<section class="panel rollout" id="rollout-{rollout_id}".*?</section>', html, re.S)
    assert match, f"rollout {rollout_id} is not on the page"
    return match.group(0)


def test_page_empty_state(gateway: LiveGateway) -> None:
    response = gateway.http.get("/dashboard/rollouts")
    assert response.status_code == 200
    html = response.text
    assert "<h1>Rollouts</h1>" in html and 'id="rollouts-empty"' in html
    assert 'href="/dashboard/rollouts" class="active"' in html
    assert "plotly.min.js" not in html and "Traceback" not in html


def test_page_shows_active_rollouts_first_with_live_gates(
    gateway: LiveGateway, populated: dict[str, RolloutRecord]
) -> None:
    html = gateway.http.get("/dashboard/rollouts").text
    assert 'id="count-active">2<' in html and 'id="count-finished">1<' in html
    order = [int(i) for i in re.findall(r'data-rollout-id="(\d+)"', html)]
    # Active ones first (oldest first), then the finished ones.
    assert order == [populated["canary"].id, populated["pending"].id, populated["rolled_back"].id]
    assert '<script src="/dashboard/static/plotly.min.js"' in html

    canary = rollout_section(html, populated["canary"].id)
    assert 'data-phase="Canary"' in canary and 'data-active="true"' in canary
    assert "v3 &rarr; v5" in canary and 'data-field="step">2 of 3' in canary
    assert 'data-candidate-weight="50"' in canary
    assert "champion v3 <strong>50 %</strong> · candidate v5 <strong>50 %</strong>" in canary
    assert 'data-gates-source="live"' in canary and "judged now" in canary
    gates = dict(re.findall(r'data-gate="([^"]+)" data-result="([^"]+)"', canary))
    assert gates == {"error_rate": "pass", "agreement": "pass", "latency_p95": "pass", "confidence_shift": "pass"}
    assert 'data-verdict="pass"' in canary and 'data-decision="hold"' in canary and "30/1000 requests" in canary
    actions = re.findall(r'<tr data-action="([^"]+)"', canary)
    assert actions == ["start", "step"]
    assert 'id="chart-rollout-' in canary

    pending = rollout_section(html, populated["pending"].id)
    assert 'data-phase="Pending"' in pending and "Waiting for the candidate's model server" in pending
    assert "step 1 starts once the model server of candidate 2 is ready" in pending
    assert 'data-gates-source="live"' in pending and "not judged yet" in pending


def test_page_shows_a_rolled_back_rollout_with_its_failing_gate_and_reason(
    gateway: LiveGateway, populated: dict[str, RolloutRecord]
) -> None:
    html = gateway.http.get("/dashboard/rollouts").text
    section = rollout_section(html, populated["rolled_back"].id)
    assert 'data-phase="RolledBack"' in section and 'data-active="false"' in section
    assert 'data-decision="rollback"' in section
    assert "gate error_rate failed: 1 &gt; 0.02 (12 of 12 failed)" in section
    assert 'data-gates-source="decision"' in section
    gates = dict(re.findall(r'data-gate="([^"]+)" data-result="([^"]+)"', section))
    assert gates["error_rate"] == "fail" and gates["agreement"] == "waiting"
    row = re.search(r'<tr data-gate="error_rate".*?</tr>', section, re.S)
    assert row and ">1<" in row.group(0) and ">0.02<" in row.group(0)
    assert 'data-verdict="fail"' in section and 'data-candidate-weight="0"' in section
    assert re.findall(r'<tr data-action="([^"]+)"', section) == ["start", "rollback"]


def test_page_and_api_survive_a_broken_database(gateway: LiveGateway, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE rollout_decisions"))
        conn.execute(text("DROP TABLE rollouts"))
    page = gateway.http.get("/dashboard/rollouts")
    assert page.status_code == 200 and "database query failed" in page.text and 'class="alert"' in page.text
    assert "rollouts-empty" not in page.text
    api = gateway.http.get("/api/rollouts")
    assert api.status_code == 503 and api.json()["detail"].startswith("database unavailable"), api.text
