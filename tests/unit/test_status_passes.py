"""``status`` lines for a run's passes (``sync_run_resources``): what they say, and that a
hand-edited row cannot send escape codes to the operator's terminal."""

from __future__ import annotations

from sync.db.runlog import PassRow
from sync.status import pass_line


def test_a_pass_line_says_mode_rows_and_pages() -> None:
    row = PassRow("source_items", "*", "full", 6, 0, 522, 2, 1)
    assert pass_line(row) == (
        "source_items *: full, 0 rows written in 6 pages, 522 unchanged, 2 deleted upstream, "
        "1 rejected"
    )
    revived = PassRow("source_items", "*", "full", 1, 3, 0, 0, 0, revived=2)
    assert pass_line(revived) == "source_items *: full, 3 rows written in 1 pages, 2 revived"
    assert pass_line(PassRow("products", "fr", None, 0, 0, 0, 0, 0)) == (
        "products fr: -, 0 rows written in 0 pages"
    )


def test_text_from_the_database_is_escaped() -> None:
    row = PassRow("categories\x1b[2J", "fr\n#9 sync success", "full\x07", 1, 1, 0, 0, 0)
    line = pass_line(row)
    assert "\x1b" not in line and "\n" not in line and "\x07" not in line
    assert line.startswith("categories\\x1b[2J fr\\n#9 sync success: full\\x07, ")
