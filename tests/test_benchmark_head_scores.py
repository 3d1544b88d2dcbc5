"""head_scores.py and reweight_heads.py: each head of a finished TFT run scored alone, the model's combination
checked against the run's own scores, and the run re-scored with another weight of the functionals head."""

import json
import sys

import numpy as np
import pytest
from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import accuracy
import head_scores
import head_weights
import reweight_heads

from tft_ser.training.models import SPEAKER_ADAPTIVE_FUNCTIONALS_WEIGHT


@pytest.mark.parametrize("normalization", ["global", "speaker"])
def test_the_heads_of_a_finished_run_combine_to_its_recorded_scores(tmp_path, normalization):
    source = tmp_path / "acc.json"
    accuracy.main(["--smoke", "--systems", "tft", "--output", str(source), "--output_root", str(tmp_path / "o"),
                   "--", "--normalization", normalization])  # fmt: skip
    report = head_scores.main([str(source), "--output", str(tmp_path / "heads.json")])  # raises unless reproduced
    assert json.loads((tmp_path / "heads.json").read_text()) == json.loads(json.dumps(report))
    recorded = json.loads(source.read_text())["systems"]["tft"]["runs"][0]
    run = report["runs"][0]
    assert run["command"] == recorded["command"] and run["command"].endswith(f"--normalization {normalization}")
    for fold, recorded_fold in zip(run["folds"], recorded["folds"], strict=True):
        assert (fold["model_ua"], fold["model_wa"]) == (recorded_fold["ua"], recorded_fold["wa"])
        assert 0 <= fold["transformer_ua"] <= 1 and 0 <= fold["functionals_ua"] <= 1
    with pytest.raises(ValueError, match="a ast run; only a TFT has these heads"):
        head_scores.main([str(source), "--system", "ast", "--output", str(tmp_path / "x.json")])
    with pytest.raises(ValueError, match="no system"):
        head_scores.main([str(source), "--system", "time_only", "--output", str(tmp_path / "x.json")])

    # weight 0 is the Transformer head alone: re-scored, each fold's scores are that head's
    weighted = reweight_heads.main([str(source), "--functionals_weight", "0", "--output", str(tmp_path / "w0.json")])
    rescored = weighted["systems"]["tft"]["runs"][0]
    assert rescored["functionals_weight"] == 0.0 and rescored["command"] == recorded["command"]
    for fold, heads, recorded_fold in zip(rescored["folds"], run["folds"], recorded["folds"], strict=True):
        assert (fold["ua"], fold["wa"]) == (heads["transformer_ua"], heads["transformer_wa"])
        assert (fold["recorded_ua"], fold["recorded_wa"]) == (recorded_fold["ua"], recorded_fold["wa"])
    assert weighted["systems"]["tft"]["mean_ua"] == pytest.approx(np.mean([f["ua"] for f in rescored["folds"]]))
    with pytest.raises(ValueError, match="functionals_weight"):
        reweight_heads.main([str(source), "--functionals_weight", "-1", "--output", str(tmp_path / "x.json")])


def test_head_weights_are_scored_on_validation_speakers(tmp_path):
    source = tmp_path / "acc.json"
    accuracy.main(["--smoke", "--systems", "tft", "--output", str(source), "--output_root", str(tmp_path / "o"),
                   "--", "--normalization", "speaker", "--validation_speakers", "1"])  # fmt: skip
    report = head_weights.main([str(source), "--output", str(tmp_path / "w.json")])
    recorded = json.loads(source.read_text())["systems"]["tft"]["runs"][0]
    run = report["runs"][0]
    assert report["weights"] == [str(w) for w in head_weights.WEIGHTS] and run["command"] == recorded["command"]
    for fold, recorded_fold in zip(run["folds"], recorded["folds"], strict=True):
        assert fold["validation_speakers"] == recorded_fold["validation_speakers"]
        # the exported checkpoint at the run's own weight (speaker-adaptive) is training's best validation UA
        assert fold["best"][str(SPEAKER_ADAPTIVE_FUNCTIONALS_WEIGHT)] == pytest.approx(recorded_fold["validation_ua"])
        assert fold["last_checkpoint"].startswith("checkpoint-") and set(fold["last"]) == set(report["weights"])
    unadapted = head_weights.main([str(source), "--exported_statistics", "--output", str(tmp_path / "u.json")])
    assert unadapted["runs"][0]["exported_statistics"] and unadapted["runs"][0]["folds"][0]["last"].keys()
    without = tmp_path / "none.json"
    accuracy.main(["--smoke", "--systems", "tft", "--output", str(without), "--output_root", str(tmp_path / "n"),
                   "--", "--validation_speakers", "0"])  # fmt: skip
    with pytest.raises(ValueError, match="has no validation speakers to choose on"):
        head_weights.main([str(without), "--output", str(tmp_path / "x.json")])
