"""The stack learns: a tiny TFT fits a handful of real CASIA clips."""

import soundfile as sf
import torch
from conftest import tiny_config_kwargs

from modeling_tft import TFTConfig, TFTFeatureExtractor, TFTForAudioClassification

EMOTIONS = ["angry", "fear", "happy", "neutral", "sad", "surprise"]


def test_tiny_model_overfits_real_clips(corpora):
    clips, labels = [], []
    for label, emotion in enumerate(EMOTIONS):
        for utterance in (201, 202):
            audio, rate = sf.read(corpora / "casia" / "liuchanhg" / emotion / f"{utterance}.wav", dtype="float32")
            clips.append(audio)
            labels.append(label)
    fe = TFTFeatureExtractor()
    inputs = fe(clips, sampling_rate=rate, return_tensors="pt")
    labels = torch.tensor(labels)
    torch.manual_seed(0)
    config = TFTConfig(**tiny_config_kwargs(num_mel_bins=64, max_frames=300, num_labels=6, hidden_size=64))
    model = TFTForAudioClassification(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(60):
        loss = model(**inputs, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        accuracy = (model(**inputs).logits.argmax(-1) == labels).float().mean().item()
    assert losses[-1] < 0.1 * losses[0], losses
    assert accuracy == 1.0
