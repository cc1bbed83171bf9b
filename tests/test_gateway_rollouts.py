"""The gateway routes by the rollouts table: canary split, shadow copies, and a failing candidate nobody notices.

Real servers: the session's trained penguins champion, a second registered version of it served by its own model
server (the candidate), the gateway on SQLite. The rollout rows are written with modelship_common.rollout, as the
operator (or make demo's controller) writes them.
"""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
import pytest
from sqlalchemy import select

from devtools import servers
from devtools.procs import free_port, poll_until
from modelship_common import db, registry
from modelship_common.rollout.spec import parse_rollout_spec
from modelship_common.rollout.tables import record_decision, set_candidate_url, start_rollout
from modelship_scoring.rollout.traffic import route

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROW = ["Dream", 39.5, 17.4, 186, 3800, "female"]
REQUESTS = 300


def second_version(trained, log_dir, model: str):
    """Register a second version of ``model`` (the champion's artifacts) and start its own model server; yields
    (champion version, new version, its server's URL)."""
    client = trained.client
    champion = client.get_model_version_by_alias(model, registry.CHAMPION)
    # MLflow 3 sources a version from a logged model (models:/m-<id>); a new version of it names that model.
    model_id = getattr(champion, "model_id", None) or champion.source.rsplit("/", 1)[-1]
    version = client.create_model_version(
        model, champion.source, run_id=champion.run_id, tags=champion.tags, model_id=model_id
    )
    proc = servers.start_model_server(
        registry.model_uri(model, version.version),
        tracking_uri=trained.tracking_uri,
        log_dir=log_dir,
        model_name=model,
    )
    try:
        yield champion.version, version.version, str(proc.url)
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def candidate(trained, log_dir):
    """A second registered version of penguins and its own model server."""
    yield from second_version(trained, log_dir, "penguins")


def rows_of(database_url: str, request_ids: set[str]) -> list[db.Prediction]:
    engine = db.make_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(db.Prediction).where(db.Prediction.request_id.in_(request_ids))))
    finally:
        engine.dispose()


def predict_all(gw, n: int) -> dict[str, dict]:
    answers = {}
    with httpx.Client(timeout=30) as http:
        for _ in range(n):
            request_id = f"ro-{uuid.uuid4().hex[:16]}"
            resp = http.post(
                f"{gw.url}/api/models/penguins/predict",
                json={"instances": [ROW]},
                headers={"X-Request-ID": request_id},
            )
            assert resp.status_code == 200, resp.text
            answers[request_id] = resp.json()
    return answers


def gateway(start_gateway, model_servers):
    """A gateway in front of the champion's model server, reading the rollouts table every 0.2 s."""
    return start_gateway(
        model_servers={"penguins": str(model_servers["penguins"].url)}, MODELSHIP_ROLLOUTS_REFRESH_S="0.2"
    )


def start(gw, champion: str, candidate_version: str, candidate_url: str, spec: dict):
    engine = db.make_engine(gw.meta["database_url"])
    try:
        rollout = start_rollout(
            engine,
            model_name="penguins",
            champion_version=champion,
            candidate_version=candidate_version,
            spec=parse_rollout_spec(spec),
        )
        set_candidate_url(engine, rollout.id, candidate_url)
    finally:
        engine.dispose()
    return rollout


def finish(gw, rollout) -> None:
    engine = db.make_engine(gw.meta["database_url"])
    try:
        record_decision(engine, rollout, "rollback", reason="test over")
    finally:
        engine.dispose()


def wait_for_rows(database_url: str, ids: set[str], expected: int) -> list[db.Prediction]:
    found: list[db.Prediction] = []

    def enough() -> bool:
        found[:] = rows_of(database_url, ids)
        return len(found) >= expected

    poll_until(enough, timeout=30, what=f"{expected} prediction rows")
    return found


def test_canary_split_follows_the_routing_table_and_mirrors_to_the_champion(model_servers, start_gateway, candidate):
    champion, version, url = candidate
    gw = start_gateway(
        model_servers={"penguins": str(model_servers["penguins"].url)}, MODELSHIP_ROLLOUTS_REFRESH_S="0.2"
    )
    rollout = start(gw, champion, version, url, {"strategy": "Canary", "canary": {"steps": [{"weight": 30}]}})
    try:
        poll_until(
            lambda: any(a["version"] == version for a in predict_all(gw, 20).values()),
            timeout=30,
            what="the gateway routing to the candidate",
        )
        answers = predict_all(gw, REQUESTS)
    finally:
        finish(gw, rollout)
    # Exactly the side the routing table names answers each request (deterministic by request id).
    for request_id, body in answers.items():
        assert body["version"] == route(rollout, request_id).answer, request_id
    share = Counter(body["version"] for body in answers.values())[version] / REQUESTS
    assert 0.22 <= share <= 0.38, f"candidate answered {share:.0%} of callers at a 30% weight"
    # Every candidate-answered request has the champion's copy, stored under the same request id.
    to_candidate = {r for r, body in answers.items() if body["version"] == version}
    rows = wait_for_rows(gw.meta["database_url"], set(answers), REQUESTS + len(to_candidate))
    copies = {r.request_id for r in rows if r.source == "mirror"}
    assert copies == to_candidate
    assert all(r.model_version == champion for r in rows if r.source == "mirror")
    assert all(r.error is None for r in rows)


def test_shadow_answers_with_the_champion_and_stores_the_candidates_copy(model_servers, start_gateway, candidate):
    champion, version, url = candidate
    gw = start_gateway(
        model_servers={"penguins": str(model_servers["penguins"].url)}, MODELSHIP_ROLLOUTS_REFRESH_S="0.2"
    )
    rollout = start(gw, champion, version, url, {"strategy": "Shadow", "shadow": {"share": 1.0}})
    try:
        poll_until(
            lambda: len(rows_of(gw.meta["database_url"], set(predict_all(gw, 5)))) == 10,
            timeout=30,
            what="the gateway mirroring to the candidate",
        )
        answers = predict_all(gw, 100)
    finally:
        finish(gw, rollout)
    assert {body["version"] for body in answers.values()} == {champion}
    rows = wait_for_rows(gw.meta["database_url"], set(answers), 200)
    by_source = Counter((r.source, r.model_version) for r in rows)
    assert by_source == {("api", champion): 100, ("mirror", version): 100}
    # The two answers of one request are linked by its id, and agree (same artifacts).
    classes = {}
    for r in rows:
        classes.setdefault(r.request_id, set()).add(r.predicted_class)
    assert all(len(c) == 1 for c in classes.values())


def test_a_failing_candidate_costs_callers_nothing(model_servers, start_gateway, candidate):
    champion, version, _ = candidate
    dead = f"http://127.0.0.1:{free_port()}"  # the candidate's server is down: every call to it fails
    gw = start_gateway(
        model_servers={"penguins": str(model_servers["penguins"].url)}, MODELSHIP_ROLLOUTS_REFRESH_S="0.2"
    )
    rollout = start(gw, champion, version, dead, {"strategy": "Canary", "canary": {"steps": [{"weight": 50}]}})
    try:
        poll_until(
            lambda: any(r.error for r in rows_of(gw.meta["database_url"], set(predict_all(gw, 10)))),
            timeout=30,
            what="the gateway routing to the dead candidate",
        )
        answers = predict_all(gw, 100)  # every one a 200 (checked inside)
    finally:
        finish(gw, rollout)
    assert {body["version"] for body in answers.values()} == {champion}
    routed = {r for r in answers if route(rollout, r).arm == "candidate"}
    assert 30 <= len(routed) <= 70
    rows = rows_of(gw.meta["database_url"], set(answers))
    failures = {r.request_id for r in rows if r.error is not None}
    assert failures == routed
    assert all(r.model_version == version and r.predicted_class is None for r in rows if r.error is not None)


@pytest.fixture(scope="module")
def digits_candidate(trained, log_dir):
    """A second registered version of digits-fast and its own model server."""
    yield from second_version(trained, log_dir, "digits-fast")


def upload_and_wait(gw, n: int) -> list[str]:
    from tests.test_gateway import sample_png

    ids = []
    with httpx.Client(timeout=30) as http:
        for i in range(n):
            resp = http.post(f"{gw.url}/api/images", files={"file": (f"d{i}.png", sample_png(i), "image/png")})
            assert resp.status_code == 202, resp.text
            ids.append(resp.json()["id"])
        for image_id in ids:
            poll_until(
                lambda image_id=image_id: http.get(f"{gw.url}/api/images/{image_id}").json()["status"] == "processed",
                timeout=60,
                what=f"image {image_id} processed",
            )
    return ids


@pytest.mark.parametrize("healthy", [True, False], ids=["candidate", "dead-candidate"])
def test_uploaded_images_are_scored_by_the_shadow_candidate_too(
    model_servers, start_gateway, digits_candidate, healthy
):
    champion, version, url = digits_candidate
    if not healthy:
        url = f"http://127.0.0.1:{free_port()}"
    gw = start_gateway(model_servers={"digits-fast": str(model_servers["digits-fast"].url)})
    engine = db.make_engine(gw.meta["database_url"])
    try:
        rollout = start_rollout(
            engine,
            model_name="digits-fast",
            champion_version=champion,
            candidate_version=version,
            spec=parse_rollout_spec({"strategy": "Shadow", "shadow": {"share": 1.0}}),
        )
        set_candidate_url(engine, rollout.id, url)
        ids = upload_and_wait(gw, 12)  # every image processed, whether the candidate answers or not
        record_decision(engine, rollout, "rollback", reason="test over")
    finally:
        engine.dispose()
    rows = rows_of(gw.meta["database_url"], set(ids))
    champions = {r.request_id for r in rows if r.model_version == champion and r.source == "stream"}
    copies = [r for r in rows if r.source == "mirror"]
    assert champions == set(ids)
    assert {r.request_id for r in copies} == set(ids) and all(r.model_version == version for r in copies)
    if healthy:
        assert all(r.error is None and r.predicted_class for r in copies)
        by_id = {r.request_id: r.predicted_class for r in rows if r.source == "stream"}
        assert all(by_id[r.request_id] == r.predicted_class for r in copies)  # same artifacts, same answers
    else:
        assert all(r.error and r.predicted_class is None for r in copies)
