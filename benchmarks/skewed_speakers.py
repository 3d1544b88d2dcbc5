"""
Reliability check of speaker adaptation: a speaker whose clips are mostly one emotion. Every CASIA speaker holds 50
clips of each class and every RAVDESS actor about 7, but a real recording rarely is balanced; the per-speaker feature
statistics, the embedding shift (search ES1) and T3A (search TA1) all take a speaker's clips as they come.

For each fold of a speaker-adaptive screen (its validation speakers, at the last checkpoint), each validation speaker
and each class c, a skewed speaker is drawn: all of the speaker's clips of class c and a share `--others` of each
other class's (seeded). The whole adaptation then runs on those clips alone (the feature statistics, the embedding
shift and the head) and the same clips are scored, as `run_train.py` tests a model of the screen's config but
without T3A (`default`; a screen trained with `config.speaker_head_supports` is scored without it here), with T3A at
k supports per class (`t3a{k}`, the package's `config.speaker_head_supports`), and unadapted (`unadapted`: the
exported training-speaker statistics, no shift, as a single clip is scored). Reported per variant: UA over the
skewed speakers, the recall of their dominant class and the mean recall of the others (means over folds, speakers
and c), beside the balanced speaker's UA (all of their clips). Diagnostic only: nothing is chosen on it.

    python benchmarks/skewed_speakers.py outputs/search/sa_casia_42.json \
        --output benchmarks/results/search/skewed_speakers_casia.json
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
from head_scores import (  # noqa: E402
    evaluation_collator,
    fit_speaker_statistics,
    head_logits,
    last_checkpoint,
    load_with_heads,
    run_folds,
    screen_parser,
    screen_runs,
    write_screen_report,
)
from speaker_shift import TA1_KS, t3a_logits  # noqa: E402

from tft_ser.training.data import SpeechEmotionCollator  # noqa: E402
from tft_ser.training.scoring import score  # noqa: E402
from tft_ser.training.speaker_shift import adapt_to_training_speakers, scores_by_speaker  # noqa: E402


def skewed_rows(labels: np.ndarray, dominant: int, others: float, rng: np.random.Generator) -> np.ndarray:
    """Every row of class `dominant` and a share `others` (at least one) of each other class's rows, in row order."""
    rows = [np.flatnonzero(labels == dominant)]
    for label in np.unique(labels[labels != dominant]):
        own = np.flatnonzero(labels == label)
        rows.append(rng.choice(own, size=max(1, round(others * len(own))), replace=False))
    return np.sort(np.concatenate(rows))


def variant_scores(model, clips, extractor, exported: SpeechEmotionCollator, batch_size: int) -> dict:
    """Each variant's predictions of the one speaker's `clips`, adapted to those clips alone (`unadapted`: with the
    collator of the `exported` statistics)."""
    statistics = fit_speaker_statistics(clips, extractor)
    collator = SpeechEmotionCollator(extractor, train=False, speaker_statistics=statistics)
    scored = scores_by_speaker(model, clips, collator, batch_size, lambda batch: head_logits(model, batch, True))
    speakers = np.asarray(clips["speaker"])
    variants = {"default": scored["model"]} | {f"t3a{k}": t3a_logits(model, scored, speakers, k) for k in TA1_KS}
    plain = scores_by_speaker(model, clips, exported, batch_size, lambda batch: head_logits(model, batch), shift=False)
    variants["unadapted"] = plain["model"]
    return {name: logits.argmax(-1).numpy() for name, logits in variants.items()}


def draw_scores(predicted: np.ndarray, truth: np.ndarray, dominant: int | str, num_labels: int) -> dict:
    """UA of one draw and, for a skewed one, its dominant class's recall and the mean recall of the others."""
    scores = {"ua": float(score(predicted, truth, num_labels)["ua"])}
    if dominant != "balanced":
        recalls = {c: np.mean(predicted[truth == c] == c) for c in np.unique(truth)}
        scores["dominant_recall"] = float(recalls.pop(dominant))
        scores["others_recall"] = float(np.mean(list(recalls.values())))
    return scores


def score_run(run: dict, batch_size: int, others: float, seed: int) -> dict:
    normalization, output_dir, folds = run_folds(run)
    if normalization != "speaker":
        raise ValueError(f"{run['command']}: not speaker-adaptive.")
    rng, rows = np.random.default_rng(seed), []
    for fold in folds:
        fold_dir = output_dir / f"fold_{fold.index}"
        model = load_with_heads(last_checkpoint(fold_dir))
        model.config.speaker_head_supports = None  # `default` without T3A; T3A at each k as `t3a{k}`
        collator = evaluation_collator(fold_dir, fold, normalization)
        exported = evaluation_collator(fold_dir, fold, normalization, adapted=False)
        adapt_to_training_speakers(model, fold.splits["train"], collator, batch_size)
        validation, num_labels = fold.splits["validation"], model.config.num_labels
        speakers, labels = np.asarray(validation["speaker"]), np.asarray(validation["label"])
        for speaker in np.unique(speakers):
            own = np.flatnonzero(speakers == speaker)
            draws = {"balanced": own} | {
                int(c): own[skewed_rows(labels[own], c, others, rng)] for c in np.unique(labels[own])
            }
            for dominant, chosen in draws.items():
                clips = validation.select(chosen)
                predictions = variant_scores(model, clips, collator.feature_extractor, exported, batch_size)
                row = {"fold": fold.index, "speaker": str(speaker), "dominant": dominant, "clips": len(chosen)}
                row |= {name: draw_scores(predicted, labels[chosen], dominant, num_labels)
                        for name, predicted in predictions.items()}  # fmt: skip
                rows.append(row)
    names = [name for name in rows[0] if isinstance(rows[0][name], dict)]
    balanced = [row for row in rows if row["dominant"] == "balanced"]
    skewed = [row for row in rows if row["dominant"] != "balanced"]
    mean = {f"{name}_balanced": float(np.mean([row[name]["ua"] for row in balanced])) for name in names}
    for name in names:
        for metric in ("ua", "dominant_recall", "others_recall"):
            mean[f"{name}_skewed_{metric}"] = float(np.mean([row[name][metric] for row in skewed]))
    return {"seed": run["seed"], "command": run["command"], "draws": rows, "mean": {"last": mean}}


def main(argv: list[str] | None = None) -> dict:
    parser = screen_parser(__doc__, "accuracy.py reports of speaker-adaptive screens (validation speakers)")
    parser.add_argument("--others", type=float, default=0.1, help="share of each other class's clips kept")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws")
    arguments = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(arguments)
    if not 0 < args.others <= 1:
        parser.error("--others must be in (0, 1]")
    runs = [score_run(run, args.batch_size, args.others, args.seed) for run in screen_runs(args)]
    return write_screen_report("skewed_speakers", arguments, runs, args.output, "mean validation UA / recall",
                               split="validation", others=args.others, decides_on=None)  # fmt: skip


if __name__ == "__main__":
    main()
