"""``accs-sync emulator``: build a catalog, serve it (on loopback unless told otherwise), print
how to connect, block.

The credentials printed are the emulator's published demo values, never real ones, so printing
them is the point: a user pastes the ``export`` lines into the shell that runs the sync.
"""

from __future__ import annotations

import logging
import shlex
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from sync.emulator.admin import ADMIN_PREFIX
from sync.emulator.catalog import Catalog
from sync.emulator.faults import Faults
from sync.emulator.pages import DEFAULT_CACHE_BYTES
from sync.emulator.server import CannotListen, EmulatorServer
from sync.emulator.storeviews import STORE_CODE

__all__ = ["DEFAULT_PRODUCTS", "build_catalog", "parse_stores", "serve_forever"]

log = logging.getLogger(__name__)

DEFAULT_PRODUCTS = 500
#: Magento's rule for a store view code: a letter, then letters, digits or underscores.


def parse_stores(text: str) -> tuple[str, ...]:
    """``--stores fr,de``: the store views besides ``default``, in order, once each."""
    codes = tuple(dict.fromkeys(code.strip() for code in text.split(",") if code.strip()))
    bad = [code for code in codes if not STORE_CODE.fullmatch(code)]
    if bad:
        raise ValueError(
            f"{', '.join(map(repr, bad))}: a store view code is a letter, then letters, digits "
            "or _ (at most 32), comma-separated, e.g. fr,de"
        )
    return tuple(code for code in codes if code != "default")


def build_catalog(
    products: int | None = None,
    catalog_file: str | None = None,
    seed: int = 0,
    stores: Sequence[str] = (),
) -> Catalog:
    """A CSV-loaded catalog when ``catalog_file`` is given, else ``products`` generated ones;
    it answers for ``default``, ``stores`` and (from a CSV) the store views the file names.
    Any other store view gets Magento's "store that was requested wasn't found"."""
    if catalog_file:
        return Catalog.from_csv(catalog_file, seed=seed, stores=stores)
    count = DEFAULT_PRODUCTS if products is None else products
    return Catalog.generate(count, seed=seed, stores=("default", *stores))


def serve_forever(
    port: int,
    products: int | None = None,
    catalog_file: str | None = None,
    print_fn: Callable[[str], object] = print,
    *,
    host: str = "127.0.0.1",
    seed: int = 0,
    stop_event: threading.Event | None = None,
    on_ready: Callable[[EmulatorServer], None] | None = None,
    faults: Faults | None = None,
    render_cache_bytes: int = DEFAULT_CACHE_BYTES,
    public_url: str | None = None,
    stores: Sequence[str] = (),
) -> None:
    """Serve until Ctrl-C, SIGTERM or ``stop_event``; then stop cleanly. An address it
    cannot listen on is a :class:`CannotListen` whose message names the flag to change."""
    catalog = build_catalog(products, catalog_file, seed, stores)
    stop = stop_event or threading.Event()
    server = EmulatorServer(
        catalog,
        host=host,
        port=port,
        faults=faults,
        render_cache_bytes=render_cache_bytes,
        public_url=public_url,
    )
    try:
        server.start()
    except CannotListen as exc:
        hint = (
            "choose another with --port (0: any free port)"
            if exc.busy
            else "check --host and --port"
        )
        raise CannotListen(f"{exc}; {hint}", busy=exc.busy) from exc.__cause__
    previous = _install_sigterm(stop)
    try:
        source = catalog_file or f"{len(catalog)} generated products (seed {seed})"
        print_fn(f"ACCS emulator listening on {server.bound_address} serving {source}")
        if not server.is_loopback_only:
            print_fn(
                "WARNING: not on loopback: anyone who can reach this port can use this test "
                "server and its controls, without credentials"
            )
        print_fn(f"store views: {', '.join(catalog.stores)}")
        changed = _changed_faults(server.faults)
        if changed:
            print_fn(f"faults: {changed}")
        print_fn(
            f"emulator controls: {server.base_url}{ADMIN_PREFIX}/stats and {ADMIN_PREFIX}/faults"
        )
        print_fn("Point accs-sync at it with:")
        for name, value in server.credentials.items():
            print_fn(f"export {name}={shlex.quote(value)}")
        if not server.reached_over_loopback:  # e.g. http://emulator:8080 in docker compose
            # accs-sync refuses plain http to another host unless told this is a test server.
            print_fn("export SYNC_ALLOW_INSECURE_HTTP=true")
        # Commented out: the events consumer is opt-in (subscribe first: accs-sync events setup).
        print_fn("To consume its events too (after `accs-sync events setup`):")
        print_fn(f"# export IO_EVENTS_JOURNAL_URL={shlex.quote(server.journal_url)}")
        print_fn("Press Ctrl-C to stop.")
        if on_ready is not None:
            on_ready(server)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        _restore_sigterm(previous)
        print_fn("ACCS emulator stopped.")


def _changed_faults(faults: Faults) -> str:
    healthy = Faults().settings()
    return ", ".join(
        f"{name}={value}" for name, value in faults.settings().items() if value != healthy[name]
    )


_Previous = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


def _install_sigterm(stop: threading.Event) -> _Previous:
    if threading.current_thread() is not threading.main_thread():
        return None

    def handle(signum: int, frame: FrameType | None) -> None:
        log.info("SIGTERM received; stopping the emulator")
        stop.set()

    return signal.signal(signal.SIGTERM, handle)


def _restore_sigterm(previous: _Previous) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)
