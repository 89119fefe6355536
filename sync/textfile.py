"""``SYNC_METRICS_FILE``: the metrics of cron-style runs, for node_exporter's textfile collector.

A one-shot ``accs-sync sync`` has no ``/metrics`` to scrape, so at its end it writes the same
metrics the daemon serves to a file that node_exporter (``--collector.textfile.directory``)
reads. Counters and histograms keep counting across runs: each run adds its own counts to the
ones the file already holds, so ``rate(accs_sync_products_written_total[1h])`` works as it does
for the daemon. A gauge the run did not set (the last success of a store view this run did not
reach) keeps its previous value. A file that cannot be read is replaced, with a warning.

The file is replaced atomically (written beside it, then renamed), so node_exporter never reads
half a file, and ``flock`` on a lock file beside it (never a symbolic link) serialises two
processes that end at once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from sync.lockfile import open_lock_file

__all__ = ["merge_families", "write_metrics_file"]

log = logging.getLogger(__name__)

#: Metric types whose samples are running totals: summed across runs.
_CUMULATIVE = frozenset({"counter", "histogram", "summary"})


def _key(sample_name: str, labels: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return sample_name, tuple(sorted(labels.items()))


def merge_families(previous: list[Metric], current: list[Metric]) -> list[Metric]:
    """``current`` with ``previous`` folded in: cumulative samples summed, gauges and info
    taken from ``current`` where it has them, else kept from ``previous``."""
    old = {family.name: family for family in previous}
    merged: list[Metric] = []
    for family in current:
        before = old.pop(family.name, None)
        out = Metric(family.name, family.documentation, family.type, family.unit)
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        prior: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        if before is not None and before.type == family.type:
            prior = {
                _key(s.name, s.labels): s.value
                for s in before.samples
                if not s.name.endswith("_created")
            }
        for sample in family.samples:
            if sample.name.endswith("_created"):  # a process's start: meaningless once summed
                continue
            key = _key(sample.name, sample.labels)
            seen.add(key)
            value = sample.value
            if family.type in _CUMULATIVE:
                value += prior.get(key, 0.0)
            out.add_sample(sample.name, dict(sample.labels), value)
        for key, value in prior.items():
            if key not in seen:  # a store view or label this run did not touch
                out.add_sample(key[0], dict(key[1]), value)
        merged.append(out)
    merged.extend(old.values())  # families of an older accs-sync: kept as they were
    return merged


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def _read(path: Path) -> list[Metric]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        log.warning("cannot read SYNC_METRICS_FILE %s (%s); writing it anew", path, exc)
        return []
    try:
        return list(text_string_to_metric_families(text))
    except ValueError as exc:
        log.warning("SYNC_METRICS_FILE %s is not Prometheus text (%s); writing it anew", path, exc)
        return []


def write_metrics_file(path: Path, registry: CollectorRegistry) -> None:
    """Add ``registry``'s metrics to those already in ``path`` and replace it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = open_lock_file(path.with_name(f".{path.name}.lock"), "SYNC_METRICS_FILE", 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = list(text_string_to_metric_families(generate_latest(registry).decode()))
        merged = merge_families(_read(path), current)
        out = CollectorRegistry(auto_describe=False)
        out.register(_Families(merged))
        text = generate_latest(out)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(text)
            os.chmod(tmp, 0o644)  # node_exporter usually runs as another user
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    finally:
        os.close(lock)  # releases the flock
