"""`pip install` of the wheel, used outside the checkout: the wheel holds `modeling_tft` and `tft_ser` (with the
model-card template) and nothing else; installed into a fresh virtual environment, `tft-ser --version`,
`python -m tft_ser.training.run_train` (train and export) and `tft-ser predict` run from a folder outside the
checkout, importing the installed files only.

Offline: the wheel is built without build isolation (setuptools of this environment) from a copy of the files it
is made of, and the fresh environment takes the dependencies from this one's site-packages through a `.pth` path line
(which adds the folder to sys.path without running the `.pth` files there, so the editable install of the
checkout stays out).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import REPO_ROOT
from dataset_fixtures import corpus_dir

from tft_ser.data.demo import DEMO_LABELS, make_speakers, synthesize

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "modeling_tft", "tft_ser")  # what the wheel is built from
VERSION = re.search(r'^version = "(.+)"$', (REPO_ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)
TINY = "hidden_size=32,num_attention_heads=2,intermediate_size=64,num_time_layers=1,num_frequency_layers=1"
TRAIN = ["--demo_speakers", "4", "--demo_utterances_per_class", "3", "--num_folds", "2", "--folds", "0",
         "--num_train_epochs", "1", "--config_overrides", TINY, "--report_to", "none", "--trainer", "accelerate",
         "--hub_model_id", "me/installed"]  # fmt: skip


def run(command: list, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of its sources (a build in the checkout would leave build/ there)."""
    root = tmp_path_factory.mktemp("build")
    for name in SOURCES:
        source, copy = REPO_ROOT / name, root / "src" / name
        if source.is_dir():
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            copy.parent.mkdir(exist_ok=True)
            shutil.copy(source, copy)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    run([*command, "-w", root / "dist", root / "src"], cwd=root, env=os.environ)
    [wheel] = (root / "dist").glob("tft_ser-*.whl")
    return wheel


def test_the_wheel_holds_the_two_packages_and_the_card_template(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"modeling_tft", "tft_ser", f"tft_ser-{VERSION}.dist-info"}
    assert "tft_ser/training/model_card.md" in names
    assert {"tft_ser/data/casia.py", "tft_ser/training/run_train.py", "tft_ser/training/ser_accuracy.py"} <= set(names)
    metadata = zipfile.ZipFile(wheel).read(f"tft_ser-{VERSION}.dist-info/METADATA").decode()
    for extra in ("vad", "plots", "tensorboard", "onnx", "all", "dev"):
        assert f"Provides-Extra: {extra}\n" in metadata


def test_installed_package_trains_exports_and_predicts_outside_the_checkout(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # nothing of the checkout
    env.update(OMP_NUM_THREADS="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    work = tmp_path / "work"  # the current folder of every command: outside the checkout
    work.mkdir()
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], work, env).stdout.strip()
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # the environment's own pip (through the path line) installs into it, with console scripts that run its python
    run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "-q", wheel], work, env)

    where = "import modeling_tft, tft_ser.training.export as e; print(modeling_tft.__file__, e.__file__, e.TEMPLATE)"
    for path in run([python, "-c", where], work, env).stdout.split():
        assert Path(path).resolve().is_relative_to(Path(site).resolve()), path
    assert (venv / "bin" / "tft-ser").read_text().splitlines()[0] == f"#!{python}"  # the console script
    assert run([venv / "bin" / "tft-ser", "--version"], work, env).stdout == f"tft-ser {VERSION}\n"

    run([python, "-m", "tft_ser.training.run_train", "--output_dir", "run", *TRAIN], work, env)
    card = (work / "run" / "export" / "README.md").read_text()
    template = (Path(site) / "tft_ser" / "training" / "model_card.md").read_text()
    headline = template[template.index("<!-- headline:start -->") : template.index("<!-- headline:end -->")]
    assert headline in card and "Trained on the built-in SYNTHETIC demo corpus" in card and "me/installed" in card

    clip = work / "clip.wav"
    sf.write(clip, synthesize("sad", make_speakers(2, seed=1)[1], np.random.default_rng(1)), 16000)
    recorded = sorted(corpus_dir("casia").rglob("*.wav"))[0]  # a real recording too (CASIA, 16 kHz mono)
    done = run([venv / "bin" / "tft-ser", "predict", "run/export", clip, recorded, "--json"], work, env)
    rows = json.loads(done.stdout)["results"]
    assert [row["file"] for row in rows] == [str(clip), str(recorded)]
    assert all(row["prediction"]["label"] in {*DEMO_LABELS, "non-speech"} for row in rows)
