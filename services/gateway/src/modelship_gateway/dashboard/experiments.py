"""MLflow experiments and their runs for the Experiments page (``MlflowClient.search_experiments/search_runs``).

The MLflow client is synchronous: :func:`load_experiments` runs it in a worker thread under a deadline, and
an unreachable MLflow becomes an error message on the page rather than a 500.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

#: Metrics shown first (in this order) when a run has them; the others follow alphabetically.
PREFERRED_METRICS = ("test_accuracy", "test_f1", "test_precision", "test_recall", "train_accuracy")


@dataclass(frozen=True)
class RunRow:
    run_id: str
    name: str
    status: str
    started: dt.datetime | None
    metrics: dict[str, float]
    model: str | None


@dataclass(frozen=True)
class ExperimentView:
    experiment_id: str
    name: str
    runs: list[RunRow] = field(default_factory=list)
    metric_names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExperimentsResult:
    experiments: list[ExperimentView]
    error: str | None = None


def _ordered_metrics(names: set[str]) -> list[str]:
    first = [m for m in PREFERRED_METRICS if m in names]
    return first + sorted(names - set(first))


def _started(ms: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(ms / 1000.0, tz=dt.UTC) if ms else None


def fetch_experiments(client: Any, *, max_experiments: int = 20, max_runs: int = 25) -> list[ExperimentView]:
    """Experiments (most recently created first) with their newest runs and every metric they logged."""
    from mlflow.entities import ViewType

    views = []
    experiments = client.search_experiments(
        view_type=ViewType.ACTIVE_ONLY, max_results=max_experiments, order_by=["creation_time DESC"]
    )
    for experiment in experiments:
        runs = client.search_runs(
            [experiment.experiment_id], max_results=max_runs, order_by=["attributes.start_time DESC"]
        )
        rows = [
            RunRow(
                run_id=run.info.run_id,
                name=run.info.run_name or run.info.run_id[:8],
                status=run.info.status,
                started=_started(run.info.start_time),
                metrics={k: float(v) for k, v in run.data.metrics.items()},
                model=run.data.tags.get("estimator") or run.data.tags.get("modelship.io/estimator"),
            )
            for run in runs
        ]
        names = _ordered_metrics({name for row in rows for name in row.metrics})
        views.append(ExperimentView(experiment.experiment_id, experiment.name, rows, names))
    return views


async def load_experiments(tracking_uri: str, timeout_s: float) -> ExperimentsResult:
    """The experiments, or an error message when MLflow is down, slow or refuses."""

    def fetch() -> list[ExperimentView]:
        from mlflow import MlflowClient

        return fetch_experiments(MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri))

    try:
        return ExperimentsResult(await asyncio.wait_for(asyncio.to_thread(fetch), timeout_s))
    except TimeoutError:
        return ExperimentsResult([], f"MLflow at {tracking_uri} did not answer within {timeout_s:g}s")
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ExperimentsResult([], f"MLflow at {tracking_uri} is unavailable: {first[:300]}")
