"""Pushes to, and loads back from, a loopback stand-in of the Hub HTTP API (`hub_stand_in.py`).

`run_train.py --push_to_hub` is exercised by `test_distributed.py` (a two-process run pushes once, then
`check_pushed_model`); this module holds that check, the refused push, and the dataset scripts' push.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import huggingface_hub
import numpy as np
import pytest
from conftest import REPO_ROOT
from hub_stand_in import HubStandIn
from transformers import pipeline

from training.data import iter_clips
from training.export import push_export

REPO_ID = "me/tft-demo"
CLIP = "0.1 * np.sin(np.arange(32000) / 10).astype(np.float32)"  # the same clip here and in the fresh process


def hub_env(endpoint: str, home: Path) -> dict[str, str]:
    """A process that talks to `endpoint` as its Hub, with its own empty cache (not offline, no Xet)."""
    env = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    env.update(HF_ENDPOINT=endpoint, HF_HUB_DISABLE_XET="1", HF_HOME=str(home), HF_MODULES_CACHE=str(home / "modules"))
    return {**env, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}


def files_in(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def check_pushed_model(hub: HubStandIn, export: Path, tmp_path: Path) -> None:
    """The stand-in holds the export byte for byte, and a fresh process serves it from there with the same scores."""
    assert hub.unknown == []
    repo = hub.repo("models", REPO_ID)
    assert repo.files == files_in(export)
    assert any(request.startswith("PUT /lfs-upload/") for request in hub.requests)  # the weights went by LFS
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
    env = {**hub_env(hub.url, tmp_path / "hf_fresh"), "PYTHONPATH": ""}
    loaded = subprocess.run([sys.executable, "-c", load], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert f"GET /{REPO_ID}/resolve/{repo.sha}/model.safetensors" in hub.requests
    remote = json.loads(loaded.stdout.strip().splitlines()[-1])
    local = pipeline("audio-classification", model=str(export))(eval(CLIP), top_k=None)
    assert [r["label"] for r in remote] == [r["label"] for r in local]
    np.testing.assert_allclose([r["score"] for r in remote], [r["score"] for r in local], rtol=0, atol=1e-6)


def test_push_without_a_hub_fails_with_one_clear_message(tmp_path, monkeypatch):
    """Not offline mode (tested in test_run_train.py) but a Hub that does not answer: the same message."""
    with HubStandIn() as hub:
        gone = hub.url  # free while the stand-in lived, refused once it is shut down
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", gone)
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "config.json").write_text("{}")
    with pytest.raises(RuntimeError, match=r"Could not push .* The export folder is complete and untouched"):
        push_export(tmp_path / "export", REPO_ID, token="hf_stand_in")
    assert files_in(tmp_path / "export") == {"config.json": b"{}"}


def test_dataset_script_push(tmp_path):
    prepared = tmp_path / "prepared"
    script = ["dataset_scripts/prepare_demo.py", "--output_dir", str(prepared), "--num_speakers", "2",
              "--utterances_per_class", "1", "--push_to_hub", "me/demo-data"]  # fmt: skip
    with HubStandIn() as hub:
        env = hub_env(hub.url, tmp_path / "hf_push")
        pushed = subprocess.run([sys.executable, *script], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        assert pushed.returncode == 0, pushed.stderr[-3000:]
    assert hub.unknown == []
    files = hub.repo("datasets", "me/demo-data").files
    assert set(files) == {"README.md", "data/train-00000-of-00001.parquet"}
    (tmp_path / "pushed.parquet").write_bytes(files["data/train-00000-of-00001.parquet"])
    remote = datasets.Dataset.from_parquet(str(tmp_path / "pushed.parquet"))
    local = datasets.load_from_disk(str(prepared))
    assert remote.features == local.features
    assert remote.remove_columns("audio").to_list() == local.remove_columns("audio").to_list()
    for pushed_clip, local_clip in zip(iter_clips(remote), iter_clips(local), strict=True):
        np.testing.assert_array_equal(pushed_clip, local_clip)
