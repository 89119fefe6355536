"""The engine's module map reads top-down (issue 15): run -> pass -> workers/writer/partitions
-> api/db/model, no module of it over about 400 lines, and no layer imports the one above."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SYNC = Path(__file__).resolve().parents[2] / "sync"

#: Top to bottom; a module may import those on its own or a lower line only.
LAYERS = (
    # The event consumer (issue 16) drives runs; its journal client and coalescing are
    # below everything (they know nothing of passes).
    ("events.commands", "events.wiring"),
    ("events.consumer", "events.setup"),
    ("pipeline", "run"),
    ("drive",),
    ("product_pass", "engine", "keyspass"),
    (
        "fullpass",
        "reconcile",
        "product_page",
        "resource_page",
        "partitions",
        "tombstones",
        "resource_watermark",
        "keyranges",
        "workers",
    ),
    ("passtools", "resources", "parsers", "window", "stats", "planner", "resume"),
    ("events.coalesce", "events.journal", "events.state", "events.metrics", "events.config"),
)
MAX_LINES = 420


def _path(module: str) -> Path:
    return SYNC / f"{module.replace('.', '/')}.py"


def _imports(module: str) -> set[str]:
    tree = ast.parse(_path(module).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sync."):
            found.add(node.module.removeprefix("sync."))
        elif isinstance(node, ast.Import):
            found |= {
                a.name.removeprefix("sync.") for a in node.names if a.name.startswith("sync.")
            }
    return found


@pytest.mark.parametrize("module", [m for layer in LAYERS for m in layer])
def test_engine_modules_stay_small(module: str) -> None:
    lines = len(_path(module).read_text().splitlines())
    assert lines <= MAX_LINES, f"sync/{module}.py has {lines} lines"


@pytest.mark.parametrize("depth", range(1, len(LAYERS)))
def test_no_layer_imports_the_one_above(depth: int) -> None:
    above = {m for layer in LAYERS[:depth] for m in layer}
    for module in LAYERS[depth]:
        assert not _imports(module) & above, f"sync/{module}.py imports a layer above it"
