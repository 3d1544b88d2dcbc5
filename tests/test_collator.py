"""The training/evaluation collator: random crops, SpecAugment masks, whole-clip evaluation, AST input."""

import numpy as np
import pytest
import torch

from modeling_tft import TFTFeatureExtractor
from modeling_tft.prosody_tft import PROSODY_CHANNELS
from tft_ser.training.data import SpeakerStatisticsMixing, SpeechEmotionCollator

CHANNELS = 16 + len(PROSODY_CHANNELS)  # 16 mel bands, then the prosody contours


def examples(seconds: list[float], seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {"audio": (0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32), "label": i % 3, "speaker": "a"}
        for i, s in enumerate(seconds)
    ]


def test_evaluation_takes_whole_clips_when_the_extractor_keeps_them():
    whole_extractor = TFTFeatureExtractor(feature_size=16, max_length=None)
    batch = examples([0.5, 2.5])
    whole = SpeechEmotionCollator(whole_extractor, train=False)(batch)
    frames = [whole_extractor.num_frames(len(e["audio"])) for e in batch]
    assert whole["input_features"].shape == (2, max(frames), CHANNELS)
    assert whole["attention_mask"].sum(1).tolist() == frames
    cut = SpeechEmotionCollator(TFTFeatureExtractor(feature_size=16, max_length=100), train=False)(batch)
    assert cut["input_features"].shape == (2, 100, CHANNELS)
    torch.testing.assert_close(whole["input_features"][0, : frames[0]], cut["input_features"][0, : frames[0]])
    train = SpeechEmotionCollator(whole_extractor, train=True, crop_frames=100)(batch)  # training still crops
    assert train["input_features"].shape[1] == 100
    with pytest.raises(ValueError, match="Training crops need `crop_frames`"):
        SpeechEmotionCollator(whole_extractor, train=True)


def test_training_masks_are_specaugment_stripes_and_evaluation_has_none():
    extractor = TFTFeatureExtractor(feature_size=16, max_length=None)
    batch = examples([0.5, 1.2, 0.8, 1.5])
    masks = {"time_mask_frames": 20, "frequency_mask_bins": 4, "num_masks": 2}
    torch.manual_seed(0)
    plain = SpeechEmotionCollator(extractor, train=True, crop_frames=100)(batch)
    torch.manual_seed(0)  # the same crops: they are drawn before the masks
    masked = SpeechEmotionCollator(extractor, train=True, crop_frames=100, **masks)(batch)
    assert torch.equal(masked["attention_mask"], plain["attention_mask"])
    hits = 0
    for clip in range(len(batch)):
        valid = plain["attention_mask"][clip].bool()
        before, after = plain["input_features"][clip][valid], masked["input_features"][clip][valid]
        zeroed = (after == 0) & (before != 0)
        assert torch.equal(after[~zeroed], before[~zeroed])  # only zeros are written
        # whole frames, every channel (time masks), and whole mel bands (frequency masks), never a contour
        frames, bands = (after == 0).all(1), torch.cat([zeroed[:, :16].all(0), torch.zeros(CHANNELS - 16, dtype=bool)])
        assert torch.equal(zeroed, (frames[:, None] | bands[None, :]) & (before != 0))
        assert frames.sum() <= 2 * 20 and bands.sum() <= 2 * 4
        hits += int(frames.sum() + bands.sum())
        assert torch.all(masked["input_features"][clip][~valid] == 0)  # padding stays zero
    assert hits > 0
    evaluation = SpeechEmotionCollator(extractor, train=False, **masks)(batch)
    torch.testing.assert_close(evaluation, SpeechEmotionCollator(extractor, train=False)(batch), rtol=0, atol=0)


def test_ast_batches_are_fixed_length_input_values():
    extractor = TFTFeatureExtractor(feature_size=16, prosody=False, max_length=100)  # the AST's: log-mel only
    batch = examples([0.3, 2.5])
    for train in (True, False):
        ast = SpeechEmotionCollator(extractor, train=train, model_type="ast")(batch)
        assert set(ast) == {"input_values", "labels"} and ast["input_values"].shape == (2, 100, 16)


def test_speaker_statistics_mixing_recolours_a_clip_as_a_synthetic_training_speaker():
    raw_extractor = TFTFeatureExtractor(feature_size=16, max_length=None, normalization="none")
    batch = examples([0.8, 1.2], seed=1)
    voicing = CHANNELS - 1
    generator = torch.Generator().manual_seed(0)
    statistics = {
        speaker: (torch.randn(CHANNELS, generator=generator), torch.rand(CHANNELS, generator=generator) + 0.5)
        for speaker in ("a", "b", "c")
    }
    global_mean, global_std = torch.randn(CHANNELS, generator=generator), torch.rand(CHANNELS, generator=generator) + 1
    mixing = SpeakerStatisticsMixing(statistics, global_mean, global_std, extent=0.5, voicing_channel=voicing)
    raw = SpeechEmotionCollator(raw_extractor, train=False)(batch)["input_features"]
    # fraction 0: the clip is globally normalised, as at inference
    mean, std = mixing.statistics(torch.tensor([0, 0]), torch.tensor([1, 2]), torch.zeros(2, 1))
    torch.testing.assert_close(mean, global_mean.expand(2, 1, -1))
    torch.testing.assert_close(std, global_std.expand(2, 1, -1))
    # fraction f: standardised with speaker a's statistics, given a's mixed with b's, then globally normalised
    fraction = torch.tensor([[0.3], [-0.5]])
    mean, std = mixing.statistics(torch.tensor([0, 0]), torch.tensor([1, 1]), fraction)
    (own_mean, own_std), (other_mean, other_std) = statistics["a"], statistics["b"]
    mixed_mean = own_mean + fraction * (other_mean - own_mean)
    mixed_std = own_std * (other_std / own_std) ** fraction
    recoloured = (raw - own_mean) / own_std * mixed_std[:, None] + mixed_mean[:, None]
    expected = ((recoloured - global_mean) / global_std)[..., :voicing]
    torch.testing.assert_close(((raw - mean) / std)[..., :voicing], expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(mean[..., voicing], global_mean[voicing].expand(2, 1))  # the flag stays global
    # in the collator (clips under the crop: no crop is drawn): another speaker than each clip's own, a fraction in
    # [-0.5, 1.5], drawn from torch's generator
    torch.manual_seed(0)
    collated = SpeechEmotionCollator(raw_extractor, train=True, crop_frames=200, statistics_mixing=mixing)(batch)
    torch.manual_seed(0)
    other = torch.randint(1, 3, (2,)) % 3  # the clips are speaker a's (index 0)
    drawn = torch.rand(2)[:, None] * 2 - 0.5
    assert (other != 0).all() and ((drawn >= -0.5) & (drawn <= 1.5)).all()
    mean, std = mixing.statistics(torch.zeros(2, dtype=torch.long), other, drawn)
    expected = raw_extractor.standardize(raw, mean, std) * collated["attention_mask"][..., None]
    torch.testing.assert_close(collated["input_features"], expected)
    with pytest.raises(ValueError, match="training augmentation"):
        SpeechEmotionCollator(raw_extractor, train=False, statistics_mixing=mixing)
    with pytest.raises(ValueError, match="at least 2 training speakers"):
        SpeakerStatisticsMixing({"a": statistics["a"]}, global_mean, global_std, extent=0.0)
