"""
Peak memory of `run_train.py` as the corpus grows, and the small-corpus epoch time before vs after issue 13.

    python benchmarks/memory.py --output benchmarks/results/memory_cpu.json

1. Memory: synthetic corpora of `--sizes` clips (default 1,000 and 20,000) are written through the prepared-dataset
   schema (`dataset_scripts.features_for`, 16-bit WAV bytes in an `Audio` column, `save_to_disk`) under
   `--work_dir` (default outputs/benchmarks/memory, never committed). Each is trained by `run_train.py` in a fresh
   process: fold 0 of 5 speaker folds, a small TFT, `--max_steps` Trainer steps (a partial epoch of the large
   corpus), then validation and test over whole clips. A thread samples the process tree every 0.2 s: RSS of the
   training process, its anonymous part (RSS minus file-backed/shared pages), and the PSS summed over the process
   and its DataLoader workers; `ru_maxrss` (from `wait4`) is the kernel's own peak. `--workers N` adds one run of
   the largest corpus with `--dataloader_num_workers N`.
2. Speed: the same one-fold training (`--timing_epochs` epochs, the small TFT, one thread) of the code at
   `--baseline_commit` (`git archive` into a temporary folder) and of this working tree, interleaved
   `--timing_repeats` times, on CASIA (`--timing_corpus`, prepared once and read by both via `--dataset_dir`).
   Reported: `Trainer.train` seconds (training epochs with their validation) and the whole `run_train.main`.

The stated bound is checked and stored with the figures (`bound`, `within_bound`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import datasets  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402

from dataset_scripts.common import SAMPLING_RATE, encode_wav, features_for  # noqa: E402
from dataset_scripts.prepare_demo import DEMO_LABELS, make_speakers, synthesize  # noqa: E402

MIB = 2**20
NUM_SPEAKERS = 25  # 5 folds: 19 training, 1 validation and 5 test speakers
POOL_PER_CLASS = 4  # rendered demo utterances per speaker and class; every row is a varied copy of one
SMALL_TFT = "hidden_size=64,num_attention_heads=2,intermediate_size=128,num_time_layers=1,num_frequency_layers=1,num_fusion_layers=1"  # noqa: E501
# The timing runs compare two commits: every architecture default that changed since the baseline is pinned, so
# both build the same model and only the data path differs (after 39f0590 TFTConfig's pooling default became
# "attention" and stream_pooling, which 39f0590 does not know, "joint"; unpinned, the two trees trained different
# models and their scores differed).
TIMING_TFT = {"before": f"{SMALL_TFT},pooling=mean", "after": f"{SMALL_TFT},pooling=mean,stream_pooling=separate"}
# Bound stated for the memory runs (no DataLoader workers): the training process's peak anonymous RSS grows by
# less than BOUND_GROWTH_MIB from the smallest to the largest corpus, and stays under BOUND_ABSOLUTE_MIB.
BOUND_GROWTH_MIB = 200
BOUND_ABSOLUTE_MIB = 1536
# Runs run_train.main from the tree given as argv[1]; times Trainer.train and the whole run.
DRIVER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import transformers
import run_train
spans, cpu, train = [], [], transformers.Trainer.train
def timed(self, *args, **kwargs):
    start, start_cpu = time.perf_counter(), time.process_time()
    try:
        return train(self, *args, **kwargs)
    finally:
        spans.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
transformers.Trainer.train = timed
start, start_cpu = time.perf_counter(), time.process_time()
run_train.main(sys.argv[2:])
times = {"train_s": spans, "train_cpu_s": cpu, "total_s": time.perf_counter() - start}
print("BENCHMARK " + json.dumps({**times, "total_cpu_s": time.process_time() - start_cpu}))
"""


def make_corpus(folder: Path, num_clips: int, seed: int = 0) -> datasets.Dataset:
    """`num_clips` speech-like clips (0.3-2.8 s) of NUM_SPEAKERS speakers and the 4 demo emotions, saved to disk.

    A pool of demo-synthesiser utterances is rendered once; each row is a pool clip of its speaker and class
    with its own gain and background noise, written row by row (`Dataset.from_generator`), so neither this
    process nor the corpus on disk depends on holding every clip at once.
    """
    if (folder / "state.json").is_file():
        dataset = datasets.load_from_disk(str(folder))
        if len(dataset) == num_clips:
            return dataset
    speakers = make_speakers(NUM_SPEAKERS, seed)
    pool = {
        (s, c, i): synthesize(label, speaker, np.random.default_rng([seed, 1, s, c, i]))
        for s, speaker in enumerate(speakers)
        for c, label in enumerate(DEMO_LABELS)
        for i in range(POOL_PER_CLASS)
    }

    def rows():
        rng = np.random.default_rng([seed, 2])
        for index in range(num_clips):
            s, c = index % NUM_SPEAKERS, (index // NUM_SPEAKERS) % len(DEMO_LABELS)
            clip = pool[s, c, int(rng.integers(POOL_PER_CLASS))]
            clip = clip * rng.uniform(0.5, 1.5) + rng.normal(0, 1e-3, len(clip)).astype(np.float32)
            yield {
                "audio": {"bytes": encode_wav(clip), "path": f"clip_{index:06d}.wav"},
                "label": c,
                "speaker": speakers[s].name,
                "gender": speakers[s].gender,
                "session": None,
                "utterance_id": f"clip_{index:06d}",
                "duration": len(clip) / SAMPLING_RATE,
            }

    with tempfile.TemporaryDirectory(dir=folder.parent) as cache:
        generated = datasets.Dataset.from_generator(rows, features=features_for(DEMO_LABELS), cache_dir=cache)
        generated.save_to_disk(str(folder))
    return datasets.load_from_disk(str(folder))


class PeakSampler(threading.Thread):
    """Peak memory of a process and its children (DataLoader workers), sampled every `interval` seconds."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.process, self.interval, self.done = psutil.Process(pid), interval, threading.Event()
        self.peak = {"rss_mib": 0.0, "anonymous_rss_mib": 0.0, "tree_pss_mib": 0.0, "max_processes": 1}

    def run(self) -> None:
        while not self.done.is_set():
            try:
                info = self.process.memory_info()
                tree = [self.process, *self.process.children(recursive=True)]
                pss = sum(_pss(process) for process in tree)
            except psutil.NoSuchProcess:
                break
            for key, value in (("rss_mib", info.rss / MIB), ("anonymous_rss_mib", (info.rss - info.shared) / MIB),
                               ("tree_pss_mib", pss / MIB), ("max_processes", len(tree))):  # fmt: skip
                self.peak[key] = max(self.peak[key], value)
            self.done.wait(self.interval)


def _pss(process: psutil.Process) -> int:
    """Bytes of PSS from the kernel's own sum (`smaps_rollup`; psutil's `memory_full_info` parses all of smaps)."""
    try:
        lines = Path(f"/proc/{process.pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return 0
    return next((int(line.split()[1]) * 1024 for line in lines if line.startswith("Pss:")), 0)


def run_training(tree: Path, arguments: list[str]) -> dict:
    """`run_train.main(arguments)` of `tree` in a fresh one-thread process: its timings and peak memory."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(tree)}
    command = [sys.executable, "-c", DRIVER, str(tree), *arguments]
    load_before = os.getloadavg()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        sampler = PeakSampler(process.pid)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        sampler.done.set()
        sampler.join()
        log.seek(0)
        output = log.read()
    if process.returncode:
        raise RuntimeError(f"run_train.py failed ({process.returncode}):\n{output[-4000:]}")
    timings = json.loads(next(line for line in output.splitlines() if line.startswith("BENCHMARK "))[10:])
    peak = {key: round(value, 1) for key, value in sampler.peak.items()}
    return {
        **timings,
        "peak": {**peak, "ru_maxrss_mib": round(usage.ru_maxrss / 1024, 1)},
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


def memory_runs(args: argparse.Namespace) -> list[dict]:
    runs = []
    cases = [(size, 0) for size in args.sizes] + ([(max(args.sizes), args.workers)] if args.workers else [])
    for size, workers in cases:
        corpus_dir = args.work_dir / f"corpus_{size}"
        dataset = make_corpus(corpus_dir, size)
        seconds = float(np.sum(dataset["duration"][:]))
        arguments = [
            "--dataset_dir", str(corpus_dir), "--output_dir", str(args.work_dir / f"run_{size}_workers{workers}"),
            "--num_folds", "5", "--folds", "0", "--config_overrides", SMALL_TFT,
            "--max_steps", str(args.max_steps), "--per_device_train_batch_size", "16",
            "--per_device_eval_batch_size", "32", "--report_to", "none", "--seed", "42",
            "--dataloader_num_workers", str(workers),
        ]  # fmt: skip
        _clear(args.work_dir / f"run_{size}_workers{workers}")
        result = run_training(ROOT, arguments)
        run = {
            "num_clips": size,
            "dataloader_num_workers": workers,
            "audio_hours": round(seconds / 3600, 2),
            "stored_audio_mib": round(sum(f.stat().st_size for f in corpus_dir.glob("data-*.arrow")) / MIB, 1),
            "decoded_float32_mib": round(seconds * SAMPLING_RATE * 4 / MIB, 1),  # what decode_all used to hold
            "command": shlex.join(["python", "run_train.py", *arguments]),
            **result,
        }
        runs.append(run)
        print(json.dumps(run), flush=True)
    return runs


def data_path_cpu(args: argparse.Namespace, repeats: int = 3, model_steps: int = 4) -> dict:
    """CPU seconds, in this process (one thread), of one CASIA fold-0 epoch's data path before and after issue 13.

    Before: every clip decoded once up front (`decode_all`: datasets' torchcodec decoding) into in-memory examples;
    after: `lazy_split` reads and decodes each batch. Both then go through the same DataLoader (batch 16, seeded
    RandomSampler) and training collator (crop, features, normalisation) over the 600 training clips, and the
    evaluation collator over the 300 validation clips. The model's part of an epoch, which the change does not
    touch, is estimated from `model_steps` timed training steps of the default TFT at batch 16.
    """
    import torch
    from torch.utils.data import DataLoader, RandomSampler

    from dataset_scripts import decode_audio, prepare_casia
    from training.arguments import DataArguments, ModelArguments
    from training.cross_validation import build_model_and_extractor, crop_frames
    from training.data import SpeechEmotionCollator, lazy_split, select_folds

    torch.set_num_threads(1)
    prepared = args.work_dir / "casia_prepared"
    prepare_casia(args.timing_corpus, prepared)
    dataset = datasets.load_from_disk(str(prepared))
    data_args = DataArguments(protocol="leave_one_speaker_out", folds="0")
    fold = select_folds(dataset, data_args, seed=42)[0]
    names = dataset.features["label"].names
    model, extractor = build_model_and_extractor(ModelArguments(normalization="utterance"), names, None)
    train_collator = SpeechEmotionCollator(extractor, train=True, crop_frames=crop_frames(model.config))
    eval_collator = SpeechEmotionCollator(extractor, train=False)

    def epoch(train, validation) -> None:
        sampler = RandomSampler(train, generator=torch.Generator().manual_seed(0))
        for _ in DataLoader(train, 16, sampler=sampler, collate_fn=train_collator):
            pass
        for _ in DataLoader(validation, 32, collate_fn=eval_collator):
            pass

    def in_memory(split: datasets.Dataset, audio: list) -> list[dict]:
        return [
            {"audio": audio[r], "label": label, "speaker": speaker}
            for r, label, speaker in zip(split["row"][:], split["label"][:], split["speaker"][:], strict=True)
        ]

    start = time.process_time()
    audio = [decode_audio(clip) for clip in dataset["audio"]]  # what decode_all did, once per run
    measured: dict[str, list[float]] = {"decode_all_once": [time.process_time() - start]}
    measured.update(before_epoch=[], after_epoch=[])
    train, validation = (in_memory(fold.splits[s], audio) for s in ("train", "validation"))
    for _ in range(repeats):  # interleaved
        start = time.process_time()
        epoch(train, validation)
        measured["before_epoch"].append(time.process_time() - start)
        start = time.process_time()
        epoch(lazy_split(fold.splits["train"]), lazy_split(fold.splits["validation"]))
        measured["after_epoch"].append(time.process_time() - start)
    batch = train_collator(lazy_split(fold.splits["train"]).__getitems__(list(range(16))))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    step_times = []
    for _ in range(model_steps + 1):  # the first step warms up
        start = time.process_time()
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        step_times.append(time.process_time() - start)
    steps_per_epoch = -(-len(fold.splits["train"]) // 16)
    model_epoch = float(np.median(step_times[1:])) * steps_per_epoch
    medians = {key: float(np.median(values)) for key, values in measured.items()}
    added = medians["after_epoch"] - medians["before_epoch"]
    return {
        "setup": "CASIA leave_one_speaker_out fold 0 (600 training, 300 validation clips), batch 16, training "
        "collator of the default TFT (3-s crops, utterance normalisation), one torch thread, CPU seconds "
        "(time.process_time) in one process, medians of the repeats",
        "cpu_s": {key: [round(v, 3) for v in values] for key, values in measured.items()},
        "median_cpu_s": {key: round(v, 3) for key, v in medians.items()},
        "model_step_cpu_s": [round(v, 3) for v in step_times[1:]],
        "model_epoch_cpu_s_estimate": round(model_epoch, 2),
        "added_cpu_s_per_epoch": round(added, 3),
        "epoch_time_change_estimate": round(added / (model_epoch + medians["before_epoch"]), 3),
        "epoch_time_bound": "after <= 1.10 x before",
        "within_bound": added <= 0.10 * (model_epoch + medians["before_epoch"]),
    }


def timing_runs(args: argparse.Namespace) -> dict:
    """One fold, `--timing_epochs` epochs, of the baseline commit and of this tree, interleaved."""
    prepared = args.work_dir / "casia_prepared"
    from dataset_scripts import prepare_casia

    prepare_casia(args.timing_corpus, prepared)
    arguments = [
        "--dataset_dir", str(prepared), "--protocol", "leave_one_speaker_out", "--folds", "0",
        "--num_train_epochs", str(args.timing_epochs), "--report_to", "none", "--seed", "42",
    ]  # fmt: skip
    times: dict[str, list[dict]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as folder:
        baseline = Path(folder) / "baseline"
        baseline.mkdir()
        archive = subprocess.run(["git", "archive", args.baseline_commit], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive.stdout, check=True)
        for repeat in range(args.timing_repeats):
            for name, tree in (("before", baseline), ("after", ROOT)):
                output = args.work_dir / f"timing_{name}"
                _clear(output)
                overrides = ["--config_overrides", TIMING_TFT[name]]
                result = run_training(tree, [*arguments, *overrides, "--output_dir", str(output)])
                result["epoch_s"] = round(result["train_s"][0] / args.timing_epochs, 2)
                result["epoch_cpu_s"] = round(result["train_cpu_s"][0] / args.timing_epochs, 2)
                fold = json.loads((output / "results.json").read_text())["folds"][0]
                result["fold_0"] = {"test": fold["test"], "history": fold["history"]}
                times[name].append(result)
                print(json.dumps({"timing": name, "repeat": repeat, **result}), flush=True)
    summary = {}
    for name, results in times.items():
        summary[name] = {
            "epoch_cpu_s": [r["epoch_cpu_s"] for r in results],
            "median_epoch_cpu_s": float(np.median([r["epoch_cpu_s"] for r in results])),
            "epoch_s": [r["epoch_s"] for r in results],
            "median_epoch_s": float(np.median([r["epoch_s"] for r in results])),
            "total_cpu_s": [round(r["total_cpu_s"], 1) for r in results],
            "median_total_cpu_s": float(np.median([r["total_cpu_s"] for r in results])),
            "total_s": [round(r["total_s"], 1) for r in results],
            "median_total_s": float(np.median([r["total_s"] for r in results])),
            "peak_rss_mib": [r["peak"]["rss_mib"] for r in results],
        }
    before, after = summary["before"]["median_epoch_cpu_s"], summary["after"]["median_epoch_cpu_s"]
    return {
        "setup": f"CASIA (1,200 clips), leave_one_speaker_out fold 0 (600 train, 300 validation, 300 test clips), "
        f"the small TFT of the memory runs (so that reading and featurising the clips weigh more than with the "
        f"default model), batch 16, {args.timing_epochs} epoch(s) with validation, normalization global, one "
        f"torch thread, Trainer (--trainer hf); `epoch_s` = Trainer.train seconds / epochs; `total_s` = the "
        f"whole run_train.main (before: decode_all of the corpus; after: streamed statistics) incl. test and export",
        "baseline_commit": args.baseline_commit,
        "command": shlex.join(
            ["python", "run_train.py", *arguments, "--config_overrides", "MODEL", "--output_dir", "OUT"]
        )
        + " (MODEL: `model` of each tree)",
        "model": TIMING_TFT,
        "runs": times,
        "summary": summary,
        "identical_results": all(r["fold_0"] == times["before"][0]["fold_0"] for r in times["before"] + times["after"]),
        "epoch_time_change": round(after / before - 1, 3),
        "epoch_time_bound": "median epoch CPU time: after <= 1.10 x before (CPU seconds of the one-thread "
        "process, which neighbours on a shared machine disturb far less than wall seconds; wall times are kept too)",
        "within_bound": after <= 1.10 * before,
    }


def _clear(folder: Path) -> None:
    if folder.exists():
        subprocess.run(["rm", "-rf", str(folder)], check=True)


def environment() -> dict:
    import torch
    import transformers

    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout)
    return {
        "hardware": {
            "cpu": cpu,
            "cores_visible": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "load_average_at_start": os.getloadavg(),
            "note": "shared machine: other jobs ran beside this benchmark (see each run's load averages)",
        },
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "datasets": datasets.__version__,
            "psutil": psutil.__version__,
        },
        "git_revision": revision + ("+uncommitted" if dirty else ""),
        "torch_threads": 1,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000], help="corpus sizes (clips)")
    parser.add_argument("--max_steps", type=int, default=300, help="training steps of each memory run")
    parser.add_argument("--workers", type=int, default=2, help="extra largest-corpus run with this many workers")
    parser.add_argument("--work_dir", type=Path, default=ROOT / "outputs" / "benchmarks" / "memory")
    parser.add_argument("--timing_corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "casia")
    parser.add_argument("--timing_epochs", type=int, default=1)
    parser.add_argument("--timing_repeats", type=int, default=2)
    parser.add_argument("--baseline_commit", default="39f0590", help="the code before issue 13")
    parser.add_argument(
        "--parts", nargs="+", choices=["memory", "timing", "data_path"], default=["memory", "timing", "data_path"],
        help="what to measure; with an existing --output, the other part's results are kept",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, help="JSON report path")
    arguments = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(arguments)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    command = shlex.join(["python", "benchmarks/memory.py", *arguments])
    run = {"command": command, "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), **environment()}
    measured: dict = {}
    if "memory" in args.parts:
        measured.update(memory_part(args))
    if "timing" in args.parts:
        measured["epoch_time"] = timing_runs(args)
    if "data_path" in args.parts:
        measured["data_path_cpu"] = data_path_cpu(args)
    # read only now: the other part may have been measured meanwhile, by another process, into the same file
    report = json.loads(args.output.read_text()) if args.output and args.output.is_file() else {}
    report["benchmark"] = "memory"
    report["runs_of_this_script"] = {**report.get("runs_of_this_script", {}), **dict.fromkeys(args.parts, run)}
    report.update(measured)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=1) + "\n")
    return report


def memory_part(args: argparse.Namespace) -> dict:
    report = {
        "model": f"TFTConfig({SMALL_TFT}) for the memory runs",
        "how": "peak over 0.2-s samples (psutil) of the training process: `rss_mib`, `anonymous_rss_mib` = RSS "
        "minus file-backed pages (`memory_info().shared`), `tree_pss_mib` = PSS summed over the process and its "
        "DataLoader workers (shared pages counted once); `ru_maxrss_mib` = the kernel's peak RSS from wait4. The "
        "Arrow files are memory-mapped: pages a run has read count in `rss_mib` as file-backed, reclaimable page "
        "cache (up to the corpus's stored size), not as memory the process owns.",
        "memory": memory_runs(args),
    }
    plain = [run for run in report["memory"] if run["dataloader_num_workers"] == 0]
    smallest, largest = min(plain, key=lambda r: r["num_clips"]), max(plain, key=lambda r: r["num_clips"])
    growth = largest["peak"]["anonymous_rss_mib"] - smallest["peak"]["anonymous_rss_mib"]
    report["bound"] = (
        f"peak anonymous RSS of the training process (no workers): grows by < {BOUND_GROWTH_MIB} MiB from "
        f"{smallest['num_clips']} to {largest['num_clips']} clips, and stays < {BOUND_ABSOLUTE_MIB} MiB"
    )
    report["anonymous_rss_growth_mib"] = round(growth, 1)
    report["within_bound"] = growth < BOUND_GROWTH_MIB and largest["peak"]["anonymous_rss_mib"] < BOUND_ABSOLUTE_MIB
    return report


if __name__ == "__main__":
    main()
