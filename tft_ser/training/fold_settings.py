"""What a fold was trained with (`fold_k/fold_settings.json`), so that a later run in the same `--output_dir` reuses a
finished fold, or resumes an unfinished one, only if it would train the fold with the same settings."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

from transformers import AutoConfig, PretrainedConfig
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from .arguments import DataArguments, ModelArguments, TFTTrainingArguments, UsageError

logger = logging.getLogger(__name__)
FOLD_SETTINGS = "fold_settings.json"
# written by saving or by the library, not chosen by the run
VOLATILE_CONFIG_KEYS = ("architectures", "auto_map", "transformers_version", "_name_or_path", "dtype", "torch_dtype")
TRAINING_KEYS = (
    "trainer", "learning_rate", "weight_decay", "warmup_steps", "lr_scheduler_type", "num_train_epochs",
    "per_device_train_batch_size", "gradient_accumulation_steps", "early_stopping_patience", "bf16", "fp16",
    "torch_compile", "seed", "max_grad_norm", "class_balanced_loss", "label_smoothing_factor",
)  # fmt: skip


def training_arguments(args: TFTTrainingArguments) -> dict:
    """The training arguments that change what a fold learns (recorded in `results.json` too)."""
    return {key: getattr(args, key) for key in TRAINING_KEYS}


def fold_settings(
    model_args: ModelArguments, data_args: DataArguments, args: TFTTrainingArguments, config: PretrainedConfig | None
) -> dict:
    """A fold's arguments (all but `--folds`, which only selects) and the config of the model it trains (None when
    it fine-tunes a checkpoint, named by its arguments, or only evaluates one)."""
    data = {key: value for key, value in asdict(data_args).items() if key != "folds"}
    training = {**training_arguments(args), "do_train": args.do_train}
    settings = {"arguments": {"model": asdict(model_args), "data": data, "training": training}}
    settings["config"] = _comparable(config) if config is not None else None
    return json.loads(json.dumps(settings))  # as read back from the file


def save_fold_settings(fold_dir: Path, settings: dict) -> None:
    fold_dir.mkdir(parents=True, exist_ok=True)
    (fold_dir / FOLD_SETTINGS).write_text(json.dumps(settings, indent=1))


def check_fold_settings(fold_dir: Path, settings: dict, action: str) -> None:
    """`UsageError` if the fold in `fold_dir` was trained with other settings than `settings` (the run about to
    `action` it: "reuse" or "resume"). Arguments added since the fold was saved are not compared; its config is read
    back through its class, so that a key added since takes the value that old configs load with.

    A fold saved before this record existed (tft-ser < 0.8.0) is checked on its saved model's config alone, with a
    warning; one without a saved model (an evaluation-only run) is reused unchecked, with a warning."""
    path = fold_dir / FOLD_SETTINGS
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("config") is not None:
            saved["config"] = _comparable(CONFIG_MAPPING[saved["config"]["model_type"]].from_dict(saved["config"]))
    elif (fold_dir / "model" / "config.json").is_file() and settings["config"] is not None:
        saved = {"config": _comparable(AutoConfig.from_pretrained(fold_dir / "model"))}
        logger.warning(f"{fold_dir} records no arguments (saved before tft-ser 0.8.0): only its model's config is "
                       "compared with this run's.")  # fmt: skip
    else:
        logger.warning(f"{fold_dir} records no settings (saved before tft-ser 0.8.0): {action}d unchecked.")
        return
    current = {key: settings[key] for key in saved}
    found = _differences(saved, current)
    if found:
        shown = "; ".join(found[:8]) + (f"; and {len(found) - 8} more" if len(found) > 8 else "")
        raise UsageError(
            f"{fold_dir} was trained with other settings than this run's, so it cannot be {action}d ({shown}). Use "
            f"another --output_dir, or delete {fold_dir} to train the fold again."
        )


def _comparable(config: PretrainedConfig) -> dict:
    """The config's values as its JSON file holds them, without those the run did not choose."""
    values = {key: value for key, value in config.to_dict().items() if key not in VOLATILE_CONFIG_KEYS}
    return json.loads(json.dumps(values))


def _differences(saved: dict, current: dict) -> list[str]:
    """'--option: saved X, this run Y' or 'config.key: ...' for each value that differs; options only where both
    sides have them (one added since is not compared)."""
    pairs = []
    for group, options in saved.get("arguments", {}).items():
        now = current["arguments"].get(group, {})
        pairs += [(f"--{key}", options[key], now[key]) for key in sorted(options.keys() & now.keys())]
    if "config" in saved:
        old, new = saved["config"], current["config"]
        if old is None or new is None:  # a checkpoint fine-tuned or evaluated, against a new model
            pairs.append(("config", old, new))
        else:
            pairs += [(f"config.{key}", old.get(key), new.get(key)) for key in sorted(old.keys() | new.keys())]
    return [f"{name}: saved {was!r}, this run {now!r}" for name, was, now in pairs if was != now]
