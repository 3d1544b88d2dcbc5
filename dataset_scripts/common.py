"""Shared helpers of the corpus preparation scripts: audio I/O, schema, reports and the CLI.

Every `prepare_<corpus>()` collects `Candidate`s (one per utterance) and `Problem`s (files or
label lines that cannot be used), then calls `run_preparation()`, which reads, down-mixes and
resamples the audio once, builds the `datasets.Dataset` with the common schema (`features_for`),
checks the corpus size against a named constant, logs the per-class and per-speaker counts, and
saves the dataset plus `preparation_report.json` and `manifest.json` when an output folder is given.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import soundfile as sf
import torch
import torchaudio

logger = logging.getLogger("dataset_scripts")

SAMPLING_RATE = 16_000
# Below 0.25 s a clip carries too little prosody (not even one syllable) to label an emotion; the
# TFT feature extractor's own hard minimum is one 32 ms analysis window (512 samples at 16 kHz).
MIN_DURATION_S = 0.25
REPORT_FILENAME = "preparation_report.json"
MANIFEST_FILENAME = "manifest.json"
AUDIO_EXTENSIONS = (".wav", ".flac")

# Reasons a file or label line is skipped; all are reported, and `strict=True` fails on any.
UNREADABLE = "unreadable"
EMPTY = "empty"
TOO_SHORT = "too_short"
UNKNOWN_LABEL = "unknown_label"
UNPARSABLE_LABEL_LINE = "unparsable_label_line"
MISSING_LABEL = "missing_label"
MISSING_AUDIO = "missing_audio"
BAD_NAME = "bad_file_name"


class PreparationError(RuntimeError):
    """Raised under `strict=True` on any skipped file or an unexpected corpus size."""


@dataclass
class Candidate:
    """One utterance to prepare: a source file (`path`) or an in-memory 16 kHz clip (`array`)."""

    utterance_id: str
    label: str
    speaker: str | None
    gender: str | None = None
    session: int | None = None
    path: Path | None = None
    array: np.ndarray | None = None


@dataclass
class Problem:
    """A file or label line that was not turned into a row, and why."""

    path: str
    reason: str
    detail: str = ""


@dataclass
class Collected:
    """What a corpus scanner found: usable candidates, problems, and rows excluded on purpose."""

    candidates: list[Candidate]
    problems: list[Problem] = field(default_factory=list)
    # Labels left out by the chosen variant (e.g. IEMOCAP `fru`): counted and reported, not errors.
    excluded: Counter = field(default_factory=Counter)


def features_for(label_names: Sequence[str]) -> datasets.Features:
    """The schema shared by every prepared corpus (`label` uses the corpus's fixed name order)."""
    return datasets.Features(
        {
            "audio": datasets.Audio(sampling_rate=SAMPLING_RATE),
            "label": datasets.ClassLabel(names=list(label_names)),
            "speaker": datasets.Value("string"),
            "gender": datasets.Value("string"),  # "female" / "male", None where unknown
            "session": datasets.Value("int32"),  # None where the corpus has no sessions
            "utterance_id": datasets.Value("string"),
            "duration": datasets.Value("float32"),  # seconds, after resampling
        }
    )


# ----------------------------------------------------------------------------- audio


def read_audio(path: Path) -> tuple[np.ndarray, int, int]:
    """Read with soundfile: `(samples, channels)` float32 data, sampling rate, channel count."""
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data, int(rate), int(data.shape[1])


def to_mono_16k(data: np.ndarray, rate: int) -> np.ndarray:
    """Down-mix `(samples, channels)` by the channel mean and resample to 16 kHz (float32, 1-D)."""
    mono = data.mean(axis=1) if data.ndim == 2 else data
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if rate != SAMPLING_RATE:
        mono = torchaudio.functional.resample(torch.from_numpy(mono), rate, SAMPLING_RATE).numpy()
    return mono


def encode_wav(array: np.ndarray) -> bytes:
    """16-bit PCM WAV bytes of a 16 kHz mono clip (lossless for the 16-bit source corpora)."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(array, -1.0, 1.0), SAMPLING_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def decode_audio(audio: Any, sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    """Mono float32 samples at `sampling_rate` from whatever an `Audio` column yields.

    Accepts a datasets 5.x `AudioDecoder` (torchcodec), a dict with `array`/`sampling_rate` or
    `bytes`/`path`, a numpy array or a torch tensor (arrays are assumed to be at `sampling_rate`).
    """
    rate = sampling_rate
    if hasattr(audio, "get_all_samples"):  # torchcodec AudioDecoder: data is (channels, samples)
        samples = audio.get_all_samples()
        data, rate = samples.data.numpy().T, int(samples.sample_rate)
    elif isinstance(audio, dict):
        if audio.get("array") is not None:
            data = np.asarray(audio["array"], dtype=np.float32)
            rate = int(audio.get("sampling_rate") or sampling_rate)
        elif audio.get("bytes") is not None:
            data, rate = sf.read(io.BytesIO(audio["bytes"]), dtype="float32", always_2d=True)
        elif audio.get("path") is not None:
            data, rate = sf.read(audio["path"], dtype="float32", always_2d=True)
        else:
            raise ValueError("Audio dict has neither `array`, `bytes` nor `path`.")
    elif isinstance(audio, torch.Tensor):
        data = audio.detach().cpu().numpy().astype(np.float32)
    else:
        data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 2 and data.shape[0] < data.shape[1] and data.shape[0] <= 8:
        data = data.T  # (channels, samples) -> (samples, channels)
    mono = data.mean(axis=1) if data.ndim == 2 else data
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if rate != sampling_rate:
        mono = torchaudio.functional.resample(torch.from_numpy(mono), rate, sampling_rate).numpy()
    return mono


def list_files(directory: Path) -> list[Path]:
    """Regular files directly inside `directory`, sorted, hidden files (`.name`) excluded."""
    return sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))


# ----------------------------------------------------------------------------- preparation


def load_if_prepared(output_dir: Path | None, options: dict[str, Any]) -> datasets.Dataset | None:
    """The saved dataset when `output_dir` already holds one prepared with the same options."""
    if output_dir is None:
        return None
    report_path = output_dir / REPORT_FILENAME
    if not (report_path.is_file() and (output_dir / "state.json").is_file()):
        return None
    try:
        report = json.loads(report_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if report.get("options") != _jsonable(options):
        return None
    logger.info("%s already prepared with the same options: skipping preparation.", output_dir)
    return datasets.load_from_disk(str(output_dir))


def run_preparation(
    *,
    corpus: str,
    collect: Callable[[], Collected],
    label_names: Sequence[str],
    data_dir: Path | None,
    output_dir: Path | None,
    options: dict[str, Any],
    strict: bool,
    expected_num_rows: int | None,
    description: str,
    overwrite: bool = False,
) -> datasets.Dataset:
    """Collect, read, validate, build, report and (optionally) save one corpus.

    Idempotent: when `output_dir` holds a dataset prepared with the same `options`, it is loaded
    and returned (`overwrite=True` forces a fresh preparation).
    """
    source = str(data_dir.resolve()) if data_dir is not None else None  # one corpus, however it is reached
    options = {"corpus": corpus, "data_dir": source, "strict": strict, **options}
    if not overwrite and (cached := load_if_prepared(output_dir, options)) is not None:
        log_counts(cached)
        return cached
    if data_dir is not None and not data_dir.is_dir():
        raise FileNotFoundError(f"{corpus}: data_dir {data_dir} does not exist.")
    collected = collect()
    rows, sources, audio_stats = _read_candidates(collected, label_names)
    problems = collected.problems
    _log_problems(corpus, problems, collected.excluded)
    num_rows = len(rows["utterance_id"])
    count_message = None
    if expected_num_rows is not None and num_rows != expected_num_rows:
        count_message = f"{corpus}: expected {expected_num_rows} utterances, found {num_rows}."
        logger.warning(count_message)
    if strict and (problems or count_message):
        lines = [f"  {p.path}: {p.reason} {p.detail}".rstrip() for p in problems]
        raise PreparationError(
            "\n".join([f"{corpus}: {len(problems)} problem(s) under --strict.", *lines])
            + (f"\n{count_message}" if count_message else "")
        )
    if num_rows == 0:
        raise PreparationError(f"{corpus}: no usable utterance found (data_dir {data_dir}).")
    features = features_for(label_names)
    full_description = _describe(description, audio_stats, num_rows)
    info = datasets.DatasetInfo(description=full_description, features=features)
    dataset = datasets.Dataset.from_dict(rows, features=features, info=info)
    report = _report(
        corpus,
        options,
        dataset,
        label_names,
        problems,
        collected.excluded,
        audio_stats,
        expected_num_rows,
    )
    log_counts(dataset)
    if output_dir is not None:
        _save(dataset, output_dir, report, sources)
    return dataset


def _read_candidates(
    collected: Collected, label_names: Sequence[str]
) -> tuple[dict[str, list], list[str], dict[str, Any]]:
    """Read every candidate; unusable ones become `Problem`s. Returns columns, sources, stats."""
    columns: dict[str, list] = {name: [] for name in features_for(label_names)}
    sources: list[str] = []
    resampled_from: Counter = Counter()
    downmixed = 0
    label_index = {name: i for i, name in enumerate(label_names)}
    for cand in collected.candidates:
        where = str(cand.path) if cand.path is not None else cand.utterance_id
        if cand.label not in label_index:
            collected.problems.append(Problem(where, UNKNOWN_LABEL, repr(cand.label)))
            continue
        if cand.array is not None:
            array = np.asarray(cand.array, dtype=np.float32)
        elif cand.path.is_file() and cand.path.stat().st_size == 0:
            collected.problems.append(Problem(where, EMPTY, "0-byte file"))
            continue
        else:
            try:
                data, rate, channels = read_audio(cand.path)
            except Exception as error:  # soundfile raises several types on bad data
                collected.problems.append(Problem(where, UNREADABLE, str(error).strip()))
                continue
            if data.shape[0] == 0:
                collected.problems.append(Problem(where, EMPTY, "no audio samples"))
                continue
            if rate != SAMPLING_RATE:
                resampled_from[rate] += 1
            downmixed += channels > 1
            array = to_mono_16k(data, rate)
        if not np.all(np.isfinite(array)):
            collected.problems.append(Problem(where, UNREADABLE, "non-finite samples"))
            continue
        duration = len(array) / SAMPLING_RATE
        if duration < MIN_DURATION_S:
            detail = f"{duration:.3f} s < MIN_DURATION_S={MIN_DURATION_S} s"
            collected.problems.append(Problem(where, TOO_SHORT, detail))
            continue
        columns["audio"].append({"bytes": encode_wav(array), "path": f"{cand.utterance_id}.wav"})
        columns["label"].append(label_index[cand.label])
        columns["speaker"].append(cand.speaker)
        columns["gender"].append(cand.gender)
        columns["session"].append(cand.session)
        columns["utterance_id"].append(cand.utterance_id)
        columns["duration"].append(duration)
        sources.append(where)
    stats = {"resampled_from_hz": dict(sorted(resampled_from.items())), "downmixed": downmixed}
    return columns, sources, stats


def _describe(description: str, audio_stats: dict[str, Any], num_rows: int) -> str:
    resampled = audio_stats["resampled_from_hz"]
    resample_text = ", ".join(f"{n} file(s) from {rate} Hz" for rate, n in resampled.items()) or "none needed"
    return (
        f"{description.strip()}\n\nPrepared by tft-ser dataset_scripts: {num_rows} utterances. "
        f"Audio stored once as 16 kHz mono 16-bit PCM WAV; resampled at preparation "
        f"(torchaudio.functional.resample): {resample_text}; down-mixed to mono by channel mean: "
        f"{audio_stats['downmixed']} file(s). Clips shorter than {MIN_DURATION_S} s are skipped "
        f"and reported in {REPORT_FILENAME}."
    )


def _report(
    corpus: str,
    options: dict[str, Any],
    dataset: datasets.Dataset,
    label_names: Sequence[str],
    problems: list[Problem],
    excluded: Counter,
    audio_stats: dict[str, Any],
    expected_num_rows: int | None,
) -> dict[str, Any]:
    labels = dataset.features["label"].names
    return {
        "corpus": corpus,
        "options": _jsonable(options),
        "num_rows": dataset.num_rows,
        "expected_num_rows": expected_num_rows,
        "label_names": list(label_names),
        "label_counts": {labels[i]: n for i, n in sorted(Counter(dataset["label"]).items())},
        "speaker_counts": dict(sorted(Counter(dataset["speaker"]).items(), key=_none_last)),
        "num_skipped": len(problems),
        "skipped_by_reason": dict(Counter(p.reason for p in problems)),
        "skipped": [asdict(p) for p in problems],
        "excluded_by_variant": dict(excluded),
        "sampling_rate": SAMPLING_RATE,
        "min_duration_s": MIN_DURATION_S,
        **audio_stats,
    }


def _none_last(item: tuple[Any, int]) -> tuple[bool, str]:
    return item[0] is None, str(item[0])


def _save(dataset: datasets.Dataset, output_dir: Path, report: dict[str, Any], sources: list[str]) -> None:
    if output_dir.exists() and any(output_dir.iterdir()):
        if not ((output_dir / REPORT_FILENAME).is_file() or (output_dir / "state.json").is_file()):
            raise FileExistsError(f"{output_dir} is not empty and is not a prepared dataset.")
        shutil.rmtree(output_dir)
    dataset.save_to_disk(str(output_dir))
    (output_dir / REPORT_FILENAME).write_text(json.dumps(report, indent=2, ensure_ascii=False))
    names = dataset.features["label"].names
    columns = dataset.select_columns(["utterance_id", "label", "speaker", "duration"]).to_dict()
    manifest = {
        utt: {"path": src, "label": names[lab], "speaker": spk, "duration": round(dur, 4)}
        for utt, src, lab, spk, dur in zip(
            columns["utterance_id"],
            sources,
            columns["label"],
            columns["speaker"],
            columns["duration"],
            strict=True,
        )
    }
    (output_dir / MANIFEST_FILENAME).write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    logger.info("Saved %d rows to %s (report: %s)", dataset.num_rows, output_dir, REPORT_FILENAME)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _log_problems(corpus: str, problems: list[Problem], excluded: Counter) -> None:
    by_reason = Counter(p.reason for p in problems)
    summary = ", ".join(f"{reason}: {n}" for reason, n in sorted(by_reason.items())) or "none"
    level = logging.WARNING if problems else logging.INFO
    logger.log(
        level, "%s: %d file(s)/line(s) skipped (%s); listed in %s", corpus, len(problems), summary, REPORT_FILENAME
    )
    for problem in problems:
        logger.debug("skipped %s: %s %s", problem.path, problem.reason, problem.detail)
    if excluded:
        excluded_text = dict(sorted(excluded.items()))
        logger.info("%s: excluded by the chosen variant: %s", corpus, excluded_text)


def log_counts(dataset: datasets.Dataset) -> None:
    """Log per-class and per-speaker count tables."""
    names = dataset.features["label"].names
    labels = Counter(dataset["label"])
    lines = [f"  {names[i]:<12} {labels.get(i, 0):>6}" for i in range(len(names))]
    logger.info("Per-class counts (%d rows):\n%s", dataset.num_rows, "\n".join(lines))
    speakers = Counter(dataset["speaker"])
    lines = [f"  {spk!s:<16} {n:>6}" for spk, n in sorted(speakers.items(), key=_none_last)]
    logger.info("Per-speaker counts (%d speakers):\n%s", len(speakers), "\n".join(lines))


# ----------------------------------------------------------------------------- CLI


def base_parser(description: str) -> argparse.ArgumentParser:
    """Arguments shared by every `prepare_<corpus>.py` script."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data_dir", type=Path, required=True, help="Root of the raw corpus.")
    parser.add_argument("--output_dir", type=Path, required=True, help="Folder for save_to_disk and the report.")
    parser.add_argument("--strict", action="store_true", help="Fail on any skipped file or count mismatch.")
    parser.add_argument("--overwrite", action="store_true", help="Prepare again even if done.")
    parser.add_argument("--push_to_hub", metavar="REPO_ID", help="Also push to this Hub repo.")
    return parser


def run_cli(prepare: Callable[..., datasets.Dataset], args: argparse.Namespace, **kwargs) -> int:
    """Run `prepare` from parsed CLI arguments; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        dataset = prepare(args.data_dir, args.output_dir, strict=args.strict, overwrite=args.overwrite, **kwargs)
    except (PreparationError, FileNotFoundError, FileExistsError) as error:
        logger.error("%s", error)
        return 1
    if args.push_to_hub:
        return push_to_hub(dataset, args.push_to_hub, args.output_dir)
    return 0


def push_to_hub(dataset: datasets.Dataset, repo_id: str, output_dir: Path | None) -> int:
    """Push to the Hub; on failure log one clear message (the saved copy is untouched)."""
    try:
        dataset.push_to_hub(repo_id)
    except Exception as error:  # offline: connection / offline-mode errors of several types
        kept = f" The prepared dataset is kept at {output_dir}." if output_dir else ""
        message = str(error).splitlines()[0] if str(error) else ""
        logger.error(
            "Could not push to the Hub repo %s (%s: %s); check the network and `hf auth login`.%s",
            repo_id,
            type(error).__name__,
            message,
            kept,
        )
        return 1
    logger.info("Pushed to https://huggingface.co/datasets/%s", repo_id)
    return 0
