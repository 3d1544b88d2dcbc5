"""Batched Silero VAD: agrees with one uninterrupted Silero pass; leaves torch's thread count alone."""

import numpy as np
import torch
from tft_ser_models import EMOTIONS, SR, casia_clip, long_recording

from tft_ser.vad import VADOptions, _silero, _silero_package, speech_segments

# Pieces restart Silero's recurrent state (after a warm-up), and that state has a long memory: boundaries can
# move by a few 32 ms chunks against one uninterrupted pass (measured up to 0.26 s on 82 segments; docs).
BOUNDARY_TOLERANCE_S = 0.3


def test_batched_segments_match_one_pass(corpora):
    audio, _ = long_recording([casia_clip(e, u) for u in (204, 205) for e in EMOTIONS], [1.0, 2.0, 0.7, 1.5] * 2)
    options = VADOptions(min_piece_seconds=4.0, warmup_seconds=1.0)  # many pieces on a short recording
    batched = speech_segments(audio, options)
    one_pass = _silero_package().get_speech_timestamps(
        torch.from_numpy(audio),
        _silero(),
        min_silence_duration_ms=options.min_silence_ms,
        max_speech_duration_s=options.max_segment_s,
    )
    assert len(batched) == len(one_pass) == 8
    for (start, end), reference in zip(batched, one_pass, strict=True):
        assert abs(start - reference["start"]) / SR <= BOUNDARY_TOLERANCE_S
        assert abs(end - reference["end"]) / SR <= BOUNDARY_TOLERANCE_S


def test_torch_threads_are_restored():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        speech_segments(np.zeros(SR, np.float32))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
