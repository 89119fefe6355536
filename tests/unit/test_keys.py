"""The keys of a pass over given keys: ``--sku``, ``--id``, ``--keys-from FILE`` and their
validation (a clear error and exit 2 before anything connects)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from sync.cli import main
from sync.keys import Keys, parse_id, parse_sku, read_keys


def test_keys_from_lines_with_prefixes_comments_and_blank_lines() -> None:
    text = "# skus support reported\n24-MB01\n\nsku: 24-MB04 \nid:12\n  id: 7\n# done\n24-MB01\n"
    keys = read_keys(io.StringIO(text), "keys.txt")
    # A bare line is a sku; repeats are asked once; order kept.
    assert keys == Keys(ids=(12, 7), skus=("24-MB01", "24-MB04"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("id:0", "keys.txt line 2: id '0' must be a whole number above 0"),
        ("id:-4", "keys.txt line 2: id '-4' must be a whole number above 0"),
        ("id:1.5", "keys.txt line 2: id '1.5' must be a whole number above 0"),
        ("sku:", "keys.txt line 2: empty sku"),
        ("sku:" + "x" * 65, "keys.txt line 2: sku 'xxxxxxxx"),
        ("ean:123", "keys.txt line 2: unknown prefix 'ean:' (use sku: or id:)"),
    ],
)
def test_a_bad_line_is_named_by_its_number(line: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        read_keys(io.StringIO(f"24-MB01\n{line}\n"), "keys.txt")


def test_ids_and_skus_are_validated() -> None:
    assert parse_id(" 42 ") == 42
    assert parse_sku(" 24-MB01 ") == "24-MB01"
    for bad in ("0", "-1", "abc", "", "1e3", "99999999999999999999"):
        with pytest.raises(ValueError, match="whole number above 0"):
            parse_id(bad)
    with pytest.raises(ValueError, match="empty sku"):
        parse_sku("   ")
    with pytest.raises(ValueError, match="longer than Magento's 64 characters"):
        parse_sku("x" * 65)
    assert parse_sku("x" * 64) == "x" * 64
    with pytest.raises(ValueError, match="control character"):
        parse_sku("24-MB01\x00")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--id", "0"], "argument --id: id '0' must be a whole number above 0"),
        (["--id", "twelve"], "argument --id: id 'twelve' must be a whole number above 0"),
        (["--sku", ""], "argument --sku: empty sku"),
        (["--sku", "y" * 65], "argument --sku: sku 'yyyy"),
        (["--keys-from", "/nonexistent/keys.txt"], "--keys-from /nonexistent/keys.txt: cannot"),
        (["--sku", "A", "--since", "2026-01-01"], "unrecognized arguments: --since"),
    ],
)
def test_the_cli_refuses_bad_keys_with_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sync", *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_a_keys_file_with_a_bad_line_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.txt"
    path.write_text("24-MB01\nid:abc\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["sync", "--keys-from", str(path)])
    assert exc.value.code == 2
    assert f"{path} line 2: id 'abc' must be a whole number above 0" in capsys.readouterr().err


def test_a_keys_file_saved_with_a_byte_order_mark(tmp_path: Path) -> None:
    from sync.cli import build_parser, keys_of

    path = tmp_path / "keys.txt"
    path.write_bytes("\ufeffsku:24-MB01\r\nid:3\r\n".encode())
    args = build_parser().parse_args(["sync", "--keys-from", str(path)])
    assert keys_of(args) == Keys(ids=(3,), skus=("24-MB01",))


def test_an_empty_keys_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keys.txt"
    path.write_text("# nothing yet\n\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["sync", "--keys-from", str(path)])
    assert exc.value.code == 2
    assert "no keys" in capsys.readouterr().err


def test_keys_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("id:5\nsku:A\n"))
    from sync.cli import build_parser, keys_of

    args = build_parser().parse_args(["sync", "--keys-from", "-", "--sku", "B", "--id", "5"])
    assert keys_of(args) == Keys(ids=(5,), skus=("B", "A"))


def test_no_keys_is_an_ordinary_sync() -> None:
    from sync.cli import build_parser, keys_of

    assert keys_of(build_parser().parse_args(["sync"])) is None


def test_the_summary_names_the_unknown_keys() -> None:
    from sync.stats import RunStats
    from sync.summary import summary_json, summary_lines

    stats = RunStats(run_id=4, kind="refetch", status="success")
    stats.unknown_keys = ["id:99", "sku:NO\x1bPE"]
    assert summary_lines(stats)[-1] == "  not in ACCS nor in the mirror (2): id:99, sku:NO\\x1bPE"
    assert summary_json(stats, 0)["unknown_keys"] == ["id:99", "sku:NO\x1bPE"]
    assert "unknown_keys" not in summary_json(RunStats(run_id=5, kind="sync"), 0)
