"""Load what a `tft-ser` command names: the torch device and the model, or a one-line error saying why not."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from .classifier import EmotionClassifier
from .exit_codes import ModelError, UsageError, first_line

HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")  # `owner/name`: anything else that is not a folder is a missing folder


def device_from_option(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise UsageError(f"--device {name!r}: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name!r}: no CUDA device is available here (use --device cpu)")
    return device


def load_classifier(model: str, device: torch.device, trust_remote_code: bool, batch_size: int) -> EmotionClassifier:
    """The classifier of `model` (an export folder or a Hub id), or a `UsageError` / `ModelError` saying why not."""
    folder = Path(model).expanduser()
    if folder.is_file():
        raise UsageError(f"model {model!r} is a file; give the export folder that holds config.json")
    if not folder.exists() and not HUB_ID.match(model):
        raise UsageError(f"no model folder {model!r}")
    if folder.is_dir() and not (folder / "config.json").is_file():
        raise UsageError(f"model folder {model!r} has no config.json: not an exported model")
    try:
        classifier = EmotionClassifier.from_pretrained(
            str(folder) if folder.exists() else model, device=str(device), trust_remote_code=trust_remote_code,
            batch_size=batch_size,
        )  # fmt: skip
    except OSError as error:
        if not folder.exists():
            message = f"model {model!r} is not a local folder, and as a Hub id: {first_line(error)}"
            raise UsageError(message) from error
        raise ModelError(f"cannot read its files: {first_line(error)}") from error
    except Exception as error:  # safetensors, torch and config errors of broken files
        raise ModelError(f"cannot load it: {type(error).__name__}: {first_line(error)}") from error
    broken = [name for name, weight in classifier.model.state_dict().items() if not torch.isfinite(weight).all()]
    if broken:
        raise ModelError(f"NaN or Inf in {len(broken)} weight tensor(s), e.g. {', '.join(broken[:3])}")
    return classifier
