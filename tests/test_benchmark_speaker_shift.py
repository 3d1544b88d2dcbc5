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
import torch
from conftest import tiny_config_kwargs

from modeling_tft import TFTConfig, TFTForAudioClassification
from modeling_tft.prosody_tft import NUM_FUNCTIONALS


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


def test_speaker_functionals_replace_the_batch_norms_running_statistics_by_the_speakers():
    torch.manual_seed(0)
    model = TFTForAudioClassification(TFTConfig(**tiny_config_kwargs(num_labels=3))).eval()
    values = np.random.default_rng(0).normal(2.0, 3.0, size=(12, NUM_FUNCTIONALS)).astype(np.float32)
    speakers = np.repeat(["a", "b"], 6)
    logits = speaker_shift.speaker_functionals_logits(model, values, speakers, scale=True)
    centred = speaker_shift.speaker_functionals_logits(model, values, speakers, scale=False)
    norm = model.functionals.norm
    running_var = norm.running_var.clone()
    for speaker in "ab":  # the head itself, its running statistics set to the speaker's
        rows = speakers == speaker
        x = torch.from_numpy(values[rows])
        with torch.no_grad():
            norm.running_mean.copy_(x.mean(0))
            norm.running_var.copy_(x.var(0, unbiased=False))
            expected = model.functionals.classifier(norm(x)).numpy()
            norm.running_var.copy_(running_var)  # the speaker's mean only
            expected_centred = model.functionals.classifier(norm(x)).numpy()
        assert np.allclose(logits[rows], expected, atol=1e-5)
        assert np.allclose(centred[rows], expected_centred, atol=1e-5)
        assert not np.allclose(logits[rows], centred[rows], atol=1e-3)


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
        speaker_functionals = {f"{name}{suffix}" for name in ("functionals_speaker", "model_speaker_functionals")
                               for suffix in ("", "_mean")}  # fmt: skip
        assert set(fold["last"]) == {"transformer", "functionals", "model", "transformer_shifted", "model_shifted",
                                     *speaker_functionals, *speaker_shift.REFITS}  # fmt: skip
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
