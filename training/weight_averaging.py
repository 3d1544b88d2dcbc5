"""Tail weight averaging (`--average_last_epochs N`): the model tested is the mean of the weights at the end of
each of the last N epochs (`torch.optim.swa_utils.AveragedModel`), instead of the last or best epoch's."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel
from transformers import TrainerCallback

from .checkpoints import write_atomically

AVERAGE_FILE = "averaged_weights.pt"  # in each checkpoint folder, so a resumed fold averages the same epochs


class EpochAverage:
    """The running mean of a model's weights (and buffers) over the last `last` of `epochs` epochs."""

    def __init__(self, model: torch.nn.Module, epochs: float, last: int) -> None:
        self.total = math.ceil(epochs)
        if not 1 <= last <= self.total:
            raise ValueError(f"--average_last_epochs must be in [1, {self.total}] (the epochs per fold), got {last}.")
        self.first = self.total - last + 1  # first averaged epoch
        self.averaged = AveragedModel(model, use_buffers=True)

    @property
    def epochs(self) -> list[int]:
        """The epochs averaged so far."""
        return list(range(self.first, self.first + int(self.averaged.n_averaged)))

    def update(self, model: torch.nn.Module, epoch: int) -> None:
        """Add `model`'s weights at the end of `epoch` (1-based) if it is one of the averaged epochs."""
        if epoch >= self.first:
            self.averaged.update_parameters(model)

    def apply_to(self, model: torch.nn.Module) -> None:
        """Copy the averaged weights into `model` (strictly: every weight)."""
        if int(self.averaged.n_averaged) == 0:
            raise RuntimeError(f"No epoch was averaged: training ended before epoch {self.first}.")
        model.load_state_dict(self.averaged.module.state_dict(), strict=True)

    def save(self, folder: str | Path) -> None:
        write_atomically(Path(folder) / AVERAGE_FILE, lambda path: torch.save(self.averaged.state_dict(), path))

    def load(self, folder: str | Path, epoch: int) -> None:
        """Restore the average saved with the checkpoint of `epoch` (nothing to restore before the first averaged
        epoch; a later checkpoint without it, e.g. one killed while saving, cannot be resumed)."""
        path = Path(folder) / AVERAGE_FILE
        if path.is_file():
            self.averaged.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        elif epoch >= self.first:
            raise RuntimeError(
                f"{folder} (epoch {epoch}) has no {AVERAGE_FILE}, but epochs from {self.first} on are averaged: the "
                "run was stopped while saving it. Delete that checkpoint folder and resume from the one before."
            )


class EpochAverageCallback(TrainerCallback):
    """`EpochAverage` inside the `Trainer`: updated at each epoch's end, saved with every checkpoint."""

    def __init__(self, average: EpochAverage, resume_from: str | None = None) -> None:
        self.average = average
        if resume_from:
            state = json.loads((Path(resume_from) / "trainer_state.json").read_text())
            average.load(resume_from, round(state["epoch"]))

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        self.average.update(model, round(state.epoch))

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.average.save(Path(args.output_dir) / f"checkpoint-{state.global_step}")
