"""The dashboard's database reads. Every aggregate is computed by the database (SQLAlchemy Core), never by
looping over all rows in Python; the functions take a synchronous session (call them from a worker thread)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, case, false, func, select
from sqlalchemy.orm import Session

from modelship_common.db import Event, Image, Prediction


@dataclass(frozen=True)
class Counts:
    images: int
    predictions: int
    events: int


def counts(session: Session) -> Counts:
    """How many images, predictions and events are stored (one round trip)."""
    row = session.execute(
        select(
            select(func.count()).select_from(Image).scalar_subquery(),
            select(func.count()).select_from(Prediction).scalar_subquery(),
            select(func.count()).select_from(Event).scalar_subquery(),
        )
    ).one()
    return Counts(images=int(row[0]), predictions=int(row[1]), events=int(row[2]))


def recent_images(session: Session, limit: int = 8) -> list[Image]:
    return list(session.scalars(select(Image).order_by(Image.created_at.desc(), Image.id.desc()).limit(limit)))


def recent_predictions(session: Session, limit: int = 10) -> list[Prediction]:
    query = select(Prediction).order_by(Prediction.created_at.desc(), Prediction.id.desc()).limit(limit)
    return list(session.scalars(query))


def recent_events(session: Session, limit: int = 10) -> list[Event]:
    return list(session.scalars(select(Event).order_by(Event.created_at.desc(), Event.id.desc()).limit(limit)))


# ------------------------------------------------------------------------------------------------ predictions


@dataclass(frozen=True)
class PredictionFilters:
    """The Predictions page's filters; ``None`` (or empty) means "any". Dates are inclusive UTC days."""

    model: str | None = None
    predicted_class: str | None = None
    source: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if any("\x00" in v for v in (self.model, self.predicted_class, self.source) if v):
            # No stored name holds a NUL, and PostgreSQL refuses to compare text with one: nothing matches.
            return [false()]
        if self.model:
            found.append(Prediction.model_name == self.model)
        if self.predicted_class:
            found.append(Prediction.predicted_class == self.predicted_class)
        if self.source:
            found.append(Prediction.source == self.source)
        if self.date_from:
            found.append(Prediction.created_at >= _start_of(self.date_from))
        if self.date_to:
            found.append(Prediction.created_at < _start_of(self.date_to + dt.timedelta(days=1)))
        return found

    def apply(self, query: Select[Any]) -> Select[Any]:
        conditions = self.conditions()
        return query.where(and_(*conditions)) if conditions else query


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


@dataclass(frozen=True)
class PredictionStats:
    count: int
    mean_confidence: float | None
    mean_latency_ms: float | None


@dataclass(frozen=True)
class PredictionPage:
    rows: list[Prediction]
    page: int
    per_page: int
    stats: PredictionStats

    @property
    def total(self) -> int:
        return self.stats.count

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def prediction_stats(session: Session, filters: PredictionFilters) -> PredictionStats:
    """Count, mean confidence and mean latency of the predictions matching ``filters``."""
    query = filters.apply(
        select(func.count(Prediction.id), func.avg(Prediction.confidence), func.avg(Prediction.latency_ms))
    )
    result: Any = session.execute(query).one()
    n, confidence, latency = result
    return PredictionStats(
        count=int(n),
        mean_confidence=None if confidence is None else float(confidence),
        mean_latency_ms=None if latency is None else float(latency),
    )


def search_predictions(
    session: Session, filters: PredictionFilters, *, page: int = 1, per_page: int = 25
) -> PredictionPage:
    """One page (1-based, clamped to the last page) of the matching predictions, newest first, with their stats."""
    stats = prediction_stats(session, filters)
    pages = max(1, math.ceil(stats.count / per_page))
    page = min(max(1, page), pages)
    query = filters.apply(select(Prediction)).order_by(Prediction.created_at.desc(), Prediction.id.desc())
    rows = list(session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return PredictionPage(rows=rows, page=page, per_page=per_page, stats=stats)


@dataclass(frozen=True)
class FilterOptions:
    models: list[str]
    classes: list[str]
    sources: list[str]


def filter_options(session: Session) -> FilterOptions:
    """The distinct values the filters can take (each a ``SELECT DISTINCT``)."""

    def distinct(column: Any) -> list[str]:
        query = select(column).where(column.is_not(None)).distinct().order_by(column)
        values: list[Any] = list(session.scalars(query))
        return [str(v) for v in values]

    return FilterOptions(
        models=distinct(Prediction.model_name),
        classes=distinct(Prediction.predicted_class),
        sources=distinct(Prediction.source),
    )


# ---------------------------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class VersionStats:
    """Latency and confidence of one model version over every stored prediction."""

    model: str
    version: str
    count: int
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    mean_latency_ms: float | None
    mean_confidence: float | None


def _nearest_rank(percent: int, rank: Any, n: Any) -> Any:
    """``rank == ceil(n * percent / 100)`` in integer arithmetic (portable between SQLite and PostgreSQL)."""
    return rank == (n * percent + 99) // 100


def version_stats(session: Session) -> list[VersionStats]:
    """Per (model, version): count, p50/p95 latency (nearest rank, via window functions), means."""
    partition = (Prediction.model_name, Prediction.model_version)
    ranked = select(
        Prediction.model_name.label("model"),
        Prediction.model_version.label("version"),
        Prediction.latency_ms.label("latency"),
        Prediction.confidence.label("confidence"),
        func.row_number().over(partition_by=partition, order_by=(Prediction.latency_ms, Prediction.id)).label("rank"),
        func.count().over(partition_by=partition).label("n"),
    ).subquery()
    query = (
        select(
            ranked.c.model,
            ranked.c.version,
            func.count(),
            func.max(case((_nearest_rank(50, ranked.c.rank, ranked.c.n), ranked.c.latency))),
            func.max(case((_nearest_rank(95, ranked.c.rank, ranked.c.n), ranked.c.latency))),
            func.avg(ranked.c.latency),
            func.avg(ranked.c.confidence),
        )
        .group_by(ranked.c.model, ranked.c.version)
        .order_by(ranked.c.model, ranked.c.version)
    )
    return [
        VersionStats(
            model=model,
            version=version,
            count=int(n),
            p50_latency_ms=_float(p50),
            p95_latency_ms=_float(p95),
            mean_latency_ms=_float(mean_latency),
            mean_confidence=_float(mean_confidence),
        )
        for model, version, n, p50, p95, mean_latency, mean_confidence in _rows(session, query)
    ]


def _rows(session: Session, query: Select[Any]) -> list[Any]:
    return list(session.execute(query))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class PairAgreement:
    a: str
    b: str
    images: int
    agreed: int

    @property
    def rate(self) -> float | None:
        return self.agreed / self.images if self.images else None


@dataclass(frozen=True)
class Agreement:
    """How often the image models agree on the uploaded images.

    ``models``: every model that scored an uploaded image. ``scored_by_all``: images scored by all of them;
    ``consensus``: those on which all of them predicted the same class. ``pairs``: every pair of models with the
    images both scored and how many of those they agreed on. When a model scored an image with several versions,
    its newest prediction counts.
    """

    models: list[str]
    scored_by_all: int
    consensus: int
    pairs: list[PairAgreement] = field(default_factory=list)

    @property
    def consensus_rate(self) -> float | None:
        return self.consensus / self.scored_by_all if self.scored_by_all else None

    def matrix(self) -> list[list[float | None]]:
        """Pairwise agreement rates indexed like ``models`` (1.0 on the diagonal, None where no image is shared)."""
        index = {name: i for i, name in enumerate(self.models)}
        grid: list[list[float | None]] = [[None] * len(self.models) for _ in self.models]
        for i in range(len(self.models)):
            grid[i][i] = 1.0
        for pair in self.pairs:
            i, j = index[pair.a], index[pair.b]
            grid[i][j] = grid[j][i] = pair.rate
        return grid


def agreement(session: Session) -> Agreement:
    """Consensus rate and pairwise agreement of the models' predictions on uploaded images (all in SQL)."""
    newest = (
        select(func.max(Prediction.id))
        .join(Image, Image.id == Prediction.request_id)
        .group_by(Prediction.request_id, Prediction.model_name)
    )
    latest = (
        select(Prediction.request_id, Prediction.model_name, Prediction.predicted_class)
        .where(Prediction.id.in_(newest))
        .cte("latest_image_predictions")
    )
    names: list[Any] = list(session.scalars(select(latest.c.model_name).distinct().order_by(latest.c.model_name)))
    models = [str(m) for m in names]
    if not models:
        return Agreement(models=[], scored_by_all=0, consensus=0)

    per_image = (
        select(
            func.count(latest.c.model_name.distinct()).label("n_models"),
            func.count(latest.c.predicted_class.distinct()).label("n_classes"),
        )
        .group_by(latest.c.request_id)
        .subquery()
    )
    all_scored = cast(ColumnElement[bool], per_image.c.n_models == len(models))
    totals: Any = session.execute(
        select(
            func.coalesce(func.sum(case((all_scored, 1), else_=0)), 0),
            func.coalesce(func.sum(case((and_(all_scored, per_image.c.n_classes == 1), 1), else_=0)), 0),
        )
    ).one()
    scored_by_all, consensus = totals

    a, b = latest.alias("a"), latest.alias("b")
    pair_rows = _rows(
        session,
        select(
            a.c.model_name,
            b.c.model_name,
            func.count(),
            func.sum(case((a.c.predicted_class == b.c.predicted_class, 1), else_=0)),
        )
        .join(b, and_(a.c.request_id == b.c.request_id, a.c.model_name < b.c.model_name))
        .group_by(a.c.model_name, b.c.model_name)
        .order_by(a.c.model_name, b.c.model_name),
    )
    pairs = [PairAgreement(a=x, b=y, images=int(n), agreed=int(same or 0)) for x, y, n, same in pair_rows]
    return Agreement(models=models, scored_by_all=int(scored_by_all), consensus=int(consensus), pairs=pairs)
