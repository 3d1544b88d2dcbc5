"""The training/evaluation collator: whole-clip evaluation and mixup."""

import numpy as np
import pytest
import torch

from modeling_tft import TFTFeatureExtractor
from training.data import SpeechEmotionCollator


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
