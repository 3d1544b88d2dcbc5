"""run_train.py on any dataset `datasets.load_dataset` reads (`--dataset_name`, here local audiofolders of real CASIA
clips), and evaluation only (`--do_train false --model_name_or_path EXPORT`)."""

import json
import shutil
from pathlib import Path

import pytest
from test_run_train import TINY

from tft_ser.training import run_train

SPEAKERS = ("liuchanhg", "wangzhe", "zhaoquanyin")
EMOTIONS = ("angry", "sad")
COMMON = ["--config_overrides", TINY, "--num_train_epochs", "1", "--report_to", "none",
          "--per_device_train_batch_size", "8", "--learning_rate", "1e-3", "--warmup_steps", "0"]  # fmt: skip


def audiofolder(root: Path, casia: Path, speakers: tuple[str, ...], per_class: int = 3, broken: bool = False) -> Path:
    """An audiofolder of CASIA clips: the WAVs and a metadata.csv (file_name,label,speaker); labels as strings, one
    capitalised (`Sad`) to show that labels are normalised; `broken`: one 0-byte file the preparation must skip."""
    root.mkdir(parents=True)
    lines = ["file_name,label,speaker"]
    for speaker in speakers:
        for emotion in EMOTIONS:
            for index, clip in enumerate(sorted((casia / speaker / emotion).glob("*.wav"))[:per_class]):
                name = f"{speaker}_{emotion}_{clip.name}"
                shutil.copyfile(clip, root / name)  # into tmp_path only, never into the repository
                lines.append(f"{name},{'Sad' if emotion == 'sad' and index == 0 else emotion},{speaker}")
    if broken:
        (root / "broken.wav").write_bytes(b"")
        lines.append(f"broken.wav,angry,{speakers[0]}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def folds_run(corpora, tmp_path_factory) -> tuple[Path, Path, dict]:
    """Speaker-independent folds of an audiofolder without an eval split: (folder, output, results)."""
    root = tmp_path_factory.mktemp("named")
    folder = audiofolder(root / "casia_clips", corpora / "casia", SPEAKERS, per_class=6, broken=True)
    output = root / "run"
    results = run_train.main(["--dataset_name", str(folder), "--num_folds", "3", "--folds", "0",
                              "--output_dir", str(output), *COMMON, "--num_train_epochs", "8",
                              "--per_device_train_batch_size", "4", "--learning_rate", "3e-3",
                              "--validation_speakers", "0"])  # fmt: skip
    return folder, output, results


def test_folder_dataset_trains_speaker_independent_folds(folds_run):
    _, output, results = folds_run
    assert results["corpus"] == "casia_clips" and results["protocol"] == "k_fold_by_speaker"
    assert results["label_names"] == ["angry", "sad"] and results["num_clips"] == 3 * 2 * 6
    [fold] = results["folds"]
    assert len(fold["test_speakers"]) == 1 and not set(fold["test_speakers"]) & set(fold["train_speakers"])
    assert fold["num_test"] == 12 and sum(map(sum, fold["test"]["confusion_matrix"])) == 12
    report = json.loads((output / "prepared" / "train" / "preparation_report.json").read_text())
    assert report["num_skipped"] == 1 and report["skipped"][0]["reason"] == "empty"  # what was skipped and why
    assert "broken.wav" in report["skipped"][0]["path"]
    assert report["label_spellings"] == {"Sad": "sad"}  # string labels normalised into one ClassLabel
    assert (output / "export" / "model.safetensors").is_file()
    config = json.loads((output / "export" / "config.json").read_text())
    assert config["id2label"] == {"0": "angry", "1": "sad"}


def test_eval_split_is_the_test_split(corpora, tmp_path):
    train = audiofolder(tmp_path / "data" / "train", corpora / "casia", SPEAKERS[:2], per_class=2)
    audiofolder(tmp_path / "data" / "validation", corpora / "casia", SPEAKERS[2:], per_class=2)
    assert train.parent == tmp_path / "data"
    results = run_train.main(["--dataset_name", str(tmp_path / "data"), "--output_dir", str(tmp_path / "run"),
                              "--max_eval_samples", "3", *COMMON])  # fmt: skip
    assert results["protocol"] == "eval_split"
    [fold] = results["folds"]
    assert fold["name"] == "test=validation" and fold["test_speakers"] == ["zhaoquanyin"]
    assert fold["num_test"] == 3  # --max_eval_samples
    assert len(fold["validation_speakers"]) == 1 and len(fold["train_speakers"]) == 1
    assert (tmp_path / "run" / "prepared" / "eval" / "preparation_report.json").is_file()


def test_evaluation_only_scores_the_export_as_the_training_run_did(folds_run, tmp_path, capsys):
    folder, output, results = folds_run
    evaluated = run_train.main(["--dataset_name", str(folder), "--num_folds", "3", "--folds", "0",
                                "--do_train", "false", "--model_name_or_path", str(output / "export"),
                                "--output_dir", str(tmp_path / "eval"), "--report_to", "none"])  # fmt: skip
    assert evaluated["mode"] == "evaluation" and "evaluation only of" in capsys.readouterr().out
    [fold] = evaluated["folds"]
    trained = results["folds"][0]["test"]["confusion_matrix"]
    assert all(sum(column) for column in zip(*trained, strict=True)), "a one-class model cannot show the extractor"
    assert fold["test"] == results["folds"][0]["test"]  # the exported fold 0 model, on its own test speaker
    assert fold["history"] == [] and fold["steps_run"] == 0
    saved = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert saved["folds"][0]["test"]["confusion_matrix"] == fold["test"]["confusion_matrix"]
    assert (tmp_path / "eval" / "fold_0" / "confusion_matrix.png").is_file()
    assert (tmp_path / "eval" / "results.md").is_file() and (tmp_path / "eval" / "confusion_matrix.png").is_file()
    assert not (tmp_path / "eval" / "export").exists() and not (tmp_path / "eval" / "fold_0" / "model").exists()
