"""Sharpness-aware minimisation: the gradient at the perturbed weights, in both training paths."""

import math

import pytest
import torch
from safetensors.torch import load_file
from test_run_train import run

import training.accelerate_loop
import training.hf_trainer
from dataset_scripts.prepare_demo import DEMO_LABELS
from training.sharpness import sharpness_aware


def test_gradient_is_taken_at_the_perturbed_weights_and_the_weights_come_back():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    inputs = torch.randn(16, 4)

    def loss_of(module: torch.nn.Module) -> torch.Tensor:
        return module(inputs).pow(2).mean()

    weights = [p.detach().clone() for p in model.parameters()]
    loss_of(model).backward()
    gradient = [p.grad.clone() for p in model.parameters()]
    norm = torch.sqrt(sum(g.pow(2).sum() for g in gradient))
    moved = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    with torch.no_grad():
        for target, weight, g in zip(moved.parameters(), weights, gradient, strict=True):
            target.copy_(weight + 0.1 * g / norm)
    loss_of(moved).backward()
    with sharpness_aware(model, 0.1):
        loss_of(model).backward()
    for param, weight, expected in zip(model.parameters(), weights, moved.parameters(), strict=True):
        torch.testing.assert_close(param.detach(), weight)  # moved back exactly
        torch.testing.assert_close(param.grad, expected.grad)  # the gradient left for the optimizer
    assert any(not torch.allclose(p.grad, g) for p, g in zip(model.parameters(), gradient, strict=True))


@pytest.mark.parametrize("trainer", ["hf", "accelerate"])
def test_both_training_paths_take_sharpness_aware_steps(tmp_path, trainer, monkeypatch):
    rhos = []

    def counted(model, rho):
        rhos.append(rho)
        return sharpness_aware(model, rho)

    monkeypatch.setattr(training.hf_trainer, "sharpness_aware", counted)
    monkeypatch.setattr(training.accelerate_loop, "sharpness_aware", counted)
    arguments = ["--trainer", trainer, "--folds", "0", "--num_train_epochs", "1"]
    plain = run(tmp_path / "plain", *arguments)
    assert rhos == []
    sharp = run(tmp_path / "sam", *arguments, "--sam_rho", "0.05")
    train_clips = len(sharp["folds"][0]["train_speakers"]) * 4 * len(DEMO_LABELS)  # 4 utterances per class
    assert rhos == [0.05] * math.ceil(train_clips / 8)  # every step of batch 8 (test_run_train's BASE)
    assert sharp["arguments"]["training"]["sam_rho"] == 0.05 and plain["arguments"]["training"]["sam_rho"] == 0.0
    assert sum(map(sum, sharp["folds"][0]["test"]["confusion_matrix"])) == sharp["folds"][0]["num_test"] > 0
    before = load_file(tmp_path / "plain" / "fold_0" / "model" / "model.safetensors")
    after = load_file(tmp_path / "sam" / "fold_0" / "model" / "model.safetensors")
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[name], after[name]) for name in before)  # same seed: SAM changed the steps
    with pytest.raises(ValueError, match="--sam_rho must be >= 0"):
        run(tmp_path / "bad", *arguments, "--sam_rho", "-0.1")
    with pytest.raises(ValueError, match="--gradient_accumulation_steps 1"):
        run(tmp_path / "bad", *arguments, "--sam_rho", "0.05", "--gradient_accumulation_steps", "2")
