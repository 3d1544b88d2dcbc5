"""A model with `config.speaker_embedding_shift` (search ES1) after training: its training clips' mean utterance
embedding is recorded in it, and each test speaker's clips are scored with their embeddings shifted to that mean
(the speaker's mean over all of their clips: unlabelled audio, as the speaker-adaptive feature statistics). With
`config.speaker_embedding_scale` (search RH1) the embeddings are standardised per speaker as well, and the
Transformer head is refitted on the training clips' standardised embeddings before the test and then scores alone
(search RW1: the functionals head, trained beside it, gets weight 0)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import replace

import datasets
import numpy as np
import torch
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import LeaveOneGroupOut
from sklearn.preprocessing import StandardScaler
from transformers import PreTrainedModel

from modeling_tft.modeling_tft import SPEAKER_STD_EPS

from .data import SpeechEmotionCollator, lazy_split
from .fold_job import FoldOutcome

logger = logging.getLogger(__name__)

REFIT_CS = (0.001, 0.01, 0.1, 1.0, 10.0)  # search RH1's grid of the refitted head's inverse regularisation
REFITTED_FUNCTIONALS_WEIGHT = 0.0  # the functionals head's weight beside the refitted head (search RW1, RAVDESS)


def shifts_embeddings(model: PreTrainedModel) -> bool:
    return bool(getattr(model.config, "speaker_embedding_shift", False))


def _batches(split: datasets.Dataset, rows: np.ndarray, collator: SpeechEmotionCollator, size: int, device) -> Iterator:
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
    for start, batch in zip(starts, _batches(split, rows, collator, batch_size, model.device), strict=True):
        parts.append(model.utterance_embeddings(**batch))
        owners.append(np.repeat(rows[start : start + batch_size], model.windows_per_clip(**batch).cpu().numpy()))
    return torch.cat(parts), np.concatenate(owners)


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
                model.set_speaker_embeddings(embeddings(model, split, rows, collator, batch_size)[0])
            for batch in _batches(split, rows, collator, batch_size, model.device):
                for name, value in score(batch).items():
                    parts.setdefault(name, []).append(value)
            order.append(rows)
    finally:
        if shifted:
            model.set_speaker_embeddings(None)
    inverse = torch.from_numpy(np.argsort(np.concatenate(order)))  # back to the split's row order
    return {name: torch.cat(values)[inverse.to(values[0].device)] for name, values in parts.items()}


def refit_transformer_head(
    model: PreTrainedModel, embeddings: np.ndarray, labels: np.ndarray, speakers: np.ndarray, per_speaker: bool = True
):
    """Replace `model.classifier` by a logistic regression on the training `embeddings` standardised over each
    speaker's own (as `speaker_shifted` maps a speaker's, its training statistics already set), with C from
    `REFIT_CS` by leave-one-speaker-out cross-validation on them (balanced accuracy, i.e. UA; search RH1), and
    make it the model's only head in the logits (`config.functionals_weight` = `REFITTED_FUNCTIONALS_WEIGHT`, search
    RW1). Without `per_speaker`, on the embeddings as they are (a single-clip model; search RG1's screen)."""
    if len(np.unique(speakers)) < 2:
        raise ValueError("Refitting the head (speaker_embedding_scale) chooses C across training speakers: it needs 2.")
    standardised = embeddings.astype(np.float64)
    for speaker in np.unique(speakers) if per_speaker else ():
        own = embeddings[speakers == speaker]
        standardised[speakers == speaker] = (own - own.mean(0)) / (own.std(0) + SPEAKER_STD_EPS)
    scaler = StandardScaler().fit(standardised)
    splits = list(LeaveOneGroupOut().split(standardised, labels, speakers))
    fit = LogisticRegressionCV(
        Cs=REFIT_CS,
        cv=splits,
        scoring="balanced_accuracy",
        max_iter=2000,
        l1_ratios=(0.0,),
        use_legacy_attributes=False,
    ).fit(scaler.transform(standardised), labels)
    if not np.array_equal(fit.classes_, np.arange(model.config.num_labels)):
        raise ValueError(f"The training clips hold labels {fit.classes_.tolist()}, not all {model.config.num_labels}.")
    # the head sees mean + std * standardised (`speaker_shifted`): fold that map and the scaler into its weights
    mean, std = np.zeros(embeddings.shape[1]), np.ones(embeddings.shape[1])
    if per_speaker:
        mean, std = (model.get_buffer(name).double().cpu().numpy() for name in ("embedding_mean", "embedding_std"))
    weight = fit.coef_ / (scaler.scale_ * std)
    bias = fit.intercept_ - weight @ mean - fit.coef_ @ (scaler.mean_ / scaler.scale_)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(weight))
        model.classifier.bias.copy_(torch.from_numpy(bias))
    trained_weight, model.config.functionals_weight = model.config.functionals_weight, REFITTED_FUNCTIONALS_WEIGHT
    logger.info(
        f"Transformer head refitted on {'per-speaker standardised' if per_speaker else 'the training'} embeddings "
        f"(C = {float(fit.C_):g}); the functionals "
        f"head's weight in the logits goes from {trained_weight:g} to {REFITTED_FUNCTIONALS_WEIGHT:g} (search RW1)."
    )


@torch.no_grad()
def adapt_to_training_speakers(
    model: PreTrainedModel, train: datasets.Dataset, collator: SpeechEmotionCollator, batch_size: int
) -> None:
    """Set `model`'s training embedding statistics from the clips of `train` and, with
    `config.speaker_embedding_scale`, refit its Transformer head on them (`refit_transformer_head`)."""
    train_embeddings, rows = embeddings(model.eval(), train, np.arange(len(train)), collator, batch_size)
    speakers = np.asarray(train["speaker"])[rows]
    model.set_training_embeddings(train_embeddings, speakers.tolist())
    if model.config.speaker_embedding_scale:
        labels = np.asarray(train["label"])[rows]
        refit_transformer_head(model, train_embeddings.float().cpu().numpy(), labels, speakers)


@torch.no_grad()
def speaker_shifted_test(
    outcome: FoldOutcome, splits: dict[str, datasets.Dataset], collator: SpeechEmotionCollator, batch_size: int
) -> FoldOutcome:
    """`outcome` with its model's training embedding statistics set (from the `train` split; with
    `config.speaker_embedding_scale`, the Transformer head refitted on them) and its test predictions those of
    each test speaker adapted to; the trainer's unadapted ones are kept as `test_predictions_unshifted`."""
    model, test = outcome.model.eval(), splits["test"]
    adapt_to_training_speakers(model, splits["train"], collator, batch_size)
    logits = scores_by_speaker(model, test, collator, batch_size, lambda batch: {"logits": model(**batch).logits})
    predictions = logits["logits"].argmax(-1).cpu().numpy()
    references = np.asarray(test["label"])
    if not np.array_equal(references, np.asarray(outcome.test_references)):
        raise RuntimeError("The trainer's test references are not in the test split's order.")
    return replace(outcome, test_predictions=predictions, test_predictions_unshifted=outcome.test_predictions)
