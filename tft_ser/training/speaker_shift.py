"""A model with `config.speaker_embedding_shift` (search ES1) after training: its training clips' mean utterance
embedding is recorded in it, and each test speaker's clips are scored with their embeddings shifted to that mean
(the speaker's mean over all of their clips: unlabelled audio, as the speaker-adaptive feature statistics)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
def scores_by_speaker(
    model: PreTrainedModel,
    split: datasets.Dataset,
    collator: SpeechEmotionCollator,
    batch_size: int,
    score: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
    shift: bool = True,
) -> dict[str, torch.Tensor]:
    """`score` of every batch of `split`, concatenated in the split's row order. With `shift` and a model that
    shifts its embeddings (its training mean set), each speaker's clips are scored with the model shifted to their
    own mean embedding; it is unadapted again afterwards."""
    shifted = shift and shifts_embeddings(model)
    speakers = np.asarray(split["speaker"]) if shifted else np.zeros(len(split))
    parts, order = {}, []
    try:
        for speaker in np.unique(speakers):
            rows = np.flatnonzero(speakers == speaker)
            if shifted:
                model.set_speaker_embedding_mean(embeddings(model, split, rows, collator, batch_size))
            for batch in _batches(split, rows, collator, batch_size, model.device):
                for name, value in score(batch).items():
                    parts.setdefault(name, []).append(value)
            order.append(rows)
    finally:
        if shifted:
            model.set_speaker_embedding_mean(None)
    inverse = torch.from_numpy(np.argsort(np.concatenate(order)))  # back to the split's row order
    return {name: torch.cat(values)[inverse.to(values[0].device)] for name, values in parts.items()}


@torch.no_grad()
def speaker_shifted_test(
    outcome: FoldOutcome, splits: dict[str, datasets.Dataset], collator: SpeechEmotionCollator, batch_size: int
) -> FoldOutcome:
    """`outcome` with its model's training embedding mean set (from the `train` split) and its test predictions
    those of each test speaker shifted to it; the trainer's unshifted ones are kept as `test_predictions_unshifted`."""
    model, train, test = outcome.model.eval(), splits["train"], splits["test"]
    model.set_embedding_mean(embeddings(model, train, np.arange(len(train)), collator, batch_size))
    logits = scores_by_speaker(model, test, collator, batch_size, lambda batch: {"logits": model(**batch).logits})
    predictions = logits["logits"].argmax(-1).cpu().numpy()
    references = np.asarray(test["label"])
    if not np.array_equal(references, np.asarray(outcome.test_references)):
        raise RuntimeError("The trainer's test references are not in the test split's order.")
    return replace(outcome, test_predictions=predictions, test_predictions_unshifted=outcome.test_predictions)
