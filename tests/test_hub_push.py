"""Pushes to, and loads back from, a loopback stand-in of the Hub HTTP API (`hub_stand_in.py`)."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import numpy as np
from conftest import REPO_ROOT
from hub_stand_in import HubStandIn
from test_run_train import BASE
from transformers import pipeline

from training.data import decode_all

REPO_ID = "me/tft-demo"
CLIP = "0.1 * np.sin(np.arange(32000) / 10).astype(np.float32)"  # the same clip here and in the fresh process


def hub_env(endpoint: str, home: Path, pythonpath: str = str(REPO_ROOT)) -> dict[str, str]:
    """A process that talks to `endpoint` as its Hub, with its own empty cache (not offline, no Xet)."""
    env = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    return {**env, "HF_ENDPOINT": endpoint, "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(home),
            "HF_MODULES_CACHE": str(home / "modules"), "PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1"}  # fmt: skip


def python(*arguments: str, env: dict[str, str], cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *arguments], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def files_in(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_push_export_and_load_it_back_with_pipeline(tmp_path):
    output = tmp_path / "run"
    train = ["run_train.py", "--output_dir", str(output), *BASE, "--folds", "0", "--num_train_epochs", "1",
             "--push_to_hub", "--hub_model_id", REPO_ID, "--hub_token", "hf_stand_in"]  # fmt: skip
    load = textwrap.dedent(
        f"""
        import json, sys, numpy as np
        from transformers import pipeline
        classifier = pipeline("audio-classification", model={REPO_ID!r}, trust_remote_code=True)
        result = classifier({CLIP}, top_k=None)
        assert "modeling_tft" not in sys.modules  # the model code came from the repository
        print(json.dumps(result))
        """
    )
    with HubStandIn() as hub:
        pushed = python(*train, env=hub_env(hub.url, tmp_path / "hf_train"))
        assert pushed.returncode == 0, pushed.stderr[-3000:]
        loaded = python("-c", load, env=hub_env(hub.url, tmp_path / "hf_fresh", pythonpath=""), cwd=tmp_path)
        assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert hub.unknown == []
    assert hub.repo("models", REPO_ID).files == files_in(output / "export")  # every file, byte for byte
    assert any(request.startswith("PUT /lfs-upload/") for request in hub.requests)  # the weights went by LFS
    assert any(request.endswith("/resolve/" + hub.repo("models", REPO_ID).sha + "/model.safetensors")
               for request in hub.requests)  # fmt: skip

    local = pipeline("audio-classification", model=str(output / "export"))(eval(CLIP), top_k=None)
    remote = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert [r["label"] for r in remote] == [r["label"] for r in local]
    np.testing.assert_allclose([r["score"] for r in remote], [r["score"] for r in local], rtol=0, atol=1e-6)

    # the stand-in is gone: the push fails with the clear message (the export is kept)
    export = str(output / "export")
    push = f"import pathlib, training.export as e; e.push_export(pathlib.Path({export!r}), {REPO_ID!r})"
    refused = python("-c", push, env=hub_env(hub.url, tmp_path / "hf_refused"))
    assert refused.returncode == 1
    assert "Could not push" in refused.stderr and "The export folder is complete and untouched" in refused.stderr
    assert files_in(output / "export") == hub.repo("models", REPO_ID).files


def test_dataset_script_push_and_load_back(tmp_path):
    prepared = tmp_path / "prepared"
    script = ["dataset_scripts/prepare_demo.py", "--output_dir", str(prepared), "--num_speakers", "2",
              "--utterances_per_class", "1", "--push_to_hub", "me/demo-data"]  # fmt: skip
    load = textwrap.dedent(
        """
        import hashlib, json, datasets
        from training.data import decode_all
        loaded = datasets.load_dataset("me/demo-data", split="train")
        audio = [hashlib.sha256(clip.tobytes()).hexdigest() for clip in decode_all(loaded)]
        print(json.dumps({"rows": loaded.remove_columns("audio").to_list(), "audio": audio}))
        """
    )
    with HubStandIn() as hub:
        pushed = python(*script, env=hub_env(hub.url, tmp_path / "hf_push"))
        assert pushed.returncode == 0, pushed.stderr[-3000:]
        loaded = python("-c", load, env=hub_env(hub.url, tmp_path / "hf_load"), cwd=tmp_path)
        assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert hub.unknown == []
    assert set(hub.repo("datasets", "me/demo-data").files) == {"README.md", "data/train-00000-of-00001.parquet"}
    local = datasets.load_from_disk(str(prepared))
    remote = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert remote["rows"] == local.remove_columns("audio").to_list()
    assert remote["audio"] == [hashlib.sha256(clip.tobytes()).hexdigest() for clip in decode_all(local)]
