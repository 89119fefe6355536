"""``sync.pipeline``: the public names of a sync run, kept where callers import them.

The run itself lives in :mod:`sync.run` (lock, ``sync_runs`` row, outcome) and
:mod:`sync.drive` (every resource over the store views); the products' passes in
:mod:`sync.product_pass` and their page writer in :mod:`sync.product_page`; the window in
:mod:`sync.window`. ``docs/engine.md`` draws the module map.
"""

from __future__ import annotations

from sync.product_pass import CHECKPOINT, WATERMARK
from sync.run import Catalog, Pipeline
from sync.stats import RunStats, StoreStats
from sync.window import RunKind, Window

__all__ = [
    "CHECKPOINT",
    "WATERMARK",
    "Catalog",
    "Pipeline",
    "RunKind",
    "RunStats",
    "StoreStats",
    "Window",
]
