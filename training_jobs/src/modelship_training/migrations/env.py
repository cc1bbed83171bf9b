"""Alembic environment of the training-data tables (``penguins_raw``, ``penguins_processed``, ``collector_runs``).

A history of their own, recorded in their own version table (``alembic_version_training``): the training data may
share a database with the predictions store, whose history lives in ``alembic_version``, and neither sees the
other's tables. Run through :func:`modelship_training.tables.migrate`, which passes the connection (holding the
migration lock) in ``config.attributes["connection"]``.
"""

from alembic import context

from modelship_training.tables import VERSION_TABLE, include_name, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the training migrations run on a connection: use modelship_training.tables.migrate(engine)")
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    include_name=include_name,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
