"""
Reference floor (the kept command): `benchmarks/baselines.py`, whose default `--features logmel_statistics` it runs.

Logistic regression on each clip's mean and std of the 64 log-mel bands, the TFT runs' folds; variants `none`
(single clip) and `speaker` (speaker-adaptive); report `benchmarks/results/baseline_<corpus>[_validation<N>].json`.

    python benchmarks/statistics_baseline.py --corpus casia
    python benchmarks/statistics_baseline.py --corpus ravdess
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baselines


def main(argv: list[str] | None = None) -> dict:
    return baselines.main(sys.argv[1:] if argv is None else argv, script="benchmarks/statistics_baseline.py")


if __name__ == "__main__":
    main()
