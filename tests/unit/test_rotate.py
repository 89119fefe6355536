"""The rotation's decisions (sync.rotate) with a fake I/O Management API: when the old secret
is kept, what a dry run plans, what --print does, and that no value reaches the report."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from sync.api.secrets_api import CreatedSecret, SecretInfo
from sync.clock import FakeClock
from sync.errors import CredentialsRejected, RetriableApiError
from sync.rotate import RotateOptions, Rotation, RotationReport, SecretTargets

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
NEW_VALUE = "p8e-brand-new-value"


class FakeApi:
    """Two lists of secrets as Adobe would show them, and what was asked."""

    def __init__(self, secrets: list[SecretInfo], clock: FakeClock) -> None:
        self.secrets = secrets
        self.clock = clock
        self.calls: list[str] = []
        self.fail_list_after: int | None = None
        self.old_used_after_proof = False

    def list(self) -> list[SecretInfo]:
        self.calls.append("list")
        if self.fail_list_after is not None and self.calls.count("list") > self.fail_list_after:
            raise RetriableApiError("the I/O Management API refused to list: 503")
        return sorted(self.secrets, key=lambda s: s.created)

    def create(self) -> CreatedSecret:
        self.calls.append("create")
        self.secrets.append(SecretInfo("new", self.clock.now(), None))
        return CreatedSecret("new", self.clock.now(), SecretStr(NEW_VALUE))

    def delete(self, uuid: str) -> None:
        self.calls.append(f"delete {uuid}")
        self.secrets = [s for s in self.secrets if s.uuid != uuid]

    def used(self, uuid: str) -> None:
        self.clock.advance(1)
        self.secrets = [
            SecretInfo(s.uuid, s.created, self.clock.now()) if s.uuid == uuid else s
            for s in self.secrets
        ]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def api(clock: FakeClock) -> FakeApi:
    return FakeApi([SecretInfo("old", NOW - timedelta(days=100), NOW - timedelta(hours=1))], clock)


def run(
    api: FakeApi,
    clock: FakeClock,
    tmp_path: Path,
    options: RotateOptions | None = None,
    *,
    prove_fails: int = 0,
    printed: list[str] | None = None,
) -> RotationReport:
    primary, following = tmp_path / "secret", tmp_path / "next"
    primary.write_text("p8e-the-old-value\n")
    failures = [prove_fails]

    def prove(secret: SecretStr | None) -> None:
        if secret is not None and failures[0] > 0:
            failures[0] -= 1
            raise CredentialsRejected("IMS rejected the client id or secret (invalid_client)")
        api.used("new" if secret is not None else "old")
        if secret is not None and api.old_used_after_proof:
            api.used("old")  # a process that still has the old secret mints with it

    rotation = Rotation(
        api,  # type: ignore[arg-type]
        SecretTargets(next_file=following, primary_file=primary),
        options or RotateOptions(),
        prove=prove,
        clock=clock,
        on_secret=lambda value: None,
        emit=(printed if printed is not None else []).append,
    )
    return rotation.run()


def test_a_clean_rotation_deletes_the_old_secret(
    api: FakeApi, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        report = run(api, clock, tmp_path)
    assert (report.status, report.exit_code, report.deleted) == ("done", 0, ["old"])
    assert (tmp_path / "secret").read_text().strip() == NEW_VALUE
    assert (tmp_path / "next").read_text().strip() == NEW_VALUE
    assert NEW_VALUE not in str(report.to_json()) + "\n".join(report.lines()) + caplog.text


def test_an_old_secret_used_after_the_new_ones_first_use_is_kept(
    api: FakeApi, clock: FakeClock, tmp_path: Path
) -> None:
    api.old_used_after_proof = True
    report = run(api, clock, tmp_path)
    assert report.status == "incomplete" and report.exit_code == 0
    assert report.deleted == [] and "delete old" not in " ".join(api.calls)
    assert any("some process still has it" in s.detail for s in report.steps)
    assert report.left and "old" in report.left[0]
    # --delete-old deletes it anyway.
    api.secrets = [s for s in api.secrets if s.uuid == "old"]
    forced = run(api, clock, tmp_path, RotateOptions(delete_old=True))
    assert forced.deleted == ["old"]


def test_without_the_new_secrets_first_use_the_old_one_is_kept(
    api: FakeApi, clock: FakeClock, tmp_path: Path
) -> None:
    api.fail_list_after = 1  # the listing after the proof fails
    report = run(api, clock, tmp_path)
    assert report.status == "incomplete" and report.deleted == []
    assert (tmp_path / "secret").read_text().strip() == NEW_VALUE  # promoted all the same


def test_a_new_secret_that_mints_on_a_later_try_is_used(
    api: FakeApi, clock: FakeClock, tmp_path: Path
) -> None:
    report = run(api, clock, tmp_path, prove_fails=2)
    assert report.status == "done"
    assert clock.monotonic() >= 3.0  # waited 1 s, then 2 s


def test_a_new_secret_that_never_mints_is_deleted_again(
    api: FakeApi, clock: FakeClock, tmp_path: Path
) -> None:
    (tmp_path / "next").write_text("p8e-previous-next\n")
    report = run(api, clock, tmp_path, prove_fails=10)
    assert (report.status, report.exit_code) == ("failed", 1)
    assert [s.uuid for s in api.secrets] == ["old"]
    assert (tmp_path / "next").read_text().strip() == "p8e-previous-next"
    assert (tmp_path / "secret").read_text().strip() == "p8e-the-old-value"


def test_print_emits_the_value_once_and_touches_no_file(
    api: FakeApi, clock: FakeClock, tmp_path: Path
) -> None:
    printed: list[str] = []
    report = run(api, clock, tmp_path, RotateOptions(print_secret=True), printed=printed)
    assert printed == [NEW_VALUE]
    assert not (tmp_path / "next").exists()
    assert (tmp_path / "secret").read_text().strip() == "p8e-the-old-value"
    assert report.status == "incomplete" and report.deleted == []


def test_a_dry_run_with_two_secrets_plans_the_idle_ones_deletion(
    api: FakeApi, clock: FakeClock, tmp_path: Path
) -> None:
    api.secrets.insert(0, SecretInfo("idle", NOW - timedelta(days=300), NOW - timedelta(days=30)))
    report = run(api, clock, tmp_path, RotateOptions(dry_run=True, delete_idle=True))
    assert report.status == "planned" and api.calls == ["list"]
    assert next(s.name for s in report.steps if s.outcome == "planned") == "delete"


def test_no_next_file_and_no_print_is_refused_before_anything(
    api: FakeApi, clock: FakeClock
) -> None:
    rotation = Rotation(
        api,  # type: ignore[arg-type]
        SecretTargets(next_file=None, primary_file=None),
        RotateOptions(),
        prove=lambda secret: None,
        clock=clock,
        on_secret=lambda value: None,
        emit=lambda value: None,
    )
    report = rotation.run()
    assert (report.status, report.exit_code, api.calls) == ("refused", 2, [])
