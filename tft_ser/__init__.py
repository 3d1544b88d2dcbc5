"""Applications of the TFT emotion model: timelines, explanation maps, embeddings, ONNX export, the `tft-ser` command.

This package imports `modeling_tft` (the model a Hub export ships) and never the other way round. Names are
imported on first use (PEP 562), so `tft-ser --help` and usage errors do not wait for torch. Its subpackages
`tft_ser.training` (cross-validated training and export) and `tft_ser.data` (corpus preparation) build on it; the
applications never import them.
"""

from __future__ import annotations

from importlib import metadata

from .lazy_exports import lazy_exports

try:
    __version__ = metadata.version("tft-ser")
except metadata.PackageNotFoundError:  # a checkout that was not installed
    __version__ = "0+unknown"

_EXPORTS = {
    "AudioError": "audio",
    "load_audio": "audio",
    "EmotionClassifier": "classifier",
    "Embeddings": "embed",
    "embed_clip": "embed",
    "embed_files": "embed",
    "read_embeddings": "embed",
    "write_embeddings": "embed",
    "Explanation": "explain",
    "explain_clip": "explain",
    "OnnxExport": "onnx_export",
    "export_onnx": "onnx_export",
    "RecordingPrediction": "predict",
    "predict_recording": "predict",
    "NON_SPEECH": "timeline",
    "TimelineRow": "timeline",
    "emotion_timeline": "timeline",
    "summarize_timeline": "timeline",
    "VADOptions": "options",
    "speech_segments": "vad",
}

__all__ = sorted([*_EXPORTS, "__version__"])

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
