"""window_scores.py: a fixed-input model scored on whole clips in windows, by the TFT's own rule."""

import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT
from transformers import ASTConfig, ASTForAudioClassification

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import accuracy
import make_tables
import window_scores


def tiny_ast(max_length: int = 40) -> ASTForAudioClassification:
    config = ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                       num_mel_bins=16, max_length=max_length, num_labels=3)  # fmt: skip
    return ASTForAudioClassification(config).eval()


def test_window_logits_follow_the_whole_clip_rule():
    torch.manual_seed(0)
    model = tiny_ast(max_length=40)
    features = torch.randn(2, 100, 16)
    features[1, 30:] = 0.0  # clip 1: 30 real frames, then padding
    whole, first, count = window_scores.window_logits(model, features, torch.tensor([100, 30]), 40, padding_value=0.0)
    assert count == 5  # four windows of clip 0, one of clip 1
    with torch.no_grad():
        # clip 0: windows at 0, 20, 40 and 60 (the last ends at the clip's end); the mean of their probabilities
        windows = torch.stack([features[0, s : s + 40] for s in (0, 20, 40, 60)])
        expected = model(input_values=windows).logits.softmax(-1).mean(0).log()
        torch.testing.assert_close(whole[0], expected, atol=1e-5, rtol=1e-5)
        # clip 1 fits one window: its input padded to the model's length, as in training's evaluation
        single = model(input_values=features[1:, :40]).logits.log_softmax(-1)[0]
        torch.testing.assert_close(whole[1], single, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(first, model(input_values=features[:, :40]).logits)
    # a batch shorter than one window is padded with the extractor's padding value
    short, _, _ = window_scores.window_logits(model, features[1:, :30], torch.tensor([30]), 40, padding_value=0.0)
    torch.testing.assert_close(short[0], single, atol=1e-5, rtol=1e-5)


def test_rescoring_a_finished_run_reproduces_its_first_window_scores(tmp_path: Path, monkeypatch):
    report_path = tmp_path / "acc.json"
    accuracy.main(["--smoke", "--output", str(report_path), "--output_root", str(tmp_path / "o")])
    report = window_scores.main([str(report_path), "--system", "ast", "--output", str(tmp_path / "windows.json")])
    assert json.loads((tmp_path / "windows.json").read_text()) == json.loads(json.dumps(report))
    source = json.loads(report_path.read_text())["systems"]["ast"]["runs"][0]
    run = report["systems"]["ast_windows"]["runs"][0]
    assert run["command"] == source["command"] and run["scoring"] == window_scores.RULE
    trained = json.loads((tmp_path / "o" / "demo" / "ast_seed42" / "results.json").read_text())["folds"]
    for fold, recorded, fold_run in zip(run["folds"], source["folds"], trained, strict=True):
        assert fold["first_window_ua"] == recorded["ua"] and fold["first_window_wa"] == recorded["wa"]
        assert fold["num_windows"] >= fold_run["num_test"] and 0 <= fold["ua"] <= 1  # at least one window a clip
    merged = accuracy.main(["--merge", str(report_path), str(tmp_path / "windows.json"),
                            "--output", str(tmp_path / "merged.json")])  # fmt: skip
    assert {"tft", "ast", "ast_windows"} <= set(merged["systems"])
    results = tmp_path / "results"  # the merged report as a corpus's headline report: the AST both ways
    results.mkdir()
    (results / make_tables.HEADLINE.format(corpus="demo")).write_text(json.dumps(merged))
    monkeypatch.setattr(make_tables, "CORPORA", {"demo": "DEMO"})
    section, _ = make_tables.headline_section(results)
    gain = 100 * (merged["systems"]["tft"]["mean_ua"] - merged["systems"]["ast_windows"]["mean_ua"])  # same seed
    row = next(line for line in section.splitlines() if "whole test clips in 3-s windows" in line)
    assert row.endswith(f" | 1 × 1 | {100 * merged['systems']['ast_windows']['mean_ua']:.2f} ± 0.00 | "
                        f"{100 * merged['systems']['ast_windows']['mean_wa']:.2f} | – | {gain:+.2f} |")  # fmt: skip
    with pytest.raises(ValueError, match="already scores whole clips"):
        window_scores.main([str(report_path), "--system", "tft", "--output", str(tmp_path / "tft.json")])
    with pytest.raises(ValueError, match="no system"):
        window_scores.main([str(report_path), "--system", "time_only", "--output", str(tmp_path / "x.json")])
