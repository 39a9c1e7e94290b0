"""What reaches a person's terminal: text without control bytes, tables instead of JSON lines.

Why one module: an error line may quote bytes from the user's file (a binary renamed `.csv`),
and raw NUL, ESC or DEL bytes garble or even reprogram a terminal. Every line the CLI prints
for people passes `printable`; log records pass `SafeFormatter`. Commands people read (history,
versions, settings) print a table on a terminal and their JSON line when piped or asked
(`--json`), the convention of `make train`'s client too.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Sequence
from typing import Any, TextIO

# C0 controls, DEL and C1 controls; tab and newline are kept only where a text may span lines.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_KEEP_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
MAX_ERROR_CHARS = 1000


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def printable(text: str, *, multiline: bool = False, limit: int | None = None) -> str:
    """`text` with every control character escaped as `\\xNN` (one line unless `multiline`), cut at `limit`."""
    out = (_CONTROL_KEEP_LINES if multiline else _CONTROL).sub(_escape, text)
    if limit is not None and len(out) > limit:
        out = out[: limit - 1] + "…"
    return out


class SafeFormatter(logging.Formatter):
    """A formatter whose messages never carry control bytes (tracebacks keep their newlines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record), multiline=True)


def is_terminal(stream: TextIO | None = None) -> bool:
    """Whether `stream` (default: stdout) is a terminal a person reads."""
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]], stream: TextIO | None = None,
          *, wrap: Sequence[str] = (), optional: Sequence[str] = ()) -> None:
    """Print an aligned table (rich) on `stream`.

    Cells are plain text (no markup), made printable first. On a terminal too narrow for every
    column, the `optional` ones are left out, in that order, until the rest fits; then only the
    columns named in `wrap` may fold. In a log or a pipe nothing is left out or folded.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    stream = stream or sys.stdout
    cells = [[printable("-" if cell is None or cell == "" else str(cell)) for cell in row] for row in rows]
    console = Console(file=stream, width=None if is_terminal(stream) else 100_000, highlight=False, soft_wrap=False)
    keep = list(range(len(header)))
    for name in optional:
        if _natural_width(header, cells, keep) <= console.width:
            break
        keep.remove(list(header).index(name))
    view = Table(title=Text(printable(title)), title_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
                 show_edge=False, pad_edge=False)
    for i in keep:
        view.add_column(header[i], no_wrap=header[i] not in wrap, overflow="fold")
    for row in cells:
        view.add_row(*(Text(row[i]) for i in keep))
    console.print(view)


def _natural_width(header: Sequence[str], cells: Sequence[Sequence[str]], keep: Sequence[int]) -> int:
    """Columns side by side at their widest cell, with the table's two spaces between them."""
    widths = [max(len(header[i]), *(len(row[i]) for row in cells)) for i in keep]
    return sum(widths) + 3 * (len(keep) - 1)
