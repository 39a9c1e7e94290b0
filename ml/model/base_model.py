"""Can this run have its base model? Checked before any data is read, in about a second.

Why a module of its own: the embedded chain asks before its first step (ml/pipelines/preflight.py) and the
train step asks again before it reads its split (orchestrated runs), and both must answer alike.
A misspelled preset (`Tiny`) used to go to the Hugging Face Hub as a repository id and come back
after retries as a network fault; a folder without a checkpoint failed only after the split.
"""

from __future__ import annotations

from ml.core import storage
from ml.core.errors import BadInputError

TINY = "tiny"  # the offline preset (ml.model.modeling.TINY)


def check(name: str, attempts: int) -> None:
    """Fail fast, before any data is read, when `name` names no model this run can have."""
    if name == TINY:
        return
    if one_edit_away(name.strip().lower(), TINY) and not storage.local_path(name).exists():
        case = " (names are case-sensitive)" if name.strip().lower() == TINY else ""
        raise BadInputError(f"base model {name!r} is not the preset, a folder or a Hub id; did you mean {TINY!r}?{case} "
                            "Set --base-model / ML_BASE_MODEL")
    if storage.is_s3(name):
        if "config.json" not in storage.list_folder(name):
            raise BadInputError(f"{name} holds no config.json; upload a save_pretrained folder there")
        return
    path = storage.local_path(name)
    if path.exists() or name.startswith((".", "/", "~")):
        if not path.is_dir():
            what = "is a file, not a save_pretrained folder" if path.exists() else "does not exist"
            raise BadInputError(f"base model folder {name} {what}; check --base-model / ML_BASE_MODEL")
        if not (path / "config.json").is_file():
            raise BadInputError(f"{path} has no config.json; point --base-model / ML_BASE_MODEL at a save_pretrained folder")
        return
    from ml.model import hub

    hub.ensure_available(name, attempts)


def one_edit_away(typed: str, word: str) -> bool:
    """`typed` is `word`, or one typo from it: a changed, missing, extra or swapped (adjacent) letter."""
    if typed == word:
        return True
    if len(typed) == len(word):
        diff = [i for i, (a, b) in enumerate(zip(typed, word, strict=True)) if a != b]
        swapped = len(diff) == 2 and diff[1] == diff[0] + 1 and typed[diff[0]] == word[diff[1]] and typed[diff[1]] == word[diff[0]]
        return len(diff) == 1 or swapped
    short, long = sorted((typed, word), key=len)
    return len(long) - len(short) == 1 and any(long[:i] + long[i + 1:] == short for i in range(len(long)))
