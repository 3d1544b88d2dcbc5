"""
Markdown tables and plots from the speed benchmark's JSON (`benchmarks/results/{speed,scaling}_<device>.json`).

    python benchmarks/make_tables.py                       # rewrites the speed section of docs/RESULTS.md
    python benchmarks/make_tables.py --print               # prints it instead

Only the text between `<!-- speed:start -->` and `<!-- speed:end -->` (and, from `accuracy_<corpus>.json`,
between `<!-- accuracy:start -->` and `<!-- accuracy:end -->`) in docs/RESULTS.md is replaced.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
RESULTS_MD = REPO_ROOT / "docs" / "RESULTS.md"
START, END = "<!-- speed:start -->", "<!-- speed:end -->"
ACCURACY_START, ACCURACY_END = "<!-- accuracy:start -->", "<!-- accuracy:end -->"
MODEL_CARD = REPO_ROOT / "model_card.md"
HEADLINE_START, HEADLINE_END = "<!-- headline:start -->", "<!-- headline:end -->"
NAMES = {"tft": "TFT", "ast": "AST"}
TFT_DESIGNS = {  # a report's `tft_design`, where its TFT is not today's default design
    "first": "TFT of the first design (absolute positions, trajectory band tokens)",
    "length_free_mean_pooling": "TFT of the length-free design with mean pooling (S3, the default until attentive "
    "pooling)",
    "j1": "TFT of the J1 design (linear time tokens, 2-bin band tokens; the default until search CV5)",
    "cv5": "TFT of the CV5 design (the position convolution at normal(0.02) init; the default until search PC1)",
    "ss1": "TFT of the SS1 design (shared-stem band tokens; an option, not adopted: search SS1)",
}
SYSTEM_NAMES = {
    "tft": "TFT (full)",
    "time_only": "TFT: time branch only",
    "frequency_only": "TFT: frequency branch only",
    "no_fusion": "TFT: both branches, no fusion",
    "tft_first_design": "TFT, first design (absolute positions, trajectory band tokens)",
    "tft_length_free": "TFT, length-free with mean pooling (S3 design)",
    "tft_separate_pooling": "TFT, each stream pooled then averaged (P2 design)",
    "tft_lr5e-4": "TFT (full), J1 design, learning rate 5e-4 (the recipe before search LR2)",
    "tft_linear_time": "TFT, J1 design (linear time tokens, 2-bin band tokens; the default before search CV5)",
    "tft_cv5": "TFT, CV5 design (position convolution at normal(0.02) init; the default before search PC1)",
    "no_fusion_separate_pooling": "TFT: both branches, no fusion (each stream pooled then averaged)",
    "ast": "AST (equal size)",
    "ast_windows": "AST (equal size), whole clips in 3-s windows",
}
GPU_COMMANDS = (
    "python benchmarks/speed.py --device cuda --batch_sizes 1 16 64 --train_batch_sizes 16 64 --repeats 20 "
    "--output benchmarks/results/speed_cuda.json",
    "python benchmarks/speed.py --device cuda --scaling --repeats 10 --output benchmarks/results/scaling_cuda.json",
)


# ---------------------------------------------------------------- formatting
def fmt(value: Any, digits: int = 3) -> str:
    """Numbers with `digits` significant figures (thousands separated); None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 10 ** (digits - 1):
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def variant(row: dict[str, Any]) -> str:
    return row["precision"] + (" + compile" if row["compile"] else "")


def heading(level: int, text: str) -> str:
    return "#" * level + " " + text


# ---------------------------------------------------------------- one report
def provenance(report: dict[str, Any]) -> str:
    """Exact command, date, hardware and versions of a report, as a bullet list."""
    meta, hw = report["meta"], report["meta"]["hardware"]
    machine = f"{hw['cpu_model']}, {hw['cpu_count']} cores visible, torch.get_num_threads() = {hw['torch_num_threads']}"
    if "gpu_name" in hw:
        machine += (
            f"; GPU {hw['gpu_name']} ({hw['gpu_memory_gb']} GB, bf16 dense peak {fmt(hw['peak_bf16_tflops'])} TFLOP/s)"
        )
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v)
    settings = meta["settings"]
    return "\n".join(
        [
            f"- command: `{meta['command']}` (git `{meta['git']}`, {meta['wall_seconds']} s wall)",
            f"- date: {meta['date_utc']}",
            f"- hardware: {machine}; load average {hw['load_average_at_start']} at start, "
            f"{hw.get('load_average_at_end')} at end (shared machine)",
            f"- versions: {versions}",
            f"- timing: median of {settings['repeats']} timed repeats after {settings['warmup']} warm-up calls, "
            "TFT and AST interleaved in one process (order alternating per repeat); CPU util = process CPU seconds / "
            "(wall seconds × torch threads) over the timed calls, well below 1 means the cores were shared",
            f"- peak memory: {meta['memory_method']}",
            *([f"- note: {meta['note']}"] if meta.get("note") else []),
        ]
    )


def models_table(models: dict[str, dict[str, Any]]) -> str:
    rows = [
        [NAMES[name], m["parameters"], m["forward_flops_per_clip"] / 1e9, m["training_flops_per_clip"] / 1e9]
        for name, m in models.items()
    ]
    headers = ["model", "parameters", "forward GFLOP / clip", "training GFLOP / clip (≈ 3× forward)"]
    return md_table(headers, rows)


def fe_rtf(report: dict[str, Any], extractor: str, batch: int) -> float | None:
    for row in report.get("feature_extraction", []):
        if row["extractor"] == extractor and row["batch_size"] == batch:
            return row["rtf"]
    return None


def inference_table(report: dict[str, Any]) -> str:
    headers = [
        "model",
        "variant",
        "batch",
        "latency ms / batch",
        "clips/s",
        "RTF (model)",
        "RTF (+ own feature extractor)",
        "peak mem MiB",
        "TFLOP/s",
        "MFU",
        "CPU util",
    ]
    rows = []
    for r in (r for r in report["results"] if r["mode"] == "inference"):
        fe = fe_rtf(report, r["model"], r["batch_size"])
        rows.append(
            [
                NAMES[r["model"]],
                variant(r),
                r["batch_size"],
                r["latency_ms"],
                r["clips_per_s"],
                r["rtf"],
                r["rtf"] + fe if fe is not None else None,
                r["peak_memory_mb"],
                r["achieved_tflops"],
                r["mfu"],
                r.get("cpu_utilization"),
            ]
        )
    return md_table(headers, rows)


def training_table(report: dict[str, Any]) -> str:
    headers = ["model", "variant", "batch", "step ms", "clips/s", "peak mem MiB", "TFLOP/s (3× fwd)", "MFU", "CPU util"]
    rows = [
        [
            NAMES[r["model"]],
            variant(r),
            r["batch_size"],
            1000 * r["median_s"],
            r["clips_per_s"],
            r["peak_memory_mb"],
            r["achieved_tflops"],
            r["mfu"],
            r.get("cpu_utilization"),
        ]
        for r in report["results"]
        if r["mode"] == "training"
    ]
    return md_table(headers, rows)


def ratio_table(report: dict[str, Any]) -> str:
    rows = [[c["mode"], variant(c), c["batch_size"], c["tft_over_ast_throughput"]] for c in report["comparisons"]]
    return md_table(["mode", "variant", "batch", "TFT / AST throughput"], rows)


def fe_table(report: dict[str, Any]) -> str:
    rows = [
        [
            "TFTFeatureExtractor (torchaudio, batched)"
            if r["extractor"] == "tft"
            else "ASTFeatureExtractor (Kaldi fbank, per clip)",
            r["batch_size"],
            1000 * r["median_s"],
            r["clips_per_s"],
            r["rtf"],
        ]
        for r in report["feature_extraction"]
    ]
    return md_table(["extractor", "batch", "ms / batch", "clips/s", "RTF"], rows)


def profile_tables(profile: dict[str, Any]) -> str:
    parts = [
        f"torch.profiler, eager {profile['variant']} inference at batch {profile['batch_size']}, top ops by self time:"
    ]
    for name, ops in profile["ops"].items():
        rows = [[op["op"], op["self_ms_per_call"], 100 * op["share"], op["count_per_call"]] for op in ops]
        parts += [f"\n{NAMES[name]}:\n", md_table(["op", "self ms / batch", "% of self time", "calls / batch"], rows)]
    return "\n".join(parts)


def scaling_table(report: dict[str, Any]) -> str:
    headers = [
        "clip s",
        "frames",
        "model",
        "parameters",
        "forward GFLOP / clip",
        "batch",
        "inference ms / batch",
        "RTF",
        "TFT / AST inference",
        "training clips/s",
        "TFT / AST training",
        "training peak MiB",
        "CPU util (inf. / train)",
    ]
    rows = []
    for r in (r for r in report["results"] if r["mode"] == "inference"):
        seconds = r["clip_seconds"]
        info = report["models"][str(seconds)][r["model"]]
        train = next(
            t
            for t in report["results"]
            if t["mode"] == "training"
            and t["model"] == r["model"]
            and t["clip_seconds"] == seconds
            and variant(t) == variant(r)
        )
        is_tft = r["model"] == "tft"
        utilization = [x.get("cpu_utilization") for x in (r, train)]
        rows.append(
            [
                seconds,
                r["num_frames"],
                NAMES[r["model"]],
                info["parameters"],
                info["forward_flops_per_clip"] / 1e9,
                r["batch_size"],
                r["latency_ms"],
                r["rtf"],
                scaling_ratio(report, seconds, variant(r), "inference") if is_tft else None,
                train["clips_per_s"],
                scaling_ratio(report, seconds, variant(r), "training") if is_tft else None,
                train["peak_memory_mb"],
                " / ".join(fmt(u, 2) for u in utilization),
            ]
        )
    return md_table(headers, rows)


def scaling_ratio(report: dict[str, Any], seconds: float, label: str, mode: str) -> float | None:
    """TFT / AST throughput at one clip length."""
    speed = {
        r["model"]: r["clips_per_s"]
        for r in report["results"]
        if r["mode"] == mode and r["clip_seconds"] == seconds and variant(r) == label
    }
    return speed["tft"] / speed["ast"] if {"tft", "ast"} <= speed.keys() else None


def render_report(report: dict[str, Any], heading_level: int = 3, with_provenance: bool = True) -> str:
    """Markdown of one speed or scaling report (also what speed.py prints at the end)."""
    level = heading_level + 1
    parts = [provenance(report)] if with_provenance else []
    if report["kind"] == "speed":
        seconds = report["meta"]["settings"]["clip_seconds"]
        parts += [
            heading(level, f"Models ({seconds:g}-s clip)"),
            models_table(report["models"]),
            heading(level, "Inference"),
            inference_table(report),
            heading(level, "Training step (forward + backward + AdamW)"),
            training_table(report),
            heading(level, "TFT vs AST"),
            ratio_table(report),
            heading(level, f"Feature extraction ({seconds:g}-s clips, CPU)"),
            fe_table(report),
        ]
        if "profile" in report:
            parts += [heading(level, "Profile"), profile_tables(report["profile"])]
    else:
        parts += [heading(level, "Cost vs clip length"), scaling_table(report)]
    return "\n\n".join(parts)


# ---------------------------------------------------------------- plot
def plot_scaling(report: dict[str, Any], path: Path) -> Path:
    """Forward GFLOP/clip, inference latency and training throughput vs clip length, both models (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    label = variant(report["results"][0])
    for name in NAMES:
        rows = [r for r in report["results"] if r["model"] == name and variant(r) == label]
        infer = sorted((r["clip_seconds"], r["latency_ms"]) for r in rows if r["mode"] == "inference")
        train = sorted((r["clip_seconds"], r["clips_per_s"]) for r in rows if r["mode"] == "training")
        flops = sorted((float(s), m[name]["forward_flops_per_clip"] / 1e9) for s, m in report["models"].items())
        for axis, points in zip(axes, (flops, infer, train), strict=True):
            axis.plot(*zip(*points, strict=True), marker="o", label=NAMES[name])
    batch = report["results"][0]["batch_size"]
    device = report["meta"]["hardware"]["device"]
    titles = ("forward GFLOP / clip", f"inference ms / batch of {batch}", f"training clips/s (batch {batch})")
    for axis, title in zip(axes, titles, strict=True):
        axis.set(xscale="log", yscale="log", xlabel="clip length (s)", title=title)
        axis.set_xticks([float(s) for s in report["models"]], [f"{float(s):g}" for s in report["models"]])
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    fig.suptitle(f"TFT vs equal-size AST, cost vs clip length ({device}, {label})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- docs/RESULTS.md section
def load(results_dir: Path, kind: str) -> dict[str, dict[str, Any]]:
    """`{device: report}` from `<kind>_<device>.json`."""
    return {p.stem.split("_", 1)[1]: json.loads(p.read_text()) for p in sorted(results_dir.glob(f"{kind}_*.json"))}


def targets_table(speed: dict[str, dict[str, Any]]) -> str:
    """Where we stand against the issue's two targets; unmeasured ones say so."""
    found: dict[str, dict[str, Any]] = {}
    for report in speed.values():
        for target in report.get("targets", []):
            if target["value"] is not None or target["target"] not in found:
                found[target["target"]] = target
    rows = []
    for text, target in found.items():
        if target["value"] is None:
            rows.append([text, "not measured yet (needs " + ("a GPU" if "GPU" in text else "a CPU run") + ")", "–"])
        else:
            rows.append([text, fmt(target["value"]), "**met**" if target["met"] else "**missed**"])
    return md_table(["target", "measured", "status"], rows)


def render_section(results_dir: Path, md_path: Path) -> str:
    """The whole generated speed section (between the markers), plots written next to the JSON."""
    speed, scaling = load(results_dir, "speed"), load(results_dir, "scaling")
    rel = os.path.relpath(results_dir, md_path.parent)
    parts = [
        f"_Generated by `python benchmarks/make_tables.py` from `{os.path.relpath(results_dir, REPO_ROOT)}/*.json`; "
        "edit the benchmark, not this text. Method: `benchmarks/README.md`._",
        "TFT (default `TFTConfig`) vs an equal-size `transformers` AST "
        "(`ASTConfig(hidden_size=192, num_hidden_layers=6, num_attention_heads=4, intermediate_size=768, "
        "num_mel_bins=64, max_length=frames)`), random init, same `(batch, frames, 64)` log-mel input. "
        "RTF = compute seconds / audio seconds (lower is better). FLOPs: `torch.utils.flop_counter.FlopCounterMode` "
        "over one forward pass (matmuls and convolutions, eager attention); a training step is taken as 3× forward.",
        heading(3, "Targets"),
        targets_table(speed),
    ]
    if "cuda" not in speed:
        parts.append(
            "**GPU figures are still to be measured**: no GPU was available in the session that produced these "
            "results, so the GPU training-throughput target (bf16, with and without `torch.compile`) is open. "
            "Commands for a GPU machine:\n\n```bash\n"
            + "\n".join(GPU_COMMANDS)
            + "\npython benchmarks/make_tables.py\n```"
        )
    for device, report in speed.items():
        parts += [
            heading(3, f"{device.upper()}: {report['meta']['settings']['clip_seconds']:g}-s clips"),
            render_report(report, heading_level=3),
        ]
    for device, report in scaling.items():
        plot = plot_scaling(report, results_dir / f"scaling_{device}.png")
        parts += [
            heading(3, f"{device.upper()}: cost vs clip length"),
            render_report(report, heading_level=3),
            f"![cost vs clip length, {device}]({rel}/{plot.name})",
        ]
    return "\n\n".join(parts)


def write_section(md_path: Path, body: str, markers: tuple[str, str] = (START, END), title: str = "Speed") -> None:
    """Replace the text between `markers` (create the file / section if missing)."""
    start, end = markers
    block = f"{start}\n{body}\n{end}"
    text = md_path.read_text() if md_path.exists() else "# Results\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n## {title}\n\n{block}\n"
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(text)


# ---------------------------------------------------------------- accuracy
def percent(mean: float, std: float | None) -> str:
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def wall_time(runs: list[dict]) -> str:
    """Summed wall time of a system's runs, saying which folds an earlier (interrupted) process finished."""
    total = f"{sum(run['wall_time_s'] for run in runs):.0f}"
    reused = [f"seed {run['seed']} folds {', '.join(map(str, run['reused_folds']))}"
              for run in runs if run.get("reused_folds")]  # fmt: skip
    return total + (f" (without {'; '.join(reused)}: finished by an earlier process, not timed)" if reused else "")


def model_selection(report: dict[str, Any]) -> str:
    """How each fold's model was chosen, from the validation speakers the runs used."""
    runs = [run for s in report["systems"].values() for run in s["runs"]]
    counts = {run.get("validation_speakers", 1) for run in runs}
    averaged = sorted({len(f["averaged_epochs"]) for run in runs for f in run["folds"] if f.get("averaged_epochs")})
    averaging = f"; runs marked so test the mean weights of their last {'/'.join(map(str, averaged))} epochs"
    averaging = averaging if averaged else ""
    if counts == {0}:
        return "no validation speakers: every non-test speaker trains, the last epoch is kept" + averaging
    held_out = f"{'/'.join(map(str, sorted(counts)))} training speaker(s) held out per fold; best validation UA epoch"
    return held_out + averaging


def epoch_kept(fold: dict[str, Any]) -> str:
    """The tested weights of a fold: its best epoch, the last, or the mean of the last epochs' weights."""
    if fold.get("averaged_epochs"):
        return f"mean of {fold['averaged_epochs'][0]}–{fold['averaged_epochs'][-1]}"
    return str(fold.get("best_epoch") or "last")


def normalisation(report: dict[str, Any]) -> str:
    names = {run.get("normalization", "utterance") for s in report["systems"].values() for run in s["runs"]}
    meanings = {
        "utterance": "per clip, as a single-clip `pipeline` does",
        "global": "training-set mean/std",
        "speaker": "per speaker, from each speaker's unlabelled audio, test speakers included",
        "none": "none",
    }
    return "; ".join(f"`{name}` ({meanings.get(name, name)})" for name in sorted(names))


FLOOR_VARIANT = {"global": "none", "speaker": "speaker"}  # run_train normalisation -> floor feature variant


def matching_floor(report: dict[str, Any], baselines: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The floor trained on the TFT's corpus, split and feature normalisation, if `statistics_baseline.py` ran it."""
    runs = report["systems"]["tft"]["runs"]
    held_out = {run.get("validation_speakers", 1) for run in runs}
    variant = {FLOOR_VARIANT.get(run.get("normalization", "utterance")) for run in runs}
    if len(held_out) != 1 or len(variant) != 1 or None in variant:
        return None
    for baseline in baselines.values():
        same = baseline["corpus"] == report["corpus"] and baseline["protocol"] == report["protocol"]
        if same and baseline.get("validation_speakers", 0) in held_out:
            summary = baseline["variants"].get(next(iter(variant)))
            return None if summary is None else {**summary, "command": baseline["command"]}
    return None


def accuracy_report(name: str, report: dict[str, Any], baselines: dict[str, dict[str, Any]] | None = None) -> str:
    """Summary, per-fold and target tables of one accuracy benchmark (`accuracy_<name>.json`).

    With `baselines` (the `statistics_baseline.py` reports), the target table compares the TFT with the floor
    trained on the same corpus, split and feature normalisation.
    """
    env = report["environment"]
    systems = report["systems"]
    environments = [run.get("environment", env) for summary in systems.values() for run in summary["runs"]]
    threads = " or ".join(sorted({str(e["torch_threads"]) for e in environments}))
    cores = " or ".join(sorted({str(e["cpu_cores"]) for e in environments if "cpu_cores" in e})) or "?"
    corpus = report["corpus"]
    invalid = report.get("invalid_systems", {})
    names = {key: SYSTEM_NAMES.get(key, key) + (" — test scores INVALID" if key in invalid else "") for key in systems}
    lines = [
        heading(3, f"{corpus.upper()} — {report['protocol']}" + ("" if name == corpus else f" ({name})")),
        *(f"- **{SYSTEM_NAMES.get(key, key)}: test scores invalid.** {why}" for key, why in invalid.items()),
        *([f"- TFT rows: {TFT_DESIGNS[report['tft_design']]}, not today's default"]
          if report.get("tft_design") in TFT_DESIGNS else []),
        *(f"- {note}" for note in report.get("notes", [])),
        f"- command: `{report['command']}` (recipe `{report['recipe']}`; each system's exact `run_train.py` "
        "command is in the JSON)",
        f"- model selection: {model_selection(report)}; each test split scored once",
        f"- feature normalisation: {normalisation(report)}",
        f"- hardware: {env['device']}, {cores} cores, torch threads per run: {threads}; "
        f"python {env['python']}, torch {env['torch']}, transformers {env['transformers']}; {env['date']}",
        "",
        md_table(
            ["system", "parameters", "seeds × folds", "WA % (mean ± std over all folds)", "UA %",
             "UA % std over seed means", "wall time s"],
            [
                [
                    names[name],
                    summary["num_parameters"],
                    f"{summary['num_seeds']} × {summary['num_folds']}",
                    percent(summary["mean_wa"], summary["std_wa_over_folds"]),
                    percent(summary["mean_ua"], summary["std_ua_over_folds"]),
                    "–" if summary["std_ua_over_seeds"] is None else f"{100 * summary['std_ua_over_seeds']:.2f}",
                    wall_time(summary["runs"]),
                ]
                for name, summary in systems.items()
            ],
        ),
        "",
        md_table(
            ["system", "seed", "fold", "test speakers", "validation speakers", "epoch kept", "validation UA %",
             "WA %", "UA %"],
            [
                [names[name], run["seed"], fold["fold"], ", ".join(fold["test_speakers"]),
                 ", ".join(fold.get("validation_speakers", [])) or "–", epoch_kept(fold),
                 "–" if fold.get("validation_ua") is None else f"{100 * fold['validation_ua']:.2f}",
                 f"{100 * fold['wa']:.2f}", f"{100 * fold['ua']:.2f}"]
                for name, summary in systems.items()
                for run in summary["runs"]
                for fold in run["folds"]
            ],
        ),
    ]  # fmt: skip
    targets = []
    compared = [systems[key] for key in ("tft", "ast") if key in systems]  # what the targets below compare
    seeds = min((summary["num_seeds"] for summary in compared or systems.values()), default=0)

    def status(met: bool) -> str:  # issue 11 asks for 3 seeds before a target counts as met
        return ("**met**" if seeds >= 3 else f"met on {seeds} seed(s), not yet on the 3 asked") if met else "**missed**"

    if "tft" in systems and "ast" in systems and "ast" not in invalid:
        gain = 100 * (systems["tft"]["mean_ua"] - systems["ast"]["mean_ua"])
        targets.append(["TFT ≥ equal-size AST + 3 points UA", f"{gain:+.2f} points", status(gain >= 3)])
    if "tft" in systems and "ast_windows" in systems:  # the AST on whole clips too, as the TFT is scored
        seeds_scored = sorted(run["seed"] for run in systems["ast_windows"]["runs"])
        tft = [f["ua"] for run in systems["tft"]["runs"] if run["seed"] in seeds_scored for f in run["folds"]]
        if tft:
            gain = 100 * (sum(tft) / len(tft) - systems["ast_windows"]["mean_ua"])
            label = "TFT ≥ equal-size AST + 3 points UA, the AST scored on whole clips in windows"
            measured = f"{gain:+.2f} points (the TFT on the same seeds: {', '.join(map(str, seeds_scored))})"
            met = "**met**" if len(seeds_scored) >= 3 else f"met on {len(seeds_scored)} seed(s), not yet on the 3 asked"
            targets.append([label, measured, met if gain >= 3 else "**missed**"])  # its own seeds, not `seeds`
    floor = matching_floor(report, baselines or {}) if "tft" in systems else None
    if floor is not None:
        gain = 100 * (systems["tft"]["mean_ua"] - floor["mean_ua"])
        measured = f"{gain:+.2f} points (floor {100 * floor['mean_ua']:.2f} %: `{floor['command']}`)"
        targets.append(["TFT ≥ statistics floor + 3 points UA", measured, status(gain >= 3)])
    branches = [key for key in ("time_only", "frequency_only", "no_fusion") if key in systems]
    if "tft" in systems and branches:  # the paper's ablation ordering: the full TFT above every ablation
        gaps = {key: 100 * (systems["tft"]["mean_ua"] - systems[key]["mean_ua"]) for key in branches}
        measured = "; ".join(f"{SYSTEM_NAMES[key]} {gap:+.2f}" for key, gap in gaps.items())
        ablation_seeds = min(systems[key]["num_seeds"] for key in ["tft", *branches])
        met = "**met**" if ablation_seeds >= 3 else f"met on {ablation_seeds} seed(s), not yet on the 3 asked"
        targets.append(["Full TFT UA above each ablation (the paper's ordering)", f"full minus: {measured} points",
                        met if min(gaps.values()) > 0 else "**missed**"])  # fmt: skip
    if corpus == "casia" and "tft" in systems:
        wa = 100 * systems["tft"]["mean_wa"]
        targets.append(["CASIA LOSO WA ≥ 45 % (milestone)", f"{wa:.2f} %", status(wa >= 45)])
        targets.append(["CASIA LOSO WA ≥ 56 %", f"{wa:.2f} %", status(wa >= 56)])
    if targets:
        lines += ["", md_table(["target", "measured", "status"], targets)]
    return "\n".join(lines)


LATE_EPOCHS = 4  # the search's late-epoch statistic: mean validation UA over the last epochs of each fold


def search_report(name: str, search: dict[str, Any], results_dir: Path) -> str:
    """The search record `search_<corpus>.json`: every variant tried, its mean validation UA, and the decision.

    Each entry points at the accuracy report of its run (`report`, relative to `results_dir`) and a system in it;
    validation UA is read from there, so the record cannot disagree with the runs.
    """
    rows = []
    for entry in search["entries"]:
        report = json.loads((results_dir / entry["report"]).read_text())
        run = next(r for r in report["systems"][entry["system"]]["runs"] if r["seed"] == entry.get("seed", 42))
        curves = [f["validation_ua_by_epoch"] for f in run["folds"] if f.get("validation_ua_by_epoch")]
        averaged = [f["validation_ua"] for f in run["folds"] if f.get("averaged_epochs")]
        # the best epoch's validation UA (of an averaged run: the best of its curve, the model it did not test)
        validation = [max(f["validation_ua_by_epoch"]) if f.get("averaged_epochs") else f["validation_ua"]
                      for f in run["folds"]]  # fmt: skip
        final = [curve[-1] for curve in curves]
        late = [sum(curve[-LATE_EPOCHS:]) / LATE_EPOCHS for curve in curves if len(curve) >= LATE_EPOCHS]
        rows.append([
            entry["id"], SYSTEM_NAMES.get(entry["system"], entry["system"]), entry["change"],
            run.get("normalization", "utterance"), run["seed"],
            " / ".join(f"{100 * v:.1f}" for v in validation), f"**{100 * sum(validation) / len(validation):.2f}**",
            f"{100 * sum(final) / len(final):.2f}" if len(final) == len(validation) else "—",
            f"{100 * sum(late) / len(late):.2f}" if len(late) == len(validation) else "—",
            f"{100 * sum(averaged) / len(averaged):.2f}" if len(averaged) == len(validation) else "—",
            entry["decision"], entry.get("reason", ""),
        ])  # fmt: skip
    return "\n".join([
        heading(3, f"Search record: {search['corpus'].upper()} ({name})"),
        f"- {search['rule']}",
        f"- reports: `{os.path.relpath(results_dir, REPO_ROOT)}/` (each entry's `report`; the exact `run_train.py` "
        "commands and test scores are there, test scores were not used to decide)",
        "- best-epoch validation UA is each fold's best epoch (the checkpoint that is tested), so it is optimistic;"
        " last-epoch validation UA (the end of the cosine schedule) is the unselected figure, read beside it;"
        f" the mean over the last {LATE_EPOCHS} epochs is the least noisy of the three and the one that matches the"
        " final protocols, which test the last epoch (decisions from 2026-12-02 on use it); a run with weight"
        " averaging (`--average_last_epochs`) tests the mean weights of its last epochs, validated once: its own"
        " column, compared with the late-epoch mean of the run it builds on",
        "",
        md_table(["id", "system", "change (against the entry it builds on)", "normalisation", "seed",
                  "best-epoch validation UA % per fold", "mean best-epoch validation UA %",
                  "mean last-epoch validation UA %", f"mean validation UA % of the last {LATE_EPOCHS} epochs",
                  "validation UA % of the averaged weights (tested)", "decision", "why"], rows),
    ])  # fmt: skip


def render_accuracy_section(results_dir: Path) -> str:
    reports = load(results_dir, "accuracy")
    reports.pop("demo", None)  # the smoke corpus is not a result
    parts = [
        f"_Generated by `python benchmarks/make_tables.py` from `{os.path.relpath(results_dir, REPO_ROOT)}/"
        "accuracy_*.json`; method and commands: `benchmarks/README.md`. Every system was trained by `run_train.py` "
        "with the same recipe (features, folds, epochs, optimiser, seeds); only the model differs, and from "
        "2026-12-02 its peak learning rate (each model's own best on validation speakers; which run used "
        "which: `benchmarks/README.md`). "
        "WA = overall accuracy, UA = mean per-class recall._"
    ]
    if not reports:
        parts.append("No accuracy benchmark has been run yet.")
    baselines = load(results_dir, "baseline")
    parts += [accuracy_report(name, report, baselines) for name, report in reports.items()]
    if baselines:
        parts.append(baseline_report(baselines))
    parts += [search_report(name, search, results_dir) for name, search in load(results_dir, "search").items()]
    return "\n\n".join(parts)


def baseline_report(baselines: dict[str, dict[str, Any]]) -> str:
    """The logistic-regression floor of `statistics_baseline.py`, one row per corpus, split and feature variant."""
    variants = {"none": "as extracted", "speaker": "standardised per speaker (uses unlabelled test-speaker stats)"}

    def training(report: dict[str, Any]) -> str:
        held_out = report.get("validation_speakers", 0)
        return f"non-test minus {held_out} validation (as `run_train.py`)" if held_out else "every non-test speaker"

    rows = [
        [report["corpus"].upper(), report["protocol"], training(report), variants.get(name, name),
         len(summary["folds"]),
         percent(summary["mean_wa"], summary["std_wa_over_folds"]),
         percent(summary["mean_ua"], summary["std_ua_over_folds"]),
         f"{100 * summary['mean_validation_ua']:.2f}" if "mean_validation_ua" in summary else "—"]
        for report in baselines.values()
        for name, summary in report["variants"].items()
    ]  # fmt: skip
    first = next(iter(baselines.values()))
    return "\n".join([
        heading(3, "Reference floor: logistic regression on utterance statistics"),
        f"- {first['model']}; same folds as above; validation speakers drawn as `run_train.py --seed 42` draws them",
        *(f"- `{report['command']}`: {report['environment']['device']}, python {report['environment']['python']}, "
          f"{report['environment']['date']}" for report in baselines.values()),
        "",
        md_table(["corpus", "protocol", "training speakers", "features", "folds", "WA %", "UA %",
                  "validation UA %"], rows),
    ])  # fmt: skip


# ---------------------------------------------------------------- model card headline
def render_headline(results_dir: Path) -> str:
    """TFT vs AST in a few rows (accuracy per benchmark, speed per device) for the model card template."""
    rows = []
    for name, report in load(results_dir, "accuracy").items():
        systems = report["systems"]
        if name == "demo" or not {"tft", "ast"} <= set(systems) or report.get("invalid_systems"):
            continue
        tft, ast = systems["tft"], systems["ast"]
        counts = {run.get("validation_speakers", 1) for run in tft["runs"]}
        split = "all non-test speakers train" if counts == {0} else "validation speaker(s) held out"
        normalizations = sorted({run.get("normalization", "utterance") for s in (tft, ast) for run in s["runs"]})
        split += "".join(f"; {n} feature normalisation" for n in normalizations)
        seeds = f"{tft['num_seeds']} seed(s)"
        seeds += "" if ast["num_seeds"] == tft["num_seeds"] else f" (AST: {ast['num_seeds']})"
        label = f"{report['corpus'].upper()} {report['protocol']} ({split}; {seeds} × {tft['num_folds']} folds): "
        label += "WA / UA %"
        if report.get("tft_design") in TFT_DESIGNS:
            label += f" — {TFT_DESIGNS[report['tft_design']]}"
        rows.append([label] + [f"{100 * s['mean_wa']:.2f} / {100 * s['mean_ua']:.2f}" for s in (tft, ast)])
    for device, report in load(results_dir, "speed").items():
        hardware = report["meta"]["hardware"]
        where = hardware.get("gpu_name") or f"{hardware['cpu_model']}, {hardware['torch_num_threads']} threads"
        for mode, key, what in (("inference", "rtf", "real-time factor"), ("training", "clips_per_s", "clips/s")):
            rows_of_mode = [
                r for r in report["results"]
                if r["mode"] == mode and r["precision"] == ("fp32" if device == "cpu" else "bf16") and not r["compile"]
            ]  # fmt: skip
            batches = {r["batch_size"] for r in rows_of_mode}
            batch = 16 if 16 in batches else max(batches, default=0)  # 16: the batch of the targets
            picked = {r["model"]: r for r in rows_of_mode if r["batch_size"] == batch}
            if {"tft", "ast"} <= set(picked):
                clip, precision = fmt(picked["tft"]["clip_seconds"]), variant(picked["tft"])
                label = f"{mode.capitalize()} {what}, {clip}-s clips, batch {batch}, {device} ({where}, {precision})"
                rows.append([label, fmt(picked["tft"][key]), fmt(picked["ast"][key])])
    if "cuda" not in load(results_dir, "speed"):
        rows.append(["GPU speed", "not measured yet", "not measured yet"])
    intro = (
        "_Project benchmarks (the recipe, not this checkpoint), generated by `python benchmarks/make_tables.py`; "
        "commands, hardware, versions and per-fold tables are in the project's `docs/RESULTS.md`._"
    )
    return intro + "\n\n" + md_table(["benchmark", "TFT", "AST of equal size"], rows)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results_dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--results_md", type=Path, default=RESULTS_MD)
    parser.add_argument("--model_card", type=Path, default=MODEL_CARD)
    parser.add_argument("--print", action="store_true", help="print the sections instead of writing them")
    args = parser.parse_args(argv)
    body = render_section(args.results_dir, args.results_md)
    accuracy = render_accuracy_section(args.results_dir)
    headline = render_headline(args.results_dir)
    if args.print:
        print(body + "\n\n" + accuracy + "\n\n" + headline)
    else:
        write_section(args.results_md, body)
        write_section(args.results_md, accuracy, (ACCURACY_START, ACCURACY_END), "Accuracy")
        write_section(args.model_card, headline, (HEADLINE_START, HEADLINE_END), "Benchmarks")
        print(f"updated {args.results_md} and {args.model_card}")
    return body


if __name__ == "__main__":
    main()
