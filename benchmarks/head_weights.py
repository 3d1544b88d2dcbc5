"""
How to weigh the two heads of a TFT (`TFTConfig.functionals_weight`), on validation speakers: each fold's saved
models of a screen (a run that held out validation speakers) are scored on the fold's validation split with
`transformer + w * functionals` for every `w` of `WEIGHTS` (`inf`: the functionals head alone). Each head trains
on its own loss, so the weight acts at inference only and the screen's models serve every weight.

Scored: each fold's last checkpoint (the last epoch, which the final protocol tests), which decides, and for
reference the exported one chosen on validation UA. The collator is training's evaluation one
(`head_scores.evaluation_collator`); `--exported_statistics` scores a speaker-adaptive model unadapted.

    python benchmarks/head_weights.py outputs/rav_hw.json \
        --output benchmarks/results/search/ravdess_head_weights_speaker.json

Each report run is scored as one run: a seed trained in parts (`--folds`) is first collected into one report by
an `accuracy.py` run without `--folds` over the same output folder (it reuses the finished folds).

Search entries HW0-HW4 (`docs/SEARCH.md`) were scored by this script's first version, at commit e59b12e.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from head_scores import (  # noqa: E402
    evaluation_collator,
    last_checkpoint,
    load_with_heads,
    run_folds,
    screen_parser,
    screen_runs,
    split_head_logits,
    write_screen_report,
)

from modeling_tft import TFTForAudioClassification  # noqa: E402
from tft_ser.training.scoring import score  # noqa: E402

WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, float("inf"))


def weighted_ua(model: TFTForAudioClassification, logits: dict[str, torch.Tensor], labels: np.ndarray) -> dict:
    """Validation UA of the model's logits (`combine_heads`) with each weight of `WEIGHTS`, from its heads'."""
    scores = {}
    for w in WEIGHTS:
        if w == float("inf"):  # not a weight the config takes: the functionals head alone
            combined = logits["functionals"]
        else:
            model.config.functionals_weight = w
            combined = model.combine_heads((logits["transformer"], logits["functionals"]))
        scores[str(w)] = float(score(combined.argmax(-1).numpy(), labels, model.config.num_labels)["ua"])
    return scores


def score_run(run: dict, batch_size: int, exported_statistics: bool = False) -> dict:
    """Per fold and on average, the validation UA of each weight, at the last and at the exported checkpoint."""
    normalization, output_dir, cv_folds = run_folds(run)
    folds = []
    for fold in cv_folds:
        if not len(fold.splits["validation"]):
            raise ValueError(f"{run['command']}: fold {fold.index} has no validation speakers to choose on.")
        fold_dir = output_dir / f"fold_{fold.index}"
        collator = evaluation_collator(fold_dir, fold, normalization, adapted=not exported_statistics)
        last = last_checkpoint(fold_dir)
        labels = np.asarray(fold.splits["validation"]["label"])
        row = {"fold": fold.index, "validation_speakers": list(fold.validation_speakers),
               "last_checkpoint": last.name}  # fmt: skip
        for name, folder in (("last", last), ("best", fold_dir / "model")):
            model = load_with_heads(folder)
            logits = split_head_logits(model, collator, fold.splits["validation"], batch_size)
            row[name] = weighted_ua(model, logits, labels)
        folds.append(row)
    mean = {
        name: {str(w): float(np.mean([fold[name][str(w)] for fold in folds])) for w in WEIGHTS}
        for name in ("last", "best")
    }
    return {"seed": run["seed"], "command": run["command"], "normalization": normalization,
            "exported_statistics": exported_statistics, "folds": folds, "mean": mean}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = screen_parser(__doc__, "accuracy.py reports of runs with validation speakers")
    parser.add_argument("--exported_statistics", action="store_true", help="score speaker-adaptive models unadapted")
    arguments = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(arguments)
    runs = [score_run(run, args.batch_size, args.exported_statistics) for run in screen_runs(args)]
    label, weights = "mean last-epoch validation UA by weight", [str(w) for w in WEIGHTS]
    return write_screen_report("head_weights", arguments, runs, args.output, label,
                               split="validation", weights=weights, decides_on="last")  # fmt: skip


if __name__ == "__main__":
    main()
