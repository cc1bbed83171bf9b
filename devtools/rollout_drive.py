"""Driving a Shadow/Canary rollout from outside, as a user would: callers through the gateway, versions in MLflow.

Shared by the real-node end-to-end test (tests/e2e) and ``make bench-rollout``'s progressive-delivery table:

- :class:`Callers` sends penguins rows to ``POST /api/models/{model}/predict`` from threads and keeps every answer
  (time, HTTP status, the version that answered), so a test or a bench can tell when the candidate started answering,
  what share of callers it got and whether any caller saw a failure;
- :func:`log_penguins_version` logs and registers a scikit-learn penguins classifier on the real penguins rows, with
  the labels shuffled on request: the "deliberately bad candidate" a rollout must roll back;
- :func:`canary_rollout` builds an InferenceService ``spec.rollout`` block.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Answer:
    """One caller's request: when it ended (monotonic), its HTTP status (0: no HTTP answer) and who answered."""

    at: float
    status: int
    version: str | None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status != 200


def penguins_rows() -> list[dict[str, Any]]:
    """The complete rows of palmerpenguins' dataset (it ships with the package) as JSON-ready caller rows, plus
    each row's species under ``species``."""
    from palmerpenguins import load_penguins

    from modelship_common.schemas.penguins import RAW_FEATURES

    frame = load_penguins().dropna(subset=[*RAW_FEATURES, "species"])
    rows = []
    for record in frame.to_dict(orient="records"):
        row: dict[str, Any] = {}
        for column in RAW_FEATURES:
            value = record[column]
            row[column] = value if isinstance(value, str) else float(value)
        row["species"] = str(record["species"])
        rows.append(row)
    return rows


class Callers:
    """``threads`` callers sending one penguins row per request to the gateway until :meth:`stop` (or a bound)."""

    def __init__(
        self,
        gateway_url: str,
        model: str,
        rows: Sequence[dict[str, Any]],
        *,
        threads: int = 2,
        max_requests: int = 200_000,
        max_seconds: float = 3600.0,
        timeout_s: float = 30.0,
    ) -> None:
        self.url = f"{gateway_url.rstrip('/')}/api/models/{model}/predict"
        self.rows = [{k: v for k, v in row.items() if k != "species"} for row in rows]
        self.threads = threads
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.timeout_s = timeout_s
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def _call(self, offset: int) -> None:
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(timeout=self.timeout_s) as http:
            i = offset
            while not self._stop.is_set() and time.monotonic() < deadline:
                with self._lock:
                    if len(self._answers) >= self.max_requests:
                        return
                row = self.rows[i % len(self.rows)]
                i += self.threads
                try:
                    r = http.post(self.url, json={"instances": [row]})
                    version = r.json().get("version") if r.status_code == 200 else None
                    answer = Answer(time.monotonic(), r.status_code, version, None if r.is_success else r.text[:300])
                except (httpx.HTTPError, ValueError) as exc:
                    answer = Answer(time.monotonic(), 0, None, f"{type(exc).__name__}: {exc}")
                with self._lock:
                    self._answers.append(answer)

    def start(self) -> Callers:
        for offset in range(self.threads):
            worker = threading.Thread(target=self._call, args=(offset,), name=f"caller-{offset}", daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=self.timeout_s + 5)
        return self.answers()

    def answers(self, since: float = 0.0) -> list[Answer]:
        with self._lock:
            return [a for a in self._answers if a.at >= since]

    def first(self, version: str, since: float = 0.0) -> Answer | None:
        """The first answer from ``version`` at or after ``since``."""
        return next((a for a in self.answers(since) if a.version == version), None)

    def nth(self, version: str, n: int, since: float = 0.0) -> Answer | None:
        """The ``n``-th answer (1-based) from ``version`` at or after ``since``."""
        hits = [a for a in self.answers(since) if a.version == version]
        return hits[n - 1] if len(hits) >= n else None

    @contextlib.contextmanager
    def running(self) -> Iterator[Callers]:
        self.start()
        try:
            yield self
        finally:
            self.stop()


def failures(answers: Sequence[Answer]) -> list[Answer]:
    return [a for a in answers if a.failed]


def share(answers: Sequence[Answer], version: str) -> float:
    """The fraction of successful answers that came from ``version``."""
    ok = [a for a in answers if not a.failed]
    return sum(a.version == version for a in ok) / len(ok) if ok else 0.0


def log_penguins_version(
    tracking_uri: str,
    model: str,
    *,
    shuffle_labels: bool = False,
    seed: int = 0,
    experiment: str = "rollout-candidates",
    tags: dict[str, str] | None = None,
) -> str:
    """Fit a logistic regression on the encoded penguins rows (labels shuffled when ``shuffle_labels``), log it with
    MLflow's defaults and register it as a new version of ``model``; returns the version (not given an alias).

    The classifier takes the encoded features the tabular model server sends (``modelship_common.schemas.penguins``)
    and predicts class indices in ``penguins.CLASSES`` order, as the training job's models do."""
    import mlflow
    import mlflow.sklearn
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    from modelship_common.schemas import penguins

    rows = penguins_rows()
    x = penguins.encode_rows([{k: v for k, v in row.items() if k != "species"} for row in rows])
    y = np.array([penguins.CLASSES.index(row["species"]) for row in rows])
    if shuffle_labels:
        y = np.random.default_rng(seed).permutation(y)
    estimator = LogisticRegression(max_iter=5000).fit(x, y)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    # MLflow prints run links on stdout: a bench keeps stdout for its table.
    with contextlib.redirect_stdout(sys.stderr), mlflow.start_run(run_name=f"{model}-shuffled-{shuffle_labels}"):
        mlflow.log_params({"shuffle_labels": shuffle_labels, "seed": seed})
        mlflow.log_metric("train_accuracy", float(estimator.score(x, y)))
        info = mlflow.sklearn.log_model(
            estimator, name="model", registered_model_name=model, pip_requirements=["scikit-learn"]
        )
    version = str(info.registered_model_version)
    for key, value in (tags or {}).items():
        client.set_model_version_tag(model, version, key, value)
    deadline = time.monotonic() + 120
    while client.get_model_version(model, version).status != "READY":
        if time.monotonic() > deadline:
            raise TimeoutError(f"{model} v{version} not READY in MLflow after 120 s")
        time.sleep(0.5)
    return version


def canary_rollout(
    weights: Sequence[int] = (50, 100),
    *,
    min_requests: int = 40,
    min_duration: str = "5s",
    min_samples: int = 40,
    warm_duration: str = "20s",
    latency_grace_ms: float | None = None,
) -> dict[str, Any]:
    """A ``spec.rollout`` block: Canary through ``weights`` (percent of callers), each step held for
    ``min_requests`` candidate requests and ``min_duration``, judged after ``min_samples`` paired answers with the
    CRD's default thresholds (``latency_grace_ms`` replaces the latency gate's 5 ms grace when given)."""
    analysis: dict[str, Any] = {"minSamples": min_samples}
    if latency_grace_ms is not None:
        analysis["latencyGraceMs"] = latency_grace_ms
    return {
        "strategy": "Canary",
        "canary": {
            "minRequests": min_requests,
            "minDuration": min_duration,
            "steps": [{"weight": w} for w in weights],
        },
        "analysis": analysis,
        "warmDuration": warm_duration,
    }
