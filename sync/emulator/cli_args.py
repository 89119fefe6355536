"""``accs-sync emulator``: its flags and how it starts the server.

:mod:`sync.cli` only registers the command (its shared flags, logging, exit codes); what the
emulator accepts and does lives here, beside the emulator. Importing this module is cheap: the
server is imported when the command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sync.errors import ConfigError

if TYPE_CHECKING:
    from sync.emulator.faults import Faults

__all__ = ["add_arguments", "emulator_faults", "run"]


def _at_least(low: float, kind: type[int] | type[float] = int) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value >= low:  # also refuses nan
            raise argparse.ArgumentTypeError(f"{text} is below {low:g}")
        return value

    return parse


def _http_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a base URL such as http://emulator:8080 (no path)"
        )
    return text.rstrip("/")


def _store_views(text: str) -> tuple[str, ...]:
    from sync.emulator.runner import parse_stores

    try:
        return parse_stores(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: The numeric flags (the faults, the render cache): flag, parser, default, metavar, help.
_LIMITS: tuple[tuple[str, Callable[[str], Any], float | None, str, str], ...] = (
    (
        "--latency",
        _at_least(0, float),
        0.0,
        "SECONDS",
        "each request (ACCS, and IMS token requests too) takes this long to answer, from its "
        "arrival, the emulator's own work included",
    ),
    (
        "--rate-limit-rps",
        _at_least(0, float),
        0.0,
        "N",
        "allow N ACCS requests per second, then 429 with Retry-After (0: no limit)",
    ),
    (
        "--rate-limit-burst",
        _at_least(1),
        None,
        "N",
        "requests allowed at once before the rate applies (default: the rate)",
    ),
    ("--error-5xx-every", _at_least(0), 0, "N", "every Nth ACCS request answers 503 (0: never)"),
    (
        "--events-standard-delay",
        _at_least(0, float),
        5.0,
        "SECONDS",
        "before a standard (not priority) event reaches the journal (default 5; ACCS: up to 59)",
    ),
    (
        "--events-delay",
        _at_least(0, float),
        0.0,
        "SECONDS",
        "a delivery delay added to every event (default 0)",
    ),
    (
        "--render-cache-mb",
        _at_least(0),
        256,
        "MB",
        "memory for encoded products, which makes pages cheap (default 256, ~115k products; "
        "0: off)",
    ),
)


def add_arguments(emulator: argparse.ArgumentParser) -> None:
    """Add the ``emulator`` command's own flags to its parser."""
    emulator.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1). Anything but loopback (e.g. 0.0.0.0 in "
        "a container) exposes a credential-less test server, its /_emulator controls included, "
        "to everyone who can reach the port",
    )
    emulator.add_argument("--port", type=int, default=8080)
    emulator.add_argument(
        "--public-url",
        metavar="URL",
        type=_http_url,
        default=None,
        help="base URL clients reach it by, used in the printed export lines (default "
        "http://HOST:PORT, with 127.0.0.1 for 0.0.0.0); e.g. http://emulator:8080 in docker "
        "compose",
    )
    emulator.add_argument(
        "--products", type=int, default=None, help="generate N products (default 500)"
    )
    emulator.add_argument(
        "--catalog", metavar="FILE", help="load a Magento product-import CSV instead"
    )
    emulator.add_argument(
        "--seed", type=int, default=0, help="seed of the generated catalog (default 0)"
    )
    emulator.add_argument(
        "--stores",
        type=_store_views,
        default=(),
        metavar="CODES",
        help="store views besides default, e.g. fr,de (names of their own for fr, de, es), "
        "listed by GET /V1/store/storeViews after admin (add or remove one at run time with "
        "/_emulator/stores); any other store code is answered as Magento answers an unknown "
        "store",
    )
    for flag, parse, default, metavar, text in _LIMITS:
        emulator.add_argument(flag, type=parse, default=default, metavar=metavar, help=text)


def emulator_faults(args: argparse.Namespace) -> Faults:
    """The :class:`~sync.emulator.Faults` that ``accs-sync emulator``'s flags ask for."""
    from sync.emulator.faults import Faults

    return Faults(
        latency=args.latency,
        rate_limit_rps=args.rate_limit_rps,
        rate_limit_burst=args.rate_limit_burst,
        error_5xx_every=args.error_5xx_every,
        events_standard_delay=args.events_standard_delay,
        events_delay=args.events_delay,
    )


def run(args: argparse.Namespace, print_fn: Callable[[str], None]) -> None:
    """Serve the emulator the flags describe until interrupted. A missing ``--catalog`` file
    or a port it cannot listen on is a :class:`~sync.errors.ConfigError` naming the flag."""
    from sync.emulator.runner import serve_forever
    from sync.emulator.server import CannotListen

    if args.catalog and not Path(args.catalog).is_file():
        raise ConfigError(f"--catalog {args.catalog!r}: no such file", setting="--catalog")
    try:
        serve_forever(
            host=args.host,
            port=args.port,
            public_url=args.public_url,
            products=args.products,
            catalog_file=args.catalog,
            print_fn=print_fn,
            seed=args.seed,
            faults=emulator_faults(args),
            render_cache_bytes=args.render_cache_mb * 1024 * 1024,
            stores=args.stores,
        )
    except CannotListen as exc:  # a busy port: one line and exit 2, not a traceback
        raise ConfigError(str(exc), setting="--port") from None
