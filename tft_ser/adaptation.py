"""Speaker adaptation for `tft-ser predict --adapt`, from the speech (VAD segments) of a recording or of several files
of one speaker: feature statistics through `TFTFeatureExtractor.adapted`, and for a model with
`config.speaker_embedding_shift` the speaker's mean utterance embedding (its windows of that speech)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .classifier import EmotionClassifier


@dataclass
class Adaptation:
    """The classifier to use, and which statistics it normalises with: `source` ("recording", "files" or
    "exported", the statistics the model was exported with) and the seconds of speech behind them."""

    classifier: EmotionClassifier
    source: str
    speech_s: float
    note: str | None = None

    def to_dict(self) -> dict:
        shifted = self.classifier.speaker_embedding_mean is not None
        return {"statistics": self.source, "speech_s": round(self.speech_s, 2), "embedding_shift": shifted,
                "note": self.note}  # fmt: skip


def adapt(
    classifier: EmotionClassifier, recordings: Iterable[tuple[np.ndarray, list[tuple[int, int]]]], source: str
) -> Adaptation:
    """Adapt `classifier` to the speech segments of `recordings` (audio and `(start, end)` sample segments); with too
    little speech, keep the exported statistics and say why in `note`."""
    rate = classifier.sampling_rate
    speech = [
        audio[start:end]
        for audio, segments in recordings
        for start, end in segments
        if end - start >= classifier.min_samples
    ]
    seconds = sum(len(segment) for segment in speech) / rate
    try:
        extractor = classifier.feature_extractor.adapted(speech, rate)
    except ValueError as error:  # too little speech (or none): the exported statistics
        note = f"kept the exported statistics: {error}" if speech else "kept the exported statistics: no speech"
        return Adaptation(classifier, "exported", seconds, note)
    adapted = classifier.with_feature_extractor(extractor)
    if getattr(adapted.model.config, "speaker_embedding_shift", False):
        step = adapted.window_samples
        windows = [s[i : i + step] for s in speech for i in range(0, len(s), step) if len(s) - i >= adapted.min_samples]
        adapted = adapted.with_speaker_embedding_mean(adapted.embeddings(windows).mean(0))
    return Adaptation(adapted, source, seconds)
