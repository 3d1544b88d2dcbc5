"""Utterance embeddings: the backbone's `pooler_output` of whole files, written as .npy, .parquet or .csv rows."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .audio import AudioError, load_audio
from .classifier import EmotionClassifier
from .options import MIN_WINDOW_S

OUTPUT_SUFFIXES = (".npy", ".parquet", ".csv")
DEFAULT_MAX_SECONDS = 60.0  # longest piece embedded in one backbone pass by a model without an inference window
MIN_MAX_SECONDS = 1.0
COLUMN_PREFIX = "emb_"  # .parquet/.csv: columns `file`, `emb_0` ... `emb_{hidden_size - 1}`


@dataclass
class Embeddings:
    """One row per embedded file, in input order; `failed` lists the files without a row and why."""

    files: list[str]
    rows: np.ndarray  # (files, hidden_size) float32
    failed: list[dict[str, str]] = field(default_factory=list)


def max_piece_samples(classifier: EmotionClassifier, max_seconds: float = DEFAULT_MAX_SECONDS) -> int:
    """
    Longest audio embedded in one backbone pass: `max_seconds`, or less where the model has an inference window
    (`config.window_frames`) or the extractor truncates (`max_length`): that many frames.
    """
    extractor = classifier.feature_extractor
    limits = [round(max_seconds * classifier.sampling_rate)]
    frames = [getattr(classifier.model.config, "window_frames", None), getattr(extractor, "max_length", None)]
    limits += [extractor.n_fft + (int(f) - 1) * extractor.hop_length for f in frames if f]
    return min(limits)


def pieces(num_samples: int, max_samples: int) -> list[tuple[int, int]]:
    """`(start, end)` of the fewest equal contiguous pieces of at most `max_samples` covering `num_samples`."""
    count = max(1, -(-num_samples // max_samples))
    bounds = np.linspace(0, num_samples, count + 1).round().astype(int)
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def embed_clip(
    classifier: EmotionClassifier, audio: np.ndarray, max_seconds: float = DEFAULT_MAX_SECONDS
) -> np.ndarray:
    """
    The utterance embedding `(hidden_size,)` of a 16 kHz clip: the backbone's `pooler_output` of the whole clip in
    one pass. A clip longer than `max_piece_samples` is cut into the fewest equal contiguous pieces no longer
    than that; its embedding is the mean of the pieces' embeddings weighted by their lengths in samples.
    """
    size = max_piece_samples(classifier, max_seconds)
    spans = pieces(len(audio), size)
    clips = [audio[start:end] for start, end in spans]
    per_call = max(1, classifier.batch_size * classifier.window_samples // size)  # samples per call as `predict`
    backbone = classifier.model.base_model
    pooled = []
    for first in range(0, len(clips), per_call):
        with torch.inference_mode():
            output = backbone(**classifier.features(clips[first : first + per_call]))
        pooled.append(output.pooler_output.float().cpu().numpy())
    rows = np.concatenate(pooled)
    if len(rows) == 1:
        return rows[0]
    weights = np.array([end - start for start, end in spans], dtype=np.float64)
    return (weights @ rows.astype(np.float64) / weights.sum()).astype(np.float32)


def embed_files(
    classifier: EmotionClassifier,
    paths: Sequence[str | Path],
    max_seconds: float = DEFAULT_MAX_SECONDS,
    progress: bool | None = None,
) -> Embeddings:
    """
    Embed audio files in order (see `embed_clip`). A file that cannot be read or embedded gets no row and is listed in
    `failed`; NaN/Inf in an embedding raise `tft_ser.exit_codes.ModelError` (the model is broken).
    `progress`: a tqdm bar on stderr (`None`: for two or more files on a terminal).
    """
    from .exit_codes import ModelError

    rate = classifier.sampling_rate
    min_samples = max(classifier.min_samples, round(MIN_WINDOW_S * rate))
    files, rows, failed = [], [], []
    disable = (len(paths) < 2 or None) if progress is None else not progress
    for path in tqdm(paths, desc="files", unit="file", disable=disable, file=sys.stderr):
        try:
            row = embed_clip(classifier, load_audio(path, rate, min_samples=min_samples), max_seconds)
        except (AudioError, OSError, ValueError, RuntimeError) as error:  # this file fails, the rest go on
            failed.append({"file": str(path), "error": str(error).removeprefix(f"{path}: ")})
            continue
        if not np.isfinite(row).all():
            raise ModelError(f"non-finite embedding for {path}: its weights give NaN or Inf")
        files.append(str(path))
        rows.append(row)
    hidden = int(classifier.model.config.hidden_size)
    return Embeddings(files, np.stack(rows) if rows else np.zeros((0, hidden), np.float32), failed)


def files_list_path(path: str | Path) -> Path:
    """Where a .npy output's file names go: `FILE.files.txt`, one per line, in row order."""
    return Path(f"{path}.files.txt")


def write_embeddings(path: str | Path, files: Sequence[str], rows: np.ndarray) -> list[Path]:
    """
    Write rows by the suffix of `path`: `.npy` (the float32 matrix; file names in `FILE.files.txt`), `.parquet` or
    `.csv` (a `file` column, then `emb_0` ... float32 columns). Returns the paths written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    columns = [f"{COLUMN_PREFIX}{i}" for i in range(rows.shape[1])]
    if suffix == ".npy":
        np.save(path, rows.astype(np.float32))
        files_list_path(path).write_text("".join(f"{name}\n" for name in files), encoding="utf-8")
        return [path, files_list_path(path)]
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        data = {"file": pa.array(list(files), pa.string())}
        data |= {name: pa.array(rows[:, i], pa.float32()) for i, name in enumerate(columns)}
        pq.write_table(pa.table(data), path)
        return [path]
    if suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file", *columns])
            for name, row in zip(files, rows, strict=True):
                writer.writerow([name, *(format(float(value), ".9g") for value in row)])  # 9 digits: exact float32
        return [path]
    raise ValueError(f"{path}: unknown output format {suffix!r}; use one of {', '.join(OUTPUT_SUFFIXES)}")


def read_embeddings(path: str | Path) -> tuple[list[str], np.ndarray]:
    """The file names and rows `(files, hidden_size)` float32 of a file written by `write_embeddings`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        names = files_list_path(path).read_text(encoding="utf-8").splitlines()
        return names, np.load(path)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        columns = [name for name in table.column_names if name.startswith(COLUMN_PREFIX)]
        rows = np.stack([table[name].to_numpy() for name in columns], axis=1) if table.num_rows else None
        return table["file"].to_pylist(), rows if rows is not None else np.zeros((0, len(columns)), np.float32)
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            header, *lines = list(csv.reader(handle))
        rows = np.array([[float(value) for value in line[1:]] for line in lines], np.float32)
        return [line[0] for line in lines], rows.reshape(len(lines), len(header) - 1)
    raise ValueError(f"{path}: unknown output format {suffix!r}; use one of {', '.join(OUTPUT_SUFFIXES)}")


def run_embed(args: argparse.Namespace) -> int:
    """`tft-ser embed`: embed the files, write the rows, list failures on stderr; the exit code."""
    from .exit_codes import EXIT_FAILED_INPUTS, EXIT_OK
    from .inputs import audio_inputs
    from .loading import device_from_option, load_classifier
    from .output import failure_summary

    classifier = load_classifier(args.model, device_from_option(args.device), args.trust_remote_code, args.batch_size)
    paths = audio_inputs(args.audio)
    result = embed_files(classifier, paths, args.max_seconds)
    written = write_embeddings(args.output, result.files, result.rows)
    names = " and ".join(str(p) for p in written)
    print(f"wrote {len(result.files)} embedding(s) of {result.rows.shape[1]} values to {names}")
    if result.failed:
        print(failure_summary(result.failed, len(paths)), file=sys.stderr)
        return EXIT_FAILED_INPUTS
    return EXIT_OK


__all__ = [
    "Embeddings",
    "embed_clip",
    "embed_files",
    "max_piece_samples",
    "pieces",
    "read_embeddings",
    "write_embeddings",
]
