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
        "resource_state",
        "keyranges",
        "workers",
    ),
    ("passtools", "resources", "parsers", "window", "stats", "planner", "resume"),
    ("events.coalesce", "events.journal", "events.state", "events.metrics", "events.config"),
    ("events.parser",),
)
MAX_LINES = 420

#: Modules outside the engine's layers held to the same size: the command line, the settings,
#: the item model and the metrics, each split along its seams (module: what was split out of it).
SPLIT = {
    "cli": ("cli_common", "cli_run", "cli_admin", "cli_tools", "cli_auth", "cli_secret"),
    "settings": ("settings_checks", "settings_secrets"),
    "models": ("item_fields", "accs_time"),
    "metrics": ("metrics_clocks",),
    "app": ("tokens",),
}
#: A part that takes the object it checks, by a type-only import of the module it came from.
TYPE_ONLY_IMPORT = {"settings_secrets"}


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


@pytest.mark.parametrize("module", [m for main, parts in SPLIT.items() for m in (main, *parts)])
def test_split_modules_stay_small(module: str) -> None:
    lines = len((SYNC / f"{module}.py").read_text().splitlines())
    assert lines <= MAX_LINES, f"sync/{module}.py has {lines} lines"


@pytest.mark.parametrize("main", sorted(SPLIT))
def test_a_split_part_never_imports_its_module(main: str) -> None:
    """The parts sit below the module they came from (``sync.cli`` imports ``sync.cli_run``
    only when a command runs; the parts never import ``sync.cli``)."""
    for part in SPLIT[main]:
        if part not in TYPE_ONLY_IMPORT:
            assert main not in _imports(part), f"sync/{part}.py imports sync/{main}.py"


@pytest.mark.parametrize("depth", range(1, len(LAYERS)))
def test_no_layer_imports_the_one_above(depth: int) -> None:
    above = {m for layer in LAYERS[:depth] for m in layer}
    for module in LAYERS[depth]:
        assert not _imports(module) & above, f"sync/{module}.py imports a layer above it"


#: The bottom of the map: the ACCS client, the database and the observer hooks. They take the
#: products' name and path from ``sync.names``, never from the declaration above them.
BOTTOM = ("observe", "names", "models", "item_fields", "accs_time")


def _bottom_modules() -> list[str]:
    found = [
        str(p.relative_to(SYNC).with_suffix("")).replace("/", ".") for p in SYNC.glob("*/*.py")
    ]
    return sorted(m for m in found if m.startswith(("api.", "db."))) + list(BOTTOM)


@pytest.mark.parametrize("module", _bottom_modules())
def test_the_api_db_and_model_layer_imports_no_engine_layer(module: str) -> None:
    engine = {m for layer in LAYERS for m in layer}
    tree = ast.parse((SYNC / f"{module.replace('.', '/')}.py").read_text())
    imported = {
        node.module.removeprefix("sync.")
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sync.")
    }
    assert not imported & engine, f"sync/{module} imports {sorted(imported & engine)}"


#: Modules below the declarations that once spelled products' name as a literal; they say it
#: through :data:`sync.names.PRODUCTS_NAME` (issue 15: no code asks "is this products?" in words).
NAMED_THROUGH_NAMES = ("db.runlog",)


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of the docstring constants of ``tree`` (module, classes, functions)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


@pytest.mark.parametrize("module", NAMED_THROUGH_NAMES)
def test_products_name_comes_from_sync_names(module: str) -> None:
    tree = ast.parse(_path(module).read_text())
    docs = _docstrings(tree)
    spelled = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value == "products" and id(node) not in docs
    ]
    assert not spelled, f"sync/{module}.py spells 'products' on lines {spelled}"


def test_no_module_of_sync_is_over_the_limit() -> None:
    """Issue 15's module map: no module over about 400 lines, the emulator's and the
    database layer's included (not only the engine's layers and the split modules above)."""
    over = {
        str(path.relative_to(SYNC)): lines
        for path in sorted(SYNC.rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert over == {}
