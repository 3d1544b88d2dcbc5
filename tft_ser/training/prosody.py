"""eGeMAPS low-level descriptors of every clip (openSMILE, 10 ms), standardised as the log-mel is: search screens."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import datasets
import numpy as np

from .data import iter_clips

CACHE = Path("outputs/opensmile_cache")
F0 = 10  # F0semitoneFrom27.5Hz_sma3nz: 0 in unvoiced frames
VOICED_ONLY = slice(10, 25)  # the *_sma3nz descriptors: defined in voiced frames only
SOURCE = os.environ.get("TFT_PROSODY_SOURCE", "opensmile")  # or "torch": modeling_tft.prosody_tft
if SOURCE == "torch":
    VOICED_ONLY = slice(10, 13)
GROUPS = {"spectral": range(0, 10), "pitch": [10], "quality": range(11, 16), "formants": range(16, 25)}


def _columns() -> list[int]:
    """The descriptor columns kept (ablation screens): `TFT_PROSODY_GROUPS`, comma-separated names of `GROUPS`
    (all when unset); the voicing flag is always added."""
    if SOURCE == "torch":
        return list(range(13))
    names = os.environ.get("TFT_PROSODY_GROUPS", ",".join(GROUPS)).split(",")
    return sorted(i for name in names for i in GROUPS[name])


def _torch_contours(everything: datasets.Dataset, cache: Path) -> list[np.ndarray]:
    """`modeling_tft.prosody_tft`'s contours of every clip (13 channels, F0 at column 10), cached by its source."""
    import torch

    from modeling_tft import prosody_tft

    cache = cache.with_name(
        cache.stem + f"_{hashlib.sha1(Path(prosody_tft.__file__).read_bytes()).hexdigest()[:8]}.npz"
    )
    if cache.exists():
        stored = np.load(cache, allow_pickle=True)
        return list(stored["values"])
    values = []
    for clip in iter_clips(everything):
        contours, _ = prosody_tft.prosody_contours(torch.from_numpy(clip)[None], 1 + (len(clip) - 512) // 160)
        values.append(contours[0].numpy())
    stored = np.empty(len(values), dtype=object)
    stored[:] = values
    np.savez(cache, values=stored)
    return values


def _descriptors(everything: datasets.Dataset) -> list[np.ndarray]:
    import opensmile

    ids = [str(i) for i in everything["utterance_id"][:]]
    if SOURCE == "torch":
        key = hashlib.sha1("|".join(ids).encode()).hexdigest()[:12]
        return _torch_contours(everything, CACHE / f"torch_{key}.npz")
    cache = CACHE / f"lld_{hashlib.sha1('|'.join(sorted(ids)).encode()).hexdigest()[:12]}_eGeMAPSv02.npz"
    if cache.exists():
        stored = np.load(cache, allow_pickle=True)
        by_id = dict(zip(stored["ids"].tolist(), stored["values"], strict=True))
        return [by_id[i] for i in ids]
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.LowLevelDescriptors
    )
    values = [smile.process_signal(clip, 16000).to_numpy().astype(np.float32) for clip in iter_clips(everything)]
    CACHE.mkdir(parents=True, exist_ok=True)
    stored = np.empty(len(values), dtype=object)
    stored[:] = values
    np.savez(cache, ids=np.asarray(ids, dtype=object), values=stored)
    return values


def _statistics(clips: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    frames = np.concatenate(clips)
    voiced = frames[:, F0] > 0
    mean, std = frames.mean(0), frames.std(0)
    mean[VOICED_ONLY], std[VOICED_ONLY] = frames[voiced, VOICED_ONLY].mean(0), frames[voiced, VOICED_ONLY].std(0)
    return mean, std + 1e-6


def fold_prosody(splits: list[datasets.Dataset], per_speaker: bool) -> dict[int, np.ndarray]:
    """Corpus row -> `(frames, len(_columns()) + 1)`: the kept eGeMAPSv02 descriptors standardised with the
    training split's statistics (`per_speaker=False`) or each speaker's own over all of that speaker's clips (no
    labels), the voiced-only ones over voiced frames and 0 elsewhere, plus a voicing flag."""
    everything = datasets.concatenate_datasets(splits)
    values = _descriptors(everything)
    rows = everything["row"][:]
    speakers = np.asarray(everything["speaker"][:], dtype=object)
    groups = {s: np.flatnonzero(speakers == s) for s in np.unique(speakers)} if per_speaker else {}
    train_statistics = _statistics(values[: len(splits[0])])
    statistics = {}
    for speaker, indices in groups.items():
        statistics[speaker] = _statistics([values[i] for i in indices])
    out, columns = {}, _columns()
    for i, clip in enumerate(values):
        mean, std = statistics[speakers[i]] if per_speaker else train_statistics
        voiced = clip[:, F0] > 0
        standardised = (clip - mean) / std
        standardised[~voiced, VOICED_ONLY] = 0.0
        out[int(rows[i])] = np.concatenate([standardised[:, columns], voiced[:, None]], axis=1).astype(np.float32)
    return out
