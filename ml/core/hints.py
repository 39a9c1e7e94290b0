"""The command a person runs next, spelled for the mode they are in.

Why one helper: messages end with what to do ("pick one from ... history", "... unpin resumes
automatic promotion"), and a hint that names a command the user does not have is worse than
none. With the compose stack (storage on S3: `ML_S3_ENDPOINT` set) people run make targets on
the host (`make rollback VERSION=3 REASON=...`); in embedded mode (local folders and SQLite, no
Docker) the same action is `python -m ml rollback --version 3 --reason ...`. Every hint in `ml/`
comes from `command`, so both spellings stay in step with the Makefile and the CLI.
"""

from __future__ import annotations

import shlex

from ml.core.config import Settings

#: action -> (make target, python -m ml command) for actions whose names differ.
_NAMES = {
    "train": ("train", "run-training"),
    "infer": ("infer", "run-inference"),
}
#: option -> make variable, for the make spelling.
_MAKE_VARIABLES = {"version": "VERSION", "reason": "REASON", "new_task": "NEW_TASK", "model_name": "MODEL",
                   "dataset_uri": "PARAMS", "input_uri": "PARAMS"}


def mode(settings: Settings) -> str:
    """`stack` (make targets on the host) or `embedded` (`python -m ml` in the venv)."""
    return "stack" if settings.uses_s3 else "embedded"


def command(settings: Settings, action: str, **options: object) -> str:
    """The command line for `action` with `options` (None/False left out) in the user's mode.

    `command(s, "rollback", version=3, reason="...")` -> `make rollback VERSION=3 REASON="..."`
    with the stack, `python -m ml rollback --version 3 --reason '...'` in embedded mode.
    """
    make_name, cli_name = _NAMES.get(action, (action, action))
    given = {k: v for k, v in options.items() if v is not None and v is not False}
    if mode(settings) == "stack":
        words = [f"make {make_name}"]
        for key, value in given.items():
            variable = _MAKE_VARIABLES.get(key, key.upper())
            if value is True:
                words.append(f"{variable}=1")
            elif variable == "PARAMS":
                words.append(f'PARAMS="{key}={value}"')
            else:
                words.append(f"{variable}={shlex.quote(str(value))}")
        return " ".join(words)
    words = [f"python -m ml {cli_name}"]
    for key, value in given.items():
        flag = "--" + key.replace("_", "-")
        words.append(flag if value is True else f"{flag} {shlex.quote(str(value))}")
    return " ".join(words)


def train(settings: Settings) -> str:
    """How to get a first model: with the stack `make train` (its demo set), embedded a run on your file."""
    if mode(settings) == "stack":
        return command(settings, "train")
    return command(settings, "train", dataset_uri="path/to/your.csv")
