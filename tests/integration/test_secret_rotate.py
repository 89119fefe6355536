"""``accs-sync secret rotate`` against the emulator's I/O Management API (issue 18).

Every process reads IMS_CLIENT_SECRET_FILE at each mint (and IMS_CLIENT_SECRET_NEXT_FILE on
invalid_client): after each test, and after each step that fails, a process started from the
same settings still mints; no secret value appears in the output, the logs or the audit.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from sync.api.token_store import MemoryTokenStore
from sync.app import build_ims_session, build_token_provider
from sync.cli import main
from sync.clock import SystemClock
from sync.emulator import Catalog, EmulatorServer
from sync.errors import ConfigError
from sync.redact import SecretFilter
from sync.settings import load_settings
from tests.integration.processes import clean_env, daemon_process

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ORIGINAL = "p8e-DEMO-not-a-real-secret"  # the emulator's secret, in IMS_CLIENT_SECRET_FILE


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(Catalog.generate(20, seed=3)) as server:
        yield server


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, tmp_path: Path
) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith(("IMS_", "SYNC_", "API_", "DATABASE_", "ACCS_SYNC", "IO_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    for folder in ("primary", "next"):
        (tmp_path / folder).mkdir()
    secret = emulator.credentials["IMS_CLIENT_SECRET"]
    (tmp_path / "primary" / "secret").write_text(secret + "\n")
    values = {
        **{k: v for k, v in emulator.credentials.items() if k != "IMS_CLIENT_SECRET"},
        "IMS_CLIENT_SECRET_FILE": str(tmp_path / "primary" / "secret"),
        "IMS_CLIENT_SECRET_NEXT_FILE": str(tmp_path / "next" / "secret"),
        "IMS_CREDENTIAL_ID": emulator.credential_id,
        "IO_MANAGEMENT_API_URL": emulator.base_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'mirror.db'}",
        "SYNC_TOKEN_CACHE": str(tmp_path / "cache" / "tokens.json"),
        "SYNC_PAGE_SIZE": "100",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def mints_with_the_settings() -> bool:
    """A new process's first mint, from the settings as they are now (no cached token)."""
    settings = load_settings()
    with build_ims_session(settings) as session:
        provider = build_token_provider(settings, session, SystemClock(), SecretFilter())
        provider.store = MemoryTokenStore()
        return bool(provider.get_token())


def rotate(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str, str]:
    code = main(["secret", "rotate", *flags])
    out, err = capsys.readouterr()
    return code, out, err


def audit_rows(env: dict[str, str]) -> list[str]:
    """The details of the auth audit's ``rotation`` rows."""
    engine = sa.create_engine(env["DATABASE_URL"])
    query = sa.text("SELECT detail FROM sync_auth_events WHERE event = 'rotation' ORDER BY id")
    try:
        with engine.connect() as conn:
            return [row.detail for row in conn.execute(query)]
    finally:
        engine.dispose()


def assert_nothing_secret(emulator: EmulatorServer, *texts: str) -> None:
    for value in [ORIGINAL, *emulator.app.client_secrets]:
        for text in texts:
            assert value not in text


def test_rotate_creates_proves_promotes_and_deletes_the_old_secret(
    env: dict[str, str], emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = rotate(capsys, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["status"] == "done"
    assert [s["name"] for s in report["steps"]] == [
        "list",
        "create",
        "write",
        "prove",
        "promote",
        "delete",
    ]
    (new,) = emulator.app.client_secrets
    assert new != ORIGINAL
    primary = Path(env["IMS_CLIENT_SECRET_FILE"])
    assert primary.read_text().strip() == new
    assert Path(env["IMS_CLIENT_SECRET_NEXT_FILE"]).read_text().strip() == new
    assert oct(primary.stat().st_mode & 0o777) == "0o600"
    assert mints_with_the_settings()
    (detail,) = audit_rows(env)
    assert detail == f"done; created {report['created']}; deleted {report['deleted'][0]}"
    # Its mints are in the audit too: the management token and the new secret's proof.
    engine = sa.create_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        events = [r.event for r in conn.execute(sa.text("SELECT event FROM sync_auth_events"))]
    engine.dispose()
    assert events.count("mint") == 2 and events[-1] == "rotation"
    assert_nothing_secret(emulator, out, err, detail)
    # status shows the rotation, without the secret.
    assert main(["status"]) == 0
    shown = capsys.readouterr().out
    assert f"rotation          {detail}" in shown
    assert main(["status", "--json"]) == 0
    document = capsys.readouterr().out
    (event,) = [e for e in json.loads(document)["auth_events"] if e["event"] == "rotation"]
    assert event["detail"] == detail
    assert_nothing_secret(emulator, shown, document)


def test_dry_run_changes_nothing(
    env: dict[str, str], emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = rotate(capsys, "--dry-run")
    assert code == 0
    assert "planned" in out and "rotation planned" in out
    assert emulator.app.client_secrets == [ORIGINAL]
    assert not Path(env["IMS_CLIENT_SECRET_NEXT_FILE"]).exists()


def test_print_writes_the_secret_alone_on_stdout_and_keeps_the_old_one(
    env: dict[str, str], emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = rotate(capsys, "--print")
    assert code == 0, err
    new = out.strip()
    assert out == new + "\n" and new in emulator.app.client_secrets
    assert len(emulator.app.client_secrets) == 2  # promotion is the secret manager's job
    assert "left: store the new secret" in err and "rotation incomplete" in err
    assert new not in err
    assert not Path(env["IMS_CLIENT_SECRET_NEXT_FILE"]).exists()
    assert mints_with_the_settings()


def test_two_secrets_refuse_unless_the_older_is_idle_and_delete_idle_is_given(
    env: dict[str, str], emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.app.client_secrets.insert(0, "forgotten-old-secret")
    idle = emulator.app.console.backdate("forgotten-old-secret", 30, used=True)
    code, out, _ = rotate(capsys)
    assert code == 2
    assert "two client secrets" in out and "--delete-idle" in out
    assert len(emulator.app.client_secrets) == 2
    # Idle for 30 days, but --idle-days asks for more: still refused.
    assert rotate(capsys, "--delete-idle", "--idle-days", "40")[0] == 2
    code, out, err = rotate(capsys, "--delete-idle", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["deleted"][0] == idle
    (new,) = emulator.app.client_secrets
    assert Path(env["IMS_CLIENT_SECRET_FILE"]).read_text().strip() == new
    assert mints_with_the_settings()


def test_the_secret_in_use_is_never_deleted_as_idle(
    env: dict[str, str], emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The older secret is the configured one, listed as unused for weeks (the management
    token is cached from an earlier run): the proof mint before deleting shows it in use, and
    the rotation stops."""
    assert rotate(capsys, "--dry-run")[0] == 0  # caches the management token
    emulator.app.console.backdate(ORIGINAL, 60, used=True)
    emulator.app.client_secrets.append("someone-elses-new-secret")
    code, out, _ = rotate(capsys, "--delete-idle")
    assert code == 2 and "it is in use" in out
    assert ORIGINAL in emulator.app.client_secrets
    assert mints_with_the_settings()


def _refuse_writing(monkeypatch: pytest.MonkeyPatch, refused: Path) -> None:
    """Writing ``refused`` fails as on a read-only mount (the test may run as root)."""
    from sync import rotate as module

    real = module.write_secret_file

    def write(path: Path, value: str, setting: str) -> None:
        if path == refused:
            raise ConfigError(f"{setting}: cannot write the secret file (OSError: read-only)")
        real(path, value, setting)

    monkeypatch.setattr(module, "write_secret_file", write)


@pytest.mark.parametrize(
    ("step", "code", "secrets_after"),
    [
        ("list", 1, 1),
        ("create", 1, 1),
        ("write", 2, 1),  # the new secret is deleted again
        ("prove", 1, 1),  # the next file is restored and the new secret deleted
        ("promote", 2, 2),  # the next file holds the new secret: both still mint
        ("delete", 1, 2),  # promoted; the old one is left for later
    ],
)
def test_each_step_failing_leaves_a_setup_that_mints(
    env: dict[str, str],
    emulator: EmulatorServer,
    capsys: pytest.CaptureFixture[str],
    step: str,
    code: int,
    secrets_after: int,
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sync.rotate.PROVE_WAITS", (0.0,))
        if step in ("list", "create", "delete"):
            setattr(emulator.faults, f"console_{step}_error_next", 1)
        elif step == "prove":
            emulator.faults.console_new_secret_rejected = 5
        else:
            name = "IMS_CLIENT_SECRET_NEXT_FILE" if step == "write" else "IMS_CLIENT_SECRET_FILE"
            _refuse_writing(patch, Path(env[name]))
        result, out, err = rotate(capsys)
    assert result == code, out + err
    failed = [line for line in out.splitlines() if "failed" in line]
    assert failed and failed[0].startswith(step), out
    assert len(emulator.app.client_secrets) == secrets_after
    assert mints_with_the_settings()
    if step == "prove":
        assert not Path(env["IMS_CLIENT_SECRET_NEXT_FILE"]).exists()
    (detail,) = audit_rows(env)
    assert detail.startswith(f"failed at {step}")
    assert_nothing_secret(emulator, out, err, detail)
    # The rotation can simply be run again (a second secret left by a failed promotion or
    # deletion is the new one, which the files now hold: it goes on --delete-old).
    again = rotate(capsys, "--delete-idle", "--idle-days", "0", "--delete-old")
    assert again[0] == 0, again[1] + again[2]
    assert len(emulator.app.client_secrets) == 1
    assert mints_with_the_settings()


# -- with a daemon running ---------------------------------------------------------------------


def _metric(port: int, name: str, **labels: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def _wait(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_running_daemon_keeps_minting_through_a_rotation_without_a_restart(
    env: dict[str, str],
    emulator: EmulatorServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from tests.integration.test_daemon_http import free_port

    emulator.faults.token_lifetime = 2  # the daemon mints about every second
    port = free_port()
    daemon_env = clean_env(
        **env,
        SYNC_SCHEDULE="1s",
        SYNC_RECONCILE_SCHEDULE="off",
        SYNC_SOURCE_ITEMS_SCHEDULE="off",
        SYNC_MAX_ATTEMPTS="1",
        SYNC_HTTP_PORT=str(port),
    )
    with daemon_process(daemon_env, tmp_path) as daemon:
        _wait(lambda: _metric(port, "accs_sync_token_mints_total") >= 2, "the daemon's mints")
        code, out, err = rotate(capsys)
        assert code == 0, out + err
        assert len(emulator.app.client_secrets) == 1  # the old secret is gone
        mints = _metric(port, "accs_sync_token_mints_total")
        _wait(
            lambda: _metric(port, "accs_sync_token_mints_total") >= mints + 3,
            "mints with the new secret",
        )
        assert daemon.poll() is None  # the same process: no restart
        assert _metric(port, "accs_sync_runs_total", outcome="success") >= 2
        assert _metric(port, "accs_sync_runs_total", outcome="failed") == 0
        assert _metric(port, "accs_sync_token_mint_failures_total") == 0
    logged = (tmp_path / "daemon.log").read_text()
    assert_nothing_secret(emulator, logged)


# -- check -------------------------------------------------------------------------------------


def _secret_findings(capsys: pytest.CaptureFixture[str]) -> list[dict[str, str]]:
    main(["check", "--json"])
    document = json.loads(capsys.readouterr().out)
    return [f for f in document["findings"] if f["name"].startswith("client secret")]


def test_check_reports_each_secrets_age_and_last_use_and_warns_past_the_maximum(
    env: dict[str, str],
    emulator: EmulatorServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (fresh,) = _secret_findings(capsys)
    assert fresh["status"] == "ok"
    assert "created 0 days ago" in fresh["detail"] and "last used" in fresh["detail"]
    uuid = emulator.app.console.backdate(ORIGINAL, 120, used=True)
    emulator.app.client_secrets.append("another-secret-value")
    old, other = _secret_findings(capsys)
    assert old["status"] == "warn" and uuid in old["name"]
    assert "SYNC_SECRET_MAX_AGE_DAYS=90" in old["detail"] and "secret rotate" in old["detail"]
    assert other["status"] == "ok"
    monkeypatch.setenv("SYNC_SECRET_MAX_AGE_DAYS", "200")
    assert all(f["status"] == "ok" for f in _secret_findings(capsys))


def test_check_without_a_credential_id_lists_no_secrets(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMS_CREDENTIAL_ID")
    assert _secret_findings(capsys) == []


def test_check_warns_when_the_secrets_cannot_be_listed(
    env: dict[str, str], emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.faults.console_list_error_next = 1
    (finding,) = _secret_findings(capsys)
    assert finding["status"] == "warn" and "503" in finding["detail"]


def test_a_debug_rotation_never_shows_a_secret_or_a_token(
    env: dict[str, str],
    emulator: EmulatorServer,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    emulator.app.client_secrets.insert(0, "p8e-forgotten-idle-one")
    emulator.app.console.backdate("p8e-forgotten-idle-one", 30)
    code, out, err = rotate(capsys, "--log-level", "DEBUG", "--json", "--delete-idle")
    assert code == 0, err
    (new,) = emulator.app.client_secrets
    shown = out + err + caplog.text + "".join(str(r.args) for r in caplog.records)
    for value in [ORIGINAL, "p8e-forgotten-idle-one", new, *emulator.app.tokens.issued()]:
        assert value not in shown
    (detail,) = audit_rows(env)
    assert new not in detail and detail.startswith("done")


def test_a_second_rotation_at_the_same_time_is_refused(
    env: dict[str, str], emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    import fcntl

    lock = Path(env["IMS_CLIENT_SECRET_NEXT_FILE"] + ".lock")
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        code, out, _ = rotate(capsys)
    assert code == 2 and "another `accs-sync secret rotate`" in out
    assert emulator.app.client_secrets == [ORIGINAL]
    assert rotate(capsys)[0] == 0  # released: the next one runs


def test_the_management_token_is_cached_apart_from_the_rest_token(
    env: dict[str, str], emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The I/O Management API's token (with read_client_secret, manage_client_secrets) has a
    cache entry of its own; the token ACCS gets carries no management scope."""
    from sync.api.secrets_api import MANAGEMENT_SCOPES, management_scopes
    from sync.api.token_store import FileTokenStore, cache_key

    assert main(["sync"]) == 0
    assert rotate(capsys, "--dry-run")[0] == 0
    settings = load_settings()
    store = FileTokenStore(Path(env["SYNC_TOKEN_CACHE"]))
    flow = "client_credentials"
    rest = store.load(
        cache_key(settings.ims_token_url, settings.ims_client_id, settings.scopes, flow)
    )
    manage = store.load(
        cache_key(
            settings.ims_token_url,
            settings.ims_client_id,
            management_scopes(settings.scopes),
            flow,
        )
    )
    assert rest is not None and manage is not None
    assert rest.access_token and manage.access_token and rest.access_token != manage.access_token
    assert emulator.app.tokens.scopes(rest.access_token) == frozenset(settings.scopes)
    assert set(MANAGEMENT_SCOPES) <= set(emulator.app.tokens.scopes(manage.access_token) or ())
