"""``--target demo``: the rollouts tables and MLflow directly (what ``make demo`` runs: SQLite + MLflow on :5000).

There is no operator here, so a manual decision's registry effects are applied by the command itself, the way the
operator applies them in a cluster: version tags on the candidate, ``champion`` moved on a promotion, ``challenger``
dropped on a promotion or a rollback.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from modelship_cli import views
from modelship_cli.errors import CliError, first_line
from modelship_cli.settings import CliSettings
from modelship_common import db
from modelship_common.errors import ModelNotFound
from modelship_common.registry import (
    CHALLENGER,
    CHAMPION,
    TAG_ROLLOUT_DECIDED_AT,
    TAG_ROLLOUT_DECISION,
    TAG_ROLLOUT_ID,
    TAG_ROLLOUT_PHASE,
    TAG_ROLLOUT_REASON,
    served_models,
)
from modelship_common.rollout.analysis import evidence
from modelship_common.rollout.controller import evaluate
from modelship_common.rollout.tables import (
    RolloutConflict,
    RolloutRecord,
    active_rollout,
    active_rollouts,
    list_decisions,
    record_decision,
    rollout_history,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

T = TypeVar("T")

TAG_VALUE_LIMIT = 4000


def masked(url: str) -> str:
    """A database URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def decision_tags(rollout: RolloutRecord, action: str, reason: str, decided_at: dt.datetime) -> dict[str, str]:
    return {
        TAG_ROLLOUT_DECISION: action,
        TAG_ROLLOUT_REASON: reason if len(reason) <= TAG_VALUE_LIMIT else reason[: TAG_VALUE_LIMIT - 3] + "...",
        TAG_ROLLOUT_ID: str(rollout.id),
        TAG_ROLLOUT_PHASE: rollout.phase,
        TAG_ROLLOUT_DECIDED_AT: decided_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _cause(text: str) -> str:
    """The useful end of a wrapped connection error: ``[Errno 111] Connection refused``, ``timed out``..."""
    found = re.search(r"\[Errno -?\d+\][^'\")\]]*|Read timed out|timed out", text)
    return found.group(0).strip() if found else first_line(Exception(text))


class DemoTarget:
    """The rollouts tables at ``settings.database_url`` and the registry at ``settings.mlflow_tracking_uri``."""

    name = "demo"

    def __init__(self, settings: CliSettings) -> None:
        self.settings = settings
        self.database_url = settings.database_url
        self.tracking_uri = settings.mlflow_tracking_uri
        self._engine: Engine | None = None
        self._client: MlflowClient | None = None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- the database --------------------------------------------------------------------------------------------

    def engine(self) -> Engine:
        if self._engine is not None:
            return self._engine
        where = masked(self.database_url)
        if self.database_url.startswith("sqlite:///"):
            path = Path(self.database_url[len("sqlite:///") :]).expanduser()
            if not path.exists():
                raise CliError(
                    f"no database at {path}: start `make demo`, or point MODELSHIP_DATABASE_URL (--database-url) "
                    "at the gateway's database"
                )
        engine = db.make_engine(self.database_url)
        try:
            with engine.connect() as conn:
                tables = set(inspect(conn).get_table_names())
        except SQLAlchemyError as exc:
            engine.dispose()
            raise CliError(
                f"cannot reach the database at {where}: {first_line(getattr(exc, 'orig', None) or exc)}"
            ) from exc
        if not {"rollouts", "rollout_decisions"} <= tables:
            engine.dispose()
            raise CliError(f"the database at {where} has no rollouts tables: is it the gateway's (make demo)?")
        self._engine = engine
        return engine

    def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        engine = self.engine()
        try:
            return fn(engine, *args, **kwargs)
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None) or exc
            raise CliError(f"the database at {masked(self.database_url)} failed: {first_line(orig)}") from exc

    # -- MLflow ------------------------------------------------------------------------------------------------

    def client(self) -> MlflowClient:
        if self._client is None:
            # One bounded try per call: the command answers in seconds instead of retrying for minutes.
            os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, round(self.settings.mlflow_timeout_s)))
            os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
            os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "0"
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    def _ml(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except ModelNotFound:
            raise
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                raise ModelNotFound(first_line(exc)) from exc
            if "failed with exception" in str(exc):  # MLflow's wrapping of a connection error or a timeout
                raise CliError(f"MLflow at {self.tracking_uri} is unreachable: {_cause(str(exc))}") from exc
            raise CliError(f"MLflow at {self.tracking_uri} failed: {first_line(exc)}") from exc
        except Exception as exc:  # requests' connection errors, timeouts
            raise CliError(f"MLflow at {self.tracking_uri} is unreachable: {_cause(str(exc))}") from exc

    def aliases(self, model: str) -> dict[str, str]:
        """The model's aliases (alias -> version); CliError naming the model if it is not registered."""
        try:
            registered = self._ml(self.client().get_registered_model, model)
        except ModelNotFound as exc:
            raise CliError(f"unknown model {model!r}: it is not registered in MLflow at {self.tracking_uri}") from exc
        raw = registered.aliases or {}
        return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}

    def _version_exists(self, model: str, version: str) -> None:
        try:
            self._ml(self.client().get_model_version, model, version)
        except ModelNotFound as exc:
            raise CliError(f"{model} has no version {version} in MLflow at {self.tracking_uri}") from exc

    # -- commands ------------------------------------------------------------------------------------------------

    def status(self, model: str | None = None) -> dict[str, Any]:
        rollouts = {r.model_name: r for r in self._db(active_rollouts)}
        names = [model] if model is not None else sorted(set(self._ml(served_models, self.client())) | set(rollouts))
        out = []
        for name in names:
            aliases = self.aliases(name)
            rollout = rollouts.get(name)
            entry: dict[str, Any] = {
                "name": name,
                "champion": aliases.get(CHAMPION),
                "challenger": aliases.get(CHALLENGER),
                "rollout": views.rollout_view(rollout) if rollout else None,
                "analysis": None,
            }
            if rollout is not None:
                action, verdict = self._db(evaluate, rollout)
                entry["analysis"] = views.analysis_view(action, verdict)
            out.append(entry)
        return {"target": self.name, "models": out}

    def _decide(self, rollout: RolloutRecord, action: str, reason: str) -> dict[str, Any]:
        now = db.utcnow()
        what, verdict = self._db(evaluate, rollout, now)
        proof = {**evidence(rollout, verdict, now), "trigger": "manual", "automatic": {"action": what.kind}}
        try:
            updated, decision = self._db(record_decision, rollout, action, reason=reason, evidence=proof, now=now)
        except RolloutConflict as exc:
            raise CliError(f"not recorded: {exc}") from exc
        client = self.client()
        model, cand = rollout.model_name, rollout.candidate_version
        try:
            for key, value in decision_tags(updated, action, reason, decision.decided_at).items():
                self._ml(client.set_model_version_tag, model, cand, key, value)
            aliases = self.aliases(model)
            if action == "promote" and aliases.get(CHAMPION) in (None, rollout.champion_version, cand):
                self._ml(client.set_registered_model_alias, model, CHAMPION, cand)
            if aliases.get(CHALLENGER) == cand:
                self._ml(client.delete_registered_model_alias, model, CHALLENGER)
        except CliError as exc:
            raise CliError(
                f"{action} of rollout {rollout.id} recorded, but its registry effects are not applied: {exc}"
            ) from exc
        return {
            "target": self.name,
            "model": model,
            "action": action,
            "rollout": views.rollout_view(updated),
            "decision": views.decision_view(decision),
            "champion": self.aliases(model).get(CHAMPION),
        }

    def promote(self, model: str, version: str | None, reason: str) -> dict[str, Any]:
        aliases = self.aliases(model)
        rollout = self._db(active_rollout, model)
        if rollout is not None:
            if version is not None and version != rollout.candidate_version:
                raise CliError(
                    f"{model} has an active rollout of version {rollout.candidate_version}, not {version}: promote "
                    f"that one, or roll it back first"
                )
            return self._decide(rollout, "promote", reason)
        target = version or aliases.get(CHALLENGER)
        if target is None:
            raise CliError(f"{model} has no active rollout and no {CHALLENGER} alias: name the VERSION to promote")
        self._version_exists(model, target)
        before = aliases.get(CHAMPION)
        client = self.client()
        self._ml(client.set_registered_model_alias, model, CHAMPION, target)
        if aliases.get(CHALLENGER) == target:
            self._ml(client.delete_registered_model_alias, model, CHALLENGER)
        return {
            "target": self.name,
            "model": model,
            "action": "promote",
            "rollout": None,
            "decision": None,
            "champion": target,
            "previous_champion": before,
        }

    def rollback(self, model: str, reason: str) -> dict[str, Any]:
        self.aliases(model)
        rollout = self._db(active_rollout, model)
        if rollout is None:
            last = self._db(rollout_history, model, 1)
            tail = f" (the last one, {last[0].id}, is {last[0].phase})" if last else ""
            raise CliError(
                f"{model} has no active rollout to roll back{tail}; to serve an earlier version run "
                f"`modelship promote {model} VERSION`"
            )
        return self._decide(rollout, "rollback", reason)

    def history(self, model: str, limit: int = 20) -> dict[str, Any]:
        rollouts = self._db(rollout_history, model, limit)
        if not rollouts:
            self.aliases(model)  # an unknown model is an error; a known one simply has no rollouts yet
        out = []
        for rollout in rollouts:
            view = views.rollout_view(rollout)
            view["decisions"] = [views.decision_view(d) for d in self._db(list_decisions, rollout.id)]
            out.append(view)
        return {"target": self.name, "model": model, "rollouts": out}
