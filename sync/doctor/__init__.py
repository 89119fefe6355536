"""``accs-sync check``: a read-only doctor that explains a setup, one finding per line.

It does what a run does first (load the settings, obtain a token, ask ACCS for each store
view, open the database) and reports each step instead of stopping at the first failure: a
broken database does not hide ACCS findings, nor the other way round. Checks that depend on a
failed one are reported as skipped, with the reason. It never writes the mirror database (no
migration, no ``sync_runs`` row, no run lock); the only file it may write is the token cache,
as every run does when it mints a token.

- :mod:`.findings`: a finding, the exit code (:func:`verdict`), text and JSON output;
- :mod:`.remote`: the token and one search per store view, and what the answers mean;
- :mod:`.local`: the database (read only) and the token cache's permissions;
- :mod:`.run`: wires them from the settings, as :mod:`sync.app` does for a run.
"""

from __future__ import annotations

from sync.doctor.findings import Finding, render_json, render_text, summary, verdict
from sync.doctor.run import check_settings, run_check

__all__ = [
    "Finding",
    "check_settings",
    "render_json",
    "render_text",
    "run_check",
    "summary",
    "verdict",
]
