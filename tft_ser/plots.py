"""Figures: the emotion timeline of a recording, and the explanation maps of one clip (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

from .extras import missing_extra

try:
    import matplotlib
except ModuleNotFoundError as error:
    if error.name != "matplotlib":
        raise
    raise missing_extra("matplotlib", "Drawing figures") from None

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from .explain import Explanation
from .timeline import TimelineRow

NON_SPEECH_COLOR = "0.85"


def plot_timeline(rows: list[TimelineRow], labels: list[str], path: str | Path, title: str = "") -> Path:
    """Top: one coloured bar per speech segment (its label), grey for non-speech. Bottom: scores per segment."""
    colors = {label: plt.get_cmap("tab10")(i % 10) for i, label in enumerate(labels)}
    fig, (bars, curves) = plt.subplots(2, 1, figsize=(10, 3.6), sharex=True, height_ratios=[1, 2])
    for row in rows:
        color = colors[row.label] if row.is_speech else NON_SPEECH_COLOR
        bars.axvspan(row.start_s, row.end_s, color=color, lw=0)
    bars.set_yticks([])
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[label]) for label in labels]
    handles.append(plt.Rectangle((0, 0), 1, 1, color=NON_SPEECH_COLOR))
    bars.legend(
        handles,
        [*labels, "non-speech"],
        ncol=min(7, len(labels) + 1),
        fontsize=7,
        loc="lower left",
        bbox_to_anchor=(0, 1.02),
        frameon=False,
    )
    speech = [row for row in rows if row.is_speech]
    for label in labels:
        xs, ys = [], []
        for row in speech:  # a step per segment, broken across non-speech
            xs += [row.start_s, row.end_s, np.nan]
            ys += [row.scores[label]] * 2 + [np.nan]
        curves.plot(xs, ys, color=colors[label], lw=1.5)
    curves.set_ylim(0, 1)
    curves.set_ylabel("score")
    curves.set_xlabel("time (s)")
    curves.set_xlim(0, rows[-1].end_s if rows else 1)
    if title:
        fig.suptitle(title, fontsize=9, y=0.995)
    return _save(fig, path)


def plot_explanation(explanation: Explanation, path: str | Path, title: str = "") -> Path:
    """Log-mel input with *when* (attention per frame) below and *which bands* (attention per band) beside it."""
    e = explanation
    frames, mel = e.features.shape
    times = e.start_s + np.arange(frames) * e.frame_seconds
    fig = plt.figure(figsize=(9, 5))
    grid = fig.add_gridspec(2, 2, width_ratios=[5, 1], height_ratios=[3, 1], wspace=0.05, hspace=0.08)
    image = fig.add_subplot(grid[0, 0])
    image.imshow(
        e.features.T,
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(times[0], times[-1] + e.frame_seconds, 0, mel),
    )
    image.set_ylabel("mel band")
    image.tick_params(labelbottom=False)
    when = fig.add_subplot(grid[1, 0], sharex=image)
    _curve(when, times, e.time_attention, e.time_gradient)
    when.set_xlabel("time (s)")
    when.set_ylabel("share")
    bands = fig.add_subplot(grid[0, 1], sharey=image)
    _curve(bands, np.arange(mel) + 0.5, e.band_attention, e.band_gradient, vertical=True)
    bands.tick_params(labelleft=False)
    bands.xaxis.set_major_locator(MaxNLocator(2))
    bands.set_title("share per band", fontsize=8)
    notes = fig.add_subplot(grid[1, 1])
    notes.axis("off")
    text = [f"predicted: {e.label} ({e.score:.2f})", "solid: attention", "dashed: input×gradient", *e.notes]
    notes.text(0.05, 0.95, "\n".join(text), va="top", fontsize=7, wrap=True, transform=notes.transAxes)
    image.set_title(title or "model input (normalised log-mel)", fontsize=9)
    return _save(fig, path)


def _curve(axis, positions: np.ndarray, attention: np.ndarray | None, gradient: np.ndarray, vertical: bool = False):
    for values, style in ((attention, "-"), (gradient, "--")):
        if values is None:
            continue
        if vertical:
            axis.plot(values, positions, style, color="C0" if style == "-" else "C1", lw=1.2)
        else:
            axis.plot(positions, values, style, color="C0" if style == "-" else "C1", lw=1.2)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path
