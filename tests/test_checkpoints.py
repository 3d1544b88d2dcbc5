"""Strict checkpoint loading (the scored model is exactly the selected checkpoint, for TFT and the AST baseline) and
atomic checkpoint markers."""

import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_config_kwargs
from safetensors.torch import load_file, save_file
from transformers import ASTConfig, ASTForAudioClassification, TrainingArguments

from modeling_tft import TFTConfig, TFTForAudioClassification
from tft_ser.training import run_train
from tft_ser.training.checkpoints import (
    CheckpointMismatchError,
    load_pretrained_strict,
    load_weights_strict,
    write_atomically,
)
from tft_ser.training.hf_trainer import TFTTrainer

TINY_AST = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, num_mel_bins=16,
                max_length=60, num_labels=3)  # fmt: skip


def models() -> list[torch.nn.Module]:
    return [
        TFTForAudioClassification(TFTConfig(**tiny_config_kwargs())),
        ASTForAudioClassification(ASTConfig(**TINY_AST)),
    ]


def perturb(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key


@pytest.mark.parametrize("index", [0, 1], ids=["tft", "ast"])
def test_trainer_best_model_and_resume_loads_are_exact(index, tmp_path):
    model = models()[index]
    model.save_pretrained(tmp_path / "checkpoint")
    saved = load_file(tmp_path / "checkpoint" / "model.safetensors")
    reference = models()[index]
    reference.load_state_dict(model.state_dict())
    trainer = TFTTrainer(model=model, args=TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none"))
    if index == 1:  # the defect this guards against: the file's names are not the module's names
        assert not set(saved) <= set(model.state_dict())
    perturb(model)
    trainer.state.best_model_checkpoint = str(tmp_path / "checkpoint")
    trainer._load_best_model()
    assert_same_weights(model, reference)
    perturb(model)
    trainer._load_from_checkpoint(str(tmp_path / "checkpoint"))
    assert_same_weights(model, reference)


@pytest.mark.parametrize("index", [0, 1], ids=["tft", "ast"])
def test_missing_or_unexpected_weights_raise(index, tmp_path):
    model = models()[index]
    model.save_pretrained(tmp_path / "ok")
    state = load_file(tmp_path / "ok" / "model.safetensors")
    for name, edit in (
        ("missing", lambda s: s.pop(next(iter(s)))),
        ("unexpected", lambda s: s.update(extra=torch.zeros(1))),
    ):
        folder = tmp_path / name
        model.save_pretrained(folder)
        edited = dict(state)
        edit(edited)
        save_file(edited, folder / "model.safetensors", metadata={"format": "pt"})
        with pytest.raises(CheckpointMismatchError, match=f"{name}_keys"):
            load_weights_strict(models()[index], folder)
    with pytest.raises(CheckpointMismatchError, match="mismatched_keys"):
        load_pretrained_strict(type(model), tmp_path / "ok", num_labels=5, ignore_mismatched_sizes=True)
    loaded = load_pretrained_strict(type(model), tmp_path / "ok", allow_new_head=True, num_labels=5,
                                    ignore_mismatched_sizes=True)  # fmt: skip
    assert loaded.config.num_labels == 5


def test_ast_run_scores_exactly_the_best_validation_checkpoint(tmp_path):
    """End to end (Trainer): the fold's saved model, which was tested, equals the best epoch's checkpoint."""
    output = tmp_path / "run"
    results = run_train.main([
        "--output_dir", str(output), "--model_type", "ast", "--demo_speakers", "5", "--demo_utterances_per_class", "3",
        "--num_folds", "5", "--folds", "0", "--num_train_epochs", "3", "--report_to", "none",
        "--config_overrides", "hidden_size=32,num_attention_heads=2,intermediate_size=64,num_hidden_layers=1",
        "--per_device_train_batch_size", "8", "--learning_rate", "3e-3", "--save_total_limit", "3",
    ])  # fmt: skip
    fold = results["folds"][0]
    state = json.loads(max((output / "fold_0" / "checkpoints").glob("checkpoint-*/trainer_state.json"),
                           key=lambda p: int(p.parent.name.split("-")[1])).read_text())  # fmt: skip
    best = Path(state["best_model_checkpoint"])
    scored = load_pretrained_strict(ASTForAudioClassification, output / "fold_0" / "model")
    selected = load_pretrained_strict(ASTForAudioClassification, output / "fold_0" / "checkpoints" / best.name)
    assert_same_weights(scored, selected)
    last = max(best.parent.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    if last.name != best.name:  # then the tested encoder must not be the last epoch's (the old defect)
        final = load_pretrained_strict(ASTForAudioClassification, output / "fold_0" / "checkpoints" / last.name)
        key = "audio_spectrogram_transformer.layers.0.attention.q_proj.weight"
        assert not torch.equal(final.state_dict()[key], scored.state_dict()[key])
    assert fold["best_epoch"] == next(
        r["epoch"] for r in state["log_history"] if r.get("eval_ua") == state["best_metric"]
    )


def test_write_atomically_leaves_the_old_file_or_none_when_the_write_dies(tmp_path):
    target = tmp_path / "loop_state.json"

    def dies_half_way(path):
        path.write_text('{"epoch": ')  # a process killed in the middle of its write
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, dies_half_way)
    assert not target.exists()  # a resumed run finds no marker, not half of one
    write_atomically(target, lambda path: path.write_text('{"epoch": 1}'))
    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, dies_half_way)
    assert target.read_text() == '{"epoch": 1}'
