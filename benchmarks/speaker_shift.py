"""
Search ES1 on validation speakers: a speaker shift of the utterance embedding (in the spirit of AdaBN, Li et al.
2016), scored with a speaker-adaptive screen's saved models, nothing trained. Each validation speaker's mean
utterance embedding (over their unlabelled clips) is moved to the mean over the training clips before the
Transformer head: `pooled - speaker_mean + training_mean`. Each fold's last checkpoint (the last epoch, which the
final protocol tests) is scored on the fold's validation split with the collator of training's evaluation:

- `transformer`, `functionals`, `model`: the heads and the model as trained (the model at its own weight);
- `transformer_shifted`, `model_shifted`: the same with the shifted embedding (ES1);
- `default`: the model as `run_train.py` tests one of its config (`tft_ser.training.speaker_shift`: ES1's shift, and
  with `config.speaker_embedding_scale`, the RAVDESS recipe's, the embeddings standardised per speaker under a head
  refitted on the training clips, search RH1, which then scores alone, search RW1); it decides. For a model without
  the scale it equals `model_shifted`; each fold's `default_refit_c` is the C of that refitted head (null without
  the scale);
- `default_weight{w}` (search RW1): `default` with the functionals head at weight w of `RW1_WEIGHTS` instead of the
  adapted model's own;
- `default_t3a{k}` (searches TA1, TA2): `default` with both heads adjusted to each speaker by T3A (Iwasawa &
  Matsuo, NeurIPS 2021), the package's `config.speaker_head_supports` at k of `TA1_KS` (`t3a_logits`); for a model
  tested with it, `default` equals `default_t3a{k}` at its own k;
- `refit`, `refit_centred`, `refit_standardised` (diagnostics, not candidates): a logistic regression refitted on
  the training clips' embeddings, as they are, centred per speaker, or standardised per speaker.

    python benchmarks/speaker_shift.py outputs/search/ad0.json \
        --output benchmarks/results/search/speaker_shift_casia.json

Searches ES2 (each speaker's embeddings standardised, not only shifted) and ES3 (the head weight after the shift),
both rejected, were scored by this script at commit 56c9cf0, and SF1 (each speaker's own statistics in the
functionals head's BatchNorm), rejected, at commit 9bf7da5, and RH1 (the Transformer head refitted on per-speaker
standardised training embeddings), rejected, at commit 83bcc80, and LA1 (post-hoc logit adjustment by the training
split's class prior), rejected, at commit ab8f40e, and TA1 with every clip predicted as a class as its supports
(`default_t3aall`), not adopted, at commit 52a373e, and LM1 (LAME, Boudiaf et al., CVPR 2022: each speaker's
predictions refined over their clips' nearest-neighbour graph), rejected, at commit 913710a, and TA2-rav (T3A on
both heads beside RAVDESS's refitted head, the functionals head at another weight, `default_t3a{k}_weight{w}`),
rejected, at commit 24efce9, and JR1 (RAVDESS: one logistic regression refitted on the per-speaker standardised
embeddings beside the functionals head's inputs, `default_joint_refit*`), rejected, at commit 073aec5. T3A on the
Transformer head alone (TA1, before TA2 adjusted the functionals head too) is scored at commit 91f66cd
(`docs/SEARCH.md`).

`--split test` scores a final-protocol run (no validation speakers) on its test speakers instead, with each fold's
tested model, which must reproduce the fold's recorded unadapted test confusion matrix (`test_unshifted`; `test`
where the run has none or refitted its head, `speaker_embedding_scale`): for reading a figure after the decision,
never for choosing. The unadapted scores do not depend on the inference-time adaptation, so a run trained before a
change to it (TA2) is read with today's. With `--accuracy_output`, it also writes the runs as an `accuracy.py`
report whose folds score `default` (or `--accuracy_variant`, e.g. `default_t3a20`; the recorded scores kept as
`recorded_wa`/`recorded_ua`), which `accuracy.py --merge` pools: what a run trained without the shift (or T3A)
gives with it, since neither changes training.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from accuracy import summarise  # noqa: E402
from head_scores import (  # noqa: E402
    evaluation_collator,
    head_logits,
    last_checkpoint,
    load_with_heads,
    run_folds,
    screen_parser,
    screen_runs,
    write_screen_report,
)
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from modeling_tft import TFTForAudioClassification  # noqa: E402
from tft_ser.training.data import SpeechEmotionCollator, lazy_split  # noqa: E402
from tft_ser.training.scoring import score  # noqa: E402
from tft_ser.training.speaker_shift import adapt_to_training_speakers, scores_by_speaker, shifts_embeddings  # noqa: E402

RW1_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0)  # search RW1: the functionals head's weight beside a refitted head
TA1_KS = (1, 5, 20)  # search TA1: T3A's supports per class (`config.speaker_head_supports`)
REFITS = {"refit": None, "refit_centred": False, "refit_standardised": True}  # per-speaker scaling (None: none)


@torch.no_grad()
def split_outputs(model: TFTForAudioClassification, collator: SpeechEmotionCollator, split, batch_size: int) -> dict:
    """The utterance embeddings and both heads' logits of every clip of `split`, in its row order."""
    rows, parts = lazy_split(split), {"embedding": [], "transformer": [], "functionals": []}
    for start in range(0, len(rows), batch_size):
        batch = collator([rows[i] for i in range(start, min(start + batch_size, len(rows)))])
        features, mask = batch["input_features"], batch["attention_mask"]
        pooled = model.tft(features, attention_mask=mask).pooler_output
        transformer, functionals = model.head_logits(pooled, features, mask.bool())
        for name, value in zip(parts, (pooled, transformer, functionals), strict=True):
            parts[name].append(value)
    outputs = {name: torch.cat(values).numpy() for name, values in parts.items()}
    return outputs | {"label": np.asarray(split["label"]), "speaker": np.asarray(split["speaker"])}


def per_speaker(x: np.ndarray, speakers: np.ndarray, scale: bool) -> np.ndarray:
    """`x` centred (and with `scale`, standardised) over each speaker's own rows."""
    out = np.empty_like(x)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        out[rows] = (x[rows] - x[rows].mean(0)) / ((x[rows].std(0) + 1e-6) if scale else 1.0)
    return out


def variant_logits(model: TFTForAudioClassification, train: dict, held_out: dict) -> dict[str, np.ndarray]:
    """The logits of the heads, the model and their shifted variants on the held-out clips."""
    classifier = model.classifier
    shifted = per_speaker(held_out["embedding"], held_out["speaker"], False) + train["embedding"].mean(0)
    transformer_shifted = shifted @ classifier.weight.detach().numpy().T + classifier.bias.detach().numpy()
    return {
        "transformer": held_out["transformer"],
        "functionals": held_out["functionals"],
        "model": model.combine_heads((held_out["transformer"], held_out["functionals"])),
        "transformer_shifted": transformer_shifted,
        "model_shifted": model.combine_heads((transformer_shifted, held_out["functionals"])),
    }


def default_logits(
    model: TFTForAudioClassification, collator: SpeechEmotionCollator, train, held_out, batch_size: int
) -> tuple[dict[str, np.ndarray], float | None]:
    """Each head's logits and the model's (`head_logits`) of the clips of the split `held_out` as `run_train.py` tests
    a model of `model`'s config: adapted to the training speakers of the split `train` and to each held-out speaker
    (a copy; `model` is left as it is), with the utterance embeddings (`embedding`) and the functionals head's inputs
    (`functionals_input`) and, for a model that adapts, the model's logits with T3A's heads at each k of `TA1_KS`
    (`t3a{k}`, searches TA1 and TA2); and the C of the refitted Transformer head (None where none is refitted)."""
    adapted, c = copy.deepcopy(model), None
    if shifts_embeddings(adapted):
        c = adapt_to_training_speakers(adapted, train, collator, batch_size)
    scored = scores_by_speaker(adapted, held_out, collator, batch_size, lambda batch: head_logits(adapted, batch, True))
    if shifts_embeddings(adapted):
        speakers = np.asarray(held_out["speaker"])
        scored |= {f"t3a{k}": t3a_logits(adapted, scored, speakers, k) for k in TA1_KS}
    return {name: value.numpy() for name, value in scored.items()}, c


@torch.no_grad()
def t3a_logits(
    model: TFTForAudioClassification, scored: dict[str, torch.Tensor], speakers: np.ndarray, k: int
) -> torch.Tensor:
    """Searches TA1 and TA2: the model's logits of the clips of `scored` (`head_logits` with `embeddings`: their
    embeddings and the functionals head's inputs) with both heads adjusted to each speaker by the package's T3A at
    `k` supports per class (`config.speaker_head_supports = k`, `set_speaker_embeddings`) from those clips: what
    `run_train.py` tests with that config, without another pass of the backbone."""
    own, out = model.config.speaker_head_supports, torch.empty_like(scored["model"])
    model.config.speaker_head_supports = k
    try:
        for speaker in np.unique(speakers):
            rows = torch.from_numpy(np.flatnonzero(speakers == speaker))
            embeddings, inputs = scored["embedding"][rows], scored["functionals_input"][rows]
            model.set_speaker_embeddings(embeddings, inputs)
            out[rows] = model.combine_heads((model.transformer_logits(embeddings), model.functionals_logits(inputs)))
    finally:
        model.set_speaker_embeddings(None)
        model.config.speaker_head_supports = own
    return out


def fold_scores(model: TFTForAudioClassification, train: dict, held_out: dict, default: dict) -> dict:
    """UA of each variant of the module docstring on the held-out speakers (`validation`, or the test split);
    `default`: the `default_logits`."""

    def ua(logits: np.ndarray) -> float:
        return float(score(logits.argmax(-1), held_out["label"], model.config.num_labels)["ua"])

    scores = {name: ua(logits) for name, logits in variant_logits(model, train, held_out).items()}
    scores["default"] = ua(default["model"])
    for weight in RW1_WEIGHTS:
        scores[f"default_weight{weight:g}"] = ua(default["transformer"] + weight * default["functionals"])
    for k in TA1_KS if f"t3a{TA1_KS[0]}" in default else ():
        scores[f"default_t3a{k}"] = ua(default[f"t3a{k}"])
    for name, scale in REFITS.items():
        x_train, x_held_out = train["embedding"], held_out["embedding"]
        if scale is not None:
            x_train = per_speaker(x_train, train["speaker"], scale)
            x_held_out = per_speaker(x_held_out, held_out["speaker"], scale)
        scaler = StandardScaler().fit(x_train)
        refit = LogisticRegression(max_iter=2000).fit(scaler.transform(x_train), train["label"])
        scores[name] = ua(refit.decision_function(scaler.transform(x_held_out)))
    return scores


def score_run(run: dict, batch_size: int, split: str = "validation") -> dict:
    """Per fold and on average, each variant's UA on `split`: the validation speakers at the last checkpoint, or
    the test speakers with the tested model."""
    normalization, output_dir, cv_folds = run_folds(run)
    if normalization != "speaker":
        raise ValueError(f"{run['command']}: not speaker-adaptive; the shift needs each speaker's clips.")
    recorded = {}
    if split == "test":
        recorded = {f["fold"]: f for f in json.loads((output_dir / "results.json").read_text())["folds"]}
    folds = []
    for fold in cv_folds:
        if not len(fold.splits[split]):
            raise ValueError(f"{run['command']}: fold {fold.index} has no {split} speakers.")
        fold_dir = output_dir / f"fold_{fold.index}"
        if split == "test":
            folder = fold_dir / "model"
        else:
            folder = last_checkpoint(fold_dir)
        model = load_with_heads(folder)
        collator = evaluation_collator(fold_dir, fold, normalization)
        train, held_out = (split_outputs(model, collator, fold.splits[name], batch_size) for name in ("train", split))
        default, refit_c = default_logits(model, collator, fold.splits["train"], fold.splits[split], batch_size)
        row = {"fold": fold.index, f"{split}_speakers": list(getattr(fold, f"{split}_speakers")), "scored": folder.name,
               "last": fold_scores(model, train, held_out, default), "default_refit_c": refit_c}  # fmt: skip
        if split == "test":  # the tested model, checked on its unadapted scores where the run recorded them
            unadapted = model.combine_heads((held_out["transformer"], held_out["functionals"]))
            tested = recorded[fold.index]
            trained_head = tested.get("test_unshifted") and not model.config.speaker_embedding_scale  # not refitted
            logits, expected = (unadapted, "test_unshifted") if trained_head else (default["model"], "test")
            matrix = score(logits.argmax(-1), held_out["label"], model.config.num_labels)["confusion_matrix"]
            if matrix != tested[expected]["confusion_matrix"]:
                raise ValueError(f"Fold {fold.index}: the model does not reproduce the recorded {expected} scores.")
            variants = {"default": default["model"]} | {f"default_t3a{k}": default[f"t3a{k}"] for k in TA1_KS}
            row["test"] = {}
            for name, logits in variants.items():
                scores = score(logits.argmax(-1), held_out["label"], model.config.num_labels)
                row["test"][name] = {"wa": float(scores["wa"]), "ua": float(scores["ua"])}
        folds.append(row)
    mean = {name: float(np.mean([fold["last"][name] for fold in folds])) for name in folds[0]["last"]}
    return {"seed": run["seed"], "command": run["command"], "folds": folds, "mean": {"last": mean}}


def shifted_accuracy_run(run: dict, scored: dict, variant: str = "default") -> dict:
    """A copy of an `accuracy.py` run entry with each fold's test scores those of `variant` (`scored`: the run
    scored with `--split test`)."""
    shifted = copy.deepcopy(run)
    for entry, row in zip(shifted["folds"], scored["folds"], strict=True):
        test = row["test"][variant]
        entry.update(recorded_wa=entry["wa"], recorded_ua=entry["ua"], wa=test["wa"], ua=test["ua"])
    shifted["mean"] = {m: float(np.mean([f[m] for f in shifted["folds"]])) for m in ("wa", "ua")}
    shifted["speaker_embedding_shift"] = True
    return shifted


def main(argv: list[str] | None = None) -> dict:
    parser = screen_parser(__doc__, "accuracy.py reports of speaker-adaptive runs")
    parser.add_argument("--split", choices=("validation", "test"), default="validation", help="speakers scored")
    parser.add_argument("--accuracy_output", type=Path, help="with --split test and one report: its runs, shifted")
    variants = ("default", *(f"default_t3a{k}" for k in TA1_KS))
    parser.add_argument("--accuracy_variant", choices=variants, default="default", help="the --accuracy_output's")
    arguments = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(arguments)
    if args.accuracy_output and (args.split != "test" or len(args.reports) != 1):
        parser.error("--accuracy_output needs --split test and one report")
    sources = screen_runs(args)
    runs = [score_run(run, args.batch_size, args.split) for run in sources]
    decides = "default" if args.split == "validation" else None  # test speakers decide nothing
    report = write_screen_report("speaker_shift", arguments, runs, args.output, f"mean {args.split} UA",
                                 split=args.split, decides_on=decides)  # fmt: skip
    if args.accuracy_output:
        source = json.loads(args.reports[0].read_text())
        shifted = {key: source[key] for key in ("benchmark", "corpus", "recipe", "protocol", "environment")}
        shifted["command"] = report["command"]
        pairs = zip(sources, runs, strict=True)
        shifted_runs = [shifted_accuracy_run(*pair, args.accuracy_variant) for pair in pairs]
        shifted["systems"] = {args.system: summarise(shifted_runs)}
        args.accuracy_output.parent.mkdir(parents=True, exist_ok=True)
        args.accuracy_output.write_text(json.dumps(shifted, indent=1))
        print(f"accuracy report: {args.accuracy_output}")
    return report


if __name__ == "__main__":
    main()
