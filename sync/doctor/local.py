"""The doctor's checks on this machine: the mirror database and the token cache file.

The database is only read: connecting and reading ``alembic_version`` (a SQLite file is opened
read-only, so one in a read-only directory is checked too, and a missing one is not created).
Migrating is left to ``accs-sync migrate`` or the next run, so a check never changes what
another accs-sync process is working on.
"""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from sync.api.cache_crypto import ENCRYPTED_VERSION, HOW_TO_SET, CacheKey, CacheUnreadable
from sync.api.token_store import exposure
from sync.db.engine import make_engine, normalize_url, redacted_url, sqlite_file
from sync.db.migrate import head_revision, schema_revision
from sync.doctor.findings import Finding
from sync.errors import ConfigError, SchemaError

__all__ = ["database_findings", "token_cache_finding"]

_MIGRATE = "run accs-sync migrate; sync migrates itself"


def database_findings(url: str, *, connect_timeout: int) -> list[Finding]:
    """``database`` (reachable, which backend, the URL without its password) and ``schema``
    (the revision against this accs-sync's head)."""
    try:
        parsed = normalize_url(url)
    except ConfigError as exc:
        return [
            Finding("database", "fail", "config", exc.message),
            Finding("schema", "skip", "service", "no database to read"),
        ]
    where = f"{parsed.get_backend_name()} at {redacted_url(url)}"
    file = sqlite_file(parsed) if parsed.get_backend_name() == "sqlite" else None
    if file is not None and not Path(file).expanduser().exists():
        return [
            Finding("database", "ok", "service", f"{where}: no file yet; the first run creates it"),
            Finding("schema", "warn", "service", f"not migrated yet: {_MIGRATE}"),
        ]
    try:
        engine = make_engine(url, connect_timeout=connect_timeout, read_only=True)
    except ConfigError as exc:
        return [
            Finding("database", "fail", "config", exc.message),
            Finding("schema", "skip", "service", "no database to read"),
        ]
    try:
        return _read(engine, where)
    finally:
        engine.dispose()


def _read(engine: sa.Engine, where: str) -> list[Finding]:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        lines = str(orig).strip().splitlines()
        reason = f"{type(orig).__name__}: {lines[0]}" if lines else type(orig).__name__
        return [
            Finding(
                "database",
                "fail",
                "service",
                f"cannot connect to {where} ({reason}); check DATABASE_URL and that the server "
                "is running",
            ),
            Finding("schema", "skip", "service", "the database did not answer"),
        ]
    found = Finding("database", "ok", "service", f"{where} reachable")
    head = head_revision()
    try:
        revision = schema_revision(engine)
    except SchemaError as exc:
        return [found, Finding("schema", "fail", "service", exc.message)]
    except SQLAlchemyError as exc:
        detail = f"cannot read the schema revision ({type(exc).__name__})"
        return [found, Finding("schema", "fail", "service", detail)]
    if revision is None:
        return [found, Finding("schema", "warn", "service", f"not migrated yet: {_MIGRATE}")]
    if revision != head:
        detail = f"at revision {revision}, this accs-sync expects {head}: {_MIGRATE}"
        return [found, Finding("schema", "warn", "service", detail)]
    return [found, Finding("schema", "ok", "service", f"at revision {revision} (current)")]


def token_cache_finding(
    path: Path | None, key: CacheKey | None = None, login: bool = False
) -> Finding:
    """``token cache``: a file only its owner can read (0600, in a 0700 directory), owned by
    the user running accs-sync, and encrypted with ``key`` when one is set (and openable with
    it). Broader access is a warning with the command that fixes it; so is a user ``login``
    (a refresh token) without a key, and a cache the key cannot open (it will be replaced)."""
    if path is None:
        return Finding(
            "token cache", "ok", "config", "in memory only (SYNC_TOKEN_CACHE=none): each run mints"
        )
    if login and key is None:
        return Finding(
            "token cache",
            "warn",
            "config",
            f"{path}: IMS_AUTH_FLOW=authorization_code keeps a refresh token there, which is "
            f"never written without a key: {HOW_TO_SET}",
        )
    at_rest = (
        f"encrypted with the key of {key.source}"
        if key is not None
        else "not encrypted (access tokens only; set SYNC_TOKEN_CACHE_KEY to encrypt it)"
    )
    problems = exposure(path.parent, 0o700, "directory") + exposure(path, 0o600, "file")
    unreadable = _unopenable(path, key)
    if unreadable:
        problems.append(f"{path} {unreadable}: the next run replaces it (a stored login is lost)")
    if problems:
        return Finding("token cache", "warn", "config", "; ".join([*problems, at_rest]))
    if not path.exists():
        return Finding(
            "token cache", "ok", "config", f"{path} not created yet (the first mint); {at_rest}"
        )
    return Finding(
        "token cache", "ok", "config", f"{path}: yours, and only you can read it; {at_rest}"
    )


def _unopenable(path: Path, key: CacheKey | None) -> str | None:
    """Why an encrypted cache cannot be opened with ``key`` (never its content), if so."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None  # absent, or damaged: a run says so and replaces it
    if not isinstance(data, dict) or data.get("version") != ENCRYPTED_VERSION:
        return None
    if key is None:
        return f"is encrypted and no key is set ({HOW_TO_SET})"
    try:
        key.decrypt(data)
    except CacheUnreadable as exc:
        return exc.reason
    return None
