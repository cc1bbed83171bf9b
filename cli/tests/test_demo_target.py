"""``modelship --target demo`` against a REAL database (SQLite file and PostgreSQL) and the session's REAL MLflow.

Each test registers its own model (versions 1 = champion, 2 = challenger), starts a Canary rollout in the rollouts
tables and feeds predictions as the gateway stores them, then drives the command the way the README tells users to.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.procs import free_port
from modelship_cli.app import main
from modelship_common import db
from modelship_common.registry import CHALLENGER, CHAMPION, SERVE_TAG, TASK_TAG
from modelship_common.rollout.spec import parse_rollout_spec
from modelship_common.rollout.tables import RolloutRecord, active_rollout, list_decisions, start_rollout
from services.common.tests.rollout_helpers import feed

pytestmark = pytest.mark.integration

CONSOLE_SCRIPT = Path(sys.executable).parent / "modelship"
CANARY = {
    "strategy": "Canary",
    "canary": {"minRequests": 20, "minDuration": "0s", "steps": [{"weight": 50}, {"weight": 100}]},
    "analysis": {"minSamples": 20},
    "warmDuration": "10m",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'predictions.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    db.migrate(url)
    return url


@pytest.fixture
def env(database_url: str, tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    # The command bounds MLflow's retries through these; restored after the test.
    for key in ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"):
        monkeypatch.setenv(key, os.environ.get(key, "5" if key.endswith("TIMEOUT") else "0"))
    monkeypatch.setenv("MODELSHIP_DATABASE_URL", database_url)
    monkeypatch.setenv("MODELSHIP_MLFLOW_TRACKING_URI", tracking_uri)
    return {"MODELSHIP_DATABASE_URL": database_url, "MODELSHIP_MLFLOW_TRACKING_URI": tracking_uri}


@pytest.fixture
def engine(database_url: str) -> Iterator[Any]:
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


#: Models ``register`` created in the session's MLflow, deleted after each test (see ``_forget_registered``).
REGISTERED: list[tuple[Any, str]] = []


@pytest.fixture(autouse=True)
def _forget_registered() -> Iterator[None]:
    """Delete the models a test registered: they are marked served but have nothing to load, and the session's
    MLflow is shared (the demo test copies it and serves every served model)."""
    yield
    while REGISTERED:
        client, name = REGISTERED.pop()
        client.delete_registered_model(name)


def register(client: Any) -> str:
    """A model with version 1 at champion and version 2 at challenger (registry entries; nothing loads them)."""
    name = f"cli-{uuid.uuid4().hex[:8]}"
    REGISTERED.append((client, name))
    client.create_registered_model(name, tags={SERVE_TAG: "true", TASK_TAG: "tabular"})
    for _ in range(2):
        client.create_model_version(name, source=f"s3://modelship-it/{name}/{uuid.uuid4().hex[:6]}")
    client.set_registered_model_alias(name, CHAMPION, "1")
    client.set_registered_model_alias(name, CHALLENGER, "2")
    return name


@pytest.fixture
def canary(engine: Any, mlflow_client: Any, env: dict[str, str]) -> tuple[str, RolloutRecord]:
    name = register(mlflow_client)
    # Started a minute ago, so every fed request lies in the past of the command's analysis window.
    rollout = start_rollout(
        engine,
        model_name=name,
        champion_version="1",
        candidate_version="2",
        spec=parse_rollout_spec(CANARY),
        now=db.utcnow() - dt.timedelta(minutes=1),
    )
    feed(engine, rollout, 30)
    return name, rollout


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = cli(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def aliases(client: Any, name: str) -> dict[str, str]:
    return dict(client.get_registered_model(name).aliases)


def test_status_shows_versions_the_rollout_and_its_gates(
    canary: tuple[str, RolloutRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    name, rollout = canary
    view = cli_json(capsys, "status", name)
    assert view["target"] == "demo"
    (model,) = view["models"]
    assert model["name"] == name and model["champion"] == "1" and model["challenger"] == "2"
    r = model["rollout"]
    assert r["id"] == rollout.id and r["strategy"] == "Canary" and r["phase"] == "Canary"
    assert (r["step"], r["steps"], r["weight"], r["shadow_share"]) == (1, 2, 50, 0.0)
    assert (r["champion_version"], r["candidate_version"]) == ("1", "2")
    analysis = model["analysis"]
    assert analysis["verdict"] == "pass", analysis
    gates = {g["name"]: g for g in analysis["gates"]}
    assert gates["error_rate"]["value"] == 0.0 and gates["error_rate"]["threshold"] == 0.02
    assert gates["agreement"]["value"] == 1.0 and gates["agreement"]["passed"] is True
    assert analysis["next"]["action"] == "step"

    # Every model the registry serves is listed, the text output names the gates.
    assert name in [m["name"] for m in cli_json(capsys, "status")["models"]]
    code, out, _ = cli(capsys, "status", name)
    assert code == 0 and f"rollout {rollout.id}  Canary" in out and "error_rate" in out and "pass" in out


def test_promote_records_a_manual_decision_and_moves_champion(
    canary: tuple[str, RolloutRecord], engine: Any, mlflow_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    name, rollout = canary
    view = cli_json(capsys, "promote", name, "--reason", "looks good")
    assert view["action"] == "promote" and view["rollout"]["phase"] == "Promoted" and view["champion"] == "2"
    assert view["decision"]["reason"].startswith("manual: modelship promote by ")
    assert view["decision"]["reason"].endswith(": looks good")
    assert active_rollout(engine, name) is None
    (decision,) = list_decisions(engine, rollout.id)
    assert decision.action == "promote" and decision.evidence["trigger"] == "manual"
    assert decision.evidence["stats"]["candidate"]["requests"] == 30
    assert aliases(mlflow_client, name) == {CHAMPION: "2"}
    tags = mlflow_client.get_model_version(name, "2").tags
    assert tags["modelship.io/rollout-decision"] == "promote" and tags["modelship.io/rollout-id"] == str(rollout.id)

    history = cli_json(capsys, "history", name)
    (r,) = history["rollouts"]
    assert r["id"] == rollout.id and r["phase"] == "Promoted"
    assert [d["action"] for d in r["decisions"]] == ["promote"]
    assert r["decisions"][0]["evidence"]["verdict"]["status"] == "pass"
    code, out, _ = cli(capsys, "history", name)
    assert code == 0 and "promote" in out and "evidence: candidate 30 requests" in out

    # No rollout any more: promote VERSION moves champion (back) directly.
    view = cli_json(capsys, "promote", name, "1")
    assert view["rollout"] is None and (view["previous_champion"], view["champion"]) == ("2", "1")
    assert aliases(mlflow_client, name)[CHAMPION] == "1"


def test_rollback_then_nothing_left_to_roll_back(
    canary: tuple[str, RolloutRecord], engine: Any, mlflow_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    name, rollout = canary
    view = cli_json(capsys, "rollback", name)
    assert view["rollout"]["phase"] == "RolledBack" and view["rollout"]["weight"] == 0
    assert view["decision"]["action"] == "rollback" and view["champion"] == "1"
    assert aliases(mlflow_client, name) == {CHAMPION: "1"}  # challenger left version 2
    assert mlflow_client.get_model_version(name, "2").tags["modelship.io/rollout-decision"] == "rollback"

    code, out, err = cli(capsys, "rollback", name)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and f"{name} has no active rollout to roll back" in err
    assert f"the last one, {rollout.id}, is RolledBack" in err
    # Promote with neither a rollout nor a challenger: the version must be named.
    code, _, err = cli(capsys, "promote", name)
    assert code == 1 and "name the VERSION" in err
    code, _, err = cli(capsys, "promote", name, "9")
    assert code == 1 and f"{name} has no version 9" in err


def test_promote_of_another_version_than_the_candidate_is_refused(
    canary: tuple[str, RolloutRecord], engine: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    name, _ = canary
    code, _, err = cli(capsys, "promote", name, "1")
    assert code == 1 and "active rollout of version 2, not 1" in err
    assert active_rollout(engine, name) is not None


def test_a_model_without_rollouts_has_an_empty_history(
    env: dict[str, str], mlflow_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    name = register(mlflow_client)
    assert cli_json(capsys, "history", name)["rollouts"] == []
    (model,) = cli_json(capsys, "status", name)["models"]
    assert model["rollout"] is None and model["challenger"] == "2"


def _script(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert CONSOLE_SCRIPT.exists(), f"{CONSOLE_SCRIPT} is missing: run `make sync` (the workspace installs it)"
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *argv],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bad_input_is_one_line_and_exit_1(env: dict[str, str], tmp_path: Path) -> None:
    """The console script itself: unknown model, unreachable database or MLflow -> one line, no traceback."""
    cases = {
        "unknown model": (["status", "no-such-model"], env, "unknown model 'no-such-model'"),
        "no database file": (
            ["status"],
            {**env, "MODELSHIP_DATABASE_URL": f"sqlite:///{tmp_path / 'missing.db'}"},
            "no database at",
        ),
        "database down": (
            ["history", "x"],
            {**env, "MODELSHIP_DATABASE_URL": f"postgresql+psycopg://u:secret@127.0.0.1:{free_port()}/x"},
            "cannot reach the database at postgresql+psycopg://u:***@",
        ),
        "MLflow down": (
            ["status"],
            {**env, "MODELSHIP_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"},
            "is unreachable",
        ),
    }
    for what, (argv, case_env, expected) in cases.items():
        done = _script(*argv, env=case_env)
        assert done.returncode == 1, (what, done.stdout, done.stderr)
        assert done.stdout == "" and done.stderr.count("\n") == 1, (what, done.stderr)
        assert done.stderr.startswith("modelship: ") and expected in done.stderr, (what, done.stderr)
        assert "Traceback" not in done.stderr and "secret" not in done.stderr
    ok = _script("status", "--json", env=env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["target"] == "demo"
