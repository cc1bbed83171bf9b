"""Alembic environment for the modelship predictions store."""

from alembic import context
from sqlalchemy import pool, text

from modelship_common.db import Base, make_engine
from modelship_common.rollout import tables  # noqa: F401  (registers the rollouts tables on Base.metadata)

config = context.config
target_metadata = Base.metadata
#: PostgreSQL advisory lock held while migrating: services that start together (the gateway and the streaming
#: worker on a first install) migrate one after the other; the later ones find the schema at head.
MIGRATION_LOCK = 0x6D736D67  # "msmg"


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # A session-level lock: it outlives the commit below and ends with the connection.
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
