"""One emotion for a whole recording: model windows over all of it, weighted by the speech they hold."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .classifier import EmotionClassifier
from .timeline import NON_SPEECH, window_and_hop
from .vad import VADOptions, speech_segments
from .windows import combine, window_spans


@dataclass
class RecordingPrediction:
    """Scores of a whole recording; `label` is `NON_SPEECH` (and no scores) when it holds no speech."""

    duration_s: float
    speech_s: float
    num_windows: int
    label: str
    score: float | None = None
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def speech_overlap(spans: list[tuple[int, int]], segments: list[tuple[int, int]]) -> np.ndarray:
    """Speech samples (union of `segments`) inside each span."""
    if not segments or not spans:
        return np.zeros(len(spans))
    seg = np.asarray(segments)  # (segments, 2)
    span = np.asarray(spans)  # (spans, 2)
    overlap = np.minimum(span[:, None, 1], seg[None, :, 1]) - np.maximum(span[:, None, 0], seg[None, :, 0])
    return np.clip(overlap, 0, None).sum(1)


def predict_recording(
    classifier: EmotionClassifier,
    audio: np.ndarray,
    use_vad: bool = True,
    vad_options: VADOptions | None = None,
    window_s: float | None = None,
    hop_s: float | None = None,
    segments: list[tuple[int, int]] | None = None,
) -> RecordingPrediction:
    """
    Score a 16 kHz mono recording of any length. Windows (`window_s`, default the model's; `hop_s`, default half)
    cover it, the last ending at its end; a recording of one window or less is scored whole, like `pipeline`.
    Scores are the mean of window probabilities weighted by the speech samples (Silero VAD) in each window;
    with `use_vad=False`, by window length. No speech at all gives `NON_SPEECH` and no scores. `segments`
    (sample indices) skips the VAD when already computed.
    """
    rate = classifier.sampling_rate
    window, hop = window_and_hop(classifier, window_s, hop_s)
    spans = window_spans(0, len(audio), window, hop)
    if use_vad:
        segments = speech_segments(audio, vad_options) if segments is None else segments
        weights = speech_overlap(spans, segments)
        speech_s = sum(e - s for s, e in segments) / rate
    else:
        weights = np.array([b - a for a, b in spans], dtype=np.float64)
        speech_s = len(audio) / rate
    keep = [i for i, w in enumerate(weights) if w > 0]
    result = RecordingPrediction(len(audio) / rate, speech_s, len(keep), NON_SPEECH)
    if not keep:
        return result
    probabilities = classifier.probabilities([audio[spans[i][0] : spans[i][1]] for i in keep])
    scores = combine(probabilities, weights[keep])
    best = int(np.argmax(scores))
    result.label, result.score = classifier.labels[best], float(scores[best])
    result.scores = {label: float(p) for label, p in zip(classifier.labels, scores, strict=True)}
    return result
