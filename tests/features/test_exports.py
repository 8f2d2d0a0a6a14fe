"""The registry every DLS and NTA reader goes through (features/exports.py)."""

from __future__ import annotations

import pytest

from exoqc.errors import NTAFormatError
from exoqc.features.exports import ExportFormat, FormatRegistry, csv_preamble


def _format(name: str, word: str) -> ExportFormat[str]:
    return ExportFormat(name, lambda text: word in text.lowered,
                        lambda file, lines: [f"{name}:{len(lines)}"])


REGISTRY = FormatRegistry(
    (_format("specific", "alpha beta"), _format("general", "alpha")), NTAFormatError,
    max_bytes=1000, max_lines=5, kind="a toy export", names="A or B",
    unknown="not a toy export")


def test_the_first_format_whose_sniff_recognizes_the_content_reads_it(tmp_path):
    both = tmp_path / "both.txt"
    both.write_text("x\nALPHA BETA\n")
    assert REGISTRY.detect(["x", "ALPHA BETA"]) == "specific"
    assert REGISTRY.read(both) == ["specific:2"]
    general = tmp_path / "general.txt"
    general.write_text("alpha\n")
    assert REGISTRY.read(general) == ["general:1"]


@pytest.mark.parametrize(("text", "message", "line"), [
    ("gamma\n", "not a toy export", 1),
    ("  \n\n", "file is empty: expected a toy export (A or B)", 1),
    ("alpha\n" * 6, "file has 7 lines: a toy export has at most 5", 6),
])
def test_a_file_no_format_reads_is_the_readers_error(tmp_path, text, message, line):
    path = tmp_path / "f.txt"
    path.write_text(text)
    with pytest.raises(NTAFormatError) as raised:
        REGISTRY.read(path)
    assert raised.value.detail == message and raised.value.line == line
    assert raised.value.file == str(path)


def test_csv_preamble_keeps_key_value_comments_until_the_header():
    lines = ["", "# Sample Name: EV 1", "# a free comment", "#dilution = 100", "size_nm,x",
             "# after the header: data"]
    assert csv_preamble(lines) == ([(2, "sample name", "EV 1"), (4, "dilution", "100")], 5)
    assert csv_preamble(["# only: comments"]) == ([(1, "only", "comments")], None)
