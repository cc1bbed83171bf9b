import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from modelship_common import db
from modelship_common.events import record_event


def test_migration_0002_matches_the_models(tmp_path):
    url = f"sqlite:///{tmp_path}/p.db"
    db.migrate(url)
    engine = db.make_engine(url)
    insp = inspect(engine)
    for model in (db.Image, db.Event):
        columns = {c["name"] for c in insp.get_columns(model.__tablename__)}
        assert columns == set(model.__table__.columns.keys())
        assert {i["name"] for i in insp.get_indexes(model.__tablename__)} == {i.name for i in model.__table__.indexes}


def test_record_event_and_image_row(tmp_path):
    url = f"sqlite:///{tmp_path}/p.db"
    db.migrate(url)
    engine = db.make_engine(url)
    with Session(engine) as session:
        session.add(
            db.Image(
                id="0" * 36,
                content_type="image/png",
                size_bytes=3,
                sha256="ab" * 32,
                storage_key="images/x.png",
            )
        )
        record_event(session, "upload", "image uploaded", image_id="0" * 36, size=3)
        session.commit()
    with Session(engine) as session:
        image = session.get(db.Image, "0" * 36)
        assert image is not None and image.status == "uploaded" and image.error is None and image.source == "api"
        event = session.scalars(select(db.Event)).one()
        assert (event.kind, event.details) == ("upload", {"image_id": "0" * 36, "size": 3})
        with pytest.raises(ValueError, match="unknown event kind"):
            record_event(session, "nope", "x")
