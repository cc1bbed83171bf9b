"""Continuous data collection: fetch a batch of raw penguins rows, store the new ones, retrain when enough arrived.

One run (``python -m modelship_training collect``, a Kubernetes CronJob):

1. ``GET`` the settings' ``collector_url`` (the sample data API's ``/batch`` or anything answering the same
   JSON: ``{"batch": k, "rows": [{raw column: value, ...}, ...]}``) and validate it completely with the data
   API's own model (:class:`~modelship_training.data_api.Batch`).
2. In one transaction: append the rows whose :func:`~modelship_training.penguins_data.row_key` is not stored
   yet to ``penguins_raw``, rebuild ``penguins_processed`` and record the run in ``collector_runs``.
3. When ``retrain_threshold_rows`` rows arrived since the last retraining this collector started (rows with a
   higher ``penguins_raw.id`` than the one it trained up to), train penguins
   (:func:`~modelship_training.jobs.train_penguins`); every new version goes through the promotion policy, so
   a better model becomes ``champion`` and the operator rolls it out. The run's row then records what it
   trained on; a failed retraining is retried by the next run, since the rows still count as new.

A fetch or validation failure raises :class:`CollectError` before the database is touched.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import Connection, func, select

from modelship_training.data_api import Batch
from modelship_training.tables import collector_runs, penguins_raw

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from modelship_training.jobs import TrainingReport
    from modelship_training.settings import TrainingSettings

log = logging.getLogger(__name__)


class CollectError(RuntimeError):
    """The data API could not be reached or answered something else than a batch; the message says which."""


class RetrainError(CollectError):
    """The batch was stored but the retraining failed (MLflow unreachable, too few rows...); retried next run."""


@dataclass
class CollectResult:
    """What one collector run did."""

    batch: int | None
    fetched: int
    added: int
    pending: int
    threshold: int
    report: TrainingReport | None = None

    def summary(self) -> str:
        batch = "?" if self.batch is None else str(self.batch)
        trained = f"retrained: {len(self.report.results)} version(s)" if self.report else "no retraining"
        return (
            f"batch {batch}: {self.fetched} rows fetched, {self.added} new; "
            f"{self.pending}/{self.threshold} rows since the last retraining; {trained}"
        )


def fetch_batch(url: str, timeout: float = 30.0) -> Batch:
    """``GET url`` and validate the batch; every failure is a :class:`CollectError` with a one-line reason."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise CollectError(f"data API at {url} answered HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CollectError(f"cannot reach the data API at {url}: {reason}") from exc
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CollectError(f"data API at {url} answered something that is not JSON: {_excerpt(body)}") from exc
    return parse_batch(payload, url)


def parse_batch(payload: Any, url: str = "the data API") -> Batch:
    """Validate a batch with :class:`~modelship_training.data_api.Batch`: an object with ``rows``, a list of
    objects of raw columns and plain values; an invalid one is a :class:`CollectError` naming its first fault."""
    try:
        return Batch.model_validate(payload)
    except ValidationError as exc:
        reason = _reason(exc.errors(include_url=False)[0], payload)
        raise CollectError(f"data API at {url} answered an invalid batch: {reason}") from exc


def _reason(error: ErrorDetails, payload: Any) -> str:
    """One validation error of :class:`Batch` in the words of the batch's shape."""
    loc = error["loc"]
    if not loc:
        return f"expected a JSON object, got {type(payload).__name__}"
    if loc == ("batch",):
        return "'batch' must be an integer"
    if loc == ("rows",):
        return "'rows' must be a list"
    if loc[0] == "rows" and len(loc) == 2:
        if error["type"] == "dict_type":
            return f"row {loc[1]} is not an object"
        return f"row {loc[1]} {error['msg']}"  # the row checks' own words ("has no values", ...)
    if loc[0] == "rows" and len(loc) >= 3:
        return f"row {loc[1]} column {loc[2]!r} is not text, a number or null"
    return f"{'.'.join(map(str, loc))}: {error['msg']}"


def store_batch(conn: Connection, batch: Batch, *, source: str, url: str) -> tuple[int, int]:
    """Append the batch's new rows, rebuild ``penguins_processed`` and record the run, in ``conn``'s transaction.

    Returns ``(added, collector_runs.id)``.
    """
    import pandas as pd

    from modelship_training import penguins_data

    stored = penguins_data.raw_keys(conn)
    new_rows = []
    for record in penguins_data.raw_records(pd.DataFrame(batch.rows), source) if batch.rows else []:
        key = penguins_data.row_key(record)
        if key not in stored:  # also drops repeats inside the batch
            stored.add(key)
            new_rows.append(record)
    if new_rows:
        conn.execute(penguins_raw.insert(), new_rows)
    penguins_data.replace_processed(conn)
    pending = pending_rows(conn)
    inserted = conn.execute(
        collector_runs.insert().values(
            started_at=dt.datetime.now(dt.UTC),
            url=url,
            batch=batch.batch,
            fetched=len(batch.rows),
            added=len(new_rows),
            pending=pending,
            retrained=False,
        )
    ).inserted_primary_key
    if inserted is None:
        raise RuntimeError("collector_runs insert returned no id")
    return len(new_rows), int(inserted[0])


def trained_up_to(conn: Connection) -> int:
    """The highest ``penguins_raw.id`` a finished retraining of this collector saw (0 if none)."""
    return int(conn.execute(select(func.coalesce(func.max(collector_runs.c.trained_up_to), 0))).scalar_one())


def pending_rows(conn: Connection) -> int:
    """Rows in ``penguins_raw`` that arrived after the last retraining this collector started."""
    return int(
        conn.execute(
            select(func.count()).select_from(penguins_raw).where(penguins_raw.c.id > trained_up_to(conn))
        ).scalar_one()
    )


def collect(settings: TrainingSettings, client: MlflowClient | None = None) -> CollectResult:
    """One collector run (see the module docstring); raises :class:`CollectError` for a bad fetch."""
    from modelship_common.db import make_engine
    from modelship_training.tables import migrate

    url = settings.collector_url
    batch = fetch_batch(url, settings.collector_timeout_seconds)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            added, run_id = store_batch(conn, batch, source=settings.collector_source, url=url)
            pending = pending_rows(conn)
            newest = int(conn.execute(select(func.coalesce(func.max(penguins_raw.c.id), 0))).scalar_one())
        log.info("batch %s from %s: %d rows, %d new, %d pending", batch.batch, url, len(batch.rows), added, pending)
        result = CollectResult(batch.batch, len(batch.rows), added, pending, settings.retrain_threshold_rows)
        if pending >= settings.retrain_threshold_rows:
            result.report = _retrain(settings, client, engine, run_id, newest)
        return result
    finally:
        engine.dispose()


def _retrain(
    settings: TrainingSettings, client: MlflowClient | None, engine: Any, run_id: int, newest: int
) -> TrainingReport:
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    from modelship_training import jobs
    from modelship_training.tracking import TrackingUnavailable

    log.info("retraining penguins on the data up to penguins_raw.id %d", newest)
    try:
        report = jobs.train_penguins(
            settings, client, estimators=settings.retrain_estimators, grid_search=settings.retrain_grid_search
        )
    except (TrackingUnavailable, MlflowException, SQLAlchemyError, ValueError, OSError) as exc:
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        with engine.begin() as conn:
            conn.execute(collector_runs.update().where(collector_runs.c.id == run_id).values(error=message[:500]))
        raise RetrainError(f"batch stored, retraining failed: {message}") from exc
    versions = ", ".join(f"{r.model_name} v{r.version} {r.estimator} -> {r.alias}" for r in report.results)
    with engine.begin() as conn:
        conn.execute(
            collector_runs.update()
            .where(collector_runs.c.id == run_id)
            .values(retrained=True, trained_up_to=newest, versions=versions)
        )
    return report


def _excerpt(body: bytes, limit: int = 60) -> str:
    text = body[:limit].decode("utf-8", "replace").replace("\n", " ").strip()
    return repr(text + ("..." if len(body) > limit else ""))
