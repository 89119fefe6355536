"""Settings: names from Adobe's guide, safe defaults, one clear line for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.errors import ConfigError
from sync.settings import DEFAULT_SCOPES, DEFAULT_TOKEN_URL, load_database_settings, load_settings

REQUIRED = {
    "IMS_CLIENT_ID": "client-abc",
    "IMS_CLIENT_SECRET": "p8e-very-secret",
    "IMS_ORG_ID": "ABCDEF0123456789@AdobeOrg",
    "API_ENDPOINT": "https://na1.api.commerce.adobe.com/TENANT123",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("IMS_", "SYNC_", "API_", "DATABASE_", "ACCS_SYNC")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def set_required(monkeypatch: pytest.MonkeyPatch, **changes: str) -> None:
    for key, value in {**REQUIRED, **changes}.items():
        monkeypatch.setenv(key, value)


def test_defaults_follow_adobes_guide(monkeypatch: pytest.MonkeyPatch) -> None:
    set_required(monkeypatch)
    s = load_settings()
    assert s.ims_token_url == DEFAULT_TOKEN_URL == "https://ims-na1.adobelogin.com/ims/token/v3"
    assert s.scopes == DEFAULT_SCOPES.split(",")
    assert len(s.scopes) == 7 and "commerce.accs" in s.scopes
    assert s.database_url.startswith("sqlite:///")
    assert s.sync_page_size <= 300
    assert s.sync_store_codes == ["default"]
    assert "p8e-very-secret" not in repr(s)


def test_store_codes_from_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    set_required(monkeypatch, SYNC_STORE_CODES="default, fr ,de,fr")
    assert load_settings().sync_store_codes == ["default", "fr", "de"]
    assert not load_settings().discover_stores


@pytest.mark.parametrize("value", ["all", " ALL ", "all,"])
def test_store_codes_all_asks_accs_at_each_run(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    set_required(monkeypatch, SYNC_STORE_CODES=value)
    settings = load_settings()
    assert settings.sync_store_codes == ["all"]
    assert settings.discover_stores


@pytest.mark.parametrize("value", ["all,default", "fr,all", "all,ALL,de"])
def test_store_codes_all_stands_alone(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    set_required(monkeypatch, SYNC_STORE_CODES=value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == "SYNC_STORE_CODES"
    assert "all" in info.value.message and "alone" in info.value.message


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "\n".join(f"{k}={v}" for k, v in REQUIRED.items()) + "\nSYNC_PAGE_SIZE=120\n"
    )
    assert load_settings().sync_page_size == 120


def test_toml_file_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "accs-sync.toml"
    config.write_text(
        'ims_client_id = "from-toml"\nims_client_secret = "s3cr3t-toml"\nims_org_id = "ORG@AdobeOrg"\n'
        'api_endpoint = "https://na1.api.commerce.adobe.com/T1"\nsync_store_codes = ["default", "fr"]\n'
    )
    s = load_settings(config)
    assert s.ims_client_id == "from-toml" and s.sync_store_codes == ["default", "fr"]
    monkeypatch.setenv("IMS_CLIENT_ID", "from-env")
    monkeypatch.setenv("ACCS_SYNC_CONFIG", str(config))
    assert load_settings().ims_client_id == "from-env"


@pytest.mark.parametrize(
    ("changes", "setting", "fragment"),
    [
        ({"API_ENDPOINT": "http://accs.example.com/T"}, "API_ENDPOINT", "https"),
        ({"API_ENDPOINT": "https://na1.api.commerce.adobe.com"}, "API_ENDPOINT", "tenant id"),
        ({"API_ENDPOINT": "https://na1.api.commerce.adobe.com/T/V1"}, "API_ENDPOINT", "tenant id"),
        ({"IMS_TOKEN_URL": "http://ims.example.com/ims/token/v3"}, "IMS_TOKEN_URL", "https"),
        ({"SYNC_PAGE_SIZE": "500"}, "SYNC_PAGE_SIZE", "300"),
        ({"SYNC_SCHEDULE": "every tuesday"}, "SYNC_SCHEDULE", "crontab"),
        ({"SYNC_STORE_CODES": "default,bad code"}, "SYNC_STORE_CODES", "bad code"),
        ({"SYNC_LOG_FORMAT": "xml"}, "SYNC_LOG_FORMAT", "text or json"),
        ({"SYNC_RESOURCES": "products,stock"}, "SYNC_RESOURCES", "unknown resources: stock"),
        ({"SYNC_RESOURCES": " , "}, "SYNC_RESOURCES", "at least one"),
        ({"SYNC_SOURCE_ITEMS_SCHEDULE": "often"}, "SYNC_SOURCE_ITEMS_SCHEDULE", "crontab"),
    ],
)
def test_bad_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, changes: dict[str, str], setting: str, fragment: str
) -> None:
    set_required(monkeypatch, **changes)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == setting
    assert setting in info.value.message and fragment in info.value.message
    assert "\n" not in info.value.message


def test_resources_default_to_all_and_keep_the_order_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_required(monkeypatch)
    assert load_settings().sync_resources == [
        "products",
        "categories",
        "source_items",
        "attributes",
    ]
    set_required(monkeypatch, SYNC_RESOURCES="Source_Items, products,source_items")
    assert load_settings().sync_resources == ["source_items", "products"]


def test_plain_http_is_fine_for_a_loopback_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    set_required(
        monkeypatch,
        API_ENDPOINT="http://127.0.0.1:8080/tenant-1",
        IMS_TOKEN_URL="http://localhost:8080/ims/token/v3",
    )
    assert load_settings().api_endpoint == "http://127.0.0.1:8080/tenant-1"


INSECURE = {
    "API_ENDPOINT": "http://emulator:8080/demo-tenant",
    "IMS_TOKEN_URL": "http://emulator:8080/ims/token/v3",
}


@pytest.mark.parametrize("setting", sorted(INSECURE))
def test_plain_http_to_another_host_is_refused_by_default(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    set_required(monkeypatch, **{setting: INSECURE[setting]})
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == setting
    assert "https" in info.value.message and "SYNC_ALLOW_INSECURE_HTTP" in info.value.message


@pytest.mark.parametrize("value", ["false", "0", "no"])
def test_the_insecure_opt_in_set_false_still_refuses(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    set_required(monkeypatch, SYNC_ALLOW_INSECURE_HTTP=value, **INSECURE)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == "API_ENDPOINT"


def test_plain_http_to_another_host_is_accepted_with_the_opt_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_required(monkeypatch, SYNC_ALLOW_INSECURE_HTTP="true", **INSECURE)
    s = load_settings()
    assert s.sync_allow_insecure_http is True
    assert (s.api_endpoint, s.ims_token_url) == (
        INSECURE["API_ENDPOINT"],
        INSECURE["IMS_TOKEN_URL"],
    )
    # The authorize and revoke URLs follow the token URL's origin, so they are plain http too.
    assert s.insecure_urls() == [
        "API_ENDPOINT",
        "IMS_TOKEN_URL",
        "IMS_AUTHORIZE_URL",
        "IMS_REVOKE_URL",
    ]


def test_the_opt_in_is_logged_as_a_warning_at_start_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sync.app import warn_insecure_http

    set_required(monkeypatch, SYNC_ALLOW_INSECURE_HTTP="true", **INSECURE)
    with caplog.at_level("WARNING", logger="sync.app"):
        warn_insecure_http(load_settings())
    [record] = caplog.records
    assert record.levelname == "WARNING"
    assert "SYNC_ALLOW_INSECURE_HTTP" in record.getMessage()
    assert "API_ENDPOINT, IMS_TOKEN_URL" in record.getMessage()
    assert REQUIRED["IMS_CLIENT_SECRET"] not in record.getMessage()


def test_the_opt_in_with_https_urls_changes_nothing_but_is_still_reported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sync.app import warn_insecure_http

    set_required(monkeypatch, SYNC_ALLOW_INSECURE_HTTP="true")
    s = load_settings()
    assert s.api_endpoint == REQUIRED["API_ENDPOINT"] and s.insecure_urls() == []
    with caplog.at_level("WARNING", logger="sync.app"):
        warn_insecure_http(s)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "turn it off" in caplog.records[0].getMessage()


def test_no_warning_without_the_opt_in(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sync.app import warn_insecure_http

    set_required(
        monkeypatch,
        API_ENDPOINT="http://127.0.0.1:8080/tenant-1",
        IMS_TOKEN_URL="http://[::1]:8080/ims/token/v3",
    )
    s = load_settings()
    assert s.sync_allow_insecure_http is False and s.insecure_urls() == []
    with caplog.at_level("WARNING", logger="sync.app"):
        warn_insecure_http(s)
    assert caplog.records == []


def test_missing_settings_are_listed_together() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings()
    for name in REQUIRED:
        assert name in info.value.message


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_database_only_commands_need_no_credentials() -> None:
    assert load_database_settings().database_url.startswith("sqlite:///")


def test_log_format_is_text_unless_json_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    set_required(monkeypatch)
    assert load_settings().sync_log_format == "text"
    monkeypatch.setenv("SYNC_LOG_FORMAT", " JSON ")
    assert load_settings().sync_log_format == "json"
    # migrate and status read only the database settings: they log as asked too.
    assert load_database_settings().sync_log_format == "json"
    monkeypatch.setenv("SYNC_LOG_FORMAT", "yaml")
    with pytest.raises(ConfigError) as info:
        load_database_settings()
    assert info.value.setting == "SYNC_LOG_FORMAT"
    assert info.value.message == "SYNC_LOG_FORMAT must be text or json"


def test_secret_never_appears_in_a_validation_error(monkeypatch: pytest.MonkeyPatch) -> None:
    set_required(monkeypatch, IMS_CLIENT_SECRET="", SYNC_PAGE_SIZE="0")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert REQUIRED["IMS_CLIENT_SECRET"] not in info.value.message


# -- issue 3: where the secret comes from, the user flow, JWT refusal --------------------------


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"IMS_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----"}, "IMS_PRIVATE_KEY"),
        ({"IMS_PRIVATE_KEY_PATH": "/keys/private.key"}, "IMS_PRIVATE_KEY_PATH"),
        ({"IMS_TECHNICAL_ACCOUNT_ID": "ABC@techacct.adobe.com"}, "IMS_TECHNICAL_ACCOUNT_ID"),
        ({"IMS_TOKEN_URL": "https://ims-na1.adobelogin.com/ims/exchange/jwt"}, "IMS_TOKEN_URL"),
        (
            {"META_SCOPES": "https://ims-na1.adobelogin.com/s/ent_commerce_sdk ims/exchange/jwt"},
            "META_SCOPES",
        ),
    ],
)
def test_a_jwt_service_account_is_refused_with_the_migration_hint(
    monkeypatch: pytest.MonkeyPatch, changes: dict[str, str], named: str
) -> None:
    set_required(monkeypatch, **changes)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = info.value.message
    assert named in message and "2025-06-30" in message
    assert "OAuth Server-to-Server" in message
    assert "BEGIN PRIVATE KEY" not in message


def test_a_jwt_config_without_a_client_secret_still_gets_the_jwt_explanation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_required(monkeypatch, IMS_PRIVATE_KEY_PATH="/keys/private.key")
    monkeypatch.delenv("IMS_CLIENT_SECRET")
    with pytest.raises(ConfigError, match="2025-06-30"):
        load_settings()


def test_secret_and_secret_file_together_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "s").write_text("x")
    set_required(monkeypatch, IMS_CLIENT_SECRET_FILE=str(tmp_path / "s"))
    with pytest.raises(ConfigError, match="either IMS_CLIENT_SECRET or IMS_CLIENT_SECRET_FILE"):
        load_settings()


def test_no_secret_at_all_names_every_way_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    set_required(monkeypatch, IMS_SECRETS_DIR="/nonexistent")
    monkeypatch.delenv("IMS_CLIENT_SECRET")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == "IMS_CLIENT_SECRET"
    assert "IMS_CLIENT_SECRET is required" in info.value.message
    assert "IMS_CLIENT_SECRET_FILE" in info.value.message


def test_secret_sources_in_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "ims_client_secret").write_text("from-the-mount\n")
    (tmp_path / "ims_client_secret_next").write_text("next-from-the-mount\n")
    set_required(monkeypatch, IMS_SECRETS_DIR=str(tmp_path))
    monkeypatch.delenv("IMS_CLIENT_SECRET")
    names = [(s.name, s.read().get_secret_value()) for s in load_settings().client_secrets()]
    assert names == [
        (f"IMS_CLIENT_SECRET_FILE ({tmp_path / 'ims_client_secret'})", "from-the-mount"),
        (
            f"IMS_CLIENT_SECRET_NEXT_FILE ({tmp_path / 'ims_client_secret_next'})",
            "next-from-the-mount",
        ),
    ]
    # An explicit value wins over the mounted file.
    monkeypatch.setenv("IMS_CLIENT_SECRET", "explicit")
    first = load_settings().client_secrets()[0]
    assert first.name == "IMS_CLIENT_SECRET" and first.read().get_secret_value() == "explicit"


def test_token_cache_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_required(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert load_settings().token_cache_path() == tmp_path / "accs-sync" / "tokens.json"
    monkeypatch.setenv("SYNC_TOKEN_CACHE", "none")
    assert load_settings().token_cache_path() is None
    monkeypatch.setenv("SYNC_TOKEN_CACHE", str(tmp_path / "t.json"))
    assert load_settings().token_cache_path() == tmp_path / "t.json"


def test_user_flow_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    set_required(monkeypatch, IMS_AUTH_FLOW="authorization_code")
    s = load_settings()
    assert s.ims_auth_flow == "authorization_code"
    assert s.authorize_url == "https://ims-na1.adobelogin.com/ims/authorize/v2"
    set_required(monkeypatch, IMS_AUTH_FLOW="jwt")
    with pytest.raises(ConfigError, match="IMS_AUTH_FLOW"):
        load_settings()


def test_the_user_flow_needs_the_token_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    set_required(monkeypatch, IMS_AUTH_FLOW="authorization_code", SYNC_TOKEN_CACHE="none")
    with pytest.raises(ConfigError, match="SYNC_TOKEN_CACHE") as info:
        load_settings()
    assert info.value.setting == "SYNC_TOKEN_CACHE"


def test_a_missing_secret_file_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_required(monkeypatch, IMS_CLIENT_SECRET_FILE=str(tmp_path / "nope"))
    monkeypatch.delenv("IMS_CLIENT_SECRET")
    with pytest.raises(ConfigError, match="IMS_CLIENT_SECRET_FILE") as info:
        load_settings()
    assert info.value.setting == "IMS_CLIENT_SECRET_FILE"


# -- issue 14: values that crash later, or smuggle characters, are refused up front ------------

FLOAT_SETTINGS = [
    "SYNC_HTTP_TIMEOUT",
    "SYNC_CONNECT_TIMEOUT",
    "SYNC_MAX_RETRY_SECONDS",
    "SYNC_MAX_RETRY_AFTER",
    "SYNC_MAX_RPS",
    "SYNC_PROGRESS_SECONDS",
    "IMS_LOGIN_TIMEOUT",
    "SYNC_MISFIRE_GRACE_SECONDS",  # an int, but a huge one overflows APScheduler's timedelta
]


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity", "1e300"])
@pytest.mark.parametrize("setting", FLOAT_SETTINGS)
def test_a_float_setting_must_be_finite_and_sane(
    monkeypatch: pytest.MonkeyPatch, setting: str, value: str
) -> None:
    set_required(monkeypatch, **{setting: value})
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == setting
    assert info.value.message.startswith(setting)
    assert "finite" in info.value.message or "at most" in info.value.message


def test_float_settings_within_bounds_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    set_required(monkeypatch, SYNC_HTTP_TIMEOUT="120.5", SYNC_MAX_RETRY_AFTER="3600")
    s = load_settings()
    assert s.sync_http_timeout == 120.5 and s.sync_max_retry_after == 3600


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://na1.api.commerce.adobe.com/T?store=fr",
        "https://na1.api.commerce.adobe.com/T#top",
        "https://user:s3cr3tpw@na1.api.commerce.adobe.com/T",
        "https://na1.api.commerce.adobe.com/T/../other",
        "https://na1.api.commerce.adobe.com/T/%2e%2e/other",
        "https://na1.api.commerce.adobe.com/T/./x",
        "https://na1.api.commerce.adobe.com/T\r\nX: y",
    ],
)
def test_api_endpoint_is_a_plain_base_url(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    set_required(monkeypatch, API_ENDPOINT=endpoint)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == "API_ENDPOINT"
    assert info.value.message.startswith("API_ENDPOINT")
    assert "s3cr3tpw" not in info.value.message  # userinfo may be a password: never echoed
    assert "\r" not in info.value.message and "\n" not in info.value.message


def test_control_characters_in_store_codes_are_refused_and_shown_escaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_required(monkeypatch, SYNC_STORE_CODES="default,fr\r\n2026-01-01 INFO forged line\x1b[2J")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = info.value.message
    assert info.value.setting == "SYNC_STORE_CODES"
    assert not any(ord(c) < 32 or ord(c) == 127 for c in message)
    assert "\\r\\n" in message and "\\x1b" in message


@pytest.mark.parametrize("setting", ["IMS_CLIENT_ID", "IMS_ORG_ID"])
@pytest.mark.parametrize("bad", ["abc\r\nX-Evil: 1", "abc\ndef", "a\x1bb", "a\tb"])
def test_control_characters_in_the_client_or_org_id_are_refused(
    monkeypatch: pytest.MonkeyPatch, setting: str, bad: str
) -> None:
    set_required(monkeypatch, **{setting: bad})
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == setting
    assert info.value.message.startswith(setting)
    assert not any(ord(c) < 32 for c in info.value.message)


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"IMS_CLIENT_ID": "client\r\nX-Evil: 1"}, "IMS_CLIENT_ID"),
        ({"IMS_ORG_ID": "org\n@AdobeOrg"}, "IMS_ORG_ID"),
        ({"SYNC_HTTP_TIMEOUT": "inf"}, "SYNC_HTTP_TIMEOUT"),
        ({"API_ENDPOINT": "https://na1.api.commerce.adobe.com/T?x=1"}, "API_ENDPOINT"),
    ],
)
def test_the_cli_exits_2_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    changes: dict[str, str],
    setting: str,
) -> None:
    from sync.cli import main

    # Nothing listens on these: a run that got past the settings would fail with exit 1.
    loopback = {"API_ENDPOINT": "http://127.0.0.1:9/T", "IMS_TOKEN_URL": "http://127.0.0.1:9/t"}
    set_required(
        monkeypatch, **{**loopback, **changes}, SYNC_TOKEN_CACHE="none", SYNC_MAX_ATTEMPTS="1"
    )
    assert main(["sync", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"accs-sync: error: {setting}")


# -- issue 18: client secret rotation ----------------------------------------------------------


def test_rotation_settings_default_and_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    set_required(monkeypatch)
    s = load_settings()
    assert s.ims_credential_id is None
    assert s.io_management_api_url == "https://api.adobe.io"
    assert s.sync_secret_max_age_days == 90
    monkeypatch.setenv("IMS_CREDENTIAL_ID", "12345")
    monkeypatch.setenv("IO_MANAGEMENT_API_URL", "https://proxy.example.com/adobe/")
    s = load_settings()
    assert (s.ims_credential_id, s.io_management_api_url) == (
        "12345",
        "https://proxy.example.com/adobe",
    )


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("IO_MANAGEMENT_API_URL", "http://api.adobe.io", "https://"),
        ("IO_MANAGEMENT_API_URL", "https://user:pw@api.adobe.io", "user name"),
        ("IO_MANAGEMENT_API_URL", "https://api.adobe.io/?x=1", "query"),
        ("IO_MANAGEMENT_API_URL", "https://api.adobe.io/a/../b", ". or .."),
        ("IMS_CREDENTIAL_ID", "12/../34", "IMS_CREDENTIAL_ID"),
        ("IMS_CREDENTIAL_ID", "12\n34", "control"),
        ("SYNC_SECRET_MAX_AGE_DAYS", "0", "SYNC_SECRET_MAX_AGE_DAYS"),
    ],
)
def test_rotation_settings_refuse_hostile_values(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    set_required(monkeypatch, **{name: value})
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert says in info.value.message
    assert "pw@" not in info.value.message


def test_next_secret_file_may_wait_for_the_first_rotation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`secret rotate` writes IMS_CLIENT_SECRET_NEXT_FILE: before the first rotation it names
    a file that does not exist yet, in a folder that does."""
    set_required(monkeypatch, IMS_CLIENT_SECRET_NEXT_FILE=str(tmp_path / "next"))
    assert load_settings().ims_client_secret_next_file == tmp_path / "next"
    monkeypatch.setenv("IMS_CLIENT_SECRET_NEXT_FILE", str(tmp_path / "missing" / "next"))
    with pytest.raises(ConfigError, match="IMS_CLIENT_SECRET_NEXT_FILE"):
        load_settings()
