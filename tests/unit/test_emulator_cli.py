"""``accs-sync emulator``'s flags reach the Faults of the server it starts."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sync.cli import build_parser
from sync.emulator import Catalog, EmulatorServer, Faults
from sync.emulator.cli_args import emulator_faults
from sync.emulator.server import advertised_url


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


@contextlib.contextmanager
def running_emulator(cwd: Path, *flags: str) -> Iterator[list[str]]:
    """``accs-sync emulator`` in its own process; yields what it printed up to "Press
    Ctrl-C", then stops it with SIGTERM and checks it exits 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync", "emulator", "--port", "0", *flags],
        cwd=cwd,
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
        yield lines
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            if proc.stdout is not None:
                proc.stdout.close()


def test_a_separately_started_emulator_serves_with_its_flags(tmp_path: Path) -> None:
    flags = ("--products", "40", "--seed", "7", "--latency", "0.01")
    more = ("--rate-limit-rps", "50", "--error-5xx-every", "3")
    with running_emulator(tmp_path, *flags, *more) as lines:
        assert "40 generated products (seed 7)" in lines[0]
        assert "faults: latency=0.01, rate_limit_rps=50.0, error_5xx_every=3" in lines
        admin = next(line for line in lines if line.startswith("emulator controls: "))
        stats_url = admin.split()[2]
        faults = requests.get(stats_url.replace("/stats", "/faults"), timeout=5).json()
        assert faults["latency"] == 0.01 and faults["rate_limit_rps"] == 50.0
        assert faults["error_5xx_every"] == 3 and faults["rate_limit_burst"] is None
        assert requests.get(stats_url, timeout=5).json()["requests"] == {}


def test_stores_flag_serves_those_store_views(tmp_path: Path) -> None:
    with running_emulator(tmp_path, "--products", "5", "--stores", "fr,de") as lines:
        assert "store views: default, fr, de" in lines


def test_a_multi_store_emulator_refuses_other_stores_like_magento() -> None:
    from sync.emulator import serve_forever

    answers: dict[str, tuple[int, Any]] = {}
    stop = threading.Event()

    def on_ready(server: EmulatorServer) -> None:
        headers = {**server.headers, "Authorization": f"Bearer {server.issue_token()}"}
        url = f"{server.api_endpoint}/V1/categories/list"
        for store in ("fr", "de", "es"):
            answer = requests.get(
                url, headers={**headers, "Store": store}, params={"searchCriteria": ""}, timeout=5
            )
            answers[store] = (answer.status_code, answer.json())
        stop.set()

    lines: list[str] = []
    serve_forever(
        port=0,
        products=5,
        stores=("fr", "de"),
        print_fn=lines.append,
        stop_event=stop,
        on_ready=on_ready,
    )
    names = {
        store: {c["id"]: c["name"] for c in answers[store][1]["items"]} for store in ("fr", "de")
    }
    assert (names["fr"][11], names["de"][11]) == ("Hommes", "Herren")
    assert answers["es"] == (
        400,
        {"message": "The store that was requested wasn't found. Verify the store and try again."},
    )


def test_stores_flag_is_parsed_as_store_view_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["emulator"]).stores == ()
    parsed = build_parser().parse_args(["emulator", "--stores", " fr, de,fr,default"])
    assert parsed.stores == ("fr", "de")
    for bad in ("fr,d e", "1fr", "fr;de", "x" * 33):
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args(["emulator", "--stores", bad])
        assert exited.value.code == 2
        assert "--stores" in capsys.readouterr().err


def test_stores_reach_a_csv_catalog_too(tmp_path: Path) -> None:
    from sync.emulator import build_catalog

    csv = tmp_path / "products.csv"
    csv.write_text("sku,name,price,store_view_code\nA-1,One,1,\nA-1,Un,,fr\n")
    assert build_catalog(catalog_file=str(csv), stores=("de",)).stores == ("default", "de", "fr")
    assert build_catalog(3, stores=("es",)).stores == ("default", "es")


def test_a_busy_port_is_one_line_naming_it_and_the_flag(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "sync", "emulator", "--port", str(port), "--products", "3"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(port) in lines[0] and "--port" in lines[0] and "in use" in lines[0]


def test_host_defaults_to_loopback_and_its_help_warns(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["emulator"])
    assert (args.host, args.public_url) == ("127.0.0.1", None)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["emulator", "--help"])
    assert "credential-less test server" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("url", ["emulator:8080", "ftp://emulator", "http://emulator:8080/t"])
def test_public_url_must_be_a_base_url(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["emulator", "--public-url", url])
    assert exited.value.code == 2
    assert "--public-url" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "public_url", "expected"),
    [
        ("127.0.0.1", None, "http://127.0.0.1:8080"),
        ("0.0.0.0", None, "http://127.0.0.1:8080"),  # noqa: S104 - only a string here
        ("::", None, "http://[::1]:8080"),
        ("::1", None, "http://[::1]:8080"),
        ("0.0.0.0", "http://emulator:8080/", "http://emulator:8080"),  # noqa: S104
        ("emulator", None, "http://emulator:8080"),
    ],
)
def test_the_advertised_url_is_one_a_client_can_connect_to(
    host: str, public_url: str | None, expected: str
) -> None:
    assert advertised_url(host, 8080, public_url) == expected


def test_with_a_public_url_the_exports_use_it_and_opt_in_to_plain_http() -> None:
    """As in compose.yaml, whose emulator is reached as http://emulator:8080 (here it still
    listens on loopback: tests stay off the network)."""
    from sync.emulator import serve_forever

    lines: list[str] = []
    stop = threading.Event()
    served: list[int] = []

    def on_ready(server: EmulatorServer) -> None:
        url = f"http://{server.bound_address}/_emulator/stats"
        served.append(requests.get(url, timeout=5).status_code)
        stop.set()

    serve_forever(
        port=0,
        products=5,
        public_url="http://emulator:8080/",
        print_fn=lines.append,
        stop_event=stop,
        on_ready=on_ready,
    )
    assert served == [200]
    assert lines[0].startswith("ACCS emulator listening on 127.0.0.1:")
    assert not any("without credentials" in line for line in lines)
    assert "export API_ENDPOINT=http://emulator:8080/demo-tenant" in lines
    assert "export IMS_TOKEN_URL=http://emulator:8080/ims/token/v3" in lines
    assert "export SYNC_ALLOW_INSECURE_HTTP=true" in lines


def test_on_loopback_nothing_changes() -> None:
    from sync.emulator import serve_forever

    lines: list[str] = []
    stop = threading.Event()
    serve_forever(
        port=0, products=5, print_fn=lines.append, stop_event=stop, on_ready=lambda _: stop.set()
    )
    assert lines[0].startswith("ACCS emulator listening on 127.0.0.1:")
    assert not any("SYNC_ALLOW_INSECURE_HTTP" in line for line in lines)
    assert any(line.startswith("export API_ENDPOINT=http://127.0.0.1:") for line in lines)


def test_a_host_other_than_loopback_is_flagged() -> None:
    # Never started: only the flag is checked, nothing listens beyond loopback in tests.
    assert not EmulatorServer(Catalog.generate(1), host="0.0.0.0").is_loopback_only  # noqa: S104
    assert EmulatorServer(Catalog.generate(1), host="::1").is_loopback_only


def test_it_serves_on_ipv6_loopback() -> None:
    try:
        server = EmulatorServer(Catalog.generate(3), host="::1").start()
    except OSError as exc:  # IPv6 disabled in this kernel
        pytest.skip(f"cannot bind [::1]: {exc}")
    try:
        assert server.base_url == f"http://[::1]:{server.port}"
        assert server.reached_over_loopback
        assert requests.get(f"{server.base_url}/_emulator/stats", timeout=5).status_code == 200
    finally:
        server.stop()
