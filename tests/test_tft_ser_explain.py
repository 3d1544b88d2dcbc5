"""Explanation maps: shapes, normalisation, ablation configs (missing views come with a note)."""

import numpy as np
import pytest
from tft_ser_models import casia_clip, random_export

from tft_ser import EmotionClassifier, explain_clip
from tft_ser.plots import plot_explanation

CONFIGS = {
    "joint": {},
    "no_fusion": {"use_fusion": False},
    "time_only": {"use_frequency_branch": False, "use_fusion": False},
    "frequency_only": {"use_time_branch": False, "use_fusion": False, "num_prosody_features": 0},
    "time_only_no_layers": {"use_frequency_branch": False, "use_fusion": False, "num_time_layers": 0},
}


@pytest.fixture(scope="module")
def clip(corpora) -> np.ndarray:
    return casia_clip("angry", 201)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_maps_have_one_value_per_frame_and_band(name, clip, tmp_path):
    classifier = EmotionClassifier.from_pretrained(str(random_export(**CONFIGS[name])))
    config = classifier.model.config
    e = explain_clip(classifier, clip)
    frames = classifier.feature_extractor.num_frames(len(clip))
    assert e.features.shape == (frames, 64)
    expected_time = config.use_time_branch and (config.num_time_layers > 0 or config.use_fusion)
    expected_band = config.use_frequency_branch
    for values, length, expected in ((e.time_attention, frames, expected_time), (e.band_attention, 64, expected_band)):
        if expected:
            assert values.shape == (length,) and (values >= 0).all() and values.sum() == pytest.approx(1, abs=1e-5)
        else:
            assert values is None
    assert len(e.notes) == (not expected_time) + (not expected_band)
    for values, length in ((e.time_gradient, frames), (e.band_gradient, 64)):
        assert values.shape == (length,) and (values >= 0).all() and values.sum() == pytest.approx(1, abs=1e-5)
    assert e.label in classifier.labels and e.score == pytest.approx(max(e.scores.values()))
    assert plot_explanation(e, tmp_path / f"{name}.png").stat().st_size > 1000


def test_frames_of_one_time_token_share_its_attention(clip):
    classifier = EmotionClassifier.from_pretrained(str(random_export()))
    e = explain_clip(classifier, clip)
    per_token = classifier.model.config.frames_per_time_token
    full = len(e.time_attention) // per_token * per_token
    groups = e.time_attention[:full].reshape(-1, per_token)
    np.testing.assert_allclose(groups, groups[:, :1].repeat(per_token, 1), rtol=1e-5)


def test_long_audio_explains_one_window_with_a_note(clip):
    classifier = EmotionClassifier.from_pretrained(str(random_export()))
    e = explain_clip(classifier, np.tile(clip, 4), start_s=1.0)
    assert e.features.shape[0] == classifier.window_frames and e.start_s == 1.0
    assert any("longer than the model window" in note for note in e.notes)
