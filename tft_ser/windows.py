"""Cut a span of audio into the model's windows, and combine window scores: the model's own rule.

`modeling_tft` owns the rule (`window_starts`, `combine_window_logits`; `TFTForAudioClassification` applies it to
inputs longer than `config.window_frames`); these wrappers apply it to sample spans and to probabilities with
caller-chosen weights (e.g. the speech inside each window).
"""

from __future__ import annotations

import numpy as np
import torch

from modeling_tft.modeling_tft import combine_window_logits, window_starts


def window_spans(start: int, end: int, window: int, hop: int) -> list[tuple[int, int]]:
    """
    Windows of `window` samples every `hop` samples covering `[start, end)`; the last one is moved back to
    end exactly at `end`. A span no longer than one window is a single window (the span itself).
    """
    if end - start <= window:
        return [(start, end)]
    starts, _ = window_starts(torch.tensor([end - start]), window, hop)
    return [(start + s, start + s + window) for s in starts[0].tolist()]


def combine(probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    """Weighted mean of window probabilities `(windows, labels)`; `None` when every weight is 0."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.sum() <= 0:
        return None
    with np.errstate(divide="ignore"):  # a probability of 0 is a log-probability of -inf
        log_probabilities = torch.from_numpy(np.log(np.asarray(probabilities, dtype=np.float64)))
    return combine_window_logits(log_probabilities[None], torch.from_numpy(weights)[None]).exp()[0].numpy()
