"""Column types of one server dialect, imported only when a database of that dialect needs them.

:mod:`sync.db.schema` names PostgreSQL's JSONB and MySQL/MariaDB's DATETIME(6), MEDIUMTEXT and
LONGTEXT as variants of its generic types; naming them directly would import those dialect
packages in every process, SQLite's included (see :class:`DialectType`).
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = ["DialectType", "render_item"]


class DialectType(sa.types.TypeDecorator[Any]):
    """A type of one dialect package, imported only when a database of that dialect needs it.

    The variants below are PostgreSQL's and MySQL/MariaDB's own types (JSONB, DATETIME(6),
    MEDIUMTEXT, LONGTEXT). Importing ``sqlalchemy.dialects.postgresql`` to name JSONB cost every
    SQLite process about 40 ms of CPU at start for a type it never uses. So each variant is one of
    these stand-ins, which builds its type (:meth:`dialect_type`) when asked:

    * the DDL compiler asks through :meth:`load_dialect_impl` (``TypeDecorator``'s hook), so
      CREATE TABLE, and Alembic's comparisons of compiled types, read the dialect type's text;
    * a dialect asks for the type it converts values with (``dialect_impl``), and gets the
      dialect type itself, not a ``TypeDecorator`` wrapping it: ``_gen_dialect_impl`` (a private
      SQLAlchemy hook) does what SQLAlchemy does for a variant that is a plain type. A wrapper
      would convert values the same, but hide the type's bind cast (psycopg's ``%(p)s::JSONB``)
      from the compiler.

    SQLite is named by no variant and never asks: its forms are the generic types', as before.
    tests/unit/test_dialect_imports.py checks both halves on every dialect.
    ``cache_ok`` (never inherited) is set on every subclass.
    """

    cache_ok = True

    def dialect_type(self) -> sa.types.TypeEngine[Any]:
        """The dialect's own type (imports its dialect package)."""
        raise NotImplementedError

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        return dialect.type_descriptor(self.dialect_type())

    def _gen_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        # Private, with this signature in SQLAlchemy 2.0.30 to 2.1 (pyproject allows <2.2); a
        # release that changes it fails test_server_databases_keep_their_own_types.
        return self.load_dialect_impl(dialect)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Alembic's ``render_item`` (migrations/env.py): a migration drafted by autogenerate spells
    a :class:`DialectType` as its dialect type (``mysql.DATETIME(fsp=6)``), as it did when the
    schema used those types directly; a migration must not depend on this module's classes."""
    if type_ == "type" and isinstance(obj, DialectType):
        from alembic.autogenerate.render import _repr_type

        return _repr_type(obj.dialect_type(), autogen_context)
    return False


class _MySQLDateTime6(DialectType):
    """MySQL's ``DATETIME(6)``: a DATETIME with microseconds."""

    impl = sa.DateTime
    cache_ok = True

    def dialect_type(self) -> sa.types.TypeEngine[Any]:
        from sqlalchemy.dialects import mysql

        return mysql.DATETIME(fsp=6)


class _MySQLMediumText(DialectType):
    """MySQL's ``MEDIUMTEXT`` (up to 16 MiB)."""

    impl = sa.Text
    cache_ok = True

    def dialect_type(self) -> sa.types.TypeEngine[Any]:
        from sqlalchemy.dialects import mysql

        return mysql.MEDIUMTEXT()


class _MySQLLongText(DialectType):
    """MySQL's ``LONGTEXT`` (up to 4 GiB)."""

    impl = sa.Text
    cache_ok = True

    def dialect_type(self) -> sa.types.TypeEngine[Any]:
        from sqlalchemy.dialects import mysql

        return mysql.LONGTEXT()


class _PostgresJSONB(DialectType):
    """PostgreSQL's ``JSONB``, with :class:`sqlalchemy.JSON`'s ``none_as_null``."""

    impl = sa.JSON
    cache_ok = True

    def __init__(self, none_as_null: bool = False) -> None:
        super().__init__(none_as_null=none_as_null)
        self.none_as_null = none_as_null  # an __init__ argument: part of the cache key

    def dialect_type(self) -> sa.types.TypeEngine[Any]:
        from sqlalchemy.dialects.postgresql import JSONB

        return JSONB(none_as_null=self.none_as_null)


#: Naive UTC. MySQL's plain DATETIME drops fractions of a second; ``synced_at`` needs them
#: (it orders writes within a run), so MySQL/MariaDB get DATETIME(6).
