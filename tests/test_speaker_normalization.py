"""Per-speaker normalisation (`--normalization speaker`): statistics, collator, and a run end to end."""

import json

import datasets
import numpy as np
import pytest
import torch
from conftest import tiny_config_kwargs
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import LeaveOneGroupOut
from sklearn.preprocessing import StandardScaler
from test_run_train import run

from modeling_tft import TFTConfig, TFTFeatureExtractor, TFTForAudioClassification
from modeling_tft.prosody_tft import PROSODY_CHANNELS, SPECTRAL
from tft_ser.training import run_train
from tft_ser.training.arguments import ModelArguments
from tft_ser.training.data import SpeechEmotionCollator, iter_clips, speaker_statistics
from tft_ser.training.head_refit import (
    REFIT_CS,
    SINGLE_CLIP_REFIT_FUNCTIONALS_WEIGHT,
    SPEAKER_REFIT_FUNCTIONALS_WEIGHT,
    refit_transformer_head,
)
from tft_ser.training.models import protocol_head_settings, refits_head


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


def speakers_embeddings(rng: np.random.Generator, centres: np.ndarray, speakers: int, per_class: int = 20):
    """Embeddings of 3 classes around `centres`, each speaker's moved and scaled by their own offset and gain."""
    labels = np.tile(np.repeat(np.arange(3), per_class), speakers)
    owners = np.repeat(np.arange(speakers), 3 * per_class)
    offsets, gains = 4 * rng.standard_normal((speakers, centres.shape[1])), rng.uniform(0.3, 3, (speakers, 1))
    noise = rng.standard_normal((len(labels), centres.shape[1]))
    return (offsets[owners] + gains[owners] * (centres[labels] + noise)).astype(np.float32), labels, owners


def test_refitted_head_scores_each_speakers_standardised_embeddings_as_the_logistic_regression():
    rng = np.random.default_rng(0)
    config = TFTConfig(**tiny_config_kwargs(speaker_embedding_shift=True, speaker_embedding_scale=True))
    model = TFTForAudioClassification(config).eval()
    centres = 0.8 * rng.standard_normal((3, config.hidden_size))
    train, labels, speakers = speakers_embeddings(rng, centres, 5)
    model.set_training_embeddings(torch.from_numpy(train), speakers.tolist())
    assert model.config.functionals_weight == 1.0
    refit_transformer_head(model, train, labels, speakers)
    assert model.config.functionals_weight == SPEAKER_REFIT_FUNCTIONALS_WEIGHT == 0.0  # the refitted head alone (RW1)
    # by hand: the regression on each speaker's standardised embeddings, C by leave-one-speaker-out
    standardised = np.concatenate([(x - x.mean(0)) / (x.std(0) + 1e-6) for x in np.split(train, 5)])
    scaler = StandardScaler().fit(standardised)
    splits = list(LeaveOneGroupOut().split(standardised, labels, speakers))
    fit = LogisticRegressionCV(Cs=REFIT_CS, cv=splits, scoring="balanced_accuracy", max_iter=2000, l1_ratios=(0.0,),
                               use_legacy_attributes=False).fit(scaler.transform(standardised), labels)  # fmt: skip
    test, test_labels, _ = speakers_embeddings(rng, centres, 1)
    expected = fit.decision_function(scaler.transform((test - test.mean(0)) / (test.std(0) + 1e-6)))
    with torch.no_grad():
        model.set_speaker_embeddings(torch.from_numpy(test))
        logits = model.classifier(model.speaker_shifted(torch.from_numpy(test))).numpy()
    np.testing.assert_allclose(logits, expected, atol=2e-3)
    assert (logits.argmax(1) == test_labels).mean() > 0.9
    with pytest.raises(ValueError, match="it needs 2"):
        refit_transformer_head(model, train[:60], labels[:60], speakers[:60])


def test_head_refitted_without_per_speaker_standardisation_scores_the_embeddings_as_they_are():
    """Search RG1's screen: a single-clip model's head refitted on the training embeddings as they are."""
    rng = np.random.default_rng(1)
    model = TFTForAudioClassification(TFTConfig(**tiny_config_kwargs())).eval()  # no speaker shift, no buffers
    centres = 2 * rng.standard_normal((3, model.config.hidden_size))
    train, labels, speakers = speakers_embeddings(rng, centres, 4)
    refit_transformer_head(model, train, labels, speakers, per_speaker=False)
    scaler = StandardScaler().fit(train.astype(np.float64))
    splits = list(LeaveOneGroupOut().split(train, labels, speakers))
    scaled = scaler.transform(train.astype(np.float64))
    fit = LogisticRegressionCV(Cs=REFIT_CS, cv=splits, scoring="balanced_accuracy", max_iter=2000, l1_ratios=(0.0,),
                               use_legacy_attributes=False).fit(scaled, labels)  # fmt: skip
    test = speakers_embeddings(rng, centres, 1)[0]
    with torch.no_grad():
        logits = model.classifier(torch.from_numpy(test)).numpy()
    np.testing.assert_allclose(logits, fit.decision_function(scaler.transform(test.astype(np.float64))), atol=2e-3)


def test_run_with_speaker_embedding_scale_exports_the_refitted_model(tmp_path):
    results = run(tmp_path, "--normalization", "speaker", "--speaker_embedding_scale", "--speaker_head_supports", "3",
                  "--folds", "0", "--num_train_epochs", "1")  # fmt: skip
    config = json.loads((tmp_path / "export" / "config.json").read_text())
    assert config["speaker_embedding_shift"] and config["speaker_embedding_scale"]
    assert config["speaker_head_supports"] == 3  # T3A (TA1, TA2): tests/test_benchmark_speaker_shift.py
    assert config["functionals_weight"] == 0.0  # trained at weight 2, the refitted head then scores alone (RW1)
    model = TFTForAudioClassification.from_pretrained(tmp_path / "export")
    assert not torch.allclose(model.embedding_std, torch.ones_like(model.embedding_std))
    assert results["folds"][0]["test_unshifted"] is not None and results["folds"][0]["refit_c"] in REFIT_CS
    card = ModelCard.load(tmp_path / "export" / "README.md").text
    assert "standardised over the speaker's clips" in card and "its logits are not used" in card
    assert "functionals_weight = 1.0" not in card  # the unadapted advice (HW4) is for a trained head, not a refit
    assert "`config.speaker_head_supports` = 3 both heads are also adjusted to the speaker" in card


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


def test_run_with_refit_head_tests_and_exports_the_refitted_single_clip_model(tmp_path, caplog):
    """Search RG1: a single-clip model's Transformer head refitted after training; the fold's test score is that of
    the exported, refitted model (an evaluation-only run of the export reproduces it, `--refit_head` there unused)."""
    results = run(tmp_path / "run", "--refit_head", "--folds", "0", "--num_train_epochs", "1")
    [fold] = results["folds"]
    assert fold["test_before_refit"] is not None and fold["test_unshifted"] is None
    assert fold["refit_c"] in REFIT_CS  # recorded beside the fold's scores
    export = tmp_path / "run" / "export"
    config = json.loads((export / "config.json").read_text())
    assert config["functionals_weight"] == SINGLE_CLIP_REFIT_FUNCTIONALS_WEIGHT == 0.5  # trained at 1 (RG1)
    assert not config["speaker_embedding_shift"]
    [checkpoint] = (tmp_path / "run" / "fold_0" / "checkpoints").glob("checkpoint-*")
    trained = load_file(checkpoint / "model.safetensors")["classifier.weight"]
    assert not torch.allclose(load_file(export / "model.safetensors")["classifier.weight"], trained)
    card = ModelCard.load(export / "README.md").text
    assert "refitted after training on the training clips' utterance" in card and "weight 0.5" in card
    demo = ["--demo_speakers", "6", "--demo_utterances_per_class", "4", "--num_folds", "3", "--folds", "0"]
    caplog.set_level("INFO")
    evaluated = run_train.main(["--output_dir", str(tmp_path / "eval"), *demo, "--do_train", "false", "--refit_head",
                                "--model_name_or_path", str(export), "--report_to", "none"])  # fmt: skip
    assert evaluated["folds"][0]["test"] == fold["test"]
    assert "--refit_head is unused with --do_train false" in caplog.text


def test_speaker_head_settings_are_those_of_a_speaker_adaptive_run(caplog):
    caplog.set_level("INFO")
    arguments = {"speaker_embedding_scale": True, "speaker_head_supports": 20}
    adaptive = protocol_head_settings(ModelArguments(normalization="speaker", **arguments))
    assert adaptive["speaker_embedding_shift"] and adaptive["speaker_head_supports"] == 20
    single_clip = protocol_head_settings(ModelArguments(normalization="global", **arguments))
    assert not single_clip["speaker_embedding_shift"] and single_clip["speaker_head_supports"] is None
    assert "--speaker_head_supports is unused with --normalization global" in caplog.text
    assert "--speaker_embedding_scale is unused with --normalization global" in caplog.text


def test_refit_head_is_unused_with_speaker_normalization_and_the_ast(caplog):
    caplog.set_level("INFO")
    assert refits_head(ModelArguments(refit_head=True))
    assert not refits_head(ModelArguments(refit_head=True, normalization="speaker"))
    assert not refits_head(ModelArguments(refit_head=True, model_type="ast"))
    assert not refits_head(ModelArguments())
    assert "--refit_head is unused with --normalization speaker" in caplog.text
    assert "--refit_head is unused with the AST" in caplog.text
