"""The built-in SYNTHETIC demo corpus: deterministic, labelled synthetic, and learnable by a TFT."""

from __future__ import annotations

from collections import Counter

import datasets
import numpy as np
import pytest
import torch
from dataset_fixtures import REPO_ROOT  # noqa: F401  (sets offline mode and sys.path)

from modeling_tft import TFTConfig, TFTFeatureExtractor, TFTForAudioClassification
from tft_ser.data import (
    DEMO_LABELS,
    decode_audio,
    generate_demo_corpus,
    k_fold_by_speaker,
    leave_one_speaker_out,
)

MAX_FRAMES = 280  # demo clips are at most 2.8 s


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("demo") / "demo"
    return generate_demo_corpus(output_dir, seed=0, strict=True), output_dir


def test_schema_and_synthetic_labelling(demo):
    dataset, output_dir = demo
    assert dataset.num_rows == 8 * 4 * 25
    assert dataset.features["label"].names == list(DEMO_LABELS)
    assert Counter(dataset["label"]) == dict.fromkeys(range(4), 200)
    assert sorted(Counter(dataset["speaker"]).values()) == [100] * 8
    assert Counter(dataset["gender"]) == {"female": 400, "male": 400}
    assert all(u.startswith("synth_") for u in dataset["utterance_id"])
    assert "SYNTHETIC" in dataset.info.description
    loaded = datasets.load_from_disk(str(output_dir))
    assert "SYNTHETIC" in loaded.info.description
    samples = decode_audio(loaded[0]["audio"])
    assert samples.dtype == np.float32 and len(samples) == round(loaded[0]["duration"] * 16000)
    assert max(dataset["duration"]) <= MAX_FRAMES / 100


def test_deterministic_for_a_seed():
    first = generate_demo_corpus(seed=7, num_speakers=2, utterances_per_class=2)
    second = generate_demo_corpus(seed=7, num_speakers=2, utterances_per_class=2)
    other = generate_demo_corpus(seed=8, num_speakers=2, utterances_per_class=2)
    audio = [decode_audio(a) for a in first["audio"]]
    assert all(np.array_equal(a, decode_audio(b)) for a, b in zip(audio, second["audio"], strict=True))
    assert first["duration"] == second["duration"] != other["duration"]


def _features(split: datasets.Dataset, extractor: TFTFeatureExtractor) -> tuple[torch.Tensor, ...]:
    batch = extractor([decode_audio(a) for a in split["audio"]], sampling_rate=16000, return_tensors="pt")
    return batch["input_features"], batch["attention_mask"], torch.tensor(split["label"])


@pytest.fixture()
def one_thread():
    """One intra-op thread: deterministic, and no spin-wait collapse on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_small_tft_beats_chance_on_held_out_speakers(demo, one_thread):
    """A tiny TFT trained on 6 synthetic speakers recognises the 2 unseen ones well above 25 %."""
    dataset, _ = demo
    torch.manual_seed(0)
    fold = k_fold_by_speaker(dataset, 4, validation_speakers=0, seed=0)[0]
    assert not set(fold.train_speakers) & set(fold.test_speakers)
    extractor = TFTFeatureExtractor(max_length=MAX_FRAMES)
    x_train, mask_train, y_train = _features(fold.splits["train"], extractor)
    x_test, mask_test, y_test = _features(fold.splits["test"], extractor)
    config = TFTConfig(
        num_labels=4,
        hidden_size=64,
        num_attention_heads=4,
        num_time_layers=1,
        num_frequency_layers=1,
        num_fusion_layers=1,
        intermediate_size=128,
        max_frames=MAX_FRAMES,
    )
    model = TFTForAudioClassification(config)
    epochs, batch_size = 4, 16
    steps = epochs * -(-len(y_train) // batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=steps)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(y_train), generator=generator).split(batch_size):
            loss = model(input_features=x_train[idx], attention_mask=mask_train[idx], labels=y_train[idx]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    with torch.no_grad():
        predictions = model(input_features=x_test, attention_mask=mask_test).logits.argmax(-1)
    accuracy = (predictions == y_test).float().mean().item()
    recalls = [(predictions[y_test == c] == c).float().mean().item() for c in range(4)]
    print(f"held-out speakers {fold.test_speakers}: accuracy {accuracy:.3f}, recalls {recalls}")
    assert accuracy >= 0.45, f"accuracy {accuracy:.3f} on unseen speakers (chance 0.25)"
    assert np.mean(recalls) >= 0.45


def test_loso_on_demo_is_speaker_disjoint(demo):
    dataset, _ = demo
    for fold in leave_one_speaker_out(dataset):
        assert fold.splits["test"].num_rows == 100 and fold.splits["validation"].num_rows == 100
        assert not set(fold.splits["train"]["speaker"]) & set(fold.test_speakers)
