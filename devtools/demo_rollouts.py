"""``make demo``'s rollout controller: what the operator does in a cluster, with local processes.

Every pass (``step()``, called by the demo's main loop every couple of seconds):

- a model whose ``challenger`` alias names another version than the one its model server runs gets a Shadow or
  Canary rollout (``--rollout-strategy``; the analysis defaults of :mod:`modelship_common.rollout.spec`) and a
  model server of its own for the candidate, started Pending;
- a rollout whose candidate is no longer the ``challenger`` (the alias moved to a newer version, or was removed)
  is aborted, as the operator aborts it; the next pass starts the new challenger's rollout;
- once that server is ready its URL goes into the rollouts table (the gateway routes by it) and the analysis
  runs (:func:`modelship_common.rollout.controller.tick`, the operator's own pass);
- each decision is applied as the operator applies it (:func:`modelship_operator.rollout_status.decision_effects`:
  MLflow tags on the candidate, ``champion``/``challenger`` aliases);
- a rollback or an abort stops the candidate's server; a promotion keeps both until the warm window ends, then the
  candidate's server becomes the model's server (its discovery file points at it) and the old champion's stops;
- no new rollout of a model starts until the last one has settled so (as the operator waits for its candidate to
  be deleted, or a promotion handed over).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from devtools import servers
from devtools.procs import Proc, ProcGroup, http_ok
from modelship_common.db import make_engine, migrate, utcnow
from modelship_common.registry import CHALLENGER, CHAMPION, model_uri
from modelship_common.rollout.controller import tick
from modelship_common.rollout.spec import parse_rollout_spec
from modelship_common.rollout.tables import (
    RolloutConflict,
    RolloutExists,
    RolloutRecord,
    active_rollout,
    list_decisions,
    record_decision,
    rollout_history,
    set_candidate_url,
    start_rollout,
)

log = logging.getLogger(__name__)

STRATEGIES = ("Rolling", "Shadow", "Canary")
#: The registry could not be read this pass: nothing is started or aborted on a guess.
UNKNOWN = object()


@dataclass
class Serving:
    """One model's model-server process and the version it serves."""

    proc: Proc
    version: str


@dataclass
class DemoRollouts:
    """The demo's controller; ``serving`` maps each model to its running server (the demo's ``model_servers``)."""

    tracking_uri: str
    database_url: str
    discovery_dir: Path
    log_dir: Path
    group: ProcGroup
    serving: dict[str, Serving]
    strategy: str = "Canary"
    say: Callable[[str], None] = print
    candidates: dict[int, Proc] = field(default_factory=dict)
    applied: dict[int, int] = field(default_factory=dict)
    engine: Engine | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"rollout strategy must be one of {', '.join(STRATEGIES)}, not {self.strategy!r}")
        migrate(self.database_url)
        self.engine = make_engine(self.database_url)

    # ---------------------------------------------------------------------------------------------- a pass

    def step(self) -> None:
        """One pass: start rollouts for new challengers, run the analysis, apply what it decided."""
        if self.strategy == "Rolling" or self.engine is None:
            return
        for model in list(self.serving):
            self._maybe_start(model)
        ready = frozenset(self._candidates_ready())
        for outcome in tick(self.engine, utcnow(), pending_ready=ready):
            if outcome.decision is not None:
                self.say(f"rollout {outcome.rollout.id} of {outcome.rollout.model_name}: {outcome.action.reason}")
        for model in list(self.serving):
            self._apply(model)

    def _challenger(self, model: str) -> Any:
        """The version ``challenger`` names, None if there is no such alias, UNKNOWN if MLflow cannot be read."""
        from modelship_operator import mlflow_access as ml

        try:
            return ml.alias_version(self.tracking_uri, model, CHALLENGER)
        except ml.RegistryUnreachable as exc:
            log.warning("cannot read the %s alias of %s: %s", CHALLENGER, model, exc)
            return UNKNOWN

    def _start_candidate(self, rollout: RolloutRecord) -> None:
        self.candidates[rollout.id] = self.group.add(
            servers.start_model_server(
                model_uri(rollout.model_name, rollout.candidate_version),
                tracking_uri=self.tracking_uri,
                log_dir=self.log_dir,
                model_name=rollout.model_name,
                wait=False,
            )
        )

    def _maybe_start(self, model: str) -> None:
        assert self.engine is not None
        newest = rollout_history(self.engine, model, 1)
        if newest and not newest[0].active and newest[0].id in self.candidates:
            return  # the last rollout has not settled yet (a warm window, or its effects not applied)
        current = newest[0] if newest and newest[0].active else None  # one active per model, and it is the newest
        challenger = self._challenger(model)
        if challenger is UNKNOWN:
            return
        if current is not None:
            if challenger != current.candidate_version:
                self._abort(current, challenger)
            elif current.id not in self.candidates:  # a rollout of an earlier run of the demo: serve its candidate
                set_candidate_url(self.engine, current.id, None)  # that run's server is gone; routed again when ready
                self._start_candidate(current)
                self.say(f"{model}: resuming rollout {current.id} of version {current.candidate_version}")
            return
        served = self.serving[model].version
        if challenger is None or challenger == served:
            return
        if newest and newest[0].candidate_version == challenger:
            return  # this challenger was judged already (rolled back, or promoted and handed over)
        spec = parse_rollout_spec({"strategy": self.strategy}, where="--rollout-strategy")
        try:
            rollout = start_rollout(
                self.engine,
                model_name=model,
                champion_version=served,
                candidate_version=challenger,
                spec=spec,
                pending=True,
            )
        except RolloutExists:
            return
        self._start_candidate(rollout)
        self.say(f"{model}: {self.strategy} rollout {rollout.id} of version {challenger} against {served}")

    def _abort(self, rollout: RolloutRecord, challenger: str | None) -> None:
        """Stop judging a candidate that is no longer the challenger; :meth:`_settle` stops its server."""
        from modelship_operator.rollout_status import challenger_gone

        assert self.engine is not None
        why = challenger_gone(challenger)
        try:
            record_decision(self.engine, rollout, "abort", reason=f"aborted: {why}")
        except RolloutConflict as exc:  # it ended meanwhile; the next pass reads it again
            log.info("rollout %s: %s", rollout.id, exc)
            return
        self.say(f"rollout {rollout.id} of {rollout.model_name}: aborted: {why}")

    def _candidates_ready(self) -> list[str]:
        assert self.engine is not None
        ready = []
        for model in self.serving:
            rollout = active_rollout(self.engine, model)
            proc = self.candidates.get(rollout.id) if rollout is not None else None
            if rollout is None or proc is None:
                continue
            if http_ok(f"{proc.url}/v2/models/{model}/ready"):
                ready.append(model)
                if rollout.candidate_url != str(proc.url):
                    set_candidate_url(self.engine, rollout.id, str(proc.url))
        return ready

    def _apply(self, model: str) -> None:
        """MLflow effects of the newest rollout's decisions not applied yet; then its processes."""
        from modelship_operator import mlflow_access as ml
        from modelship_operator.rollout_status import decision_effects

        assert self.engine is not None
        history = rollout_history(self.engine, model, 1)
        if not history:
            return
        rollout = history[0]
        for decision in list_decisions(self.engine, rollout.id):
            if decision.id <= self.applied.get(rollout.id, 0):
                continue
            effects = decision_effects(rollout, decision, alias=CHAMPION)
            ml.tag_version(self.tracking_uri, model, rollout.candidate_version, effects.tags)
            if effects.move_alias:
                ml.move_alias(
                    self.tracking_uri, model, CHAMPION, rollout.candidate_version, only_from=rollout.champion_version
                )
            if effects.drop_challenger:
                ml.drop_alias(self.tracking_uri, model, CHALLENGER, only_at=rollout.candidate_version)
            self.applied[rollout.id] = decision.id
        self._settle(model, rollout)

    def _settle(self, model: str, rollout: RolloutRecord) -> None:
        assert self.engine is not None
        proc = self.candidates.get(rollout.id)
        if rollout.active:
            return
        if proc is None:  # a rollout of an earlier run of the demo, ended in this one: its server is long gone
            if rollout.phase != "Promoted" and rollout.candidate_url is not None:
                set_candidate_url(self.engine, rollout.id, None)
            return
        if rollout.phase == "Promoted":
            warm_until = rollout.warm_until
            if warm_until is not None and utcnow() < warm_until:
                return  # the old champion stays up: a rollback would still be instant
            old = self.serving[model]
            self.serving[model] = Serving(proc, rollout.candidate_version)
            servers.write_discovery(self.discovery_dir, model, str(proc.url))
            set_candidate_url(self.engine, rollout.id, None)
            self._stop(old.proc)
            self.say(f"{model}: version {rollout.candidate_version} serves alone now (warm window over)")
        else:
            set_candidate_url(self.engine, rollout.id, None)
            self._stop(proc)
            self.say(f"{model}: candidate {rollout.candidate_version} stopped ({rollout.phase})")
        del self.candidates[rollout.id]

    def _stop(self, proc: Proc) -> None:
        """Stop a server the demo no longer needs (out of the group first, so its exit is not a failure)."""
        if proc in self.group.procs:
            self.group.procs.remove(proc)
        proc.stop()

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
