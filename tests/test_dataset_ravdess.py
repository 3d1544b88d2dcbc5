"""RAVDESS speech preparation on the real shared corpus (FLAC) and on original-style WAV."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import datasets
import numpy as np
import pytest
import soundfile as sf
from dataset_fixtures import ravdess_dir  # noqa: F401  (fixture)

from tft_ser.data import RAVDESS_LABELS, decode_audio, k_fold_by_speaker, prepare_ravdess
from tft_ser.data.common import REPORT_FILENAME


@pytest.fixture(scope="module")
def ravdess(ravdess_dir, tmp_path_factory):  # noqa: F811
    output_dir = tmp_path_factory.mktemp("prepared") / "ravdess"
    return prepare_ravdess(ravdess_dir, output_dir, strict=True), output_dir


def test_counts_match_readme(ravdess):
    dataset, _ = ravdess
    assert dataset.num_rows == 1440
    names = dataset.features["label"].names
    assert names == list(RAVDESS_LABELS)
    counts = {names[i]: n for i, n in Counter(dataset["label"]).items()}
    assert counts == {"neutral": 96, **dict.fromkeys(RAVDESS_LABELS[1:], 192)}
    speakers = Counter(dataset["speaker"])
    assert len(speakers) == 24 and set(speakers.values()) == {60}
    for speaker, gender in set(zip(dataset["speaker"], dataset["gender"], strict=True)):
        actor = int(speaker.removeprefix("Actor_"))
        assert gender == ("male" if actor % 2 else "female")


def test_six_folds_of_four_actors(ravdess):
    dataset, _ = ravdess
    folds = k_fold_by_speaker(dataset, 6, validation_speakers=2, seed=0)
    tested = Counter()
    for fold in folds:
        assert len(fold.test_speakers) == 4 and len(fold.validation_speakers) == 2
        sides = [set(fold.splits[name]["speaker"]) for name in ("train", "validation", "test")]
        assert sum(len(s) for s in sides) == len(set.union(*sides)) == 24
        tested.update(fold.splits["test"]["utterance_id"])
    assert len(tested) == 1440 and set(tested.values()) == {1}
    # The two identical Actor_07 recordings always land on the same side.
    quirk = {"03-01-03-01-02-01-07", "03-01-03-01-02-02-07"}
    for fold in folds:
        sides = [quirk & set(fold.splits[n]["utterance_id"]) for n in fold.splits]
        assert sorted(len(s) for s in sides) == [0, 0, 2]


def test_load_from_disk(ravdess):
    _, output_dir = ravdess
    loaded = datasets.load_from_disk(str(output_dir))
    samples = decode_audio(loaded[0]["audio"])
    assert samples.dtype == np.float32 and len(samples) == round(loaded[0]["duration"] * 16000)
    assert isinstance(loaded.features["label"], datasets.ClassLabel)


def test_original_wav_48k_stereo_is_resampled_and_downmixed(ravdess_dir, tmp_path):  # noqa: F811
    """The original release is 48 kHz WAV (a few stereo): resampled and down-mixed once."""
    # Three emotions (neutral, sad, fearful): a one-class corpus is refused.
    sources = sorted((ravdess_dir / "Actor_01").glob("*.flac"))[::20][:3]
    folder = tmp_path / "raw" / "Actor_01"
    folder.mkdir(parents=True)
    for i, source in enumerate(sources):
        data, rate = sf.read(source, dtype="float32")
        data = np.interp(np.arange(0, len(data), rate / 48000), np.arange(len(data)), data)
        if i == 0:
            data = np.stack([data, data], axis=1)
        sf.write(folder / f"{source.stem}.wav", data, 48000, subtype="PCM_16")
    shutil.copy(sources[0], folder.parent / "README.md")  # a stray file outside Actor_ folders
    dataset = prepare_ravdess(tmp_path / "raw", tmp_path / "out", expected_num_rows=3)
    report = json.loads((tmp_path / "out" / REPORT_FILENAME).read_text())
    assert report["resampled_from_hz"] == {"48000": 3} and report["downmixed"] == 1
    assert "3 file(s) from 48000 Hz" in dataset.info.description
    reference = sf.read(sources[1], dtype="float32")[0]
    assert abs(dataset[1]["duration"] - len(reference) / 16000) < 0.01
