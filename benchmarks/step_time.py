"""CPU training-step time of TFT config variants against the default, one thread (the search record's step ratios).

    OMP_NUM_THREADS=1 python benchmarks/step_time.py "SG1=frequency_embedding=conv_segments"

Each variant is `NAME=OVERRIDES` (`--config_overrides` syntax); prints seconds per forward + backward + AdamW step
(batch 16, 3-s clips, 6 labels; mean of 6 steps after 2 untimed) and the ratio to the default config.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from modeling_tft import TFTConfig, TFTForAudioClassification
from training.arguments import rebuilt_config


def step_seconds(config: TFTConfig, batch: int, frames: int, steps: int = 6, warmup: int = 2) -> float:
    """Mean seconds of one training step of a fresh model of `config` on random features."""
    torch.manual_seed(0)
    model = TFTForAudioClassification(config).train()
    optimizer = torch.optim.AdamW(model.parameters())
    features, labels = torch.randn(batch, frames, config.num_mel_bins), torch.randint(0, config.num_labels, (batch,))
    times = []
    for _ in range(warmup + steps):
        start = time.perf_counter()
        model(input_features=features, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - start)
    return sum(times[warmup:]) / steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="NAME=OVERRIDES, e.g. SG1=frequency_embedding=conv_segments")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, batch {args.batch_size}, {args.frames} frames")
    default = step_seconds(TFTConfig(num_labels=6), args.batch_size, args.frames)
    print(f"default: {default:.3f} s per step")
    for variant in args.variants:
        name, _, overrides = variant.partition("=")
        config = TFTConfig(num_labels=6)
        config.update_from_string(overrides)
        config = rebuilt_config(config)
        seconds = step_seconds(config, args.batch_size, args.frames)
        print(f"{name}: {seconds:.3f} s per step, {seconds / default:.2f}x the default")


if __name__ == "__main__":
    main()
