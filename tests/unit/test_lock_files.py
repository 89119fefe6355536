"""Lock files never follow a symbolic link, and one SQLite file has one run lock however it is
reached."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.api.token_store import FileTokenStore, StoredToken
from sync.db.engine import make_engine
from sync.db.lock import AlreadyRunning, instance_lock
from sync.errors import ConfigError
from sync.metrics import Metrics
from sync.textfile import write_metrics_file


def plant_link(lock: Path, tmp_path: Path) -> Path:
    """A link at ``lock`` to a file that does not exist yet (somewhere an attacker wants one)."""
    target = tmp_path / "elsewhere" / "victim"
    target.parent.mkdir()
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.symlink_to(target)
    return target


def test_the_sqlite_run_lock_refuses_a_symlink(tmp_path: Path) -> None:
    database = tmp_path / "mirror.db"
    target = plant_link(tmp_path / "mirror.db.lock", tmp_path)
    engine = make_engine(f"sqlite:///{database}")
    try:
        with pytest.raises(ConfigError, match="symbolic link") as caught, instance_lock(engine):
            pass
    finally:
        engine.dispose()
    assert str(tmp_path / "mirror.db.lock") in caught.value.message
    assert not target.exists()


def test_the_metrics_file_lock_refuses_a_symlink(tmp_path: Path) -> None:
    path = tmp_path / "textfile" / "accs_sync.prom"
    target = plant_link(path.with_name(".accs_sync.prom.lock"), tmp_path)
    with pytest.raises(ConfigError, match="symbolic link") as caught:
        write_metrics_file(path, Metrics().registry)
    assert str(path.with_name(".accs_sync.prom.lock")) in caught.value.message
    assert not target.exists() and not path.exists()


def test_the_token_cache_lock_refuses_a_symlink(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "tokens.json"
    target = plant_link(tmp_path / "cache" / "tokens.json.lock", tmp_path)
    store = FileTokenStore(path)
    with pytest.raises(ConfigError, match="symbolic link") as caught:
        store.save("k", StoredToken(access_token="eyJ-secret", refresh_at=1.0))
    assert str(path) + ".lock" in caught.value.message
    assert not target.exists() and not path.exists()


@pytest.mark.parametrize("linked", ["directory", "file"])
def test_one_sqlite_file_reached_through_a_symlink_has_one_run_lock(
    tmp_path: Path, linked: str
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "mirror.db").touch()
    other = tmp_path / "other"
    if linked == "directory":
        other.symlink_to(real, target_is_directory=True)
    else:
        other.mkdir()
        (other / "mirror.db").symlink_to(real / "mirror.db")
    first = make_engine(f"sqlite:///{real / 'mirror.db'}")
    second = make_engine(f"sqlite:///{other / 'mirror.db'}")
    try:
        with instance_lock(first):
            with pytest.raises(AlreadyRunning), instance_lock(second):
                pass
        with instance_lock(second):  # free again once the first has finished
            pass
    finally:
        first.dispose()
        second.dispose()
