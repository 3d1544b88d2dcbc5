"""
Each head of a finished TFT run scored alone on its test speakers: the Transformer head (on the utterance
embedding), the functionals head (on the contours' functionals) and the model, which combines them
(`TFTForAudioClassification.combine_heads`, with the run's `config.functionals_weight`).

The model must reproduce each fold's recorded test confusion matrix (the check that the folds, weights and features
are those of the run: the same collator as training's evaluation, per-speaker statistics included). For reading a
final figure, never for choosing anything.

    python benchmarks/head_scores.py outputs/final_fh_speaker/casia_seed42.json \
        --output benchmarks/results/final/casia_heads_speaker_seed42.json
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
from accuracy import rescoring_arguments  # noqa: E402

from modeling_tft import TFTFeatureExtractor, TFTForAudioClassification  # noqa: E402
from tft_ser.training import run_train  # noqa: E402
from tft_ser.training.checkpoints import load_pretrained_strict  # noqa: E402
from tft_ser.training.data import SpeechEmotionCollator, load_corpus, select_folds  # noqa: E402
from tft_ser.training.data import speaker_statistics as fit_speaker_statistics  # noqa: E402
from tft_ser.training.environment import environment  # noqa: E402
from tft_ser.training.scoring import score  # noqa: E402
from tft_ser.training.speaker_shift import scores_by_speaker  # noqa: E402

HEADS = ("transformer", "functionals", "model")


@torch.no_grad()
def head_logits(
    model: TFTForAudioClassification, batch: dict[str, torch.Tensor], embeddings: bool = False
) -> dict[str, torch.Tensor]:
    """Each head's logits `(batch, labels)` and the model's, which combine them, from one backbone pass; with
    `embeddings`, also the utterance embeddings (`embedding`) and the functionals head's inputs (`functionals_input`,
    `functionals_inputs`)."""
    features, mask = batch["input_features"], batch["attention_mask"]
    pooled = model.tft(features, attention_mask=mask).pooler_output
    # the two heads as `model.head_logits` computes them, keeping the functionals head's inputs
    inputs = model.functionals.standardised(features[..., model.config.num_mel_bins :], mask.bool())
    transformer = model.transformer_logits(pooled)
    functionals = model.functionals_logits(inputs).to(transformer.dtype)
    logits = {
        "transformer": transformer,
        "functionals": functionals,
        "model": model.combine_heads((transformer, functionals)),
    }
    return logits | {"embedding": pooled, "functionals_input": inputs} if embeddings else logits


def evaluation_collator(fold_dir: Path, fold, normalization: str, adapted: bool = True) -> SpeechEmotionCollator:
    """The collator of training's evaluation for a fold's saved model (`fold_dir / "model"`): with speaker
    normalisation, every speaker of the fold standardised with their own statistics (unless not `adapted`: then the
    pooled training-speaker statistics the model was exported with, as for any other normalisation)."""
    extractor = TFTFeatureExtractor.from_pretrained(fold_dir / "model")
    statistics = None
    if normalization == "speaker" and adapted:  # as cross_validation
        extractor = copy.deepcopy(extractor)
        extractor.normalization, extractor.mean, extractor.std = "none", None, None
        splits = [fold.splits[name] for name in ("train", "validation", "test")]
        statistics = fit_speaker_statistics(datasets.concatenate_datasets(splits), extractor)
    return SpeechEmotionCollator(extractor, train=False, speaker_statistics=statistics)


def load_with_heads(folder: Path) -> TFTForAudioClassification:
    """A saved TFT classifier (strictly loaded, in eval mode) that has the functionals head."""
    model = load_pretrained_strict(TFTForAudioClassification, folder).eval()
    if model.functionals is None:
        raise ValueError(f"{folder}: the model has no functionals head (config.functionals_head is False).")
    return model


def last_checkpoint(fold_dir: Path) -> Path:
    """The fold's last saved checkpoint (the last epoch's, which the final protocol tests)."""
    checkpoints = sorted((fold_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    if not checkpoints:
        raise ValueError(f"{fold_dir}: no saved checkpoint (the last epoch's is scored).")
    return checkpoints[-1]


def split_head_logits(
    model: TFTForAudioClassification,
    collator: SpeechEmotionCollator,
    split: datasets.Dataset,
    batch_size: int,
    shift: bool = False,
) -> dict[str, torch.Tensor]:
    """`head_logits` of every clip of `split`, in its row order: `{head: (clips, labels)}`. With `shift` and a model
    with `config.speaker_embedding_shift` (a fold's saved model: its training embedding mean is set), each
    speaker's clips are scored shifted from their own mean embedding, as training tests them."""
    return scores_by_speaker(model, split, collator, batch_size, lambda batch: head_logits(model, batch), shift)


def score_fold(
    fold_dir: Path, fold, normalization: str, batch_size: int, functionals_weight: float | None = None
) -> dict:
    """Each head's scores on the fold's test split, with the collator of training's evaluation; with
    `functionals_weight`, the model's are those of the model with that weight instead of its own (`reweighted`),
    and its own are `model`."""
    model = load_with_heads(fold_dir / "model")
    collator = evaluation_collator(fold_dir, fold, normalization)
    logits = split_head_logits(model, collator, fold.splits["test"], batch_size, shift=True)
    if functionals_weight is not None:  # the model's own rule with another weight (this fold's model only)
        model.config.functionals_weight = functionals_weight
        logits["reweighted"] = model.combine_heads((logits["transformer"], logits["functionals"]))
    labels = np.asarray(fold.splits["test"]["label"])
    num_labels = model.config.num_labels
    return {head: score(head_logit.argmax(-1).numpy(), labels, num_labels) for head, head_logit in logits.items()}


def screen_parser(description: str, reports_help: str) -> argparse.ArgumentParser:
    """The command line shared by the scripts that re-score the saved models of several reports' runs
    (`head_weights.py`, `speaker_shift.py`); `screen_runs` reads the runs it selects."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", type=Path, help=reports_help)
    parser.add_argument("--system", default="tft", help="the reports' system to score")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--batch_size", type=int, default=32, help="clips per forward pass")
    return parser


def screen_runs(args: argparse.Namespace) -> list[dict]:
    return [run for path in args.reports for run in json.loads(path.read_text())["systems"][args.system]["runs"]]


def write_screen_report(script: str, arguments: list, runs: list[dict], output: Path, label: str, **fields) -> dict:
    """The report of a screen script's `runs` (`fields`, then its command and environment), written to `output`; each
    run's mean figures at the last checkpoint are printed as `label`."""
    command = [f"benchmarks/{script}.py", *arguments]
    report = {"benchmark": script, **fields, "command": shlex.join(["python", *command]),
              "environment": environment(command), "runs": runs}  # fmt: skip
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=1))
    for run in runs:
        figures = {name: round(100 * ua, 2) for name, ua in run["mean"]["last"].items()}
        print(f"seed {run['seed']}: {label}: {figures}")
    print(f"report: {output}")
    return report


def run_folds(run: dict) -> tuple[str, Path, list]:
    """A finished TFT run entry's normalisation, output folder (its saved fold models) and folds, as its
    `run_train.py` command made them."""
    model_args, data_args, training_args = run_train.parse_arguments(shlex.split(run["command"])[2:])
    if model_args.model_type != "tft":
        raise ValueError(f"{run['command']}: a {model_args.model_type} run; only a TFT has these heads.")
    output_dir = Path(training_args.output_dir)
    dataset, _ = load_corpus(data_args, output_dir)
    return model_args.normalization, output_dir, select_folds(dataset, data_args, training_args.seed)


def score_run(run: dict, batch_size: int, functionals_weight: float | None = None) -> dict:
    """Per fold and on average, each head's test WA/UA of one `accuracy.py` run entry (with `functionals_weight`,
    also the model's with that weight: `reweighted_wa`, `reweighted_ua`)."""
    normalization, output_dir, folds = run_folds(run)
    recorded = {fold["fold"]: fold for fold in json.loads((output_dir / "results.json").read_text())["folds"]}
    rows = []
    for fold in folds:
        fold_dir = output_dir / f"fold_{fold.index}"
        scores = score_fold(fold_dir, fold, normalization, batch_size, functionals_weight)
        if scores["model"]["confusion_matrix"] != recorded[fold.index]["test"]["confusion_matrix"]:
            raise ValueError(
                f"Fold {fold.index}: the model's logits do not reproduce the run's recorded test confusion matrix "
                f"({scores['model']['confusion_matrix']} vs {recorded[fold.index]['test']['confusion_matrix']})."
            )
        rows.append({"fold": fold.index, "test_speakers": list(fold.test_speakers),
                     **{f"{head}_{m}": float(scores[head][m]) for head in scores for m in ("wa", "ua")}})  # fmt: skip
    mean = {key: float(np.mean([row[key] for row in rows])) for key in rows[0] if key.endswith(("_wa", "_ua"))}
    return {"seed": run["seed"], "command": run["command"], "folds": rows, "mean": mean}


def main(argv: list[str] | None = None) -> dict:
    args, arguments, source = rescoring_arguments(__doc__, "tft", argv)
    runs = [score_run(run, args.batch_size) for run in source["systems"][args.system]["runs"]]
    command = ["benchmarks/head_scores.py", *arguments]
    report = {"benchmark": "head_scores", "corpus": source["corpus"], "protocol": source["protocol"],
              "command": shlex.join(["python", *command]), "environment": environment(command),
              "runs": runs}  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    for run in runs:
        figures = ", ".join(f"{head} {100 * run['mean'][f'{head}_ua']:.2f}" for head in HEADS)
        print(f"seed {run['seed']}: test UA by head: {figures} %")
    print(f"report: {args.output}")
    return report


if __name__ == "__main__":
    main()
