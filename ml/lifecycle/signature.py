"""What a model answers (its task): the label set and the text and label column names.

Why a signature of its own: versions are only comparable, and so only promoted over each other,
when they answer the same question; the champion rule (champion.py), the refusal of another task's
data before training (the training step) and the version listings all compare these strings.
"""

from __future__ import annotations

import json


def task_signature(labels: list[str], text_column: str, label_column: str) -> str:
    """Canonical text of what a model answers: two versions are interchangeable iff these are equal."""
    return json.dumps({"labels": sorted(labels), "text_column": text_column, "label_column": label_column},
                      sort_keys=True, separators=(",", ":"))


def describe_signature(signature: str | None) -> str:
    """A signature for people: `labels negative, positive (text column 'text', label column 'label')`."""
    if not signature:
        return "no task signature (registered before signatures were recorded)"
    sig = json.loads(signature)
    return f"labels {', '.join(sig['labels'])} (text column {sig['text_column']!r}, label column {sig['label_column']!r})"
