import datetime as dt

from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelship_common import db


def _row(**kw):
    base = dict(
        request_id="r1",
        model_name="penguins",
        model_version="1",
        latency_ms=1.5,
        predicted_class="Adelie",
        confidence=0.9,
        input=[{"a": 1}],
        output=[{"class_id": 0}],
    )
    return db.Prediction(**(base | kw))


def test_migrate_is_idempotent_and_matches_the_models(tmp_path):
    url = f"sqlite:///{tmp_path}/nested/p.db"
    db.migrate(url)
    db.migrate(url)
    engine = db.make_engine(url)
    columns = {c["name"] for c in inspect(engine).get_columns("predictions")}
    assert columns == set(db.Prediction.__table__.columns.keys())


def test_unique_key_keeps_replays_to_one_row(tmp_path):
    url = f"sqlite:///{tmp_path}/p.db"
    db.migrate(url)
    engine = db.make_engine(url)
    with Session(engine) as session:
        session.add(_row())
        session.commit()
    with Session(engine) as session:
        session.add(_row(latency_ms=9.0))
        try:
            session.commit()
            raise AssertionError("duplicate prediction was stored")
        except IntegrityError:
            session.rollback()
        session.add(_row(model_version="2"))
        session.commit()
        rows = session.scalars(select(db.Prediction).order_by(db.Prediction.id)).all()
    assert [(r.model_version, r.latency_ms) for r in rows] == [("1", 1.5), ("2", 1.5)]
    assert rows[0].created_at <= dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=5)
