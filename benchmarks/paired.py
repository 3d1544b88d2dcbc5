"""Paired comparison of systems with one of them: per seed-fold pair both scored, the mean UA difference and on how
many pairs the reference is ahead (the "ahead on N of M pairs" of docs/RESULTS.md).

Systems of one report (test UA):

    python benchmarks/paired.py benchmarks/results/accuracy_ravdess_global_all_speakers_ablations.json --reference tft

Search screens, one report per seed, grouped under names (validation UA over each fold's last 4 epochs, the
search record's score):

    python benchmarks/paired.py --late_epochs 4 --reference pc1 \\
        --groups "pc1=benchmarks/results/search/tft_position_w2v*.json" \\
                 "time_only=benchmarks/results/search/time_only_pc1*.json"
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def paired(report: dict, reference: str = "tft", late_epochs: int | None = None) -> dict[str, dict]:
    """For each other system: the shared pairs' count, seeds, both mean UAs (%), their difference and pairs ahead.
    A fold's score is its test UA, or with `late_epochs` the mean validation UA of its last `late_epochs` epochs."""
    systems = report["systems"]

    def score(fold: dict) -> float:
        if late_epochs is None:
            return fold["ua"]
        epochs = fold["validation_ua_by_epoch"][-late_epochs:]
        return sum(epochs) / len(epochs)

    def fold_ua(system: str) -> dict[tuple[int, int], float]:
        return {(run["seed"], fold["fold"]): score(fold) for run in systems[system]["runs"] for fold in run["folds"]}

    ours = fold_ua(reference)
    comparisons = {}
    for system in systems:
        theirs = fold_ua(system)
        shared = sorted(set(ours) & set(theirs))
        if system == reference or not shared:
            continue
        differences = [ours[pair] - theirs[pair] for pair in shared]
        comparisons[system] = {
            "pairs": len(shared),
            "seeds": sorted({seed for seed, _ in shared}),
            "reference_ua": 100 * sum(ours[pair] for pair in shared) / len(shared),
            "ua": 100 * sum(theirs[pair] for pair in shared) / len(shared),
            "difference": 100 * sum(differences) / len(shared),
            "reference_ahead": sum(difference > 0 for difference in differences),
        }
    return comparisons


def grouped_report(groups: list[str]) -> dict:
    """A report whose systems are named groups `NAME=GLOB[,GLOB...]` of report files (e.g. one search screen per
    seed), each group's runs pooled by `accuracy.merge_reports`: one system per group, one run per seed, and runs
    that differ in nothing but the seed, so a glob that also catches another variant's
    report is refused."""
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    from accuracy import merge_reports  # imports run_train: only when report files are grouped

    systems = {}
    for group in groups:
        name, _, pattern = group.partition("=")
        paths = sorted({path for part in pattern.split(",") for path in glob.glob(part)})
        if not name or not paths:
            raise SystemExit(f"--groups {group!r}: expected NAME=GLOB[,GLOB...] matching at least one report file")
        try:
            merged = merge_reports(paths)
        except ValueError as error:
            raise SystemExit(f"--groups {group!r}: {error}") from error
        if len(merged["systems"]) != 1:
            raise SystemExit(f"--groups {group!r}: its reports hold systems {sorted(merged['systems'])}; one per group")
        systems[name] = next(iter(merged["systems"].values()))
    return {"systems": systems}


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path, nargs="?", help="a report whose systems are compared")
    parser.add_argument("--groups", nargs="+", metavar="NAME=GLOB[,GLOB]", help="systems made of report files")
    parser.add_argument("--reference", default="tft", help="the system compared with every other (default tft)")
    parser.add_argument("--late_epochs", type=int, help="score validation UA over each fold's last N epochs")
    args = parser.parse_args(argv)
    if (args.report is None) == (args.groups is None):
        parser.error("give either a report or --groups")
    report = grouped_report(args.groups) if args.groups else json.loads(args.report.read_text())
    comparisons = paired(report, args.reference, args.late_epochs)
    for system, c in comparisons.items():
        print(f"{args.reference} vs {system}: seeds {c['seeds']}, {c['pairs']} pairs: UA {c['reference_ua']:.2f} vs "
              f"{c['ua']:.2f} % ({c['difference']:+.2f}), {args.reference} ahead on {c['reference_ahead']} of "
              f"{c['pairs']}")  # fmt: skip
    return comparisons


if __name__ == "__main__":
    main()
