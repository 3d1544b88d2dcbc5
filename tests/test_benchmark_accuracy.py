"""The accuracy benchmark runs end to end (tiny TFT and AST, demo corpus, one fold, one epoch)."""

import importlib
import json
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import accuracy

from modeling_tft import TFTConfig


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
    together = accuracy.main([*common, "--seeds", "1", "2", "--reuse", "--output", str(tmp_path / "both.json")])
    for system, summary in together["systems"].items():
        pooled = merged["systems"][system]
        assert [run["seed"] for run in pooled["runs"]] == [1, 2] and pooled["num_seeds"] == 2
        for key in ("mean_ua", "mean_wa", "std_ua_over_folds", "std_ua_over_seeds"):
            assert pooled[key] == pytest.approx(summary[key])
    assert merged["notes"] == ["two seeds"] and json.loads((tmp_path / "merged.json").read_text()) == merged
    renamed = accuracy.main(["--merge", f"{tmp_path / 'seed1.json'}::tft=tft_old,ast", str(tmp_path / "seed2.json"),
                             "--output", str(tmp_path / "renamed.json")])  # fmt: skip
    assert {name: s["num_seeds"] for name, s in renamed["systems"].items()} == {"tft_old": 1, "tft": 1, "ast": 2}
    other = json.loads((tmp_path / "seed2.json").read_text())  # as if run on another machine and day
    other["environment"].update(device="CPU: elsewhere", date="2000-01-01")
    (tmp_path / "other.json").write_text(json.dumps(other))
    mixed = accuracy.main(["--merge", str(tmp_path / "seed1.json"), str(tmp_path / "other.json"),
                           "--output", str(tmp_path / "mixed.json")])  # fmt: skip
    again = accuracy.main(["--merge", f"{tmp_path / 'mixed.json'}::tft=tft_old", str(tmp_path / "seed1.json"),
                           "--output", str(tmp_path / "again.json")])  # fmt: skip
    for key in ("device", "date"):  # a merged source's joined values are listed once each, not repeated
        values = again["environment"][key].split(", ")
        assert len(values) == len(set(values)) == 2 and values == mixed["environment"][key].split(", ")
    with pytest.raises(ValueError, match="has no system"):
        accuracy.main(["--merge", f"{tmp_path / 'seed1.json'}::time_only", "--output", str(tmp_path / "bad.json")])
    with pytest.raises(ValueError, match="more than once"):
        accuracy.main(["--merge", str(tmp_path / "seed1.json"), str(tmp_path / "seed1.json"), "--output",
                       str(tmp_path / "bad.json")])  # fmt: skip
    accuracy.main([*common, "--seeds", "3", "--output", str(tmp_path / "seed3.json"), "--", "--learning_rate", "0.1"])
    with pytest.raises(ValueError, match="differ in more than the seed"):
        accuracy.main(["--merge", str(tmp_path / "seed1.json"), str(tmp_path / "seed3.json"), "--output",
                       str(tmp_path / "bad.json")])  # fmt: skip
    # an option given explicitly at the value the recipe had when the other runs were made
    equivalent = accuracy.main(["--merge", str(tmp_path / "seed1.json"), str(tmp_path / "seed3.json"), "--output",
                                str(tmp_path / "eq.json"), "--equivalent", "learning_rate=0.1"])  # fmt: skip
    assert equivalent["systems"]["tft"]["num_seeds"] == 2 and "--learning_rate 0.1" in equivalent["notes"][0]
    with pytest.raises(ValueError, match="differ in more than the seed"):  # only that value is equivalent
        accuracy.main(["--merge", str(tmp_path / "seed1.json"), str(tmp_path / "seed3.json"), "--output",
                       str(tmp_path / "bad.json"), "--equivalent", "learning_rate=0.2"])  # fmt: skip


def test_accuracy_tables(tmp_path: Path):
    """make_tables renders a report's per-fold rows, model selection and the model card's TFT-vs-AST row."""
    results = tmp_path / "results"
    arguments = ["--smoke", "--output", str(results / "accuracy_smoke.json"), "--output_root", str(tmp_path / "o")]
    first = accuracy.main(arguments)
    again = accuracy.main([*arguments, "--reuse"])  # summarises the finished runs instead of training again
    for system, summary in first["systems"].items():
        assert again["systems"][system]["runs"][0]["folds"] == summary["runs"][0]["folds"]
    with pytest.raises(ValueError, match="not from the same arguments"):
        accuracy.main([*arguments, "--reuse", "--", "--learning_rate", "0.1"])
    tables = importlib.import_module("make_tables")
    section = tables.render_accuracy_section(results)
    assert "### DEMO — k_fold_by_speaker (smoke)" in section
    assert "model selection: 1 training speaker(s) held out per fold; best validation UA epoch" in section
    assert (
        section.count("| TFT (full) | 42 | 0 |") == 1
        and "| validation UA % |" in section
        and section.count("| AST (equal size) | 42 | 0 |") == 1
    )
    assert (
        "DEMO k_fold_by_speaker (validation speaker(s) held out; global feature normalisation; 1 seed(s) × 1 folds)"
        in tables.render_headline(results)
    )
    floor = {"corpus": "demo", "protocol": "k_fold_by_speaker", "validation_speakers": 1, "command": "floor cmd",
             "model": "LR", "environment": first["environment"],
             "variants": {"none": {"folds": [], "mean_wa": 0.2, "mean_ua": 0.2, "std_wa_over_folds": 0,
                                   "std_ua_over_folds": 0}}}  # fmt: skip
    (results / "baseline_demo_validation1.json").write_text(json.dumps(floor))
    gain = 100 * first["systems"]["tft"]["mean_ua"] - 20
    expected = f"| TFT ≥ statistics floor + 3 points UA | {gain:+.2f} points (floor 20.00 %: `floor cmd`) |"
    assert expected in tables.render_accuracy_section(results)  # same corpus, split and (global) normalisation
    (results / "baseline_demo_validation1.json").write_text(json.dumps({**floor, "validation_speakers": 0}))
    assert "statistics floor + 3" not in tables.render_accuracy_section(results)  # another split: no target
    (results / "baseline_demo_validation1.json").unlink()
    for summary in first["systems"].values():  # a variant of the recipe is labelled as such in the model card
        summary["runs"][0]["normalization"] = "speaker"
    (results / "accuracy_smoke_speaker.json").write_text(json.dumps(first))
    assert "held out; speaker feature normalisation; 1 seed(s)" in tables.render_headline(results)
    first["systems"]["ast"]["num_seeds"] = 2  # fewer or more AST seeds than TFT seeds: the row says so
    (results / "accuracy_smoke_speaker.json").write_text(json.dumps(first))
    assert "1 seed(s) (AST: 2) × 1 folds" in tables.render_headline(results)
    first["systems"]["ast"]["num_seeds"] = 1
    # a report whose AST scores are known to be wrong: marked in its tables, no target row, not in the model card
    (results / "accuracy_smoke_speaker.json").unlink()
    (results / "accuracy_smoke.json").write_text(json.dumps({**first, "invalid_systems": {"ast": "a defect."}}))
    section = tables.render_accuracy_section(results)
    assert "- **AST (equal size): test scores invalid.** a defect." in section
    assert "| AST (equal size) — test scores INVALID | 42 | 0 |" in section and "equal-size AST + 3" not in section
    assert "DEMO" not in tables.render_headline(results)

    search = {"corpus": "demo", "rule": "validation decides", "entries": [
        {"id": "S1", "system": "tft", "report": "accuracy_smoke.json", "change": "x", "decision": "kept"}]}  # fmt: skip
    (results / "search_demo.json").write_text(json.dumps(search))
    fold = first["systems"]["tft"]["runs"][0]["folds"][0]
    validation, last = fold["validation_ua"], fold["validation_ua_by_epoch"][-1]
    assert len(fold["validation_ua_by_epoch"]) == 1  # one epoch: the best is the last
    row = f"| S1 | TFT (full) | x | speaker | 42 | {100 * validation:.1f} | **{100 * validation:.2f}** "
    row += f"| {100 * last:.2f} | — | — |"  # fewer epochs than the late-epoch mean needs; no averaging
    assert row + " kept |" in tables.render_accuracy_section(results)
    fold["validation_ua_by_epoch"] = [0.9, 0.1, 0.2, 0.3, 0.6]  # the last 4 epochs average 30 %
    (results / "accuracy_smoke.json").write_text(json.dumps(first))
    assert "| 60.00 | 30.00 | — | kept |" in tables.render_accuracy_section(results)


def test_wall_time_names_folds_it_does_not_cover():
    tables = importlib.import_module("make_tables")
    assert tables.wall_time([{"seed": 42, "wall_time_s": 10.2, "reused_folds": []}]) == "10"
    resumed = tables.wall_time(
        [{"seed": 1, "wall_time_s": 5.0}, {"seed": 42, "wall_time_s": 7.0, "reused_folds": [0, 2]}]
    )
    assert resumed == "12 (without seed 42 folds 0, 2: finished by an earlier process, not timed)"


def test_older_run_environment_keeps_its_thread_count():
    assert accuracy._environment({"cpu_threads": 2, "python": "3.11"}) == {"torch_threads": 2, "python": "3.11"}


def test_extra_config_overrides_add_to_the_system_ones():
    system = accuracy.SYSTEMS["frequency_only"]
    merged = accuracy.merge_config_overrides(system, ["--seed", "1", "--config_overrides", "pooling=mean", "--x"])
    assert merged == ["--config_overrides", "use_time_branch=False,use_fusion=False,pooling=mean", "--seed", "1", "--x"]
    assert accuracy.merge_config_overrides([], ["--config_overrides", "a=1"]) == ["--config_overrides", "a=1"]
    assert accuracy.merge_config_overrides(system, ["--seed", "1"]) == [*system, "--seed", "1"]


def test_former_default_designs_name_their_tokens():
    """A former default's system spells out its token design, so a later change of default cannot alter it."""
    flag = "--config_overrides"
    for name, arguments in accuracy.SYSTEMS.items():
        if name.startswith("tft_"):
            assert flag in arguments, name
        if flag not in arguments:  # today's default design, the AST
            continue
        overrides = arguments[arguments.index(flag) + 1]
        config = TFTConfig(num_labels=6)
        config.update_from_string(overrides)
        config._validate()  # a valid design
        if name.startswith("tft_"):
            assert "frequency_embedding=" in overrides, name


def test_epoch_kept_names_averaged_weights():
    tables = importlib.import_module("make_tables")
    assert tables.epoch_kept({"best_epoch": 7, "averaged_epochs": []}) == "7"
    assert tables.epoch_kept({"best_epoch": None}) == "last"
    assert tables.epoch_kept({"best_epoch": None, "averaged_epochs": [9, 10, 11, 12]}) == "mean of 9–12"
    report = {"systems": {"tft": {"runs": [{"validation_speakers": 0, "folds": [{"averaged_epochs": [11, 12]}]}]}}}
    assert tables.model_selection(report).endswith("runs marked so test the mean weights of their last 2 epochs")


def test_ablation_ordering_target_and_design_label():
    """The paper's ordering is a target row (met only when the full TFT beats every ablation, on 3 seeds); a report
    of an earlier design says so."""
    tables = importlib.import_module("make_tables")
    fold = {"fold": 0, "test_speakers": ["a"], "validation_speakers": [], "best_epoch": None, "wa": 0.5, "ua": 0.5}
    environment = {"device": "cpu", "python": "3.11", "torch": "2", "transformers": "5", "date": "d",
                   "torch_threads": 1, "cpu_cores": 2}  # fmt: skip

    def summary(ua: float, seeds: int = 3) -> dict:
        runs = [{"seed": s, "folds": [fold], "wall_time_s": 1.0, "validation_speakers": 0} for s in range(seeds)]
        return {"num_seeds": seeds, "num_folds": 1, "num_parameters": 1, "mean_wa": ua, "mean_ua": ua,
                "std_wa_over_folds": 0.0, "std_ua_over_folds": 0.0, "std_ua_over_seeds": 0.0, "runs": runs}  # fmt: skip

    report = {"corpus": "demo", "protocol": "p", "recipe": "r", "command": "c", "environment": environment,
              "systems": {"tft": summary(0.40), "time_only": summary(0.35), "no_fusion": summary(0.38)}}  # fmt: skip
    text = tables.accuracy_report("demo_ablations", report)
    assert "full minus: TFT: time branch only +5.00; TFT: both branches, no fusion +2.00 points | **met** |" in text
    report["systems"]["frequency_only"] = summary(0.41, seeds=1)
    missed = "TFT: frequency branch only -1.00; TFT: both branches, no fusion +2.00 points | **missed** |"
    assert missed in tables.accuracy_report("demo_ablations", report)
    report["systems"]["frequency_only"] = summary(0.10, seeds=1)
    assert "| met on 1 seed(s), not yet on the 3 asked |" in tables.accuracy_report("demo_ablations", report)
    assert "not today's default" not in text
    assert "- TFT rows: TFT of the J1 design" in tables.accuracy_report("x", {**report, "tft_design": "j1"})


def test_paired_comparison_uses_only_the_shared_seed_fold_pairs():
    paired = importlib.import_module("paired")

    def runs(scores: dict[int, list[float]]) -> dict:
        return {"runs": [{"seed": seed, "folds": [{"fold": i, "ua": ua} for i, ua in enumerate(folds)]}
                         for seed, folds in scores.items()]}  # fmt: skip

    report = {"systems": {"tft": runs({42: [0.5, 0.4], 43: [0.6, 0.2]}), "time_only": runs({42: [0.3, 0.5]})}}
    comparison = paired.paired(report)["time_only"]
    assert comparison["pairs"] == 2 and comparison["seeds"] == [42] and comparison["reference_ahead"] == 1
    assert comparison["reference_ua"] == pytest.approx(45) and comparison["difference"] == pytest.approx(5)


def test_paired_comparison_of_screens_scores_late_validation_epochs(tmp_path):
    paired = importlib.import_module("paired")

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
    groups = [f"new={tmp_path}/new*.json", f"old={tmp_path}/old*.json"]
    equivalent = ["--equivalent", "lr=2", "--equivalent", "lr=3"]  # as accuracy.py --merge's
    comparison = paired.main(["--groups", *groups, *equivalent, "--reference", "new", "--late_epochs", "2"])["old"]
    assert comparison["pairs"] == 3 and comparison["seeds"] == [42, 43]
