"""Confusion-matrix and training-curve figures (PNG) for people who would rather look than read.

They need matplotlib (the `plots` extra): without it a run writes no figures and says so once; everything else,
results.json and results.md included, is the same.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from types import ModuleType

import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay

from tft_ser.extras import installed, missing_extra

logger = logging.getLogger(__name__)


@functools.cache
def _pyplot() -> ModuleType | None:
    """matplotlib's pyplot on the Agg backend, or None (logged once) when the `plots` extra is not installed."""
    if not installed("matplotlib"):
        logger.warning(
            "%s; this run writes no PNG figures.", missing_extra("matplotlib", "Drawing the training figures")
        )
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion_matrix(matrix: list[list[int]], labels: list[str], title: str, path: Path) -> None:
    """Row-normalised confusion matrix (recall per true class), counts in the title's subtitle."""
    plt = _pyplot()
    if plt is None:
        return
    counts = np.asarray(matrix, dtype=float)
    normalised = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    figure, axis = plt.subplots(figsize=(1.1 * len(labels) + 2, 1.1 * len(labels) + 1.5))
    ConfusionMatrixDisplay(normalised, display_labels=labels).plot(ax=axis, values_format=".2f", colorbar=False)
    axis.set_title(f"{title}\n(rows: true class, normalised; n={int(counts.sum())})", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_training_curves(history: list[dict], title: str, path: Path) -> None:
    """Training/validation loss and validation UA/WA per epoch."""
    plt = _pyplot()
    if plt is None:
        return
    epochs = [row["epoch"] for row in history]
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 3.6))
    for key, name in (("train_loss", "training loss"), ("eval_loss", "validation loss")):
        points = [(row["epoch"], row[key]) for row in history if key in row]
        if points:
            loss_axis.plot(*zip(*points, strict=True), marker="o", label=name)
    for key, name in (("eval_ua", "validation UA"), ("eval_wa", "validation WA")):
        points = [(row["epoch"], row[key]) for row in history if key in row]
        if points:
            accuracy_axis.plot(*zip(*points, strict=True), marker="o", label=name)
    loss_axis.set(xlabel="epoch", ylabel="loss", title=title)
    accuracy_axis.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1), title=title)
    for axis in (loss_axis, accuracy_axis):
        axis.grid(alpha=0.3)
        if axis.lines:
            axis.legend()
        if epochs:
            axis.set_xticks(epochs)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
