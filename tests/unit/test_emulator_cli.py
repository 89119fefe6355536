"""``accs-sync emulator``'s flags reach the Faults of the server it starts."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from sync.cli import build_parser, emulator_faults
from sync.emulator import Faults


def parse(*flags: str) -> Faults:
    return emulator_faults(build_parser().parse_args(["emulator", *flags]))


def test_flags_default_to_a_healthy_emulator() -> None:
    args = build_parser().parse_args(["emulator"])
    assert parse() == Faults()
    assert (args.seed, args.render_cache_mb) == (0, 256)


def test_flags_set_the_faults() -> None:
    faults = parse(
        "--latency",
        "0.05",
        "--rate-limit-rps",
        "12.5",
        "--rate-limit-burst",
        "4",
        "--error-5xx-every",
        "7",
    )
    assert faults.latency == 0.05
    assert (faults.rate_limit_rps, faults.rate_limit_burst) == (12.5, 4)
    assert faults.error_5xx_every == 7


@pytest.mark.parametrize(
    "flags",
    [
        ("--latency", "-1"),
        ("--latency", "nan"),
        ("--rate-limit-rps", "fast"),
        ("--rate-limit-burst", "0"),
        ("--error-5xx-every", "1.5"),
        ("--seed", "x"),
        ("--render-cache-mb", "-5"),
    ],
)
def test_bad_flags_are_usage_errors(
    flags: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["emulator", *flags])
    assert exited.value.code == 2
    assert flags[0] in capsys.readouterr().err


def test_a_separately_started_emulator_serves_with_its_flags(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sync",
            "emulator",
            "--port",
            "0",
            "--products",
            "40",
            "--seed",
            "7",
            "--latency",
            "0.01",
            "--rate-limit-rps",
            "50",
            "--error-5xx-every",
            "3",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (lines and lines[-1].startswith("Press")):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
        assert "40 generated products (seed 7)" in lines[0]
        assert "faults: latency=0.01, rate_limit_rps=50.0, error_5xx_every=3" in lines
        admin = next(line for line in lines if line.startswith("emulator controls: "))
        stats_url = admin.split()[2]
        faults = requests.get(stats_url.replace("/stats", "/faults"), timeout=5).json()
        assert faults["latency"] == 0.01 and faults["rate_limit_rps"] == 50.0
        assert faults["error_5xx_every"] == 3 and faults["rate_limit_burst"] is None
        assert requests.get(stats_url, timeout=5).json()["requests"] == {}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            if proc.stdout is not None:
                proc.stdout.close()
