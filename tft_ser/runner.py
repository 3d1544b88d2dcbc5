"""What `tft-ser predict` does for each file: load, predict or build the timeline, draw, collect failures."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .audio import AudioError, load_audio
from .classifier import EmotionClassifier
from .exit_codes import EXIT_FAILED_INPUTS, EXIT_OK, EXIT_USAGE
from .explain import explain_clip
from .inputs import expand_inputs
from .output import render
from .plots import plot_explanation, plot_timeline
from .predict import predict_recording
from .timeline import emotion_timeline, summarize_timeline
from .vad import VADOptions, speech_segments


@dataclass
class Runner:
    classifier: EmotionClassifier
    args: argparse.Namespace
    vad: VADOptions
    figures: set[Path] = field(default_factory=set)  # figure paths written so far (no overwriting)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Runner:
        classifier = EmotionClassifier.from_pretrained(
            args.model, device=args.device, trust_remote_code=args.trust_remote_code, batch_size=args.batch_size
        )
        vad = VADOptions(
            threshold=args.vad_threshold, min_silence_ms=args.min_silence_ms, max_segment_s=args.max_segment_s
        )
        return cls(classifier, args, vad)

    def run(self, arguments: list[str]) -> int:
        paths = expand_inputs(arguments)
        if not paths:
            print("error: no audio files found", file=sys.stderr)
            return EXIT_USAGE
        results, failed = [], []
        for path in tqdm(paths, desc="files", unit="file", disable=True if len(paths) < 2 else None, file=sys.stderr):
            try:
                results.append(self.process(path, many=len(paths) > 1))
            except (AudioError, OSError, ValueError, RuntimeError) as error:  # this file fails, the rest go on
                message = str(error).removeprefix(f"{path}: ")  # AudioError messages start with the path
                failed.append({"file": str(path), "error": message})
        print(render(results, failed, self.classifier.labels, self.args.format, self.args.timeline))
        if failed:
            print(failure_summary(failed, len(paths)), file=sys.stderr)
            return EXIT_FAILED_INPUTS
        return EXIT_OK

    def process(self, path: Path, many: bool) -> dict:
        args, classifier = self.args, self.classifier
        audio = load_audio(path, classifier.sampling_rate, min_samples=classifier.min_samples)
        result: dict = {"file": str(path)}
        segments = speech_segments(audio, self.vad) if args.timeline or not args.no_vad else None
        result["prediction"] = predict_recording(
            classifier, audio, not args.no_vad, self.vad, args.window_s, args.hop_s, segments
        ).to_dict()
        if args.timeline:
            rows = emotion_timeline(classifier, audio, self.vad, args.window_s, args.hop_s, segments)
            result["timeline"] = [row.to_dict() for row in rows]
            result["summary"] = summarize_timeline(rows, classifier.labels)
            if args.plot:
                figure = plot_path(args.plot, path, many, self.figures)
                result["plot"] = str(plot_timeline(rows, classifier.labels, figure, path.name))
        if args.explain:
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


def failure_summary(failed: list[dict], total: int) -> str:
    lines = [f"{len(failed)} of {total} file(s) failed:"] + [f"  {f['file']}: {f['error']}" for f in failed]
    return "\n".join(lines)
