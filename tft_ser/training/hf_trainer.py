"""One fold through the `transformers` Trainer (runs unchanged under `accelerate launch` / torchrun)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from transformers import EarlyStoppingCallback, EvalPrediction, Trainer, TrainerCallback, TrainerState
from transformers.trainer_utils import get_last_checkpoint

from .checkpoints import load_weights_strict
from .fold_job import FoldJob, FoldOutcome
from .loss import ClassificationLoss, forward_with_loss
from .scoring import scalar_metrics


class TFTTrainer(Trainer):
    """Trainer whose loss is `loss` (`training/loss.py`, the Accelerate loop's too), whose evaluation and test
    batches use a collator without crops or masks, and whose checkpoint loads (best model at the end, resume) are
    strict: a missing or unexpected weight is an error."""

    loss_is_scaled_for_ga = False  # `loss` is each batch's mean: the Trainer divides it by the accumulation steps

    def __init__(self, *args, eval_data_collator=None, loss: ClassificationLoss | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.eval_data_collator = eval_data_collator
        self.loss = loss or ClassificationLoss(label_smoothing=self.args.label_smoothing_factor)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, outputs = forward_with_loss(model, inputs, self.loss)
        return (loss, outputs) if return_outputs else loss

    @contextlib.contextmanager
    def _eval_collator(self) -> Iterator[None]:
        train_collator, self.data_collator = self.data_collator, self.eval_data_collator
        try:
            yield
        finally:
            self.data_collator = train_collator

    def _load_best_model(self) -> None:
        if self.is_deepspeed_enabled or self.is_fsdp_enabled:  # pragma: no cover - sharded formats
            return super()._load_best_model()
        load_weights_strict(self.model, self.state.best_model_checkpoint)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        if self.is_deepspeed_enabled or self.is_fsdp_enabled:  # pragma: no cover - sharded formats
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        load_weights_strict(model if model is not None else self.model, resume_from_checkpoint)

    def get_eval_dataloader(self, eval_dataset=None):
        with self._eval_collator():
            return super().get_eval_dataloader(eval_dataset)

    def get_test_dataloader(self, test_dataset):
        with self._eval_collator():
            return super().get_test_dataloader(test_dataset)


class StepCounter(TrainerCallback):
    """Counts the optimizer steps this process takes: evidence of where a resumed run continued."""

    def __init__(self) -> None:
        self.steps = 0

    def on_step_end(self, args, state, control, **kwargs) -> None:
        self.steps += 1


def train_fold_with_trainer(job: FoldJob) -> FoldOutcome:
    has_validation = len(job.validation) > 0
    args = dataclasses.replace(
        job.args,
        output_dir=str(job.checkpoint_dir),
        eval_strategy=job.args.eval_strategy if has_validation else "no",
        push_to_hub=False,
        load_best_model_at_end=job.args.load_best_model_at_end and has_validation,
    )
    checkpoint = get_last_checkpoint(str(job.checkpoint_dir)) if job.resume and job.checkpoint_dir.is_dir() else None
    counter = StepCounter()
    callbacks = [counter]
    if job.args.early_stopping_patience and has_validation:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=job.args.early_stopping_patience))

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        return scalar_metrics(np.argmax(prediction.predictions, -1), prediction.label_ids, job.num_labels)

    trainer = TFTTrainer(
        model=job.model,
        args=args,
        train_dataset=job.train,
        eval_dataset=job.validation if has_validation else None,
        data_collator=job.train_collator,
        eval_data_collator=job.eval_collator,
        loss=job.loss,
        compute_metrics=compute_metrics,
        callbacks=callbacks,
    )
    trainer.train(resume_from_checkpoint=checkpoint)
    test = trainer.predict(job.test)
    return FoldOutcome(
        model=trainer.model,
        test_predictions=np.argmax(test.predictions, -1),
        test_references=test.label_ids,
        best_epoch=_best_epoch(trainer) if has_validation else None,
        history=_history(trainer.state.log_history),
        resumed_from=_checkpoint_position(checkpoint),
        steps_run=counter.steps,
        global_step=trainer.state.global_step,
    )


def _checkpoint_position(checkpoint: str | None) -> dict | None:
    if checkpoint is None:
        return None
    state = TrainerState.load_from_json(f"{checkpoint}/trainer_state.json")
    return {"checkpoint": Path(checkpoint).name, "epoch": round(state.epoch), "global_step": state.global_step}


def _best_epoch(trainer: Trainer) -> int | None:
    best = trainer.state.best_model_checkpoint
    for entry in trainer.state.log_history:
        if "eval_ua" in entry and best and best.endswith(f"checkpoint-{entry['step']}"):
            return round(entry["epoch"])
    return None


def _history(log_history: list[dict]) -> list[dict]:
    """Per-epoch rows of training loss and validation metrics from the Trainer's log."""
    rows: dict[int, dict] = {}
    for entry in log_history:
        if "epoch" not in entry:
            continue
        row = rows.setdefault(round(entry["epoch"]), {"epoch": round(entry["epoch"])})
        if "loss" in entry:
            row["train_loss"] = entry["loss"]
        for key in ("eval_loss", "eval_ua", "eval_wa"):
            if key in entry:
                row[key] = entry[key]
    return [rows[epoch] for epoch in sorted(rows)]
