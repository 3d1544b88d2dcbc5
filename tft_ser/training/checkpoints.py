"""Strict weight loading: the model that is scored is exactly the checkpoint that was selected; atomic writes of
the files that mark a checkpoint complete."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import PretrainedConfig, PreTrainedModel

logger = logging.getLogger(__name__)


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """`write` a temporary file beside `path`, then rename it to `path`: a process killed meanwhile leaves the old
    file or none, never part of one (a resumed run trusts what it finds)."""
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    os.replace(temporary, path)


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's weights do not match the model they are loaded into."""


def load_pretrained_strict(
    model_class: type[PreTrainedModel], folder: str | Path, allow_new_head: bool = False, **kwargs
) -> PreTrainedModel:
    """`model_class.from_pretrained(folder)`, raising on any missing, unexpected or mismatched weight.

    With `allow_new_head=True` (fine-tuning with `ignore_mismatched_sizes`), weights whose shape changed with the
    label set are re-initialised as `from_pretrained` reports. A checkpoint of the bare backbone (saved from
    `model.base_model`, e.g. by `run_pretrain.py`) loads into a model with a head: every backbone weight must load,
    the head's are new. Every other problem still raises.
    """
    model, info = model_class.from_pretrained(folder, output_loading_info=True, **kwargs)
    checked = ("missing_keys", "unexpected_keys") + (() if allow_new_head else ("mismatched_keys",))
    problems = {key: sorted(str(k) for k in info.get(key) or []) for key in checked}
    if _is_backbone_checkpoint(model):  # a bare backbone (e.g. from run_pretrain.py): the head on top starts new
        prefix = f"{model.base_model_prefix}."
        new_head = [key for key in problems["missing_keys"] if not key.startswith(prefix)]
        problems["missing_keys"] = [key for key in problems["missing_keys"] if key.startswith(prefix)]
        logger.info(f"{folder} is a backbone checkpoint: {type(model).__name__}'s new head {new_head}")
    problems = {key: value for key, value in problems.items() if value}
    if info.get("error_msgs"):
        problems["error_msgs"] = list(info["error_msgs"])
    if problems:
        details = "; ".join(f"{key}: {value[:5]}{' ...' if len(value) > 5 else ''}" for key, value in problems.items())
        raise CheckpointMismatchError(f"{folder} does not match {model_class.__name__}: {details}")
    return model


def is_backbone_checkpoint(config: PretrainedConfig, backbone_class: type[PreTrainedModel]) -> bool:
    """Whether `config` is that of a checkpoint of `backbone_class` alone, with no head (`config.architectures`)."""
    return config.architectures == [backbone_class.__name__]


def _is_backbone_checkpoint(model: PreTrainedModel) -> bool:
    """Whether `model` (with a head) was loaded from a checkpoint of its own backbone alone."""
    base_model = getattr(model, model.base_model_prefix, None)
    return base_model is not None and base_model is not model and is_backbone_checkpoint(model.config, type(base_model))


def load_weights_strict(model: PreTrainedModel, folder: str | Path) -> None:
    """Copy the weights saved in `folder` (by `save_pretrained`) into `model`, in place and strictly.

    The checkpoint is read with `from_pretrained`, which maps the legacy parameter names that some
    `transformers` models still write (e.g. AST's `attention.attention.query` for `attention.q_proj`);
    `Trainer`'s own loader skips those silently (`load_state_dict(..., strict=False)`).
    """
    loaded = load_pretrained_strict(type(model), folder, config=model.config)
    with torch.no_grad():
        model.load_state_dict(loaded.state_dict(), strict=True)
