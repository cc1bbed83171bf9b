"""A sample data API for demos and tests: palmerpenguins' raw rows in rotating random batches.

``python -m modelship_training.data_api [--host 127.0.0.1] [--port 8090] [--batch-seconds 300] [--batches 10]
[--seed N]`` shuffles the raw dataset (with the seed), splits it into ``--batches`` batches and serves one of them
at a time: batch ``k = floor(seconds since start / batch_seconds) mod batches``.

- ``GET /batch`` -> ``{"batch": k, "batches": n, "next_rotation_at": ISO time, "rows": [...]}``; every row has
  the raw dataset's columns (``studyName``, ``Sample Number``, ``Species``, ... ; NaN as ``null``).
- ``GET /healthz`` -> ``{"status": "ok"}``.

:class:`BatchResponse` extends :class:`Batch`, the model the collector validates every fetched batch with, so the
API and its consumer share one definition of a raw row.

The clock is injectable (:func:`create_app`), so tests rotate batches without waiting.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, StrictFloat, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

from modelship_training.tables import RAW_COLUMNS, RAW_DATASET_COLUMNS

DEFAULT_PORT = 8090
DEFAULT_BATCHES = 10
DEFAULT_BATCH_SECONDS = 300.0

#: A raw value as served: text, a number or null (strict: ``true`` is not the number 1, ``"1"`` not a number).
RawValue = StrictStr | StrictInt | StrictFloat | None
#: Column names a raw row may use: the dataset's own (``Species``) or ``penguins_raw``'s (``species``).
RAW_ROW_COLUMNS = frozenset(RAW_DATASET_COLUMNS) | frozenset(RAW_COLUMNS)


def _check_row(row: dict[str, RawValue]) -> dict[str, RawValue]:
    unknown = sorted(set(row) - RAW_ROW_COLUMNS)
    if unknown:
        raise PydanticCustomError("unknown_column", "has unknown column(s) {columns}", {"columns": ", ".join(unknown)})
    if all(value is None for value in row.values()):
        raise PydanticCustomError("empty_row", "has no values")
    return row


#: One raw penguins row: known columns only, plain values, at least one of them not null.
RawRow = Annotated[dict[str, RawValue], AfterValidator(_check_row)]


class Batch(BaseModel):
    """A batch of raw penguins rows: the part of a data API's answer the collector reads, from this API or any
    other answering the same JSON (other keys are ignored)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    batch: StrictInt | None = None
    """Index of the batch, when the source numbers them."""
    rows: list[RawRow]
    """Raw penguins rows with the dataset's original columns (or ``penguins_raw``'s snake_case names)."""


class BatchResponse(Batch):
    """The batch being served now."""

    batch: StrictInt
    """Index of the current batch, 0 .. batches - 1."""
    batches: int
    """How many batches rotate."""
    next_rotation_at: dt.datetime
    """When the next batch replaces this one (UTC)."""


class Health(BaseModel):
    """Liveness answer."""

    status: str = "ok"


@dataclass(frozen=True)
class BatchSchedule:
    """Which batch is served at a given time: ``batches`` rotate every ``batch_seconds`` from ``started_at``."""

    batches: Sequence[Sequence[dict[str, RawValue]]]
    batch_seconds: float
    started_at: float

    def current(self, now: float) -> tuple[int, float]:
        """The batch index at ``now`` (epoch seconds) and when it rotates next."""
        periods = max(0, math.floor((now - self.started_at) / self.batch_seconds))
        return periods % len(self.batches), self.started_at + (periods + 1) * self.batch_seconds


def make_batches(n_batches: int = DEFAULT_BATCHES, seed: int = 0) -> list[list[dict[str, RawValue]]]:
    """palmerpenguins' raw rows (original column names, NaN -> None), shuffled with ``seed``, in ``n_batches``."""
    import numpy as np
    from palmerpenguins import load_penguins_raw

    frame = load_penguins_raw()
    if not 1 <= n_batches <= len(frame):
        raise ValueError(f"batches must be between 1 and {len(frame)}, got {n_batches}")
    records = [{str(k): _plain(v) for k, v in record.items()} for record in frame.to_dict("records")]
    order = np.random.default_rng(seed).permutation(len(records))
    return [[records[i] for i in part] for part in np.array_split(order, n_batches)]


def _plain(value: Any) -> RawValue:
    """numpy/pandas scalars -> JSON-able Python values; NaN -> None."""
    if value is None:
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str | int | float):
        return value
    return str(value)


router = APIRouter()


@router.get("/batch", response_model=BatchResponse)
def get_batch(request: Request) -> BatchResponse:
    """The batch being served now."""
    schedule: BatchSchedule = request.app.state.schedule
    clock: Callable[[], float] = request.app.state.clock
    k, rotates_at = schedule.current(clock())
    return BatchResponse(
        batch=k,
        batches=len(schedule.batches),
        next_rotation_at=dt.datetime.fromtimestamp(rotates_at, dt.UTC),
        rows=list(schedule.batches[k]),
    )


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """Liveness."""
    return Health()


def create_app(
    *,
    batches: int = DEFAULT_BATCHES,
    batch_seconds: float = DEFAULT_BATCH_SECONDS,
    seed: int = 0,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The sample data API; the schedule starts at ``clock()`` now."""
    if batch_seconds <= 0:
        raise ValueError(f"batch_seconds must be > 0, got {batch_seconds}")
    app = FastAPI(title="modelship sample penguins data API", version="0.1.0")
    app.state.schedule = BatchSchedule(make_batches(batches, seed), batch_seconds, clock())
    app.state.clock = clock
    app.include_router(router)
    return app


@contextmanager
def serve_in_background(app: FastAPI, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread (port 0 = a free one) and yield its base URL; stop it on exit."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="data-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the data API did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()
    try:
        yield f"http://{host}:{bound[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m modelship_training.data_api",
        description="Serve palmerpenguins' raw rows in rotating random batches (GET /batch, GET /healthz).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"Port (default {DEFAULT_PORT}).")
    parser.add_argument(
        "--batch-seconds",
        type=float,
        default=DEFAULT_BATCH_SECONDS,
        help=f"Seconds each batch is served (default {DEFAULT_BATCH_SECONDS:g}).",
    )
    parser.add_argument(
        "--batches", type=int, default=DEFAULT_BATCHES, help=f"Number of batches (default {DEFAULT_BATCHES})."
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the shuffle (default 0).")
    parser.add_argument("--log-level", default="info", help="uvicorn log level (default info).")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        app = create_app(batches=args.batches, batch_seconds=args.batch_seconds, seed=args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    import uvicorn

    from modelship_common.logs import configure_logging

    # uvicorn's loggers write through the process's one handler: JSON lines or text, as MODELSHIP_LOG_FORMAT says.
    configure_logging(args.log_level.upper(), None, take_over=("uvicorn", "uvicorn.error", "uvicorn.access"))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
