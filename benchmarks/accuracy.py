"""
Accuracy benchmark: the default TFT, the paper's three ablations of it, and an equal-size `transformers` AST.

Every system goes through `run_train.py` with the same corpus recipe (features, folds, epochs, optimiser,
seeds); only the model differs (and the AST's own best learning rate). Results (per fold, per seed, mean ± std)
go to `benchmarks/results/accuracy_<corpus>.json`; `make_tables.py` turns the reports into `docs/RESULTS.md`.
The systems of earlier designs, and the options that selected them, are reproducible at commit 8eb65da.

    python benchmarks/accuracy.py --corpus casia --systems tft ast --seeds 42
    python benchmarks/accuracy.py --corpus ravdess --systems tft time_only frequency_only no_fusion ast --seeds 42 43
    python benchmarks/accuracy.py --smoke --output /tmp/accuracy.json    # tiny, demo corpus (the test suite)
    python benchmarks/accuracy.py --merge a.json b.json --output c.json   # one report from several (no training)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from transformers import AutoModelForAudioClassification  # noqa: E402

from tft_ser.training import run_train  # noqa: E402

RECIPES = {"casia": "configs/casia_loso.yaml", "ravdess": "configs/ravdess_6fold.yaml", "demo": "configs/demo.yaml"}
SYSTEMS = {  # the default TFT, the paper's three ablations of it, and the equal-size AST
    "tft": [],
    "time_only": ["--config_overrides", "use_frequency_branch=False,use_fusion=False"],
    # the frequency branch reads the mel bands only: without the time branch the contours (and their functionals
    # head, which follows them) have nowhere to go
    "frequency_only": [
        "--config_overrides",
        "use_time_branch=False,use_fusion=False,num_prosody_features=0,functionals_head=False",
    ],
    "no_fusion": ["--config_overrides", "use_fusion=False"],
    # the recipes' learning rate is the TFT's (2.5e-4); the AST keeps its own best (search LR3/LR4: 5e-4)
    "ast": ["--model_type", "ast", "--learning_rate", "5e-4"],
}
SMOKE = {
    "tft": ["--config_overrides", "hidden_size=32,num_attention_heads=2,intermediate_size=64,num_time_layers=1,"
            "num_frequency_layers=1,num_fusion_layers=1"],
    "ast": ["--model_type", "ast", "--config_overrides", "hidden_size=32,num_attention_heads=2,intermediate_size=64,"
            "num_hidden_layers=1"],
}  # fmt: skip
SMOKE_ARGS = ["--demo_speakers", "6", "--demo_utterances_per_class", "3", "--num_folds", "3", "--folds", "0",
              "--num_train_epochs", "1", "--report_to", "none"]  # fmt: skip


def merge_config_overrides(system: list[str], extra: list[str]) -> list[str]:
    """`system + extra`, with an extra `--config_overrides` appended to the system's own instead of replacing it
    (run_train.py keeps only the last flag; within one flag a later `key=value` wins)."""
    flag = "--config_overrides"
    if flag not in system or flag not in extra:
        return system + extra
    at, extra_at = system.index(flag) + 1, extra.index(flag) + 1
    merged = [*system[:at], f"{system[at]},{extra[extra_at]}", *system[at + 1 :]]
    return merged + extra[: extra_at - 1] + extra[extra_at + 1 :]


def run_system(corpus: str, system: str, seed: int, output_root: Path, extra: list[str], smoke: bool) -> dict:
    """Train one system with one seed through run_train.py; return WA/UA per fold."""
    output_dir = output_root / corpus / f"{system}_seed{seed}"
    arguments = [RECIPES[corpus], "--output_dir", str(output_dir), "--seed", str(seed), "--report_to", "none"]
    arguments += merge_config_overrides((SMOKE[system] + SMOKE_ARGS) if smoke else SYSTEMS[system], extra)
    started = time.time()
    results = run_train.main(arguments)
    wall_time_s = round(time.time() - started, 1)
    model = AutoModelForAudioClassification.from_pretrained(
        output_dir / f"fold_{results['folds'][0]['fold']}" / "model"
    )
    return {
        "seed": seed,
        "command": shlex.join(["python", "run_train.py", *arguments]),
        "num_parameters": model.num_parameters(),
        "wall_time_s": wall_time_s,
        "reused_folds": results.get("reused_folds", []),
        "validation_speakers": results["arguments"]["data"]["validation_speakers"],
        "normalization": results["arguments"]["model"]["normalization"],
        "folds": [
            {
                "fold": f["fold"],
                "test_speakers": f["test_speakers"],
                "validation_speakers": f["validation_speakers"],
                "best_epoch": f["best_epoch"],
                "averaged_epochs": f.get("averaged_epochs", []),  # the tested weights' epochs, if averaged
                "validation_ua": f["validation_ua"],
                "validation_ua_by_epoch": [h["eval_ua"] for h in f.get("history", []) if "eval_ua" in h],
                **_scores(f["test"]),
            }
            for f in results["folds"]
        ],
        "mean": _scores(results["mean"]),
        "protocol": results["protocol"],
        "environment": results["environment"],
    }


def summarise(runs: list[dict]) -> dict:
    """Mean ± std over every (seed, fold) test score, and over seeds of the fold means."""
    fold_scores = {m: [f[m] for run in runs for f in run["folds"]] for m in ("wa", "ua")}
    seed_means = {m: [run["mean"][m] for run in runs] for m in ("wa", "ua")}
    return {
        "num_seeds": len(runs),
        "num_folds": len(runs[0]["folds"]),
        "num_parameters": runs[0]["num_parameters"],
        **{f"mean_{m}": float(np.mean(v)) for m, v in fold_scores.items()},
        **{f"std_{m}_over_folds": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for m, v in fold_scores.items()},
        **{f"std_{m}_over_seeds": float(np.std(v, ddof=1)) if len(v) > 1 else None for m, v in seed_means.items()},
        "runs": runs,
    }


def rescoring_arguments(
    description: str,
    default_system: str,
    argv: list[str] | None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> tuple[argparse.Namespace, list[str], dict]:
    """The command line of a script that re-scores a finished report's runs from their saved fold models
    (`window_scores.py`, `head_scores.py`, `reweight_heads.py`; `add_arguments` adds a script's own): the parsed
    arguments, the arguments as given (for the new report's command) and the report, checked to hold the chosen
    system."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path, help="an accuracy.py report whose runs' folders are still on disk")
    parser.add_argument("--system", default=default_system, help="the report's system to re-score")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--batch_size", type=int, default=32, help="clips per forward pass")
    if add_arguments is not None:
        add_arguments(parser)
    arguments = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(arguments)
    source = json.loads(args.report.read_text())
    if args.system not in source["systems"]:
        raise ValueError(f"{args.report} has no system {args.system!r} (it has {sorted(source['systems'])}).")
    return args, arguments, source


def merge_reports(sources: list[str], notes: list[str] | None = None) -> dict:
    """One report from several of the same corpus and recipe: each system's runs (distinct seeds) are pooled and
    summarised again; the merged report keeps every source's command.

    A source is `PATH`, or `PATH::SPEC` to take only some of its systems, each `NAME` or `NAME=NEW_NAME` (renamed,
    e.g. a former default's runs of `tft`), comma-separated.
    """
    reports = [_select_systems(source) for source in sources]
    first = reports[0]
    for report in reports[1:]:
        for key in ("corpus", "recipe", "protocol"):
            if report[key] != first[key]:
                raise ValueError(f"--merge: {key} differs between reports ({first[key]!r} vs {report[key]!r}).")
    runs: dict[str, list[dict]] = {}
    for report in reports:
        for system, summary in report["systems"].items():
            runs.setdefault(system, []).extend(summary["runs"])
    for system, system_runs in runs.items():
        seeds = [run["seed"] for run in system_runs]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"--merge: system {system!r} has seed(s) {seeds} more than once.")
        options = {_without_seed(run["command"]) for run in system_runs}
        if len(options) != 1:
            raise ValueError(f"--merge: the runs of {system!r} differ in more than the seed: {sorted(options)}")
        system_runs.sort(key=lambda run: run["seed"])
    merged = {key: first[key] for key in ("benchmark", "corpus", "recipe", "protocol")}
    merged["environment"] = first["environment"]  # every run keeps its own record too
    merged["command"] = "; ".join(report["command"] for report in reports)
    merged["systems"] = {system: summarise(system_runs) for system, system_runs in runs.items()}
    if notes:
        merged["notes"] = notes
    return merged


def _select_systems(source: str) -> dict:
    path, _, spec = source.partition("::")
    report = json.loads(Path(path).read_text())
    if spec:
        chosen = dict(item.split("=", 1) if "=" in item else (item, item) for item in spec.split(","))
        missing = sorted(set(chosen) - set(report["systems"]))
        if missing:
            raise ValueError(f"--merge: {path} has no system {missing} (it has {sorted(report['systems'])}).")
        report["systems"] = {new: report["systems"][old] for old, new in chosen.items()}
    return report


def _without_seed(command: str) -> str:
    """A run's `run_train.py` command less its seed and output folder (which names the seed)."""
    words, kept, skip = shlex.split(command), [], False
    for word in words:
        if skip:
            skip = False
        elif word in ("--seed", "--output_dir"):
            skip = True
        else:
            kept.append(word)
    return shlex.join(kept)


def _scores(metrics: dict) -> dict:
    return {"wa": float(metrics["wa"]), "ua": float(metrics["ua"])}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=sorted(RECIPES), default="casia")
    parser.add_argument("--systems", nargs="+", choices=sorted(SYSTEMS), default=["tft", "ast"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42])
    parser.add_argument("--output_root", type=Path, default=REPO_ROOT / "outputs" / "benchmarks")
    parser.add_argument("--output", type=Path, help="JSON report (default benchmarks/results/accuracy_<corpus>.json)")
    parser.add_argument("--smoke", action="store_true", help="tiny models, demo corpus, 1 fold, 1 epoch")
    parser.add_argument(
        "--merge", nargs="+", help="combine these reports (PATH or PATH::NAME[=NEW],...) into --output; trains nothing"
    )
    parser.add_argument("--note", action="append", help="with --merge: a note for the merged report's table")
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="after --: more run_train.py options for every system")
    arguments = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(arguments)
    if args.merge:
        if not args.output:
            parser.error("--merge needs --output")
        report = merge_reports(args.merge, args.note)
        report["command"] += "; " + shlex.join(["python", "benchmarks/accuracy.py", *arguments])
        args.output.write_text(json.dumps(report, indent=1))
        print(f"merged {len(args.merge)} reports into {args.output}: {sorted(report['systems'])}")
        return report
    corpus = "demo" if args.smoke else args.corpus
    systems = sorted(SMOKE) if args.smoke else args.systems
    extra = [a for a in args.extra if a != "--"]
    report = {
        "benchmark": "accuracy",
        "corpus": corpus,
        "recipe": RECIPES[corpus],
        "command": shlex.join(["python", "benchmarks/accuracy.py", *arguments]),
        "systems": {},
    }
    output = args.output or BENCH_DIR / "results" / f"accuracy_{corpus}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    for system in systems:
        runs = [run_system(corpus, system, seed, args.output_root, extra, args.smoke) for seed in args.seeds]
        report["systems"][system] = summarise(runs)
        report["protocol"] = runs[0]["protocol"]
        report.setdefault("environment", runs[0]["environment"])
        output.write_text(json.dumps(report, indent=1))  # after every system, so a long run keeps what it finished
    for name, summary in report["systems"].items():
        print(
            f"{name:<15} WA {100 * summary['mean_wa']:.2f} ± {100 * summary['std_wa_over_folds']:.2f}  "
            f"UA {100 * summary['mean_ua']:.2f} ± {100 * summary['std_ua_over_folds']:.2f}  "
            f"({summary['num_seeds']} seed(s) x {summary['num_folds']} folds, {summary['num_parameters']:,} params)"
        )
    print(f"report: {output}")
    return report


if __name__ == "__main__":
    main()
