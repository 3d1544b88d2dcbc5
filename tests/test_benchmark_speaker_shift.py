"""speaker_shift.py (searches ES1, RH1): the heads of a speaker-adaptive run's saved models scored with each speaker's
embeddings adapted (moved to the training clips' mean, and with the scale standardised), on validation speakers or,
after the decision, test ones."""

import json
import sys

import numpy as np
import pytest
from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import accuracy
import skewed_speakers
import speaker_shift

from tft_ser.training.head_refit import REFIT_CS


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


def test_a_skewed_speaker_keeps_the_dominant_class_and_a_share_of_each_other():
    labels = np.array([0] * 10 + [1] * 10 + [2] * 4)
    rows = skewed_speakers.skewed_rows(labels, 1, 0.2, np.random.default_rng(0))
    assert np.array_equal(np.sort(rows), rows) and len(set(rows)) == len(rows)
    assert np.bincount(labels[rows]).tolist() == [2, 10, 1]  # 20 % of 10, all 10, at least one of 4


def test_a_screen_and_a_final_run_are_scored_with_the_shift(tmp_path):
    screen, final = tmp_path / "screen.json", tmp_path / "final.json"
    for path, extra in (
        (screen, ["--validation_speakers", "1"]),
        (final, ["--validation_speakers", "0", "--speaker_embedding_scale", "--speaker_head_supports", "5"]),
    ):
        accuracy.main(["--smoke", "--systems", "tft", "--output", str(path), "--output_root", str(tmp_path / path.stem),
                       "--", "--normalization", "speaker", *extra])  # fmt: skip
    report = speaker_shift.main([str(screen), "--output", str(tmp_path / "v.json")])
    assert json.loads((tmp_path / "v.json").read_text()) == json.loads(json.dumps(report))
    recorded = json.loads(screen.read_text())["systems"]["tft"]["runs"][0]
    run = report["runs"][0]
    assert report["split"] == "validation" and report["decides_on"] == "default"
    for fold, recorded_fold in zip(run["folds"], recorded["folds"], strict=True):
        assert fold["validation_speakers"] == recorded_fold["validation_speakers"]
        assert fold["scored"].startswith("checkpoint-")
        # the last checkpoint as trained is the last epoch's validation score of the run
        assert fold["last"]["model"] == pytest.approx(recorded_fold["validation_ua_by_epoch"][-1])
        assert set(fold["last"]) == {"transformer", "functionals", "model", "transformer_shifted", "model_shifted",
                                     "default", *speaker_shift.REFITS,
                                     *(f"default_weight{w:g}" for w in speaker_shift.RW1_WEIGHTS),
                                     *(f"default_t3a{k}" for k in speaker_shift.TA1_KS)}  # fmt: skip
        assert fold["last"]["default"] == fold["last"]["model_shifted"]  # the package's shift, as the script's
        assert fold["last"]["default_weight2"] == fold["last"]["default"]  # the speaker-adaptive model's weight
        assert fold["default_refit_c"] is None  # nothing refitted without speaker_embedding_scale
    # skewed_speakers.py on the same screen: a balanced speaker, adapted to all of their clips, is `default`
    skewed = skewed_speakers.main([str(screen), "--output", str(tmp_path / "s.json"), "--others", "0.5"])
    for fold in run["folds"]:
        [balanced] = [
            d for d in skewed["runs"][0]["draws"] if d["fold"] == fold["fold"] and d["dominant"] == "balanced"
        ]
        assert balanced["default"]["ua"] == fold["last"]["default"]
        assert balanced["t3a20"]["ua"] == fold["last"]["default_t3a20"]
    draws = [d for d in skewed["runs"][0]["draws"] if d["dominant"] != "balanced"]
    assert draws and all(d["clips"] < balanced["clips"] for d in draws)
    assert set(skewed["runs"][0]["mean"]["last"]) >= {"default_skewed_dominant_recall", "t3a20_skewed_others_recall",
                                                      "unadapted_skewed_ua", "unadapted_balanced"}  # fmt: skip
    # a run that keeps its trained head is checked on its unadapted test scores (`test_unshifted`), which do not
    # depend on the inference-time adaptation; here the screen's test speakers
    screen_test = speaker_shift.main([str(screen), "--split", "test", "--output", str(tmp_path / "st.json")])
    for fold, recorded_fold in zip(screen_test["runs"][0]["folds"], recorded["folds"], strict=True):
        assert fold["test"]["default"]["ua"] == pytest.approx(recorded_fold["ua"])
    results = next((tmp_path / "screen").glob("*/tft_seed*/results.json"))
    tampered = json.loads(results.read_text())
    tampered["folds"][0]["test_unshifted"]["confusion_matrix"][0][0] += 1
    results.write_text(json.dumps(tampered))
    with pytest.raises(ValueError, match="does not reproduce the recorded test_unshifted scores"):
        speaker_shift.main([str(screen), "--split", "test", "--output", str(tmp_path / "x.json")])
    with pytest.raises(ValueError, match="has no validation speakers"):
        speaker_shift.main([str(final), "--output", str(tmp_path / "x.json")])
    shifted_report = tmp_path / "shifted.json"
    tested = speaker_shift.main([str(final), "--split", "test", "--output", str(tmp_path / "t.json"),
                                 "--accuracy_output", str(shifted_report)])  # fmt: skip  # reproduces the run
    recorded_final = json.loads(final.read_text())["systems"]["tft"]["runs"][0]
    config = json.loads(next((tmp_path / "final").glob("*/tft_seed*/fold_0/model/config.json")).read_text())
    assert config["speaker_embedding_scale"]  # tested with RH1's refitted head: `default` reproduces it
    assert config["functionals_weight"] == 0.0  # the refitted head alone (RW1)
    assert config["speaker_head_supports"] == 5  # and T3A (TA1, TA2): `default` reproduces it, as `default_t3a5`
    for fold, recorded_fold in zip(tested["runs"][0]["folds"], recorded_final["folds"], strict=True):
        assert fold["scored"] == "model" and fold["last"]["default"] == pytest.approx(recorded_fold["ua"])
        assert fold["last"]["default"] == fold["last"]["default_weight0"]
        assert fold["last"]["default"] == fold["last"]["default_t3a5"]  # the benchmark's T3A is the package's
        assert fold["default_refit_c"] in REFIT_CS
    shifted = json.loads(shifted_report.read_text())["systems"]["tft"]
    rows = tested["runs"][0]["folds"]
    for fold, recorded_fold, row in zip(shifted["runs"][0]["folds"], recorded_final["folds"], rows, strict=True):
        assert (fold["recorded_ua"], fold["ua"]) == (recorded_fold["ua"], row["test"]["default"]["ua"])
    assert shifted["mean_ua"] == pytest.approx(np.mean([f["ua"] for f in shifted["runs"][0]["folds"]]))
    t3a = speaker_shift.shifted_accuracy_run(recorded_final, tested["runs"][0], "default_t3a1")  # --accuracy_variant
    assert [f["ua"] for f in t3a["folds"]] == [row["test"]["default_t3a1"]["ua"] for row in rows]
    with pytest.raises(SystemExit):
        speaker_shift.main([str(screen), "--output", str(tmp_path / "x.json"), "--accuracy_output", str(tmp_path)])
    assert tested["decides_on"] is None
