"""The one audio path: FFmpeg (torchcodec) decodes, down-mixes and resamples, as transformers' `pipeline(file)` does."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def decode(source: str | Path | bytes, sampling_rate: int, block_seconds: float | None = None) -> np.ndarray:
    """Mono float32 samples of an audio file (path or bytes) at `sampling_rate`, as `ffmpeg -ac 1 -ar <rate>` gives
    them to `pipeline("audio-classification")(file)`: torchcodec (FFmpeg) decodes, libswresample down-mixes (FFmpeg's
    matrix: stereo gives (L + R) / sqrt 2) and resamples. `block_seconds` decodes block by block (same samples; memory:
    the result plus one block). Undecodable input raises `RuntimeError` or `ValueError`."""
    try:  # not a hard import: an export loads without torchcodec; only decoding, down-mixing, resampling need it
        from torchcodec.decoders import AudioDecoder
    except Exception as error:  # ImportError, or RuntimeError/OSError when the FFmpeg libraries are missing
        raise ImportError(f"Decoding and resampling audio need torchcodec and FFmpeg's libraries ({error}).") from error
    decoder = AudioDecoder(source, sample_rate=sampling_rate, num_channels=1)
    stream = decoder.metadata
    if (stream.num_channels, stream.sample_rate) != (1, sampling_rate):
        name = "audio" if isinstance(source, bytes) else source
        logger.info(f"{name}: {stream.num_channels} channel(s), {stream.sample_rate} Hz -> mono, {sampling_rate} Hz")
    start, filled = stream.begin_stream_seconds or 0.0, 0
    audio = np.empty(int(np.ceil((stream.duration_seconds or 0) * sampling_rate)) + 16, np.float32)  # filled in place
    while True:
        stop = start + block_seconds if block_seconds else None
        try:
            samples = decoder.get_samples_played_in_range(start, stop)
        except RuntimeError as error:  # no frames: the stream has ended (a header may overstate it) or is empty
            if "No audio frames" not in str(error):
                raise
            return audio[:filled]
        block = samples.data[0].numpy()
        if stop is None:
            return block
        if filled + len(block) > len(audio):  # the header understated the length
            audio = np.concatenate([audio[:filled], np.empty(max(len(block), filled), np.float32)])
        audio[filled : filled + len(block)], filled = block, filled + len(block)
        if samples.pts_seconds + samples.duration_seconds < stop - 1 / sampling_rate:
            return audio[:filled]  # a short block is the last
        start = stop


def to_mono(audio: np.ndarray, rate: int, sampling_rate: int) -> np.ndarray:
    """A `(samples,)` or `(samples, channels)` clip at `rate` as `decode` reads a float WAV file holding it."""
    if audio.ndim == 1 and rate == sampling_rate:
        return audio
    data, channels = np.ascontiguousarray(audio, dtype="<f4").tobytes(), 1 if audio.ndim == 1 else audio.shape[1]
    fmt = struct.pack("<HHIIHH", 3, channels, rate, 4 * channels * rate, 4 * channels, 32)  # IEEE float, 32 bits
    header = struct.pack("<4sI4s4sI", b"RIFF", 20 + len(fmt) + len(data), b"WAVE", b"fmt ", len(fmt)) + fmt
    return decode(header + struct.pack("<4sI", b"data", len(data)) + data, sampling_rate)
