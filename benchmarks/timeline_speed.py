"""
Speed and memory of the emotion timeline on long recordings (real CASIA clips + pauses), CPU.

    python benchmarks/timeline_speed.py --minutes 10 60 --threads 1 2 --output benchmarks/results/timeline_cpu.json

Each length and thread count runs in a fresh process (so that peak RSS is its own): decode the 16-bit WAV in
blocks, Silero VAD (one thread), the TFT over the speech windows (`--threads`). Real-time factor = wall seconds /
audio seconds. The model is a randomly initialised default `TFTConfig()` (6 labels; speed does not depend on the
weights) unless `--model` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

SR = 16000
CORPORA = Path(os.environ.get("TFT_CORPORA", ROOT.parent / "shared" / "corpora"))


def write_recording(path: Path, minutes: float, seed: int = 0) -> dict:
    """Stream CASIA clips separated by 0.3–3 s pauses (alternately digital silence and -60 dBFS noise) to a WAV."""
    rng = np.random.default_rng(seed)
    clips = sorted((CORPORA / "casia").glob("*/*/*.wav"))
    total, speech, index = int(minutes * 60 * SR), 0, 0
    with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as out:
        written = 0
        while written < total:
            gap = int(rng.uniform(0.3, 3.0) * SR)
            filler = (index % 2) * 1e-3 * rng.standard_normal(gap)
            clip = sf.read(clips[rng.integers(len(clips))], dtype="float32")[0]
            piece = np.concatenate([filler, clip])[: total - written]
            out.write(piece)
            written += len(piece)
            speech += max(0, len(piece) - gap)
            index += 1
    return {"audio_seconds": total / SR, "clip_seconds": speech / SR, "clips": index}


def run_case(wav: Path, model: str | None, threads: int) -> dict:
    """In this (fresh) process: time each stage of the timeline and report peak RSS."""
    import torch

    torch.set_num_threads(threads)
    from modeling_tft import TFTConfig, TFTFeatureExtractor, TFTForAudioClassification
    from tft_ser import EmotionClassifier, emotion_timeline, load_audio, summarize_timeline
    from tft_ser.vad import speech_segments

    if model:
        classifier = EmotionClassifier.from_pretrained(model)
    else:
        torch.manual_seed(0)
        classifier = EmotionClassifier(TFTForAudioClassification(TFTConfig(num_labels=6)), TFTFeatureExtractor())
    speech_segments(np.zeros(SR, np.float32))  # load Silero outside the timing
    start = time.perf_counter()
    audio = load_audio(wav)
    decoded = time.perf_counter()
    segments = speech_segments(audio)
    vad = time.perf_counter()
    rows = emotion_timeline(classifier, audio, segments=segments)
    done = time.perf_counter()
    summary = summarize_timeline(rows, classifier.labels)
    seconds = len(audio) / SR
    return {
        "audio_seconds": seconds,
        "wall_seconds": {"decode": decoded - start, "vad": vad - decoded, "model": done - vad, "total": done - start},
        "rtf": (done - start) / seconds,
        "rtf_vad": (vad - decoded) / seconds,
        "rtf_model": (done - vad) / seconds,
        "speech_seconds": summary["speech_s"],
        "segments": summary["num_segments"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch_threads": torch.get_num_threads(),
    }


def run_environment() -> dict:
    """`tft_ser.training.environment`'s record (command, date, commit, hardware, versions) with Silero VAD's version."""
    import silero_vad

    from tft_ser.training.environment import environment

    record = environment()
    del record["hardware"]["torch_threads"]  # this process's, not the cases': each case records its own
    record["versions"]["silero_vad"] = silero_vad.__version__
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0], help="recording lengths")
    parser.add_argument("--model", help="export folder (default: random-init default TFTConfig, 6 labels)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads (one case per value)")
    parser.add_argument("--output", type=Path, help="JSON report path")
    parser.add_argument("--case", type=Path, help=argparse.SUPPRESS)  # internal: run one case on this WAV
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.model, args.threads[0])))
        return
    report = {
        **run_environment(),
        "model": args.model or "TFTConfig() defaults, random init, 6 labels",
        "cases": [],
    }
    for minutes in args.minutes:
        with tempfile.TemporaryDirectory() as folder:
            wav = Path(folder) / "recording.wav"
            recording = write_recording(wav, minutes)
            for threads in args.threads:
                command = [sys.executable, __file__, "--case", str(wav), "--threads", str(threads)]
                command += ["--model", args.model] if args.model else []
                env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
                load_before = os.getloadavg()
                output = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
                case = {"minutes": minutes, **recording, **json.loads(output.strip().splitlines()[-1])}
                case["load_average_before"], case["load_average_after"] = load_before, os.getloadavg()
                report["cases"].append(case)
                print(json.dumps(case), flush=True)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
