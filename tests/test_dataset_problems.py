"""Nothing lost, nothing silent: bad files are reported with paths; --strict fails; the CLIs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import datasets
import pytest
from dataset_fixtures import REPO_ROOT, build_problem_tree

from tft_ser.data import PreparationError, prepare_casia, prepare_folder
from tft_ser.data.common import REPORT_FILENAME


@pytest.fixture()
def tree(tmp_path):
    return build_problem_tree(tmp_path / "raw")


def run_script(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT.parent, env=env, capture_output=True, text=True, timeout=300
    )


def test_bad_files_are_reported_with_paths(tree, tmp_path):
    dataset = prepare_casia(tree.root, tmp_path / "out", expected_num_rows=None)
    assert dataset.num_rows == len(tree.good)
    report = json.loads((tmp_path / "out" / REPORT_FILENAME).read_text())
    assert {p["path"]: p["reason"] for p in report["skipped"]} == tree.problems
    assert report["num_skipped"] == len(tree.problems)
    assert report["skipped_by_reason"]["unreadable"] == 2


def test_strict_fails_and_names_every_path(tree):
    with pytest.raises(PreparationError) as error:
        prepare_casia(tree.root, strict=True, expected_num_rows=None)
    for path in tree.problems:
        assert path in str(error.value)


def test_folder_and_manifest_modes(tree, tmp_path):
    labels = ("angry", "happy", "sad")
    dataset = prepare_folder(tree.root / "liuchanhg", tmp_path / "folder", label_names=labels)
    assert dataset.num_rows == 4 and dataset.features["label"].names == list(labels)
    assert set(dataset["speaker"]) == {None}
    manifest = tmp_path / "list.tsv"
    rows = (
        ["path\tlabel\tspeaker"]
        + [f"{p.relative_to(tree.root)}\t{p.parent.name}\t{p.parent.parent.name}" for p in tree.good]
        + ["wangzhe/sad/missing.wav\tsad\twangzhe", "wangzhe/bored/201.wav\tbored\twangzhe"]
    )
    manifest.write_text("\n".join(rows) + "\n")
    dataset = prepare_folder(tree.root, tmp_path / "manifest", manifest=manifest, label_names=("angry", "happy", "sad"))
    assert dataset.num_rows == len(tree.good)
    assert set(dataset["speaker"]) == {"liuchanhg", "wangzhe"}
    report = json.loads((tmp_path / "manifest" / REPORT_FILENAME).read_text())
    assert sorted(p["reason"] for p in report["skipped"]) == ["missing_audio", "unknown_label"]


def test_scripts_run_by_path_strict_and_offline_push(tree, tmp_path):
    script = str(REPO_ROOT / "dataset_scripts" / "prepare_casia.py")
    out = tmp_path / "cli"
    strict = run_script(script, "--data_dir", str(tree.root), "--output_dir", str(out), "--strict")
    assert strict.returncode == 1 and str(next(iter(tree.problems))) in strict.stderr
    assert not out.exists()
    pushed = run_script(  # CASIA may not be redistributed: a private repository
        script,
        "--data_dir",
        str(tree.root),
        "--output_dir",
        str(out),
        "--push_to_hub",
        "someone/casia-test",
        "--private",
    )
    assert pushed.returncode == 1, pushed.stderr
    assert "Could not push to the Hub repo someone/casia-test" in pushed.stderr
    assert "6 file(s)/line(s) skipped" in pushed.stderr and "Traceback" not in pushed.stderr
    assert datasets.load_from_disk(str(out)).num_rows == len(tree.good)  # kept intact
