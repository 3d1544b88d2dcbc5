"""Settings of the voice-activity detection (kept free of torch, so the command line starts fast)."""

from __future__ import annotations

from dataclasses import dataclass

MIN_WINDOW_S = 0.25  # the shortest audio scored: data preparation's shortest clip (tft_ser.data MIN_DURATION_S)


@dataclass
class VADOptions:
    """Silero VAD settings (its own defaults, except a longer `min_silence_ms` so utterances are not cut)."""

    threshold: float = 0.5  # speech probability that starts a segment (ends below threshold - 0.15)
    min_speech_ms: int = 250  # shorter speech bursts are dropped
    min_silence_ms: int = 300  # a pause must last this long to end a segment
    speech_pad_ms: int = 30  # added to both sides of every segment
    max_segment_s: float = 15.0  # longer speech is split, preferably at its longest pause
    min_piece_seconds: float = 10.0  # batched processing: shortest audio per batch row
    max_batch: int = 128  # batched processing: most pieces run side by side
    warmup_seconds: float = 2.0  # batched processing: audio replayed before each piece
    num_threads: int = 1  # torch threads while Silero runs (its small steps only lose from more; restored after)
