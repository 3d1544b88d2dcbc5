"""Decode audio files to 16 kHz mono float32 by the one audio path (`modeling_tft.audio_utils.decode`), in blocks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from modeling_tft.audio_utils import decode

BLOCK_SECONDS = 30.0  # decoded per read; bounds the memory beside the result


class AudioError(ValueError):
    """An audio file is missing, unreadable, empty or too short."""


def load_audio(path: str | Path, sampling_rate: int = 16000, min_samples: int = 1) -> np.ndarray:
    """
    Read a file as a mono float32 waveform at `sampling_rate`: the samples `pipeline("audio-classification")(path)`
    scores. FFmpeg (torchcodec) decodes; libswresample down-mixes (FFmpeg's matrix: stereo gives (L + R) / sqrt 2) and
    resamples; both are logged at INFO (logger `modeling_tft.audio_utils`).

    Decoding goes block by block (`BLOCK_SECONDS`), so memory holds the 16 kHz mono result (≈ 230 MB per hour) plus
    one block. Raises `AudioError` for a missing, unreadable or empty file, or one shorter than `min_samples`.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        audio = decode(path, sampling_rate, BLOCK_SECONDS)
    except (RuntimeError, ValueError) as error:  # torchcodec cannot open or decode the file
        message = re.sub(r"^\w+, \S+:\d+, ", "", str(error).strip().splitlines()[0])  # torchcodec's source location
        raise AudioError(f"{path}: cannot decode audio ({message})") from error
    if audio.size < min_samples:
        raise AudioError(
            f"{path}: {audio.size} samples ({audio.size / sampling_rate:.3f} s) after decoding; at least "
            f"{min_samples} ({min_samples / sampling_rate:.3f} s) are needed"
        )
    if not np.isfinite(audio).all():
        raise AudioError(f"{path}: contains NaN or Inf samples")
    return audio
