"""The Transformer head refitted after training: a logistic regression on the training clips' utterance embeddings
(scikit-learn's `LogisticRegressionCV`, C by leave-one-speaker-out cross-validation over the training speakers,
balanced accuracy), folded into `classifier.weight`/`bias`. Two uses:

- a speaker-adaptive model with `config.speaker_embedding_scale`, on embeddings standardised per speaker (search
  RH1), the refitted head then scoring alone (search RW1: the functionals head at weight 0; `speaker_shift.py`;
  the RAVDESS recipe);
- a single-clip model trained with `--refit_head`, on the embeddings as they are, beside the functionals head at
  weight 0.5 (search RG1; `refitted_test`; both recipes)."""

from __future__ import annotations

import logging

import datasets
import numpy as np
import torch
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import LeaveOneGroupOut
from sklearn.preprocessing import StandardScaler
from transformers import PreTrainedModel

from modeling_tft.modeling_tft import SPEAKER_STD_EPS

from .clip_embeddings import batches, labelled_embeddings
from .data import SpeechEmotionCollator
from .fold_job import FoldOutcome

logger = logging.getLogger(__name__)

REFIT_CS = (0.001, 0.01, 0.1, 1.0, 10.0)  # search RH1's grid of the refitted head's inverse regularisation
# the functionals head's weight beside the refitted head (RAVDESS validation actors)
SPEAKER_REFIT_FUNCTIONALS_WEIGHT = 0.0  # per-speaker standardised embeddings (search RW1)
SINGLE_CLIP_REFIT_FUNCTIONALS_WEIGHT = 0.5  # the embeddings as they are (search RG1)


def refit_transformer_head(
    model: PreTrainedModel, embeddings: np.ndarray, labels: np.ndarray, speakers: np.ndarray, per_speaker: bool = True
) -> float:
    """Replace `model.classifier` by a logistic regression on the training `embeddings`, C from `REFIT_CS`, and set
    the functionals head's weight beside it. With `per_speaker`, the embeddings are standardised over each
    speaker's own (as `speaker_shifted` maps a speaker's, its training statistics already set; searches RH1, RW1);
    without, they are taken as they are (a single-clip model; search RG1). Returns the chosen C."""
    if len(np.unique(speakers)) < 2:
        raise ValueError("Refitting the head chooses C across training speakers: it needs 2.")
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
    functionals_weight = SPEAKER_REFIT_FUNCTIONALS_WEIGHT if per_speaker else SINGLE_CLIP_REFIT_FUNCTIONALS_WEIGHT
    trained_weight, model.config.functionals_weight = model.config.functionals_weight, functionals_weight
    logger.info(
        f"Transformer head refitted on {'per-speaker standardised' if per_speaker else 'the training'} embeddings "
        f"(C = {float(fit.C_):g}); the functionals head's weight in the logits goes from {trained_weight:g} to "
        f"{functionals_weight:g} (search {'RW1' if per_speaker else 'RG1'})."
    )
    return float(fit.C_)


@torch.no_grad()
def refitted_test(
    outcome: FoldOutcome, splits: dict[str, datasets.Dataset], collator: SpeechEmotionCollator, batch_size: int
) -> FoldOutcome:
    """`outcome` with its single-clip model's Transformer head refitted on the `train` split's embeddings (search
    RG1) and its test predictions those of the refitted model; the trainer's are kept as
    `test_predictions_before_refit`."""
    model, train, test = outcome.model.eval(), splits["train"], splits["test"]
    train_embeddings, labels, speakers = labelled_embeddings(model, train, collator, batch_size)
    c = refit_transformer_head(model, train_embeddings.float().cpu().numpy(), labels, speakers, per_speaker=False)
    inputs = batches(test, np.arange(len(test)), collator, batch_size, model.device)
    predictions = torch.cat([model(**batch).logits for batch in inputs]).argmax(-1).cpu().numpy()
    return outcome.retested(test["label"], predictions, keep_as="test_predictions_before_refit", refit_c=c)
