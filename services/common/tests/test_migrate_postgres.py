"""Concurrent ``migrate`` against a REAL PostgreSQL (devtools' session server).

On a first cluster install the gateway and the streaming worker start together and both migrate an empty
database; each must end up at the newest schema without failing.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import inspect, text

from modelship_common import db

pytestmark = pytest.mark.integration

MIGRATE = "import sys; from modelship_common.db import migrate; migrate(sys.argv[1])"


def test_processes_migrating_one_empty_database_at_once_all_succeed(pg_database: str) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", MIGRATE, pg_database], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outcomes = [(p.communicate(timeout=180)[1], p.returncode) for p in procs]
    assert [err[-800:] for err, code in outcomes if code != 0] == []
    engine = db.make_engine(pg_database)
    try:
        assert {"predictions", "images", "events"} <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert len(versions) == 1
    finally:
        engine.dispose()
