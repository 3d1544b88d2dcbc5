"""Shared helpers of the corpus preparation scripts: audio I/O, schema, reports and the CLI.

Every `prepare_<corpus>()` collects `Candidate`s (one per utterance) and `Problem`s (files or
label lines that cannot be used), then calls `run_preparation()`, which reads, down-mixes and
resamples the audio once (the one audio path of `modeling_tft.audio_utils`, FFmpeg, as `load_audio`
and `pipeline(file)`), builds the `datasets.Dataset` with the common schema (`features_for`),
checks the corpus size against a named constant, logs the per-class and per-speaker counts, and
saves the dataset plus `preparation_report.json` and `manifest.json` when an output folder is given.

Nothing is dropped or altered silently (docs/DATA.md, "Bad inputs"): argument errors (`BadArgument`,
exit code 2) are raised before any audio is decoded; duplicate rows are de-duplicated and reported,
conflicting ones refused; audio files outside the corpus layout are listed as skipped; clipped and
out-of-range audio is reported per file; a corpus with fewer than two classes is refused.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import re
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import soundfile as sf
import torch

from modeling_tft.audio_utils import decode, to_mono  # one audio path for preparation, training and inference
from modeling_tft.feature_extraction_tft import MAX_FLOAT_PEAK  # one rule for training and inference
from tft_ser.data.licences import DataLicence, public_push_refusal

logger = logging.getLogger("tft_ser.data")

SAMPLING_RATE = 16_000
# Below 0.25 s a clip carries too little prosody (not even one syllable) to label an emotion; the
# TFT feature extractor's own hard minimum is one 32 ms analysis window (512 samples at 16 kHz).
MIN_DURATION_S = 0.25
REPORT_FILENAME = "preparation_report.json"
MANIFEST_FILENAME = "manifest.json"
AUDIO_EXTENSIONS = (".wav", ".flac")  # what the original corpus releases use
# Every file is decoded by FFmpeg (torchcodec), as `load_audio` and `pipeline(file)` do. The container formats below
# (beyond what libsndfile also reads) are skipped as `unsupported_format` when torchcodec cannot decode here.
SOUNDFILE_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".snd", ".caf", ".w64", ".rf64"}
)
FFMPEG_EXTENSIONS = frozenset({".m4a", ".aac", ".mp4", ".opus", ".wma", ".webm", ".amr", ".3gp", ".mka", ".ac3"})
KNOWN_AUDIO_EXTENSIONS = SOUNDFILE_EXTENSIONS | FFMPEG_EXTENSIONS
# Level checks. Integer PCM decodes into [-1, 1 - 2^-15]: a sample at or beyond FULL_SCALE touches full scale
# (a clipped recording when many do). Float samples beyond +-1 are out of range: a file whose peak is at most
# MAX_FLOAT_PEAK (6 dB over full scale) is kept and scaled by 1/peak (no new distortion; reported); a peak above
# it means the samples are not a [-1, 1] signal at all (e.g. int16-scale floats) and the file is refused.
FULL_SCALE = 32767 / 32768
INT16_SCALE = 32768.0
MAX_LOGGED_PER_REASON = 5  # skipped files shown per reason on the console (all are in the report)

# Reasons a file or label line is skipped; all are reported, and `strict=True` fails on any.
UNREADABLE = "unreadable"
EMPTY = "empty"
TOO_SHORT = "too_short"
UNKNOWN_LABEL = "unknown_label"
UNPARSABLE_LABEL_LINE = "unparsable_label_line"
MISSING_LABEL = "missing_label"
MISSING_AUDIO = "missing_audio"
BAD_NAME = "bad_file_name"
DUPLICATE = "duplicate"  # an identical second row for a file already listed: de-duplicated
UNSUPPORTED_FORMAT = "unsupported_format"  # an audio extension no available decoder reads
OUTSIDE_LAYOUT = "outside_layout"  # an audio file the corpus layout does not reach (root, sub-folder)
HIDDEN_FILE = "hidden_file"  # an audio file whose name (or folder) starts with "."
OUT_OF_RANGE = "out_of_range"  # float samples far beyond +-1 (peak > MAX_FLOAT_PEAK)
NO_SPEAKER = "speaker_not_matched"  # --speaker_pattern does not match the file name
BAD_FIELD = "bad_field"  # a manifest row whose gender/session cannot be read

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class PreparationError(RuntimeError):
    """A corpus that cannot be prepared as given (conflicts, < 2 classes, nothing usable), or any problem under
    `strict=True`. Exit code 1 in the scripts."""


class BadArgument(ValueError):
    """An argument (option) that cannot work, found before any audio is decoded; the message names the option.
    Exit code 2 in the scripts, like argparse's own usage errors."""


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
    origin: str = ""  # where the row came from when not the file itself, e.g. "list.csv:7"


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
    # Extra report entries of the scanner (e.g. audio files a manifest does not list).
    notes: dict[str, Any] = field(default_factory=dict)


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


def extra_decoder_available() -> bool:
    """Whether torchcodec (FFmpeg) can decode here: then `.m4a`, `.opus`, ... are read, else skipped."""
    global _EXTRA_DECODER
    if _EXTRA_DECODER is None:
        try:
            from torchcodec.decoders import AudioDecoder  # noqa: F401  (fails without the FFmpeg libraries)

            _EXTRA_DECODER = True
        except Exception:  # ImportError, or OSError/RuntimeError when the FFmpeg libraries are missing
            _EXTRA_DECODER = False
    return _EXTRA_DECODER


_EXTRA_DECODER: bool | None = None


def read_audio(path: Path) -> tuple[np.ndarray, int, int]:
    """`(samples, channels)` float32 data as stored, sampling rate, channel count, decoded by FFmpeg (torchcodec), the
    decoder of `load_audio`. Float files are returned as stored (no clipping): levels are checked by the caller, then
    `to_mono_16k` down-mixes and resamples as `load_audio` does."""
    from torchcodec.decoders import AudioDecoder

    try:
        decoder = AudioDecoder(str(path))
        samples = decoder.get_all_samples()
    except RuntimeError as error:  # torchcodec's messages start with its C++ source location: dropped
        message = re.sub(r"^\w+, \S+:\d+, ", "", str(error).strip())
        if message.startswith("No audio frames"):  # a valid header over no samples
            channels = decoder.metadata.num_channels or 1
            return np.zeros((0, channels), np.float32), int(decoder.metadata.sample_rate or SAMPLING_RATE), channels
        raise RuntimeError(message) from None
    data = np.ascontiguousarray(samples.data.numpy().T, dtype=np.float32)
    return data, int(samples.sample_rate), int(data.shape[1])


def unsupported_reason(path: Path) -> str | None:
    """Why `path` cannot be decoded here (an audio extension no available decoder reads), else None."""
    suffix = path.suffix.lower()
    if suffix in FFMPEG_EXTENSIONS and not extra_decoder_available():
        return (
            f"{suffix} needs torchcodec with the FFmpeg libraries, not available here; convert it "
            f"(ffmpeg -i {path.name} {path.stem}.wav) or install FFmpeg"
        )
    return None


@dataclass
class Level:
    """Level check of one file's samples (all channels, before down-mix and resampling)."""

    peak: float
    clipped: int  # samples at full scale: FULL_SCALE <= |x| <= 1
    out_of_range: int  # samples with |x| > 1
    size: int

    @classmethod
    def of(cls, data: np.ndarray) -> Level:
        magnitude = np.abs(data)
        return cls(
            peak=float(magnitude.max(initial=0.0)),
            clipped=int(np.count_nonzero((magnitude >= FULL_SCALE) & (magnitude <= 1.0))),
            out_of_range=int(np.count_nonzero(magnitude > 1.0)),
            size=int(data.size),
        )

    def entry(self, where: str, action: str, gain_db: float | None = None) -> dict[str, Any]:
        return {
            "path": where,
            "peak": round(self.peak, 6),
            "clipped_samples": self.clipped,
            "clipped_fraction": round(self.clipped / max(self.size, 1), 6),
            "out_of_range_samples": self.out_of_range,
            "out_of_range_fraction": round(self.out_of_range / max(self.size, 1), 6),
            "action": action,
            "gain_db": None if gain_db is None else round(gain_db, 3),
        }

    def refusal(self) -> str:
        hint = ""
        if 100 < self.peak <= INT16_SCALE + 1:
            hint = f"; looks like int16-scale float samples: divide them by {INT16_SCALE:.0f}"
        return (
            f"peak {self.peak:.6g} > MAX_FLOAT_PEAK={MAX_FLOAT_PEAK}: float samples must lie in [-1, 1] "
            f"({self.out_of_range} of {self.size} samples beyond){hint}"
        )


def to_mono_16k(data: np.ndarray, rate: int) -> np.ndarray:
    """`(samples, channels)` data down-mixed and resampled to 16 kHz (float32, 1-D) by the one audio path
    (`modeling_tft.audio_utils.to_mono`: FFmpeg's matrix, stereo gives (L + R) / sqrt 2; libswresample)."""
    data = data[:, 0] if data.ndim == 2 and data.shape[1] == 1 else data
    return to_mono(np.asarray(data, dtype=np.float32), rate, SAMPLING_RATE)


def encode_wav(array: np.ndarray) -> bytes:
    """16-bit PCM WAV bytes of a 16 kHz mono clip (lossless for the 16-bit source corpora)."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(array, -1.0, 1.0), SAMPLING_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def decode_audio(audio: Any, sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    """Mono float32 samples at `sampling_rate` from whatever an `Audio` column yields.

    Accepts a datasets 5.x `AudioDecoder` (torchcodec), a dict with `array`/`sampling_rate` or
    `bytes`/`path`, a numpy array or a torch tensor (arrays are assumed to be at `sampling_rate`). Files and
    bytes are decoded, and arrays down-mixed and resampled, by the one audio path (`modeling_tft.audio_utils`).
    """
    rate = sampling_rate
    if hasattr(audio, "get_all_samples"):  # torchcodec AudioDecoder: data is (channels, samples)
        samples = audio.get_all_samples()
        data, rate = samples.data.numpy().T, int(samples.sample_rate)
    elif isinstance(audio, dict):
        if audio.get("array") is not None:
            data = np.asarray(audio["array"], dtype=np.float32)
            rate = int(audio.get("sampling_rate") or sampling_rate)
        elif audio.get("bytes") is not None or audio.get("path") is not None:
            return decode(audio["bytes"] if audio.get("bytes") is not None else audio["path"], sampling_rate)
        else:
            raise ValueError("Audio dict has neither `array`, `bytes` nor `path`.")
    elif isinstance(audio, torch.Tensor):
        data = audio.detach().cpu().numpy().astype(np.float32)
    else:
        data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 2 and data.shape[0] < data.shape[1] and data.shape[0] <= 8:
        data = data.T  # (channels, samples) -> (samples, channels)
    data = data[:, 0] if data.ndim == 2 and data.shape[1] == 1 else data
    return to_mono(np.ascontiguousarray(data, dtype=np.float32), rate, sampling_rate)


def list_files(directory: Path) -> list[Path]:
    """Regular files directly inside `directory`, sorted, hidden files (`.name`) excluded.

    Audio files this leaves out (hidden ones, files in sub-folders) are still listed as skipped by the
    layout check of `run_preparation` (`layout=`)."""
    return sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))


def normalise_label(label: str) -> str:
    """The class name of a label spelling: surrounding whitespace stripped, inner runs of whitespace made one
    space, case-folded (`" Sad "`, `"SAD"` and `"sad"` are all class `sad`)."""
    return " ".join(label.split()).casefold()


def audio_files_under(root: Path, exclude: Sequence[Path] = ()) -> list[Path]:
    """Every file with a known audio extension under `root` (any depth, hidden ones too), sorted;
    folders in `exclude` (e.g. an output folder inside `root`) are not searched."""
    excluded = [e.resolve() for e in exclude]
    found = []
    for path in root.rglob("*"):
        if path.suffix.lower() not in KNOWN_AUDIO_EXTENSIONS or not path.is_file():
            continue
        resolved = path.resolve()
        if any(resolved.is_relative_to(e) for e in excluded):
            continue
        found.append(path)
    return sorted(found)


def check_output_dir(output_dir: Path | None, data_dir: Path | None) -> None:
    """Raise `BadArgument` for an `--output_dir` that cannot take a prepared dataset (before any decoding)."""
    if output_dir is None:
        return
    for parent in [output_dir, *output_dir.parents]:
        if parent.exists() and not parent.is_dir():
            what = "is a file" if parent == output_dir else f"lies under {parent}, which is a file"
            raise BadArgument(f"--output_dir {output_dir} {what}, not a folder.")
    if data_dir is not None:
        out, data = output_dir.resolve(), data_dir.resolve()
        if out == data or data.is_relative_to(out):
            raise BadArgument(
                f"--output_dir {output_dir} would hold (and, when prepared again, replace) --data_dir {data_dir}; "
                "choose a folder outside the corpus."
            )
    if output_dir.is_dir() and any(output_dir.iterdir()):
        if not ((output_dir / REPORT_FILENAME).is_file() or (output_dir / "state.json").is_file()):
            raise BadArgument(
                f"--output_dir {output_dir} is not empty and is not a prepared dataset; choose an empty or new folder."
            )


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
    layout: str | None = None,
    scan_exclude: Sequence[Path] = (),
    min_classes: int = 2,
) -> datasets.Dataset:
    """Collect, read, validate, build, report and (optionally) save one corpus.

    Idempotent: when `output_dir` holds a dataset prepared with the same `options`, it is loaded
    and returned (`overwrite=True` forces a fresh preparation). `layout` (e.g. `"<label>/<file>"`) turns on
    the layout check: every audio file under `data_dir` that the scanner neither used nor reported is listed
    as skipped (`outside_layout`, `hidden_file`). Raises `BadArgument` (before any decoding) for unusable
    arguments and `PreparationError` for conflicting duplicates, fewer than `min_classes` classes with rows,
    no usable row, or any problem under `strict`.
    """
    if data_dir is not None and not data_dir.is_dir():
        what = "is not a folder" if data_dir.exists() else "does not exist"
        raise BadArgument(f"--data_dir {data_dir} {what}.")
    check_output_dir(output_dir, data_dir)
    label_names = _normalised_label_names(label_names)
    source = str(data_dir.resolve()) if data_dir is not None else None  # one corpus, however it is reached
    options = {"corpus": corpus, "data_dir": source, "strict": strict, **options}
    if not overwrite and (cached := load_if_prepared(output_dir, options)) is not None:
        log_counts(cached)
        return cached
    collected = collect()
    spellings = _normalise_candidate_labels(corpus, collected)
    _deduplicate(corpus, collected)
    if layout is not None and data_dir is not None:
        _check_layout(collected, data_dir, layout, scan_exclude)
    rows, sources, audio_stats = _read_candidates(collected, label_names)
    problems = collected.problems
    _log_problems(corpus, problems, collected.excluded)
    _log_levels(corpus, audio_stats["levels"])
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
    present = Counter(label_names[i] for i in rows["label"])
    if len(present) < min_classes:
        found = ", ".join(f"{name!r} ({n} rows)" for name, n in sorted(present.items()))
        raise PreparationError(
            f"{corpus}: {len(present)} class(es) with utterances ({found}); at least {min_classes} are needed to "
            "train an emotion classifier (a one-class corpus trains to a meaningless 100 %)."
        )
    empty_classes = [name for name in label_names if name not in present]
    if empty_classes:
        logger.warning("%s: class(es) %s have no utterance; every fold will lack them.", corpus, empty_classes)
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
    report.update(label_spellings=spellings, empty_classes=empty_classes, **collected.notes)
    log_counts(dataset)
    _log_summary(corpus, num_rows, problems, collected.excluded)
    if output_dir is not None:
        _save(dataset, output_dir, report, sources)
    return dataset


def _normalised_label_names(label_names: Sequence[str]) -> tuple[str, ...]:
    """`label_names` as class names (`normalise_label`); two spellings of one class, or an empty one, are refused."""
    names: dict[str, str] = {}
    for raw in label_names:
        name = normalise_label(raw)
        if not name:
            raise BadArgument(f"--label_names {','.join(label_names)!r}: an empty class name.")
        if name in names:
            raise BadArgument(
                f"--label_names {','.join(label_names)!r}: {names[name]!r} and {raw!r} are the same class {name!r} "
                "(labels are compared stripped and case-folded)."
            )
        names[name] = raw
    return tuple(names)


def _normalise_candidate_labels(corpus: str, collected: Collected) -> dict[str, str]:
    """Map every candidate label to its class name; returns (and logs) the spellings that changed."""
    spellings: dict[str, str] = {}
    for cand in collected.candidates:
        name = normalise_label(cand.label)
        if name != cand.label:
            spellings[cand.label] = name
        cand.label = name
    if spellings:
        mapping = ", ".join(f"{raw!r} -> {name!r}" for raw, name in sorted(spellings.items()))
        logger.warning("%s: label spellings normalised (stripped, case-folded) to class names: %s", corpus, mapping)
    return dict(sorted(spellings.items()))


def _candidate_where(cand: Candidate) -> str:
    where = str(cand.path) if cand.path is not None else cand.utterance_id
    return f"{cand.origin} ({where})" if cand.origin else where


def _deduplicate(corpus: str, collected: Collected) -> None:
    """Drop identical second rows of one file (reported as `duplicate`); refuse conflicting ones.

    A file is one resolved path; a row conflicts when it names a file already listed with another label,
    speaker, gender or session, or reuses another file's utterance id (ids must be unique).
    """
    by_path: dict[Path, Candidate] = {}
    by_id: dict[str, Candidate] = {}
    kept: list[Candidate] = []
    conflicts: list[str] = []
    for cand in collected.candidates:
        key = cand.path.resolve() if cand.path is not None else None
        first = by_path.get(key) if key is not None else None
        if first is not None:
            fields = ("label", "speaker", "gender", "session")
            differing = [
                f"{f} {getattr(first, f)!r} vs {getattr(cand, f)!r}"
                for f in fields
                if getattr(first, f) != getattr(cand, f)
            ]
            if differing:
                where = f"{_candidate_where(first)} and {_candidate_where(cand)}"
                conflicts.append(f"  {cand.path}: {where} differ in {'; '.join(differing)}")
            else:
                detail = f"{cand.origin or 'second listing'}: the same row as {first.origin or 'the first listing'}"
                collected.problems.append(Problem(str(cand.path), DUPLICATE, detail))
            continue
        other = by_id.get(cand.utterance_id)
        if other is not None:
            conflicts.append(
                f"  utterance id {cand.utterance_id!r}: both {_candidate_where(other)} and {_candidate_where(cand)}"
            )
            continue
        if key is not None:
            by_path[key] = cand
        by_id[cand.utterance_id] = cand
        kept.append(cand)
    if conflicts:
        raise PreparationError(
            "\n".join(
                [
                    f"{corpus}: {len(conflicts)} conflicting duplicate(s): one file or utterance id listed twice "
                    "with different contents; fix the source (utterance ids must be unique):",
                    *conflicts,
                ]
            )
        )
    collected.candidates = kept


def _check_layout(collected: Collected, data_dir: Path, layout: str, exclude: Sequence[Path]) -> None:
    """List every audio file under `data_dir` that the scanner neither used nor reported."""
    seen = {c.path.resolve() for c in collected.candidates if c.path is not None}
    for problem in collected.problems:
        path = Path(problem.path)
        if path.exists():
            seen.add(path.resolve())
    for path in audio_files_under(data_dir, exclude):
        if path.resolve() in seen:
            continue
        relative = path.relative_to(data_dir)
        if any(part.startswith(".") for part in relative.parts):
            collected.problems.append(Problem(str(path), HIDDEN_FILE, "a hidden file or folder (name starts with '.')"))
        else:
            depth = len(relative.parts)
            collected.problems.append(
                Problem(str(path), OUTSIDE_LAYOUT, f"{relative.as_posix()} is not at {layout} (depth {depth})")
            )


def _read_candidates(
    collected: Collected, label_names: Sequence[str]
) -> tuple[dict[str, list], list[str], dict[str, Any]]:
    """Read every candidate; unusable ones become `Problem`s. Returns columns, sources, stats."""
    columns: dict[str, list] = {name: [] for name in features_for(label_names)}
    sources: list[str] = []
    resampled_from: Counter = Counter()
    downmixed = 0
    levels: list[dict[str, Any]] = []
    label_index = {name: i for i, name in enumerate(label_names)}
    for cand in collected.candidates:
        where = str(cand.path) if cand.path is not None else cand.utterance_id
        if cand.label not in label_index:
            collected.problems.append(Problem(where, UNKNOWN_LABEL, repr(cand.label)))
            continue
        if cand.array is not None:
            data = np.asarray(cand.array, dtype=np.float32)
            rate = SAMPLING_RATE
        elif cand.path.is_file() and cand.path.stat().st_size == 0:
            collected.problems.append(Problem(where, EMPTY, "0-byte file"))
            continue
        elif (reason := unsupported_reason(cand.path)) is not None:
            collected.problems.append(Problem(where, UNSUPPORTED_FORMAT, reason))
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
        if not np.all(np.isfinite(data)):
            collected.problems.append(Problem(where, UNREADABLE, "non-finite samples"))
            continue
        level = Level.of(data)
        if level.peak > MAX_FLOAT_PEAK:
            collected.problems.append(Problem(where, OUT_OF_RANGE, level.refusal()))
            levels.append(level.entry(where, "refused"))
            continue
        array = to_mono_16k(data, rate)
        duration = len(array) / SAMPLING_RATE
        if duration < MIN_DURATION_S:
            detail = f"{duration:.3f} s < MIN_DURATION_S={MIN_DURATION_S} s"
            collected.problems.append(Problem(where, TOO_SHORT, detail))
            continue
        peak = float(np.abs(array).max(initial=0.0))
        if peak > 1.0:  # beyond +-1 in the source, or pushed past it by the down-mix or resampling: scale, never clip
            array = array / peak
            levels.append(level.entry(where, "rescaled", -20 * math.log10(peak)))
        elif level.clipped:
            levels.append(level.entry(where, "kept"))
        columns["audio"].append({"bytes": encode_wav(array), "path": f"{cand.utterance_id}.wav"})
        columns["label"].append(label_index[cand.label])
        columns["speaker"].append(cand.speaker)
        columns["gender"].append(cand.gender)
        columns["session"].append(cand.session)
        columns["utterance_id"].append(cand.utterance_id)
        columns["duration"].append(duration)
        sources.append(where)
    stats = {
        "resampled_from_hz": dict(sorted(resampled_from.items())),
        "downmixed": downmixed,
        "levels": _level_summary(levels),
    }
    return columns, sources, stats


def _level_summary(entries: list[dict[str, Any]]) -> dict[str, Any]:
    by_action = Counter(e["action"] for e in entries)
    return {
        "full_scale": FULL_SCALE,
        "max_float_peak": MAX_FLOAT_PEAK,
        "clipped_files": sum(1 for e in entries if e["clipped_samples"] and e["action"] != "refused"),
        "out_of_range_files": sum(1 for e in entries if e["out_of_range_samples"]),
        "rescaled_files": by_action["rescaled"],
        "refused_files": by_action["refused"],
        "files": entries,
    }


def _describe(description: str, audio_stats: dict[str, Any], num_rows: int) -> str:
    levels = audio_stats["levels"]
    resampled = audio_stats["resampled_from_hz"]
    resample_text = ", ".join(f"{n} file(s) from {rate} Hz" for rate, n in resampled.items()) or "none needed"
    return (
        f"{description.strip()}\n\nPrepared by tft-ser (tft_ser.data): {num_rows} utterances. "
        f"Audio stored once as 16 kHz mono 16-bit PCM WAV; decoded, resampled and down-mixed at preparation by "
        f"FFmpeg (torchcodec; libswresample, as pipeline(file) does): resampled {resample_text}; down-mixed: "
        f"{audio_stats['downmixed']} file(s). Clips shorter than {MIN_DURATION_S} s are skipped "
        f"and reported in {REPORT_FILENAME}. Levels: {levels['clipped_files']} file(s) touch full scale "
        f"(kept, listed); {levels['rescaled_files']} file(s) beyond +-1 scaled by 1/peak (never clipped); "
        f"{levels['refused_files']} refused (peak > {MAX_FLOAT_PEAK})."
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
    if len(manifest) != dataset.num_rows:  # `_deduplicate` makes ids unique; never collapse rows silently
        raise PreparationError(f"{len(manifest)} distinct utterance ids for {dataset.num_rows} rows; nothing saved.")
    if output_dir.exists() and any(output_dir.iterdir()):
        if not ((output_dir / REPORT_FILENAME).is_file() or (output_dir / "state.json").is_file()):
            raise FileExistsError(f"{output_dir} is not empty and is not a prepared dataset.")
        shutil.rmtree(output_dir)
    dataset.save_to_disk(str(output_dir))
    (output_dir / REPORT_FILENAME).write_text(json.dumps(report, indent=2, ensure_ascii=False))
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
    shown: Counter = Counter()
    for problem in problems:  # a few of each reason on the console, all of them in the report
        shown[problem.reason] += 1
        level = logging.WARNING if shown[problem.reason] <= MAX_LOGGED_PER_REASON else logging.DEBUG
        logger.log(level, "skipped %s: %s %s", problem.path, problem.reason, problem.detail)
    for reason, n in sorted(shown.items()):
        if n > MAX_LOGGED_PER_REASON:
            logger.warning(
                "... and %d more %s file(s)/line(s) (see %s)", n - MAX_LOGGED_PER_REASON, reason, REPORT_FILENAME
            )
    if excluded:
        excluded_text = dict(sorted(excluded.items()))
        logger.info("%s: excluded by the chosen variant: %s", corpus, excluded_text)


def _log_levels(corpus: str, levels: dict[str, Any]) -> None:
    entries = levels["files"]
    if not entries:
        logger.info("%s: levels: no file touches full scale or goes beyond +-1.", corpus)
        return
    logger.warning(
        "%s: levels: %d file(s) with samples at full scale (kept), %d with samples beyond +-1, %d scaled by 1/peak, "
        "%d refused; listed under `levels` in %s",
        corpus,
        levels["clipped_files"],
        levels["out_of_range_files"],
        levels["rescaled_files"],
        levels["refused_files"],
        REPORT_FILENAME,
    )
    worst = sorted(entries, key=lambda e: -max(e["clipped_fraction"], e["out_of_range_fraction"]))
    for entry in worst[:MAX_LOGGED_PER_REASON]:
        logger.warning(
            "  %s: peak %.4g, %d sample(s) at full scale (%.3g %%), %d beyond +-1 (%.3g %%): %s",
            entry["path"],
            entry["peak"],
            entry["clipped_samples"],
            100 * entry["clipped_fraction"],
            entry["out_of_range_samples"],
            100 * entry["out_of_range_fraction"],
            entry["action"],
        )


def _log_summary(corpus: str, num_rows: int, problems: list[Problem], excluded: Counter) -> None:
    skipped = len(problems)
    left_out = sum(excluded.values())
    logger.info(
        "%s: summary: %d file(s)/line(s) seen: %d used, %d skipped (%s), %d excluded by the variant.",
        corpus,
        num_rows + skipped + left_out,
        num_rows,
        skipped,
        ", ".join(f"{r}: {n}" for r, n in sorted(Counter(p.reason for p in problems).items())) or "none",
        left_out,
    )


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
    parser.add_argument("--private", action="store_true", help="With --push_to_hub: a private repository.")
    parser.add_argument(
        "--push_restricted_data",
        action="store_true",
        help="Push a corpus whose licence forbids redistribution to a public repository (you hold the right).",
    )
    return parser


def run_cli(
    prepare: Callable[..., datasets.Dataset], args: argparse.Namespace, licence: DataLicence | None = None, **kwargs
) -> int:
    """Run `prepare` from parsed CLI arguments (`licence`: the corpus's, for `--push_to_hub`); the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    refusal = public_push_refusal(licence, args.private, args.push_restricted_data, "--private")
    if args.push_to_hub and refusal:
        return usage_error(BadArgument(f"--push_to_hub: {refusal}"))
    try:
        dataset = prepare(args.data_dir, args.output_dir, strict=args.strict, overwrite=args.overwrite, **kwargs)
    except BadArgument as error:
        return usage_error(error)
    except (PreparationError, FileNotFoundError, FileExistsError) as error:
        logger.error("%s", error)
        return EXIT_FAILED
    if args.push_to_hub:
        if licence is not None:
            dataset.info.license = licence.license
        return push_to_hub(dataset, args.push_to_hub, args.output_dir, private=args.private)
    return 0


def usage_error(error: Exception) -> int:
    """Print an argument error the way argparse does (`<prog>: error: ...`) and return exit code 2."""
    print(f"{Path(sys.argv[0]).name}: error: {error}", file=sys.stderr)
    return EXIT_USAGE


def push_to_hub(dataset: datasets.Dataset, repo_id: str, output_dir: Path | None, private: bool = False) -> int:
    """Push to the Hub; on failure log one clear message (the saved copy is untouched)."""
    try:
        dataset.push_to_hub(repo_id, private=private or None)
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
