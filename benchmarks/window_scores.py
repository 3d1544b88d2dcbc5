"""
Re-score a finished run's fixed-input models (the AST baseline) on whole test clips, in windows.

The AST takes a fixed input (`max_length` frames, 3 s), so cross-validation tests it on the first 3 s of each
clip, while a TFT scores every clip whole. This scores each fold's saved model (`fold_N/model`) on its whole
test clips instead, by the TFT's own rule for long inputs (`modeling_tft`'s `window_starts` and
`combine_window_logits`): windows of `max_length` frames every half window, the last one ending at the clip's
end, and the mean of the windows' softmax probabilities. A clip within one window gets exactly the input it
had in training's evaluation. The first window alone is scored too and must reproduce each fold's recorded
confusion matrix (the check that the folds, weights and features are those of the run).

    python benchmarks/window_scores.py outputs/ravdess_final/ast_seed43.json --system ast \
        --output benchmarks/results/final/ravdess_all_actors_ast_windows_seed43.json

The output is an `accuracy.py` report with one system, `<system>_windows`, that `accuracy.py --merge` pools.
"""

from __future__ import annotations

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
import torch  # noqa: E402
from accuracy import rescoring_arguments, summarise  # noqa: E402
from transformers import AutoModelForAudioClassification  # noqa: E402

from modeling_tft import TFTFeatureExtractor  # noqa: E402
from modeling_tft.modeling_tft import combine_window_logits, window_starts  # noqa: E402
from tft_ser.training import run_train  # noqa: E402
from tft_ser.training.checkpoints import load_pretrained_strict  # noqa: E402
from tft_ser.training.data import iter_clips, load_corpus, select_folds  # noqa: E402
from tft_ser.training.scoring import score  # noqa: E402

RULE = "windows of max_length frames every max_length // 2 frames (the last ends at the clip's end); mean probability"


@torch.no_grad()
def window_logits(
    model: torch.nn.Module, features: torch.Tensor, num_frames: torch.Tensor, window: int, padding_value: float
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Whole-clip and first-window logits `(batch, labels)` of a model taking `input_values` of `window` frames,
    and the number of windows scored.

    `features` `(batch, frames, mel)` hold `num_frames` real frames per clip (the rest is padding).
    """
    if features.shape[1] < window:
        features = torch.nn.functional.pad(features, (0, 0, 0, window - features.shape[1]), value=padding_value)
    starts, valid = window_starts(num_frames, window, max(1, window // 2))  # (batch, windows)
    frames = starts[..., None] + torch.arange(window)  # (batch, windows, window)
    rows = torch.arange(len(features))[:, None, None]
    logits = model(input_values=features[rows, frames][valid]).logits.float()  # (windows of the batch, labels)
    per_clip = logits.new_zeros(*valid.shape, logits.shape[-1]).index_put(valid.nonzero(as_tuple=True), logits)
    # the first window in a batch of its own: the very forward pass of training's evaluation (same batch shape)
    first_window = model(input_values=features[:, :window]).logits.float()
    return combine_window_logits(per_clip, valid.float()), first_window, int(valid.sum())


def score_fold(fold_dir: Path, test, batch_size: int) -> dict:
    """Windowed and first-window scores of one fold's saved model on its test split."""
    model = load_pretrained_strict(AutoModelForAudioClassification, fold_dir / "model").eval()
    extractor = TFTFeatureExtractor.from_pretrained(fold_dir / "model")
    window = extractor.max_length
    if window is None:
        raise ValueError(f"{fold_dir}: the model already scores whole clips (its feature extractor keeps them).")
    extractor.max_length = None  # whole clips; the windows are cut from their features
    labels = np.asarray(test["label"])
    clips = iter_clips(test)
    whole, first, windows = [], [], 0
    for start in range(0, len(labels), batch_size):
        batch = [next(clips) for _ in range(min(batch_size, len(labels) - start))]
        features = extractor(batch, sampling_rate=extractor.sampling_rate, padding="longest", return_tensors="pt")
        num_frames = features["attention_mask"].sum(1)
        combined, first_window, count = window_logits(
            model, features["input_features"], num_frames, window, extractor.padding_value
        )
        whole.append(combined.argmax(-1))
        first.append(first_window.argmax(-1))
        windows += count
    num_labels = model.config.num_labels
    return {
        "whole": score(torch.cat(whole).numpy(), labels, num_labels),
        "first_window": score(torch.cat(first).numpy(), labels, num_labels),
        "window_frames": window,
        "num_windows": windows,
    }


def rescore_run(run: dict, batch_size: int) -> dict:
    """A copy of an `accuracy.py` run entry with each fold's test scores from whole clips in windows."""
    arguments = shlex.split(run["command"])[2:]  # after `python run_train.py`
    model_args, data_args, training_args = run_train.parse_arguments(arguments)
    if model_args.normalization == "speaker":
        raise ValueError("Speaker normalisation is applied by the training collator; this scores global/utterance.")
    output_dir = Path(training_args.output_dir)
    results = json.loads((output_dir / "results.json").read_text())
    dataset, _ = load_corpus(data_args, output_dir)
    folds = {fold.index: fold for fold in select_folds(dataset, data_args, training_args.seed)}
    rescored = copy.deepcopy(run)
    for entry, recorded in zip(rescored["folds"], results["folds"], strict=True):
        fold = folds[entry["fold"]]
        scores = score_fold(output_dir / f"fold_{fold.index}", fold.splits["test"], batch_size)
        if scores["first_window"]["confusion_matrix"] != recorded["test"]["confusion_matrix"]:
            raise ValueError(
                f"Fold {fold.index}: the first-window scores do not reproduce the run's recorded test confusion "
                f"matrix ({scores['first_window']['confusion_matrix']} vs {recorded['test']['confusion_matrix']})."
            )
        entry.update(
            wa=float(scores["whole"]["wa"]),
            ua=float(scores["whole"]["ua"]),
            first_window_wa=float(scores["first_window"]["wa"]),
            first_window_ua=float(scores["first_window"]["ua"]),
            num_windows=scores["num_windows"],
            window_frames=scores["window_frames"],
        )
    rescored["mean"] = {m: float(np.mean([f[m] for f in rescored["folds"]])) for m in ("wa", "ua")}
    rescored["scoring"] = RULE
    return rescored


def main(argv: list[str] | None = None) -> dict:
    args, arguments, source = rescoring_arguments(__doc__, "ast", argv)
    runs = [rescore_run(run, args.batch_size) for run in source["systems"][args.system]["runs"]]
    report = {key: source[key] for key in ("benchmark", "corpus", "recipe", "protocol", "environment")}
    report["command"] = shlex.join(["python", "benchmarks/window_scores.py", *arguments])
    report["systems"] = {f"{args.system}_windows": summarise(runs)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    for run in runs:
        first = np.mean([f["first_window_ua"] for f in run["folds"]])
        print(f"seed {run['seed']}: UA whole clips {100 * run['mean']['ua']:.2f} %, first window {100 * first:.2f} %")
    print(f"report: {args.output}")
    return report


if __name__ == "__main__":
    main()
