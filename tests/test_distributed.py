"""run_train.py under `torchrun --nproc_per_node 2` on the CPU (gloo DDP), both training paths."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import torch
from conftest import REPO_ROOT
from hub_stand_in import HubStandIn
from test_hub_push import REPO_ID, check_pushed_model, hub_env
from test_run_train import TINY, last_checkpoint, wait_for_checkpoint
from torch.utils.data import DataLoader

from modeling_tft import TFTFeatureExtractor, TFTForAudioClassification
from tft_ser.training.arguments import DataArguments
from tft_ser.training.data import SpeechEmotionCollator, lazy_split, select_folds
from tft_ser.training.scoring import score

EVAL_BATCH = 5  # 24 test, 12 validation clips: not multiples of 2 processes x 5, so the sampler pads
DEMO = {"demo_speakers": 6, "demo_utterances_per_class": 3, "num_folds": 3}
ARGUMENTS = [
    *(item for key, value in DEMO.items() for item in (f"--{key}", str(value))),
    "--config_overrides", TINY, "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", str(EVAL_BATCH),
    "--report_to", "none", "--learning_rate", "1e-3", "--warmup_steps", "0", "--folds", "0", "--num_train_epochs", "1",
]  # fmt: skip


def torchrun_command(logs: Path, *arguments: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--log-dir", str(logs),
            "--redirects", "3", "run_train.py", *arguments]  # fmt: skip


def torchrun(
    tmp_path: Path, *arguments: str, timeout: float = 300, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Two CPU processes; returns the launcher's result and each rank's own stdout + stderr."""
    logs = tmp_path / "rank_logs"
    env = env or {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    command = torchrun_command(logs, *arguments)
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    ranks = []
    for rank in range(2):
        files = sorted(logs.glob(f"*/attempt_0/{rank}/std*.log"))
        ranks.append("".join(path.read_text() for path in files))
    return done, ranks


def evaluate_in_one_process(output: Path, fold_index: int, split: str) -> dict:
    """The saved fold model scored on one split of the fold in this (single) process, in the run's batches."""
    dataset = datasets.load_from_disk(str(output / "prepared"))
    fold = select_folds(dataset, DataArguments(**DEMO, folds=str(fold_index)), seed=42)[0]
    model_dir = output / f"fold_{fold_index}" / "model"
    model = TFTForAudioClassification.from_pretrained(model_dir).eval()
    collator = SpeechEmotionCollator(TFTFeatureExtractor.from_pretrained(model_dir), train=False)
    predictions = []
    with torch.no_grad():
        for batch in DataLoader(lazy_split(fold.splits[split]), EVAL_BATCH, collate_fn=collator):
            batch.pop("labels")
            predictions.append(model(**batch).logits.argmax(-1))
    return score(torch.cat(predictions).numpy(), fold.splits[split]["label"][:], model.config.num_labels)


def check_two_process_run(output: Path, done: subprocess.CompletedProcess, main_log: str, other_log: str) -> None:
    """Exit 0; every test clip scored once, as in one process; the main process alone prepared and exported."""
    assert done.returncode == 0, done.stderr[-3000:] + main_log[-3000:] + other_log[-3000:]
    fold = json.loads((output / "results.json").read_text())["folds"][0]
    assert fold["num_test"] == 24 and sum(map(sum, fold["test"]["confusion_matrix"])) == 24
    assert fold["test"] == evaluate_in_one_process(output, 0, "test")
    assert fold["validation_ua"] == evaluate_in_one_process(output, 0, "validation")["ua"]  # one epoch: that model
    for line in ("Saved 72 rows", "Fold 0 (", "Export (Hub-ready repository) written", "pipeline("):
        assert main_log.count(line) == 1, line
        assert line not in other_log, line
    assert "Traceback" not in main_log + other_log
    assert (output / "export" / "model.safetensors").is_file()


@pytest.mark.slow
def test_trainer_path_with_two_processes(tmp_path):
    output = tmp_path / "run"
    done, (main_log, other_log) = torchrun(tmp_path, "--output_dir", str(output), "--trainer", "hf", *ARGUMENTS)
    check_two_process_run(output, done, main_log, other_log)


@pytest.mark.slow
def test_accelerate_path_with_two_processes_pushes_once(tmp_path):
    """Also `--push_to_hub` to the Hub stand-in: one push, from the main process, that loads back."""
    output = tmp_path / "run"
    push = ["--push_to_hub", "--hub_model_id", REPO_ID, "--hub_token", "hf_stand_in"]
    with HubStandIn() as hub:
        env = hub_env(hub.url, tmp_path / "hf_train")
        arguments = ("--output_dir", str(output), "--trainer", "accelerate", *ARGUMENTS, *push)
        done, (main_log, other_log) = torchrun(tmp_path, *arguments, env=env)
        check_two_process_run(output, done, main_log, other_log)
        assert hub.requests.count(f"POST /api/models/{REPO_ID}/commit/main") == 1
        check_pushed_model(hub, output / "export", tmp_path)


def kill_everything(launcher: int, marker: str) -> None:
    """SIGKILL the launcher's process group and every process whose command line names `marker` (the ranks:
    torchrun starts each in a session of its own)."""
    os.killpg(launcher, signal.SIGKILL)
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in path.read_bytes().decode(errors="replace"):
                os.kill(int(path.parent.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass  # ended meanwhile


@pytest.mark.slow
def test_two_process_run_killed_and_resumed_gives_the_same_metrics(tmp_path):
    """SIGKILL of the launcher and both ranks after a checkpoint; the resumed run continues from that checkpoint's
    optimizer step and ends as an uninterrupted one."""
    arguments = [*ARGUMENTS[:-1], "3", "--trainer", "hf", "--save_total_limit", "3"]  # 3 epochs, not 1
    straight = tmp_path / "straight"
    done, logs = torchrun(tmp_path / "a", "--output_dir", str(straight), *arguments)
    assert done.returncode == 0, done.stderr[-3000:] + logs[0][-3000:]
    expected = json.loads((straight / "results.json").read_text())["folds"][0]
    assert expected["resumed_from"] is None and expected["steps_run"] == expected["global_step"] > 0

    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    command = torchrun_command(tmp_path / "b" / "rank_logs", "--output_dir", str(killed), *arguments)
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    checkpoints = killed / "fold_0" / "checkpoints"
    wait_for_checkpoint(process, checkpoints, "checkpoint-*/trainer_state.json")
    kill_everything(process.pid, str(killed))
    process.wait()
    assert not (killed / "fold_0" / "fold_results.json").exists(), "killed too late: the fold had finished"
    saved = {path: path.stat().st_mtime_ns for path in checkpoints.glob("checkpoint-*/trainer_state.json")}
    checkpoint, step = last_checkpoint(checkpoints, "hf")
    assert 0 < step < expected["global_step"]

    done, logs = torchrun(tmp_path / "c", "--output_dir", str(killed), *arguments, "--resume_from_checkpoint", "true")
    assert done.returncode == 0, done.stderr[-3000:] + logs[0][-3000:]
    resumed_run = json.loads((killed / "results.json").read_text())
    assert resumed_run["reused_folds"] == []  # resumed from a checkpoint, not reused
    resumed = resumed_run["folds"][0]
    assert all(path.stat().st_mtime_ns == mtime for path, mtime in saved.items())  # resumed after them, not redone
    assert resumed["resumed_from"] == {"checkpoint": checkpoint, "epoch": resumed["resumed_from"]["epoch"],
                                       "global_step": step}  # fmt: skip
    assert resumed["resumed_from"]["epoch"] >= 1
    assert resumed["steps_run"] == expected["global_step"] - step and resumed["global_step"] == expected["global_step"]
    assert resumed["test"] == expected["test"]
    assert [round(r["eval_ua"], 6) for r in resumed["history"]] == [round(r["eval_ua"], 6) for r in expected["history"]]


def test_a_failing_main_process_ends_the_run_with_its_error(tmp_path):
    """A run that fails (here every rank refuses the missing --data_dir, exit code 2) ends without a hang, and the
    launcher's report names the error; a main process failing while the other waits: the next case."""
    missing = tmp_path / "no_such_corpus"
    done, (main_log, _) = torchrun(
        tmp_path, "--output_dir", str(tmp_path / "run"), "--corpus", "casia", "--data_dir", str(missing), timeout=120
    )
    assert done.returncode != 0
    assert str(missing) in main_log
    assert "ChildFailedError" in done.stderr and str(missing) in done.stderr  # the launcher's report names it
    empty = tmp_path / "empty_corpus"  # exists, so the options pass; the main process fails preparing it (exit 1)
    empty.mkdir()
    done, (main_log, _) = torchrun(
        tmp_path / "b",
        "--output_dir",
        str(tmp_path / "run_b"),
        "--corpus",
        "casia",
        "--data_dir",
        str(empty),
        timeout=120,
    )
    assert done.returncode != 0 and "no usable utterance" in main_log
    assert "ChildFailedError" in done.stderr and "no usable utterance" in done.stderr
