"""What the benchmarks share: the emulator in its own process, and child runs measured by wait4.

Every child starts in a session (process group) of its own, so a Ctrl-C in the terminal
interrupts only the benchmark, which then stops each child's whole group itself (SIGTERM, then
SIGKILL after a grace period): no emulator or sync outlives the benchmark, whether it ends
normally, fails, or is interrupted.

Children get the environment without the caller's ``IMS_*``, ``SYNC_*``, ``API_*``,
``DATABASE_*`` and ``ACCS_SYNC*`` variables and run in a scratch directory (no ``.env``), so a
developer's own settings never leak into the figures.
"""

from __future__ import annotations

import compileall
import functools
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any

import requests
import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from sync.db.engine import normalize_url

__all__ = [
    "CLI",
    "ChildFailed",
    "ChildResult",
    "Emulator",
    "EmulatorStats",
    "EmulatorUnsupported",
    "child_env",
    "compile_package",
    "interrupt_on_sigterm",
    "process_cpu_seconds",
    "run_child",
]

CLI = [sys.executable, "-m", "sync"]
_OWN_SETTINGS = ("IMS_", "SYNC_", "API_", "DATABASE_", "ACCS_SYNC")
_STOP_GRACE = 30.0  # seconds a child gets between SIGTERM and SIGKILL


class ChildFailed(RuntimeError):
    """A child exited non-zero (or never became ready); the message ends with its stderr tail."""


class EmulatorUnsupported(RuntimeError):
    """The installed ``accs-sync emulator`` does not know a flag a scenario needs."""


#: The checkout the benchmarks run from.
REPO = Path(__file__).resolve().parents[1]


@functools.cache
def compile_package(root: Path = REPO) -> None:
    """Write the bytecode of accs-sync's own modules (``sync/``, ``migrations/``) once, as an
    installed package has it (pip compiles at install; the Docker image too). A checkout run
    with ``PYTHONDONTWRITEBYTECODE=1`` (this project's CI and dev machines) never writes it, so
    every child would compile some 18,000 lines again: 0.08-0.1 CPU-s a start that no deployed
    accs-sync pays, and that the reference client (a script over stdlib and site-packages,
    compiled already) does not pay either."""
    for name in ("sync", "migrations"):
        compileall.compile_dir(root / name, quiet=1)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment minus accs-sync's settings, plus ``extra``. Runs mirror
    products only unless ``extra`` says otherwise: the product benchmarks' figures stay
    comparable with those taken before categories and source items were mirrored too
    (``bench/resources.py`` measures those). The package's bytecode is written first
    (:func:`compile_package`)."""
    compile_package()
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_OWN_SETTINGS)}
    env["PYTHONUNBUFFERED"] = "1"
    env["SYNC_RESOURCES"] = "products"
    env.update(extra or {})
    return env


def interrupt_on_sigterm() -> None:
    """Make SIGTERM (``kill``, a CI job's timeout) stop the benchmark as Ctrl-C does, so the
    ``finally`` blocks that stop its children run."""

    def handle(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handle)


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines()[-lines:])


def _stop_group(proc: subprocess.Popen[Any], grace: float = _STOP_GRACE) -> None:
    """SIGTERM the child's process group, SIGKILL it if it outlives ``grace``; reap the child.

    A second Ctrl-C while waiting skips the grace period rather than leaving the child behind.
    """
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise


def process_cpu_seconds(pid: int) -> float | None:
    """user + system CPU seconds of a live process (all its threads), from /proc; None off Linux."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its last ")".
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


# -- one measured child ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildResult:
    """How one child ran: wall seconds (perf_counter), CPU seconds and peak RSS from wait4."""

    label: str
    returncode: int
    seconds: float
    cpu_seconds: float
    peak_rss_kib: int
    stdout: str
    stderr: str

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_kib / 1024

    def check(self) -> ChildResult:
        """Self when the child exited 0; else :class:`ChildFailed` with its stderr tail."""
        if self.returncode != 0:
            raise ChildFailed(
                f"{self.label} failed with exit code {self.returncode}; its stderr ends:\n"
                + (_tail(self.stderr) or "    (empty)")
            )
        return self


def run_child(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    label: str,
    cwd: Path | None = None,
    timeout: float = 3600.0,
) -> ChildResult:
    """Run ``argv`` to completion in its own process group and measure it.

    Wall time covers start to reap; ``ru_maxrss`` and CPU times come from ``wait4`` (Linux
    reports KiB). After ``timeout`` seconds the group is killed (the result then shows
    ``-SIGKILL`` as its exit code). On Ctrl-C or any error the group is stopped before re-raising.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        lock = threading.Lock()
        exited = False

        def expire() -> None:
            with lock:  # never signal a pid that has been reaped (and might be reused)
                if not exited:
                    os.killpg(proc.pid, signal.SIGKILL)

        watchdog = threading.Timer(timeout, expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            # Wait without reaping, so the watchdog can still signal the (zombie) group safely.
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            seconds = time.perf_counter() - started
            with lock:
                exited = True
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            watchdog.cancel()
            _stop_group(proc)
            raise
        watchdog.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        return ChildResult(
            label=label,
            returncode=proc.returncode,
            seconds=seconds,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            peak_rss_kib=usage.ru_maxrss,
            stdout=_read(out),
            stderr=_read(err),
        )


def _read(file: IO[str]) -> str:
    file.seek(0)
    return file.read()


# -- the emulator ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmulatorStats:
    """``GET /_emulator/stats``: what the emulator was asked and answered since the last reset."""

    tokens_issued: int
    requests: dict[str, int]
    statuses: dict[int, int]
    max_in_flight: int | None
    rate_limited: int
    server_errors: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EmulatorStats:
        # JSON object keys are strings; accept status codes written either way.
        statuses = {int(code): int(n) for code, n in dict(data.get("statuses") or {}).items()}
        requests_ = {str(kind): int(n) for kind, n in dict(data.get("requests") or {}).items()}
        in_flight = data.get("max_in_flight")
        return cls(
            tokens_issued=int(data.get("tokens_issued") or 0),
            requests=requests_,
            statuses=statuses,
            max_in_flight=None if in_flight is None else int(in_flight),
            rate_limited=int(data.get("rate_limited", statuses.get(429, 0))),
            server_errors=int(
                data.get("server_errors", sum(n for c, n in statuses.items() if c >= 500))
            ),
        )

    @property
    def api_requests(self) -> int:
        """ACCS requests (product lists and single products); token requests excluded."""
        return self.requests.get("list", 0) + self.requests.get("item", 0)


class Emulator:
    """``accs-sync emulator`` serving ``products`` generated products, in its own process.

    Only flags that differ from a healthy emulator are passed, so a scenario without faults
    runs on an emulator that does not know the fault flags yet; a scenario that needs one it
    lacks raises :class:`EmulatorUnsupported`. Use as a context manager (stops on exit).
    """

    def __init__(
        self,
        products: int,
        workdir: Path,
        *,
        latency: float = 0.0,
        rate_limit_rps: float | None = None,
        error_5xx_every: int | None = None,
        startup_timeout: float = 600.0,
    ) -> None:
        self.products = products
        self.argv = [*CLI, "emulator", "--port", "0", "--products", str(products)]
        self.argv += ["--log-level", "WARNING"]
        if latency:
            self.argv += ["--latency", f"{latency:g}"]
        if rate_limit_rps:
            self.argv += ["--rate-limit-rps", f"{rate_limit_rps:g}"]
        if error_5xx_every:
            self.argv += ["--error-5xx-every", str(error_5xx_every)]
        self._workdir = workdir
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self.exports: dict[str, str] = {}
        self.stats_supported: bool | None = None  # None: not asked yet
        self._http = requests.Session()

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the emulator is not running")
        return self._proc.pid

    @property
    def base_url(self) -> str:
        """``API_ENDPOINT`` without its ``/<tenant>``: where the admin endpoints live."""
        return self.exports["API_ENDPOINT"].rstrip("/").rsplit("/", 1)[0]

    def start(self) -> None:
        out_path = self._workdir / f"emulator-{os.getpid()}-{id(self)}.out"
        err_path = out_path.with_suffix(".err")
        with out_path.open("wb") as out, err_path.open("wb") as err:
            self._proc = subprocess.Popen(
                self.argv,
                env=child_env(),
                cwd=self._workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        try:
            self._wait_ready(out_path, err_path)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, out_path: Path, err_path: Path) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self._startup_timeout
        while True:
            text = out_path.read_text(errors="replace")
            if "Press Ctrl-C" in text:
                break
            code = self._proc.poll()
            if code is not None:
                stderr = err_path.read_text(errors="replace")
                unknown = [ln for ln in stderr.splitlines() if "unrecognized arguments" in ln]
                if code == 2 and unknown:
                    flags = unknown[-1].split("unrecognized arguments:", 1)[1].strip()
                    raise EmulatorUnsupported(
                        f"this accs-sync emulator does not support {flags} yet"
                    )
                raise ChildFailed(
                    f"accs-sync emulator exited with code {code} before it was ready; "
                    f"its stderr ends:\n{_tail(stderr) or '    (empty)'}"
                )
            if time.monotonic() > deadline:
                raise ChildFailed(
                    f"accs-sync emulator ({self.products} products) was not ready after "
                    f"{self._startup_timeout:.0f}s"
                )
            time.sleep(0.1)
        for line in text.splitlines():
            if line.startswith("export "):
                name, _, value = line[7:].strip().partition("=")
                self.exports[name] = value.strip("'")
        if "API_ENDPOINT" not in self.exports:
            raise ChildFailed("accs-sync emulator printed no export API_ENDPOINT line")

    def stop(self) -> None:
        """Stop the emulator's process group. Safe to call twice."""
        self._http.close()
        if self._proc is not None:
            _stop_group(self._proc)
            self._proc = None

    def cpu_seconds(self) -> float | None:
        """CPU seconds the emulator process has used so far (None off Linux)."""
        return process_cpu_seconds(self.pid)

    def stats(self) -> EmulatorStats | None:
        """The admin endpoint's counters; None when this emulator has no such endpoint."""
        if self.stats_supported is False:
            return None
        response = self._http.get(f"{self.base_url}/_emulator/stats", timeout=30)
        data = _json_or_none(response)
        self.stats_supported = isinstance(data, dict) and "requests" in data
        return EmulatorStats.from_json(data) if self.stats_supported else None

    def reset_stats(self) -> bool:
        """Zero the emulator's counters; False when this emulator cannot."""
        if self.stats_supported is False:
            return False
        response = self._http.post(f"{self.base_url}/_emulator/stats/reset", timeout=30)
        if response.status_code >= 400:
            self.stats_supported = False
            return False
        return True


def _json_or_none(response: requests.Response) -> Any:
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None


LOCAL_SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}


@contextmanager
def scratch_database(database: str, label: str, workdir: Path) -> Iterator[str]:
    """A ``DATABASE_URL`` for an empty database of the kind ``database`` names."""
    if database == "sqlite":
        yield f"sqlite:///{workdir / f'bench-{label}.db'}"
        return
    server: URL = normalize_url(LOCAL_SERVERS.get(database, database))
    if server.get_backend_name() == "sqlite":
        yield server.render_as_string(hide_password=False)
        return
    name = f"accs_sync_bench_{label}_{secrets.token_hex(3)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    postgres = server.get_backend_name() == "postgresql"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            force = " WITH (FORCE)" if postgres else ""
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        admin.dispose()
