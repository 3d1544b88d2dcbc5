"""run_train.py end to end on the synthetic demo corpus with a tiny model (both training paths)."""

import json
import os
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

import run_train
from training.models import ast_config

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
        with torch.no_grad():  # the embedding is the head's input
            embedding = backbone(**features).pooler_output
            torch.testing.assert_close(head.classifier(embedding), head(**features).logits)
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


@pytest.mark.parametrize("trainer", list(KILL_AFTER))
def test_kill_and_resume_gives_same_metrics(tmp_path, trainer):
    arguments = [*BASE, "--trainer", trainer, "--folds", "0", "--num_train_epochs", "4", "--save_total_limit", "4"]
    run(tmp_path / "straight", *arguments)
    expected = json.loads((tmp_path / "straight" / "results.json").read_text())["folds"][0]
    again = run(tmp_path / "straight", *arguments)  # a finished fold is reused, and the run says so
    assert again["reused_folds"] == [0] and again["folds"][0]["test"] == expected["test"]

    killed = tmp_path / "killed"
    marker = KILL_AFTER[trainer]
    command = [sys.executable, "run_train.py", "--output_dir", str(killed), *arguments]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not list((killed / "fold_0" / "checkpoints").glob(marker)) and time.time() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "fold_0" / "fold_results.json").exists(), "killed too late: the fold had finished"

    run(killed, *arguments, "--resume_from_checkpoint", "true")
    resumed_run = json.loads((killed / "results.json").read_text())
    assert resumed_run["reused_folds"] == []  # fold 0 was resumed from a checkpoint, not reused
    resumed = resumed_run["folds"][0]
    assert resumed["test"] == expected["test"] and resumed["validation_ua"] == expected["validation_ua"]
    assert [round(r["eval_ua"], 6) for r in resumed["history"]] == [round(r["eval_ua"], 6) for r in expected["history"]]


def test_fine_tune_onto_another_label_set(demo_runs, tmp_path):
    prepared = datasets.load_from_disk(str(demo_runs["hf"] / "prepared"))
    three = prepared.filter(lambda label: label < 3, input_columns="label")
    three = three.cast_column("label", datasets.ClassLabel(names=["angry", "happy", "neutral"]))
    three.save_to_disk(str(tmp_path / "three"))
    checkpoint = str(demo_runs["hf"] / "export")
    common = ["--dataset_dir", str(tmp_path / "three"), "--model_name_or_path", checkpoint, "--folds", "0",
              "--num_train_epochs", "1", "--report_to", "none", "--num_folds", "3"]  # fmt: skip
    with pytest.raises(ValueError, match="pass --ignore_mismatched_sizes"):
        run_train.main(["--output_dir", str(tmp_path / "refused"), *common])
    assert not (tmp_path / "refused" / "fold_0").exists()
    results = run_train.main(["--output_dir", str(tmp_path / "tuned"), *common, "--ignore_mismatched_sizes"])
    config = json.loads((tmp_path / "tuned" / "export" / "config.json").read_text())
    assert config["id2label"] == {"0": "angry", "1": "happy", "2": "neutral"}
    assert len(results["folds"][0]["test"]["confusion_matrix"]) == 3
    with pytest.raises(ValueError, match="is a 'tft' checkpoint, not one of --model_type 'ast'"):
        run_train.main(["--output_dir", str(tmp_path / "wrong_type"), *common, "--model_type", "ast"])


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


def test_bad_input_fails_before_training(demo_runs, tmp_path):
    with pytest.raises(ValueError, match="Unknown corpus 'tess'"):
        run(tmp_path / "a", "--corpus", "tess", "--data_dir", str(tmp_path))
    prepared = datasets.load_from_disk(str(demo_runs["hf"] / "prepared"))
    prepared.select([]).save_to_disk(str(tmp_path / "empty"), num_shards=1)
    with pytest.raises(ValueError, match="is empty"):
        run(tmp_path / "b", "--dataset_dir", str(tmp_path / "empty"))
    fold_zero_test = set(json.loads((demo_runs["hf"] / "results.json").read_text())["folds"][0]["test_speakers"])
    no_sad = prepared.filter(lambda s, y: not (s in fold_zero_test and y == 3), input_columns=["speaker", "label"])
    no_sad.save_to_disk(str(tmp_path / "no_sad"))
    with pytest.raises(ValueError, match=r"Fold [0-9] .* split has no example of \['sad'\]"):
        run(tmp_path / "c", "--dataset_dir", str(tmp_path / "no_sad"))
    with pytest.raises(ValueError, match="--trainer must be one of"):
        run(tmp_path / "d", "--trainer", "keras")
    assert not any((tmp_path / name / "fold_0").exists() for name in "abcd")


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
