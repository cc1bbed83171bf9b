"""The dashboard's SQL: filters, pagination, aggregates, percentiles and image-model agreement on crafted rows.

Every test runs twice: on SQLite (what the gateway uses alone) and on a real PostgreSQL (what the cluster uses;
the platform plugin's server, a fresh database per test, marked integration) whose sessions run in a time zone
far from UTC, so window functions, integer division and the UTC day filters are checked on both dialects.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from modelship_common.db import Event, Image, Prediction, make_engine, migrate
from modelship_gateway.dashboard import queries
from modelship_gateway.dashboard.queries import PredictionFilters

#: The PostgreSQL sessions' time zone: UTC+13 in March, so a UTC day and a local day differ for most rows.
PG_TIME_ZONE = "Pacific/Auckland"

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
_ids = itertools.count(1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def session(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dashboard.db'}"
    else:
        url = request.getfixturevalue("pg_database")  # a fresh database on the session's PostgreSQL
    migrate(url)
    engine = make_engine(url)
    if request.param == "postgresql":

        @event.listens_for(engine, "connect")
        def _far_from_utc(conn: Any, _record: Any) -> None:
            with conn.cursor() as cur:
                cur.execute(f"SET TIME ZONE '{PG_TIME_ZONE}'")

    with Session(engine) as s:
        if request.param == "postgresql":
            assert s.execute(text("SHOW TIME ZONE")).scalar_one() == PG_TIME_ZONE
        yield s
    engine.dispose()


def prediction(
    model: str,
    cls: str | None,
    *,
    request_id: str | None = None,
    version: str = "1",
    confidence: float | None = 0.9,
    latency_ms: float = 10.0,
    source: str = "api",
    at: dt.datetime = T0,
) -> Prediction:
    return Prediction(
        request_id=request_id or f"r{next(_ids)}",
        model_name=model,
        model_version=version,
        predicted_class=cls,
        confidence=confidence,
        latency_ms=latency_ms,
        source=source,
        created_at=at,
        n_instances=1 if cls is not None else 3,
        input={},
        output={},
    )


def image(image_id: str, at: dt.datetime = T0) -> Image:
    return Image(
        id=image_id,
        created_at=at,
        filename=f"{image_id}.png",
        content_type="image/png",
        size_bytes=100,
        sha256="0" * 64,
        storage_key=f"images/{image_id}.png",
        status="processed",
        source="api",
    )


def add(session: Session, *rows: Any) -> None:
    session.add_all(rows)
    session.commit()


def test_empty_database(session: Session) -> None:
    assert queries.counts(session) == queries.Counts(0, 0, 0)
    page = queries.search_predictions(session, PredictionFilters(), page=3, per_page=10)
    assert page.rows == [] and page.total == 0 and page.page == 1 and page.pages == 1
    assert page.stats.mean_confidence is None and page.stats.mean_latency_ms is None
    assert queries.version_stats(session) == []
    agreement = queries.agreement(session)
    assert agreement.models == [] and agreement.consensus_rate is None and agreement.matrix() == []
    assert queries.filter_options(session) == queries.FilterOptions([], [], [])


def test_counts_and_recent(session: Session) -> None:
    add(
        session,
        image("a", T0),
        image("b", T0 + dt.timedelta(minutes=1)),
        prediction("m", "1", at=T0),
        prediction("m", "2", at=T0 + dt.timedelta(minutes=5)),
        prediction("m", "3", at=T0 + dt.timedelta(minutes=2)),
        Event(kind="upload", message="uploaded a", details={}, created_at=T0),
    )
    assert queries.counts(session) == queries.Counts(images=2, predictions=3, events=1)
    assert [i.id for i in queries.recent_images(session)] == ["b", "a"]
    assert [p.predicted_class for p in queries.recent_predictions(session, 2)] == ["2", "3"]
    assert [e.message for e in queries.recent_events(session)] == ["uploaded a"]


@pytest.fixture
def crafted(session: Session) -> Session:
    """12 predictions across 3 days, 2 models, 2 sources."""
    rows = []
    for day in range(3):
        for k in range(4):
            rows.append(
                prediction(
                    "penguins" if k % 2 == 0 else "digits-fast",
                    "Adelie" if k % 2 == 0 else str(k),
                    confidence=0.5 + 0.1 * k,
                    latency_ms=10.0 * (k + 1),
                    source="api" if k < 3 else "stream",
                    at=T0 + dt.timedelta(days=day, minutes=k),
                    request_id=f"d{day}k{k}",
                )
            )
    add(session, *rows)
    return session


def ids(page: queries.PredictionPage) -> list[str]:
    return [p.request_id for p in page.rows]


def test_filters_select_the_right_rows(crafted: Session) -> None:
    search = queries.search_predictions
    by_model = search(crafted, PredictionFilters(model="penguins"), per_page=100)
    assert ids(by_model) == ["d2k2", "d2k0", "d1k2", "d1k0", "d0k2", "d0k0"]
    by_class = search(crafted, PredictionFilters(predicted_class="3"), per_page=100)
    assert ids(by_class) == ["d2k3", "d1k3", "d0k3"]
    by_source = search(crafted, PredictionFilters(source="stream", model="digits-fast"), per_page=100)
    assert ids(by_source) == ["d2k3", "d1k3", "d0k3"]
    one_day = T0.date() + dt.timedelta(days=1)
    by_day = search(crafted, PredictionFilters(date_from=one_day, date_to=one_day), per_page=100)
    assert ids(by_day) == ["d1k3", "d1k2", "d1k1", "d1k0"]
    from_day = search(crafted, PredictionFilters(date_from=one_day), per_page=100)
    assert from_day.total == 8
    until_day = search(crafted, PredictionFilters(date_to=T0.date()), per_page=100)
    assert ids(until_day) == ["d0k3", "d0k2", "d0k1", "d0k0"]
    assert search(crafted, PredictionFilters(model="nope"), per_page=100).total == 0


def test_pagination_newest_first_and_clamped(crafted: Session) -> None:
    first = queries.search_predictions(crafted, PredictionFilters(), page=1, per_page=5)
    second = queries.search_predictions(crafted, PredictionFilters(), page=2, per_page=5)
    third = queries.search_predictions(crafted, PredictionFilters(), page=3, per_page=5)
    assert (first.total, first.pages) == (12, 3)
    assert ids(first) == ["d2k3", "d2k2", "d2k1", "d2k0", "d1k3"]
    assert ids(second) == ["d1k2", "d1k1", "d1k0", "d0k3", "d0k2"]
    assert ids(third) == ["d0k1", "d0k0"]
    beyond = queries.search_predictions(crafted, PredictionFilters(), page=99, per_page=5)
    assert beyond.page == 3 and ids(beyond) == ids(third)


def test_aggregate_stats_follow_the_filters(crafted: Session) -> None:
    every = queries.prediction_stats(crafted, PredictionFilters())
    assert every.count == 12
    assert every.mean_confidence == pytest.approx((0.5 + 0.6 + 0.7 + 0.8) / 4)
    assert every.mean_latency_ms == pytest.approx(25.0)
    digits_only = queries.prediction_stats(crafted, PredictionFilters(model="digits-fast"))
    assert digits_only.count == 6
    assert digits_only.mean_confidence == pytest.approx(0.7)
    assert digits_only.mean_latency_ms == pytest.approx(30.0)
    options = queries.filter_options(crafted)
    assert options.models == ["digits-fast", "penguins"]
    assert options.classes == ["1", "3", "Adelie"]
    assert options.sources == ["api", "stream"]


def test_version_stats_percentiles_are_nearest_rank(session: Session) -> None:
    rows = [prediction("m", "x", version="1", latency_ms=float(ms), confidence=ms / 100) for ms in range(20, 0, -1)]
    rows += [prediction("m", "x", version="2", latency_ms=5.0, confidence=None)]
    rows += [prediction("other", "y", version="7", latency_ms=float(ms), confidence=0.5) for ms in (3, 1, 2)]
    add(session, *rows)
    stats = {(s.model, s.version): s for s in queries.version_stats(session)}
    assert list(stats) == [("m", "1"), ("m", "2"), ("other", "7")]
    v1 = stats[("m", "1")]
    assert (v1.count, v1.p50_latency_ms, v1.p95_latency_ms) == (20, 10.0, 19.0)
    assert v1.mean_latency_ms == pytest.approx(10.5)
    assert v1.mean_confidence == pytest.approx(0.105)
    v2 = stats[("m", "2")]
    assert (v2.count, v2.p50_latency_ms, v2.p95_latency_ms, v2.mean_confidence) == (1, 5.0, 5.0, None)
    other = stats[("other", "7")]
    assert (other.p50_latency_ms, other.p95_latency_ms) == (2.0, 3.0)


def test_agreement_on_a_crafted_dataset(session: Session) -> None:
    add(session, *(image(f"img{i}") for i in range(1, 6)))
    rows = [
        # img1: all three agree
        prediction("a", "1", request_id="img1"),
        prediction("b", "1", request_id="img1"),
        prediction("c", "1", request_id="img1"),
        # img2: c disagrees
        prediction("a", "1", request_id="img2"),
        prediction("b", "1", request_id="img2"),
        prediction("c", "2", request_id="img2"),
        # img3: b disagrees
        prediction("a", "3", request_id="img3"),
        prediction("b", "4", request_id="img3"),
        prediction("c", "3", request_id="img3"),
        # img4: scored by a and b only (agree)
        prediction("a", "5", request_id="img4"),
        prediction("b", "5", request_id="img4"),
        # img5: c's old version said 9, its newer version says 7: the newest counts, so all agree
        prediction("c", "9", request_id="img5", version="1"),
        prediction("a", "7", request_id="img5"),
        prediction("b", "7", request_id="img5"),
        prediction("c", "7", request_id="img5", version="2"),
        # not an uploaded image: ignored
        prediction("a", "0", request_id="not-an-image"),
        prediction("b", "8", request_id="not-an-image"),
        prediction("c", "6", request_id="not-an-image"),
    ]
    add(session, *rows)
    agreement = queries.agreement(session)
    assert agreement.models == ["a", "b", "c"]
    assert agreement.scored_by_all == 4  # img1, img2, img3, img5
    assert agreement.consensus == 2  # img1, img5
    assert agreement.consensus_rate == 0.5
    pairs = {(p.a, p.b): (p.images, p.agreed) for p in agreement.pairs}
    assert pairs == {("a", "b"): (5, 4), ("a", "c"): (4, 3), ("b", "c"): (4, 2)}
    assert agreement.matrix() == [
        [1.0, 0.8, 0.75],
        [0.8, 1.0, 0.5],
        [0.75, 0.5, 1.0],
    ]


def test_agreement_with_one_model_and_unshared_pairs(session: Session) -> None:
    add(session, image("x"), image("y"), prediction("a", "1", request_id="x"), prediction("b", "2", request_id="y"))
    agreement = queries.agreement(session)
    assert agreement.models == ["a", "b"]
    assert (agreement.scored_by_all, agreement.consensus, agreement.consensus_rate) == (0, 0, None)
    assert agreement.pairs == []
    assert agreement.matrix() == [[1.0, None], [None, 1.0]]
