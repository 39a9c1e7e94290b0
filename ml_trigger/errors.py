"""Exit codes and the errors that end a trigger command with a one-line reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ml_trigger.outcome import Outcome

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_TIMEOUT = 0, 1, 2, 75, 124


class TriggerError(Exception):
    """A problem that ends the command with a one-line reason and an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class RunTimeout(Exception):
    """The run did not finish in time; carries what was seen so far, for the final JSON line."""

    def __init__(self, outcome: Outcome, timeout: float) -> None:
        super().__init__(f"run {outcome.run_id} still {outcome.state} after {timeout:.0f} s")
        self.outcome = outcome
