"""`tft-ser export-onnx`: dynamic batch and length, onnxruntime logits equal to eager PyTorch on real clips."""

import copy
import json

import numpy as np
import pytest
import torch
from tft_ser_models import SR, casia_clip, random_export, trained_export

from tft_ser.classifier import EmotionClassifier
from tft_ser.cli import main

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from tft_ser.onnx_export import export_onnx, onnx_logits  # noqa: E402

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def exported(corpora, tmp_path_factory):
    """The test export (fitted to real clips) through `tft-ser export-onnx`, and its classifier."""
    model_dir = str(trained_export())
    path = tmp_path_factory.mktemp("onnx") / "tft.onnx"
    assert main(["export-onnx", model_dir, str(path)]) == 0
    classifier = EmotionClassifier.from_pretrained(model_dir)
    extractor = copy.deepcopy(classifier.feature_extractor)
    extractor.max_length = None  # whole clips, as exports ship the extractor
    return path, classifier.with_feature_extractor(extractor)


def _logits(classifier: EmotionClassifier, clips: list[np.ndarray], path) -> tuple[np.ndarray, np.ndarray]:
    inputs = classifier.feature_extractor(clips, sampling_rate=SR, padding="longest", return_tensors="pt")
    with torch.inference_mode():
        expected = classifier.model(**inputs).logits.numpy()
    return onnx_logits(path, dict(inputs), threads=1), expected


def test_onnxruntime_matches_pytorch_on_real_clips_batched_and_alone(exported):
    path, classifier = exported
    clips = [
        casia_clip("neutral", 202),  # 1.0 s
        np.concatenate([casia_clip("angry", 201), casia_clip("sad", 203), casia_clip("happy", 202)]),  # ≈ 6 s
        casia_clip("sad", 203),  # 2.3 s
    ]
    frames = [classifier.feature_extractor.num_frames(len(clip)) for clip in clips]
    assert len({f % 2 for f in frames}) == 2  # odd and even lengths (the export traced an odd one)
    batched, expected = _logits(classifier, clips, path)
    assert batched.shape == (3, len(classifier.labels))
    assert np.abs(batched - expected).max() < TOLERANCE
    for index, clip in enumerate(clips):  # alone: no padding, another batch size and length
        alone, expected_alone = _logits(classifier, [clip], path)
        assert np.abs(alone - expected_alone).max() < TOLERANCE
        assert np.abs(alone[0] - batched[index]).max() < TOLERANCE  # padding changes nothing


def test_onnx_file_declares_dynamic_inputs_and_labels(exported, capsys):
    path, classifier = exported
    model = onnx.load(str(path))
    shapes = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert shapes == {"input_features": ["batch", "frames", 64 + 14], "attention_mask": ["batch", "frames"]}
    assert [o.name for o in model.graph.output] == ["logits"]
    metadata = {p.key: p.value for p in model.metadata_props}
    assert json.loads(metadata["id2label"]) == {str(i): label for i, label in enumerate(classifier.labels)}
    assert metadata["sampling_rate"] == "16000" and metadata["max_frames"] == ""
    assert (metadata["num_mel_bins"], metadata["num_prosody_features"]) == ("64", "14")


def test_windowed_model_is_exported_up_to_its_window(tmp_path):
    model_dir = random_export(inference_window_frames=100)
    classifier = EmotionClassifier.from_pretrained(str(model_dir))
    export = export_onnx(classifier.model, classifier.feature_extractor, tmp_path / "windowed.onnx")
    assert export.max_frames == 100
    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (512 + 99 * 160, 8000)]  # 100 and 47 frames
    inputs = classifier.feature_extractor(clips, sampling_rate=SR, padding="longest", return_tensors="pt")
    with torch.inference_mode():
        expected = classifier.model(**inputs).logits.numpy()
    assert np.abs(onnx_logits(export.path, dict(inputs)) - expected).max() < TOLERANCE
    metadata = {p.key: p.value for p in onnx.load(str(export.path)).metadata_props}
    assert metadata["max_frames"] == "100"


def test_cli_usage_errors(tmp_path, capsys):
    assert main(["export-onnx", str(tmp_path), str(tmp_path / "model.pt")]) == 2
    assert "must end in .onnx" in capsys.readouterr().err
    assert main(["export-onnx", str(tmp_path / "none"), str(tmp_path / "m.onnx")]) == 2
    assert "no model folder" in capsys.readouterr().err
