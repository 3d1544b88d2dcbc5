"""
CPU inference speed: onnxruntime vs eager PyTorch for the default TFT (`tft-ser export-onnx`'s file).

The default `TFTConfig` (64 mel bins, 6 labels, random weights: speed does not depend on them) is exported once with
`tft_ser.onnx_export.export_onnx` (dynamic batch and length). Inputs are the feature extractor's (log-mel and prosody
contours) of low-noise clips of exactly 3 s and 10 s (no padding), batch 1 and 16; feature extraction is not timed.
PyTorch runs `model(**inputs)` under `torch.inference_mode()` with `torch.set_num_threads(T)`; onnxruntime runs the
CPU execution provider with `intra_op_num_threads = inter_op_num_threads = T`, sequential execution, all graph
optimisations. After warm-up calls, the two alternate call by call (order flipped every repeat); figures are medians
over the repeats of one call's wall time. The logits of both are compared on every setting.

    python benchmarks/onnx_speed.py --threads 1 --output benchmarks/results/onnx_cpu.json
    python benchmarks/onnx_speed.py --smoke --output /tmp/onnx_speed.json      # a tiny model, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402
import torch  # noqa: E402

from modeling_tft import TFTConfig, TFTFeatureExtractor, TFTForAudioClassification  # noqa: E402
from tft_ser.onnx_export import INPUT_NAMES, export_onnx  # noqa: E402
from tft_ser.training.environment import environment  # noqa: E402

SAMPLING_RATE = 16_000
NUM_LABELS = 6
SMOKE_KWARGS: dict[str, Any] = {"hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64,
                                "num_time_layers": 1, "num_frequency_layers": 1, "num_fusion_layers": 1}  # fmt: skip


def session(path: Path, threads: int) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def measure(
    model, runtime, inputs: dict[str, torch.Tensor], audio_s: float, repeats: int, warmup: int
) -> dict[str, Any]:
    """Median wall time of one call of each backend (alternating) on `audio_s` seconds of audio; logit difference."""
    feeds = {name: inputs[name].numpy() for name in INPUT_NAMES}

    def run_torch() -> np.ndarray:
        with torch.inference_mode():
            return model(**inputs).logits.numpy()

    def run_onnx() -> np.ndarray:
        return runtime.run(["logits"], feeds)[0]

    backends = {"pytorch": run_torch, "onnxruntime": run_onnx}
    for _ in range(warmup):
        for run in backends.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in backends}
    for repeat in range(repeats):
        for name in sorted(backends, reverse=repeat % 2 == 1):
            start = time.perf_counter()
            backends[name]()
            times[name].append(time.perf_counter() - start)
    difference = float(np.abs(run_torch() - run_onnx()).max())
    batch, frames = inputs["input_features"].shape[:2]
    result: dict[str, Any] = {"batch_size": int(batch), "frames": int(frames), "max_abs_logit_difference": difference}
    for name, values in times.items():
        median = statistics.median(values)
        result[name] = {
            "median_ms": round(1e3 * median, 2),
            "min_ms": round(1e3 * min(values), 2),
            "max_ms": round(1e3 * max(values), 2),
            "ms_per_clip": round(1e3 * median / batch, 2),
            "real_time_factor": round(median / audio_s, 5),
        }
    result["onnxruntime_speedup"] = round(result["pytorch"]["median_ms"] / result["onnxruntime"]["median_ms"], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="threads of both backends")
    parser.add_argument("--seconds", type=float, nargs="+", default=[3.0, 10.0], help="clip lengths")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="a tiny model, 0.5-s clips, 2 repeats")
    parser.add_argument("--output", type=Path, help="JSON report")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.batch_sizes, args.repeats, args.warmup = [0.5], [1, 2], 2, 1
    torch.set_num_threads(args.threads)
    meta = environment()
    started = time.perf_counter()
    torch.manual_seed(0)
    config = TFTConfig(num_labels=NUM_LABELS, **(SMOKE_KWARGS if args.smoke else {}))
    model = TFTForAudioClassification(config).eval()
    extractor = TFTFeatureExtractor(max_length=None)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tft.onnx"
        start = time.perf_counter()
        export = export_onnx(model, extractor, path)
        export_s = time.perf_counter() - start
        runtime = session(path, args.threads)
        rng = np.random.default_rng(0)
        results = []
        for seconds in args.seconds:
            for batch in args.batch_sizes:
                clips = [(0.1 * rng.standard_normal(round(seconds * SAMPLING_RATE))).astype(np.float32)] * batch
                inputs = dict(extractor(clips, sampling_rate=SAMPLING_RATE, padding="longest", return_tensors="pt"))
                result = {
                    "clip_seconds": seconds,
                    **measure(model, runtime, inputs, seconds * batch, args.repeats, args.warmup),
                }
                results.append(result)
                print(f"{seconds:5.1f} s  batch {batch:3d}  PyTorch {result['pytorch']['median_ms']:9.2f} ms  "
                      f"onnxruntime {result['onnxruntime']['median_ms']:9.2f} ms  "
                      f"speed-up {result['onnxruntime_speedup']:.2f}x  "
                      f"max |logit diff| {result['max_abs_logit_difference']:.1e}", flush=True)  # fmt: skip
        size_mb = path.stat().st_size / 1e6
    meta |= {
        "wall_seconds": round(time.perf_counter() - started, 1),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "versions_onnx": {"onnxruntime": onnxruntime.__version__, "onnx_opset": export.opset},
        "settings": vars(args) | {"output": str(args.output) if args.output else None},
        "method": __doc__.split("\n\n")[1].replace("\n", " "),
    }
    model_info = {
        "config": "TFTConfig() defaults" + (" (smoke: tiny)" if args.smoke else ""),
        "num_labels": NUM_LABELS,
        "parameters": sum(p.numel() for p in model.parameters()),
        "onnx_megabytes": round(size_mb, 2),
        "export_seconds": round(export_s, 1),
    }
    report = {"meta": meta, "kind": "onnx_speed", "model": model_info, "results": results}
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
