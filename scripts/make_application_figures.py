"""
Draw the README's timeline and explanation pictures from real CASIA clips of a speaker the model never heard.

    python scripts/make_application_figures.py                      # trains a small TFT first (a few CPU minutes)
    python scripts/make_application_figures.py --model outputs/casia/export

Without `--model`, a default `TFTConfig()` is trained for `--epochs` on the CASIA speakers other than `--speaker`
(whole clips, first 3 s); it is an illustration, not a tuned model (see docs/RESULTS.md for measured accuracy).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from modeling_tft import TFTConfig, TFTFeatureExtractor, TFTForAudioClassification  # noqa: E402
from tft_ser import EmotionClassifier, emotion_timeline, explain_clip  # noqa: E402
from tft_ser.plots import plot_explanation, plot_timeline  # noqa: E402

CORPORA = Path(os.environ.get("TFT_CORPORA", ROOT.parent / "shared" / "corpora"))
EMOTIONS = ["angry", "fear", "happy", "neutral", "sad", "surprise"]
SR = 16000


def train(speaker: str, epochs: int, output: Path) -> Path:
    """Fit a default TFT on every CASIA speaker but `speaker`; save it with its feature extractor."""
    paths = [p for p in sorted((CORPORA / "casia").glob("*/*/*.wav")) if p.parts[-3] != speaker]
    labels = torch.tensor([EMOTIONS.index(p.parts[-2]) for p in paths])
    extractor = TFTFeatureExtractor()
    inputs = extractor([sf.read(p, dtype="float32")[0] for p in paths], sampling_rate=SR, return_tensors="pt")
    torch.manual_seed(0)
    label2id = {e: i for i, e in enumerate(EMOTIONS)}
    config = TFTConfig(num_labels=6, id2label=dict(enumerate(EMOTIONS)), label2id=label2id)
    model = TFTForAudioClassification(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    for epoch in range(epochs):
        order = torch.randperm(len(paths))
        for batch in order.split(32):
            loss = model(inputs["input_features"][batch], inputs["attention_mask"][batch], labels=labels[batch]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}/{epochs}: last batch loss {loss.item():.3f}", flush=True)
    model.eval().save_pretrained(output)
    extractor.save_pretrained(output)
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="export folder (default: train one, see above)")
    parser.add_argument("--speaker", default="ZhaoZuoxiang", help="CASIA speaker whose clips are drawn")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--output_dir", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    model = args.model or str(train(args.speaker, args.epochs, Path(tempfile.mkdtemp(prefix="tft-figures-"))))
    classifier = EmotionClassifier.from_pretrained(model)

    rng = np.random.default_rng(0)
    order = ["neutral", "angry", "sad", "happy", "surprise", "fear", "angry", "neutral"]
    pieces = []
    for index, emotion in enumerate(order):
        pieces.append((1e-3 * rng.standard_normal(int(rng.uniform(0.8, 2.0) * SR))).astype(np.float32))
        pieces.append(sf.read(CORPORA / "casia" / args.speaker / emotion / f"{210 + index}.wav", dtype="float32")[0])
    pieces.append(np.zeros(SR, np.float32))
    rows = emotion_timeline(classifier, np.concatenate(pieces))
    title = f"CASIA speaker {args.speaker} (held out); clips spoken as: " + ", ".join(order)
    print(plot_timeline(rows, classifier.labels, args.output_dir / "timeline.png", title))

    clip = sf.read(CORPORA / "casia" / args.speaker / "angry" / "230.wav", dtype="float32")[0]
    explanation = explain_clip(classifier, clip)
    title = f"CASIA {args.speaker}/angry/230.wav: predicted {explanation.label} ({explanation.score:.2f})"
    print(plot_explanation(explanation, args.output_dir / "explain.png", title))
    for name in ("timeline.png", "explain.png"):  # 256-colour palette: a fraction of the bytes in the repository
        path = args.output_dir / name
        Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)


if __name__ == "__main__":
    main()
