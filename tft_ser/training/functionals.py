"""eGeMAPS functionals of every clip of a fold (openSMILE), standardised as the log-mel is: search screens."""

from __future__ import annotations

import hashlib
from pathlib import Path

import datasets
import numpy as np

from .data import iter_clips

CACHE = Path("outputs/opensmile_cache")


def fold_functionals(splits: list[datasets.Dataset], per_speaker: bool) -> np.ndarray:
    """(max row + 1, 88) eGeMAPSv02 functionals by corpus row, standardised with the training split's mean/std
    (`per_speaker=False`) or with each speaker's own mean/std over all of that speaker's clips (no labels)."""
    import opensmile

    everything = datasets.concatenate_datasets(splits)
    ids = [str(i) for i in everything["utterance_id"][:]]
    rows = np.asarray(everything["row"][:])
    cache = CACHE / f"rows_{hashlib.sha1('|'.join(sorted(ids)).encode()).hexdigest()[:12]}_eGeMAPSv02.npz"
    order = np.argsort(ids)
    if cache.exists():
        values = np.load(cache)["features"]
    else:
        smile = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
        )
        computed = np.stack([smile.process_signal(clip, 16000).to_numpy()[0] for clip in iter_clips(everything)])
        values = computed[order]
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(cache, features=values)
    features = np.empty((len(ids), values.shape[1]))
    features[order] = values  # back to `everything`'s order
    speakers = np.asarray(everything["speaker"][:], dtype=object)
    num_train = len(splits[0])
    out = np.zeros((rows.max() + 1, features.shape[1]), dtype=np.float32)
    if per_speaker:
        for speaker in np.unique(speakers):
            mine = speakers == speaker
            out[rows[mine]] = (features[mine] - features[mine].mean(0)) / (features[mine].std(0) + 1e-8)
    else:
        mean, std = features[:num_train].mean(0), features[:num_train].std(0) + 1e-8
        out[rows] = (features - mean) / std
    return out
