"""A run collects garbage only when objects really pile up, not on every decoded page.

CPython's collector starts a pass after 700 more container allocations than deallocations;
one decoded page of 300 products holds about 7,500 dicts and lists at once, so a 20,000-product
backfill ran some 1,400 passes, a dozen of them over every object the process holds (the
imported modules included): 0.6 CPU-s of a 4 CPU-s run, for garbage that reference counting
frees anyway.
"""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from sync.collector import fewer_collections


def collections_during(work: Callable[[], Any]) -> int:
    """How many collector passes started while ``work`` ran."""
    started = 0

    def count(phase: str, info: dict[str, int]) -> None:
        nonlocal started
        if phase == "start":
            started += 1

    gc.callbacks.append(count)
    try:
        work()
    finally:
        gc.callbacks.remove(count)
    return started


def decoded_page() -> list[dict[str, Any]]:
    """What one decoded page of products holds at once: thousands of small dicts and lists."""
    return [
        {"id": i, "extension_attributes": {"links": [{"id": str(i)}]}, "custom": [{"v": i}]}
        for i in range(300 * 8)
    ]


def test_a_decoded_page_starts_collector_passes_under_the_default_policy() -> None:
    gc.collect()
    assert collections_during(decoded_page) > 0


def test_a_decoded_page_starts_no_collector_pass_during_a_run() -> None:
    gc.collect()
    with fewer_collections():
        assert collections_during(decoded_page) == 0


def test_the_policy_is_restored_after_the_run_even_when_it_fails() -> None:
    before = gc.get_threshold()
    try:
        with fewer_collections():
            assert gc.get_threshold() != before
            raise RuntimeError("the run failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before


def test_the_collector_still_runs_when_objects_pile_up_during_a_run() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    gc.collect()
    with fewer_collections():
        # Far more objects kept than a page holds (each with a cycle): passes still start.
        assert collections_during(lambda: [Node() for _ in range(120_000)] and None) > 0


def test_the_accs_sync_process_leaves_what_is_alive_to_its_exit() -> None:
    # The interpreter's collections at exit would walk every object of the run (the imported
    # libraries, the engine, the pools: 0.15 CPU-s after a backfill) only to free memory the
    # ending process gives back anyway.
    from sync.cli import entry

    assert gc.get_freeze_count() == 0
    try:
        with pytest.raises(SystemExit):
            entry(["--version"])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_main_as_tests_call_it_in_process_freezes_nothing() -> None:
    from sync.cli import main

    with pytest.raises(SystemExit):
        main(["--version"])
    assert gc.get_freeze_count() == 0


def test_python_dash_m_sync_is_the_same_process_entry() -> None:
    probe = (
        "import atexit, gc, runpy, sys\n"
        "atexit.register(lambda: print('frozen' if gc.get_freeze_count() else 'not frozen'))\n"
        "sys.argv = ['accs-sync', '--version']\n"
        "runpy.run_module('sync', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "frozen"


def test_a_run_is_set_up_without_collections_and_its_set_up_is_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Imports, settings, engine and app: some 600,000 objects that live as long as the process.
    # Collector passes over them cost 25 ms of a 0.45 s start, and every later full pass would
    # walk them again; in the accs-sync process the set-up runs with the collector off and
    # what it leaves alive is frozen.
    import argparse

    from sync import cli_run, collector
    from sync.redact import SecretFilter

    class Stop(Exception):
        pass

    seen: list[bool] = []

    def set_up(args: Any, secrets: Any) -> Any:
        seen.append(gc.isenabled())
        raise Stop

    monkeypatch.setattr(cli_run, "_set_up", set_up)
    monkeypatch.setattr(collector, "_process", True)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    try:
        with pytest.raises(Stop):
            cli_run.cmd_run(argparse.Namespace(command="backfill"), SecretFilter())
        assert seen == [False]
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_set_up_in_process_as_tests_run_it_keeps_the_collector_on() -> None:
    from sync.collector import setting_up

    with setting_up():
        assert gc.isenabled()
    assert gc.get_freeze_count() == 0
