"""One fold through a plain Accelerate training loop (`--trainer accelerate`).

Same data, collators, metric and outputs as the Trainer path. Each epoch ends with a checkpoint
(`accelerator.save_state` + `loop_state.json`); shuffling and dropout/crop/mask randomness are seeded per epoch,
so a resumed fold replays exactly what an uninterrupted one would. With `--dataloader_num_workers` > 0 the crops
and masks are drawn in the workers, whose seeds torch derives from the epoch's seed (other draws than with 0
workers, just as reproducible).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader, Dataset, RandomSampler
from tqdm.auto import tqdm
from transformers import get_scheduler

from .checkpoints import write_atomically
from .fold_job import FoldJob, FoldOutcome
from .loss import ClassificationLoss, forward_with_loss
from .scoring import scalar_metrics

STATE_FILE = "loop_state.json"


def train_fold_with_accelerate(job: FoldJob) -> FoldOutcome:
    args = job.args
    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "no"
    loggers = [args.report_to] if isinstance(args.report_to, str) else args.report_to or []
    accelerator = Accelerator(
        mixed_precision=precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with="tensorboard" if "tensorboard" in loggers else None,
        project_dir=str(job.fold_dir / "logs"),
        cpu=args.use_cpu,
    )
    model = torch.compile(job.model) if args.torch_compile else job.model
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    epochs = math.ceil(args.num_train_epochs)
    steps_per_epoch = math.ceil(len(job.train) / (args.per_device_train_batch_size * args.gradient_accumulation_steps))
    total_steps = steps_per_epoch * epochs
    scheduler = get_scheduler(
        args.lr_scheduler_type,
        optimizer,
        num_warmup_steps=args.get_warmup_steps(total_steps),
        num_training_steps=total_steps,
    )
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    if accelerator.log_with:
        accelerator.init_trackers("tft")
    eval_loader = _eval_loader(job, job.validation, accelerator) if len(job.validation) else None

    state = _resume(job, accelerator) if job.resume else _fresh_state()
    resumed_from = state.pop("resumed_from", None)
    steps_before = state["global_step"]
    for epoch in range(state["epoch"] + 1, epochs + 1):
        set_seed(args.seed + epoch)  # dropout, crops and masks of this epoch
        sampler = RandomSampler(job.train, generator=torch.Generator().manual_seed(args.seed + epoch))
        loader = accelerator.prepare(
            DataLoader(
                job.train,
                args.per_device_train_batch_size,
                sampler=sampler,
                collate_fn=job.train_collator,
                **_worker_options(args),
            )
        )
        train_loss, steps = _train_epoch(model, loader, optimizer, scheduler, accelerator, job, epoch)
        state["global_step"] += steps
        row = {"epoch": epoch, "train_loss": train_loss}
        if eval_loader is not None:
            predictions, references, loss = _predict(model, eval_loader, accelerator, job.loss)
            metrics = scalar_metrics(predictions, references, job.num_labels)
            row.update(eval_loss=loss, eval_ua=metrics["ua"], eval_wa=metrics["wa"])
            state["bad_epochs"] += 1
            if metrics["ua"] > state["best_ua"]:
                state.update(best_ua=metrics["ua"], best_epoch=epoch, bad_epochs=0)
                _save_best(accelerator, model, job.fold_dir / "best_weights")
        accelerator.log(row, step=epoch)
        state["history"].append(row)
        state["epoch"] = epoch
        _checkpoint(accelerator, job, state)
        patience = args.early_stopping_patience
        if patience and state["bad_epochs"] >= patience:
            accelerator.print(f"Early stopping after epoch {epoch}: no validation UA gain for {patience} epochs.")
            break

    if eval_loader is not None and args.load_best_model_at_end:
        accelerator.unwrap_model(model).load_state_dict(torch.load(job.fold_dir / "best_weights" / "model.pt"))
    predictions, references, _ = _predict(model, _eval_loader(job, job.test, accelerator), accelerator, job.loss)
    for tracker in accelerator.trackers:  # not `end_training()`: it destroys the process group the next fold needs
        tracker.finish()
    return FoldOutcome(
        model=accelerator.unwrap_model(model),
        test_predictions=predictions,
        test_references=references,
        best_epoch=state["best_epoch"],
        history=state["history"],
        resumed_from=resumed_from,
        steps_run=state["global_step"] - steps_before,
        global_step=state["global_step"],
    )


def _train_epoch(
    model, loader, optimizer, scheduler, accelerator: Accelerator, job: FoldJob, epoch: int
) -> tuple[float, int]:
    """One epoch: its mean training loss and the optimizer steps taken."""
    model.train()
    total, count, steps = 0.0, 0, 0
    for batch in tqdm(loader, desc=f"epoch {epoch}", disable=not accelerator.is_local_main_process, leave=False):
        with accelerator.accumulate(model):
            loss, _ = forward_with_loss(model, batch, job.loss)
            accelerator.backward(loss)
            if accelerator.sync_gradients and job.args.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), job.args.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        steps += accelerator.sync_gradients
        total += loss.item()
        count += 1
    return total / max(count, 1), steps


@torch.no_grad()
def _predict(
    model, loader, accelerator: Accelerator, loss_function: ClassificationLoss
) -> tuple[np.ndarray, np.ndarray, float]:
    model.eval()
    predictions, references, losses = [], [], []
    for batch in loader:
        batch_loss, output = forward_with_loss(model, batch, loss_function)
        batch_loss = batch_loss.detach().expand(len(batch["labels"]))  # one value per clip, like the Trainer's
        # without the clips that the distributed sampler repeats to even out the last batch
        logits, labels, loss = accelerator.gather_for_metrics((output.logits, batch["labels"], batch_loss))
        predictions.append(logits.argmax(-1).cpu())
        references.append(labels.cpu())
        losses.append(loss.float().cpu())
    return torch.cat(predictions).numpy(), torch.cat(references).numpy(), torch.cat(losses).mean().item()


def _eval_loader(job: FoldJob, data: Dataset, accelerator: Accelerator):
    loader = DataLoader(
        data, job.args.per_device_eval_batch_size, collate_fn=job.eval_collator, **_worker_options(job.args)
    )
    return accelerator.prepare(loader)


def _worker_options(args) -> dict:
    """The Trainer's DataLoader worker options: `--dataloader_num_workers` processes decode and featurise batches."""
    return {"num_workers": args.dataloader_num_workers, "prefetch_factor": args.dataloader_prefetch_factor}


def _save_best(accelerator: Accelerator, model, folder: Path) -> None:
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(accelerator.unwrap_model(model).state_dict(), folder / "model.pt")


def _checkpoint(accelerator: Accelerator, job: FoldJob, state: dict) -> None:
    """Save `epoch_N` (model, optimizer, scheduler, RNG); keep the newest `--save_total_limit` (all if None)."""
    folder = job.checkpoint_dir / f"epoch_{state['epoch']}"
    accelerator.save_state(str(folder))
    if accelerator.is_main_process:
        text = json.dumps(state, indent=1)  # written last and atomically: marks the checkpoint complete
        write_atomically(folder / STATE_FILE, lambda path: path.write_text(text))
        newest_first = sorted(job.checkpoint_dir.glob("epoch_*"), key=lambda p: int(p.name[6:]), reverse=True)
        for old in newest_first[job.args.save_total_limit or len(newest_first) :]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()


def _fresh_state() -> dict:
    return {"epoch": 0, "global_step": 0, "best_ua": -1.0, "best_epoch": None, "history": [], "bad_epochs": 0}


def _resume(job: FoldJob, accelerator: Accelerator) -> dict:
    checkpoints = sorted(job.checkpoint_dir.glob("epoch_*/" + STATE_FILE), key=lambda p: int(p.parent.name[6:]))
    if not checkpoints:
        return _fresh_state()
    folder = checkpoints[-1].parent
    accelerator.load_state(str(folder))
    state = {"global_step": 0, **json.loads(checkpoints[-1].read_text())}  # checkpoints before the counter: 0
    accelerator.print(f"Resuming from {folder}")
    state["resumed_from"] = {"checkpoint": folder.name, "epoch": state["epoch"], "global_step": state["global_step"]}
    return state
