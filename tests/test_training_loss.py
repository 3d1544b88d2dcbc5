"""The one training loss: cross-entropy in float32 with class weights and label smoothing, for the TFT and the AST
baseline, in both training paths."""

import re

import numpy as np
import pytest
import torch
from test_run_train import TINY, run
from transformers import TrainingArguments

import tft_ser.training.accelerate_loop
import tft_ser.training.hf_trainer
import tft_ser.training.loss
from tft_ser.training.arguments import ModelArguments
from tft_ser.training.data import SpeechEmotionCollator
from tft_ser.training.hf_trainer import TFTTrainer
from tft_ser.training.loss import ClassificationLoss, forward_with_loss, inverse_frequency_weights
from tft_ser.training.models import SPEAKER_ADAPTIVE_FUNCTIONALS_WEIGHT, build_model_and_extractor

WEIGHTS = [1.0, 2.0, 3.0]
OVERRIDES = {"tft": TINY, "ast": "hidden_size=32,num_attention_heads=2,intermediate_size=64,num_hidden_layers=1"}


def test_loss_is_weighted_smoothed_cross_entropy_in_float32():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0], [1.0, 1.0, 1.0]])
    labels = torch.tensor([0, 2, 1])
    loss = ClassificationLoss(WEIGHTS, 0.2)
    expected = torch.nn.functional.cross_entropy(logits, labels, weight=torch.tensor(WEIGHTS), label_smoothing=0.2)
    torch.testing.assert_close(loss(logits, labels), expected)
    half = loss(logits.bfloat16(), labels)
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, loss(logits.bfloat16().float(), labels))
    torch.testing.assert_close(ClassificationLoss()(logits, labels), torch.nn.functional.cross_entropy(logits, labels))
    with pytest.raises(ValueError, match="2 class weights for 3 classes"):
        ClassificationLoss([1.0, 2.0])(logits, labels)
    assert inverse_frequency_weights([0, 0, 1, 2, 2, 2], 3) == pytest.approx([1.0, 2.0, 2 / 3])


@pytest.mark.parametrize("model_type", ["tft", "ast"])
def test_the_trainer_and_the_accelerate_loop_train_each_model_on_that_loss(model_type, tmp_path):
    model_args = ModelArguments(model_type=model_type, config_overrides=OVERRIDES[model_type])
    model, extractor = build_model_and_extractor(model_args, ["a", "b", "c"])
    assert not hasattr(model.config, "class_weights") and not hasattr(model.config, "label_smoothing")
    rng = np.random.default_rng(0)
    examples = [
        {"audio": (0.1 * rng.standard_normal(8000 + 2000 * i)).astype(np.float32), "label": i % 3} for i in range(4)
    ]
    batch = SpeechEmotionCollator(extractor, train=False, model_type=model_type)(examples)
    model.eval()
    with torch.no_grad():
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        expected = torch.nn.functional.cross_entropy(
            logits, batch["labels"], weight=torch.tensor(WEIGHTS), label_smoothing=0.2
        )
        args = TrainingArguments(output_dir=str(tmp_path), report_to="none", label_smoothing_factor=0.2, use_cpu=True)
        trainer = TFTTrainer(model=model, args=args, loss=ClassificationLoss(WEIGHTS, 0.2))
        loss, outputs = trainer.compute_loss(model, dict(batch), return_outputs=True)
        torch.testing.assert_close(loss, expected)
        assert outputs.loss is None  # the model computes no loss of its own
        torch.testing.assert_close(forward_with_loss(model, batch, ClassificationLoss(WEIGHTS, 0.2))[0], expected)
    assert TFTTrainer(model=model, args=args).loss == ClassificationLoss(None, 0.2)  # --label_smoothing_factor
    # one function: what the Trainer's compute_loss calls is what the Accelerate loop calls
    assert tft_ser.training.hf_trainer.forward_with_loss is tft_ser.training.accelerate_loop.forward_with_loss
    assert tft_ser.training.accelerate_loop.forward_with_loss is tft_ser.training.loss.forward_with_loss


@pytest.mark.parametrize("trainer", ["hf", "accelerate"])
def test_runs_train_and_validate_with_class_weights_and_label_smoothing(tmp_path, trainer, monkeypatch):
    seen = []
    plain_call = ClassificationLoss.__call__

    def spy(self, logits, labels):
        seen.append((self.class_weights, self.label_smoothing, torch.is_grad_enabled()))
        return plain_call(self, logits, labels)

    monkeypatch.setattr(ClassificationLoss, "__call__", spy)
    options = ["--class_balanced_loss", "--label_smoothing_factor", "0.1"]
    results = run(tmp_path, "--trainer", trainer, "--folds", "0", "--num_train_epochs", "1", *options)
    recorded = results["arguments"]["training"]
    assert (recorded["class_balanced_loss"], recorded["label_smoothing_factor"]) == (True, 0.1)
    weights = {tuple(weights) for weights, _, _ in seen}
    assert len(weights) == 1 and len(next(iter(weights))) == 4  # one fold: its training split's weights, 4 classes
    assert {smoothing for _, smoothing, _ in seen} == {0.1}
    assert {grad for _, _, grad in seen} == {True, False}  # training steps and validation batches


def refused(capsys, output, *options: str) -> str:
    """run_train.py's one error line for `options` (exit code 2, before any fold is trained)."""
    capsys.readouterr()
    with pytest.raises(SystemExit, match="2"):
        run(output, *options)
    assert not list(output.glob("fold_*"))
    [line] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("run_train.py: error: ")]
    return line


def test_removed_config_fields_are_refused(tmp_path, capsys):
    line = refused(capsys, tmp_path / "tft", "--folds", "0", "--config_overrides", f"{TINY},label_smoothing=0.1")
    assert re.search(r"has no field \['label_smoothing'\].*--label_smoothing_factor", line), line
    line = refused(
        capsys, tmp_path / "ast", "--folds", "0", "--model_type", "ast", "--config_overrides", "class_weights=1"
    )
    assert "has no field ['class_weights']" in line
    line = refused(capsys, tmp_path / "design", "--folds", "0", "--config_overrides", f"{TINY},fusion_type=cross")
    assert "--config_overrides" in line and "8eb65da" in line  # a rejected design: the config's own error
    assert "--label_smoothing_factor must be in" in refused(capsys, tmp_path / "bad", "--label_smoothing_factor", "1.5")


def test_a_new_tft_weighs_its_functionals_head_by_the_training_normalisation():
    labels = ["a", "b", "c"]
    assert build_model_and_extractor(ModelArguments(), labels)[0].config.functionals_weight == 1.0
    speaker = build_model_and_extractor(ModelArguments(normalization="speaker"), labels)[0]
    assert speaker.config.functionals_weight == SPEAKER_ADAPTIVE_FUNCTIONALS_WEIGHT == 2.0
    chosen = ModelArguments(normalization="speaker", config_overrides="functionals_weight=2")
    assert build_model_and_extractor(chosen, labels)[0].config.functionals_weight == 2.0  # an override wins
