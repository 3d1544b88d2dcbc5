"""Bad inputs to `tft-ser predict` and to `pipeline("audio-classification")`: each case builds its input in a folder,
runs the entry point, and states the exact outcome (exit code or exception, message, what was still processed)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from safetensors.torch import load_file, save_file
from tft_ser_models import SR, random_export

SPEECHLIKE_SECONDS = 1.0


def tone(seconds: float = SPEECHLIKE_SECONDS, peak: float = 0.3) -> np.ndarray:
    """A harmonic tone with a syllable-rate envelope: audio any model can score."""
    t = np.arange(round(seconds * SR)) / SR
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
    return (peak * envelope * np.sin(2 * np.pi * 180 * t)).astype(np.float32)


def export_copy(folder: Path) -> Path:
    """A copy of a tiny random export (64 mel bins, 3 labels) in `folder/model`."""
    target = folder / "model"
    target.mkdir()
    for file in random_export().iterdir():
        (target / file.name).write_bytes(file.read_bytes())
    return target


def nan_weights(folder: Path) -> Path:
    model = export_copy(folder)
    weights = load_file(model / "model.safetensors")
    weights["classifier.weight"] = torch.full_like(weights["classifier.weight"], float("nan"))
    save_file(weights, model / "model.safetensors", metadata={"format": "pt"})
    return model


def truncated_weights(folder: Path) -> Path:
    model = export_copy(folder)
    data = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(data[: len(data) // 2])
    return model


@dataclass
class CliCase:
    """`tft-ser predict MODEL AUDIO... OPTIONS`: `setup` writes the inputs into the folder and returns the model path
    and the audio arguments; the case states the exit code, a stderr substring, and the files that must be scored."""

    name: str
    options: list[str] = field(default_factory=list)
    exit_code: int = 2
    message: str = ""
    setup: Callable[[Path], tuple[str, list[str]]] | None = None
    scored: tuple[str, ...] = ()  # file names that must still be in the results (nothing lost)
    failed: tuple[str, ...] = ()  # file names that must be listed as failed


def good_model_and(*files: tuple[str, np.ndarray | bytes]) -> Callable[[Path], tuple[str, list[str]]]:
    """A working model, and the named files (arrays are written as 16 kHz WAV, bytes as they are)."""

    def setup(folder: Path) -> tuple[str, list[str]]:
        model = export_copy(folder)
        paths = []
        for name, content in files:
            path = folder / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            elif content.size == 0:
                sf.SoundFile(path, "w", SR, 1).close()  # a valid WAV header and no samples
            else:
                sf.write(path, content, SR, subtype="FLOAT" if np.abs(content).max() > 1 else "PCM_16")
            paths.append(str(path))
        return str(model), paths

    return setup


def model_only(make: Callable[[Path], Path | str]) -> Callable[[Path], tuple[str, list[str]]]:
    def setup(folder: Path) -> tuple[str, list[str]]:
        sf.write(folder / "ok.wav", tone(), SR)
        return str(make(folder)), [str(folder / "ok.wav")]

    return setup


def folder_with(*files: tuple[str, bytes | np.ndarray]) -> Callable[[Path], tuple[str, list[str]]]:
    def setup(folder: Path) -> tuple[str, list[str]]:
        model = export_copy(folder)
        audio = folder / "audio"
        audio.mkdir()
        for name, content in files:
            if isinstance(content, bytes):
                (audio / name).write_bytes(content)
            else:
                sf.write(audio / name, content, SR)
        return str(model), [str(audio)]

    return setup


OK = good_model_and(("ok.wav", tone()))

CLI_CASES = [
    CliCase("window zero", ["--window-s", "0"], message="argument --window-s: 0 is outside [0.25, inf]", setup=OK),
    CliCase("window negative", ["--window-s", "-1"], message="-1 is outside [0.25, inf]", setup=OK),
    CliCase("window not a number", ["--window-s", "abc"], message="'abc' is not a number", setup=OK),
    CliCase("window NaN", ["--window-s", "nan"], message="nan is outside [0.25, inf]", setup=OK),
    CliCase("hop zero", ["--hop-s", "0"], message="argument --hop-s: 0 is outside (0, inf]", setup=OK),
    CliCase("hop longer than window", ["--window-s", "1", "--hop-s", "2"], message="--hop-s 2.0 is longer", setup=OK),
    CliCase("hop longer than the model window", ["--hop-s", "10"], message="--window-s / --hop-s: hop", setup=OK),
    CliCase("batch size zero", ["--batch-size", "0"], message="argument --batch-size: 0 is outside [1, inf]", setup=OK),
    CliCase("batch size negative", ["--batch-size", "-3"], message="-3 is outside [1, inf]", setup=OK),
    CliCase("batch size fractional", ["--batch-size", "2.5"], message="'2.5' is not an integer", setup=OK),
    CliCase("VAD threshold above 1", ["--vad-threshold", "2"], message="2 is outside (0.15, 1)", setup=OK),
    CliCase("VAD threshold too low", ["--vad-threshold", "0.1"], message="0.1 is outside (0.15, 1)", setup=OK),
    CliCase("negative min silence", ["--min-silence-ms", "-5"], message="-5 is outside [0, inf]", setup=OK),
    CliCase("max segment zero", ["--max-segment-s", "0"], message="0 is outside [0.25, inf]", setup=OK),
    CliCase("plot without timeline", ["--plot", "t.png"], message="--plot draws the timeline", setup=OK),
    CliCase("CUDA without a GPU", ["--device", "cuda"], message="no CUDA device is available here", setup=OK),
    CliCase("unknown device", ["--device", "toaster"], message="--device 'toaster'", setup=OK),
    CliCase(
        "missing model folder",
        message="no model folder",
        setup=lambda folder: (str(folder / "nope" / "model"), [str(folder / "x.wav")]),
    ),
    CliCase("model path is a file", message="is a file; give the export folder", setup=model_only(lambda f: _file(f))),
    CliCase("folder without config.json", message="has no config.json", setup=model_only(lambda f: _empty_dir(f))),
    CliCase(
        "NaN weights",
        exit_code=3,
        message="NaN or Inf in 1 weight tensor(s), e.g. classifier.weight",
        setup=model_only(nan_weights),
    ),
    CliCase("truncated weights", exit_code=3, message="cannot load it", setup=model_only(truncated_weights)),
    CliCase("empty folder", message="no audio files found", setup=folder_with()),
    CliCase(
        "missing audio file beside a good one",
        exit_code=1,
        message="1 of 2 file(s) failed",
        setup=lambda folder: (OK(folder)[0], [str(folder / "ok.wav"), str(folder / "gone.wav")]),
        scored=("ok.wav",),
        failed=("gone.wav",),
    ),
    CliCase(
        "undecodable file",
        exit_code=1,
        message="cannot decode audio",
        setup=good_model_and(("ok.wav", tone()), ("bad.wav", b"RIFF....WAVEjunk")),
        scored=("ok.wav",),
        failed=("bad.wav",),
    ),
    CliCase(
        "50 ms clip",
        exit_code=1,
        message="(0.050 s) after decoding; at least 4000 (0.250 s) are needed",
        setup=good_model_and(("ok.wav", tone()), ("short.wav", tone(0.05))),
        scored=("ok.wav",),
        failed=("short.wav",),
    ),
    CliCase(
        "empty audio file",
        exit_code=1,
        message="0 samples",
        setup=good_model_and(("ok.wav", tone()), ("empty.wav", np.zeros(0, np.float32))),
        scored=("ok.wav",),
        failed=("empty.wav",),
    ),
    CliCase(
        "float WAV at int16 scale",
        exit_code=1,
        message="far beyond the [-1, 1] of float audio",
        setup=good_model_and(("ok.wav", tone()), ("loud.wav", tone(peak=20000.0))),
        scored=("ok.wav",),
        failed=("loud.wav",),
    ),
    CliCase(
        "float WAV slightly beyond full scale",
        exit_code=0,
        message="",
        setup=good_model_and(("hot.wav", tone(peak=1.3))),
        scored=("hot.wav",),
    ),
    CliCase(
        "text file in a folder scan",
        exit_code=0,
        message="folder scan left out files that are not audio it reads (1 .txt)",
        setup=folder_with(("a.wav", tone()), ("notes.txt", b"not audio")),
        scored=("a.wav",),
    ),
    CliCase(
        "undecodable m4a in a folder scan",
        exit_code=1,
        message="b.m4a: cannot decode audio",
        setup=folder_with(("a.wav", tone()), ("b.m4a", b"not decoded")),
        scored=("a.wav",),
        failed=("b.m4a",),
    ),
]


def _file(folder: Path) -> Path:
    path = folder / "model.bin"
    path.write_bytes(b"weights")
    return path


def _empty_dir(folder: Path) -> Path:
    path = folder / "empty_model"
    path.mkdir()
    return path


def run_cli_case(case: CliCase, folder: Path, capsys) -> None:
    from tft_ser.cli import main

    model, audio = case.setup(folder)
    code = main(["predict", model, *audio, "--json", "--no-vad", *case.options])
    out, err = capsys.readouterr()
    assert code == case.exit_code, (code, err)
    assert case.message in err, err
    assert "Traceback" not in err
    if case.scored or case.failed:
        report = json.loads(out)
        assert sorted(Path(r["file"]).name for r in report["results"]) == sorted(case.scored)
        assert sorted(Path(f["file"]).name for f in report["failed"]) == sorted(case.failed)


@dataclass
class PipelineCase:
    """`pipeline("audio-classification")(inputs)` on a tiny export: an exception with a message, or a logged
    warning with the scores still returned."""

    name: str
    inputs: Callable[[], object]
    error: type[Exception] | None = None
    message: str = ""


PIPELINE_CASES = [
    PipelineCase("NaN sample", lambda: np.r_[tone(), np.float32("nan")], ValueError, "The audio contains NaN or Inf"),
    PipelineCase("empty array", lambda: np.zeros(0, np.float32), ValueError, "The audio is empty"),
    PipelineCase("3-D array", lambda: np.zeros((2, 2, 8000), np.float32), ValueError, "expect a single channel"),
    PipelineCase(  # transformers' pipeline stops at the first bad item of a list; the message names the problem
        "bad item in a list", lambda: [tone(), np.r_[tone(), np.float32("inf")]], ValueError, "contains NaN or Inf"
    ),
    PipelineCase("int16 scale as float", lambda: tone(peak=20000.0), ValueError, "far beyond the [-1, 1]"),
    PipelineCase("20 ms clip", lambda: tone(0.02), ValueError, "samples (0.0200 s); at least 512"),
    PipelineCase("50 ms clip", lambda: tone(0.05), None, "lasts 0.050 s, less than 0.25 s"),
    PipelineCase("beyond full scale", lambda: tone(peak=1.3), None, "beyond [-1, 1] (peak 1.300)"),
]


def run_pipeline_case(case: PipelineCase, classifier, caplog) -> None:
    import pytest

    inputs = case.inputs()
    if case.error is not None:
        with pytest.raises(case.error, match=_literal(case.message)):
            classifier(inputs)
        return
    with caplog.at_level(logging.WARNING):
        scores = classifier(inputs)
    assert len(scores) == 3 and all(np.isfinite(s["score"]) for s in scores)
    assert case.message in caplog.text


def _literal(text: str) -> str:
    import re

    return re.escape(text)
