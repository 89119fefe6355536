"""No silent acceptance of a mistyped setting name: an unknown key in the config file is an
error naming the closest setting; a ``SYNC_*`` / ``IMS_*`` environment name close to a setting's
is a warning naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.cli import main
from sync.errors import ConfigError
from sync.settings import environment_typos, load_database_settings, load_settings
from tests.unit.test_settings import clean_env  # noqa: F401 - autouse: no accs-sync variables

REQUIRED = (
    'ims_client_id = "client-abc"\nims_client_secret = "p8e-very-secret"\n'
    'ims_org_id = "ABCDEF0123456789@AdobeOrg"\n'
    'api_endpoint = "https://na1.api.commerce.adobe.com/TENANT123"\n'
)


def _config(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "accs-sync.toml"
    path.write_text(REQUIRED + extra, encoding="utf-8")
    return path


def test_an_unknown_toml_key_is_an_error_naming_the_closest_setting(tmp_path: Path) -> None:
    config = _config(tmp_path, 'sync_store_code = ["fr"]\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert "'sync_store_code'" in caught.value.message
    assert "did you mean sync_store_codes?" in caught.value.message
    with pytest.raises(ConfigError, match="sync_store_code"):
        load_database_settings(config)  # status and migrate read the same file


def test_every_unknown_toml_key_is_named_and_known_ones_in_any_case_pass(tmp_path: Path) -> None:
    config = _config(tmp_path, 'SYNC_PAGE_SIZE = 50\nsync_loglevel = "DEBUG"\ncolour = "blue"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = caught.value.message
    assert "'sync_loglevel' (did you mean sync_log_level?)" in message
    assert "'colour'" in message and "SYNC_PAGE_SIZE" not in message
    assert load_settings(_config(tmp_path, "SYNC_PAGE_SIZE = 50\n")).sync_page_size == 50


@pytest.mark.parametrize("command", ["check", "sync", "status"])
def test_the_cli_exits_2_on_an_unknown_toml_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    config = _config(tmp_path, "sync_concurency = 8\n")
    assert main([command, "--config", str(config)]) == 2
    out = capsys.readouterr()
    assert "sync_concurency" in out.out + out.err
    assert "sync_concurrency" in out.out + out.err
    assert not (tmp_path / "accs-sync.db").exists()


def test_environment_names_close_to_a_setting_are_reported() -> None:
    environ = {
        "SYNC_STORE_CODE": "fr",  # the S forgotten
        "IMS_CLIENTID": "x",
        "SYNC_STORE_CODES": "default",  # a real one
        "SYNC_SOMETHING_ELSE_ENTIRELY": "1",  # another tool's: left alone
        "IMS_HOST": "x",
        "PATH": "/bin",
    }
    warnings = environment_typos(environ)
    assert len(warnings) == 2, warnings
    assert "IMS_CLIENTID" in warnings[0] and "did you mean IMS_CLIENT_ID?" in warnings[0]
    assert "SYNC_STORE_CODE " in warnings[1] and "did you mean SYNC_STORE_CODES?" in warnings[1]


def test_a_mistyped_environment_name_is_a_warning_not_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNC_CONCURENCY", "8")
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    assert main(["migrate", "--database-url", url]) == 0
    err = capsys.readouterr().err
    assert "SYNC_CONCURENCY" in err and "did you mean SYNC_CONCURRENCY?" in err
    assert "WARNING" in err


def test_a_mistyped_name_in_the_dotenv_file_is_reported_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SYNC_LOOKBACK_SECOND=60\nIMS_ORG_ID=x\n", encoding="utf-8")
    [warning] = environment_typos({})
    assert warning.startswith(".env entry SYNC_LOOKBACK_SECOND is not a setting")
    assert "did you mean SYNC_LOOKBACK_SECONDS?" in warning


def test_a_required_setting_missing_because_of_a_typo_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "accs-sync.toml"
    config.write_text(REQUIRED.replace('ims_client_id = "client-abc"\n', ""), encoding="utf-8")
    monkeypatch.setenv("IMS_CLIENTID", "client-abc")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.message.startswith("IMS_CLIENT_ID is required")
    assert "IMS_CLIENTID is set: did you mean IMS_CLIENT_ID?" in caught.value.message
