"""Progress bars that read well both in a terminal and in orchestrator logs.

In a terminal tqdm redraws one line with carriage returns. Airflow and Dagster capture the
container's stderr line by line, where carriage returns would glue every update into one
endless line: there each update becomes its own line, at most every `LOG_INTERVAL_S` seconds.
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from tqdm import tqdm

LOG_INTERVAL_S = 15.0


class _LineStream:
    """A file-like that turns tqdm's carriage-return redraws into separate lines."""

    def __init__(self, target: IO[str]) -> None:
        self._target = target

    def write(self, text: str) -> int:
        line = text.replace("\r", "").strip()
        if line:
            self._target.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self._target.flush()


def interactive() -> bool:
    """Whether stderr is a terminal (else a task log, which captures it line by line)."""
    return sys.stderr.isatty()


def library_bars_off() -> None:
    """transformers' and the Hub's own bars (`Loading weights`, downloads) off outside a terminal.

    Why: they redraw with carriage returns and have no log-friendly mode; in a task log each model
    load would add a bar of its own.
    """
    if interactive():
        return
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # the Hub's bars too


def bar(total: int | None, desc: str, unit: str = "it") -> tqdm:
    from tqdm import tqdm

    terminal = interactive()
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr if terminal else _LineStream(sys.stderr),
        mininterval=0.5 if terminal else LOG_INTERVAL_S,
        dynamic_ncols=terminal,
        ncols=None if terminal else 100,
    )
