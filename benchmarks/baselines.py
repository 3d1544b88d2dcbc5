"""
Reference baselines on the TFT runs' own speaker-independent folds, in two protocols.

`--features` picks the clip representation:

- `logmel_statistics` (the floor): mean and std of the 64 log-mel bands the models see, StandardScaler +
  LogisticRegression(C=0.1); report `baseline_<corpus>.json`, variants `none` and `speaker`.
- `egemaps`, `compare`: openSMILE 2.6 functionals, eGeMAPSv02 (88) and ComParE_2016 (6,373), the field's standard
  baseline, with a linear SVM (LinearSVC; `SVC(kernel="linear")` for RAVDESS ComParE) whose C (`C_GRIDS`) is
  chosen by speaker-grouped cross-validation over the fold's training speakers only; one report for the feature sets
  asked for, `baseline_opensmile_<corpus>.json`. Functionals are cached in `outputs/opensmile_cache/`.

Protocols (variants): `single_clip` (`none`) standardises with the training speakers' statistics only;
`speaker_adaptive` (`speaker`) standardises every speaker, test speakers included, with that speaker's own mean/std
over all of their clips (unlabelled audio of the test speaker; labels unused).

    python benchmarks/baselines.py --corpus casia --features egemaps compare
    python benchmarks/baselines.py --corpus ravdess --features egemaps compare
    python benchmarks/baselines.py --corpus casia --features logmel_statistics
    python benchmarks/baselines.py --corpus casia --features egemaps --validation_speakers 1  # the search's split
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from sklearn.base import BaseEstimator, TransformerMixin  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, balanced_accuracy_score  # noqa: E402
from sklearn.model_selection import GroupKFold  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC, LinearSVC  # noqa: E402

PROTOCOLS = {"casia": ("leave_one_speaker_out", {}), "ravdess": ("k_fold_by_speaker", {"k": 6})}
OPENSMILE_SETS = {"egemaps": "eGeMAPSv02", "compare": "ComParE_2016"}
FEATURES = ("logmel_statistics", *OPENSMILE_SETS)
C_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
# ComParE: 6,373 dimensions, more than the training clips: from C ~ 1e-2 on the training speakers are separated and
# C changes little, while liblinear's iterations grow to minutes per fit (C = 0.1 took 106 s on 600 CASIA clips)
C_GRIDS = {"egemaps": C_GRID, "compare": C_GRID[:4]}
VARIANTS = {"single_clip": "none", "speaker_adaptive": "speaker"}  # openSMILE report key -> floor report key
SAMPLING_RATE = 16000


def clip_statistics(clips: Iterable[np.ndarray], batch_size: int = 64) -> np.ndarray:
    """(clips, 128): mean and std over the frames of every log-mel band, whole clips (up to 10 s)."""
    import torch

    from modeling_tft import TFTFeatureExtractor

    extractor = TFTFeatureExtractor(prosody=False, normalization="none", max_length=1000)
    rows, clips = [], iter(clips)
    while chunk := list(itertools.islice(clips, batch_size)):
        batch = extractor(chunk, sampling_rate=SAMPLING_RATE, padding="longest", return_tensors="pt")
        features, mask = batch["input_features"], batch["attention_mask"].bool()
        for clip, valid in zip(features, mask, strict=True):
            frames = clip[valid]
            rows.append(torch.cat([frames.mean(0), frames.std(0)]).numpy())
    return np.stack(rows)


def opensmile_functionals(clips: Iterable[np.ndarray], feature_set: str) -> np.ndarray:
    """(clips, dims): openSMILE functionals of `feature_set` (`egemaps` or `compare`) of 16 kHz clips."""
    import opensmile

    smile = opensmile.Smile(
        feature_set=getattr(opensmile.FeatureSet, OPENSMILE_SETS[feature_set]),
        feature_level=opensmile.FeatureLevel.Functionals,
    )
    return np.stack([smile.process_signal(clip, SAMPLING_RATE).to_numpy()[0] for clip in clips]).astype(np.float64)


def cached_functionals(clips: Iterable[np.ndarray], ids: Sequence[str], feature_set: str, cache: Path) -> np.ndarray:
    """`opensmile_functionals`, read from `cache` (an .npz) when it holds the same clip ids and openSMILE version."""
    import opensmile

    if cache.exists():
        stored = np.load(cache)
        if list(stored["ids"]) == list(ids) and str(stored["version"]) == opensmile.__version__:
            return stored["features"]
    features = opensmile_functionals(clips, feature_set)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, features=features, ids=np.array(ids), version=opensmile.__version__)
    return features


def speaker_standardised(features: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """Every speaker's rows standardised with that speaker's own mean/std over all of their rows (no labels)."""
    out = features.copy()
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        out[rows] = (features[rows] - features[rows].mean(0)) / (features[rows].std(0) + 1e-8)
    return out


class TrainingSpan(TransformerMixin, BaseEstimator):
    """Coordinates in the span of the training rows, when there are more features than rows (ComParE).

    An L2-regularised linear SVM's weights lie in that span (representer theorem), so the SVM fitted on these
    coordinates is the same classifier (equal inner products, the same optimisation problem), at n instead of
    6,373 dimensions per step; with no more features than rows it passes the features through.
    """

    def fit(self, x: np.ndarray, y=None) -> TrainingSpan:
        self.basis_ = None
        if x.shape[1] > x.shape[0]:
            eigenvalues, vectors = np.linalg.eigh(x @ x.T)  # the training rows' Gram matrix, (n, n)
            keep = eigenvalues > eigenvalues.max() * 1e-12
            self.basis_ = (x.T @ vectors[:, keep]) / np.sqrt(eigenvalues[keep])  # orthonormal, (features, rank)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return x if self.basis_ is None else x @ self.basis_


def classifier(kind: str, c: float) -> LinearSVC | SVC:
    """`linear_svc` (LinearSVC, one-vs-rest, squared hinge) or `svc` (SVC(kernel="linear"), one-vs-one)."""
    return LinearSVC(C=c, max_iter=10000) if kind == "linear_svc" else SVC(kernel="linear", C=c)


def svm(kind: str, c: float = 1.0) -> Pipeline:
    """StandardScaler + `TrainingSpan` + the linear SVM `classifier(kind, c)`."""
    return Pipeline([("scale", StandardScaler()), ("span", TrainingSpan()), ("svm", classifier(kind, c))])


def fit_svm(x: np.ndarray, y: np.ndarray, groups: np.ndarray, kind: str, grid: Sequence[float] = C_GRID):
    """`svm(kind, C)` fitted on all of (x, y); C: the best mean UA over GroupKFold(min(5, speakers)) of `groups`.

    Only the rows passed in are seen: pass the fold's training speakers, never its test speakers. What
    GridSearchCV(svm(kind), scoring="balanced_accuracy") does, with each inner split's scaler and span fitted once
    for every C. Returns (fitted pipeline, chosen C, {C: inner mean UA}).
    """
    inner_ua: dict[float, list[float]] = {float(c): [] for c in grid}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for train, held_out in GroupKFold(n_splits=min(5, len(np.unique(groups)))).split(x, y, groups):
            features = make_pipeline(StandardScaler(), TrainingSpan()).fit(x[train])
            a, b = features.transform(x[train]), features.transform(x[held_out])
            for c in inner_ua:
                predicted = classifier(kind, c).fit(a, y[train]).predict(b)
                inner_ua[c].append(float(balanced_accuracy_score(y[held_out], predicted)))
        means = {c: float(np.mean(values)) for c, values in inner_ua.items()}
        best = max(means, key=means.get)  # ties: the smallest C, as GridSearchCV
        return svm(kind, best).fit(x, y), best, means


def svm_kind(corpus: str, feature_set: str) -> str:
    """The issue's classifier: LinearSVC, except SVC(kernel="linear") for RAVDESS ComParE."""
    return "svc" if (corpus, feature_set) == ("ravdess", "compare") else "linear_svc"


def scores(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {"wa": float(accuracy_score(labels, predicted)), "ua": float(balanced_accuracy_score(labels, predicted))}


def validation_ua(model, x: np.ndarray, labels: np.ndarray, fold) -> float:
    """UA of a fitted classifier on the fold's validation speakers (held out of its training, as in the search)."""
    rows = np.array(fold.splits["validation"]["row"])
    return scores(labels[rows], model.predict(x[rows]))["ua"]


def summary(fold_rows: list[dict], metrics: Sequence[str] = ("wa", "ua")) -> dict:
    return {
        "folds": fold_rows,
        **{f"mean_{m}": float(np.mean([r[m] for r in fold_rows])) for m in metrics},
        **{
            f"std_{m}_over_folds": float(np.std([r[m] for r in fold_rows], ddof=1)) if len(fold_rows) > 1 else None
            for m in ("wa", "ua")
        },
    }


def run_opensmile(
    features: np.ndarray,
    labels: np.ndarray,
    speakers: np.ndarray,
    folds,
    kind: str,
    grid: Sequence[float] = C_GRID,
    validation: int = 0,
) -> dict:
    """Both protocols' per-fold scores and chosen C (from `grid`) of one feature set; with `validation` (the folds
    hold out validation speakers) the validation speakers' UA too, the figure the search screens compare with."""
    out = {}
    for variant in VARIANTS:
        x = speaker_standardised(features, speakers) if variant == "speaker_adaptive" else features
        fold_rows, start = [], time.perf_counter()
        for fold in folds:
            train, test = np.array(fold.splits["train"]["row"]), np.array(fold.splits["test"]["row"])
            model, c, inner = fit_svm(x[train], labels[train], speakers[train], kind, grid)
            fold_rows.append({"fold": fold.index, "test_speakers": list(fold.test_speakers), "C": c,
                              "inner_ua": inner, **scores(labels[test], model.predict(x[test]))})  # fmt: skip
            if validation:
                fold_rows[-1]["validation_ua"] = validation_ua(model, x, labels, fold)
        metrics = ("wa", "ua", "validation_ua") if validation else ("wa", "ua")
        out[variant] = {**summary(fold_rows, metrics), "fit_wall_time_s": round(time.perf_counter() - start, 1)}
    return out


def run_floor(features: np.ndarray, labels: np.ndarray, speakers: np.ndarray, folds, c: float, validation: int):
    """The log-mel statistics floor: both protocols with a fixed-C logistic regression."""
    out = {}
    for variant in ("none", "speaker"):
        x = speaker_standardised(features, speakers) if variant == "speaker" else features
        fold_rows = []
        for fold in folds:
            train, test = np.array(fold.splits["train"]["row"]), np.array(fold.splits["test"]["row"])
            classifier = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
            classifier.fit(x[train], labels[train])
            row = {"fold": fold.index, "test_speakers": list(fold.test_speakers)}
            fold_rows.append({**row, **scores(labels[test], classifier.predict(x[test]))})
            if validation:
                fold_rows[-1]["validation_ua"] = validation_ua(classifier, x, labels, fold)
        out[variant] = summary(fold_rows, ("wa", "ua", "validation_ua") if validation else ("wa", "ua"))
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=sorted(PROTOCOLS), default="casia")
    parser.add_argument("--features", nargs="+", choices=FEATURES, default=["logmel_statistics"],
                        help="logmel_statistics (the floor) or one or more openSMILE sets (one report)")  # fmt: skip
    parser.add_argument("--data_dir", type=Path, help="raw corpus folder (default ../shared/corpora/<corpus>)")
    parser.add_argument("--prepared_dir", type=Path, help="default outputs/benchmarks/<corpus>/prepared")
    parser.add_argument("--cache_dir", type=Path, default=REPO_ROOT / "outputs" / "opensmile_cache",
                        help="openSMILE functionals cache")  # fmt: skip
    parser.add_argument("--C", type=float, default=0.1, help="the floor's inverse L2 strength (logistic regression)")
    parser.add_argument("--validation_speakers", type=int, default=0,
                        help="hold out the training split's validation speakers as run_train.py does (the search's "
                             "split) and report their UA too; 0: train on every non-test speaker")  # fmt: skip
    parser.add_argument("--output", type=Path,
                        help="default benchmarks/results/baseline_<corpus>[_validation<N>].json (floor), "
                             "baseline_opensmile_<corpus>[_validation<N>].json (openSMILE)")  # fmt: skip
    args = parser.parse_args(argv)
    floor = "logmel_statistics" in args.features
    if floor and len(args.features) > 1:
        parser.error("--features logmel_statistics is a report of its own; run the openSMILE sets separately")
    return args


def main(argv: list[str] | None = None, script: str = "benchmarks/baselines.py") -> dict:
    from tft_ser.data import CORPORA, make_folds
    from tft_ser.training.data import iter_clips
    from tft_ser.training.environment import environment

    args = parse_args(argv)
    data_dir = args.data_dir or REPO_ROOT.parent / "shared" / "corpora" / args.corpus
    prepared = args.prepared_dir or REPO_ROOT / "outputs" / "benchmarks" / args.corpus / "prepared"
    dataset = CORPORA[args.corpus](str(data_dir), prepared)
    protocol, kwargs = PROTOCOLS[args.corpus]
    folds = make_folds(dataset.add_column("row", list(range(len(dataset)))), protocol,
                       validation_speakers=args.validation_speakers, seed=42, **kwargs)  # fmt: skip
    labels, speakers = np.array(dataset["label"]), np.array(dataset["speaker"])
    arguments = sys.argv[1:] if argv is None else argv
    report = {"corpus": args.corpus, "protocol": protocol, "command": shlex.join(["python", script, *arguments])}
    if args.features == ["logmel_statistics"]:
        report = {"benchmark": "statistics_baseline", **report, "validation_speakers": args.validation_speakers,
                  "model": f"StandardScaler + LogisticRegression(C={args.C}) on per-clip mean and std of 64 log-mel "
                           "bands", "environment": environment([script, *arguments])}  # fmt: skip
        report["variants"] = run_floor(clip_statistics(iter_clips(dataset)), labels, speakers, folds, args.C,
                                       args.validation_speakers)  # fmt: skip
        suffix = f"_validation{args.validation_speakers}" if args.validation_speakers else ""
        default = BENCH_DIR / "results" / f"baseline_{args.corpus}{suffix}.json"
    else:
        import opensmile

        report = {"benchmark": "opensmile_baseline", **report, "opensmile_version": opensmile.__version__,
                  "inner_cv": "GroupKFold(min(5, training speakers)) by speaker, mean UA",
                  "variants_meaning": {"single_clip": "StandardScaler fitted on the fold's training speakers only",
                                       "speaker_adaptive": "each speaker standardised with their own mean/std over "
                                       "all their clips (test speakers' unlabelled audio), then as single_clip"},
                  "environment": environment([script, *arguments]), "feature_sets": {}}  # fmt: skip
        ids = dataset["utterance_id"]
        for feature_set in args.features:
            start = time.perf_counter()
            cache = args.cache_dir / f"{args.corpus}_{OPENSMILE_SETS[feature_set]}.npz"
            features = cached_functionals(iter_clips(dataset), ids, feature_set, cache)
            extraction = round(time.perf_counter() - start, 1)
            kind = svm_kind(args.corpus, feature_set)
            report["feature_sets"][feature_set] = {
                "opensmile_feature_set": OPENSMILE_SETS[feature_set], "dims": int(features.shape[1]),
                "model": f"StandardScaler + {'LinearSVC' if kind == 'linear_svc' else 'SVC(kernel=linear)'}",
                "features_wall_time_s": extraction, "c_grid": list(C_GRIDS[feature_set]),
                "variants": run_opensmile(features, labels, speakers, folds, kind, C_GRIDS[feature_set],
                                          args.validation_speakers),
            }  # fmt: skip
        report["validation_speakers"] = args.validation_speakers
        suffix = f"_validation{args.validation_speakers}" if args.validation_speakers else ""
        default = BENCH_DIR / "results" / f"baseline_opensmile_{args.corpus}{suffix}.json"
    print_summary(report)
    output = args.output or default
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=1))
    print(f"report: {output}")
    return report


def print_summary(report: dict) -> None:
    blocks = report.get("feature_sets", {"logmel_statistics": report})
    for name, block in blocks.items():
        for variant, result in block["variants"].items():
            validation = (
                f" validation UA {100 * result['mean_validation_ua']:.2f}" if "mean_validation_ua" in result else ""
            )
            print(f"{report['corpus']} {name:17s} {variant:16s} WA {100 * result['mean_wa']:.2f} "
                  f"UA {100 * result['mean_ua']:.2f}{validation}")  # fmt: skip


if __name__ == "__main__":
    main()
