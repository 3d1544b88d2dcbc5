"""
Search HW (issue 34): the weight of the functionals head's logits in the model's logits, chosen on validation
speakers. Each head trains on its own loss, so the weight changes only inference: every screen model is scored
again on its fold's validation split with `transformer + w * functionals` for each `w` of `WEIGHTS`.

Scored: each fold's last checkpoint (the last epoch, which the final protocol tests; not the checkpoint chosen on
validation UA) and, for reference only, the exported best-validation one. The collator is training's evaluation
one, per-speaker statistics included. Runs at this commit (search branch contour-statistics), whose models the
CS1/CS2 screens saved:

    python benchmarks/head_weights.py outputs/search/cs1.json outputs/search/cs1_seed43.json \
        --output benchmarks/results/search/head_weights_speaker.json

`--exported_statistics` scores a speaker-adaptive model unadapted instead: every clip standardised with the pooled
training-speaker statistics its exported feature extractor ships (the fallback when too little of a speaker's
audio is at hand).
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

import datasets  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import balanced_accuracy_score  # noqa: E402

from modeling_tft import TFTFeatureExtractor, TFTForAudioClassification  # noqa: E402
from tft_ser.training import run_train  # noqa: E402
from tft_ser.training.checkpoints import load_pretrained_strict  # noqa: E402
from tft_ser.training.data import SpeechEmotionCollator, lazy_split, load_corpus, select_folds  # noqa: E402
from tft_ser.training.data import speaker_statistics as fit_speaker_statistics  # noqa: E402
from tft_ser.training.environment import environment  # noqa: E402

WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, float("inf"))  # inf: the functionals head alone


@torch.no_grad()
def validation_logits(folder: Path, split: datasets.Dataset, collator: SpeechEmotionCollator) -> tuple:
    """Each head's logits `(clips, labels)` of one checkpoint on the validation split."""
    model = load_pretrained_strict(TFTForAudioClassification, folder).eval()
    data, transformer, functionals = lazy_split(split), [], []
    for start in range(0, len(data), 32):
        batch = collator([data[i] for i in range(start, min(start + 32, len(data)))])
        model(batch["input_features"], attention_mask=batch["attention_mask"])
        transformer.append(model.branch_logits[0])
        functionals.append(model.branch_logits[1])
    return torch.cat(transformer).numpy(), torch.cat(functionals).numpy()


def weighted_ua(transformer: np.ndarray, functionals: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    scores = {}
    for w in WEIGHTS:
        logits = functionals if w == float("inf") else transformer + w * functionals
        scores[str(w)] = float(balanced_accuracy_score(labels, logits.argmax(1)))
    return scores


def score_run(run: dict, exported_statistics: bool = False) -> dict:
    model_args, data_args, training_args = run_train.parse_arguments(shlex.split(run["command"])[2:])
    output_dir = Path(training_args.output_dir)
    dataset, _ = load_corpus(data_args, output_dir)
    folds = []
    for fold in select_folds(dataset, data_args, training_args.seed):
        fold_dir = output_dir / f"fold_{fold.index}"
        extractor, statistics = TFTFeatureExtractor.from_pretrained(fold_dir / "model"), None
        # as cross_validation: every speaker with their own statistics (unless scored unadapted)
        if model_args.normalization == "speaker" and not exported_statistics:
            extractor = copy.deepcopy(extractor)
            extractor.normalization, extractor.mean, extractor.std = "none", None, None
            splits = [fold.splits[name] for name in ("train", "validation", "test")]
            statistics = fit_speaker_statistics(datasets.concatenate_datasets(splits), extractor)
        collator = SpeechEmotionCollator(extractor, train=False, speaker_statistics=statistics)
        checkpoints = sorted((fold_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        labels = np.asarray(fold.splits["validation"]["label"])
        row = {"fold": fold.index, "validation_speakers": list(fold.validation_speakers),
               "last_checkpoint": checkpoints[-1].name}  # fmt: skip
        for name, folder in (("last", checkpoints[-1]), ("best", fold_dir / "model")):
            row[name] = weighted_ua(*validation_logits(folder, fold.splits["validation"], collator), labels)
        folds.append(row)
        print(f"seed {run['seed']} fold {fold.index}: last-epoch validation UA by weight {row['last']}", flush=True)
    mean = {
        name: {str(w): float(np.mean([f[name][str(w)] for f in folds])) for w in WEIGHTS} for name in ("last", "best")
    }
    return {"seed": run["seed"], "command": run["command"], "normalization": model_args.normalization,
            "exported_statistics": exported_statistics, "folds": folds, "mean": mean}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", type=Path, help="accuracy.py reports of screens with validation speakers")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--exported_statistics", action="store_true", help="score speaker-adaptive models unadapted")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sources = [run for path in args.reports for run in json.loads(path.read_text())["systems"]["tft"]["runs"]]
    runs = [score_run(run, args.exported_statistics) for run in sources]
    command = ["benchmarks/head_weights.py", *sys.argv[1:]]
    report = {"benchmark": "head_weights", "split": "validation", "weights": [str(w) for w in WEIGHTS],
              "decides_on": "last", "command": shlex.join(["python", *command]),
              "environment": environment(command), "runs": runs}  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    for run in runs:
        print(f"seed {run['seed']} ({run['normalization']}): mean last-epoch validation UA by weight:",
              {w: round(100 * ua, 2) for w, ua in run["mean"]["last"].items()})  # fmt: skip


if __name__ == "__main__":
    main()
