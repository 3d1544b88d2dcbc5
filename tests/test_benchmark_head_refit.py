"""head_refit.py (search RG1): a single-clip screen's saved models scored on validation speakers with the Transformer
head refitted after training."""

import json
import sys

import pytest
from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import accuracy
import head_refit

from tft_ser.training.head_refit import REFIT_CS


def test_a_single_clip_screen_is_scored_with_the_refitted_head(tmp_path):
    screen = tmp_path / "screen.json"
    accuracy.main(["--smoke", "--systems", "tft", "--output", str(screen), "--output_root", str(tmp_path / "screen"),
                   "--", "--validation_speakers", "1"])  # fmt: skip
    report = head_refit.main([str(screen), "--output", str(tmp_path / "v.json")])
    assert json.loads((tmp_path / "v.json").read_text()) == json.loads(json.dumps(report))
    recorded = json.loads(screen.read_text())["systems"]["tft"]["runs"][0]
    for fold, recorded_fold in zip(report["runs"][0]["folds"], recorded["folds"], strict=True):
        assert fold["validation_speakers"] == recorded_fold["validation_speakers"]
        assert fold["scored"].startswith("checkpoint-")
        assert fold["last"]["model"] == pytest.approx(recorded_fold["validation_ua_by_epoch"][-1])
        assert set(fold["last"]) == {"transformer", "functionals", "model",
                                     *(f"refit_weight{w:g}" for w in head_refit.RG1_WEIGHTS)}  # fmt: skip
        assert fold["chosen_c"] in REFIT_CS
    speaker = json.loads(screen.read_text())
    speaker["systems"]["tft"]["runs"][0]["command"] += " --normalization speaker"
    (tmp_path / "speaker.json").write_text(json.dumps(speaker))
    with pytest.raises(ValueError, match="speaker-adaptive"):
        head_refit.main([str(tmp_path / "speaker.json"), "--output", str(tmp_path / "x.json")])
