"""The accuracy benchmark runs end to end (tiny TFT and AST, demo corpus, one fold, one epoch)."""

import json
import sys
from pathlib import Path

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import accuracy


def test_accuracy_smoke(tmp_path: Path):
    report = accuracy.main(["--smoke", "--output", str(tmp_path / "acc.json"), "--output_root", str(tmp_path / "o")])
    saved = json.loads((tmp_path / "acc.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert set(saved["systems"]) == {"tft", "ast"} and saved["protocol"] == "k_fold_by_speaker"
    for summary in saved["systems"].values():
        assert summary["num_folds"] == 1 and summary["num_parameters"] > 0
        assert 0 <= summary["mean_wa"] <= 1 and 0 <= summary["mean_ua"] <= 1
        run = summary["runs"][0]
        assert run["mean"]["wa"] == run["folds"][0]["wa"]
