"""The help texts say what the commands do now (``accs-sync --help`` and each command's own)."""

from __future__ import annotations

import pytest

from sync.cli import build_parser


def help_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args([*argv, "--help"])
    assert stopped.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines


@pytest.mark.parametrize("argv", [(), ("reconcile",)])
def test_reconcile_help_describes_a_full_content_pass(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    text = help_of(capsys, *argv)
    assert "list every id" not in text
    if argv:  # the command's own help says it all
        assert "full" in text and "tombstone" in text and "SYNC_RESOURCES" in text


def test_daemon_help_names_every_job_and_its_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ((), ("daemon",)):
        text = help_of(capsys, *argv)
        for setting in ("SYNC_SCHEDULE", "SYNC_RECONCILE_SCHEDULE", "SYNC_SOURCE_ITEMS_SCHEDULE"):
            assert setting in text, (argv, setting)


def test_status_help_says_what_status_shows(capsys: pytest.CaptureFixture[str]) -> None:
    listing = help_of(capsys)
    assert "product counts" not in listing
    text = help_of(capsys, "status")
    for shown in ("runs", "categories", "source items", "watermarks", "checkpoints", "rejects"):
        assert shown in text, shown
    assert "exit 1" in text.lower()


def test_status_help_names_the_auth_audit_and_logout_and_token_are_listed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert "auth audit" in help_of(capsys, "status")
    listing = help_of(capsys)
    assert "logout" in listing and "token" in listing
    token = help_of(capsys, "token")
    assert "key" in token and "forget" in token
    assert "IMS_REVOKE_URL" in help_of(capsys, "logout")
