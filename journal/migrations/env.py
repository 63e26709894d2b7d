"""Alembic environment for the journal; run through `journal.store.migrate`."""

from alembic import context
from sqlalchemy import create_engine

from journal.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is not None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "alembic run by hand needs sqlalchemy.url; the project runs it through journal.store.migrate"
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
