"""Decode audio files to 16 kHz mono float32 in blocks: down-mix and resample as they stream (both logged)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

logger = logging.getLogger(__name__)

BLOCK_SECONDS = 30.0  # decoded per read; bounds the memory of down-mixing and resampling


class AudioError(ValueError):
    """An audio file is missing, unreadable, empty or too short."""


def load_audio(path: str | Path, sampling_rate: int = 16000, min_samples: int = 1) -> np.ndarray:
    """
    Read a file as a mono float32 waveform at `sampling_rate`.

    Decoding goes block by block (`BLOCK_SECONDS`): each block is down-mixed (mean of channels) and fed to a
    streaming `soxr` resampler, so memory holds the 16 kHz mono result (≈ 230 MB per hour) plus one block.
    Raises `AudioError` for a missing, unreadable or empty file, or one shorter than `min_samples` after resampling.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        with sf.SoundFile(path) as source:
            audio = _decode(source, sampling_rate, path)
    except sf.LibsndfileError as error:
        raise AudioError(f"{path}: cannot decode audio ({error})") from error
    if audio.size < min_samples:
        raise AudioError(
            f"{path}: {audio.size} samples ({audio.size / sampling_rate:.3f} s) after decoding; at least "
            f"{min_samples} ({min_samples / sampling_rate:.3f} s) are needed"
        )
    if not np.isfinite(audio).all():
        raise AudioError(f"{path}: contains NaN or Inf samples")
    return audio


def _decode(source: sf.SoundFile, sampling_rate: int, path: Path) -> np.ndarray:
    if source.channels > 1:
        logger.info("%s: down-mixing %d channels to mono (mean)", path, source.channels)
    resampler = None
    if source.samplerate != sampling_rate:
        logger.info("%s: resampling %d Hz to %d Hz", path, source.samplerate, sampling_rate)
        resampler = soxr.ResampleStream(source.samplerate, sampling_rate, 1, dtype="float32")
    block = max(1, int(BLOCK_SECONDS * source.samplerate))
    expected = int(np.ceil(source.frames * sampling_rate / source.samplerate)) + 16 if source.frames > 0 else 0
    audio, filled = np.zeros(expected, dtype=np.float32), 0  # filled in place: no second copy of a long file
    while True:
        data = source.read(block, dtype="float32", always_2d=True)  # (samples, channels)
        last = len(data) < block
        mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
        out = resampler.resample_chunk(mono, last=last) if resampler is not None else mono
        if filled + len(out) > len(audio):  # length unknown or underestimated: grow
            audio = np.concatenate([audio[:filled], np.zeros(max(len(out), len(audio) // 2), dtype=np.float32)])
        audio[filled : filled + len(out)] = out
        filled += len(out)
        if last:
            break
    return audio[:filled]
