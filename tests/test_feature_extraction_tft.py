import logging

import numpy as np
import pytest
import torch

from modeling_tft import TFTFeatureExtractor
from modeling_tft.prosody_tft import PROSODY_CHANNELS, SPECTRAL

SR = 16000
CHANNELS = 16 + len(PROSODY_CHANNELS)  # the fixture's mel bands, then the contours
STANDARDISED = slice(0, 16 + len(SPECTRAL))  # mel bands and spectral contours: every frame
VOICED = slice(16 + len(SPECTRAL), CHANNELS - 1)  # voiced frames only; the last channel is the voicing flag


@pytest.fixture()
def fe() -> TFTFeatureExtractor:
    return TFTFeatureExtractor(feature_size=16, max_length=60)


def speech_like(rng, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 180 * t * (1 + 0.1 * np.sin(3 * t))) + 0.01 * rng.standard_normal(t.size)).astype(
        np.float32
    )


def test_shapes_mask_and_padding(fe, rng):
    clips = [speech_like(rng, 0.3), speech_like(rng, 1.0)]
    batch = fe(clips, sampling_rate=SR, return_tensors="pt")
    assert batch["input_features"].shape == (2, 60, CHANNELS)
    assert batch["input_features"].dtype == torch.float32
    expected = [fe.num_frames(len(c)) for c in clips]  # 1 + (4800 - 512) // 160 = 27, and 60 after truncation
    assert batch["attention_mask"].sum(1).tolist() == [expected[0], 60]
    assert torch.all(batch["input_features"][0, expected[0] :] == 0)
    longest = fe(clips[:1], sampling_rate=SR, padding="longest", return_tensors="pt")
    assert longest["input_features"].shape == (1, expected[0], CHANNELS)


def test_clip_alone_equals_clip_in_batch(fe, rng):
    clips = [speech_like(rng, 0.4), speech_like(rng, 0.55)]
    alone = fe(clips[0], sampling_rate=SR, padding="longest", return_tensors="pt")["input_features"][0]
    batched = fe(clips, sampling_rate=SR, return_tensors="pt")["input_features"][0, : alone.shape[0]]
    torch.testing.assert_close(alone[:, :16], batched[:, :16])
    # the FFTs of another batch shape round differently: harmonicity, 10 log10(r / (1 - r)), magnifies it near r = 1
    torch.testing.assert_close(alone[:, 16:], batched[:, 16:], atol=2e-3, rtol=1e-4)


def test_utterance_normalisation_standardises_each_band(fe, rng):
    clip = np.concatenate([speech_like(rng, 0.5), 0.01 * rng.standard_normal(SR // 4).astype(np.float32)])
    features = fe(clip, sampling_rate=SR, padding="longest", return_tensors="np")["input_features"][0]
    np.testing.assert_allclose(features[:, STANDARDISED].mean(0), 0.0, atol=1e-4)
    assert np.all(features[:, :16].std(0) > 0.9)
    assert np.all(features[:, STANDARDISED].std(0) > 0.8)  # the variance floor (1e-5) weighs on the spectral flux
    voiced = features[:, -1] == 1  # the flag stays 0/1: the tone is voiced, the noise after it is not
    assert set(np.unique(features[:, -1])) == {0.0, 1.0} and voiced[:20].all() and not voiced[-10:].any()
    np.testing.assert_allclose(features[voiced, VOICED].mean(0), 0.0, atol=1e-4)  # over voiced frames only
    assert np.all(features[~voiced, VOICED] == 0)


def test_fit_sets_global_stats_and_they_round_trip(fe, rng, tmp_path):
    clips = [speech_like(rng, 0.5) * gain for gain in (0.5, 1.0, 2.0)]
    fe.fit(clips, sampling_rate=SR, batch_size=2)
    assert fe.normalization == "global" and len(fe.mean) == CHANNELS and (fe.mean[-1], fe.std[-1]) == (0.0, 1.0)
    fe.save_pretrained(tmp_path)
    loaded = TFTFeatureExtractor.from_pretrained(tmp_path)
    assert loaded.mean == fe.mean and loaded.std == fe.std and loaded.normalization == "global"
    features = loaded(clips, sampling_rate=SR, return_tensors="np")
    valid = features["input_features"][features["attention_mask"].astype(bool)]
    np.testing.assert_allclose(valid[:, :-1].mean(0), 0.0, atol=1e-3)  # every channel but the voicing flag


def test_global_needs_stats():
    with pytest.raises(ValueError, match="needs `mean` and `std`"):
        TFTFeatureExtractor(normalization="global")


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.zeros(100, dtype=np.float32), "at least 512 samples"),
        (np.array([0.0] * 1000 + [np.nan] * 10, dtype=np.float32), "NaN or Inf \\(first at sample 1000\\)"),
        (np.array([0.0] * 1000 + [np.inf], dtype=np.float32), "NaN or Inf"),
        (np.zeros((2, 3, 1000), dtype=np.float32), "Expected a 1-D clip"),
        ([np.zeros(1000, dtype=np.float32), np.zeros((20, 1000), dtype=np.float32)], "at most 8 channels"),
        ([], "empty batch"),
    ],
)
def test_bad_input_raises_specific_error(fe, audio, message):
    with pytest.raises(ValueError, match=message):
        fe(audio, sampling_rate=SR)


def test_bad_types_raise(fe):
    with pytest.raises(TypeError, match="dtype"):
        fe(np.array(["a"] * 1000), sampling_rate=SR)
    with pytest.raises(TypeError, match="Expected audio"):
        fe("not audio", sampling_rate=SR)
    with pytest.raises(TypeError, match="Unexpected arguments"):
        fe(np.zeros(1000, dtype=np.float32), sampling_rate=SR, sample_rate=SR)


def test_int16_and_float64_are_converted(rng):
    fe = TFTFeatureExtractor(feature_size=16, max_length=60, normalization="none")  # keeps the absolute level
    clip = speech_like(rng, 0.5)
    reference = fe(clip, sampling_rate=SR, return_tensors="np")["input_features"]
    as_int16 = fe((clip * 32767).astype(np.int16), sampling_rate=SR, return_tensors="np")["input_features"]
    # Unscaled int16 would sit log(32767**2) ~ 20.8 above; quantisation noise moves quiet bands a little.
    assert np.abs(as_int16 - reference).mean() < 0.05
    as_float64 = fe(clip.astype(np.float64), sampling_rate=SR, return_tensors="np")["input_features"]
    np.testing.assert_allclose(as_float64, reference, atol=1e-4)


def test_multichannel_is_down_mixed(fe, rng):
    clip = speech_like(rng, 0.5)
    # FFmpeg's down-mix, as `pipeline(file)` reads a stereo file: (L + R) / sqrt 2, here sqrt 2 × the clip
    reference = fe(np.sqrt(2) * clip, sampling_rate=SR, return_tensors="np")["input_features"]
    frames_by_channels = np.stack([clip, clip], axis=1)  # soundfile layout (samples, channels)
    channels_by_frames = np.stack([clip, clip], axis=0)
    assert fe(frames_by_channels, sampling_rate=SR, return_tensors="np")["input_features"].shape[0] == 1
    for clip in (frames_by_channels, [channels_by_frames]):
        features = fe(clip, sampling_rate=SR, return_tensors="np")["input_features"]
        np.testing.assert_allclose(features[..., :16], reference[..., :16], atol=1e-5)
        np.testing.assert_allclose(features[..., 16:], reference[..., 16:], atol=2e-3)  # harmonicity: see above


def test_wrong_sampling_rate_raises_unless_resample(fe, rng, caplog):
    clip_8k = speech_like(rng, 0.5)[::2].copy()
    with pytest.raises(ValueError, match="expects audio at 16000 Hz but got sampling_rate=8000"):
        fe(clip_8k, sampling_rate=8000)
    with caplog.at_level(logging.WARNING):
        batch = fe(clip_8k, sampling_rate=8000, resample=True, padding="longest", return_tensors="np")
    assert "Resampling 1 clip(s) from 8000 Hz to 16000 Hz" in caplog.text
    assert batch["attention_mask"].sum() == fe.num_frames(len(clip_8k) * 2)


def test_missing_sampling_rate_warns(fe, rng, caplog):
    with caplog.at_level(logging.WARNING):
        fe(speech_like(rng, 0.5))
    assert "strongly recommended to pass `sampling_rate`" in caplog.text


def test_truncation_false_rejects_long_clip(fe, rng):
    with pytest.raises(ValueError, match="more than max_length=60"):
        fe(speech_like(rng, 2.0), sampling_rate=SR, truncation=False)


def test_max_length_none_keeps_whole_clips(rng, tmp_path):
    whole = TFTFeatureExtractor(feature_size=16, max_length=None)
    clips = [speech_like(rng, 0.5), speech_like(rng, 12.0)]  # 12 s: far beyond the 3-s default window
    batch = whole(clips, sampling_rate=SR, return_tensors="pt")
    frames = [whole.num_frames(len(c)) for c in clips]
    assert batch["input_features"].shape == (2, frames[1], CHANNELS)
    assert batch["attention_mask"].sum(1).tolist() == frames
    cut = TFTFeatureExtractor(feature_size=16, max_length=frames[1])(clips, sampling_rate=SR, return_tensors="pt")
    torch.testing.assert_close(batch["input_features"], cut["input_features"])
    whole.fit(clips, sampling_rate=SR)  # statistics over every frame of every clip
    whole.save_pretrained(tmp_path)
    assert TFTFeatureExtractor.from_pretrained(tmp_path).max_length is None


def test_adapted_extractor_normalises_with_the_given_clips_statistics(rng):
    speaker = [np.concatenate([speech_like(rng, 3.0), 0.3 * speech_like(rng, 1.0)]) for _ in range(3)]
    exported = TFTFeatureExtractor(max_length=None).fit([0.1 * speech_like(rng, 2.0)], SR)
    adapted = exported.adapted(speaker, SR)
    fitted = TFTFeatureExtractor(max_length=None).fit(speaker, SR)
    assert adapted.mean == fitted.mean and adapted.std == fitted.std and adapted.normalization == "global"
    assert adapted.statistics_seconds == pytest.approx(3 * TFTFeatureExtractor().num_frames(SR * 4) * 0.01)
    assert exported.mean != adapted.mean  # the exported extractor is left as it was
    features = adapted(speaker, sampling_rate=SR, return_tensors="pt")["input_features"].flatten(0, 1)
    every_frame = features[:, : 64 + len(SPECTRAL)]
    torch.testing.assert_close(every_frame.mean(0), torch.zeros(74), atol=1e-4, rtol=0)  # standardised by them
    torch.testing.assert_close(every_frame.std(0, unbiased=False), torch.ones(74), atol=1e-3, rtol=0)
    voiced = features[:, -1] == 1
    torch.testing.assert_close(features[voiced, 74:77].mean(0), torch.zeros(3), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match=r"needs at least 10 s of audio; the clips hold 4.0 s"):
        exported.adapted(speaker[:1], SR)
    noise = [(0.1 * rng.standard_normal(SR * 4)).astype(np.float32) for _ in range(3)]
    with pytest.raises(ValueError, match="found no voiced frame"):  # the pitch contours would have no statistics
        exported.adapted(noise, SR)
