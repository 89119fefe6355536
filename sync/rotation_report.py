"""What ``accs-sync secret rotate`` is asked to do, where the secrets live, and its report
(:mod:`sync.rotate` runs the steps)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["Outcome", "RotateOptions", "RotationReport", "SecretTargets", "Step"]

log = logging.getLogger("sync.rotate")

Outcome = Literal["done", "planned", "skipped", "refused", "failed"]


@dataclass(frozen=True)
class RotateOptions:
    dry_run: bool = False
    idle_days: float = 7.0
    delete_idle: bool = False
    delete_old: bool = False
    print_secret: bool = False


@dataclass(frozen=True)
class SecretTargets:
    """Where the secrets live: ``next_file`` (IMS_CLIENT_SECRET_NEXT_FILE) and ``primary_file``
    (IMS_CLIENT_SECRET_FILE or the secrets directory's file; None when IMS_CLIENT_SECRET is a
    plain setting, which this process cannot change for others)."""

    next_file: Path | None
    primary_file: Path | None


@dataclass(frozen=True)
class Step:
    name: str
    outcome: Outcome
    detail: str


@dataclass
class RotationReport:
    """What was done and what is left. Names secrets by uuid only."""

    steps: list[Step] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    created: str | None = None
    deleted: list[str] = field(default_factory=list)
    #: A step failed on a setting (a secret file that cannot be written): exit 2, not 1.
    misconfigured: bool = False

    @property
    def status(self) -> str:
        outcomes = {s.outcome for s in self.steps}
        for worst in ("refused", "failed"):
            if worst in outcomes:
                return worst
        if "planned" in outcomes:
            return "planned"
        return "incomplete" if self.left else "done"

    @property
    def exit_code(self) -> int:
        failed = 2 if self.misconfigured else 1
        return {"refused": 2, "failed": failed}.get(self.status, 0)

    def add(self, name: str, outcome: Outcome, detail: str) -> None:
        self.steps.append(Step(name, outcome, detail))
        log.log(
            logging.WARNING if outcome in ("failed", "refused") else logging.INFO,
            "secret rotate: %s %s: %s",
            name,
            outcome,
            detail,
        )

    def lines(self) -> list[str]:
        out = [f"{s.name:<9} {s.outcome:<8} {s.detail}" for s in self.steps]
        out += [f"left: {item}" for item in self.left]
        out.append(f"rotation {self.status}")
        return out

    def summary(self) -> str:
        """One line for the auth audit: the outcome (and the step that failed or refused),
        the secrets created and deleted, how many things are left."""
        stopped = [s.name for s in self.steps if s.outcome in ("failed", "refused")]
        parts = [f"{self.status} at {stopped[0]}" if stopped else self.status]
        if self.created:
            parts.append(f"created {self.created}")
        if self.deleted:
            parts.append(f"deleted {', '.join(self.deleted)}")
        if self.left:
            parts.append(f"{len(self.left)} left")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "steps": [
                {"name": s.name, "outcome": s.outcome, "detail": s.detail} for s in self.steps
            ],
            "left": list(self.left),
            "created": self.created,
            "deleted": list(self.deleted),
        }
