"""Command-line arguments of `run_train.py`, in the style of transformers' example scripts."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import PretrainedConfig, TrainingArguments

from modeling_tft.feature_extraction_tft import NORMALIZATIONS
from tft_ser.data import CORPORA, PROTOCOLS
from tft_ser.extras import installed, missing_extra

logger = logging.getLogger(__name__)
TRAINERS = ("hf", "accelerate")
MODEL_TYPES = ("tft", "ast")
TRAINING_NORMALIZATIONS = (*NORMALIZATIONS, "speaker")  # "speaker": done by the collator, not the extractor


class UsageError(ValueError):
    """An option, or what it selects (a corpus's folds, a checkpoint), that cannot work, found before any training.
    `run_train.py` prints it as argparse does (one line) and exits with code 2; the message names the option."""


def without_missing_tensorboard(args: TrainingArguments) -> None:
    """`--report_to tensorboard` (run_train.py's default) without the tensorboard package (the `tensorboard` extra):
    the run goes on without TensorBoard logs and says so once, instead of failing when the first fold starts."""
    if "tensorboard" not in args.report_to or installed("tensorboard") or installed("tensorboardX"):
        return
    args.report_to = [name for name in args.report_to if name != "tensorboard"]
    if args.should_log:
        error = missing_extra("tensorboard", "--report_to tensorboard")
        logger.warning("%s; this run writes no TensorBoard logs.", error)


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
    speaker_embedding_scale: bool = field(
        default=False,
        metadata={
            "help": "With --normalization speaker, a new TFT also standardises each speaker's utterance embeddings "
            "and its Transformer head is refitted on the training clips' after training, then scoring alone: the "
            "functionals head's weight goes to 0 (searches RH1 and RW1, the RAVDESS recipe); unused otherwise."
        },
    )
    speaker_head_supports: int | None = field(
        default=None,
        metadata={
            "help": "With --normalization speaker, a new TFT also adjusts both heads to each speaker by T3A, from "
            "the k most confident of the speaker's clips per predicted class (config.speaker_head_supports; searches "
            "TA1 and TA2, 20 in the CASIA recipe); unused otherwise."
        },
    )
    refit_head: bool = field(
        default=False,
        metadata={
            "help": "A single-clip TFT (any --normalization but speaker): after training, its Transformer head is "
            "refitted on the training clips' utterance embeddings (logistic regression, C by leave-one-speaker-out) "
            "and the functionals head weighs 0.5 beside it (search RG1, both recipes); unused otherwise."
        },
    )


@dataclass
class DataArguments:
    """Which corpus, and the speaker-independent protocol."""

    dataset_dir: str | None = field(default=None, metadata={"help": "A dataset prepared by tft_ser.data."})
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "A dataset datasets.load_dataset reads: a Hub id or a local folder (e.g. an audiofolder)."},
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Its configuration (--dataset_name)."})
    train_split_name: str = field(default="train", metadata={"help": "Its training split (--dataset_name)."})
    eval_split_name: str = field(
        default="validation",
        metadata={
            "help": "Its split to test on (--dataset_name); absent: speaker-independent folds of the train split."
        },
    )
    audio_column_name: str = field(default="audio", metadata={"help": "Its audio column (--dataset_name)."})
    label_column_name: str = field(default="label", metadata={"help": "Its label column (--dataset_name)."})
    speaker_column_name: str = field(default="speaker", metadata={"help": "Its speaker column (--dataset_name)."})
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Use at most this many training rows, drawn with --seed (--dataset_name)."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Use at most this many eval-split rows, drawn with --seed (--dataset_name)."}
    )
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
    push_restricted_data: bool = field(
        default=False,
        metadata={"help": "Allow --push_to_hub to a public repo of a model trained on non-redistributable data."},
    )
    do_train: bool = field(
        default=True,
        metadata={
            "help": "Train each fold (default). `--do_train false`: only score --model_name_or_path on the folds."
        },
    )


# (option, owner: "model" | "data" | "training", lowest allowed value, whether the bound itself is allowed)
NUMERIC_BOUNDS = (
    ("num_train_epochs", "training", 0, False),
    ("per_device_train_batch_size", "training", 1, True),
    ("per_device_eval_batch_size", "training", 1, True),
    ("gradient_accumulation_steps", "training", 1, True),
    ("learning_rate", "training", 0, False),
    ("weight_decay", "training", 0, True),
    ("warmup_steps", "training", 0, True),
    ("max_grad_norm", "training", 0, True),
    ("early_stopping_patience", "training", 0, True),
    ("save_total_limit", "training", 1, True),
    ("dataloader_num_workers", "training", 0, True),
    ("validation_speakers", "data", 0, True),
    ("num_folds", "data", 2, True),
    ("demo_speakers", "data", 2, True),
    ("demo_utterances_per_class", "data", 1, True),
    ("time_mask_frames", "data", 0, True),
    ("frequency_mask_bins", "data", 0, True),
    ("num_masks", "data", 0, True),
    ("max_train_samples", "data", 1, True),
    ("max_eval_samples", "data", 1, True),
)
NAMED_DATASET_OPTIONS = (  # (option, default): only meaningful with --dataset_name
    ("dataset_config_name", None),
    ("train_split_name", "train"),
    ("eval_split_name", "validation"),
    ("audio_column_name", "audio"),
    ("label_column_name", "label"),
    ("speaker_column_name", "speaker"),
    ("max_train_samples", None),
    ("max_eval_samples", None),
)


def check_options(model_args: ModelArguments, data_args: DataArguments, args: TFTTrainingArguments) -> None:
    """Raise `UsageError` naming the first option that cannot work; nothing is read, built or written."""
    owners = {"model": model_args, "data": data_args, "training": args}
    for name, owner, bound, inclusive in NUMERIC_BOUNDS:
        value = getattr(owners[owner], name)
        if value is None:
            continue
        if not math.isfinite(value) or value < bound or (value == bound and not inclusive):
            relation = ">=" if inclusive else ">"
            raise UsageError(f"--{name} must be {relation} {bound}, got {value}.")
    choices = (
        ("model_type", model_args.model_type, MODEL_TYPES),
        ("trainer", args.trainer, TRAINERS),
        ("normalization", model_args.normalization, TRAINING_NORMALIZATIONS),
        ("protocol", data_args.protocol, PROTOCOLS),
    )
    for name, value, allowed in choices:
        if value not in allowed:
            raise UsageError(f"--{name} must be one of {allowed}, got {value!r}.")
    if not 0.0 <= args.label_smoothing_factor < 1.0:
        raise UsageError(f"--label_smoothing_factor must be in [0, 1), got {args.label_smoothing_factor}.")
    if model_args.model_name_or_path and model_args.config_overrides:
        raise UsageError("--config_overrides applies to a new model; it cannot be combined with --model_name_or_path.")
    if data_args.folds != "all" and not all(part.strip().isdigit() for part in data_args.folds.split(",")):
        raise UsageError(f"--folds must be 'all' or fold indices such as 0,2, got {data_args.folds!r}.")
    for name in ("output_dir", "export_dir"):
        path = getattr(args, name)
        if path and Path(path).exists() and not Path(path).is_dir():
            raise UsageError(f"--{name} {path} is an existing file, not a folder.")
    sources = [f"--{name}" for name in ("dataset_name", "dataset_dir", "corpus") if getattr(data_args, name)]
    if len(sources) > 1:
        raise UsageError(f"{' and '.join(sources)}: give one source of data.")
    for name, default in NAMED_DATASET_OPTIONS:
        if not data_args.dataset_name and getattr(data_args, name) != default:
            raise UsageError(f"--{name} applies to --dataset_name only; it would be ignored here.")
    check_evaluation_only(model_args, args)
    if data_args.corpus and data_args.corpus not in CORPORA:
        raise UsageError(f"--corpus must be one of {sorted(CORPORA)}, got {data_args.corpus!r}.")
    if data_args.corpus not in (None, "demo") and not data_args.dataset_dir and not data_args.data_dir:
        raise UsageError(f"--corpus {data_args.corpus} needs --data_dir (the raw corpus folder).")
    if data_args.dataset_dir and not Path(data_args.dataset_dir).is_dir():
        what = "is a file, not a prepared dataset folder" if Path(data_args.dataset_dir).exists() else "does not exist"
        raise UsageError(f"--dataset_dir {data_args.dataset_dir} {what}.")
    if data_args.data_dir and not Path(data_args.data_dir).is_dir():
        what = "is a file, not a folder" if Path(data_args.data_dir).exists() else "does not exist"
        raise UsageError(f"--data_dir {data_args.data_dir} {what}.")


def check_evaluation_only(model_args: ModelArguments, args: TFTTrainingArguments) -> None:
    """`--do_train false` scores an existing classifier as it is: it needs one, and no option that trains or ships."""
    if args.do_train:
        return
    if not model_args.model_name_or_path:
        raise UsageError("--do_train false scores an existing model: give it with --model_name_or_path.")
    given = {
        "push_to_hub": args.push_to_hub,
        "ignore_mismatched_sizes": model_args.ignore_mismatched_sizes,
        "resume_from_checkpoint": args.resume_from_checkpoint,
        "export_dir": args.export_dir,
        "normalization": model_args.normalization != "global",  # the model's own feature extractor is used
    }
    for option, value in given.items():
        if value:
            raise UsageError(f"--{option} has no use with --do_train false (nothing is trained or exported).")
    if model_args.refit_head:  # set by the recipes; an export of a refitting run is already refitted
        logger.info("--refit_head is unused with --do_train false: the model is scored as it is.")


# `TrainingArguments` fields that both training paths (or run_train.py around them) honour
SUPPORTED_TRAINING_OPTIONS = frozenset(
    {
        "output_dir", "per_device_train_batch_size", "per_device_eval_batch_size", "num_train_epochs",
        "learning_rate", "lr_scheduler_type", "warmup_steps", "weight_decay", "gradient_accumulation_steps",
        "max_grad_norm", "label_smoothing_factor", "bf16", "fp16", "tf32", "torch_compile", "report_to", "seed",
        "use_cpu", "dataloader_num_workers", "dataloader_prefetch_factor", "load_best_model_at_end",
        "save_total_limit", "push_to_hub", "hub_token", "hub_private_repo", "hub_model_id", "resume_from_checkpoint",
        "local_rank", "log_level", "log_level_replica", "log_on_each_node", "ddp_backend", "ddp_timeout", "do_train",
        "do_eval",
    }
)  # fmt: skip
# fields that only the transformers Trainer (`--trainer hf`) honours: refused with `--trainer accelerate`
TRAINER_ONLY_OPTIONS = frozenset(
    {
        "max_steps", "optim", "optim_args", "adam_beta1", "adam_beta2", "adam_epsilon", "lr_scheduler_kwargs",
        "eval_strategy", "eval_steps", "eval_delay", "save_strategy", "save_steps", "logging_strategy",
        "logging_steps", "logging_first_step", "logging_nan_inf_filter", "metric_for_best_model", "greater_is_better",
        "data_seed", "full_determinism", "dataloader_drop_last", "dataloader_pin_memory",
        "dataloader_persistent_workers", "ignore_data_skip", "torch_compile_backend", "torch_compile_mode",
        "run_name", "disable_tqdm", "ddp_find_unused_parameters", "ddp_bucket_cap_mb", "ddp_broadcast_buffers",
        "save_only_model", "save_on_each_node", "skip_memory_metrics", "auto_find_batch_size", "bf16_full_eval",
        "fp16_full_eval", "torch_empty_cache_steps",
    }
)  # fmt: skip


def check_training_options(args: TFTTrainingArguments, defaults: TFTTrainingArguments) -> None:
    """Refuse a `TrainingArguments` option that run_train.py would silently ignore: one neither training path
    implements (e.g. --hub_strategy, --hub_revision, --do_predict, --deepspeed), or one only the Trainer implements
    under `--trainer accelerate`. `defaults` is the parse of an empty command line (what "not given" looks like)."""
    given = [
        f.name
        for f in dataclasses.fields(TrainingArguments)
        if f.name not in SUPPORTED_TRAINING_OPTIONS and getattr(args, f.name) != getattr(defaults, f.name)
    ]
    unsupported = [f"--{name}" for name in given if name not in TRAINER_ONLY_OPTIONS]
    if unsupported:  # all of them: TrainingArguments sets some from others (--gradient_checkpointing)
        raise UsageError(f"run_train.py does not support {', '.join(unsupported)} (neither training path uses it).")
    if given and args.trainer == "accelerate":
        raise UsageError(
            f"--{given[0]} only applies to --trainer hf; the Accelerate loop (--trainer accelerate) would ignore it."
        )
