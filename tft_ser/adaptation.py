"""Speaker adaptation for `tft-ser predict --adapt`, from the speech (VAD segments) of a recording or of several files
of one speaker: feature statistics through `TFTFeatureExtractor.adapted`, and for a model with
`config.speaker_embedding_shift` the speaker's utterance embeddings over that speech (their mean, with
`config.speaker_embedding_scale` their spread, and with `config.speaker_head_supports` both heads adjusted to them),
in the windows that `predict_recording` scores."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from modeling_tft.modeling_tft import MIN_SPEAKER_EMBEDDINGS

from .classifier import EmotionClassifier
from .timeline import window_and_hop
from .windows import window_spans


@dataclass
class Adaptation:
    """The classifier to use, and which statistics it normalises with: `source` ("recording", "files" or
    "exported", the statistics the model was exported with) and the seconds of speech behind them."""

    classifier: EmotionClassifier
    source: str
    speech_s: float
    note: str | None = None

    def to_dict(self) -> dict:
        shifted, config = self.classifier.speaker_inputs is not None, self.classifier.model.config
        scaled = shifted and getattr(config, "speaker_embedding_scale", False)
        adjusted = shifted and getattr(config, "speaker_head_supports", None) is not None
        return {"statistics": self.source, "speech_s": round(self.speech_s, 2), "embedding_shift": shifted,
                "embedding_scale": scaled, "head_adjusted": adjusted, "note": self.note}  # fmt: skip


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
    adapted, config = classifier.with_feature_extractor(extractor), classifier.model.config
    if getattr(config, "speaker_embedding_shift", False):  # the windows a recording is scored in
        window, hop = window_and_hop(adapted, None, None)
        windows = [segment[a:b] for segment in speech for a, b in window_spans(0, len(segment), window, hop)]
        if getattr(config, "speaker_embedding_scale", False) and len(windows) < MIN_SPEAKER_EMBEDDINGS:
            note = f"embeddings not adapted: {len(windows)} window(s) of speech, {MIN_SPEAKER_EMBEDDINGS} needed"
            return Adaptation(adapted, source, seconds, note)
        adapted = adapted.with_speaker_inputs(adapted.adaptation_inputs(windows))
    return Adaptation(adapted, source, seconds)
