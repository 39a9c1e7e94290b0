"""A built-in SYNTHETIC dataset, so every pipeline runs offline with no download.

The texts are generated from templates (short product reviews with a sentiment), seeded and
reproducible. They are not real reviews: every row says so in its `source` column. A small
share of labels is flipped on purpose so that metrics are not trivially perfect and model
versions can actually differ.
"""

from __future__ import annotations

import random

from ml.core import storage
from ml.core.config import Settings
from ml.core.errors import BadInputError

LABELS = ("negative", "neutral", "positive")

_SUBJECTS = ["the blender", "this phone", "the hotel room", "the delivery", "our new sofa", "the headphones",
             "the support team", "this laptop", "the coffee maker", "the app", "the jacket", "the tent"]
_WORDS = {
    "positive": ["excellent", "great", "wonderful", "reliable", "fantastic", "lovely", "superb", "impressive"],
    "negative": ["terrible", "awful", "broken", "useless", "disappointing", "poor", "horrible", "faulty"],
    "neutral": ["average", "ordinary", "okay", "standard", "acceptable", "typical", "unremarkable", "plain"],
}
_TAILS = {
    "positive": ["I would buy it again.", "Highly recommended.", "It exceeded my expectations.", "Worth every penny."],
    "negative": ["I want a refund.", "Never again.", "It stopped working after a week.", "Avoid it."],
    "neutral": ["It does the job.", "Nothing special.", "As described.", "No strong feelings either way."],
}
_FILLER = ["honestly", "overall", "so far", "after a month", "for the price", "to be fair", "in my opinion", ""]
LABEL_NOISE = 0.05


def rows(n: int = 2000, seed: int = 7, with_labels: bool = True) -> list[dict[str, str]]:
    """`n` synthetic rows: id, text, label (when `with_labels`), source='synthetic-demo'."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        word = rng.choice(_WORDS[label])
        text = f"{rng.choice(_FILLER)} {rng.choice(_SUBJECTS)} is {word}. {rng.choice(_TAILS[label])}".strip()
        text = text[0].upper() + text[1:]
        if rng.random() < LABEL_NOISE:
            label = rng.choice([other for other in LABELS if other != label])
        row = {"id": f"demo-{i:06d}", "text": text}
        if with_labels:
            row["label"] = label
        row["source"] = "synthetic-demo"
        out.append(row)
    rng.shuffle(out)
    return out


def default_dataset(s: Settings) -> str:
    """`ML_DATASET_URI`; in embedded mode its default is the demo set, and its absence one line saying what to do."""
    uri = s.dataset_uri
    if not s.uses_s3 and not storage.is_s3(uri) and not storage.local_path(uri).exists():
        demo = str(s.home.resolve() / "demo" / "train.csv")
        if uri == demo:
            raise BadInputError(
                f"no training data: no --dataset-uri given and the embedded default {uri} does not exist; pass "
                f"--dataset-uri path/to/your.csv (columns {s.text_column!r} and {s.label_column!r}), or create the "
                f"synthetic demo set: python -m ml demo-data --output-uri {uri}")
    return uri
