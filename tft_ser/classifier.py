"""Load an exported TFT (folder or Hub id) and score batches of 16 kHz windows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

import modeling_tft  # noqa: F401  (registers the "tft" model type with the Auto classes)

DEFAULT_MAX_FRAMES = 300


@torch.no_grad()
def speaker_adaptation_inputs(
    model: torch.nn.Module, batches: Iterable[dict[str, torch.Tensor]]
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`set_speaker_embeddings`' arguments from the model inputs of a speaker's clips, batch by batch: their utterance
    embeddings and the functionals head's inputs of the same clips (one per inference window of a long clip; None
    for a model without that head)."""
    parts, functionals = [], []
    for inputs in batches:
        parts.append(model.utterance_embeddings(**inputs))
        functionals.append(model.functionals_inputs(**inputs))
    return torch.cat(parts), None if functionals[0] is None else torch.cat(functionals)


class EmotionClassifier:
    """A TFT audio-classification model with its feature extractor; `window_samples` is the model's window.
    `speaker_inputs`: a speaker's utterance embeddings and the functionals head's inputs of the same speech
    ([`adaptation_inputs`], `adaptation.adapt`), which the model is adapted to while it scores
    (`config.speaker_embedding_shift`, `set_speaker_embeddings`)."""

    def __init__(
        self,
        model: torch.nn.Module,
        feature_extractor,
        batch_size: int = 16,
        speaker_inputs: tuple[torch.Tensor, torch.Tensor | None] | None = None,
    ) -> None:
        self.model = model.eval()
        self.feature_extractor = feature_extractor
        self.batch_size = batch_size
        self.speaker_inputs = speaker_inputs
        self.sampling_rate: int = feature_extractor.sampling_rate
        self.labels: list[str] = [model.config.id2label[i] for i in range(model.config.num_labels)]

    @classmethod
    def from_pretrained(
        cls, name_or_path: str, device: str = "cpu", trust_remote_code: bool = False, batch_size: int = 16
    ) -> EmotionClassifier:
        """Load from an export folder or a Hub id (the Hub needs network; `trust_remote_code` runs its code)."""
        model = AutoModelForAudioClassification.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
        extractor = AutoFeatureExtractor.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
        return cls(model.to(device), extractor, batch_size)

    def with_feature_extractor(self, feature_extractor) -> EmotionClassifier:
        """The same model with another feature extractor (e.g. one adapted to a speaker), not shifted to a speaker."""
        return EmotionClassifier(self.model, feature_extractor, self.batch_size)

    def with_speaker_inputs(self, inputs: tuple[torch.Tensor, torch.Tensor | None]) -> EmotionClassifier:
        """The same model and feature extractor, adapted to a speaker's [`adaptation_inputs`] while it scores."""
        return EmotionClassifier(self.model, self.feature_extractor, self.batch_size, inputs)

    @contextmanager
    def speaker(self) -> Iterator[torch.nn.Module]:
        """The model, adapted to this classifier's speaker (if any) until the block ends."""
        if self.speaker_inputs is None:
            yield self.model
            return
        self.model.set_speaker_embeddings(*self.speaker_inputs)
        try:
            yield self.model
        finally:
            self.model.set_speaker_embeddings(None)

    def adaptation_inputs(self, clips: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`set_speaker_embeddings`' arguments for a speaker's clips of at most `window_samples` samples, in batches:
        the utterance embeddings the Transformer head scores `(clips, hidden_size)` and the functionals head's inputs
        of the same clips `(clips, functionals)` (None for a model without that head)."""
        starts = range(0, len(clips), self.batch_size)
        return speaker_adaptation_inputs(self.model, (self.features(clips[s : s + self.batch_size]) for s in starts))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def window_frames(self) -> int:
        """
        Frames per window: the model's inference window (`config.window_frames`), or its training crop
        (`config.max_frames`) for a model that takes whole clips; capped by an extractor that truncates.
        """
        config = self.model.config
        frames = [getattr(config, "window_frames", None) or getattr(config, "max_frames", None)]
        frames = [int(f) for f in [*frames, getattr(self.feature_extractor, "max_length", None)] if f]
        return min(frames) if frames else DEFAULT_MAX_FRAMES

    @property
    def window_samples(self) -> int:
        """Samples that make exactly `window_frames` frames."""
        extractor = self.feature_extractor
        return extractor.n_fft + (self.window_frames - 1) * extractor.hop_length

    @property
    def min_samples(self) -> int:
        """Shortest input: one analysis frame."""
        return int(self.feature_extractor.n_fft)

    def features(self, clips: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        """Model inputs for clips of at most `window_samples` samples (padded to the longest)."""
        inputs = self.feature_extractor(
            list(clips), sampling_rate=self.sampling_rate, padding="longest", return_tensors="pt"
        )
        return {key: value.to(self.device) for key, value in inputs.items()}

    def probabilities(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """
        Softmax scores `(clips, labels)` of clips of at most `window_samples` samples, in batches of similar
        lengths (less padding; the model gives the same scores padded or not).
        """
        order = np.argsort([len(clip) for clip in clips], kind="stable")
        scores = np.zeros((len(clips), len(self.labels)), dtype=np.float32)
        for start in range(0, len(clips), self.batch_size):
            batch = order[start : start + self.batch_size]
            with torch.inference_mode(), self.speaker() as model:
                logits = model(**self.features([clips[i] for i in batch])).logits
            scores[batch] = logits.float().softmax(-1).cpu().numpy()
        return scores
