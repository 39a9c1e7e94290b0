"""Classification metrics computed from a confusion matrix (no extra dependency)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts[true, predicted]."""
    import numpy as np

    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str], prefix: str = "") -> dict[str, float]:
    """accuracy, macro_f1 and per-class precision/recall/f1 (`<prefix>precision_<label>`, ...).

    A class that is never predicted (or never present) scores 0 rather than NaN, the usual
    convention, so a degenerate model is visibly bad instead of unmeasurable.
    """
    import numpy as np

    matrix = confusion(y_true, y_pred, len(labels))
    tp = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    actual = matrix.sum(axis=1).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = actual > 0
    out = {
        f"{prefix}accuracy": float(tp.sum() / max(matrix.sum(), 1)),
        f"{prefix}macro_f1": float(f1[present].mean()) if present.any() else 0.0,
    }
    for k, label in enumerate(labels):
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(label))
        out[f"{prefix}precision_{safe}"] = float(precision[k])
        out[f"{prefix}recall_{safe}"] = float(recall[k])
        out[f"{prefix}f1_{safe}"] = float(f1[k])
    return out
