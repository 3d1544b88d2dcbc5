"""The training/evaluation collator: whole-clip evaluation, mixup, speed perturbation, random gain, additive noise,
VTLP and speaker labels."""

import numpy as np
import pytest
import torch

from modeling_tft import TFTFeatureExtractor
from training.data import SpeechEmotionCollator, warp_mel_bands


def examples(seconds: list[float], seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {"audio": rng.standard_normal(int(s * 16000)).astype(np.float32), "label": i % 3, "speaker": "a"}
        for i, s in enumerate(seconds)
    ]


def test_evaluation_takes_whole_clips_when_the_extractor_keeps_them():
    whole_extractor = TFTFeatureExtractor(feature_size=16, max_length=None)
    batch = examples([0.5, 2.5])
    whole = SpeechEmotionCollator(whole_extractor, train=False)(batch)
    frames = [whole_extractor.num_frames(len(e["audio"])) for e in batch]
    assert whole["input_features"].shape == (2, max(frames), 16)
    assert whole["attention_mask"].sum(1).tolist() == frames
    cut = SpeechEmotionCollator(TFTFeatureExtractor(feature_size=16, max_length=100), train=False)(batch)
    assert cut["input_features"].shape == (2, 100, 16)
    torch.testing.assert_close(whole["input_features"][0, : frames[0]], cut["input_features"][0, : frames[0]])
    train = SpeechEmotionCollator(whole_extractor, train=True, crop_frames=100)(batch)  # training still crops
    assert train["input_features"].shape[1] == 100
    with pytest.raises(ValueError, match="Training crops need `crop_frames`"):
        SpeechEmotionCollator(whole_extractor, train=True)


def test_mixup_mixes_features_masks_and_labels():
    extractor = TFTFeatureExtractor(feature_size=16, max_length=100)
    batch = examples([0.3, 0.6, 0.9, 0.5])
    torch.manual_seed(1)
    plain = SpeechEmotionCollator(extractor, train=True)(batch)
    alpha = torch.tensor(0.4)  # the same draws the mixup collator makes after the crops
    weight, order = float(torch.distributions.Beta(alpha, alpha).sample()), torch.randperm(4)
    torch.manual_seed(1)
    mixed = SpeechEmotionCollator(extractor, train=True, mixup_alpha=0.4, num_labels=3)(batch)
    assert not torch.equal(order, torch.arange(4)) and 0 < weight < 1
    expected = weight * plain["input_features"] + (1 - weight) * plain["input_features"][order]
    torch.testing.assert_close(mixed["input_features"], expected)
    one_hot = torch.nn.functional.one_hot(plain["labels"], 3).float()
    torch.testing.assert_close(mixed["labels"], weight * one_hot + (1 - weight) * one_hot[order])
    mask = mixed["attention_mask"]
    assert torch.equal(mask, torch.maximum(plain["attention_mask"], plain["attention_mask"][order]))
    assert torch.all(mask.diff(dim=1) <= 0)  # still a prefix mask, as the model requires
    evaluation = SpeechEmotionCollator(extractor, train=False, mixup_alpha=0.4, num_labels=3)(batch)
    assert evaluation["labels"].dtype == torch.int64  # evaluation is never mixed


def test_speaker_labels_come_with_training_batches_only_and_mix_under_mixup():
    extractor = TFTFeatureExtractor(feature_size=16, max_length=100)
    batch = examples([0.3, 0.6, 0.9, 0.5])
    for example, speaker in zip(batch, ["b", "a", "b", "c"], strict=True):
        example["speaker"] = speaker
    speaker_ids = {"a": 0, "b": 1, "c": 2}
    train = SpeechEmotionCollator(extractor, train=True, speaker_ids=speaker_ids)(batch)
    assert train["speaker_labels"].tolist() == [1, 0, 1, 2]
    assert "speaker_labels" not in SpeechEmotionCollator(extractor, train=False, speaker_ids=speaker_ids)(batch)
    torch.manual_seed(1)
    SpeechEmotionCollator(extractor, train=True)(batch)  # the crops' draws
    alpha = torch.tensor(0.4)  # then the same draws the mixup collator makes
    weight, order = float(torch.distributions.Beta(alpha, alpha).sample()), torch.randperm(4)
    torch.manual_seed(1)
    mixed = SpeechEmotionCollator(extractor, train=True, mixup_alpha=0.4, num_labels=3, speaker_ids=speaker_ids)(batch)
    one_hot = torch.nn.functional.one_hot(train["speaker_labels"], 3).float()
    torch.testing.assert_close(mixed["speaker_labels"], weight * one_hot + (1 - weight) * one_hot[order])
    with pytest.raises(KeyError, match="not among the speaker head's training speakers"):
        SpeechEmotionCollator(extractor, train=True, speaker_ids={"a": 0, "b": 1})(batch)


def test_speed_perturbation_resamples_training_clips_only():
    extractor = TFTFeatureExtractor(feature_size=16, max_length=None)
    batch = examples([1.0, 0.5])
    faster = SpeechEmotionCollator(extractor, train=True, crop_frames=300, speed_factors=[1.25])(batch)
    frames = [extractor.num_frames(int(np.ceil(len(e["audio"]) / 1.25))) for e in batch]  # 1.25x: 20 % shorter
    assert faster["attention_mask"].sum(1).tolist() == frames
    slower = SpeechEmotionCollator(extractor, train=True, crop_frames=60, speed_factors=[0.8])(batch)
    assert slower["input_features"].shape[1] == 60  # perturbed first, then cropped
    evaluation = SpeechEmotionCollator(extractor, train=False, speed_factors=[1.25])(batch)
    assert evaluation["attention_mask"].sum(1).tolist() == [extractor.num_frames(len(e["audio"])) for e in batch]
    torch.manual_seed(3)  # one factor drawn per clip, from torch's seeded generator
    both = SpeechEmotionCollator(extractor, train=True, crop_frames=300, speed_factors=[0.8, 1.25])
    drawn = [len(both._augment(batch[0]["audio"])) for _ in range(20)]
    assert set(drawn) == {20000, 12800}
    with pytest.raises(ValueError, match="speed_factors"):
        SpeechEmotionCollator(extractor, train=True, crop_frames=100, speed_factors=[0.0, 1.0])


def test_random_gain_scales_each_training_clip_within_its_range():
    extractor = TFTFeatureExtractor(feature_size=16, max_length=None)
    clip = examples([0.5])[0]["audio"]
    collator = SpeechEmotionCollator(extractor, train=True, crop_frames=300, gain_db=6.0)
    torch.manual_seed(0)
    gains = []
    for _ in range(50):
        scaled = collator._augment(clip)
        ratio = scaled / clip
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)  # one gain per clip
        gains.append(20 * np.log10(ratio[0]))
    assert -6.0 <= min(gains) < -3.0 and 3.0 < max(gains) <= 6.0
    scored = SpeechEmotionCollator(extractor, train=False, gain_db=6.0)(examples([0.5]))["input_features"]
    plain = SpeechEmotionCollator(extractor, train=False)(examples([0.5]))["input_features"]
    torch.testing.assert_close(scored, plain, rtol=0, atol=0)  # evaluation clips are never perturbed
    with pytest.raises(ValueError, match="gain_db"):
        SpeechEmotionCollator(extractor, train=True, crop_frames=100, gain_db=-1.0)


def test_additive_noise_lands_at_a_signal_to_noise_ratio_inside_its_range():
    extractor = TFTFeatureExtractor(feature_size=16, max_length=None)
    clip = np.sin(np.arange(8000) / 5.0).astype(np.float32)
    collator = SpeechEmotionCollator(extractor, train=True, crop_frames=300, noise_snr_db=(10.0, 30.0))
    torch.manual_seed(0)
    ratios = []
    for _ in range(50):
        noise = collator._augment(clip) - clip
        assert noise.std() > 0 and abs(np.corrcoef(noise, clip)[0, 1]) < 0.1  # added noise, not a scaled signal
        ratios.append(10 * np.log10(np.sum(clip**2) / np.sum(noise**2)))
    assert 9.9 < min(ratios) < 15.0 and 25.0 < max(ratios) < 30.1  # one SNR per clip, spread over the range
    scored = SpeechEmotionCollator(extractor, train=False, noise_snr_db=(10.0, 30.0))(examples([0.5]))
    plain = SpeechEmotionCollator(extractor, train=False)(examples([0.5]))
    torch.testing.assert_close(scored["input_features"], plain["input_features"], rtol=0, atol=0)
    for bad in [(30.0, 10.0), (10.0,)]:
        with pytest.raises(ValueError, match="noise_snr_db"):
            SpeechEmotionCollator(extractor, train=True, crop_frames=100, noise_snr_db=bad)


def tone(hz: float, seconds: float = 0.5) -> np.ndarray:
    return np.sin(2 * np.pi * hz * np.arange(int(seconds * 16000)) / 16000).astype(np.float32)


def test_vocal_tract_length_warp_moves_a_tone_to_where_the_factor_puts_it():
    extractor = TFTFeatureExtractor(normalization="none", max_length=None)
    features = lambda clip: extractor(clip, sampling_rate=16000, return_tensors="pt")["input_features"]  # noqa: E731
    source = features(tone(2000.0))
    identity = warp_mel_bands(source, torch.tensor([1.0]), extractor.f_min, 8000.0)
    torch.testing.assert_close(identity, source, rtol=0, atol=1e-6)
    for factor in (0.9, 1.1):  # band centre f reads the spectrum at f * factor: 2 kHz lands on the 2 kHz / factor band
        warped = warp_mel_bands(source, torch.tensor([factor]), extractor.f_min, 8000.0)
        expected = features(tone(2000.0 / factor))
        peak = lambda x: x[0].mean(0).argmax().item()  # noqa: E731
        assert peak(warped) == peak(expected) != peak(source)
    two = torch.cat([source, source])  # one factor per clip
    warped = warp_mel_bands(two, torch.tensor([1.0, 1.1]), extractor.f_min, 8000.0)
    torch.testing.assert_close(warped[0], source[0], rtol=0, atol=1e-6)
    assert not torch.allclose(warped[1], source[0])


def test_collator_warps_training_clips_only():
    extractor = TFTFeatureExtractor(feature_size=32, max_length=None)
    batch = examples([0.5, 0.4])
    torch.manual_seed(0)
    plain = SpeechEmotionCollator(extractor, train=True, crop_frames=100)(batch)["input_features"]
    torch.manual_seed(0)
    warped = SpeechEmotionCollator(extractor, train=True, crop_frames=100, frequency_warp=0.1)(batch)
    assert warped["input_features"].shape == plain.shape and not torch.allclose(warped["input_features"], plain)
    padding = warped["attention_mask"] == 0
    assert torch.all(warped["input_features"][padding] == 0)  # padded frames stay zero
    evaluation = SpeechEmotionCollator(extractor, train=False, frequency_warp=0.1)(batch)["input_features"]
    torch.testing.assert_close(evaluation, SpeechEmotionCollator(extractor, train=False)(batch)["input_features"])
    with pytest.raises(ValueError, match="frequency_warp"):
        SpeechEmotionCollator(extractor, train=True, crop_frames=100, frequency_warp=1.5)
