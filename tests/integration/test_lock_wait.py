"""A run that finds another run holding the database's run lock waits for it, up to
SYNC_LOCK_WAIT_SECONDS, then exits 3 (the Kubernetes CronJobs treat that as no failure)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from sync.clock import FakeClock, SystemClock
from sync.db.engine import make_engine
from sync.db.lock import AlreadyRunning, instance_lock
from sync.db.schema import sync_runs
from sync.errors import Interrupted


@pytest.fixture
def engines(db_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one database: as two processes would have."""
    first, second = make_engine(db_url), make_engine(db_url)
    try:
        yield first, second
    finally:
        first.dispose()
        second.dispose()


def test_a_second_run_waits_for_the_first_and_then_proceeds(
    engines: tuple[Engine, Engine],
) -> None:
    first, second = engines
    holder = ExitStack()
    holder.enter_context(instance_lock(first))
    releaser = threading.Timer(0.5, holder.close)
    releaser.start()
    try:
        with instance_lock(second, wait_seconds=60, clock=SystemClock(), poll_seconds=0.1):
            got_it = True
            # The first no longer holds it: a third would be refused now.
            with pytest.raises(AlreadyRunning), instance_lock(first):
                pass
    finally:
        releaser.join()
        holder.close()
    assert got_it


def test_without_a_wait_the_busy_lock_is_exit_code_3(engines: tuple[Engine, Engine]) -> None:
    first, second = engines
    clock = FakeClock()
    with instance_lock(first):
        with pytest.raises(AlreadyRunning) as caught, instance_lock(second, clock=clock):
            pass
    assert caught.value.exit_code == 3
    assert clock.sleeps == []  # refused at once


def test_the_wait_is_bounded_and_the_message_names_the_setting(
    engines: tuple[Engine, Engine],
) -> None:
    first, second = engines
    clock = FakeClock()
    with instance_lock(first):
        with (
            pytest.raises(AlreadyRunning) as caught,
            instance_lock(second, wait_seconds=10, clock=clock, poll_seconds=1),
        ):
            pass
    assert caught.value.exit_code == 3
    assert 10 <= sum(clock.sleeps) <= 11
    assert "SYNC_LOCK_WAIT_SECONDS" in caught.value.message
    assert "10" in caught.value.message


def test_a_stop_while_waiting_ends_the_wait_at_once(engines: tuple[Engine, Engine]) -> None:
    """SIGTERM (Kubernetes' activeDeadlineSeconds, a rollout) must not wait out the bound."""
    first, second = engines
    stop = threading.Event()
    stop.set()
    clock = SystemClock(stop)
    with instance_lock(first):
        with (
            pytest.raises(Interrupted),
            instance_lock(second, wait_seconds=3600, clock=clock, poll_seconds=30, stop=stop),
        ):
            pass


# -- the command line --------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_sync_that_meets_a_running_run_waits_and_then_mirrors(
    sync_env: dict[str, str], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync.cli import main
    from sync.db.migrate import ensure_schema

    monkeypatch.setenv("SYNC_LOCK_WAIT_SECONDS", "60")
    engine = make_engine(db_url)
    holder = ExitStack()
    try:
        ensure_schema(engine)
        holder.enter_context(instance_lock(engine))
        releaser = threading.Timer(1.0, holder.close)
        releaser.start()
        try:
            assert main(["sync", "--quiet"]) == 0
        finally:
            releaser.join()
            holder.close()
        with engine.connect() as conn:
            statuses = conn.execute(sa.select(sync_runs.c.status)).scalars().all()
    finally:
        engine.dispose()
    assert statuses == ["success"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_with_no_wait_a_busy_database_is_exit_3_and_records_nothing(
    sync_env: dict[str, str],
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sync.cli import main
    from sync.db.migrate import ensure_schema

    monkeypatch.setenv("SYNC_LOCK_WAIT_SECONDS", "0")
    engine = make_engine(db_url)
    try:
        ensure_schema(engine)
        with instance_lock(engine):
            assert main(["sync"]) == 3
        with engine.connect() as conn:
            assert conn.execute(sa.select(sync_runs.c.id)).all() == []
    finally:
        engine.dispose()
    err = capsys.readouterr().err
    assert "another accs-sync run is using this database" in err
    assert "SYNC_LOCK_WAIT_SECONDS" in err


def test_the_default_wait_outlasts_a_typical_sync() -> None:
    """A sync run by hand or by cron that meets a short run waits; the bound is documented."""
    from sync.settings import Settings

    assert Settings.model_fields["sync_lock_wait_seconds"].default == 300.0


@pytest.mark.parametrize("name", ["accs-sync", "accs-sync-reconcile"])
def test_the_cronjobs_never_count_a_busy_lock_as_a_failure(name: str) -> None:
    """The sync due while the nightly reconcile runs must not turn its Job red: exit 3 is
    ignored (a new pod, not counted by backoffLimit), exit 2 fails the Job at once."""
    from tests.integration.test_deploy import manifest, pod_spec

    cronjob = manifest("CronJob", name)
    job = cronjob["spec"]["jobTemplate"]["spec"]
    actions = {
        code: rule["action"]
        for rule in job["podFailurePolicy"]["rules"]
        for code in rule["onExitCodes"]["values"]
        if rule["onExitCodes"]["operator"] == "In"
    }
    assert actions == {2: "FailJob", 3: "Ignore"}
    assert pod_spec(cronjob)["restartPolicy"] == "Never"  # podFailurePolicy needs it
    wait = float(manifest("ConfigMap", "accs-sync")["data"]["SYNC_LOCK_WAIT_SECONDS"])
    # Each pod waits long enough not to churn, and well inside the Job's deadline.
    assert 300 <= wait < job["activeDeadlineSeconds"]
