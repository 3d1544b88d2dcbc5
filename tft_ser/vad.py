"""Voice-activity detection with Silero VAD (its model ships inside the `silero-vad` wheel: offline, torch only).

Silero scores 32 ms chunks (512 samples at 16 kHz) with a recurrent state, one chunk at a time. To go faster
on long recordings the audio is cut into up to `max_batch` pieces (at least `min_piece_seconds` long) that run
side by side as one batch; each piece first replays `warmup_seconds` of the audio before it (probabilities
discarded) so that its state has settled. Silero's state has a long memory, so segment boundaries can differ
from one uninterrupted pass by a few chunks (see docs/APPLICATIONS.md).
"""

from __future__ import annotations

import functools
import warnings
from types import ModuleType

import numpy as np
import torch

from .extras import require
from .options import VADOptions

VAD_SAMPLING_RATE = 16000
CHUNK = 512  # samples per Silero decision at 16 kHz (32 ms)


@functools.cache
def _silero_package() -> ModuleType:
    """`silero_vad`, imported without its side effect on the process: it calls `torch.set_num_threads(1)`."""
    require("silero_vad", "Voice-activity detection (Silero VAD)")
    threads = torch.get_num_threads()
    import silero_vad

    torch.set_num_threads(threads)
    return silero_vad


@functools.cache
def _silero() -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.load.*", category=FutureWarning)
        return _silero_package().load_silero_vad()


def speech_probabilities(audio: np.ndarray, options: VADOptions | None = None) -> np.ndarray:
    """Silero speech probability of every 32 ms chunk of a 16 kHz mono waveform (the last chunk zero-padded)."""
    options = options or VADOptions()
    model = _silero()
    num_chunks = -(-len(audio) // CHUNK)
    min_chunks = max(1, int(options.min_piece_seconds * VAD_SAMPLING_RATE) // CHUNK)
    per_piece = max(min_chunks, -(-num_chunks // options.max_batch))
    warmup = int(options.warmup_seconds * VAD_SAMPLING_RATE) // CHUNK
    num_pieces = -(-num_chunks // per_piece)
    whole = len(audio) // CHUNK
    chunks = torch.from_numpy(np.ascontiguousarray(audio[: whole * CHUNK], dtype=np.float32)).view(whole, CHUNK)
    tail = torch.zeros(1, CHUNK)
    tail[0, : len(audio) - whole * CHUNK] = torch.from_numpy(np.asarray(audio[whole * CHUNK :], dtype=np.float32))
    starts = torch.arange(num_pieces) * per_piece - warmup  # chunk index where each row's warm-up begins
    model.reset_states()
    threads = torch.get_num_threads()
    torch.set_num_threads(options.num_threads)
    try:
        probs = _run(model, chunks, tail, starts, warmup + per_piece)
    finally:
        torch.set_num_threads(threads)
    return probs[:, warmup:].reshape(-1)[:num_chunks].numpy()  # (chunks,)


def _run(model: torch.nn.Module, chunks: torch.Tensor, tail: torch.Tensor, starts: torch.Tensor, num_steps: int):
    """Silero over all pieces at once; returns `(pieces, num_steps)` probabilities."""
    whole, steps = len(chunks), []
    with torch.inference_mode():  # one step feeds every piece its next chunk (zeros outside the audio)
        for step in range(num_steps):
            index = starts + step
            batch = torch.zeros(len(starts), CHUNK)  # (pieces, CHUNK)
            inside = (index >= 0) & (index < whole)
            batch[inside] = chunks[index[inside]]
            batch[index == whole] = tail
            steps.append(model(batch, VAD_SAMPLING_RATE)[:, 0])
    return torch.stack(steps, 1)


def speech_segments(audio: np.ndarray, options: VADOptions | None = None) -> list[tuple[int, int]]:
    """Speech segments of a 16 kHz mono waveform as `(start, end)` sample indices, in order, non-overlapping."""
    options = options or VADOptions()
    if len(audio) == 0:
        return []
    stamps = _silero_package().get_speech_timestamps_from_probs(
        speech_probabilities(audio, options).tolist(),
        sampling_rate=VAD_SAMPLING_RATE,
        threshold=options.threshold,
        min_speech_duration_ms=options.min_speech_ms,
        max_speech_duration_s=options.max_segment_s,
        min_silence_duration_ms=options.min_silence_ms,
        speech_pad_ms=options.speech_pad_ms,
        audio_length_samples=len(audio),
    )
    return [(int(s["start"]), int(s["end"])) for s in stamps]
