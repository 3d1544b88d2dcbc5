"""Command-line arguments of `run_train.py`, in the style of transformers' example scripts."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import PretrainedConfig, TrainingArguments

TRAINERS = ("hf", "accelerate")
MODEL_TYPES = ("tft", "ast")


def no_accelerator() -> bool:
    """True on a CPU-only machine (torch >= 2.6 knows every accelerator type; older ones check CUDA)."""
    accelerator = getattr(torch, "accelerator", None)
    return not (accelerator.is_available() if accelerator else torch.cuda.is_available())


def config_with_overrides(config: PretrainedConfig, overrides: str | None) -> PretrainedConfig:
    """`config` with `--config_overrides` ('key=value,...', as `update_from_string` reads them), built anew through
    its class so that the config's own checks run on the new values.

    A key the config has no field for is an error: the config's own one where its constructor refuses it (a design
    removed from `TFTConfig`, whose message names the commit that still builds it), else this function's.
    """
    if not overrides:
        return config
    given = dict(item.partition("=")[::2] for item in overrides.split(","))
    unknown = {key: _parsed(value) for key, value in given.items() if not hasattr(config, key)}
    if unknown:
        type(config)(**{**config.to_dict(), **unknown})
        raise ValueError(
            f"--config_overrides: {type(config).__name__} has no field {sorted(unknown)}. Class weights and label "
            "smoothing are training options (--class_balanced_loss, --label_smoothing_factor)."
        )
    config.update_from_string(overrides)
    return type(config)(**config.to_dict())


def _parsed(value: str) -> bool | int | float | str:
    """An override's value as `update_from_string` would type it for a field of that kind."""
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


@dataclass
class ModelArguments:
    """Which model to build or fine-tune, and its feature extractor."""

    model_type: str = field(
        default="tft", metadata={"help": "'tft', or 'ast' (equal-size transformers AST baseline, same features)."}
    )
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Fine-tune this --model_type checkpoint (local folder or Hub id) instead of training anew."},
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Config overrides of a new model (TFTConfig, or ASTConfig), e.g. 'hidden_size=96'."},
    )
    ignore_mismatched_sizes: bool = field(
        default=False, metadata={"help": "Allow a checkpoint with another label set: its head is replaced."}
    )
    attn_implementation: str | None = field(default=None, metadata={"help": "'sdpa' (default) or 'eager'."})
    normalization: str = field(
        default="global",
        metadata={
            "help": "Feature normalisation: 'utterance', 'global' (fitted on each fold's training split), "
            "'speaker' (each speaker's own statistics, test speakers' unlabelled audio included), 'none'."
        },
    )


@dataclass
class DataArguments:
    """Which corpus, and the speaker-independent protocol."""

    dataset_dir: str | None = field(default=None, metadata={"help": "A dataset prepared by dataset_scripts/."})
    corpus: str | None = field(
        default=None, metadata={"help": "casia | ravdess | iemocap | folder | demo: prepare --data_dir first."}
    )
    data_dir: str | None = field(default=None, metadata={"help": "Raw corpus folder (with --corpus)."})
    demo_speakers: int = field(default=8, metadata={"help": "Synthetic speakers of the built-in demo corpus."})
    demo_utterances_per_class: int = field(default=25, metadata={"help": "Demo utterances per speaker and class."})
    protocol: str = field(
        default="k_fold_by_speaker",
        metadata={"help": "leave_one_speaker_out | leave_one_session_out | k_fold_by_speaker"},
    )
    num_folds: int = field(default=4, metadata={"help": "k of k_fold_by_speaker."})
    folds: str = field(default="all", metadata={"help": "'all' or a comma-separated list of fold indices, e.g. 0,2."})
    validation_speakers: int = field(
        default=1, metadata={"help": "Training speakers held out per fold for validation (0: none, keep last epoch)."}
    )
    time_mask_frames: int = field(default=0, metadata={"help": "SpecAugment time-mask width in frames (0: off)."})
    frequency_mask_bins: int = field(default=0, metadata={"help": "SpecAugment frequency-mask width in bins (0: off)."})
    num_masks: int = field(default=2, metadata={"help": "Time masks and frequency masks per training clip."})


@dataclass
class TFTTrainingArguments(TrainingArguments):
    """`TrainingArguments` with this project's defaults and a few options of its own."""

    output_dir: str = field(default="outputs/demo", metadata={"help": "Where folds, results and the export go."})
    trainer: str = field(default="hf", metadata={"help": "'hf' (transformers Trainer) or 'accelerate' (plain loop)."})
    early_stopping_patience: int = field(
        default=0, metadata={"help": "Stop a fold after this many epochs without validation UA gain (0: off)."}
    )
    class_balanced_loss: bool = field(
        default=False, metadata={"help": "Weight the loss by inverse class frequency of each fold's training split."}
    )
    export_dir: str | None = field(default=None, metadata={"help": "Hub-ready export folder (default OUTPUT/export)."})
    learning_rate: float = field(
        default=2.5e-4, metadata={"help": "Peak AdamW learning rate (the TFT's; the AST baseline's best is 5e-4)."}
    )
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay."})
    warmup_steps: float = field(default=0.1, metadata={"help": "Warm-up steps, or a fraction of all steps if < 1."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Learning-rate schedule."})
    num_train_epochs: float = field(default=12, metadata={"help": "Epochs per fold."})
    per_device_train_batch_size: int = field(default=16, metadata={"help": "Training clips per device and step."})
    per_device_eval_batch_size: int = field(default=32, metadata={"help": "Evaluation clips per device."})
    eval_strategy: str = field(default="epoch", metadata={"help": "Validate every epoch."})
    save_strategy: str = field(default="epoch", metadata={"help": "Checkpoint every epoch (for resume)."})
    logging_strategy: str = field(default="epoch", metadata={"help": "Log the training loss every epoch."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Checkpoints kept per fold (best + last)."})
    load_best_model_at_end: bool = field(default=True, metadata={"help": "Test the best-validation-UA checkpoint."})
    metric_for_best_model: str | None = field(default="ua", metadata={"help": "Model selection metric."})
    # HfArgumentParser needs None first in this union (as TrainingArguments writes it)
    report_to: None | str | list[str] = field(  # noqa: RUF036
        default="tensorboard", metadata={"help": "Loggers ('none' for none)."}
    )
    ddp_find_unused_parameters: bool | None = field(
        default=False, metadata={"help": "DDP: every parameter takes part in each step, so no search for unused ones."}
    )
    remove_unused_columns: bool = field(default=False, metadata={"help": "Keep the audio column for the collator."})
    seed: int = field(default=42, metadata={"help": "Seed of model init, shuffling, crops and masks."})
    # accelerate treats torchrun's processes on a CPU-only machine as one-process runs unless told `cpu`
    use_cpu: bool = field(
        default_factory=no_accelerator,
        metadata={"help": "Train on the CPU; the default where no GPU is found (torchrun then gives DDP over gloo)."},
    )
