"""save/load through the Auto classes, the audio-classification pipeline, and remote code."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import tiny_config_kwargs
from safetensors.torch import load_file
from tft_ser_models import EMOTIONS, UTTERANCES, casia_clip, trained_export
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForAudioClassification,
    pipeline,
)

from modeling_tft import TFTConfig, TFTFeatureExtractor, TFTForAudioClassification

LABELS = ["angry", "happy", "sad"]
SR = 16000


@pytest.fixture(scope="module")
def saved_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = TFTConfig(
        **tiny_config_kwargs(
            num_mel_bins=32,
            max_frames=300,
            id2label=dict(enumerate(LABELS)),
            label2id={n: i for i, n in enumerate(LABELS)},
        )
    )
    model = TFTForAudioClassification(config).eval()
    fe = TFTFeatureExtractor(feature_size=32, max_length=300)
    path = tmp_path_factory.mktemp("tft")
    model.save_pretrained(path)
    fe.save_pretrained(path)
    return path


def clip(seed: int, seconds: float = 1.5) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def test_auto_classes_round_trip_with_identical_logits(saved_dir):
    assert (saved_dir / "model.safetensors").is_file()
    assert not (saved_dir / "pytorch_model.bin").exists()
    config = AutoConfig.from_pretrained(saved_dir)
    fe = AutoFeatureExtractor.from_pretrained(saved_dir)
    model = AutoModelForAudioClassification.from_pretrained(saved_dir).eval()
    assert isinstance(config, TFTConfig) and isinstance(fe, TFTFeatureExtractor)
    assert isinstance(model, TFTForAudioClassification)
    assert model.config.id2label == dict(enumerate(LABELS))
    inputs = fe([clip(1), clip(2, 0.7)], sampling_rate=SR, return_tensors="pt")
    # logits from the weights on disk, loaded into a fresh model by hand
    reference = TFTForAudioClassification(config).eval()
    reference.load_state_dict(load_file(saved_dir / "model.safetensors"))
    torch.testing.assert_close(model(**inputs).logits, reference(**inputs).logits)
    backbone = AutoModel.from_pretrained(saved_dir).eval()
    torch.testing.assert_close(backbone(**inputs).pooler_output, model.tft(**inputs).pooler_output)


def check_ranked(result: list[dict]) -> None:
    assert sorted(r["label"] for r in result) == sorted(LABELS)
    scores = [r["score"] for r in result]
    assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-4


def test_pipeline_on_arrays(saved_dir):
    classifier = pipeline("audio-classification", model=str(saved_dir))
    check_ranked(classifier(clip(3)))
    results = classifier([clip(4), clip(5, 0.6)])
    assert len(results) == 2
    for result in results:
        check_ranked(result)
    check_ranked(classifier({"raw": clip(6), "sampling_rate": SR}))


def test_pipeline_on_real_wav_and_flac_files(saved_dir, corpora):
    classifier = pipeline("audio-classification", model=str(saved_dir))
    wav = corpora / "casia" / "wangzhe" / "angry" / "201.wav"
    flac = next((corpora / "ravdess" / "Actor_01").glob("*.flac"))
    for path in (wav, flac):
        result = classifier(str(path))
        check_ranked(result)
        audio, rate = sf.read(path, dtype="float32")
        assert rate == SR
        expected = classifier(audio)
        assert [r["label"] for r in result] == [r["label"] for r in expected]
        np.testing.assert_allclose([r["score"] for r in result], [r["score"] for r in expected], atol=1e-4)


def test_remote_code_loads_in_fresh_process(saved_dir, tmp_path):
    config = json.loads((saved_dir / "config.json").read_text())
    assert config["auto_map"]["AutoModelForAudioClassification"] == "modeling_tft.TFTForAudioClassification"
    preprocessor = json.loads((saved_dir / "preprocessor_config.json").read_text())
    assert preprocessor["auto_map"]["AutoFeatureExtractor"] == "feature_extraction_tft.TFTFeatureExtractor"
    script = textwrap.dedent(
        f"""
        import sys, numpy as np
        from transformers import AutoModelForAudioClassification, pipeline
        try:
            AutoModelForAudioClassification.from_pretrained({str(saved_dir)!r})
        except ValueError as error:
            assert "trust_remote_code" in str(error), error
        else:
            raise SystemExit("loaded without trust_remote_code")
        classifier = pipeline("audio-classification", model={str(saved_dir)!r}, trust_remote_code=True)
        result = classifier(np.zeros(16000, dtype=np.float32) + 0.01 * np.sin(np.arange(16000)))
        assert "modeling_tft" not in sys.modules, "the package must not be imported"
        assert type(classifier.model).__module__.startswith("transformers_modules"), type(classifier.model).__module__
        print("LABELS", sorted(r["label"] for r in result))
        """
    )
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "PYTHONPATH": ""}
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"LABELS {sorted(LABELS)}" in run.stdout


def test_new_head_keeps_backbone(saved_dir):
    original = TFTForAudioClassification.from_pretrained(saved_dir)
    resized = AutoModelForAudioClassification.from_pretrained(saved_dir, num_labels=5, ignore_mismatched_sizes=True)
    assert resized.classifier.out_features == 5 and resized.config.num_labels == 5
    for name, param in original.tft.state_dict().items():
        torch.testing.assert_close(resized.tft.state_dict()[name], param, msg=name)
    assert resized.classifier.weight.shape == (5, 32)


def test_pipeline_scores_long_audio_whole(tmp_path):
    """A length-free TFT exported with a whole-clip extractor: a 30-s input is not scored by its first 3 s."""
    torch.manual_seed(0)
    model = TFTForAudioClassification(TFTConfig(**tiny_config_kwargs(num_mel_bins=32, max_frames=300))).eval()
    assert model.config.window_frames is None
    model.save_pretrained(tmp_path)
    TFTFeatureExtractor(feature_size=32, max_length=None).save_pretrained(tmp_path)
    classifier = pipeline("audio-classification", model=str(tmp_path))
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(30 * SR) * np.repeat(rng.uniform(0.1, 3, 30), SR)).astype(np.float32)
    whole = {r["label"]: r["score"] for r in classifier(audio)}
    first_3s = {r["label"]: r["score"] for r in classifier(audio[: 3 * SR])}
    features = TFTFeatureExtractor(feature_size=32, max_length=None)(audio, sampling_rate=SR, return_tensors="pt")
    assert features["input_features"].shape[1] == 1 + (30 * SR - 512) // 160  # every 10-ms frame of the 30 s
    expected = model(**features).logits.softmax(-1)[0]
    np.testing.assert_allclose([whole[model.config.id2label[i]] for i in range(3)], expected.detach(), atol=1e-5)
    assert max(abs(whole[k] - first_3s[k]) for k in whole) > 1e-3


def windowed_by_hand(model: TFTForAudioClassification, features: torch.Tensor) -> torch.Tensor:
    """Mean softmax of the 300-frame windows every 150 frames, the last one ending at the input's end."""
    frames = features.shape[1]
    starts = [*range(0, frames - 300, 150), frames - 300]
    with torch.no_grad():
        logits = torch.cat([model(features[:, start : start + 300]).logits for start in starts])
    return logits.softmax(-1).mean(0)


def test_pipeline_scores_long_audio_in_windows_when_the_export_asks(tmp_path):
    """A TFT exported with 300-frame inference windows: a 30-s input is scored in windows, not by its first 3 s."""
    torch.manual_seed(0)
    config = TFTConfig(
        **tiny_config_kwargs(num_mel_bins=32, max_frames=300, inference_window_frames=300,
                             id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    )  # fmt: skip
    model = TFTForAudioClassification(config).eval()
    with torch.no_grad():  # an untrained head gives near-uniform scores: sharpen it so windows' scores differ
        model.classifier.weight.mul_(30.0)
    assert model.config.window_frames == 300 and model.config.hop_frames == 150
    model.save_pretrained(tmp_path)
    TFTFeatureExtractor(feature_size=32, max_length=None).save_pretrained(tmp_path)  # as export.py writes
    classifier = pipeline("audio-classification", model=str(tmp_path), trust_remote_code=True)
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(30 * SR) * np.repeat(rng.uniform(0.1, 3, 30), SR)).astype(np.float32)
    whole = {r["label"]: r["score"] for r in classifier(audio)}
    first_3s = {r["label"]: r["score"] for r in classifier(audio[: 3 * SR])}
    features = TFTFeatureExtractor(feature_size=32, max_length=None)(audio, sampling_rate=SR, return_tensors="pt")
    expected = windowed_by_hand(model, features["input_features"])
    np.testing.assert_allclose([whole[n] for n in LABELS], expected, atol=1e-5)
    assert max(abs(whole[k] - first_3s[k]) for k in whole) > 1e-3


def test_clip_repeated_to_30_s_keeps_its_label_through_pipeline(tmp_path, corpora):
    """A TFT fitted to real clips (`tft_ser_models`) and exported with 3-s inference windows: each clip looped to
    30 s keeps the clip's label."""
    shutil.copytree(trained_export(inference_window_frames=300), tmp_path, dirs_exist_ok=True)
    TFTFeatureExtractor(max_length=None).save_pretrained(tmp_path)  # whole clips, as exports ship
    classifier = pipeline("audio-classification", model=str(tmp_path), trust_remote_code=True)
    assert classifier.model.config.window_frames == 300
    for emotion in EMOTIONS:
        for utterance in UTTERANCES:
            clip = casia_clip(emotion, utterance)
            looped = np.tile(clip, int(np.ceil(30 * SR / len(clip))))[: 30 * SR]
            assert classifier(looped)[0]["label"] == classifier(clip)[0]["label"] == emotion, (emotion, utterance)
