"""One place that scores predictions with the shipped `evaluate` metric."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import evaluate
import numpy as np

METRIC_PATH = Path(__file__).with_name("ser_accuracy.py")


@cache
def ser_metric() -> evaluate.EvaluationModule:
    return evaluate.load(str(METRIC_PATH))


def score(predictions: np.ndarray, references: np.ndarray, num_labels: int) -> dict:
    """WA, UA, macro-F1 and confusion matrix of class predictions."""
    return ser_metric().compute(
        predictions=np.asarray(predictions).tolist(), references=np.asarray(references).tolist(), num_labels=num_labels
    )


def scalar_metrics(predictions: np.ndarray, references: np.ndarray, num_labels: int) -> dict[str, float]:
    """The scalar part of `score`, for loggers."""
    return {k: v for k, v in score(predictions, references, num_labels).items() if k != "confusion_matrix"}
