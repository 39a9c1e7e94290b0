"""Figures logged with a training run: the confusion matrix and the training curves."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
