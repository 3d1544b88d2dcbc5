"""`evaluate` metric for speech emotion recognition: WA, UA, macro-F1 and the confusion matrix.

Load it offline with `evaluate.load("training/ser_accuracy.py")`. WA (weighted accuracy) is plain accuracy;
UA (unweighted accuracy) is the mean of per-class recalls over the classes present in the references.
"""

import datasets
import evaluate
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

_DESCRIPTION = "WA (accuracy), UA (mean per-class recall), macro-F1 and confusion matrix for emotion recognition."
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[int]`): predicted class indices.
    references (`list[int]`): true class indices.
    num_labels (`int`, optional): number of classes, so that the confusion matrix is num_labels x num_labels.
Returns:
    wa, ua, macro_f1 (floats in [0, 1]) and confusion_matrix (rows: true class, columns: predicted class).
"""


class SerAccuracy(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, num_labels=None):
        labels = list(range(num_labels)) if num_labels else sorted(set(references) | set(predictions))
        present = sorted(set(references))
        return {
            "wa": float(accuracy_score(references, predictions)),
            "ua": float(recall_score(references, predictions, labels=present, average="macro", zero_division=0)),
            "macro_f1": float(f1_score(references, predictions, labels=labels, average="macro", zero_division=0)),
            "confusion_matrix": confusion_matrix(references, predictions, labels=labels).tolist(),
        }
