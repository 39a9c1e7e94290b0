"""Drift: a reference profile of the training data, and how far an inference partition is from it.

The profile is built once per model version, at register time, from the training split, and
logged with the training run (`ml.monitoring.monitor`). Each inference run compares its partition with
the profile of the version it used. Three figures, all computable in one streaming pass over
texts and predictions, none depending on the model architecture:

- **text length**, in words, binned at the deciles of the training texts. Catches texts that
  are much shorter or longer than anything the model learned from (truncated exports, whole
  documents instead of messages).
- **unknown words**: the share of words (lower-cased runs of letters and digits, `\\w+`) that
  are not in the training vocabulary, the `VOCABULARY_SIZE` most frequent words of the train
  split. The reference share is measured on the validation split, which the vocabulary was not
  built from, so it is what ordinary unseen texts show. Why words and not the tokenizer's
  `[UNK]` count: WordPiece tokenizers (the `tiny` preset included) fall back to single
  characters and almost never emit `[UNK]`, so another language in the same alphabet would go
  unnoticed.
- **predicted labels**: the share of each predicted class against the training label
  distribution. Catches a shift of the class mix, or a model that labels everything alike.

Statistic: the population stability index, PSI = sum over bins of (a - e) * ln(a / e), with `e`
the reference share of a bin and `a` the partition's; shares are floored at `EPSILON` so an
empty bin counts as very unlikely instead of infinite. Unknown words are two bins (known,
unknown). A PSI below `ML_DRIFT_WARN_PSI` (0.1) is `ok`, below `ML_DRIFT_ALERT_PSI` (0.25)
`warn`, else `drift`, the conventional reading of PSI. The verdict is the worst of the three.
PSI of a small partition is noisy: with k bins and n rows, chance alone gives a PSI of about
(k - 1) / n, so a partition of a few dozen rows may warn or even show drift without a real shift.
When that chance level reaches the warn threshold the verdict says so (`small_sample`).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ml.core.errors import BadInputError

Status = Literal["ok", "warn", "drift"]
STATUSES: tuple[Status, ...] = ("ok", "warn", "drift")  # in rising severity

PROFILE_SCHEMA = 1
VOCABULARY_SIZE = 20_000
LENGTH_QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
EPSILON = 1e-4
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The words of a text as the profile counts them: lower-cased `\\w+` runs (any script)."""
    return _WORD.findall(text.lower())


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of two share vectors over the same bins (0 = identical)."""
    if len(expected) != len(actual):
        raise ValueError(f"PSI needs the same bins: {len(expected)} reference shares, {len(actual)} actual")
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, EPSILON), max(a, EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def grade(value: float, warn: float, alert: float) -> Status:
    """ok below `warn`, warn below `alert`, else drift."""
    if value >= alert:
        return "drift"
    return "warn" if value >= warn else "ok"


def worst(statuses: Iterable[Status]) -> Status:
    return max(statuses, key=STATUSES.index, default="ok")


def bin_index(length: float, edges: Sequence[float]) -> int:
    """Bin of a length: 0 for length <= edges[0], i for edges[i-1] < length <= edges[i], len(edges) above."""
    return bisect_left(edges, length)


def shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def _quantile(sorted_values: Sequence[int], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of a sorted, non-empty sequence."""
    pos = (len(sorted_values) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low))


# --- the reference profile ----------------------------------------------------------------------


def build_profile(train_texts: Sequence[str], train_labels: Sequence[str], heldout_texts: Sequence[str]) -> dict[str, Any]:
    """The reference profile (JSON-able) of a training split; `heldout_texts` measure the unknown-word share."""
    if not train_texts:
        raise BadInputError("the train split has no rows; a drift reference needs training texts")
    tokenized = [words(t) for t in train_texts]
    lengths = sorted(len(w) for w in tokenized)
    edges = sorted({_quantile(lengths, q) for q in LENGTH_QUANTILES})
    counts = Counter(word for ws in tokenized for word in ws)
    vocabulary = sorted(sorted(counts, key=lambda w: (-counts[w], w))[:VOCABULARY_SIZE])
    heldout = PartitionCounter(edges, frozenset(vocabulary))
    heldout.add(heldout_texts)
    label_counts = Counter(str(label) for label in train_labels)
    length_counts = [0] * (len(edges) + 1)
    for n in lengths:
        length_counts[bin_index(n, edges)] += 1
    return {
        "schema": PROFILE_SCHEMA,
        "rows": len(train_texts),
        "labels": {label: label_counts[label] / len(train_labels) for label in sorted(label_counts)},
        "text_length": {
            "unit": "words",
            "edges": edges,
            "shares": shares(length_counts),
            "mean": sum(lengths) / len(lengths),
            "quantiles": {f"p{round(q * 100):02d}": _quantile(lengths, q) for q in (0.05, 0.5, 0.95)},
        },
        "unknown_words": {
            "vocabulary": vocabulary,
            "reference_share": heldout.unknown_share,
            "measured_on_rows": heldout.rows,
        },
    }


def check_profile(profile: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """The profile as read back; a profile of another schema is bad input (the version needs re-registering)."""
    if profile.get("schema") != PROFILE_SCHEMA or not {"labels", "text_length", "unknown_words"} <= set(profile):
        raise BadInputError(f"{where} is not a drift reference profile of schema {PROFILE_SCHEMA}; register the model again")
    return profile


# --- a partition against the profile -----------------------------------------------------------


@dataclass
class PartitionCounter:
    """Counts of one partition's texts, filled batch by batch (inputs may not fit in memory)."""

    edges: Sequence[float]
    vocabulary: frozenset[str]
    rows: int = 0
    total_words: int = 0
    unknown_words: int = 0
    length_counts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.length_counts = self.length_counts or [0] * (len(self.edges) + 1)

    def add(self, texts: Iterable[str | None]) -> None:
        for text in texts:
            ws = words(text or "")
            self.rows += 1
            self.total_words += len(ws)
            self.unknown_words += sum(1 for w in ws if w not in self.vocabulary)
            self.length_counts[bin_index(len(ws), self.edges)] += 1

    @property
    def unknown_share(self) -> float:
        return self.unknown_words / self.total_words if self.total_words else 0.0

    @property
    def mean_words(self) -> float:
        return self.total_words / self.rows if self.rows else 0.0


def counter_for(profile: Mapping[str, Any]) -> PartitionCounter:
    """An empty counter with the profile's length bins and vocabulary."""
    return PartitionCounter(list(profile["text_length"]["edges"]), frozenset(profile["unknown_words"]["vocabulary"]))


@dataclass(frozen=True)
class Thresholds:
    warn: float
    alert: float


def compare(profile: Mapping[str, Any], texts: PartitionCounter, predicted: Mapping[str, int],
            thresholds: Thresholds) -> dict[str, Any]:
    """The three statistics of a partition (texts counted, predicted label counts), each graded, and the verdict."""
    if texts.rows == 0:
        raise BadInputError("the partition has no rows; there is nothing to compare with the drift reference")
    length_ref = list(profile["text_length"]["shares"])
    length_now = shares(texts.length_counts)
    ref_unknown = float(profile["unknown_words"]["reference_share"])
    now_unknown = texts.unknown_share
    labels = sorted(set(profile["labels"]) | set(predicted))
    label_ref = [float(profile["labels"].get(label, 0.0)) for label in labels]
    label_now = shares([predicted.get(label, 0) for label in labels])
    figures = {
        "text_length": {"psi": psi(length_ref, length_now), "mean_words": texts.mean_words,
                        "reference_mean_words": float(profile["text_length"]["mean"]),
                        "shares": length_now, "reference_shares": length_ref},
        "unknown_words": {"psi": psi([1 - ref_unknown, ref_unknown], [1 - now_unknown, now_unknown]),
                          "share": now_unknown, "reference_share": ref_unknown},
        "predicted_label": {"psi": psi(label_ref, label_now), "shares": dict(zip(labels, label_now, strict=True)),
                            "reference_shares": dict(zip(labels, label_ref, strict=True))},
    }
    for figure in figures.values():
        figure["status"] = grade(figure["psi"], thresholds.warn, thresholds.alert)
    status = worst(f["status"] for f in figures.values())
    bins = max(len(length_ref), 2, len(labels))
    chance = chance_psi(bins, texts.rows)
    note = small_sample_note(texts.rows, bins, thresholds) if chance >= thresholds.warn else ""
    return {"status": status, "rows": texts.rows, "statistics": figures, "small_sample": bool(note),
            "chance_psi": chance, "summary": summary(status, figures, thresholds) + note}


def chance_psi(bins: int, rows: int) -> float:
    """The PSI a partition of `rows` rows shows by chance alone over `bins` bins, with no shift at all."""
    return (bins - 1) / rows if rows else math.inf


def small_sample_note(rows: int, bins: int, thresholds: Thresholds) -> str:
    """What the verdict of a partition too small for PSI is worth, and how many rows would do."""
    needed = math.ceil((bins - 1) / thresholds.warn)
    return (f" (small sample: on {rows} rows chance alone gives PSI about {chance_psi(bins, rows):.2f}; "
            f"read this verdict with care, about {needed} rows or more make it reliable)")


def summary(status: Status, figures: Mapping[str, Mapping[str, Any]], thresholds: Thresholds) -> str:
    """One line for logs and check descriptions: the verdict and every statistic's PSI."""
    parts = ", ".join(f"{name} PSI {f['psi']:.3f} ({f['status']})" for name, f in figures.items())
    return f"{status}: {parts}; warn >= {thresholds.warn:g}, drift >= {thresholds.alert:g}"
