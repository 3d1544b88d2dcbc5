"""Models and recordings for the `tft_ser` tests: a tiny TFT fitted in seconds to a few real CASIA clips."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from conftest import CORPORA, tiny_config_kwargs

from modeling_tft import TFTConfig, TFTFeatureExtractor, TFTForAudioClassification

SR = 16000
EMOTIONS = ["angry", "happy", "neutral", "sad"]
SPEAKER = "liuchanhg"
UTTERANCES = (201, 202, 203)
STEPS = 60


def casia_clip(emotion: str, utterance: int, speaker: str = SPEAKER) -> np.ndarray:
    audio, rate = sf.read(CORPORA / "casia" / speaker / emotion / f"{utterance}.wav", dtype="float32")
    assert rate == SR
    return audio


@functools.cache
def trained_export(inference_window_frames: int | None = None) -> Path:
    """
    A tiny time-branch TFT (64 mel bins, 300 frames) fitted to 3 clips per emotion, each step beside fresh random
    crops of them (a VAD segment trims a clip's edges and adds gap audio: it must keep the clip's label).
    `inference_window_frames` sets the export's inference windows.
    """
    rng = np.random.default_rng(0)
    clips = [casia_clip(e, u) for e in EMOTIONS for u in UTTERANCES]
    labels = torch.tensor([i for i in range(len(EMOTIONS)) for _ in UTTERANCES])
    extractor = TFTFeatureExtractor()
    torch.manual_seed(0)
    config = TFTConfig(
        **tiny_config_kwargs(
            num_mel_bins=64,
            max_frames=300,
            num_labels=len(EMOTIONS),
            id2label=dict(enumerate(EMOTIONS)),
            label2id={e: i for i, e in enumerate(EMOTIONS)},
            use_frequency_branch=False,  # the time branch alone fits a few clips in seconds
            use_fusion=False,
            inference_window_frames=inference_window_frames,
        )
    )
    model = TFTForAudioClassification(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    for _ in range(STEPS):
        batch = clips + [random_crop(clip, rng) for clip in clips]
        inputs = extractor(batch, sampling_rate=SR, return_tensors="pt")
        loss = model(**inputs, labels=labels.repeat(len(batch) // len(clips))).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    path = _temporary_folder("tft-ser-model-")
    model.eval().save_pretrained(path)
    extractor.save_pretrained(path)
    return path


@functools.cache
def shifted_export(scale: bool = False, supports: int | None = None) -> Path:
    """`trained_export`'s model with `speaker_embedding_shift` (and with `scale`, `speaker_embedding_scale`; with
    `supports`, `speaker_head_supports`): its
    training embedding statistics are those of its clips. Its functionals head has weight 0: its logits (tens) would
    drown the Transformer head's (ones), which the shift moves."""
    source = trained_export()
    model = TFTForAudioClassification.from_pretrained(
        source,
        speaker_embedding_shift=True,
        speaker_embedding_scale=scale,
        speaker_head_supports=supports,
        functionals_weight=0.0,
    )
    model.eval()
    extractor = TFTFeatureExtractor.from_pretrained(source)
    clips = [casia_clip(e, u) for e in EMOTIONS for u in UTTERANCES]
    with torch.no_grad():
        embeddings = model.utterance_embeddings(**extractor(clips, sampling_rate=SR, return_tensors="pt"))
        model.set_training_embeddings(embeddings, [SPEAKER] * len(clips))
    path = _temporary_folder("tft-ser-shifted-")
    model.save_pretrained(path)
    extractor.save_pretrained(path)
    return path


def random_crop(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Up to 0.7 s off the start and 0.4 s off the end, with 50 ms of silence or low noise on both sides."""
    start, end = rng.integers(0, int(0.7 * SR)), len(clip) - rng.integers(0, int(0.4 * SR))
    edge = (rng.integers(0, 2) * 1e-3 * rng.standard_normal(int(0.05 * SR))).astype(np.float32)
    return np.concatenate([edge, clip[start:end], edge])


def random_export(**overrides) -> Path:
    """An untrained tiny TFT (64 mel bins, 300 frames) with `overrides` (e.g. ablation switches), saved."""
    torch.manual_seed(0)
    config = TFTConfig(**tiny_config_kwargs(num_mel_bins=64, max_frames=300, **overrides))
    path = _temporary_folder("tft-ser-random-")
    TFTForAudioClassification(config).eval().save_pretrained(path)
    TFTFeatureExtractor(prosody=bool(config.num_prosody_features)).save_pretrained(path)
    return path


def _temporary_folder(prefix: str) -> Path:
    """A folder removed when the test process exits (models are shared across test modules, not per test)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path


def long_recording(
    clips: list[np.ndarray], gaps_s: list[float], noise: float = 1e-3, seed: int = 0
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """
    Clips, each after a gap: odd gaps are low Gaussian noise (`noise` std, -60 dBFS by default), even gaps
    digital silence; a 1-s noise tail ends it. Returns the recording and each clip's `(start_s, end_s)`.
    """
    rng = np.random.default_rng(seed)
    pieces, spans, cursor = [], [], 0
    for index, (clip, gap) in enumerate(zip(clips, gaps_s, strict=True)):
        filler = (noise * (index % 2) * rng.standard_normal(round(gap * SR))).astype(np.float32)
        pieces += [filler, clip]
        cursor += len(filler)
        spans.append((cursor / SR, (cursor + len(clip)) / SR))
        cursor += len(clip)
    tail = (noise * rng.standard_normal(SR)).astype(np.float32)
    return np.concatenate([*pieces, tail]), spans
