"""What ``accs-sync check`` found, the exit code that follows, and the two ways to print it.

A :class:`Finding` is one line of the report. Its ``category`` says whose move a failure is:
``config`` when only the operator's settings (or the Developer Console) can fix it, ``service``
when IMS, ACCS or the database is down or refusing for reasons of its own. That split is the
exit code (:func:`verdict`): a cron job or a deployment check can tell "fix the settings" (2)
from "try again later" (1).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

__all__ = [
    "EXIT_CONFIG",
    "EXIT_OK",
    "EXIT_SERVICE",
    "Category",
    "Finding",
    "Status",
    "render_json",
    "render_text",
    "scrubbed",
    "summary",
    "verdict",
]

Status = Literal["ok", "warn", "fail", "skip"]
Category = Literal["config", "service"]

EXIT_OK, EXIT_SERVICE, EXIT_CONFIG = 0, 1, 2

_LABELS: dict[str, str] = {"ok": "ok", "warn": "warn", "fail": "FAIL", "skip": "skip"}


@dataclass(frozen=True)
class Finding:
    """One checked fact. ``skip``: not checked, because something it depends on failed
    (``detail`` says what). ``category`` matters for failures; for the other statuses it
    names the kind of check."""

    name: str
    status: Status
    category: Category
    detail: str

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": self.status,
            "category": self.category,
            "detail": self.detail,
        }


def verdict(findings: Sequence[Finding]) -> int:
    """2 if a failure is configuration, else 1 if any check failed, else 0. Warnings and
    skipped checks never fail: a skip always stands behind a failure that is counted."""
    failed = {f.category for f in findings if f.status == "fail"}
    if "config" in failed:
        return EXIT_CONFIG
    return EXIT_SERVICE if failed else EXIT_OK


def summary(findings: Sequence[Finding]) -> str:
    """The closing line: what passed, and what the exit code means."""
    counts: Counter[str] = Counter(f.status for f in findings)
    parts = [f"{counts['ok']} ok"]
    for status, label in (("warn", "warning"), ("fail", "failed"), ("skip", "skipped")):
        if counts[status]:
            plural = "s" if status == "warn" and counts[status] > 1 else ""
            parts.append(f"{counts[status]} {label}{plural}")
    code = verdict(findings)
    meaning = {
        EXIT_OK: "all checks passed",
        EXIT_SERVICE: "a service failed (IMS, ACCS or the database): see FAIL above",
        EXIT_CONFIG: "the configuration needs fixing: see FAIL above",
    }[code]
    return f"check: {', '.join(parts)}; exit {code}: {meaning}"


def render_text(findings: Sequence[Finding]) -> str:
    """One aligned line per finding, then :func:`summary`."""
    width = max((len(f.name) for f in findings), default=0)
    lines = [f"{_LABELS[f.status]:<5} {f.name:<{width}}  {f.detail}" for f in findings]
    lines.append(summary(findings))
    return "\n".join(lines)


def render_json(findings: Sequence[Finding]) -> dict[str, Any]:
    """``check --json``: the findings, the exit code and the summary line, as one document."""
    return {
        "findings": [f.to_json() for f in findings],
        "exit_code": verdict(findings),
        "summary": summary(findings),
    }


def scrubbed(findings: Sequence[Finding], scrub: Callable[[str], str]) -> list[Finding]:
    """The findings with ``scrub`` (the secret filter) applied to every detail: a message
    from IMS, a driver or a proxy may quote what it was sent."""
    return [replace(f, detail=scrub(f.detail)) for f in findings]
