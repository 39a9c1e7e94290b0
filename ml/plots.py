"""Figures logged to MLflow: the confusion matrix, the training curves and the drift comparison."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure


def confusion_matrix(matrix: np.ndarray, labels: list[str], title: str) -> Figure:
    """Counts per (true, predicted) cell, with each cell's share of its true class."""
    from matplotlib.figure import Figure

    size = max(4.0, 0.6 * len(labels) + 2)
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    row_totals = matrix.sum(axis=1, keepdims=True).clip(min=1)
    ax.imshow(matrix / row_totals, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            share = matrix[i, j] / row_totals[i, 0]
            ax.text(j, i, f"{matrix[i, j]}\n{share:.0%}", ha="center", va="center",
                    color="white" if share > 0.5 else "black", fontsize=8)
    fig.tight_layout()
    return fig


def training_curves(history: dict[str, list[tuple[int, float]]]) -> Figure:
    """Loss (left) and validation metrics (right) per epoch."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    loss_ax, metric_ax = fig.subplots(1, 2)
    for key, points in sorted(history.items()):
        if not points:
            continue
        axis = loss_ax if "loss" in key else metric_ax
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=key)
    loss_ax.set_title("training loss")
    metric_ax.set_title("validation metrics")
    for axis in (loss_ax, metric_ax):
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        if axis.lines:
            axis.legend()
    fig.tight_layout()
    return fig


def drift_comparison(edges: Sequence[float], statistics: Mapping[str, Mapping[str, Any]], title: str) -> Figure:
    """Reference vs partition, side by side: text-length bins, unknown-word share, predicted-label shares.

    Why one figure: the person who follows the monitoring run's link sees at once which of the
    three statistics moved and how (the PSI of each is in its panel's title).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 4))
    length_ax, unknown_ax, label_ax = fig.subplots(1, 3, gridspec_kw={"width_ratios": [3, 1, 2]})
    bounds = [f"<={edges[0]:g}"] if edges else ["all"]
    bounds += [f"{lo:g}-{hi:g}" for lo, hi in pairwise(edges)]
    bounds += [f">{edges[-1]:g}"] if edges else []
    length = statistics["text_length"]
    _bars(length_ax, bounds, length["reference_shares"], length["shares"])
    length_ax.set_xlabel("words per text")
    unknown = statistics["unknown_words"]
    _bars(unknown_ax, ["unknown words"], [unknown["reference_share"]], [unknown["share"]])
    labels = statistics["predicted_label"]
    names = sorted(labels["reference_shares"])
    _bars(label_ax, names, [labels["reference_shares"][n] for n in names], [labels["shares"].get(n, 0.0) for n in names])
    label_ax.set_xlabel("label (reference: training labels; partition: predicted)")
    for axis, key in ((length_ax, "text_length"), (unknown_ax, "unknown_words"), (label_ax, "predicted_label")):
        figure = statistics[key]
        axis.set_title(f"{key}: PSI {figure['psi']:.3f} ({figure['status']})")
        axis.set_ylabel("share")
        axis.grid(alpha=0.3, axis="y")
    length_ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _bars(axis: Any, names: Sequence[str], reference: Sequence[float], actual: Sequence[float]) -> None:
    positions = range(len(names))
    axis.bar([p - 0.2 for p in positions], reference, width=0.4, label="reference (training)")
    axis.bar([p + 0.2 for p in positions], actual, width=0.4, label="this partition")
    axis.set_xticks(list(positions), names, rotation=45 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")
