"""Which upstream ``updated_at`` may become a watermark, judged against ACCS's own clock.

A watermark is trusted by every later incremental run ("nothing changed before this"), so one
bad value upstream must not become one: a product stamped ``9999-12-31 23:59:59`` (or two days
ahead) would hide every later edit of every other product, and a malformed one (``zzzz``, ISO
8601 with a ``T``, which sorts after a space) would make every later run fail. The rules:

* **usable** means exactly ``YYYY-MM-DD HH:MM:SS`` (the one spelling whose text order is time
  order, which the keyset walks and filters rely on) and not later than ACCS's clock plus
  :data:`SKEW`. ACCS's clock is the ``Date`` header of its answers (the page that carried the
  value, or the latest one seen in the run); only when ACCS sends none is this machine's clock
  used instead, and the run says so once.
* a product or category with a value in the future is still mirrored; it is named in one
  warning per run and simply not used as a watermark. A malformed value is already a rejected
  item (``sync_rejects``).
* **H0**, the starting high-water mark of a full pass, is the newest usable ``updated_at``:
  the usual one-item probe sorted ``updated_at DESC`` answers it unless its item is unusable
  (exactly what a poisoned value makes it), and then one more probe asks for the newest
  :data:`PROBE_SIZE` items with ``updated_at <= ACCS's clock + SKEW`` (which leaves out the far
  future and, in text order, the malformed values after it) and takes the first usable one. If
  none is, ACCS's clock less :data:`SKEW` is H0: anything changed after the probe is newer
  than that. Without a ``Date`` header there is no H0 and the next sync is a full pass again.
* a stored watermark that is not usable (written by an older version, or edited by hand) is
  reported once, naming the store view and the value (escaped), and replaced by a full pass.

One :class:`Stamps` lives for one run (:meth:`Stamps.start_run` forgets what was warned).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sync.accs_time import format_accs_time, parse_accs_time
from sync.api.criteria import Filter
from sync.api.paging import Page

__all__ = ["PROBE_SIZE", "SKEW", "Distrusted", "Stamps", "accs_time"]

log = logging.getLogger(__name__)

#: How far past ACCS's clock an ``updated_at`` may be and still be a watermark (clocks of
#: ACCS's web and database nodes differ a little; a change two days ahead is not skew).
SKEW = timedelta(minutes=5)
#: Items the second H0 probe asks for when the newest one is unusable.
PROBE_SIZE = 20
_SHOWN = 80  # characters of a bad stored value shown in a warning


def accs_time(value: object) -> datetime | None:
    """``value`` as naive UTC when it is exactly ``YYYY-MM-DD HH:MM:SS`` and a real time;
    None for anything else (``2026-1-5 1:2:3`` parses, but does not sort as text)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_accs_time(value)
    except ValueError:
        return None
    return parsed if format_accs_time(parsed) == value else None


class Distrusted(Exception):
    """A stored watermark is later than ACCS's clock (seen on an incremental pass's first
    page): the pass stops before writing, and a full pass replaces the watermark."""


class Stamps:
    """Judges ``updated_at`` values for one run; thread-safe (full-pass workers share it).

    ``now``: this machine's naive-UTC now, used only when ACCS sends no ``Date``.
    ``scrub``: masks secrets in text that reaches the log.
    """

    def __init__(
        self,
        now: Callable[[], datetime],
        scrub: Callable[[str], str] = str,
        skew: timedelta = SKEW,
    ) -> None:
        self._now = now
        self._scrub = scrub
        self.skew = skew
        self._lock = threading.Lock()
        self._latest: datetime | None = None
        self._warned: set[tuple[str, str]] = set()
        self._no_date_said = False

    def start_run(self) -> None:
        """A new run: every future value is warned about once more."""
        with self._lock:
            self._warned.clear()
            self._no_date_said = False

    def limit(self, server_time: datetime | None, *, quiet: bool = False) -> datetime:
        """The latest ``updated_at`` usable as a watermark: ACCS's clock (``server_time``, else
        the latest ``Date`` seen) plus the skew; this machine's clock when ACCS sent none
        (said once per run, unless ``quiet``: no answer of this run was judged yet)."""
        say = False
        with self._lock:
            if server_time is not None and (self._latest is None or server_time > self._latest):
                self._latest = server_time
            base = server_time or self._latest
            if base is None and not quiet:
                say, self._no_date_said = not self._no_date_said, True
        if base is None:
            if say:
                log.warning(
                    "ACCS's answers carry no Date header: judging updated_at values against "
                    "this machine's clock instead"
                )
            base = self._now()
        return base + self.skew

    def usable(self, value: object, limit: datetime) -> bool:
        """Whether ``value`` may be a watermark (see the module docstring)."""
        parsed = accs_time(value)
        return parsed is not None and parsed <= limit

    def future(
        self,
        items: Iterable[Any],
        field: str,
        limit: datetime,
        *,
        resource: str,
        scope: str,
        name: Callable[[dict[str, Any]], str],
    ) -> None:
        """Warn, once per run for each item, about items whose ``field`` is later than
        ``limit``: they are mirrored, but not used as a watermark."""
        # Well-formed values sort as text, so only those after the limit's text are parsed
        # (every page of a pass comes through here: 300 strptime calls a page add up).
        ceiling = format_accs_time(limit)
        for item in items:
            value = item.get(field) if isinstance(item, dict) else None
            if not isinstance(value, str) or value <= ceiling:
                continue
            parsed = accs_time(value)
            if parsed is None or parsed <= limit:
                continue
            who = name(item)
            with self._lock:
                if (resource, who) in self._warned:
                    continue
                self._warned.add((resource, who))
            log.warning(
                "%s %s: %s has %s %s, later than ACCS's clock (%s) plus %s; it is mirrored, "
                "but not used as a watermark",
                resource,
                scope,
                self._scrub(who),
                field,
                item[field],
                format_accs_time(limit - self.skew),
                self.skew,
            )

    def high_water(
        self,
        newest: str | None,
        server_time: datetime | None,
        below: Callable[[Filter, int], Page],
        field: str,
        what: str,
    ) -> str | None:
        """H0 of a full pass from the probe's answer (``newest``, None for an empty list;
        ``server_time``, its ``Date``); ``below(filter, size)`` fetches the newest ``size``
        items matching ``filter``, sorted ``field`` DESC, when ``newest`` is unusable."""
        if newest is None:
            return None
        limit = self.limit(server_time)
        if self.usable(newest, limit):
            return newest
        page = below(Filter(field, format_accs_time(limit), "lteq"), PROBE_SIZE)
        for item in page.items:
            stamp = item.get(field) if isinstance(item, dict) else None
            if self.usable(stamp, limit):
                log.info(
                    "%s: the newest usable %s is %s (newer ones are unusable)", what, field, stamp
                )
                return str(stamp)
        server = page.server_time or server_time
        if server is None:
            log.warning(
                "%s: no usable %s among the newest items and no Date header from ACCS: no "
                "watermark is set, so the next sync is a full pass again",
                what,
                field,
            )
            return None
        fallback = format_accs_time(server - self.skew)
        log.warning(
            "%s: no usable %s among the newest %d items; starting from ACCS's clock less %s (%s)",
            what,
            field,
            PROBE_SIZE,
            self.skew,
            fallback,
        )
        return fallback

    def problem(self, value: dict[str, Any], limit: datetime | None) -> str | None:
        """What is wrong with a stored watermark ``value`` (None: nothing). ``limit``: judge
        its time too (else only its format)."""
        parsed = accs_time(value.get("updated_at"))
        if parsed is None:
            return "is not an ACCS timestamp (YYYY-MM-DD HH:MM:SS)"
        if limit is not None and parsed > limit:
            return (
                f"is later than ACCS's clock ({format_accs_time(limit - self.skew)}) "
                f"plus {self.skew}"
            )
        return None

    def stored(self, what: str, value: Any) -> dict[str, Any] | None:
        """A stored watermark as read back (any JSON: rows get edited by hand), or None,
        reported once, when its format makes it unusable; its time is judged later, against
        ACCS's clock (:meth:`problem` with a limit)."""
        if value is None:
            return None
        if not isinstance(value, dict):
            self.report(what, value, "is not a JSON object")
            return None
        problem = self.problem(value, None)
        if problem is None:
            return value
        self.report(what, value.get("updated_at"), problem)
        return None

    def report(self, what: str, value: Any, problem: str) -> None:
        """One warning about an unusable stored watermark, ``value`` escaped and shortened."""
        shown = repr(value)
        if len(shown) > _SHOWN:
            shown = shown[: _SHOWN - 3] + "..."
        log.warning(
            "%s: the stored watermark %s %s; replacing it with a full pass",
            what,
            self._scrub(shown),
            problem,
        )
