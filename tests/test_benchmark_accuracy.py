"""The accuracy benchmark (tiny TFT and AST, demo corpus, one fold, one epoch), its paired comparison, and the one
report generator that turns the JSON reports into docs/RESULTS.md, docs/SEARCH.md and the model card's table."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import accuracy
import make_tables
import paired

from modeling_tft import TFTConfig
from tft_ser.training.arguments import config_with_overrides


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


def test_merge_pools_the_seeds_of_separate_reports(tmp_path: Path):
    common = ["--smoke", "--output_root", str(tmp_path / "o")]
    for seed in ("1", "2"):
        accuracy.main([*common, "--seeds", seed, "--output", str(tmp_path / f"seed{seed}.json")])
    merged = accuracy.main(["--merge", str(tmp_path / "seed1.json"), str(tmp_path / "seed2.json"),
                            "--output", str(tmp_path / "merged.json"), "--note", "two seeds"])  # fmt: skip
    sources = [json.loads((tmp_path / f"seed{seed}.json").read_text()) for seed in ("1", "2")]
    for system, pooled in merged["systems"].items():
        expected = accuracy.summarise([run for source in sources for run in source["systems"][system]["runs"]])
        assert [run["seed"] for run in pooled["runs"]] == [1, 2] and pooled == expected
    assert merged["notes"] == ["two seeds"] and json.loads((tmp_path / "merged.json").read_text()) == merged
    renamed = accuracy.main(["--merge", f"{tmp_path / 'seed1.json'}::tft=tft_old,ast", str(tmp_path / "seed2.json"),
                             "--output", str(tmp_path / "renamed.json")])  # fmt: skip
    assert {name: s["num_seeds"] for name, s in renamed["systems"].items()} == {"tft_old": 1, "tft": 1, "ast": 2}
    with pytest.raises(ValueError, match="has no system"):
        accuracy.main(["--merge", f"{tmp_path / 'seed1.json'}::time_only", "--output", str(tmp_path / "bad.json")])
    with pytest.raises(ValueError, match="more than once"):
        accuracy.main(["--merge", str(tmp_path / "seed1.json"), str(tmp_path / "seed1.json"), "--output",
                       str(tmp_path / "bad.json")])  # fmt: skip
    other = json.loads((tmp_path / "seed2.json").read_text())  # seed 2 run with another option
    for run in other["systems"]["tft"]["runs"]:
        run["command"] += " --learning_rate 0.1"
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match="differ in more than the seed"):
        accuracy.main(["--merge", str(tmp_path / "seed1.json"), str(tmp_path / "other.json"), "--output",
                       str(tmp_path / "bad.json")])  # fmt: skip


def test_systems_are_the_default_its_ablations_and_the_ast():
    assert set(accuracy.SYSTEMS) == {"tft", "time_only", "frequency_only", "no_fusion", "ast"}
    for name in ("time_only", "frequency_only", "no_fusion"):
        config = config_with_overrides(TFTConfig(num_labels=6), accuracy.SYSTEMS[name][1])  # as run_train.py builds it
        assert not (config.use_time_branch and config.use_frequency_branch and config.use_fusion), name


def test_extra_config_overrides_add_to_the_system_ones():
    system = accuracy.SYSTEMS["frequency_only"]
    merged = accuracy.merge_config_overrides(system, ["--seed", "1", "--config_overrides", "x=1", "--y"])
    assert merged == ["--config_overrides", f"{system[1]},x=1", "--seed", "1", "--y"]
    assert accuracy.merge_config_overrides([], ["--config_overrides", "a=1"]) == ["--config_overrides", "a=1"]
    assert accuracy.merge_config_overrides(system, ["--seed", "1"]) == [*system, "--seed", "1"]


def test_paired_comparison_uses_only_the_shared_seed_fold_pairs():
    def runs(scores: dict[int, list[float]]) -> dict:
        return {"runs": [{"seed": seed, "folds": [{"fold": i, "ua": ua} for i, ua in enumerate(folds)]}
                         for seed, folds in scores.items()]}  # fmt: skip

    report = {"systems": {"tft": runs({42: [0.5, 0.4], 43: [0.6, 0.2]}), "time_only": runs({42: [0.3, 0.5]})}}
    comparison = paired.paired(report)["time_only"]
    assert comparison["pairs"] == 2 and comparison["seeds"] == [42] and comparison["reference_ahead"] == 1
    assert comparison["reference_ua"] == pytest.approx(45) and comparison["difference"] == pytest.approx(5)


def test_paired_comparison_of_screens_scores_late_validation_epochs(tmp_path):
    def screen(name: str, seed: int, epochs: list[list[float]], options: str = "--lr 1") -> None:
        folds = [{"fold": i, "wa": 0.0, "ua": 0.0, "validation_ua_by_epoch": e} for i, e in enumerate(epochs)]
        command = f"python run_train.py --seed {seed} --output_dir out/{name} {options}"
        run = {"seed": seed, "command": command, "num_parameters": 1, "mean": {"wa": 0.0, "ua": 0.0}, "folds": folds}
        report = {"benchmark": "accuracy", "corpus": "casia", "recipe": "r.yaml", "protocol": "loso", "command": "c",
                  "environment": {"device": "cpu", "date": "2026-12-03"}}  # fmt: skip
        report["systems"] = {"tft": {"runs": [run]}}
        (tmp_path / f"{name}.json").write_text(json.dumps(report))

    screen("new", 42, [[0.9, 0.5, 0.6], [0.1, 0.4, 0.4]])
    screen("new_seed43", 43, [[0.0, 0.3, 0.3]])
    screen("old", 42, [[0.0, 0.5, 0.5], [0.9, 0.5, 0.5]], options="--lr 2")
    groups = [f"new={tmp_path}/new*.json", f"old={tmp_path}/old.json"]
    comparison = paired.main(["--groups", *groups, "--reference", "new", "--late_epochs", "2"])["old"]
    assert comparison["pairs"] == 2 and comparison["seeds"] == [42] and comparison["reference_ahead"] == 1
    assert comparison["reference_ua"] == pytest.approx(47.5) and comparison["difference"] == pytest.approx(-2.5)
    with pytest.raises(SystemExit, match="more than once"):
        paired.main(["--groups", f"new={tmp_path}/*.json", f"old={tmp_path}/old.json"])
    screen("old_seed43", 43, [[0.2, 0.2, 0.2]], options="--lr 3")  # another variant's seed 43 caught by the glob
    with pytest.raises(SystemExit, match="differ in more than the seed"):
        paired.main(["--groups", f"new={tmp_path}/new*.json", f"old={tmp_path}/old*.json"])


# ---------------------------------------------------------------- the report generator
def summary(scores: dict[int, list[float]], parameters: int = 1000) -> dict:
    """An `accuracy.py` system summary from test UA per seed and fold (WA = UA)."""
    runs = [{"seed": seed, "command": f"python run_train.py r.yaml --seed {seed}", "num_parameters": parameters,
             "folds": [{"fold": i, "ua": ua, "wa": ua} for i, ua in enumerate(folds)],
             "mean": {"ua": sum(folds) / len(folds), "wa": sum(folds) / len(folds)}}
            for seed, folds in scores.items()]  # fmt: skip
    return accuracy.summarise(runs)


def baseline_variant(scores: list[float], **extra) -> dict:
    """A deterministic baseline's protocol block: one score per fold (WA = UA here)."""
    folds = [{"ua": ua, "wa": ua, **extra} for ua in scores]
    std = float(np.std(scores, ddof=1))
    return {"folds": folds, "mean_ua": float(np.mean(scores)), "mean_wa": float(np.mean(scores)),
            "std_ua_over_folds": std, "std_wa_over_folds": std}  # fmt: skip


def opensmile_report() -> dict:
    """CASIA openSMILE report: eGeMAPS 30/40 single clip, 50/60 adaptive; ComParE 38/38 and 45/45."""
    hardware = {"cpu": "test", "cpu_cores": 2, "torch_threads": 1}
    sets = {}
    for name, (single, adaptive) in {
        "egemaps": ([0.3, 0.4], [0.5, 0.6]),
        "compare": ([0.38, 0.38], [0.45, 0.45]),
    }.items():
        variants = {"single_clip": {**baseline_variant(single, C=0.01), "fit_wall_time_s": 1},
                    "speaker_adaptive": {**baseline_variant(adaptive, C=0.1), "fit_wall_time_s": 1}}  # fmt: skip
        sets[name] = {"opensmile_feature_set": name, "model": "LinearSVC", "features_wall_time_s": 1.0,
                      "c_grid": [0.01, 0.1], "variants": variants}  # fmt: skip
    return {"benchmark": "opensmile_baseline", "corpus": "casia", "protocol": "leave_one_speaker_out",
            "command": "python benchmarks/baselines.py --corpus casia --features egemaps compare",
            "opensmile_version": "2.6.0", "inner_cv": "GroupKFold", "feature_sets": sets,
            "environment": {"hardware": hardware, "date_utc": "2026-12-05T02:00:00+00:00"}}  # fmt: skip


def write_fixture(results: Path) -> None:
    """A results folder with CASIA's headline, ablation, floor, openSMILE and a speaker-normalisation report of an
    earlier design (not the final protocol), 2 seeds x 2 folds."""
    environment = {"device": "CPU: test", "torch_threads": 1, "python": "3", "torch": "2", "transformers": "5",
                   "date": "2026-12-04"}  # fmt: skip
    base = {"benchmark": "accuracy", "corpus": "casia", "recipe": "configs/casia_loso.yaml",
            "protocol": "leave_one_speaker_out", "environment": environment, "command": "c"}  # fmt: skip
    tft = summary({42: [0.50, 0.40], 43: [0.45, 0.35]})
    systems = {"tft": tft, "ast": summary({42: [0.30, 0.30], 43: [0.32, 0.28]})}
    ablations = {"tft": tft, "time_only": summary({42: [0.55, 0.38], 43: [0.45, 0.38]}),
                 "frequency_only": summary({42: [0.20, 0.20], 43: [0.20, 0.20]}),
                 "no_fusion": summary({42: [0.40, 0.40], 43: [0.40, 0.30]})}  # fmt: skip
    floor = {"benchmark": "statistics_baseline", "corpus": "casia", "protocol": "leave_one_speaker_out",
             "command": "python benchmarks/statistics_baseline.py --corpus casia", "model": "logistic",
             "variants": {"none": {"folds": [{"ua": 0.3}, {"ua": 0.4}], "mean_ua": 0.35, "mean_wa": 0.36,
                                   "std_ua_over_folds": 0.07}, "speaker": baseline_variant([0.4, 0.5])}}  # fmt: skip
    earlier = {**base, "systems": systems, "tft_design": "first"}
    for system in earlier["systems"].values():
        for run in system["runs"]:
            run.update(validation_speakers=1, normalization="speaker")
    (results / make_tables.HEADLINE.format(corpus="casia")).write_text(json.dumps({**base, "systems": systems}))
    (results / make_tables.ABLATIONS.format(corpus="casia")).write_text(json.dumps({**base, "systems": ablations}))
    (results / make_tables.FLOOR.format(corpus="casia")).write_text(json.dumps(floor))
    (results / make_tables.OPENSMILE.format(corpus="casia")).write_text(json.dumps(opensmile_report()))
    (results / "accuracy_casia_speaker_normalization.json").write_text(json.dumps(earlier))


def test_results_are_computed_from_the_reports(tmp_path: Path):
    results = tmp_path / "results"
    results.mkdir()
    write_fixture(results)
    text = make_tables.render_results(results)
    # TFT 42.50 ± 6.45 over 4 seed-fold scores; AST 30.00, 12.50 points below on the same seeds; floor 35.00
    single, adaptive = (
        "| CASIA leave_one_speaker_out, single clip |",
        f"| CASIA leave_one_speaker_out, {make_tables.ADAPTIVE} |",
    )
    assert f"{single} TFT (default) | 1,000 | 2 × 2 | 42.50 ± 6.45 | 42.50 |" in text
    assert "| AST (equal size) | 1,000 | 2 × 2 | 30.00 ± 1.63 | 30.00 | 0.00 | +12.50 |" in text
    assert "| 1 (deterministic) × 2 | 35.00 ± 7.00 | 36.00 | – | +7.50 |" in text
    # openSMILE: eGeMAPS 35.00 and ComParE 38.00 single clip; TFT leads the better (ComParE) by 4.50 >= 3 points
    assert (
        f"{single} {make_tables.NAMES['compare']} | – | 1 (deterministic) × 2 | 38.00 ± 0.00 | 38.00 | – | +4.50 |"
        in text
    )
    assert "TFT UA ≥ the better openSMILE + SVM (compare, 38.00) + 3 points | +4.50 points | **met** |" in text
    # speaker-adaptive: no TFT report of the final protocol (the only one is an earlier design with validation
    # speakers), so no TFT row figures and an open target; eGeMAPS 55.00 is the better baseline there
    assert f"{adaptive} TFT (default) | – | – | not measured | – |" in text
    assert f"{adaptive} {make_tables.NAMES['egemaps']} | – | 1 (deterministic) × 2 | 55.00 ± 7.07 | 55.00 |" in text
    assert (
        "speaker-adaptive: TFT UA ≥ the better openSMILE + SVM (egemaps, 55.00) + 3 points | not measured | open"
        in text
    )
    assert "`accuracy_casia_speaker_normalization.json` is not the final protocol (the TFT of the first design" in text
    assert "C from [0.01, 0.1], per fold: single clip [0.01, 0.01]; speaker adaptive [0.1, 0.1]" in text
    assert "56 %" not in text and "TFT ≥ AST" not in text
    # the time branch alone is ahead (-1.50 points, the full TFT ahead on 1 of 4 pairs): the ordering is not met
    assert "| CASIA | TFT: time branch only | 2 × 2 | 44.00 ± 8.04 | -1.50 | 1 of 4 |" in text
    assert "the paper's ordering (the full TFT above each ablation) is **not reproduced**" in text
    assert "No speed report" in text and "RAVDESS: no final-protocol report" in text
    card = tmp_path / "card.md"
    card.write_text("# {{ model_id }}\n<!-- headline:start -->\nstale\n<!-- headline:end -->\nkept\n")
    (results / make_tables.SEARCH).write_text(json.dumps({"rule": "r", "entries": []}))
    make_tables.main(["--results_dir", str(results), "--results_md", str(tmp_path / "R.md"),
                      "--search_md", str(tmp_path / "S.md"), "--model_card", str(card)])  # fmt: skip
    assert (tmp_path / "R.md").read_text() == text
    headline = card.read_text()
    assert "stale" not in headline and headline.endswith("<!-- headline:end -->\nkept\n")
    # columns: TFT, AST, floor, eGeMAPS, ComParE; the speaker-adaptive row has no trained system of the final protocol
    assert "single clip, UA % (2 seeds × 2 folds) | 42.50 | 30.00 | 35.00 | 35.00 | 38.00 |" in headline
    assert f"{make_tables.ADAPTIVE}, UA % | not measured | not measured | 45.00 | 55.00 | 45.00 |" in headline


def test_search_record_reads_each_entry_from_its_report(tmp_path: Path):
    results = tmp_path / "results"
    (results / "search").mkdir(parents=True)
    fold = {"fold": 0, "ua": 0.0, "wa": 0.0, "validation_ua": 0.6, "validation_ua_by_epoch": [0.2, 0.6, 0.4, 0.4]}
    for name, scale in (("a", 1.0), ("b", 0.5)):
        curve = [scale * v for v in fold["validation_ua_by_epoch"]]
        run = {"seed": 42, "folds": [{**fold, "validation_ua": scale * 0.6, "validation_ua_by_epoch": curve}]}
        (results / "search" / f"{name}.json").write_text(json.dumps({"systems": {"tft": {"runs": [run]}}}))
    weights = {"benchmark": "head_weights", "runs": [{"seed": 42, "mean": {"best": {"1.0": 0.5, "8.0": 0.55},
                                                                     "last": {"1.0": 0.45, "8.0": 0.6}}}]}  # fmt: skip
    (results / "search" / "w.json").write_text(json.dumps(weights))
    entries = [{"id": "X1", "system": "tft", "report": "search/b.json", "change": "c | d", "decision": "rejected"},
               {"id": "D1", "system": "tft", "report": "search/a.json", "change": "e", "decision": "kept"},
               {"id": "W1", "system": "tft", "report": "search/w.json", "weight": "8.0", "change": "f",
                "decision": "kept"},
               {"id": "W2", "system": "tft", "report": "search/w.json", "weight": "1.0", "change": "g",
                "decision": "kept", "corpus": "ravdess"}]  # fmt: skip
    (results / make_tables.SEARCH).write_text(json.dumps({"rule": "the rule", "entries": entries}))
    text = make_tables.render_search(results)
    assert "| X1 | c / d | 30.00 | 20.00 | rejected | 8eb65da |" in text  # best epoch 0.3; last 4 epochs 0.2
    assert "| D1 | e | 60.00 | 40.00 | kept | 8eb65da |" in text
    assert "| W1 | f | 55.00 | 60.00 | kept | 8eb65da |" in text  # a head weight's: best and last checkpoint
    assert "| W2 | RAVDESS: g | 50.00 | 45.00 | kept | 8eb65da |" in text  # screened on another corpus
    (results / make_tables.SEARCH).write_text(json.dumps({"rule": "r", "entries": [*entries, {**entries[0]}]}))
    with pytest.raises(ValueError, match=r"\['X1'\] used more than once"):
        make_tables.render_search(results)


def test_committed_docs_are_generated_and_short():
    """docs/RESULTS.md and docs/SEARCH.md are what the generator makes of the committed reports."""
    results = make_tables.render_results(make_tables.RESULTS_DIR)
    assert (REPO_ROOT / "docs" / "RESULTS.md").read_text() == results
    assert len(results.splitlines()) <= 200
    assert (REPO_ROOT / "docs" / "SEARCH.md").read_text() == make_tables.render_search(make_tables.RESULTS_DIR)
    card = make_tables.MODEL_CARD.read_text()  # tft_ser/training/model_card.md, the template exports fill in
    assert make_tables.render_headline(make_tables.RESULTS_DIR) in card


def test_a_rerun_on_another_seed_joins_its_own_series_only():
    """`<id>-s43` and `<id>-s43-rav` are reruns of `<id>` and `<id>-rav`: a CASIA entry's seed-43 rerun is never
    paired with a RAVDESS one (the ES1 row of docs/SEARCH.md once averaged ES1-s43-rav into CASIA's ES1)."""
    assert make_tables.series("ES1-s43") == make_tables.series("ES1") == "ES1"
    assert make_tables.series("ES1-s43-rav") == make_tables.series("ES1-rav") == "ES1-rav"
    assert make_tables.series("RG1-w0.5-casia-s43") == "RG1-w0.5-casia"
    assert make_tables.series("RG1-s49-rav") == "RG1-rav"
    assert make_tables.series("SS1-s45") == "SS1" and make_tables.series("SAM1-s44") == "SAM1"
    assert make_tables.series("SA1") == "SA1" and make_tables.series("MS1-s43") == "MS1"
