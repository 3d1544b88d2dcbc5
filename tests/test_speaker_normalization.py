"""Per-speaker normalisation (`--normalization speaker`): statistics, collator, and a run end to end."""

import json

import datasets
import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from test_run_train import run

from modeling_tft import TFTFeatureExtractor
from modeling_tft.prosody_tft import PROSODY_CHANNELS, SPECTRAL
from tft_ser.training.data import SpeechEmotionCollator, iter_clips, speaker_statistics


def clips_of(speaker_gain: float, seed: int, count: int = 6) -> list[np.ndarray]:
    """A speaker's clips: 0.5 s of a 150-Hz harmonic tone (voiced), then 0.5 s of noise, at `speaker_gain`."""
    rng, t = np.random.default_rng(seed), np.arange(8000) / 16000
    tone = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 6))
    clips = [np.concatenate([tone + 0.05 * rng.standard_normal(8000), rng.standard_normal(8000)]) for _ in range(count)]
    return [(speaker_gain * clip).astype(np.float32) for clip in clips]


def test_each_speaker_is_standardised_with_its_own_statistics():
    extractor = TFTFeatureExtractor(feature_size=16, max_length=120, normalization="none")
    examples = [{"audio": a, "label": 0, "speaker": "loud"} for a in clips_of(0.1, 0)]
    examples += [{"audio": a, "label": 1, "speaker": "quiet"} for a in clips_of(0.001, 1)]
    statistics = speaker_statistics(datasets.Dataset.from_list(examples), extractor)
    assert set(statistics) == {"loud", "quiet"}
    assert (statistics["loud"][0][:16] - statistics["quiet"][0][:16]).min() > 5  # 40 dB apart in every band
    batch = SpeechEmotionCollator(extractor, train=False, speaker_statistics=statistics)(examples)
    for speaker in ("loud", "quiet"):
        rows = [i for i, e in enumerate(examples) if e["speaker"] == speaker]
        frames = batch["input_features"][rows][batch["attention_mask"][rows].bool()]  # (valid frames, channels)
        every_frame = frames[:, : 16 + len(SPECTRAL)]  # mel bands and spectral contours
        torch.testing.assert_close(every_frame.mean(0), torch.zeros(26), atol=1e-4, rtol=0)
        torch.testing.assert_close(every_frame.std(0, unbiased=False), torch.ones(26), atol=1e-3, rtol=0)
        voiced = frames[:, -1] == 1  # the tone's frames: the voiced-only contours over them, 0 elsewhere
        assert frames.shape[1] == 16 + len(PROSODY_CHANNELS) and 0.3 < voiced.float().mean() < 0.7
        torch.testing.assert_close(frames[voiced, 26:29].mean(0), torch.zeros(3), atol=1e-3, rtol=0)  # float32
        assert torch.all(frames[~voiced, 26:] == 0)
    collator = SpeechEmotionCollator(extractor, train=False, speaker_statistics=statistics)
    with pytest.raises(KeyError, match=r"No speaker statistics for speaker\(s\) \['new'\]"):
        collator([{**examples[0], "speaker": "new"}])
    with pytest.raises(ValueError, match="normalised twice"):
        SpeechEmotionCollator(TFTFeatureExtractor(), train=True, speaker_statistics=statistics)


def test_run_with_speaker_normalisation_exports_pooled_statistics(tmp_path):
    results = run(tmp_path, "--normalization", "speaker", "--folds", "0", "--num_train_epochs", "1")
    assert results["arguments"]["model"]["normalization"] == "speaker"
    config = json.loads((tmp_path / "export" / "preprocessor_config.json").read_text())
    channels = 64 + len(PROSODY_CHANNELS)
    assert config["normalization"] == "global" and len(config["mean"]) == len(config["std"]) == channels
    assert "per-speaker normalisation" in ModelCard.load(tmp_path / "export" / "README.md").text


def fitted(clips: datasets.Dataset) -> TFTFeatureExtractor:
    """Global statistics of `clips` as a fold fits them (whole clips, 64 bands, 64 clips per batch)."""
    return TFTFeatureExtractor(feature_size=64, max_length=None, normalization="none").fit(
        iter_clips(clips), sampling_rate=16000
    )


def speakers_rows(dataset: datasets.Dataset, speakers: list[str]) -> datasets.Dataset:
    return dataset.filter(lambda speaker: speaker in speakers, input_columns="speaker")  # row order kept


@pytest.mark.parametrize("normalization", ["global", "speaker"])
def test_shipped_statistics_come_from_the_training_speakers_only(tmp_path, normalization):
    """The fold model's (and the export's) mean/std are those of the fold's training speakers: not of all speakers,
    not with the validation or test speakers added."""
    results = run(tmp_path, "--normalization", normalization, "--folds", "0", "--num_train_epochs", "1")
    fold = results["folds"][0]
    prepared = datasets.load_from_disk(str(tmp_path / "prepared"))
    train = fitted(speakers_rows(prepared, fold["train_speakers"]))
    wider = {
        "all speakers": fitted(prepared),
        "train + validation": fitted(speakers_rows(prepared, fold["train_speakers"] + fold["validation_speakers"])),
        "train + test": fitted(speakers_rows(prepared, fold["train_speakers"] + fold["test_speakers"])),
    }
    for folder in (tmp_path / "fold_0" / "model", tmp_path / "export"):
        shipped = json.loads((folder / "preprocessor_config.json").read_text())
        assert shipped["normalization"] == "global"
        np.testing.assert_allclose(shipped["mean"], train.mean, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(shipped["std"], train.std, rtol=1e-6, atol=1e-6)
        for name, other in wider.items():  # the check can tell them apart: each is far beyond the tolerance
            distance = np.abs(np.subtract(shipped["mean"], other.mean)).max()
            assert distance > 1e-3, f"{folder.name}: statistics indistinguishable from those of {name}"
