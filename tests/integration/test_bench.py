"""The throughput benchmark's yardstick and harness (``bench/``), against a real emulator.

The reference client must mirror a faulty catalog completely, or its figures would flatter
accs-sync; the harness must report a failing child with its stderr and never leave one behind.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest
import requests

from bench._harness import (
    ChildFailed,
    Emulator,
    EmulatorStats,
    child_env,
    compile_package,
    run_child,
)
from sync.emulator import Catalog, EmulatorServer
from sync.settings import DEFAULT_SCOPES

pytestmark = pytest.mark.integration

REFERENCE = Path(__file__).resolve().parents[2] / "bench" / "reference_client.py"


def test_reference_client_mirrors_every_product_through_429s_and_503s(tmp_path: Path) -> None:
    catalog = Catalog.generate(1000, seed=3)
    db = tmp_path / "reference.db"
    with EmulatorServer(catalog) as emulator:
        emulator.faults.rate_limit_every = 4  # Retry-After: 1
        emulator.faults.error_5xx_every = 3
        env = child_env({**emulator.credentials, "IMS_SCOPES": DEFAULT_SCOPES})
        run = run_child(
            [sys.executable, str(REFERENCE), str(db)], env, label="reference client", cwd=tmp_path
        ).check()
        assert emulator.stats.rate_limited >= 1
        assert emulator.stats.server_errors >= 1
    assert run.stdout.strip() == "1000 products in 4 pages"
    assert run.seconds > 0 and run.cpu_seconds > 0 and run.peak_rss_kib > 0
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, sku, data FROM products ORDER BY id").fetchall()
    assert [r[0] for r in rows] == sorted(catalog.ids())
    first = catalog.item(rows[0][0])
    assert first is not None and json.loads(rows[0][2])["sku"] == rows[0][1] == first["sku"]


def test_a_failing_child_is_reported_with_its_stderr(tmp_path: Path) -> None:
    code = "import sys; sys.stderr.write('the reason\\n'); sys.exit(3)"
    run = run_child([sys.executable, "-c", code], child_env(), label="child", cwd=tmp_path)
    assert run.returncode == 3
    with pytest.raises(ChildFailed, match=r"(?s)child failed with exit code 3.*the reason"):
        run.check()


def test_a_hung_child_is_killed_at_its_timeout(tmp_path: Path) -> None:
    code = "import time; time.sleep(60)"
    run = run_child([sys.executable, "-c", code], child_env(), label="child", timeout=0.5)
    assert run.returncode == -9
    assert run.seconds < 10


def test_the_emulator_process_serves_and_is_gone_after_stop(tmp_path: Path) -> None:
    with Emulator(50, tmp_path) as emulator:
        pid = emulator.pid
        assert emulator.base_url.startswith("http://127.0.0.1:")
        answer = requests.get(emulator.base_url + "/", timeout=10)
        assert answer.status_code == 200
        cpu = emulator.cpu_seconds()
        assert cpu is not None and cpu > 0
    assert not Path(f"/proc/{pid}").exists()


def test_emulator_stats_accept_status_codes_as_strings_or_numbers() -> None:
    stats = EmulatorStats.from_json(
        {
            "tokens_issued": 1,
            "requests": {"list": 67, "item": 2, "token": 1},
            "statuses": {"200": 60, 429: 3, "503": 6},
            "max_in_flight": 4,
        }
    )
    assert stats.api_requests == 69
    assert stats.statuses == {200: 60, 429: 3, 503: 6}
    assert (stats.rate_limited, stats.server_errors, stats.max_in_flight) == (3, 6, 4)


def test_the_startup_bench_prints_each_command_as_a_ratio_to_a_bare_python(
    tmp_path: Path,
) -> None:
    script = REFERENCE.parent / "startup.py"
    run = run_child(
        [sys.executable, str(script), "--runs", "1"], child_env(), label="startup", cwd=tmp_path
    ).check()
    lines = run.stdout.splitlines()
    assert lines[0].startswith("python -c pass: ")
    labels = [line.split(":")[0] for line in lines[1:]]
    assert labels == ["accs-sync --help", "accs-sync status", "accs-sync sync --help"]
    for line in lines[1:]:
        assert "x python -c pass" in line and "CPU-s" in line
    assert "target < 0.3s" in lines[1] and "target < 0.5s" in lines[2]


def test_the_children_run_the_package_from_its_bytecode_as_an_installed_one_does(
    tmp_path: Path,
) -> None:
    """With PYTHONDONTWRITEBYTECODE=1 (CI, this machine) nothing writes the package's bytecode,
    and every child would compile it again; an installed accs-sync has it (pip compiles)."""
    import importlib.util

    for name in ("sync", "migrations"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "mod.py").write_text("VALUE = 1\n")
    compile_package(tmp_path)
    for name in ("sync", "migrations"):
        assert Path(importlib.util.cache_from_source(str(tmp_path / name / "mod.py"))).is_file()
