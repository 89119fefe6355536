"""glibc malloc bounds for the worker process (sync.memory): large blocks go back to the system
when freed, instead of staying in an arena after glibc raised its mmap threshold."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
if sys.argv[1] == "bounded":
    from sync.memory import bound_malloc
    assert bound_malloc()
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
big = bytearray(8 << 20)   # mapped; freeing it raises glibc's dynamic threshold to 8 MiB
del big
before = libc.mallinfo2().hblkhd
block = bytearray(1 << 20)  # a page's answer: mapped again only under a fixed threshold
print(libc.mallinfo2().hblkhd - before >= 1 << 20)
"""


def mapped(mode: str) -> bool:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return out.stdout.strip() == "True"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_a_large_block_is_mapped_even_after_a_larger_one_was_freed() -> None:
    assert not mapped("default")  # glibc's dynamic threshold keeps it in the heap
    assert mapped("bounded")


def test_bound_malloc_is_a_no_op_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    from sync import memory

    def missing(name: object) -> object:
        raise OSError("no C library here")

    monkeypatch.setattr(memory.ctypes, "CDLL", missing)
    assert memory.bound_malloc() is False
