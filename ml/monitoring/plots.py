"""The drift figure logged with each monitoring run: reference vs partition, side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
