"""Without the optional extras (vad: silero-vad, plots: matplotlib, tensorboard): `pipeline`, `tft-ser predict FILE`
and training work; an option that needs a missing extra is one line naming it (exit code 2), not a traceback."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import REPO_ROOT
from test_run_train import BASE
from tft_ser_models import random_export

from tft_ser.data.demo import make_speakers, synthesize
from tft_ser.training import plots, run_train

HIDDEN = ("silero_vad", "matplotlib", "tensorboard", "tensorboardX")  # as if not installed

# Run with every extra hidden (a `None` entry in sys.modules makes `import` fail and `find_spec` answer None).
SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, sys
    for name in {hidden!r}:
        sys.modules[name] = None
    from tft_ser.cli import main

    def cli(*args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["predict", {model!r}, {clip!r}, *args])
        lines = [line for line in err.getvalue().splitlines() if line.strip() and "Loading weights" not in line]
        return {{"code": code, "out": out.getvalue(), "err": lines}}

    report = {{
        "timeline": cli("--timeline"),
        "adapt": cli("--adapt", "recording"),
        "explain": cli("--explain", "explain.png"),
        "predict": cli("--json"),
        "no_vad": cli("--json", "--no-vad"),
    }}
    from transformers import pipeline
    report["pipeline"] = pipeline("audio-classification", model={model!r})({clip!r}, top_k=1)
    import numpy as np
    import tft_ser
    for name, call in (("plots", lambda: __import__("tft_ser.plots")),
                       ("vad", lambda: tft_ser.speech_segments(np.zeros(16000, np.float32)))):
        try:
            call()
        except ImportError as error:
            report[name] = f"{{type(error).__name__}}: {{error}}"
    report["loaded"] = sorted(name for name in {hidden!r} if sys.modules.get(name) is not None)
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "angry.wav"
    sf.write(path, synthesize("angry", make_speakers(1, seed=0)[0], np.random.default_rng(0)), 16000)
    return path


def test_predict_and_pipeline_without_extras_and_the_errors_that_name_them(clip, tmp_path):
    script = SCRIPT.format(hidden=HIDDEN, model=str(random_export()), clip=str(clip))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    for option, error in (
        ("timeline", "error: --timeline needs silero-vad: pip install 'tft-ser[vad]'"),
        ("adapt", "error: --adapt recording needs silero-vad: pip install 'tft-ser[vad]'"),
        ("explain", "error: --explain needs matplotlib: pip install 'tft-ser[plots]'"),
    ):
        assert report[option] == {"code": 2, "out": "", "err": [error]}, option
    assert not (tmp_path / "explain.png").exists()
    # whole-file prediction: windows weighted by length, as --no-vad, and one line that says so
    predict, no_vad = report["predict"], report["no_vad"]
    assert predict["code"] == no_vad["code"] == 0 and predict["out"] == no_vad["out"] and not no_vad["err"]
    assert predict["err"] == [
        "warning: silero-vad is not installed, so windows are weighted by length, not by speech (as --no-vad); "
        "pip install 'tft-ser[vad]' for speech weighting"
    ]
    [row] = json.loads(predict["out"])["results"]
    assert row["prediction"]["label"] in {"LABEL_0", "LABEL_1", "LABEL_2"} and row["prediction"]["num_windows"] == 1
    assert report["pipeline"][0]["label"] in {"LABEL_0", "LABEL_1", "LABEL_2"}
    assert report["plots"] == "MissingExtra: Drawing figures needs matplotlib: pip install 'tft-ser[plots]'"
    assert report["vad"] == (
        "MissingExtra: Voice-activity detection (Silero VAD) needs silero-vad: pip install 'tft-ser[vad]'"
    )
    assert report["loaded"] == []


def test_training_without_matplotlib_and_tensorboard(tmp_path, monkeypatch, caplog):
    """`--report_to tensorboard` and the figures without their packages: the run trains, exports and says what it
    left out; results and export are written as usual."""
    for name in HIDDEN:
        monkeypatch.setitem(sys.modules, name, None)
    plots._pyplot.cache_clear()  # matplotlib may have been found by an earlier test of this process
    monkeypatch.setattr(run_train, "classify_example", lambda *args: None)  # pipeline: the test above
    output = tmp_path / "run"
    try:
        with caplog.at_level("WARNING"):
            results = run_train.main(["--output_dir", str(output), *BASE, "--folds", "0", "--num_train_epochs", "1",
                                      "--report_to", "tensorboard"])  # fmt: skip
    finally:
        plots._pyplot.cache_clear()
    assert [fold["fold"] for fold in results["folds"]] == [0]
    assert "--report_to tensorboard needs tensorboard: pip install 'tft-ser[tensorboard]'; this run writes no " \
        "TensorBoard logs." in caplog.text  # fmt: skip
    assert "Drawing the training figures needs matplotlib: pip install 'tft-ser[plots]'; this run writes no PNG " \
        "figures." in caplog.text  # fmt: skip
    assert (output / "results.json").is_file() and (output / "export" / "README.md").is_file()
    assert not list(output.rglob("*.png")) and not list(output.rglob("events.out.tfevents*"))
