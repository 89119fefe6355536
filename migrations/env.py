"""Alembic environment for accs-sync, used two ways.

* Programmatically (``accs-sync migrate``, :func:`sync.db.migrate.ensure_schema`): the caller
  passes an open connection in ``config.attributes["connection"]``, already inside a transaction
  and holding the migration lock; everything here runs in that transaction and the caller
  commits.
* From the ``alembic`` CLI (developers, with ``alembic.ini`` at the repository root): the
  database comes from the ``DATABASE_URL`` environment variable (or ``sqlalchemy.url`` in the
  ini file) and the engine is built by :func:`sync.db.engine.make_engine`, exactly as the app
  builds it.
"""

from __future__ import annotations

import logging
import os
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from sync.db.engine import make_engine, normalize_url, redacted_url
from sync.db.schema import metadata
from sync.db.types import render_item
from sync.errors import ConfigError

config = context.config
logger = logging.getLogger("alembic.env")

# Only the CLI configures logging from the ini file; inside the app (or a test), the app owns
# logging and says so with attributes["configure_logger"] = False or by passing a connection.
if (
    config.config_file_name is not None
    and "connection" not in config.attributes
    and config.attributes.get("configure_logger", True)
):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _include_name(name: str | None, type_: str, _parent: Any) -> bool:
    """Autogenerate looks only at our tables: a shared database may hold other applications'."""
    if type_ == "table":
        return name in metadata.tables
    return True


def _options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": metadata,
        "include_name": _include_name,
        "compare_type": True,
        # Draft migrations spell schema.py's late-imported dialect types as the dialects' own.
        "render_item": render_item,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        "render_as_batch": dialect_name == "sqlite",
    }


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise ConfigError(
            "DATABASE_URL is not set; export DATABASE_URL=sqlite:///accs-sync.db "
            "(or postgresql://..., mysql://...) before running alembic",
            setting="DATABASE_URL",
        )
    return url


def _run_on(connection: Connection) -> None:
    options = _options(connection.dialect.name)
    if connection.dialect.name == "sqlite":
        # make_engine's SQLite engines emit a real BEGIN, so DDL there is transactional too.
        options["transactional_ddl"] = True
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """``alembic upgrade --sql``: print the SQL for a DBA instead of running it."""
    url = normalize_url(_database_url())
    context.configure(url=url, literal_binds=True, **_options(url.get_backend_name()))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run_on(connection)
        return
    url = _database_url()
    logger.info("migrating %s", redacted_url(url))
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run_on(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
