"""
Search RG1 on validation speakers: the Transformer head of a single-clip TFT (any normalisation but `speaker`)
refitted after training, as RH1 refits a speaker-adaptive one, scored with a screen's saved models, nothing trained.
The head is replaced by a logistic regression on the training clips' utterance embeddings as they are (the
package's `refit_transformer_head` without per-speaker standardisation: C from `REFIT_CS` by leave-one-speaker-out
cross-validation on the training speakers, balanced accuracy). Each fold's last checkpoint (the last epoch, which
the final protocol tests) is scored on the fold's validation split with the collator of training's evaluation:

- `transformer`, `functionals`, `model`: the heads and the model as trained (the model at its own weight), which
  must reproduce the run's recorded last-epoch validation UA;
- `refit_weight{w}`: the refitted Transformer head with the functionals head at weight w of `RG1_WEIGHTS` (each fold
  records the C the refit chose).

Searches RC1 (the refit's C grid extended to 1e-5, at commit eca6ad5), RG2 (both heads refitted together, at
43bea6d) and RC2 (C chosen by the log loss, or fixed, at 4da30b2) were scored here and rejected.

    python benchmarks/head_refit.py outputs/search/rg1_s49.json --output benchmarks/results/search/rg1_ravdess.json
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
from head_scores import (  # noqa: E402
    evaluation_collator,
    last_checkpoint,
    load_with_heads,
    run_folds,
    screen_parser,
    screen_runs,
    write_screen_report,
)
from speaker_shift import split_outputs  # noqa: E402

from tft_ser.training.head_refit import refit_transformer_head  # noqa: E402
from tft_ser.training.scoring import score  # noqa: E402

RG1_WEIGHTS = (0.0, 0.5, 1.0, 2.0)  # search RG1: the functionals head's weight beside the refitted head


def fold_scores(model, collator, fold, batch_size: int) -> tuple[dict[str, float], float]:
    """Validation UA of each variant of the module docstring for one fold's scored checkpoint, and the C of the
    refitted Transformer head."""
    train, held_out = (split_outputs(model, collator, fold.splits[s], batch_size) for s in ("train", "validation"))

    def ua(logits: np.ndarray) -> float:
        return float(score(logits.argmax(-1), held_out["label"], model.config.num_labels)["ua"])

    scores = {
        "transformer": ua(held_out["transformer"]),
        "functionals": ua(held_out["functionals"]),
        "model": ua(held_out["transformer"] + model.config.functionals_weight * held_out["functionals"]),
    }
    refitted = copy.deepcopy(model)
    chosen = refit_transformer_head(refitted, train["embedding"], train["label"], train["speaker"], per_speaker=False)
    weight, bias = (p.detach().double().numpy() for p in (refitted.classifier.weight, refitted.classifier.bias))
    transformer_refit = held_out["embedding"].astype(np.float64) @ weight.T + bias
    for w in RG1_WEIGHTS:
        scores[f"refit_weight{w:g}"] = ua(transformer_refit + w * held_out["functionals"])
    return scores, chosen


def score_run(run: dict, batch_size: int) -> dict:
    """Per fold and on average, each variant's validation UA at the last checkpoint of one screen run."""
    normalization, output_dir, cv_folds = run_folds(run)
    if normalization == "speaker":
        raise ValueError(f"{run['command']}: speaker-adaptive; its refit (RH1) is scored by speaker_shift.py.")
    recorded = {fold["fold"]: fold for fold in run["folds"]}
    folds = []
    for fold in cv_folds:
        if not len(fold.splits["validation"]):
            raise ValueError(f"{run['command']}: fold {fold.index} has no validation speakers.")
        fold_dir = output_dir / f"fold_{fold.index}"
        last = last_checkpoint(fold_dir)
        model = load_with_heads(last)
        scores, chosen = fold_scores(model, evaluation_collator(fold_dir, fold, normalization), fold, batch_size)
        if not np.isclose(scores["model"], recorded[fold.index]["validation_ua_by_epoch"][-1]):
            raise ValueError(f"Fold {fold.index}: the last checkpoint does not reproduce its recorded validation UA.")
        folds.append({"fold": fold.index, "validation_speakers": list(fold.validation_speakers),
                      "scored": last.name, "last": scores, "chosen_c": chosen})  # fmt: skip
    mean = {name: float(np.mean([fold["last"][name] for fold in folds])) for name in folds[0]["last"]}
    return {"seed": run["seed"], "command": run["command"], "folds": folds, "mean": {"last": mean}}


def main(argv: list[str] | None = None) -> dict:
    parser = screen_parser(__doc__, "accuracy.py reports of single-clip screen runs (with validation speakers)")
    arguments = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(arguments)
    runs = [score_run(run, args.batch_size) for run in screen_runs(args)]
    report = write_screen_report("head_refit", arguments, runs, args.output, "mean validation UA",
                                 split="validation", decides_on="refit_weight* against model")  # fmt: skip
    return report


if __name__ == "__main__":
    main()
