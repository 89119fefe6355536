"""Bring a database's schema to the revision this code expects, safely and only forwards.

Alembic does the work; this module decides whether to let it. One exception: a new SQLite
file (nothing in it at all) is created at head in one step, the tables from the schema
metadata, the view and the head revision stamped, which is exactly what the revisions make
(``tests/unit/test_schema_at_head.py``) without importing Alembic. A schema *newer* than this code
means someone upgraded accs-sync elsewhere and this copy is stale: we refuse rather than write
rows an unknown schema may not accept. Tables without Alembic's version table were not made by
us (or were half-restored) and we refuse those too, instead of guessing.

Two processes may start at once (the daemon and a manual run): the migration holds a lock,
PostgreSQL's advisory lock, MySQL's GET_LOCK, or SQLite's write lock (``BEGIN IMMEDIATE``), and
re-reads the revision once it has it, so the second process finds the work done. On SQLite and
PostgreSQL a migration is one transaction; MySQL/MariaDB commit each DDL statement implicitly,
so there a killed migration can leave a partly upgraded schema: every step is written to be
repeated (``migrations/resumable.py``), so the next migration completes it.
"""

from __future__ import annotations

import ast
import functools
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

import migrations
from sync.db.dialect import dialect_name
from sync.db.lock import mysql_lock_name
from sync.db.schema import metadata
from sync.errors import SchemaError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "LOCK_TIMEOUT_SECONDS",
    "alembic_config",
    "current_revision",
    "ensure_schema",
    "head_revision",
    "known_revision",
    "schema_revision",
    "upgrade",
]

logger = logging.getLogger(__name__)

#: How long a process waits for another one's migration before giving up.
LOCK_TIMEOUT_SECONDS = 300
_LOCK_NAME = "accs_sync_migrate"
_VERSION_TABLE = "alembic_version"
_PG_LOCK_KEY = 0x616363735F6D6967  # "accs_mig": any constant bigint, the same in every process


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the packaged scripts, independent of CWD and of any ini file.

    With ``connection``, migrations run on it, in its transaction (see migrations/env.py).
    """
    from alembic.config import Config  # late: `status` compares revisions without Alembic

    config = Config()
    script_location = os.path.dirname(os.path.abspath(migrations.__file__))
    # ConfigParser interpolation: a literal '%' in the install path must be doubled.
    config.set_main_option("script_location", script_location.replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def _shipped() -> dict[str, str | None]:
    """Each revision under ``migrations/versions`` and the one it follows, read from the
    scripts' ``revision`` and ``down_revision`` lines as text: importing Alembic and the
    scripts would cost ``status`` most of its start-up (a test compares this with Alembic)."""
    shipped: dict[str, str | None] = {}
    folder = Path(migrations.__file__).parent / "versions"
    for path in sorted(folder.glob("[0-9]*.py")):
        values: dict[str, object] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets: list[ast.expr]
            if isinstance(node, ast.AnnAssign):
                targets, value = [node.target], node.value
            elif isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            else:
                continue
            for target in targets:
                if not isinstance(target, ast.Name) or value is None:
                    continue
                if target.id in ("revision", "down_revision"):
                    values[target.id] = ast.literal_eval(value)
        revision, down = values.get("revision"), values.get("down_revision")
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            raise SchemaError(f"{path.name} has no usable revision; the installation is broken")
        shipped[revision] = down
    return shipped


def head_revision() -> str:
    """The newest revision this code ships."""
    shipped = _shipped()
    heads = sorted(set(shipped) - set(shipped.values()))
    if len(heads) != 1:  # pragma: no cover - the package always ships one line of scripts
        raise SchemaError(
            f"the migration scripts have {len(heads)} heads; the accs-sync installation is broken"
        )
    return heads[0]


def known_revision(revision: str) -> bool:
    """Whether this code ships ``revision``; a database at any other one was migrated by a
    newer accs-sync."""
    return revision in _shipped()


def _current_heads(conn: Connection) -> tuple[str, ...]:
    # Read directly: a MigrationContext would log two INFO lines on every sync run.
    if not sa.inspect(conn).has_table(_VERSION_TABLE):
        return ()
    version = sa.table(_VERSION_TABLE, sa.column("version_num", sa.String()))
    return tuple(conn.execute(sa.select(version.c.version_num)).scalars())


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None if it has never been migrated."""
    with engine.connect() as conn:
        heads = _current_heads(conn)
    if len(heads) > 1:
        raise SchemaError(f"database has several schema revisions ({', '.join(heads)})")
    return heads[0] if heads else None


def upgrade(engine: Engine) -> None:
    """Migrate the database to :func:`head_revision` (``accs-sync migrate``).

    Same safety checks as :func:`ensure_schema`; logs what it did even when nothing was needed.
    """
    _migrate(engine, quiet=False)


def ensure_schema(engine: Engine) -> None:
    """Make the schema usable before a sync: create or upgrade it, or raise SchemaError.

    Empty database: create everything. Older revision: upgrade. A revision this code does not
    know (a newer accs-sync migrated it), or accs-sync's tables without a recorded revision:
    raise :class:`SchemaError` and touch nothing.
    """
    _migrate(engine, quiet=True)


def schema_revision(engine: Engine) -> str | None:
    """The checks :func:`ensure_schema` makes, without migrating (``accs-sync check``): the
    database's revision (None when it is empty); raises :class:`SchemaError` where
    :func:`ensure_schema` would refuse to touch it."""
    with engine.connect() as conn:
        return _usable_revision(conn, head_revision())


def _usable_revision(conn: Connection, head: str) -> str | None:
    """The revision of ``conn``'s database if it may be used or upgraded (None: empty)."""
    heads = _current_heads(conn)
    if len(heads) > 1:
        raise SchemaError(f"database has several schema revisions ({', '.join(heads)})")
    current = heads[0] if heads else None
    if current is None:
        if not _interrupted_creation(conn):
            _refuse_unversioned_tables(conn)
    elif not known_revision(current):
        raise SchemaError(
            f"database schema is at revision {current}, newer than this accs-sync "
            f"(head {head}); upgrade accs-sync"
        )
    return current


def _migrate(engine: Engine, *, quiet: bool) -> None:
    head = head_revision()
    with engine.connect() as conn, _sorts_on_disk(conn), _migration_lock(conn):
        # Read only now, under the lock: another process may have just migrated.
        current = _usable_revision(conn, head)
        if current is None:
            logger.info("creating database schema (revision %s)", head)
            if _new_sqlite_file(conn):
                _create_at_head(conn, head)
                conn.commit()
                logger.info("database schema is at revision %s", head)
                return
        elif current == head:
            logger.log(
                logging.DEBUG if quiet else logging.INFO, "database schema is up to date (%s)", head
            )
            return
        else:
            logger.info("upgrading database schema from revision %s to %s", current, head)
        from alembic import command  # late: only a migration needs Alembic

        command.upgrade(alembic_config(conn), "head")
        conn.commit()
        logger.info("database schema is at revision %s", head)


@contextmanager
def _sorts_on_disk(conn: Connection) -> Iterator[None]:
    """A SQLite connection's temporary data on disk while it migrates: an index built over a
    large table sorts all of its rows, which ``temp_store = MEMORY`` (what the engine sets for
    statement journals) would hold in memory at once.

    SQLite changes the setting only outside a transaction: it is set before ``conn``'s first
    statement, and given back once the block's transaction has ended (see
    :func:`_give_back_temp_store`)."""
    if dialect_name(conn) != "sqlite":
        yield
        return
    raw = conn.connection.dbapi_connection
    if raw is None or conn.in_transaction():
        raise RuntimeError("_sorts_on_disk needs a SQLite connection outside a transaction")
    before = int(raw.execute("PRAGMA temp_store").fetchone()[0])
    raw.execute("PRAGMA temp_store = FILE")
    try:
        yield
    finally:
        _give_back_temp_store(conn, raw, before)


def _give_back_temp_store(conn: Connection, raw: Any, before: int) -> None:
    """Set ``temp_store`` back on ``conn``; never raises, so it cannot hide what the migration
    raised. The block's transaction is rolled back first if still open (an up-to-date schema
    returns without committing; a failed migration left it), as the caller's exit would. A
    connection SQLAlchemy invalidated meanwhile (a Ctrl-C, a lost database) is already closed
    and leaves the pool; one whose setting cannot be given back is invalidated, so the pool
    never hands out a connection that writes its statement journals to disk."""
    try:
        if conn.invalidated or conn.closed:
            return
        current: Any = conn.connection.dbapi_connection
        if current is not raw:  # the pool replaced it: nothing of ours to give back
            return
        if conn.in_transaction():
            conn.rollback()
        current.execute(f"PRAGMA temp_store = {int(before)}")
    except Exception:  # see the docstring
        logger.debug("could not give the SQLite connection its temp_store back", exc_info=True)
        try:
            conn.invalidate()
        except Exception:  # nothing more to do for a broken connection
            logger.debug("could not invalidate the SQLite connection", exc_info=True)


#: Alembic's version table, as Alembic creates it.
_VERSION = sa.Table(
    _VERSION_TABLE,
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def _new_sqlite_file(conn: Connection) -> bool:
    """Whether ``conn`` is a SQLite database with nothing in it at all (not even the empty
    version table a downgrade to base leaves)."""
    if dialect_name(conn) != "sqlite":
        return False
    return conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar() == 0


def _create_at_head(conn: Connection, head: str) -> None:
    """Create an empty SQLite file's schema at ``head`` in one step: the tables and indexes
    from :data:`sync.db.schema.metadata`, the view of revision 0007, the version stamped, as
    Alembic documents for new databases. Importing Alembic and running every revision cost a
    first backfill ~0.15 CPU-s; ``tests/unit/test_schema_at_head.py`` proves the result is
    exactly what the revisions make. SQLite only: elsewhere the revisions still run."""
    from migrations.attribute_labels import view_sql

    metadata.create_all(conn, checkfirst=False)
    conn.exec_driver_sql(view_sql(conn.dialect))
    _VERSION.create(conn)
    conn.execute(_VERSION.insert().values(version_num=head))


def _interrupted_creation(conn: Connection) -> bool:
    """Whether this is a MySQL/MariaDB schema whose first migration was interrupted: Alembic's
    version table exists but is empty (it is created first and stamped last, and MySQL commits
    each DDL statement as it goes). Every step is re-runnable there (``migrations/resumable.py``:
    what exists is kept, a table of the same name with other columns is refused), so the next
    migration completes the schema."""
    return dialect_name(conn) == "mysql" and sa.inspect(conn).has_table(_VERSION_TABLE)


def _refuse_unversioned_tables(conn: Connection) -> None:
    existing = set(sa.inspect(conn).get_table_names())
    ours = sorted(existing & set(metadata.tables))
    if ours:
        raise SchemaError(
            f"the database already has tables named like accs-sync's ({', '.join(ours)}) "
            "but no alembic_version record, so their schema is unknown; point DATABASE_URL at "
            "a new, empty database, or drop those tables (the next full sync rebuilds the "
            "mirror)"
        )


@contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    """Hold the database-wide migration lock; ``conn`` is in a fresh transaction inside."""
    name = dialect_name(conn)
    if name == "postgresql":
        with _pg_lock(conn):
            yield
    elif name == "mysql":
        with _mysql_lock(conn):
            yield
    else:
        # make_engine's SQLite engines start every transaction with BEGIN IMMEDIATE, which takes
        # the database's single write lock (waiting up to busy_timeout for it).
        conn.execute(sa.text("SELECT 1"))
        yield


@contextmanager
def _pg_lock(conn: Connection) -> Iterator[None]:
    # A transaction-scoped advisory lock: released by the commit or rollback, even if we die.
    conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'"))
    try:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
    except OperationalError as exc:
        raise _lock_timeout() from exc
    conn.execute(sa.text("SET LOCAL lock_timeout = DEFAULT"))
    yield


@contextmanager
def _mysql_lock(conn: Connection) -> Iterator[None]:
    # GET_LOCK belongs to the session, so it survives the implicit commits DDL causes there.
    name = mysql_lock_name(conn.execute(sa.select(sa.func.database())).scalar(), _LOCK_NAME)
    acquired = conn.execute(sa.select(sa.func.get_lock(name, LOCK_TIMEOUT_SECONDS))).scalar()
    # End this transaction: under REPEATABLE READ it could hold a snapshot older than the
    # migration the previous lock holder just committed.
    conn.commit()
    if acquired != 1:
        raise _lock_timeout()
    try:
        yield
    finally:
        try:
            if conn.in_transaction():
                conn.rollback()
            conn.execute(sa.select(sa.func.release_lock(name)))
            conn.commit()
        except DBAPIError:
            # The session is gone, and the server dropped its lock with it.
            logger.debug("could not release the migration lock", exc_info=True)


def _lock_timeout() -> SchemaError:
    return SchemaError(
        f"gave up after {LOCK_TIMEOUT_SECONDS}s waiting for another accs-sync process to "
        "finish migrating the database schema; try again when it is done"
    )
