"""
CPU cost of the TFT's dropout: training-step time of TFT variants against the equal-size AST (which has no dropout
by default), interleaved in one process, and dropout's share (`aten::bernoulli_`) of the default TFT's step.

    OMP_NUM_THREADS=1 python benchmarks/dropout_cost.py --output benchmarks/results/dropout_cost_cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed

from modeling_tft import TFTConfig, TFTForAudioClassification

TFT_VARIANTS = {  # TFTConfig overrides on top of speed.TFT_KWARGS
    "tft": {},
    "tft_no_activation_dropout": {"activation_dropout": 0.0},
    "tft_no_dropout": {"activation_dropout": 0.0, "hidden_dropout_prob": 0.0},
    "tft_lean (search L1)": {"activation_dropout": 0.0, "frequency_conv_channels": 16, "stream_pooling": "separate"},
}
BATCH = 16


def dropout_share(model: torch.nn.Module, step) -> float:
    """Fraction of the step's self CPU time spent drawing dropout masks."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        for _ in range(3):
            step()
    events = profile.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    return sum(e.self_cpu_time_total for e in events if e.key == "aten::bernoulli_") / total


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    device, variant, num_frames = torch.device("cpu"), speed.Variant("fp32", False), speed.frames(speed.CLIP_SECONDS)
    labels = torch.randint(0, speed.NUM_LABELS, (BATCH,))
    models = {
        name: TFTForAudioClassification(
            TFTConfig(**speed.TFT_KWARGS, **overrides, max_frames=num_frames, num_labels=speed.NUM_LABELS)
        )
        for name, overrides in TFT_VARIANTS.items()
    }
    models["ast"] = speed.build_model("ast", num_frames)
    steps = {
        name: speed.training_step(
            model.train(),
            speed.model_inputs("ast" if name == "ast" else "tft", BATCH, num_frames, speed.NUM_MEL_BINS, device),
            labels,
            speed.make_optimizer(model, device),
            variant,
            device,
        )
        for name, model in models.items()
    }
    times = speed.time_interleaved(steps, warmup=2, repeats=args.repeats, device=device)
    summary = {name: speed.summarize(times, name) for name in steps}
    ast = summary["ast"]["median_s"]
    report = {
        "benchmark": "dropout_cost",
        "what": f"training step (forward + backward + AdamW), batch {BATCH}, 3-s clips, fp32; median of "
        f"{args.repeats} interleaved repeats; `ast_over_model` = AST step time / this model's (> 1: faster)",
        "variants": {name: TFT_VARIANTS.get(name, speed.AST_KWARGS) for name in steps},
        "steps": {name: {**s, "ast_over_model": ast / s["median_s"]} for name, s in summary.items()},
        "tft_dropout_share_of_step": dropout_share(models["tft"], steps["tft"]),
        "environment": speed.environment(sys.argv if argv is None else ["benchmarks/dropout_cost.py", *argv], device,
                                         None),
    }  # fmt: skip
    for name, s in report["steps"].items():
        print(f"{name:<28} {1000 * s['median_s']:7.1f} ms   AST / model {s['ast_over_model']:.2f}")
    print(f"dropout masks (aten::bernoulli_): {100 * report['tft_dropout_share_of_step']:.1f} % of the TFT's step")
    if args.output:
        args.output.write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
