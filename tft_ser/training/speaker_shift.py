"""A model with `config.speaker_embedding_shift` (search ES1) after training: its training clips' mean utterance
embedding is recorded in it, and each test speaker's clips are scored with their embeddings shifted to that mean
(the speaker's mean over all of their clips: unlabelled audio, as the speaker-adaptive feature statistics). With
`config.speaker_embedding_scale` (search RH1) the embeddings are standardised per speaker as well, and the
Transformer head is refitted on the training clips' standardised embeddings before the test and then scores alone
(`head_refit.refit_transformer_head`; search RW1: the functionals head, trained beside it, gets weight 0). With
`config.speaker_head_supports` (search TA1) the Transformer head is adjusted to each speaker's clips as well (T3A)."""

from __future__ import annotations

from collections.abc import Callable

import datasets
import numpy as np
import torch
from transformers import PreTrainedModel

from tft_ser.classifier import speaker_adaptation_inputs

from .clip_embeddings import batches, labelled_embeddings
from .data import SpeechEmotionCollator
from .fold_job import FoldOutcome
from .head_refit import refit_transformer_head


def shifts_embeddings(model: PreTrainedModel) -> bool:
    return bool(getattr(model.config, "speaker_embedding_shift", False))


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
    shifts its embeddings (its training statistics set), each speaker's clips are scored with the model adapted to
    their own embeddings; it is unadapted again afterwards."""
    shifted = shift and shifts_embeddings(model)
    speakers = np.asarray(split["speaker"]) if shifted else np.zeros(len(split))
    parts, order = {}, []
    try:
        for speaker in np.unique(speakers):
            rows = np.flatnonzero(speakers == speaker)
            if shifted:
                inputs = batches(split, rows, collator, batch_size, model.device)
                model.set_speaker_embeddings(*speaker_adaptation_inputs(model, inputs))
            for batch in batches(split, rows, collator, batch_size, model.device):
                for name, value in score(batch).items():
                    parts.setdefault(name, []).append(value)
            order.append(rows)
    finally:
        if shifted:
            model.set_speaker_embeddings(None)
    inverse = torch.from_numpy(np.argsort(np.concatenate(order)))  # back to the split's row order
    return {name: torch.cat(values)[inverse.to(values[0].device)] for name, values in parts.items()}


@torch.no_grad()
def adapt_to_training_speakers(
    model: PreTrainedModel, train: datasets.Dataset, collator: SpeechEmotionCollator, batch_size: int
) -> float | None:
    """Set `model`'s training embedding statistics from the clips of `train` and, with
    `config.speaker_embedding_scale`, refit its Transformer head on them (`refit_transformer_head`; returns its C)."""
    train_embeddings, labels, speakers = labelled_embeddings(model.eval(), train, collator, batch_size)
    model.set_training_embeddings(train_embeddings, speakers.tolist())
    if model.config.speaker_embedding_scale:
        return refit_transformer_head(model, train_embeddings.float().cpu().numpy(), labels, speakers)
    return None


@torch.no_grad()
def speaker_shifted_test(
    outcome: FoldOutcome, splits: dict[str, datasets.Dataset], collator: SpeechEmotionCollator, batch_size: int
) -> FoldOutcome:
    """`outcome` with its model's training embedding statistics set (from the `train` split; with
    `config.speaker_embedding_scale`, the Transformer head refitted on them) and its test predictions those of
    each test speaker adapted to; the trainer's unadapted ones are kept as `test_predictions_unshifted`."""
    model, test = outcome.model.eval(), splits["test"]
    c = adapt_to_training_speakers(model, splits["train"], collator, batch_size)
    logits = scores_by_speaker(model, test, collator, batch_size, lambda batch: {"logits": model(**batch).logits})
    predictions = logits["logits"].argmax(-1).cpu().numpy()
    return outcome.retested(test["label"], predictions, keep_as="test_predictions_unshifted", refit_c=c)
