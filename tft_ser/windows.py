"""Cut a span of audio into the model's windows, and combine window scores (the documented rule)."""

from __future__ import annotations

import numpy as np


def window_spans(start: int, end: int, window: int, hop: int) -> list[tuple[int, int]]:
    """
    Windows of `window` samples every `hop` samples covering `[start, end)`; the last one is moved back to
    end exactly at `end`. A span no longer than one window is a single window (the span itself).
    """
    if end - start <= window:
        return [(start, end)]
    starts = list(range(start, end - window, hop))
    starts.append(end - window)
    return [(s, s + window) for s in starts]


def combine(probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    """Weighted mean of window probabilities `(windows, labels)`; `None` when every weight is 0."""
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum()
    if total <= 0:
        return None
    return (probabilities * weights[:, None]).sum(0) / total
