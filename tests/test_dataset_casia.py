"""CASIA preparation on the real shared corpus, leave-one-speaker-out folds, load_from_disk."""

from __future__ import annotations

import json
import logging
from collections import Counter

import datasets
import numpy as np
import pytest
from dataset_fixtures import casia_dir  # noqa: F401  (fixture)

from tft_ser.data import (
    CASIA_LABELS,
    decode_audio,
    k_fold_by_speaker,
    leave_one_speaker_out,
    make_folds,
    prepare_casia,
)
from tft_ser.data.common import MANIFEST_FILENAME, REPORT_FILENAME

SCHEMA = ("audio", "label", "speaker", "gender", "session", "utterance_id", "duration")


@pytest.fixture(scope="module")
def casia(casia_dir, tmp_path_factory):  # noqa: F811
    output_dir = tmp_path_factory.mktemp("prepared") / "casia"
    return prepare_casia(casia_dir, output_dir, strict=True), output_dir


def test_counts_match_readme(casia):
    dataset, _ = casia
    assert dataset.num_rows == 1200
    assert dataset.features["label"].names == list(CASIA_LABELS)
    assert Counter(dataset["label"]) == dict.fromkeys(range(6), 200)
    speakers = Counter(dataset["speaker"])
    assert speakers == {"liuchanhg": 300, "zhaoquanyin": 300, "wangzhe": 300, "ZhaoZuoxiang": 300}
    genders = {s: g for s, g in zip(dataset["speaker"], dataset["gender"], strict=True)}
    assert genders == {"liuchanhg": "female", "zhaoquanyin": "female", "wangzhe": "male", "ZhaoZuoxiang": "male"}
    assert set(dataset["session"]) == {None}
    assert len(set(dataset["utterance_id"])) == 1200
    durations = np.array(dataset["duration"])
    assert 0.9 < durations.min() and durations.max() < 5.0


def test_leave_one_speaker_out_covers_each_utterance_once(casia):
    dataset, _ = casia
    folds = leave_one_speaker_out(dataset)
    assert len(folds) == 4
    tested = Counter()
    for fold in folds:
        sides = {name: set(split["speaker"]) for name, split in fold.splits.items()}
        assert not sides["train"] & sides["validation"]
        assert not sides["train"] & sides["test"]
        assert not sides["validation"] & sides["test"]
        assert sides["test"] == set(fold.test_speakers) and len(fold.test_speakers) == 1
        assert sides["validation"] == set(fold.validation_speakers)
        assert len(fold.validation_speakers) == 1 and len(fold.train_speakers) == 2
        assert sum(s.num_rows for s in fold.splits.values()) == 1200
        assert fold.name == f"test={fold.test_speakers[0]}"
        tested.update(fold.splits["test"]["utterance_id"])
    assert len(tested) == 1200 and set(tested.values()) == {1}
    # Validation = next speaker in sorted order, cyclically (CASIA has no sessions).
    by_test = {f.test_speakers[0]: f.validation_speakers[0] for f in folds}
    assert by_test == {
        "ZhaoZuoxiang": "liuchanhg",
        "liuchanhg": "wangzhe",
        "wangzhe": "zhaoquanyin",
        "zhaoquanyin": "ZhaoZuoxiang",
    }


def test_fold_options_and_errors(casia):
    dataset, _ = casia
    no_validation = leave_one_speaker_out(dataset, validation_speakers=0)[0]
    assert no_validation.splits["validation"].num_rows == 0
    assert no_validation.splits["train"].num_rows == 900
    two = k_fold_by_speaker(dataset, 2, validation_speakers=1, seed=3)
    assert [len(f.test_speakers) for f in two] == [2, 2]
    assert make_folds(dataset, "k_fold_by_speaker", k=2, seed=3)[1].name == two[1].name
    with pytest.raises(ValueError, match="Unknown protocol"):
        make_folds(dataset, "random_split")
    with pytest.raises(ValueError, match="session"):
        make_folds(dataset, "leave_one_session_out")
    with pytest.raises(ValueError, match="validation speaker"):
        leave_one_speaker_out(dataset, validation_speakers=3)


def test_load_from_disk_schema_and_audio(casia):
    _, output_dir = casia
    loaded = datasets.load_from_disk(str(output_dir))
    assert tuple(loaded.column_names) == SCHEMA
    assert isinstance(loaded.features["audio"], datasets.Audio)
    assert loaded.features["audio"].sampling_rate == 16000
    assert isinstance(loaded.features["label"], datasets.ClassLabel)
    assert "16 kHz" in loaded.info.description and "resampled" in loaded.info.description
    row = loaded[7]
    samples = decode_audio(row["audio"])
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) == round(row["duration"] * 16000)
    assert 0 < np.abs(samples).max() <= 1.0
    report = json.loads((output_dir / REPORT_FILENAME).read_text())
    assert report["num_rows"] == 1200 and report["num_skipped"] == 0 and report["skipped"] == []
    assert report["label_counts"] == dict.fromkeys(CASIA_LABELS, 200)
    manifest = json.loads((output_dir / MANIFEST_FILENAME).read_text())
    assert manifest[row["utterance_id"]]["speaker"] == row["speaker"]


def test_rerun_is_idempotent(casia, casia_dir, caplog):  # noqa: F811
    dataset, output_dir = casia
    with caplog.at_level(logging.INFO, logger="tft_ser.data"):
        again = prepare_casia(casia_dir, output_dir, strict=True)
    assert "already prepared" in caplog.text
    assert again["utterance_id"] == dataset["utterance_id"]
    assert again["label"] == dataset["label"]
