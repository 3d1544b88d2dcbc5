"""What a trainer gets for one fold and what it gives back: the interface both training paths share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np

from modeling_tft import TFTForAudioClassification

from .arguments import TFTTrainingArguments
from .data import SpeechEmotionCollator


@dataclass
class FoldJob:
    model: TFTForAudioClassification
    train: datasets.Dataset  # `lazy_split`s: Arrow-backed, each clip decoded when a batch reads it
    validation: datasets.Dataset
    test: datasets.Dataset
    train_collator: SpeechEmotionCollator
    eval_collator: SpeechEmotionCollator
    args: TFTTrainingArguments
    fold_dir: Path
    resume: bool
    num_labels: int

    @property
    def checkpoint_dir(self) -> Path:
        return self.fold_dir / "checkpoints"


@dataclass
class FoldOutcome:
    model: TFTForAudioClassification  # the selected (best validation UA) model, unwrapped
    test_predictions: np.ndarray
    test_references: np.ndarray
    best_epoch: int | None
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train_loss, eval_loss, eval_ua, eval_wa
    averaged_epochs: list[int] = field(default_factory=list)  # epochs whose mean weights were tested (if averaged)
    averaged_validation_ua: float | None = None  # the averaged model's validation UA
