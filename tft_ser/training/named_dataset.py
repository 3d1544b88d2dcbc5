"""`--dataset_name`: any dataset that `datasets.load_dataset` reads (a Hub id, or a local folder such as an
`audiofolder` with a `metadata.csv`), put through the same checks, report and schema as a corpus prepared by
tft_ser.data (`run_preparation`: unreadable, empty, too-short, out-of-range and unlabelled clips are skipped and
listed in `preparation_report.json`), into OUTPUT/prepared/train and, with an eval split, OUTPUT/prepared/eval.

Option names and defaults are those of transformers' `run_audio_classification.py` (plus `--speaker_column_name`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import datasets
import numpy as np

from tft_ser.data import Fold, decode_audio
from tft_ser.data.common import (
    MISSING_AUDIO,
    UNREADABLE,
    Candidate,
    Collected,
    Problem,
    normalise_label,
    run_preparation,
)

from .arguments import DataArguments, UsageError

logger = logging.getLogger(__name__)
DEFAULT_EVAL_SPLIT = "validation"


def load_named_dataset(
    args: DataArguments, output_dir: Path, seed: int
) -> tuple[datasets.Dataset, datasets.Dataset | None, str]:
    """The prepared training rows, the prepared eval split (None: speaker-independent folds are made from the
    training rows) and a short name for the dataset."""
    try:
        raw = datasets.load_dataset(args.dataset_name, args.dataset_config_name)
    except Exception as error:  # not found, offline, unreadable: every failure means this option cannot work
        message = " ".join(str(error).split())[:300]
        raise UsageError(
            f"--dataset_name {args.dataset_name}: cannot load it ({type(error).__name__}: {message})"
        ) from error
    name = Path(args.dataset_name.rstrip("/")).name
    if args.train_split_name not in raw:
        raise UsageError(f"--train_split_name {args.train_split_name}: no such split in {name} (it has {list(raw)}).")
    evaluation = raw.get(args.eval_split_name)
    if evaluation is None and args.eval_split_name != DEFAULT_EVAL_SPLIT:
        raise UsageError(f"--eval_split_name {args.eval_split_name}: no such split in {name} (it has {list(raw)}).")
    if evaluation is None and args.max_eval_samples is not None:
        raise UsageError(f"--max_eval_samples: {name} has no eval split ({args.eval_split_name}) to shorten.")
    splits = {"train": _limited(raw[args.train_split_name], args.max_train_samples, seed)}
    if evaluation is not None:
        splits["eval"] = _limited(evaluation, args.max_eval_samples, seed)
    has_speakers = _check_columns(splits, args, name)
    if not has_speakers and evaluation is None:
        raise UsageError(
            f"--speaker_column_name {args.speaker_column_name}: {name} has no such column; speaker-independent folds "
            f"need one (or give an --eval_split_name split to test on)."
        )
    label_names = _label_names(splits, args.label_column_name)
    prepared = {
        key: _prepare(split, key, label_names, args, output_dir / "prepared" / key, name, has_speakers)
        for key, split in splits.items()
    }
    if evaluation is None and any(speaker is None for speaker in prepared["train"]["speaker"][:]):
        raise UsageError(f"--speaker_column_name {args.speaker_column_name}: some rows of {name} have no speaker.")
    if evaluation is not None and has_speakers:
        shared = set(prepared["train"]["speaker"][:]) & set(prepared["eval"]["speaker"][:]) - {None}
        if shared:
            logger.warning(f"{name}: speakers {sorted(shared)[:10]} are in both splits: not speaker-independent.")
    prepared["train"].info.license = raw[args.train_split_name].info.license  # for the model card (licences.py)
    return prepared["train"], prepared.get("eval"), name


def eval_split_fold(train: datasets.Dataset, evaluation: datasets.Dataset, args: DataArguments, seed: int) -> Fold:
    """The one "fold" of a dataset with an eval split: train on the training split (less `--validation_speakers`
    speakers drawn with `seed`, when it has speakers), test on the eval split."""
    speakers = np.asarray(train["speaker"][:], dtype=object)
    pool = sorted(set(speakers.tolist()) - {None})
    validation: list[str] = []
    if pool and args.validation_speakers:
        if args.validation_speakers >= len(pool):
            raise UsageError(
                f"--validation_speakers {args.validation_speakers}: the training split has only {len(pool)} speakers."
            )
        validation = np.random.default_rng(seed).choice(pool, size=args.validation_speakers, replace=False).tolist()
    in_validation = np.array([s in validation for s in speakers], dtype=bool)
    splits = datasets.DatasetDict(
        train=train.select(np.flatnonzero(~in_validation)),
        validation=train.select(np.flatnonzero(in_validation)),
        test=evaluation,
    )
    test_speakers = sorted(set(evaluation["speaker"][:]) - {None})
    return Fold(
        index=0,
        name=f"test={args.eval_split_name}",
        test_speakers=tuple(test_speakers) or (args.eval_split_name,),
        validation_speakers=tuple(sorted(validation)),
        train_speakers=tuple(sorted(set(pool) - set(validation))),
        splits=splits,
    )


def _limited(split: datasets.Dataset, limit: int | None, seed: int) -> datasets.Dataset:
    """At most `limit` rows, drawn as run_audio_classification.py does (shuffled with the seed)."""
    return split if limit is None else split.shuffle(seed=seed).select(range(min(limit, len(split))))


def _check_columns(splits: dict[str, datasets.Dataset], args: DataArguments, name: str) -> bool:
    """Refuse a missing audio or label column; whether every split has the speaker column."""
    for key, split in splits.items():
        for option in ("audio_column_name", "label_column_name"):
            column = getattr(args, option)
            if column not in split.column_names:
                raise UsageError(f"--{option} {column}: no such column in {name}'s {key} split {split.column_names}.")
    return all(args.speaker_column_name in split.column_names for split in splits.values())


def _label_names(splits: dict[str, datasets.Dataset], column: str) -> list[str]:
    """A `ClassLabel`'s names, else the sorted string labels of every split (they become a `ClassLabel`)."""
    feature = splits["train"].features[column]
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    values = {normalise_label(str(v)) for split in splits.values() for v in split[column][:] if v not in (None, "")}
    return sorted(values - {""})


def _prepare(
    split: datasets.Dataset,
    key: str,
    label_names: list[str],
    args: DataArguments,
    output_dir: Path,
    name: str,
    has_speakers: bool,
) -> datasets.Dataset:
    options = {
        "dataset_name": args.dataset_name,
        "dataset_config_name": args.dataset_config_name,
        "split": args.train_split_name if key == "train" else args.eval_split_name,
        "columns": [args.audio_column_name, args.label_column_name, args.speaker_column_name if has_speakers else None],
        "max_samples": args.max_train_samples if key == "train" else args.max_eval_samples,
        "num_rows": len(split),
    }
    return run_preparation(
        corpus=f"{name} ({options['split']})",
        collect=lambda: _collect(split, key, args, has_speakers),
        label_names=label_names,
        data_dir=None,
        output_dir=output_dir,
        options=options,
        strict=False,
        expected_num_rows=None,
        description=f"{args.dataset_name} ({options['split']} split), read with datasets.load_dataset.",
        min_classes=2 if key == "train" else 1,
    )


def _collect(split: datasets.Dataset, key: str, args: DataArguments, has_speakers: bool) -> Collected:
    """One candidate per row (a local file is read and checked as tft_ser.data reads files; stored bytes are decoded
    here, to 16 kHz mono), or a problem."""
    columns = [args.audio_column_name, args.label_column_name] + ([args.speaker_column_name] if has_speakers else [])
    split = split.select_columns(columns)
    if isinstance(split.features[args.audio_column_name], datasets.Audio):
        split = split.cast_column(args.audio_column_name, datasets.Audio(decode=False))
    label_feature = split.features[args.label_column_name]
    collected = Collected(candidates=[])
    for index, row in enumerate(split):
        audio, label = row[args.audio_column_name], row[args.label_column_name]
        if isinstance(label_feature, datasets.ClassLabel) and label is not None and label >= 0:
            label = label_feature.int2str(label)
        audio = {"path": audio, "bytes": None} if isinstance(audio, str) else audio
        path = audio.get("path")
        where = f"{key}[{index}]" + (f" {path}" if path else "")
        candidate = Candidate(
            utterance_id=f"{key}-{index:06d}" + (f"-{Path(path).stem}" if path else ""),
            label=str(label if label is not None else ""),
            speaker=str(row[args.speaker_column_name]) if has_speakers and row[args.speaker_column_name] else None,
            origin=where,
        )
        if audio.get("bytes") is not None:
            try:
                candidate.array = decode_audio({"bytes": audio["bytes"]})
            except Exception as error:  # soundfile raises several types on bad data
                collected.problems.append(Problem(where, UNREADABLE, str(error).strip()))
                continue
        elif path and Path(path).is_file():
            candidate.path = Path(path)
        else:
            collected.problems.append(Problem(where, MISSING_AUDIO, f"no audio bytes and no file at {path!r}"))
            continue
        collected.candidates.append(candidate)
    return collected
