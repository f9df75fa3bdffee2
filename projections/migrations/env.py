"""Alembic's entry point for the projections' schema: runs the revisions on the
connection `projections.store.migrate` hands over (or on the URL in
AUTOMATIONS_PROJECTIONS_URL when run as `alembic -c projections/alembic.ini`)."""

from alembic import context
from sqlalchemy import create_engine

from projections.schema import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    from projections.store import projections_url

    engine = create_engine(projections_url())
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
