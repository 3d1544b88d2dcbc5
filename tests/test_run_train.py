"""run_train.py end to end on the synthetic demo corpus with a tiny model (both training paths)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import datasets
import pytest
import torch
from conftest import REPO_ROOT
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from transformers import ASTForAudioClassification

from tft_ser.training import cross_validation, run_train
from tft_ser.training.arguments import UsageError
from tft_ser.training.export import export_run
from tft_ser.training.models import ast_config

TINY = (
    "hidden_size=32,num_attention_heads=2,intermediate_size=64,"
    "num_time_layers=1,num_frequency_layers=1,num_fusion_layers=1"
)
BASE = [
    "--demo_speakers", "6", "--demo_utterances_per_class", "4", "--num_folds", "3",
    "--config_overrides", TINY, "--per_device_train_batch_size", "8", "--report_to", "none",
    "--learning_rate", "1e-3", "--warmup_steps", "0",
]  # fmt: skip


def run(output_dir: Path, *extra: str) -> dict:
    return run_train.main(["--output_dir", str(output_dir), *BASE, *extra])


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory) -> dict[str, Path]:
    """One two-fold run per training path; the Trainer run also tries (and fails) to push offline."""
    root = tmp_path_factory.mktemp("runs")
    run(root / "accelerate", "--trainer", "accelerate", "--folds", "0,1", "--num_train_epochs", "2")
    with pytest.raises(SystemExit, match=r"Could not push .* The export folder is complete and untouched"):
        run(root / "hf", "--folds", "0,1", "--num_train_epochs", "2", "--push_to_hub", "--hub_model_id", "me/tft")
    return {"accelerate": root / "accelerate", "hf": root / "hf"}


@pytest.mark.parametrize("trainer", ["hf", "accelerate"])
def test_results_figures_and_model_card(demo_runs, trainer):
    output = demo_runs[trainer]
    results = json.loads((output / "results.json").read_text())
    assert [fold["fold"] for fold in results["folds"]] == [0, 1]
    for fold in results["folds"]:
        assert 0 <= fold["test"]["wa"] <= 1 and 0 <= fold["test"]["ua"] <= 1
        assert sum(map(sum, fold["test"]["confusion_matrix"])) == fold["num_test"]
        assert not set(fold["test_speakers"]) & set(fold["train_speakers"] + fold["validation_speakers"])
        assert len(fold["history"]) == 2 and "eval_ua" in fold["history"][-1]
        assert (output / f"fold_{fold['fold']}" / "confusion_matrix.png").stat().st_size > 1000
        assert (output / f"fold_{fold['fold']}" / "training_curves.png").stat().st_size > 1000
    assert (output / "confusion_matrix.png").is_file() and (output / "results.md").is_file()
    mean_wa = sum(f["test"]["wa"] for f in results["folds"]) / 2
    assert results["mean"]["wa"] == pytest.approx(mean_wa)

    export = output / "export"
    for name in ("model.safetensors", "config.json", "modeling_tft.py", "configuration_tft.py",
                 "feature_extraction_tft.py", "preprocessor_config.json", "README.md"):  # fmt: skip
        assert (export / name).is_file(), name
    card = ModelCard.load(export / "README.md")
    values = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert values == {
        "accuracy": round(100 * results["mean"]["wa"], 2),
        "balanced_accuracy": round(100 * results["mean"]["ua"], 2),
    }
    assert results["command"] in card.text and "SYNTHETIC" in card.text
    assert "14 prosody contours per frame" in card.text and "A second, linear head reads functionals" in card.text


def test_the_fold_with_the_best_validation_ua_is_exported(demo_runs, tmp_path):
    """The rule (highest validation UA, the first on a tie, fold 0 without validation) and the export's files: the
    weights and statistics of exactly that fold, which the card names."""
    output = demo_runs["accelerate"]
    results = json.loads((output / "results.json").read_text())
    best = max(results["folds"], key=lambda fold: fold["validation_ua"])  # max keeps the first of equals
    assert results["exported_fold"] == best["fold"]
    assert_same_weights(output / "export", output / f"fold_{best['fold']}" / "model")
    folds = [dict(fold) for fold in results["folds"]]
    labels = results["label_names"]
    for uas, exported in (((0.2, 0.9), 1), ((0.9, 0.2), 0), ((0.5, 0.5), 0), ((None, None), 0)):
        for fold, ua in zip(folds, uas, strict=True):
            fold["validation_ua"] = ua
        assert cross_validation._aggregate(folds, labels, tmp_path)["exported_fold"] == folds[exported]["fold"]
    for chosen, other in ((0, 1), (1, 0)):
        export = export_run({**results, "exported_fold": chosen}, output, tmp_path / f"export_{chosen}", "me/tft")
        assert_same_weights(export, output / f"fold_{chosen}" / "model")
        differs = load_file(export / "model.safetensors")["classifier.weight"]
        assert not torch.equal(differs, load_file(output / f"fold_{other}" / "model" / "model.safetensors")[
            "classifier.weight"])  # fmt: skip
        shipped = json.loads((export / "preprocessor_config.json").read_text())
        fold_statistics = json.loads((output / f"fold_{chosen}" / "model" / "preprocessor_config.json").read_text())
        assert shipped["mean"] == fold_statistics["mean"] and shipped["std"] == fold_statistics["std"]
        speakers = ", ".join(results["folds"][chosen]["test_speakers"])
        assert f"weights of fold {chosen} (test speakers: {speakers};" in ModelCard.load(export / "README.md").text


def assert_same_weights(first: Path, second: Path) -> None:
    a, b = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_export_serves_in_fresh_process_with_remote_code(demo_runs, tmp_path):
    export = demo_runs["accelerate"] / "export"
    script = textwrap.dedent(
        f"""
        import sys, numpy as np
        from transformers import pipeline
        import torch
        from transformers import AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification
        classifier = pipeline("audio-classification", model={str(export)!r}, trust_remote_code=True)
        audio = 0.1 * np.sin(np.arange(32000) / 10).astype(np.float32)
        result = classifier(audio)
        backbone = AutoModel.from_pretrained({str(export)!r}, trust_remote_code=True).eval()
        head = AutoModelForAudioClassification.from_pretrained({str(export)!r}, trust_remote_code=True).eval()
        assert type(backbone).__name__ == "TFTModel", type(backbone)
        features = AutoFeatureExtractor.from_pretrained({str(export)!r}, trust_remote_code=True)(
            audio, sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():  # the embedding is the Transformer head's input; the functionals head reads the contours
            embedding = backbone(**features).pooler_output
            contours = features["input_features"][..., head.config.num_mel_bins :]
            functionals = head.functionals(contours, torch.ones(contours.shape[:2], dtype=torch.bool))
            logits = head.classifier(embedding) + head.config.functionals_weight * functionals
            torch.testing.assert_close(logits, head(**features).logits)
        assert "modeling_tft" not in sys.modules
        print(sorted(r["label"] for r in result))
        """
    )
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "PYTHONPATH": ""}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "['angry', 'happy', 'neutral', 'sad']" in done.stdout


KILL_AFTER = {  # the checkpoint file that exists once the run may be killed
    "accelerate": "epoch_2/loop_state.json",
    "hf": "checkpoint-*/trainer_state.json",
}


def wait_for_checkpoint(process: subprocess.Popen, checkpoints: Path, marker: str, seconds: float = 240) -> None:
    """Poll until `marker` (a glob under `checkpoints`) exists; fail if the run ends first or the time runs out."""
    deadline = time.time() + seconds
    while not list(checkpoints.glob(marker)):
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, f"no checkpoint {marker} within {seconds} s"
        time.sleep(0.05)


def last_checkpoint(checkpoints: Path, trainer: str) -> tuple[str, int]:
    """The newest complete checkpoint left by a killed run: its folder name and the optimizer steps it holds."""
    if trainer == "hf":
        states = [json.loads(p.read_text()) | {"name": p.parent.name} for p in checkpoints.glob(KILL_AFTER["hf"])]
        newest = max(states, key=lambda state: state["global_step"])
        return newest["name"], newest["global_step"]
    states = [json.loads(p.read_text()) | {"name": p.parent.name} for p in checkpoints.glob("epoch_*/loop_state.json")]
    newest = max(states, key=lambda state: state["epoch"])
    return newest["name"], newest["global_step"]


@pytest.mark.parametrize("trainer", list(KILL_AFTER))
def test_kill_and_resume_continues_from_the_checkpoint(tmp_path, trainer):
    """SIGKILL after a checkpoint; the resumed fold starts at that checkpoint's optimizer step (not at 0: a restart
    from scratch with the same seed would give the same metrics) and ends as an uninterrupted run."""
    arguments = [*BASE, "--trainer", trainer, "--folds", "0", "--num_train_epochs", "4", "--save_total_limit", "4"]
    run(tmp_path / "straight", *arguments)
    expected = json.loads((tmp_path / "straight" / "results.json").read_text())["folds"][0]
    assert expected["resumed_from"] is None and expected["steps_run"] == expected["global_step"] > 0
    kept = "epoch_*" if trainer == "accelerate" else "checkpoint-*"  # --save_total_limit 4 of 4 epochs: all kept
    assert len(list((tmp_path / "straight" / "fold_0" / "checkpoints").glob(kept))) == 4
    again = run(tmp_path / "straight", *arguments)  # a finished fold is reused, and the run says so
    assert again["reused_folds"] == [0] and again["folds"][0]["test"] == expected["test"]

    killed = tmp_path / "killed"
    checkpoints = killed / "fold_0" / "checkpoints"
    command = [sys.executable, "run_train.py", "--output_dir", str(killed), *arguments]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_checkpoint(process, checkpoints, KILL_AFTER[trainer])
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "fold_0" / "fold_results.json").exists(), "killed too late: the fold had finished"
    checkpoint, step = last_checkpoint(checkpoints, trainer)
    assert 0 < step < expected["global_step"]

    run(killed, *arguments, "--resume_from_checkpoint", "true")
    resumed_run = json.loads((killed / "results.json").read_text())
    assert resumed_run["reused_folds"] == []  # fold 0 was resumed from a checkpoint, not reused
    resumed = resumed_run["folds"][0]
    assert resumed["resumed_from"] is not None, "the fold was trained from scratch, not resumed"
    assert resumed["resumed_from"]["checkpoint"] == checkpoint and resumed["resumed_from"]["global_step"] == step
    assert resumed["resumed_from"]["epoch"] * (expected["global_step"] // 4) == step  # whole epochs of 4
    assert resumed["steps_run"] == expected["global_step"] - step  # only the steps after the checkpoint ran
    assert resumed["global_step"] == expected["global_step"]
    assert resumed["test"] == expected["test"] and resumed["validation_ua"] == expected["validation_ua"]
    assert [round(r["eval_ua"], 6) for r in resumed["history"]] == [round(r["eval_ua"], 6) for r in expected["history"]]


def test_a_fold_is_reused_or_resumed_only_with_the_settings_it_was_trained_with(demo_runs, tmp_path, capsys, caplog):
    """A finished fold of other settings (an option, a config value, or a package default that changed since) is
    refused before any training, naming what differs; `--folds` only selects, so a run of other folds reuses it."""
    arguments = [*BASE, "--trainer", "accelerate", "--num_train_epochs", "2"]
    copy = tmp_path / "run"
    shutil.copytree(demo_runs["accelerate"], copy)
    assert run(copy, *arguments, "--folds", "1")["reused_folds"] == [1]
    dropout = ["--config_overrides", f"{TINY},activation_dropout=0.1"]  # the option, and the config it builds
    for changed, expected in (
        (["--learning_rate", "5e-4"], "--learning_rate: saved 0.001, this run 0.0005"),
        (dropout, "config.activation_dropout: saved 0.0, this run 0.1"),
    ):
        with pytest.raises(SystemExit, match="2"):
            run(copy, *arguments, "--folds", "0,1", *changed)
        error = capsys.readouterr().err
        assert "fold_0 was trained with other settings than this run's, so it cannot be reused (--" in error
        assert expected in error
        assert f"delete {copy / 'fold_0'} to train the fold again" in error
    for fold in ("fold_0", "fold_1"):  # as saved before the record existed: the saved model's config is compared
        (copy / fold / "fold_settings.json").unlink()
    with pytest.raises(SystemExit, match="2"):
        run(copy, *arguments, "--folds", "0", *dropout)
    assert "cannot be reused (config.activation_dropout: saved 0.0, this run 0.1)" in capsys.readouterr().err
    with caplog.at_level("WARNING"):
        assert run(copy, *arguments, "--folds", "0")["reused_folds"] == [0]
    assert "records no arguments (saved before tft-ser 0.8.0)" in caplog.text

    unfinished = tmp_path / "unfinished"  # fold 0 with its checkpoints and settings, but no results yet
    shutil.copytree(demo_runs["accelerate"] / "fold_0", unfinished / "fold_0", ignore=shutil.ignore_patterns("fold_r*"))
    with pytest.raises(SystemExit, match="2"):
        run(unfinished, *arguments, "--folds", "0", "--resume_from_checkpoint", "true", "--learning_rate", "5e-4")
    assert "so it cannot be resumed (--learning_rate: saved 0.001" in capsys.readouterr().err


def test_fine_tune_onto_another_label_set(demo_runs, tmp_path, capsys):
    prepared = datasets.load_from_disk(str(demo_runs["hf"] / "prepared"))
    three = prepared.filter(lambda label: label < 3, input_columns="label")
    three = three.cast_column("label", datasets.ClassLabel(names=["angry", "happy", "neutral"]))
    three.save_to_disk(str(tmp_path / "three"))
    checkpoint = str(demo_runs["hf"] / "export")
    common = ["--dataset_dir", str(tmp_path / "three"), "--model_name_or_path", checkpoint, "--folds", "0",
              "--num_train_epochs", "1", "--report_to", "none", "--num_folds", "3"]  # fmt: skip
    with pytest.raises(SystemExit, match="2"):
        run_train.main(["--output_dir", str(tmp_path / "refused"), *common])
    assert "pass --ignore_mismatched_sizes" in capsys.readouterr().err
    assert not (tmp_path / "refused" / "fold_0").exists()
    results = run_train.main(["--output_dir", str(tmp_path / "tuned"), *common, "--ignore_mismatched_sizes"])
    config = json.loads((tmp_path / "tuned" / "export" / "config.json").read_text())
    assert config["id2label"] == {"0": "angry", "1": "happy", "2": "neutral"}
    assert len(results["folds"][0]["test"]["confusion_matrix"]) == 3
    with pytest.raises(SystemExit, match="2"):
        run_train.main(["--output_dir", str(tmp_path / "wrong_type"), *common, "--model_type", "ast"])
    assert "is a 'tft' checkpoint, not one of --model_type 'ast'" in capsys.readouterr().err


def test_fine_tune_an_ast_checkpoint(demo_runs, tmp_path):
    """The AST baseline fine-tunes from its own checkpoints too (e.g. pre-trained on another corpus), strictly."""
    prepared = datasets.load_from_disk(str(demo_runs["hf"] / "prepared"))
    config = ast_config(2, num_hidden_layers=1, hidden_size=32, num_attention_heads=2, intermediate_size=64)
    ASTForAudioClassification(config).save_pretrained(tmp_path / "ast")
    results = run_train.main([
        "--output_dir", str(tmp_path / "tuned"), "--dataset_dir", str(demo_runs["hf"] / "prepared"),
        "--model_type", "ast", "--model_name_or_path", str(tmp_path / "ast"), "--ignore_mismatched_sizes",
        "--folds", "0", "--num_folds", "3", "--num_train_epochs", "1", "--report_to", "none",
    ])  # fmt: skip
    num_labels = prepared.features["label"].num_classes
    assert len(results["folds"][0]["test"]["confusion_matrix"]) == num_labels
    tuned = load_file(tmp_path / "tuned" / "fold_0" / "model" / "model.safetensors")  # the AST has no Hub export
    start = load_file(tmp_path / "ast" / "model.safetensors")
    shared = [k for k in start if not k.startswith("classifier")]
    assert shared and all(k in tuned and tuned[k].shape == start[k].shape for k in shared)
    assert any(not torch.equal(tuned[k], start[k]) for k in shared)  # the encoder was trained, not replaced


def test_library_entry_point_checks_the_options_too(tmp_path):
    """`run_cross_validation` (what run_train.main calls) refuses bad options itself, before writing anything; the
    command line's cases (exit code 2, one line) are in tests/bad_input_cases_train.py."""
    model_args, data_args, args = run_train.parse_arguments(["--output_dir", str(tmp_path / "out"), *BASE])
    args.num_train_epochs = 0
    with pytest.raises(UsageError, match="--num_train_epochs must be > 0, got 0"):
        cross_validation.run_cross_validation(model_args, data_args, args, ["run_train.py"])
    assert not (tmp_path / "out").exists()


def test_config_files(tmp_path):
    (tmp_path / "run.yaml").write_text("seed: 7\nprotocol: leave_one_speaker_out\nnum_train_epochs: 3\n")
    (tmp_path / "run.json").write_text(json.dumps({"seed": 8, "trainer": "accelerate"}))
    _, data_args, args = run_train.parse_arguments([str(tmp_path / "run.yaml")])
    assert (args.seed, data_args.protocol, args.num_train_epochs) == (7, "leave_one_speaker_out", 3)
    _, _, args = run_train.parse_arguments([str(tmp_path / "run.json"), "--seed", "9"])
    assert (args.seed, args.trainer) == (9, "accelerate")  # the command line overrides the file
    (tmp_path / "bad.yaml").write_text("sead: 7\n")
    with pytest.raises(ValueError, match=r"unknown options \['sead'\]"):
        run_train.parse_arguments([str(tmp_path / "bad.yaml")])
    # the options of rejected variants are gone (reproducible at commit 8eb65da)
    (tmp_path / "rejected.yaml").write_text("mixup_alpha: 0.4\nsam_rho: 0.05\n")
    with pytest.raises(ValueError, match=r"unknown options \['mixup_alpha', 'sam_rho'\]"):
        run_train.parse_arguments([str(tmp_path / "rejected.yaml")])
    for option in ("average_last_epochs", "speed_factors", "random_gain_db", "frequency_warp", "noise_snr_db"):
        with pytest.raises(ValueError, match=f"not used by the HfArgumentParser: \\['--{option}', '1'\\]"):
            run_train.parse_arguments([f"--{option}", "1"])
    for config in (REPO_ROOT / "configs").glob("*.yaml"):
        run_train.parse_arguments([str(config)])
