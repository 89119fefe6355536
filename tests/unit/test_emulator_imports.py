"""The emulator's catalog and its categories/source-items half import one way only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import sync.emulator

PACKAGE = Path(sync.emulator.__file__).parent
MODULES = ("catalog", "catalog_resources")


def imported_modules(name: str) -> set[str]:
    """Every ``sync.emulator`` module ``name`` imports anywhere (TYPE_CHECKING blocks and
    function bodies included), relative imports resolved."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = "sync.emulator" + (f".{base}" if base else "")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_catalog_resources_never_imports_catalog() -> None:
    assert "sync.emulator.catalog" not in imported_modules("catalog_resources")


def test_the_two_modules_do_not_import_each_other() -> None:
    both = [
        name
        for name, other in (MODULES, MODULES[::-1])
        if f"sync.emulator.{other}" in imported_modules(name)
    ]
    assert len(both) < 2, "sync.emulator.catalog and catalog_resources import each other"


@pytest.mark.parametrize("name", MODULES)
def test_each_module_imports_on_its_own(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import sync.emulator.{name}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_command_line_leaves_the_emulator_server_unimported() -> None:
    """``accs-sync`` registers the emulator command without paying for the server."""
    code = (
        "import sys, sync.cli\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('sync.emulator.'))\n"
        "assert loaded == ['sync.emulator.cli_args'], loaded"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
