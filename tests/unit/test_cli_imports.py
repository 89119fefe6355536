"""``accs-sync --help`` answers fast because ``sync.cli`` imports a command's modules inside the
command: a guard that fails when someone adds a heavy top-level import back (issue 15: help in
under 0.3 s, ``status`` in under 0.5 s; ``bench/startup.py`` measures them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sync import names
from sync.cli import RESOURCE_NAMES, build_parser
from sync.db.engine import make_engine
from sync.db.migrate import ensure_schema
from sync.resources import resource_names

#: What argparse's help needs none of: the HTTP client, the database toolkit and migrations,
#: the metrics, the scheduler and the settings' validation.
HEAVY = ("requests", "sqlalchemy", "alembic", "prometheus_client", "apscheduler", "pydantic")


def loaded_after(code: str) -> list[str]:
    """The heavy top-level packages in ``sys.modules`` after running ``code`` in a fresh
    interpreter."""
    script = f"import sys\n{code}\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return [name for name in done.stdout.strip().split(",") if name]


def test_importing_the_command_line_loads_no_heavy_package() -> None:
    assert loaded_after("import sync.cli") == []


@pytest.mark.parametrize("argv", [["--help"], ["sync", "--help"], ["status", "--help"]])
def test_help_loads_no_heavy_package(argv: list[str]) -> None:
    code = (
        "import contextlib, io\n"
        "from sync.cli import build_parser\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    build_parser().parse_args({argv!r})"
    )
    assert loaded_after(code) == []


def test_a_run_loads_the_scheduler_only_for_the_daemon() -> None:
    """``sync``/``backfill``/``reconcile`` install the stop signals from :mod:`sync.scheduler`,
    which imports APScheduler only where a schedule is parsed or a daemon built."""
    assert "apscheduler" not in loaded_after("from sync.scheduler import install_stop_signals")
    daemon = "from sync.scheduler import parse_schedule\nparse_schedule('15m')"
    assert "apscheduler" in loaded_after(daemon)


def test_a_run_starts_its_token_request_before_importing_the_engine() -> None:
    """``sync.tokens`` (what a run starts first, right after the settings) needs the HTTP
    client, not the engine's database toolkit, the migrations, the metrics or the scheduler,
    so the token request is on the wire while those are imported."""
    assert set(loaded_after("import sync.tokens")) <= {"requests", "pydantic"}


def test_a_backfill_sends_its_probes_before_importing_the_engine() -> None:
    """``sync.accs_side`` (what a backfill starts right after the token: its products' probes)
    needs the API layer, not the engine's database toolkit or the metrics."""
    assert set(loaded_after("import sync.accs_side")) <= {"requests", "pydantic"}


def test_the_settings_load_without_the_database_toolkit() -> None:
    """A run loads its settings first, then starts its token request (:mod:`sync.tokens`),
    then imports SQLAlchemy and the engine: the settings name the resources without
    :mod:`sync.resources` (whose tables import SQLAlchemy)."""
    assert "sqlalchemy" not in loaded_after("import sync.settings")
    assert names.RESOURCE_NAMES == resource_names()


def test_the_resource_choices_are_every_resource() -> None:
    """``--resource`` lists the names without importing :mod:`sync.resources` (its tables pull
    in SQLAlchemy); they must stay the names SYNC_RESOURCES accepts."""
    assert RESOURCE_NAMES == resource_names()
    for name in resource_names():
        assert build_parser().parse_args(["sync", "--resource", name]).resource == [name]


def test_status_needs_no_http_client_nor_alembic(tmp_path: Path) -> None:
    """``status`` reads the database (SQLAlchemy, the settings' pydantic) and compares its
    revision with the shipped ones, which it reads without Alembic (issue 15: under 0.5 s)."""
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    engine = make_engine(url)
    try:
        ensure_schema(engine)
    finally:
        engine.dispose()
    code = (
        "import contextlib, io\n"
        "from sync.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    assert main(['status', '--database-url', {url!r}]) == 0\n"
        "assert 'schema revision' in out.getvalue(), out.getvalue()"
    )
    loaded = loaded_after(code)
    assert "alembic" not in loaded and "requests" not in loaded, loaded


def test_the_shipped_revisions_are_alembics() -> None:
    from alembic.script import ScriptDirectory

    from sync.db.migrate import alembic_config, head_revision, known_revision

    script = ScriptDirectory.from_config(alembic_config())
    assert head_revision() == script.get_current_head()
    for revision in script.walk_revisions():
        assert known_revision(revision.revision)
    assert not known_revision("9999") and not known_revision("")
