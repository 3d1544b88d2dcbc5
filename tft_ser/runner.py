"""What `tft-ser predict` does for each file: load, predict or build the timeline, draw, collect failures."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .adaptation import Adaptation, adapt
from .audio import AudioError, load_audio
from .classifier import EmotionClassifier
from .exit_codes import EXIT_FAILED_INPUTS, EXIT_OK, ModelError, UsageError
from .explain import explain_clip
from .inputs import audio_inputs
from .loading import device_from_option, load_classifier
from .options import MIN_WINDOW_S
from .output import failure_summary, render
from .predict import predict_recording
from .timeline import emotion_timeline, summarize_timeline, window_and_hop
from .vad import VADOptions, speech_segments


@dataclass
class Runner:
    classifier: EmotionClassifier
    args: argparse.Namespace
    vad: VADOptions
    figures: set[Path] = field(default_factory=set)  # figure paths written so far (no overwriting)
    speakers: Adaptation | None = None  # `--adapt files`: the statistics of all the files' speech

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Runner:
        device = device_from_option(args.device)
        classifier = load_classifier(args.model, device, args.trust_remote_code, args.batch_size)
        try:
            window_and_hop(classifier, args.window_s, args.hop_s)
        except ValueError as error:
            raise UsageError(f"--window-s / --hop-s: {error}") from None
        vad = VADOptions(
            threshold=args.vad_threshold, min_silence_ms=args.min_silence_ms, max_segment_s=args.max_segment_s
        )
        return cls(classifier, args, vad)

    def run(self, arguments: list[str]) -> int:
        paths = audio_inputs(arguments)
        if self.args.adapt == "files":
            self.speakers = adapt(self.classifier, (self._speech(path) for path in paths if path.is_file()), "files")
        results, failed = [], []
        for path in tqdm(paths, desc="files", unit="file", disable=True if len(paths) < 2 else None, file=sys.stderr):
            try:
                results.append(self.process(path, many=len(paths) > 1))
            except ModelError:
                raise
            except (AudioError, OSError, ValueError, RuntimeError) as error:  # this file fails, the rest go on
                message = str(error).removeprefix(f"{path}: ")  # AudioError messages start with the path
                failed.append({"file": str(path), "error": message})
        print(render(results, failed, self.classifier.labels, self.args.format, self.args.timeline))
        if failed:
            print(failure_summary(failed, len(paths)), file=sys.stderr)
            return EXIT_FAILED_INPUTS
        return EXIT_OK

    def _load(self, path: Path) -> np.ndarray:
        rate = self.classifier.sampling_rate
        return load_audio(path, rate, min_samples=max(self.classifier.min_samples, round(MIN_WINDOW_S * rate)))

    def _speech(self, path: Path) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """A file's audio and its speech segments, for `--adapt files` (a file that fails here fails later too)."""
        try:
            audio = self._load(path)
        except (AudioError, OSError, ValueError):
            return np.zeros(0, np.float32), []
        return audio, speech_segments(audio, self.vad)

    def process(self, path: Path, many: bool) -> dict:
        args = self.args
        audio = self._load(path)
        result: dict = {"file": str(path)}
        segments = (
            speech_segments(audio, self.vad) if args.timeline or args.adapt != "none" or not args.no_vad else None
        )
        classifier = self.classifier
        if args.adapt != "none":
            chosen = self.speakers or adapt(classifier, [(audio, segments)], "recording")
            classifier, result["normalization"] = chosen.classifier, chosen.to_dict()
        prediction = predict_recording(
            classifier, audio, not args.no_vad, self.vad, args.window_s, args.hop_s, segments
        )
        if not all(np.isfinite(score) for score in prediction.scores.values()):
            raise ModelError(f"non-finite scores for {path}: its weights give NaN or Inf")
        result["prediction"] = prediction.to_dict()
        if args.timeline:
            rows = emotion_timeline(classifier, audio, self.vad, args.window_s, args.hop_s, segments)
            result["timeline"] = [row.to_dict() for row in rows]
            result["summary"] = summarize_timeline(rows, classifier.labels)
            if args.plot:
                from .plots import plot_timeline  # the `plots` extra (matplotlib)

                figure = plot_path(args.plot, path, many, self.figures)
                result["plot"] = str(plot_timeline(rows, classifier.labels, figure, path.name))
        if args.explain:
            from .plots import plot_explanation  # the `plots` extra (matplotlib)

            explanation = explain_clip(classifier, audio)
            figure = plot_path(args.explain, path, many, self.figures)
            result["explain"] = str(plot_explanation(explanation, figure, path.name))
            result["explain_notes"] = explanation.notes
        return result


def plot_path(template: str | None, audio: Path, many: bool, taken: set[Path] | None = None) -> Path | None:
    """
    The figure path for one audio file: the template itself, or `<stem>_<audio stem>.png` for several files
    (`_2`, `_3`, ... appended when two inputs share a stem; `taken` collects the paths handed out).
    """
    if template is None:
        return None
    template = Path(template)
    if not many:
        return template
    suffix, name, count = template.suffix or ".png", f"{template.stem}_{audio.stem}", 1
    path = template.with_name(name + suffix)
    while taken is not None and path in taken:
        count += 1
        path = template.with_name(f"{name}_{count}{suffix}")
    if taken is not None:
        taken.add(path)
    return path
