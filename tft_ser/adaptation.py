"""Speaker-adaptive normalisation for `tft-ser predict --adapt`: band statistics from the speech (VAD segments) of
a recording or of several files of one speaker, through `TFTFeatureExtractor.adapted`."""

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
        return {"statistics": self.source, "speech_s": round(self.speech_s, 2), "note": self.note}


def adapt(
    classifier: EmotionClassifier, recordings: Iterable[tuple[np.ndarray, list[tuple[int, int]]]], source: str
) -> Adaptation:
    """Adapt `classifier` to the speech segments of `recordings` (audio and `(start, end)` sample segments); with too
    little speech, keep the exported statistics and say why in `note`."""
    rate = classifier.sampling_rate
    total = {"samples": 0}

    def speech() -> Iterable[np.ndarray]:
        for audio, segments in recordings:
            for start, end in segments:
                if end - start >= classifier.min_samples:
                    total["samples"] += end - start
                    yield audio[start:end]

    try:
        extractor = classifier.feature_extractor.adapted(speech(), rate)
    except ValueError as error:  # too little speech (or none): the exported statistics
        seconds = total["samples"] / rate
        note = (
            f"kept the exported statistics: {error}" if total["samples"] else "kept the exported statistics: no speech"
        )
        return Adaptation(classifier, "exported", seconds, note)
    return Adaptation(classifier.with_feature_extractor(extractor), source, total["samples"] / rate)
