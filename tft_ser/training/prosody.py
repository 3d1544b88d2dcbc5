"""eGeMAPS low-level descriptors of every clip (openSMILE, 10 ms), standardised as the log-mel is: search screens."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import datasets
import numpy as np

from .data import iter_clips

CACHE = Path("outputs/opensmile_cache")


def _egemaps(clips: Iterable[np.ndarray]) -> list[np.ndarray]:
    import opensmile

    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.LowLevelDescriptors
    )
    return [smile.process_signal(clip, 16000).to_numpy().astype(np.float32) for clip in clips]


def _pesto(clips: Iterable[np.ndarray]) -> list[np.ndarray]:
    """Per 10-ms frame: F0 in semitones above 27.5 Hz (PESTO, LGPL, ships its weights), its confidence, and the
    log energy (dB) of a 25-ms window; laid out as the eGeMAPS descriptors' columns F0 = 0, 1, 2."""
    import pesto
    import torch

    out = []
    for clip in clips:
        waveform = torch.from_numpy(np.asarray(clip, dtype=np.float32))
        _, frequency, confidence, _ = pesto.predict(waveform, 16000, step_size=10.0)
        frames = frequency.shape[-1]
        padded = np.pad(clip, 200)
        windows = np.lib.stride_tricks.sliding_window_view(padded, 400)[::160][:frames]
        energy = 10 * np.log10((windows.astype(np.float64) ** 2).mean(1) + 1e-10)
        semitones = 12 * np.log2(frequency.numpy().clip(min=27.5) / 27.5)
        semitones[confidence.numpy() < VOICING] = 0.0
        out.append(np.stack([semitones, confidence.numpy(), energy[: len(semitones)]], 1).astype(np.float32))
    return out


SOURCES = {"egemaps": (_egemaps, 10, slice(10, 25)), "pesto": (_pesto, 0, slice(0, 1))}  # extractor, F0, voiced-only
VOICING = 0.5  # PESTO confidence above which a frame counts as voiced


def _descriptors(everything: datasets.Dataset, source: str) -> list[np.ndarray]:
    ids = [str(i) for i in everything["utterance_id"][:]]
    name = "eGeMAPSv02" if source == "egemaps" else source
    cache = CACHE / f"lld_{hashlib.sha1('|'.join(sorted(ids)).encode()).hexdigest()[:12]}_{name}.npz"
    if cache.exists():
        stored = np.load(cache, allow_pickle=True)
        by_id = dict(zip(stored["ids"].tolist(), stored["values"], strict=True))
        return [by_id[i] for i in ids]
    values = SOURCES[source][0](iter_clips(everything))
    CACHE.mkdir(parents=True, exist_ok=True)
    stored = np.empty(len(values), dtype=object)
    stored[:] = values
    np.savez(cache, ids=np.asarray(ids, dtype=object), values=stored)
    return values


def _statistics(clips: list[np.ndarray], f0: int, voiced_only: slice) -> tuple[np.ndarray, np.ndarray]:
    frames = np.concatenate(clips)
    voiced = frames[:, f0] > 0
    mean, std = frames.mean(0), frames.std(0)
    mean[voiced_only], std[voiced_only] = frames[voiced, voiced_only].mean(0), frames[voiced, voiced_only].std(0)
    return mean, std + 1e-6


def fold_prosody(splits: list[datasets.Dataset], per_speaker: bool, source: str = "egemaps") -> dict[int, np.ndarray]:
    """Corpus row -> `(frames, 26)`: the 25 eGeMAPSv02 descriptors standardised with the training split's statistics
    (`per_speaker=False`) or each speaker's own over all of that speaker's clips (no labels), the voiced-only ones
    over voiced frames and 0 elsewhere, plus a voicing flag."""
    everything = datasets.concatenate_datasets(splits)
    values = _descriptors(everything, source)
    _, f0, voiced_only = SOURCES[source]
    rows = everything["row"][:]
    speakers = np.asarray(everything["speaker"][:], dtype=object)
    groups = {s: np.flatnonzero(speakers == s) for s in np.unique(speakers)} if per_speaker else {}
    train_statistics = _statistics(values[: len(splits[0])], f0, voiced_only)
    statistics = {}
    for speaker, indices in groups.items():
        statistics[speaker] = _statistics([values[i] for i in indices], f0, voiced_only)
    out = {}
    for i, clip in enumerate(values):
        mean, std = statistics[speakers[i]] if per_speaker else train_statistics
        voiced = clip[:, f0] > 0
        standardised = (clip - mean) / std
        standardised[~voiced, voiced_only] = 0.0
        out[int(rows[i])] = np.concatenate([standardised, voiced[:, None]], axis=1).astype(np.float32)
    return out
