"""Smoke demo: build a TFT, save it with its feature extractor, reload it and classify a clip via `pipeline`."""

from __future__ import annotations

import tempfile

import numpy as np
from transformers import pipeline

from modeling_tft import TFTConfig, TFTFeatureExtractor, TFTForAudioClassification

LABELS = ["angry", "happy", "neutral", "sad"]


def main() -> None:
    config = TFTConfig(id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)})
    model = TFTForAudioClassification(config)
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        TFTFeatureExtractor().save_pretrained(folder)
        classifier = pipeline("audio-classification", model=folder)
        t = np.arange(3 * 16000) / 16000
        clip = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
        print(f"untrained TFT ({model.num_parameters():,} parameters), saved and reloaded:", classifier(clip))


if __name__ == "__main__":
    main()
