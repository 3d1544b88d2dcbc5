"""Paired comparison of a report's systems with one of them: per seed-fold pair both scored, the mean UA difference
and on how many pairs the reference is ahead (the figures quoted as "ahead on N of M pairs" in docs/RESULTS.md).

    python benchmarks/paired.py benchmarks/results/accuracy_ravdess_global_all_speakers_ablations.json --reference tft
"""

import argparse
import json
from pathlib import Path


def paired(report: dict, reference: str = "tft") -> dict[str, dict]:
    """For each other system: the shared pairs' count, seeds, both mean UAs (%), their difference and pairs ahead."""
    systems = report["systems"]

    def fold_ua(system: str) -> dict[tuple[int, int], float]:
        return {(run["seed"], fold["fold"]): fold["ua"] for run in systems[system]["runs"] for fold in run["folds"]}

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


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path)
    parser.add_argument("--reference", default="tft", help="the system compared with every other (default tft)")
    args = parser.parse_args(argv)
    comparisons = paired(json.loads(args.report.read_text()), args.reference)
    for system, c in comparisons.items():
        print(f"{args.reference} vs {system}: seeds {c['seeds']}, {c['pairs']} pairs: UA {c['reference_ua']:.2f} vs "
              f"{c['ua']:.2f} % ({c['difference']:+.2f}), {args.reference} ahead on {c['reference_ahead']} of "
              f"{c['pairs']}")  # fmt: skip
    return comparisons


if __name__ == "__main__":
    main()
