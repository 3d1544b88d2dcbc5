"""The training/evaluation collator: random crops, SpecAugment masks, whole-clip evaluation, AST input."""

import numpy as np
import pytest
import torch

from modeling_tft import TFTFeatureExtractor
from modeling_tft.prosody_tft import PROSODY_CHANNELS
from tft_ser.training.data import SpeechEmotionCollator

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
