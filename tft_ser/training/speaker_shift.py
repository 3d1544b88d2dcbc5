"""A model with `config.speaker_embedding_shift` (search ES1) after training: its training clips' mean utterance
embedding is recorded in it, and each test speaker's clips are scored with their embeddings shifted to that mean
(the speaker's mean over all of their clips: unlabelled audio, as the speaker-adaptive feature statistics)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import datasets
import numpy as np
import torch
from transformers import PreTrainedModel

from .data import SpeechEmotionCollator, lazy_split
from .fold_job import FoldOutcome


def shifts_embeddings(model: PreTrainedModel) -> bool:
    return bool(getattr(model.config, "speaker_embedding_shift", False))


def _batches(split: datasets.Dataset, rows: np.ndarray, collator: SpeechEmotionCollator, size: int, device) -> Iterator:
    clips = lazy_split(split)
    for start in range(0, len(rows), size):
        batch = collator([clips[int(i)] for i in rows[start : start + size]])
        yield {key: batch[key].to(device) for key in ("input_features", "attention_mask")}


@torch.no_grad()
def embeddings(model: PreTrainedModel, split: datasets.Dataset, rows: np.ndarray, collator, batch_size: int):
    """The utterance embeddings of the clips `rows` of `split` (one per inference window of a long clip)."""
    batches = _batches(split, rows, collator, batch_size, model.device)
    return torch.cat([model.utterance_embeddings(**batch) for batch in batches])


@torch.no_grad()
def speaker_shifted_test(
    outcome: FoldOutcome, splits: dict[str, datasets.Dataset], collator: SpeechEmotionCollator, batch_size: int
) -> FoldOutcome:
    """`outcome` with its model's training embedding mean set (from the `train` split) and its test predictions
    those of each test speaker shifted to it; the trainer's unshifted ones are kept as `test_predictions_unshifted`."""
    model, train, test = outcome.model.eval(), splits["train"], splits["test"]
    model.set_embedding_mean(embeddings(model, train, np.arange(len(train)), collator, batch_size))
    speakers = np.asarray(test["speaker"])
    predictions = np.empty(len(test), dtype=np.int64)
    try:
        for speaker in np.unique(speakers):
            rows = np.flatnonzero(speakers == speaker)
            model.set_speaker_embedding_mean(embeddings(model, test, rows, collator, batch_size))
            logits = [model(**batch).logits for batch in _batches(test, rows, collator, batch_size, model.device)]
            predictions[rows] = torch.cat(logits).argmax(-1).cpu().numpy()
    finally:
        model.set_speaker_embedding_mean(None)
    references = np.asarray(test["label"])
    if not np.array_equal(references, np.asarray(outcome.test_references)):
        raise RuntimeError("The trainer's test references are not in the test split's order.")
    return replace(outcome, test_predictions=predictions, test_predictions_unshifted=outcome.test_predictions)
