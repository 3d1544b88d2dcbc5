"""The one training loss of every model (TFT and the AST baseline) and both training paths.

Cross-entropy in float32 with optional per-class weights (`--class_balanced_loss`) and label smoothing
(`--label_smoothing_factor`): training options, not part of the exported model's config.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


def inverse_frequency_weights(labels: list[int], num_labels: int) -> list[float]:
    """Class weights n / (K * n_k), the usual 'balanced' weighting."""
    counts = Counter(labels)
    return [len(labels) / (num_labels * counts[k]) if counts[k] else 0.0 for k in range(num_labels)]


@dataclass(frozen=True)
class ClassificationLoss:
    """Cross-entropy of class logits against class indices, in float32 (also under bf16/fp16 autocast)."""

    class_weights: list[float] | None = None
    label_smoothing: float = 0.0

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        weight = None
        if self.class_weights is not None:
            if len(self.class_weights) != logits.shape[-1]:
                raise ValueError(f"{len(self.class_weights)} class weights for {logits.shape[-1]} classes.")
            weight = torch.tensor(self.class_weights, dtype=torch.float32, device=logits.device)
        return nn.functional.cross_entropy(
            logits.float(), labels.view(-1), weight=weight, label_smoothing=self.label_smoothing
        )


def forward_with_loss(model: nn.Module, batch: dict[str, Any], loss: ClassificationLoss) -> tuple[torch.Tensor, Any]:
    """The model's outputs on `batch` without its `labels`, and `loss` of their logits against those labels: what
    the Trainer's `compute_loss` and the Accelerate loop both call, so the two paths train on one loss."""
    inputs = {key: value for key, value in batch.items() if key != "labels"}
    outputs = model(**inputs)
    branches = getattr(model, "branch_logits", None)  # search screen CS1: each head on its own loss
    if branches is not None and model.training:
        return sum(loss(logits, batch["labels"]) for logits in branches), outputs
    return loss(outputs.logits, batch["labels"]), outputs
