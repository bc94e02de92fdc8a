"""The progress bar has a sane width when the terminal reports 0 columns (it used to be blank)."""

from __future__ import annotations

import io
import os
from unittest import mock

import pytest

from jaxpose.io.progress import FALLBACK_COLUMNS, Progress, format_saved, terminal_columns


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return 2


def _bar_lines(columns: int) -> list[str]:
    stream = _Terminal()
    with mock.patch("os.get_terminal_size", return_value=os.terminal_size((columns, 0))):
        with Progress(stream=stream) as progress:
            progress.add_total(10)
            progress.update(3, people=2)
            progress._bar.refresh()
    return [line for line in stream.getvalue().replace("\n", "\r").split("\r") if line.strip()]


@pytest.mark.parametrize("columns, width", [(0, FALLBACK_COLUMNS), (120, 120)])
def test_bar_is_drawn_within_the_width(columns, width):
    lines = _bar_lines(columns)
    last = lines[-1]
    assert "3/10" in last and "people=2" in last and "%|" in last
    assert all(len(line) <= width - 1 for line in lines)
    assert len(last) >= min(width - 1, 60)  # the bar uses the width, it is not squeezed to nothing


def test_terminal_columns_fallback():
    assert terminal_columns(io.StringIO()) == FALLBACK_COLUMNS  # no file descriptor
    with mock.patch("os.get_terminal_size", return_value=os.terminal_size((0, 0))):
        assert terminal_columns(_Terminal()) == FALLBACK_COLUMNS
    with mock.patch("os.get_terminal_size", return_value=os.terminal_size((57, 20))):
        assert terminal_columns(_Terminal()) == 57


def test_saved_line_names_every_folder():
    line = format_saved({"JSON": "out/json", "rendered images": "out/images", "video": ""})
    assert line == "jaxpose: saved JSON in out/json, rendered images in out/images"
    assert format_saved({"JSON": ""}) is None
