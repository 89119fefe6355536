"""``accs-sync check`` against the emulator and real databases: a broken setup explained line by
line, the exit code that says whose move it is, and a mirror database left untouched."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sync.cli import main
from sync.db.engine import make_engine
from sync.db.migrate import head_revision
from sync.emulator import EmulatorServer
from sync.settings import DEFAULT_SCOPES
from tests.integration.mirror import runs
from tests.integration.processes import clean_env, run_cli

ACCS = ["endpoint", "org id", "store default", "page size default", "total_count default"]
# The other resources of the default SYNC_RESOURCES, each asked for one item.
RESOURCES = ["resource categories", "resource source_items", "resource attributes"]
EVERY = [
    "settings",
    "token",
    "credentials",
    "scopes",
    *ACCS,
    *RESOURCES,
    "database",
    "schema",
    "token cache",
]

Findings = dict[str, dict[str, str]]


def check_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Findings, str]:
    """Exit code, findings by name, and everything printed."""
    code = main(["check", "--json", *args])
    out = capsys.readouterr()
    document = json.loads(out.out)
    assert document["exit_code"] == code
    assert document["summary"].startswith("check: ") and f"exit {code}" in document["summary"]
    return code, {f["name"]: f for f in document["findings"]}, out.out + out.err


def check_text(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, tuple[str, str]], str]:
    """Exit code, (status label, detail) by name, and the summary line."""
    code = main(["check"])
    lines = capsys.readouterr().out.splitlines()
    found = {}
    for line in lines[:-1]:
        name, _, detail = line[6:].partition("  ")
        found[name.strip()] = (line[:5].strip(), detail.strip())
    return code, found, lines[-1]


def statuses(findings: Findings) -> dict[str, str]:
    return {name: f["status"] for name, f in findings.items()}


def table_names(db_url: str) -> list[str]:
    engine = make_engine(db_url)
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- a good setup, on every database -----------------------------------------------------------


def test_a_good_setup_passes_every_check_and_writes_nothing(
    sync_env: dict[str, str],
    db_url: str,
    emulator: EmulatorServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["migrate"]) == 0
    capsys.readouterr()
    code, found, summary = check_text(capsys)
    assert code == 0, found
    assert list(found) == EVERY
    assert {status for status, _ in found.values()} == {"ok"}
    assert found["token"][1].startswith("minted in ")
    assert found["total_count default"][1] == "750 products"
    assert found["page size default"][1] == "100 (SYNC_PAGE_SIZE) accepted"
    assert found["schema"][1] == f"at revision {head_revision()} (current)"
    assert db_url.split("://")[0].split("+")[0] in found["database"][1]
    assert summary == f"check: {len(EVERY)} ok; exit 0: all checks passed"
    # One request per store view and one per other resource, and nothing written to the mirror.
    asked = [r.kind for r in emulator.stats.recent if r.kind != "token"]
    assert asked == ["list", "categories", "source_items", "attributes"]
    assert runs(db_url) == []

    # A second check (as a second process would) uses the cached token.
    code, again, _ = check_json(capsys)
    assert code == 0 and set(statuses(again).values()) == {"ok"}
    assert again["token"]["detail"].startswith("from the cache ")
    assert "expires in 14" in again["token"]["detail"]  # 86399 s: 1440 minutes or a little less
    # ... and proves the secret with a test mint that is not cached (issue 17).
    assert emulator.stats.tokens_by_grant["client_credentials"] == 2
    assert runs(db_url) == []


@pytest.mark.empty_database
def test_an_unmigrated_database_is_a_warning_and_stays_empty(
    sync_env: dict[str, str], db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, found, _ = check_json(capsys)
    assert code == 0
    assert found["schema"]["status"] == "warn"
    assert "run accs-sync migrate; sync migrates itself" in found["schema"]["detail"]
    assert all(found[name]["status"] == "ok" for name in ACCS)
    if db_url.startswith("sqlite"):
        assert not Path(db_url.removeprefix("sqlite:///")).exists()
    else:
        assert table_names(db_url) == []


def test_a_schema_newer_than_this_accs_sync_fails_as_a_service(
    sync_env: dict[str, str], db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    capsys.readouterr()
    code, found, _ = check_json(capsys)
    assert code == 1
    assert found["schema"]["status"] == "fail" and found["schema"]["category"] == "service"
    assert "newer than this accs-sync" in found["schema"]["detail"]
    assert all(found[name]["status"] == "ok" for name in ACCS)  # ACCS still checked


# -- broken setups (SQLite is enough: the database is not what is broken) ---------------------

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.mark.parametrize(
    ("setting", "value", "failing", "words"),
    [
        ("IMS_CLIENT_SECRET", "p8e-WRONG-secret-value", "credentials", ["invalid_client"]),
        (
            "IMS_SCOPES",
            DEFAULT_SCOPES.replace(",commerce.accs", ""),
            "scopes",
            ["invalid_scope", "commerce.accs"],
        ),
        ("IMS_ORG_ID", "WRONG0000000000000000@AdobeOrg", "org id", ["403", "IMS_ORG_ID"]),
    ],
    ids=["wrong-secret", "missing-scope", "wrong-org-id"],
)
@sqlite_only
@pytest.mark.empty_database  # the schema check warns: no accs-sync run has migrated it
def test_a_configuration_mistake_is_one_failing_line_and_exit_2(
    sync_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setting: str,
    value: str,
    failing: str,
    words: list[str],
) -> None:
    monkeypatch.setenv(setting, value)
    code, found, output = check_json(capsys)
    assert code == 2
    assert [name for name, f in found.items() if f["status"] == "fail"] == [failing]
    assert found[failing]["category"] == "config"
    for word in [*words, setting]:
        assert word in found[failing]["detail"]
    before = EVERY.index(failing)
    assert all(found[name]["status"] == "ok" for name in EVERY[:before] if name != "token")
    assert found["store default"]["status"] == "skip"  # explained once, above
    assert "page size default" not in found
    # A broken token or ACCS does not hide the database.
    assert (found["database"]["status"], found["schema"]["status"]) == ("ok", "warn")
    if setting == "IMS_CLIENT_SECRET":
        assert found["token"]["status"] == "skip"
        assert value not in output


@sqlite_only
def test_an_unknown_store_code_among_good_ones(
    sync_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNC_STORE_CODES", "default,nowhere")
    code, found, summary = check_text(capsys)
    assert code == 2
    assert found["store default"][0] == "ok"
    assert found["total_count default"] == ("ok", "750 products")
    status, detail = found["store nowhere"]
    assert status == "FAIL"
    assert "'nowhere'" in detail and "wasn't found" in detail and "SYNC_STORE_CODES" in detail
    assert "page size nowhere" not in found and "total_count nowhere" not in found
    assert "exit 2: the configuration needs fixing" in summary


@pytest.fixture
def all_stores(
    sync_env: dict[str, str], emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> EmulatorServer:
    """The emulator, with SYNC_STORE_CODES=all."""
    monkeypatch.setenv("SYNC_STORE_CODES", "all")
    return emulator


@sqlite_only
def test_store_codes_all_checks_the_store_views_accs_lists(
    all_stores: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    all_stores.catalog.add_store_view("fr")
    all_stores.catalog.add_store_view("es", is_active=False)
    code, found, _ = check_json(capsys)
    assert code == 0, found
    assert found["store views"]["status"] == "ok"
    assert found["store views"]["detail"] == (
        "SYNC_STORE_CODES=all: ACCS lists default, fr (inactive, not mirrored: es)"
    )
    assert found["store default"]["status"] == found["store fr"]["status"] == "ok"
    assert "store all" not in found and "store es" not in found


@sqlite_only
def test_store_codes_all_without_the_store_acl_is_configuration(
    all_stores: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    all_stores.faults.forbidden = {"store_views"}
    code, found, _ = check_json(capsys)
    assert code == 2
    assert found["store views"]["status"] == "fail"
    assert "Magento_Backend::store" in found["store views"]["detail"]
    assert found["endpoint"]["status"] == "ok"  # still asked, through the default store view
    assert "store all" not in found


@sqlite_only
def test_a_wrong_org_id_is_configuration(
    sync_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IMS_ORG_ID", "WRONG0000000000000000@AdobeOrg")
    code, found, _ = check_json(capsys)
    assert code == 2
    assert found["endpoint"]["status"] == "ok"
    assert found["org id"]["status"] == "fail" and "IMS_ORG_ID" in found["org id"]["detail"]
    assert found["store default"]["status"] == "skip"


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
@sqlite_only
def test_an_unreachable_database_fails_as_a_service_and_accs_is_still_checked(
    sync_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    scheme: str,
) -> None:
    password = "db-pass-W0rd-secret"
    monkeypatch.setenv("DATABASE_URL", f"{scheme}://accs:{password}@127.0.0.1:{closed_port()}/m")
    code, found, output = check_json(capsys)
    assert code == 1
    assert found["database"]["status"] == "fail" and found["database"]["category"] == "service"
    assert "cannot connect" in found["database"]["detail"]
    assert "accs:***@127.0.0.1" in found["database"]["detail"]
    assert found["schema"]["status"] == "skip"
    assert all(found[name]["status"] == "ok" for name in ["token", *ACCS])
    assert password not in output


@sqlite_only
def test_an_unreachable_endpoint_fails_as_a_service(
    sync_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("API_ENDPOINT", f"http://127.0.0.1:{closed_port()}/demo-tenant")
    monkeypatch.setenv("SYNC_STORE_CODES", "default,fr")
    code, found, _ = check_json(capsys)
    assert code == 1
    assert found["token"]["status"] == "ok"
    endpoint = found["endpoint"]
    assert endpoint["status"] == "fail" and endpoint["category"] == "service"
    assert "connection refused" in endpoint["detail"] and "API_ENDPOINT" in endpoint["detail"]
    assert found["store default"]["status"] == found["store fr"]["status"] == "skip"


@sqlite_only
def test_ims_down_fails_as_a_service_and_skips_acss(
    sync_env: dict[str, str], emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.faults.ims_error_5xx_next = 2  # both attempts of the doctor's short policy
    code, found, _ = check_json(capsys)
    assert code == 1
    assert found["token"]["status"] == "fail" and "503" in found["token"]["detail"]
    assert found["endpoint"]["status"] == "skip" and found["database"]["status"] == "ok"


@sqlite_only
def test_ims_down_with_store_codes_all_skips_the_store_views(
    all_stores: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    all_stores.faults.ims_error_5xx_next = 2
    code, found, _ = check_json(capsys)
    assert code == 1
    assert found["store views"]["status"] == "skip"
    assert not [name for name in found if name.startswith("store ") and name != "store views"]


@sqlite_only
def test_accs_failing_twice_fails_the_endpoint_as_a_service(
    sync_env: dict[str, str], emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.faults.error_5xx_next = 2
    code, found, _ = check_json(capsys)
    assert code == 1
    assert found["endpoint"]["status"] == "fail" and "503" in found["endpoint"]["detail"]
    assert found["store default"]["status"] == "skip"

    emulator.faults.error_5xx_next = 1  # one 5xx is retried, as a run would
    code, found, _ = check_json(capsys)
    assert code == 0


@sqlite_only
def test_a_page_size_cap_is_a_warning_and_the_count_still_comes(
    sync_env: dict[str, str], emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.faults.max_page_size = 50
    code, found, _ = check_json(capsys)
    assert code == 0
    assert found["page size default"]["status"] == "warn"
    assert "caps pageSize at 50" in found["page size default"]["detail"]
    assert "runs will use 50 automatically" in found["page size default"]["detail"]
    assert found["total_count default"]["detail"] == "750 products"


@sqlite_only
def test_a_token_cache_others_can_read_is_a_warning(
    sync_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_json(capsys)[0] == 0  # mints and creates the cache
    from sync.settings import load_settings

    path = load_settings().token_cache_path()
    assert path is not None and path.is_file()
    path.chmod(0o644)
    code, found, _ = check_json(capsys)
    assert code == 0
    assert found["token cache"]["status"] == "warn"
    assert f"chmod 600 {path}" in found["token cache"]["detail"]


@sqlite_only
def test_no_token_cache_is_fine(
    sync_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNC_TOKEN_CACHE", "none")
    code, found, _ = check_json(capsys)
    assert code == 0
    assert "in memory only" in found["token cache"]["detail"]
    assert "kept in memory only" in found["token"]["detail"]


@sqlite_only
def test_settings_that_do_not_validate_still_get_the_database_checked(
    sync_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("IMS_CLIENT_ID")
    code, found, summary = check_text(capsys)
    assert code == 2
    status, detail = found["settings"]
    assert status == "FAIL" and "IMS_CLIENT_ID is required" in detail
    assert list(found) == ["settings", "database", "schema"]
    assert "exit 2" in summary


@sqlite_only
def test_json_and_text_report_the_same_findings(
    sync_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNC_STORE_CODES", "default,nowhere")
    monkeypatch.setenv("SYNC_TOKEN_CACHE", "none")  # both runs mint: the details match too
    code, text, _ = check_text(capsys)
    json_code, document, _ = check_json(capsys)
    assert code == json_code == 2
    labels = {"ok": "ok", "warn": "warn", "fail": "FAIL", "skip": "skip"}
    as_text = {name: (labels[f["status"]], f["detail"]) for name, f in document.items()}
    for found in (text, as_text):  # the mint's duration may differ
        found["token"] = (found["token"][0], found["token"][1].split(" in ")[0])
    assert as_text == text


# -- as users run it ---------------------------------------------------------------------------


def _process_env(emulator: EmulatorServer, **extra: str) -> dict[str, Any]:
    return clean_env(**emulator.credentials, SYNC_PAGE_SIZE="100", **extra)


def test_accs_sync_check_as_a_process(
    emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    env = _process_env(emulator, DATABASE_URL=db_url)
    assert run_cli(["migrate"], env, tmp_path).returncode == 0
    result = run_cli(["check"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["ok"] * len(EVERY)
    assert lines[-1].endswith("exit 0: all checks passed")

    broken = {**env, "IMS_CLIENT_SECRET": "p8e-WRONG-secret-value", "SYNC_TOKEN_CACHE": "none"}
    result = run_cli(["check", "--json"], broken, tmp_path)
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["exit_code"] == 2
    failed = [f["name"] for f in document["findings"] if f["status"] == "fail"]
    assert failed == ["credentials"]
    assert "p8e-WRONG-secret-value" not in result.stdout + result.stderr
