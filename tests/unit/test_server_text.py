"""Server text (Magento's messages) never reaches our messages with raw control characters: a
server must not be able to forge log lines or drive the terminal."""

from __future__ import annotations

import pytest
import requests
import responses

from sync.api.classify import escape_control, magento_message, response_json
from sync.api.ims import parse_token_answer
from sync.errors import ApiError

URL = "https://na1.api.commerce.adobe.com/T/V1/products"
FORGED = "bad\n2026-12-05 06:00:00,000 ERROR sync.pipeline: forged \x1b[31mred\x1b[0m\r\u2028x"


def answer(**kwargs: object) -> requests.Response:
    with responses.RequestsMock() as rsps:
        rsps.get(URL, **kwargs)  # type: ignore[arg-type]
        return requests.get(URL, timeout=5)


def raw_controls(text: str) -> list[str]:
    return [ch for ch in text if ch in "\n\r\x1b\u2028" or ord(ch) < 32]


def test_control_characters_are_escaped_repr_style() -> None:
    assert escape_control("a\nb\x1b[31m\tc\x7f\u2028") == "a\\nb\\x1b[31m\\tc\\x7f\\u2028"
    assert escape_control("plain text: 100% ok, ünïcode") == "plain text: 100% ok, ünïcode"


def test_magento_messages_and_their_parameters_are_escaped() -> None:
    body = {"message": "%1 at %field", "parameters": {"1": "x\ny", "field": "\x1b[2J"}}
    assert magento_message({"message": FORGED}) == escape_control(FORGED)
    assert raw_controls(magento_message(body) or "") == []
    listed = {"message": "%1", "parameters": ["a\rb"]}
    assert magento_message(listed) == "a\\rb"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503])
def test_no_error_message_carries_a_raw_control_character(status: int) -> None:
    with pytest.raises(ApiError) as info:
        response_json(answer(status=status, json={"message": FORGED}))
    assert raw_controls(info.value.message) == []
    assert "\\x1b[31m" in info.value.message and "forged" in info.value.message


def test_a_plain_text_body_is_escaped_too() -> None:
    with pytest.raises(ApiError) as info:
        response_json(answer(status=502, body=FORGED.encode(), content_type="text/plain"))
    assert raw_controls(info.value.message) == []


@pytest.mark.parametrize(
    "body",
    [
        {"error": "invalid_client", "error_description": FORGED},
        {"error": "invalid_scope", "error_description": FORGED},
        {"error": FORGED, "error_description": "x"},
    ],
)
def test_an_ims_error_description_is_escaped(body: dict[str, str]) -> None:
    """IMS's error text reaches the run's error line and sync_runs.error as Magento's does."""
    token_url = "https://ims-na1.adobelogin.com/ims/token/v3"
    with responses.RequestsMock() as rsps:
        rsps.post(token_url, status=400, json=body)
        response = requests.post(token_url, timeout=5)
    with pytest.raises(ApiError) as info:
        parse_token_answer(response, token_url, "client_credentials", ["commerce.accs"])
    assert raw_controls(info.value.message) == []
    assert "forged" in info.value.message
