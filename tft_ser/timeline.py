"""Emotion timeline of a long recording: VAD speech segments, each scored in model windows; gaps stay non-speech."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .classifier import EmotionClassifier
from .vad import VADOptions, speech_segments
from .windows import combine, window_spans

NON_SPEECH = "non-speech"


@dataclass
class TimelineRow:
    """One stretch of the recording: a speech segment with its emotion scores, or non-speech (no scores)."""

    start_s: float
    end_s: float
    label: str
    score: float | None = None
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def is_speech(self) -> bool:
        return self.label != NON_SPEECH

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict:
        return asdict(self)


def window_and_hop(classifier: EmotionClassifier, window_s: float | None, hop_s: float | None) -> tuple[int, int]:
    """Window and hop in samples: the model's window by default (capped by it), hop half the window."""
    window = classifier.window_samples
    if window_s is not None:
        window = max(classifier.min_samples, min(window, round(window_s * classifier.sampling_rate)))
    hop = window // 2 if hop_s is None else round(hop_s * classifier.sampling_rate)
    if not 0 < hop <= window:
        raise ValueError(f"hop ({hop} samples) must be in (0, window={window} samples].")
    return window, hop


def emotion_timeline(
    classifier: EmotionClassifier,
    audio: np.ndarray,
    vad_options: VADOptions | None = None,
    window_s: float | None = None,
    hop_s: float | None = None,
    segments: list[tuple[int, int]] | None = None,
) -> list[TimelineRow]:
    """
    Rows covering the whole 16 kHz mono `audio` in order: speech segments (Silero VAD) labelled with the
    emotion of highest score, and the gaps between them as `NON_SPEECH` rows without scores.

    A segment longer than the window is cut into windows (`window_s`, default the model's; `hop_s`, default half
    of it; the last window ends at the segment's end) and its scores are the mean of the window probabilities
    weighted by each window's length in samples (all of it speech, by construction). `segments` (sample indices)
    skips the VAD when already computed.
    """
    rate = classifier.sampling_rate
    window, hop = window_and_hop(classifier, window_s, hop_s)
    if segments is None:
        segments = speech_segments(audio, vad_options)
    segments = [(s, e) for s, e in segments if e - s >= classifier.min_samples]
    spans = [window_spans(s, e, window, hop) for s, e in segments]
    flat = [span for segment_spans in spans for span in segment_spans]
    probabilities = classifier.probabilities([audio[a:b] for a, b in flat])  # (windows, labels)

    rows, cursor, first = [], 0, 0
    for (start, end), segment_spans in zip(segments, spans, strict=True):
        if start > cursor:
            rows.append(TimelineRow(cursor / rate, start / rate, NON_SPEECH))
        lengths = np.array([b - a for a, b in segment_spans])
        scores = combine(probabilities[first : first + len(segment_spans)], lengths)
        first += len(segment_spans)
        best = int(np.argmax(scores))
        rows.append(
            TimelineRow(
                start / rate,
                end / rate,
                classifier.labels[best],
                float(scores[best]),
                {label: float(p) for label, p in zip(classifier.labels, scores, strict=True)},
            )
        )
        cursor = end
    if len(audio) > cursor:
        rows.append(TimelineRow(cursor / rate, len(audio) / rate, NON_SPEECH))
    return rows


def summarize_timeline(rows: list[TimelineRow], labels: list[str]) -> dict:
    """
    Whole-recording summary: durations, and per emotion the share of speech time whose segment carries that
    label (`emotion_share`, sums to 1 when there is speech) and the duration-weighted mean score (`mean_scores`).
    """
    duration = sum(row.duration_s for row in rows)
    speech = [row for row in rows if row.is_speech]
    speech_s = sum(row.duration_s for row in speech)
    share = {label: 0.0 for label in labels}
    mean = {label: 0.0 for label in labels}
    for row in speech:
        share[row.label] += row.duration_s / speech_s
        for label in labels:
            mean[label] += row.scores[label] * row.duration_s / speech_s
    return {
        "duration_s": duration,
        "speech_s": speech_s,
        "non_speech_s": duration - speech_s,
        "num_segments": len(speech),
        "emotion_share": share if speech else {},
        "mean_scores": mean if speech else {},
    }
