"""
Re-score a finished TFT run with another weight of its functionals head (`TFTConfig.functionals_weight`).

The weight only combines the two heads' logits at inference (each head trains on its own loss), so a run trained
with one weight gives, re-scored, exactly what the same run with another would have given. Each fold's saved model
is scored on its test split with the collator of training's evaluation (per-speaker statistics included); its own
weight must reproduce the recorded confusion matrix first (`head_scores.py`).

    python benchmarks/reweight_heads.py outputs/final_fh_speaker/casia_seed42.json --functionals_weight 8 \
        --output benchmarks/results/final/casia_tft_functionals_speaker_weight8_seed42.json

The output is an `accuracy.py` report with the one system, each fold's scores those of the new weight (its
recorded ones kept as `recorded_wa`/`recorded_ua`), that `accuracy.py --merge` pools.
"""

from __future__ import annotations

import argparse
import copy
import json
import shlex
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
from accuracy import rescoring_arguments, summarise  # noqa: E402
from head_scores import score_run  # noqa: E402

from modeling_tft import TFTConfig  # noqa: E402


def add_weight(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--functionals_weight", type=float, required=True, help="the weight to score the runs with")


def rescore_run(run: dict, functionals_weight: float, batch_size: int) -> dict:
    """A copy of an `accuracy.py` run entry with each fold's test scores under `functionals_weight`."""
    heads = score_run(run, batch_size, functionals_weight)  # raises unless the run's own weight reproduces it
    rescored = copy.deepcopy(run)
    for entry, row in zip(rescored["folds"], heads["folds"], strict=True):
        entry.update(recorded_wa=entry["wa"], recorded_ua=entry["ua"], wa=row["reweighted_wa"], ua=row["reweighted_ua"])
    rescored["mean"] = {m: float(np.mean([f[m] for f in rescored["folds"]])) for m in ("wa", "ua")}
    rescored["functionals_weight"] = functionals_weight
    return rescored


def main(argv: list[str] | None = None) -> dict:
    args, arguments, source = rescoring_arguments(__doc__, "tft", argv, add_weight)
    TFTConfig(functionals_weight=args.functionals_weight)  # the config's own check of the value
    runs = [
        rescore_run(run, args.functionals_weight, args.batch_size) for run in source["systems"][args.system]["runs"]
    ]
    report = {key: source[key] for key in ("benchmark", "corpus", "recipe", "protocol", "environment")}
    report["command"] = shlex.join(["python", "benchmarks/reweight_heads.py", *arguments])
    report["systems"] = {args.system: summarise(runs)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    for run in runs:
        recorded = np.mean([f["recorded_ua"] for f in run["folds"]])
        print(f"seed {run['seed']}: UA {100 * run['mean']['ua']:.2f} % with functionals_weight "
              f"{args.functionals_weight:g} (recorded: {100 * recorded:.2f} %)")  # fmt: skip
    print(f"report: {args.output}")
    return report


if __name__ == "__main__":
    main()
