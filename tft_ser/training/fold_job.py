"""What a trainer gets for one fold and what it gives back: the interface both training paths share."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import datasets
import numpy as np
from transformers import PreTrainedModel

from .arguments import TFTTrainingArguments
from .data import SpeechEmotionCollator
from .loss import ClassificationLoss


@dataclass
class FoldJob:
    model: PreTrainedModel  # a TFTForAudioClassification or the ASTForAudioClassification baseline
    train: datasets.Dataset  # `lazy_split`s: Arrow-backed, each clip decoded when a batch reads it
    validation: datasets.Dataset
    test: datasets.Dataset
    train_collator: SpeechEmotionCollator
    eval_collator: SpeechEmotionCollator
    loss: ClassificationLoss  # the training (and validation) loss, the same for both paths
    args: TFTTrainingArguments
    fold_dir: Path
    resume: bool
    num_labels: int

    @property
    def checkpoint_dir(self) -> Path:
        return self.fold_dir / "checkpoints"


@dataclass
class FoldOutcome:
    model: PreTrainedModel  # the selected (best validation UA) model, unwrapped
    test_predictions: np.ndarray
    test_references: np.ndarray
    best_epoch: int | None
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train_loss, eval_loss, eval_ua, eval_wa
    # the checkpoint this run continued from ({"checkpoint", "epoch", "global_step"}), None for a fresh start
    resumed_from: dict | None = None
    steps_run: int = 0  # optimizer steps taken by this run (after the checkpoint, if resumed)
    global_step: int = 0  # optimizer steps of the whole fold, those before the checkpoint included
    # a speaker-shifted model's (config.speaker_embedding_shift) test predictions before the shift
    test_predictions_unshifted: np.ndarray | None = None
    # a single-clip model's (--refit_head) test predictions before its Transformer head was refitted
    test_predictions_before_refit: np.ndarray | None = None
    refit_c: float | None = None  # the C of a Transformer head refitted after training (`head_refit`)

    def retested(self, test_labels, predictions: np.ndarray, keep_as: str, refit_c: float | None = None) -> FoldOutcome:
        """This outcome with new `predictions` of its test split (`test_labels`, which must be the trainer's
        references in the same order) and the `refit_c` of its refitted head, if any; the trainer's predictions are
        kept in the field `keep_as`."""
        if not np.array_equal(np.asarray(test_labels), np.asarray(self.test_references)):
            raise RuntimeError("The trainer's test references are not in the test split's order.")
        return replace(self, test_predictions=predictions, refit_c=refit_c, **{keep_as: self.test_predictions})
