"""What `tft-ser predict` does for each file: load, predict or build the timeline, draw, collect failures."""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .adaptation import Adaptation, adapt
from .audio import AudioError, load_audio
from .classifier import EmotionClassifier
from .exit_codes import EXIT_FAILED_INPUTS, EXIT_OK
from .explain import explain_clip
from .inputs import AUDIO_SUFFIXES, expand_inputs
from .options import MIN_WINDOW_S
from .output import render
from .plots import plot_explanation, plot_timeline
from .predict import predict_recording
from .timeline import emotion_timeline, summarize_timeline, window_and_hop
from .vad import VADOptions, speech_segments

HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")  # `owner/name`: anything else that is not a folder is a missing folder


class UsageError(ValueError):
    """Bad options or a model that is not there: nothing was processed (exit code 2)."""


class ModelError(RuntimeError):
    """The model's files are broken: unreadable, or NaN/Inf in its weights or scores (exit code 3)."""


@dataclass
class Runner:
    classifier: EmotionClassifier
    args: argparse.Namespace
    vad: VADOptions
    figures: set[Path] = field(default_factory=set)  # figure paths written so far (no overwriting)
    speakers: Adaptation | None = None  # `--adapt files`: the statistics of all the files' speech

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Runner:
        device = _device(args.device)
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
        paths, left_out = expand_inputs(arguments)
        if left_out:
            counts = ", ".join(f"{count} {suffix}" for suffix, count in sorted(left_out.items()))
            print(f"note: folder scan left out files that are not audio it reads ({counts}); reads: "
                  f"{' '.join(sorted(AUDIO_SUFFIXES))}", file=sys.stderr)  # fmt: skip
        if not paths:
            raise UsageError("no audio files found")
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
                figure = plot_path(args.plot, path, many, self.figures)
                result["plot"] = str(plot_timeline(rows, classifier.labels, figure, path.name))
        if args.explain:
            explanation = explain_clip(classifier, audio)
            figure = plot_path(args.explain, path, many, self.figures)
            result["explain"] = str(plot_explanation(explanation, figure, path.name))
            result["explain_notes"] = explanation.notes
        return result


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise UsageError(f"--device {name!r}: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name!r}: no CUDA device is available here (use --device cpu)")
    return device


def load_classifier(model: str, device: torch.device, trust_remote_code: bool, batch_size: int) -> EmotionClassifier:
    """The classifier of `model` (an export folder or a Hub id), or a `UsageError` / `ModelError` saying why not."""
    folder = Path(model).expanduser()
    if folder.is_file():
        raise UsageError(f"model {model!r} is a file; give the export folder that holds config.json")
    if not folder.exists() and not HUB_ID.match(model):
        raise UsageError(f"no model folder {model!r}")
    if folder.is_dir() and not (folder / "config.json").is_file():
        raise UsageError(f"model folder {model!r} has no config.json: not an exported model")
    try:
        classifier = EmotionClassifier.from_pretrained(
            str(folder) if folder.exists() else model, device=str(device), trust_remote_code=trust_remote_code,
            batch_size=batch_size,
        )  # fmt: skip
    except OSError as error:
        if not folder.exists():
            message = f"model {model!r} is not a local folder, and as a Hub id: {_first_line(error)}"
            raise UsageError(message) from error
        raise ModelError(f"cannot read its files: {_first_line(error)}") from error
    except Exception as error:  # safetensors, torch and config errors of broken files
        raise ModelError(f"cannot load it: {type(error).__name__}: {_first_line(error)}") from error
    broken = [name for name, weight in classifier.model.state_dict().items() if not torch.isfinite(weight).all()]
    if broken:
        raise ModelError(f"NaN or Inf in {len(broken)} weight tensor(s), e.g. {', '.join(broken[:3])}")
    return classifier


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]


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
