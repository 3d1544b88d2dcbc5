"""A trained model's utterance embeddings of a split's clips, batched by the collator of training's evaluation."""

from __future__ import annotations

from collections.abc import Iterator

import datasets
import numpy as np
import torch
from transformers import PreTrainedModel

from .data import SpeechEmotionCollator, lazy_split


def batches(split: datasets.Dataset, rows: np.ndarray, collator: SpeechEmotionCollator, size: int, device) -> Iterator:
    """The model inputs of the clips `rows` of `split`, `size` clips at a time, on `device`."""
    clips = lazy_split(split)
    for start in range(0, len(rows), size):
        batch = collator([clips[int(i)] for i in rows[start : start + size]])
        yield {key: batch[key].to(device) for key in ("input_features", "attention_mask")}


@torch.no_grad()
def embeddings(model: PreTrainedModel, split: datasets.Dataset, rows: np.ndarray, collator, batch_size: int):
    """The utterance embeddings of the clips `rows` of `split` (one per inference window of a long clip), and the
    row each comes from."""
    parts, owners = [], []
    starts = range(0, len(rows), batch_size)
    for start, batch in zip(starts, batches(split, rows, collator, batch_size, model.device), strict=True):
        parts.append(model.utterance_embeddings(**batch))
        owners.append(np.repeat(rows[start : start + batch_size], model.windows_per_clip(**batch).cpu().numpy()))
    return torch.cat(parts), np.concatenate(owners)


def labelled_embeddings(model: PreTrainedModel, split: datasets.Dataset, collator, batch_size: int):
    """The utterance embeddings of every clip of `split` (one per inference window), with the label and the speaker
    of the clip each comes from."""
    values, rows = embeddings(model, split, np.arange(len(split)), collator, batch_size)
    return values, np.asarray(split["label"])[rows], np.asarray(split["speaker"])[rows]
