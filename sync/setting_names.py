"""Setting names as a user writes them: a key in the TOML file that is no setting is an error
naming the closest one; a ``SYNC_*`` / ``IMS_*`` environment name close to a setting's is
reported as a likely typo. ``names`` are the settings' names in upper case
(:func:`sync.settings.setting_names`)."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path

from sync.errors import ConfigError
from sync.redact import escape_control

__all__ = ["check_toml_names", "environment_typos", "typo_hint"]

#: An environment name this similar to a setting's (difflib's ratio) is taken for a typo of it.
_TYPO_CUTOFF = 0.8


def _closest(name: str, names: Collection[str], cutoff: float) -> str | None:
    match = difflib.get_close_matches(name.upper(), list(names), n=1, cutoff=cutoff)
    return match[0] if match else None


def check_toml_names(path: Path, names: Collection[str]) -> None:
    """Refuse a config file with a key that is no setting (a typo would be ignored silently):
    one :class:`ConfigError` naming each such key and the closest real setting. Keys are
    compared without regard to case, as pydantic-settings reads them."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError(
            f"cannot read config file {str(path)!r}: {exc}", setting="ACCS_SYNC_CONFIG"
        ) from None
    known = {name.lower() for name in names}
    unknown = [key for key in data if key.lower() not in known]
    if not unknown:
        return
    described = []
    for key in unknown:
        shown = escape_control(repr(key))
        close = _closest(key, names, 0.6)
        described.append(f"{shown} (did you mean {close.lower()}?)" if close else shown)
    noun = "setting" if len(unknown) == 1 else "settings"
    raise ConfigError(
        f"config file {str(path)!r} has unknown {noun} {', '.join(described)}; fix or remove "
        "them (setting names are listed in config/accs-sync.example.toml and the README)",
        setting="ACCS_SYNC_CONFIG",
    )


def environment_typos(
    names: Collection[str],
    environ: Mapping[str, str] | None = None,
    env_file: Path = Path(".env"),
) -> list[str]:
    """A warning for each ``SYNC_*`` / ``IMS_*`` name in the environment (``environ``, default
    this process's) or in ``env_file`` that is no setting but close to one
    (``SYNC_STORE_CODE`` for ``SYNC_STORE_CODES``). Not an error: other tools share these
    prefixes, and a name like none of ours is left alone."""
    return [
        f"{where} {escape_control(name)} is not a setting and is ignored; did you mean {close}?"
        for where, name, close in _typos(names, environ, env_file)
    ]


def _typos(
    names: Collection[str], environ: Mapping[str, str] | None, env_file: Path = Path(".env")
) -> list[tuple[str, str, str]]:
    """(where, name, the setting meant) for each likely typo; see :func:`environment_typos`."""
    from dotenv import dotenv_values  # pydantic-settings' own .env reader

    where = {name: "environment variable" for name in (os.environ if environ is None else environ)}
    if env_file.is_file():
        for name in dotenv_values(env_file):
            where.setdefault(name, f"{env_file} entry")
    known = set(names)
    out = []
    for name in sorted(where):
        upper = name.upper()
        if not upper.startswith(("SYNC_", "IMS_")) or upper in known:
            continue
        close = _closest(upper, known, _TYPO_CUTOFF)
        if close is not None:
            out.append((where[name], name, close))
    return out


def typo_hint(message: str, names: Collection[str]) -> str:
    """`` (IMS_CLIENTID is set: did you mean IMS_CLIENT_ID?)`` when a setting ``message``
    names is missing or wrong because the name was mistyped; else nothing."""
    hints = [
        f"{escape_control(name)} is set: did you mean {close}?"
        for _, name, close in _typos(names, None)
        if re.search(rf"\b{close}\b", message)
    ]
    return f" ({'; '.join(hints)})" if hints else ""
