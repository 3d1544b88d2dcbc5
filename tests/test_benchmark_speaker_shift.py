"""speaker_shift.py (search ES1): the heads of a speaker-adaptive run's saved models scored with each speaker's mean
utterance embedding moved to the training clips' mean, on validation speakers or, after the decision, test ones."""

import json
import sys

import numpy as np
import pytest
from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import accuracy
import speaker_shift


def test_per_speaker_centres_and_standardises_each_speaker_on_their_own_rows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 3)) + np.repeat([[0.0], [5.0], [-3.0]], 3, axis=0)
    speakers = np.repeat(["a", "b", "c"], 3)
    centred = speaker_shift.per_speaker(x, speakers, scale=False)
    standardised = speaker_shift.per_speaker(x, speakers, scale=True)
    for speaker in "abc":
        rows = speakers == speaker
        assert np.allclose(centred[rows].mean(0), 0) and np.allclose(centred[rows], x[rows] - x[rows].mean(0))
        assert np.allclose(standardised[rows].std(0), 1, atol=1e-5)


def test_a_screen_and_a_final_run_are_scored_with_the_shift(tmp_path):
    screen, final = tmp_path / "screen.json", tmp_path / "final.json"
    for path, held_out in ((screen, "1"), (final, "0")):
        accuracy.main(["--smoke", "--systems", "tft", "--output", str(path), "--output_root", str(tmp_path / path.stem),
                       "--", "--normalization", "speaker", "--validation_speakers", held_out])  # fmt: skip
    report = speaker_shift.main([str(screen), "--output", str(tmp_path / "v.json")])
    assert json.loads((tmp_path / "v.json").read_text()) == json.loads(json.dumps(report))
    recorded = json.loads(screen.read_text())["systems"]["tft"]["runs"][0]
    run = report["runs"][0]
    assert report["split"] == "validation" and report["decides_on"] == "model_shifted"
    for fold, recorded_fold in zip(run["folds"], recorded["folds"], strict=True):
        assert fold["validation_speakers"] == recorded_fold["validation_speakers"]
        assert fold["scored"].startswith("checkpoint-")
        # the last checkpoint as trained is the last epoch's validation score of the run
        assert fold["last"]["model"] == pytest.approx(recorded_fold["validation_ua_by_epoch"][-1])
        assert set(fold["last"]) == {"transformer", "functionals", "model", "transformer_shifted", "model_shifted",
                                     *speaker_shift.REFITS}  # fmt: skip
    with pytest.raises(ValueError, match="has no validation speakers"):
        speaker_shift.main([str(final), "--output", str(tmp_path / "x.json")])
    shifted_report = tmp_path / "shifted.json"
    tested = speaker_shift.main([str(final), "--split", "test", "--output", str(tmp_path / "t.json"),
                                 "--accuracy_output", str(shifted_report)])  # fmt: skip  # reproduces the run
    recorded_final = json.loads(final.read_text())["systems"]["tft"]["runs"][0]
    (results,) = (tmp_path / "final").glob("*/tft_seed*/results.json")  # a speaker-adaptive TFT trains with ES1
    unshifted = [fold["test_unshifted"]["ua"] for fold in json.loads(results.read_text())["folds"]]
    for fold, recorded_fold, before in zip(tested["runs"][0]["folds"], recorded_final["folds"], unshifted, strict=True):
        assert fold["scored"] == "model" and fold["last"]["model_shifted"] == pytest.approx(recorded_fold["ua"])
        assert fold["last"]["model"] == pytest.approx(before)
    shifted = json.loads(shifted_report.read_text())["systems"]["tft"]
    rows = tested["runs"][0]["folds"]
    for fold, recorded_fold, row in zip(shifted["runs"][0]["folds"], recorded_final["folds"], rows, strict=True):
        assert (fold["recorded_ua"], fold["ua"]) == (recorded_fold["ua"], row["model_shifted_test"]["ua"])
    assert shifted["mean_ua"] == pytest.approx(np.mean([f["ua"] for f in shifted["runs"][0]["folds"]]))
    with pytest.raises(SystemExit):
        speaker_shift.main([str(screen), "--output", str(tmp_path / "x.json"), "--accuracy_output", str(tmp_path)])
    assert tested["decides_on"] is None
