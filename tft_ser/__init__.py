"""Applications of the TFT emotion model: long-recording timelines, explanation maps and the `tft-ser` command.

This package imports `modeling_tft` (the model a Hub export ships) and never the other way round.
"""

from .audio import AudioError, load_audio
from .classifier import EmotionClassifier
from .explain import Explanation, explain_clip
from .predict import RecordingPrediction, predict_recording
from .timeline import NON_SPEECH, TimelineRow, emotion_timeline, summarize_timeline
from .vad import VADOptions, speech_segments

__all__ = [
    "NON_SPEECH",
    "AudioError",
    "EmotionClassifier",
    "Explanation",
    "RecordingPrediction",
    "TimelineRow",
    "VADOptions",
    "emotion_timeline",
    "explain_clip",
    "load_audio",
    "predict_recording",
    "speech_segments",
    "summarize_timeline",
]
