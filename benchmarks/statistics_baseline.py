"""
Reference floor: logistic regression on each clip's mean and std of the same log-mel bands, same folds.

No transformer, no augmentation: 2 × 64 utterance statistics per clip, standardised on the training split,
scikit-learn `LogisticRegression`. It tells a reader how much of a corpus's speaker-independent accuracy
global spectral statistics alone reach, i.e. what the transformers must beat. Two rows per corpus:

- `none`: features as they are (the same information a model trained with `--normalization global` sees);
- `speaker`: every speaker's clips standardised with that speaker's own mean/std (unsupervised speaker
  normalisation; it uses the *unlabelled* test speaker's statistics, so it is a different protocol).

    python benchmarks/statistics_baseline.py --corpus casia
    python benchmarks/statistics_baseline.py --corpus ravdess
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, balanced_accuracy_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from dataset_scripts import CORPORA, make_folds  # noqa: E402
from modeling_tft import TFTFeatureExtractor  # noqa: E402
from training.cross_validation import environment  # noqa: E402
from training.data import iter_clips  # noqa: E402

PROTOCOLS = {"casia": ("leave_one_speaker_out", {}), "ravdess": ("k_fold_by_speaker", {"k": 6})}


def clip_statistics(clips: Iterable[np.ndarray], batch_size: int = 64) -> np.ndarray:
    """(clips, 128): mean and std over the frames of every log-mel band, whole clips (up to 10 s)."""
    extractor = TFTFeatureExtractor(normalization="none", max_length=1000)
    rows, clips = [], iter(clips)
    while chunk := list(itertools.islice(clips, batch_size)):
        batch = extractor(chunk, sampling_rate=16000, padding="longest", return_tensors="pt")
        features, mask = batch["input_features"], batch["attention_mask"].bool()
        for clip, valid in zip(features, mask, strict=True):
            frames = clip[valid]
            rows.append(torch.cat([frames.mean(0), frames.std(0)]).numpy())
    return np.stack(rows)


def speaker_standardised(features: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    out = features.copy()
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        out[rows] = (features[rows] - features[rows].mean(0)) / (features[rows].std(0) + 1e-8)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=sorted(PROTOCOLS), default="casia")
    parser.add_argument("--data_dir", type=Path, help="raw corpus folder (default ../shared/corpora/<corpus>)")
    parser.add_argument("--prepared_dir", type=Path, help="default outputs/benchmarks/<corpus>/prepared")
    parser.add_argument("--C", type=float, default=0.1, help="inverse L2 strength of the logistic regression")
    parser.add_argument("--validation_speakers", type=int, default=0,
                        help="hold out the training split's validation speakers as run_train.py does (the search's "
                             "split) and report their UA too; 0: train on every non-test speaker")  # fmt: skip
    parser.add_argument("--output", type=Path,
                        help="default benchmarks/results/baseline_<corpus>[_validation<N>].json")  # fmt: skip
    args = parser.parse_args(argv)
    data_dir = args.data_dir or REPO_ROOT.parent / "shared" / "corpora" / args.corpus
    prepared = args.prepared_dir or REPO_ROOT / "outputs" / "benchmarks" / args.corpus / "prepared"
    dataset = CORPORA[args.corpus](str(data_dir), prepared)
    protocol, kwargs = PROTOCOLS[args.corpus]
    folds = make_folds(dataset.add_column("row", list(range(len(dataset)))), protocol,
                       validation_speakers=args.validation_speakers, seed=42, **kwargs)  # fmt: skip
    features = clip_statistics(iter_clips(dataset))
    labels, speakers = np.array(dataset["label"]), np.array(dataset["speaker"])
    arguments = sys.argv[1:] if argv is None else argv
    report = {
        "benchmark": "statistics_baseline",
        "corpus": args.corpus,
        "protocol": protocol,
        "command": shlex.join(["python", "benchmarks/statistics_baseline.py", *arguments]),
        "validation_speakers": args.validation_speakers,
        "model": f"StandardScaler + LogisticRegression(C={args.C}) on per-clip mean and std of 64 log-mel bands",
        "environment": environment(),
        "variants": {},
    }
    for variant in ("none", "speaker"):
        x = speaker_standardised(features, speakers) if variant == "speaker" else features
        fold_rows = []
        for fold in folds:
            train, test = np.array(fold.splits["train"]["row"]), np.array(fold.splits["test"]["row"])
            classifier = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=5000))
            predicted = classifier.fit(x[train], labels[train]).predict(x[test])
            fold_rows.append({
                "fold": fold.index, "test_speakers": list(fold.test_speakers),
                "wa": accuracy_score(labels[test], predicted), "ua": balanced_accuracy_score(labels[test], predicted),
            })  # fmt: skip
            if args.validation_speakers:
                validation = np.array(fold.splits["validation"]["row"])
                fold_rows[-1]["validation_ua"] = balanced_accuracy_score(
                    labels[validation], classifier.predict(x[validation])
                )
        metrics = ("wa", "ua", "validation_ua") if args.validation_speakers else ("wa", "ua")
        report["variants"][variant] = {
            "folds": fold_rows,
            **{f"mean_{m}": float(np.mean([r[m] for r in fold_rows])) for m in metrics},
            **{f"std_{m}_over_folds": float(np.std([r[m] for r in fold_rows], ddof=1)) for m in ("wa", "ua")},
        }
        summary = report["variants"][variant]
        print(f"{args.corpus} {variant:8s} WA {100 * summary['mean_wa']:.2f} UA {100 * summary['mean_ua']:.2f}")
    suffix = f"_validation{args.validation_speakers}" if args.validation_speakers else ""
    output = args.output or BENCH_DIR / "results" / f"baseline_{args.corpus}{suffix}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=1))
    print(f"report: {output}")
    return report


if __name__ == "__main__":
    main()
