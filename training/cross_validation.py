"""Speaker-independent cross-validation: one model per fold, scored once on its test split, then aggregated."""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import platform
import time
from dataclasses import asdict, replace
from pathlib import Path

import datasets
import numpy as np
import torch
import transformers
from accelerate import PartialState
from transformers import ASTConfig, AutoConfig, AutoModelForAudioClassification, PreTrainedModel, set_seed

from dataset_scripts import Fold
from modeling_tft import TFTConfig, TFTFeatureExtractor, TFTModel
from modeling_tft.feature_extraction_tft import NORMALIZATIONS
from modeling_tft.modeling_tft import classification_loss

from .accelerate_loop import train_fold_with_accelerate
from .arguments import MODEL_TYPES, TRAINERS, DataArguments, ModelArguments, TFTTrainingArguments, rebuilt_config
from .baselines import ast_config
from .checkpoints import is_backbone_checkpoint, load_pretrained_strict
from .data import (
    SpeechEmotionCollator,
    inverse_frequency_weights,
    iter_clips,
    lazy_split,
    load_corpus,
    select_folds,
    speaker_statistics,
)
from .fold_job import FoldJob, FoldOutcome
from .hf_trainer import train_fold_with_trainer
from .plots import plot_confusion_matrix, plot_training_curves
from .scoring import score

logger = logging.getLogger(__name__)
TRAINING_NORMALIZATIONS = (*NORMALIZATIONS, "speaker")  # "speaker": done by the collator, not the extractor
TRAIN_FUNCTIONS = {"hf": train_fold_with_trainer, "accelerate": train_fold_with_accelerate}
FOLD_RESULTS = "fold_results.json"
METRICS = ("wa", "ua", "macro_f1")


def check_arguments(model_args: ModelArguments, data_args: DataArguments, args: TFTTrainingArguments) -> None:
    """Fail on bad options before any data is read or model built."""
    if model_args.model_type not in MODEL_TYPES:
        raise ValueError(f"--model_type must be one of {MODEL_TYPES}, got {model_args.model_type!r}.")
    if args.trainer not in TRAINERS:
        raise ValueError(f"--trainer must be one of {TRAINERS}, got {args.trainer!r}.")
    if model_args.normalization not in TRAINING_NORMALIZATIONS:
        raise ValueError(f"--normalization must be one of {TRAINING_NORMALIZATIONS}, got {model_args.normalization!r}.")
    if not 0 <= args.average_last_epochs <= math.ceil(args.num_train_epochs):
        raise ValueError(
            f"--average_last_epochs must be in [1, {math.ceil(args.num_train_epochs)}] (the epochs per fold), or 0 "
            f"for no averaging; got {args.average_last_epochs}."
        )
    if args.average_last_epochs and args.early_stopping_patience:
        raise ValueError("--average_last_epochs averages the last epochs of a fixed schedule; drop early stopping.")
    if args.sam_rho < 0:
        raise ValueError(f"--sam_rho must be >= 0 (0: off), got {args.sam_rho}.")
    if args.sam_rho and args.gradient_accumulation_steps > 1:
        raise ValueError(
            "--sam_rho perturbs the weights by each batch's gradient: use --gradient_accumulation_steps 1."
        )
    if model_args.model_name_or_path and model_args.config_overrides:
        raise ValueError("--config_overrides applies to a new model; it cannot be combined with --model_name_or_path.")


def run_cross_validation(
    model_args: ModelArguments, data_args: DataArguments, args: TFTTrainingArguments, command: str
) -> dict:
    """Train and test every selected fold; write per-fold and aggregated results under `args.output_dir`."""
    check_arguments(model_args, data_args, args)
    started = time.time()
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    state = PartialState()
    with state.main_process_first():  # the main process prepares OUTPUT/prepared; the others then read it
        dataset, corpus = load_corpus(data_args, output_dir)
    label_names = dataset.features["label"].names
    folds = select_folds(dataset, data_args, args.seed)
    for fold in folds:  # before any training: every fold's checkpoint exists and fits the corpus
        check_checkpoint_labels(fold_model_arguments(model_args, fold.index), label_names)
    logger.info(
        f"{corpus}: {len(dataset)} clips, {len(label_names)} classes, {len(folds)} fold(s) of {data_args.protocol}"
    )
    reused_folds = [f.index for f in folds if (output_dir / f"fold_{f.index}" / FOLD_RESULTS).is_file()]
    fold_results = [_run_fold(fold, label_names, model_args, data_args, args, output_dir) for fold in folds]
    results = _aggregate(fold_results, label_names, output_dir)
    results.update(
        corpus=corpus,
        protocol=data_args.protocol,
        num_clips=len(dataset),
        label_names=label_names,
        trainer=args.trainer,
        seed=args.seed,
        command=command,
        wall_time_s=round(time.time() - started, 1),
        reused_folds=reused_folds,  # finished by an earlier process: wall_time_s does not include them
        environment=environment(),
        arguments={"model": asdict(model_args), "data": asdict(data_args), "training": _training_arguments(args)},
        dataset_description=dataset.info.description,
    )
    if state.is_main_process:
        (output_dir / "results.json").write_text(json.dumps(results, indent=1))
        (output_dir / "results.md").write_text(results_table(results))
    state.wait_for_everyone()
    return results


def fold_model_arguments(model_args: ModelArguments, fold_index: int) -> ModelArguments:
    """The model arguments of one fold: a `{fold}` in `--model_name_or_path` becomes the fold's index (a backbone
    pre-trained per fold, without that fold's held-out speakers)."""
    path = model_args.model_name_or_path
    if not path or "{fold}" not in path:
        return model_args
    return replace(model_args, model_name_or_path=path.replace("{fold}", str(fold_index)))


def check_checkpoint_labels(model_args: ModelArguments, label_names: list[str]) -> None:
    """A checkpoint being fine-tuned must be of `--model_type` and predict the corpus's labels, unless its head is to
    be replaced or it has none (a bare backbone, e.g. from `run_pretrain.py`)."""
    if not model_args.model_name_or_path:
        return
    if not Path(model_args.model_name_or_path).is_dir() and "{" in model_args.model_name_or_path:
        raise ValueError(f"--model_name_or_path {model_args.model_name_or_path}: only `{{fold}}` can be filled in.")
    config = AutoConfig.from_pretrained(model_args.model_name_or_path)
    checkpoint_type = "tft" if isinstance(config, TFTConfig) else "ast" if isinstance(config, ASTConfig) else None
    if checkpoint_type != model_args.model_type:
        raise ValueError(
            f"{model_args.model_name_or_path} is a {config.model_type!r} checkpoint, not one of --model_type "
            f"{model_args.model_type!r}."
        )
    if is_backbone_checkpoint(config, TFTModel):
        return  # no classification head: a new one is trained for the corpus's labels
    checkpoint_labels = [config.id2label[i] for i in range(config.num_labels)]
    if checkpoint_labels != list(label_names) and not model_args.ignore_mismatched_sizes:
        raise ValueError(
            f"{model_args.model_name_or_path} predicts {checkpoint_labels} but the corpus has {list(label_names)}; "
            "pass --ignore_mismatched_sizes to fine-tune with a new classification head."
        )


def build_model_and_extractor(
    model_args: ModelArguments,
    label_names: list[str],
    class_weights: list[float] | None,
    num_speakers: int = 0,
) -> tuple[PreTrainedModel, TFTFeatureExtractor]:
    """The model and feature extractor of one fold; `num_speakers` (training speakers) sizes a TFT's
    speaker-adversarial head when `--config_overrides speaker_adversarial_weight=...` asks for one."""
    labels = {"id2label": dict(enumerate(label_names)), "label2id": {n: i for i, n in enumerate(label_names)}}
    attention = {"attn_implementation": model_args.attn_implementation} if model_args.attn_implementation else {}
    if model_args.model_name_or_path:
        model = load_pretrained_strict(
            AutoModelForAudioClassification,
            model_args.model_name_or_path,
            allow_new_head=model_args.ignore_mismatched_sizes,
            num_labels=len(label_names),
            ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
            **labels,
            **attention,
            **_speaker_head_size(model_args, num_speakers),
        )
    else:
        if model_args.model_type == "ast":
            config = ast_config(len(label_names), **labels)
        else:
            config = TFTConfig(num_labels=len(label_names), **labels)
        if model_args.config_overrides:
            config.update_from_string(model_args.config_overrides)
            if getattr(config, "speaker_adversarial_weight", 0.0):
                config.num_speakers = num_speakers
            config = rebuilt_config(config)
        model = AutoModelForAudioClassification.from_config(config, **attention)
    model.config.class_weights = class_weights
    if model_args.model_type == "ast":
        # the same loss as TFT's (the AST config carries `class_weights` too)
        model.loss_function = lambda labels, logits, config, **kwargs: classification_loss(logits, labels, config)
    # a TFT evaluates whole clips (in windows past config.window_frames); the AST baseline its fixed input
    whole_clips = isinstance(model.config, TFTConfig)
    feature_extractor = TFTFeatureExtractor(
        feature_size=model.config.num_mel_bins,
        max_length=None if whole_clips else crop_frames(model.config),
        normalization="none" if model_args.normalization in ("global", "speaker") else model_args.normalization,
    )
    return model, feature_extractor


def _speaker_head_size(model_args: ModelArguments, num_speakers: int) -> dict[str, int]:
    """`num_speakers` for a checkpoint whose speaker-adversarial head learnt another number of speakers than this
    fold trains on (its head is then re-initialised, which needs --ignore_mismatched_sizes); empty otherwise."""
    config = AutoConfig.from_pretrained(model_args.model_name_or_path)
    if not getattr(config, "has_speaker_head", False) or config.num_speakers == num_speakers:
        return {}
    if not model_args.ignore_mismatched_sizes:
        raise ValueError(
            f"{model_args.model_name_or_path} has a speaker-adversarial head for {config.num_speakers} speakers but "
            f"this fold trains on {num_speakers}; pass --ignore_mismatched_sizes to fine-tune with a new speaker head."
        )
    return {"num_speakers": num_speakers}


def crop_frames(config) -> int:
    """Frames of a training crop: TFT's `max_frames`, AST's `max_length` (also the fixed models' whole input)."""
    return getattr(config, "max_frames", None) or config.max_length


def _run_fold(
    fold: Fold,
    label_names: list[str],
    model_args: ModelArguments,
    data_args: DataArguments,
    args: TFTTrainingArguments,
    output_dir: Path,
) -> dict:
    fold_dir = output_dir / f"fold_{fold.index}"
    state = PartialState()
    state.wait_for_everyone()  # every process sees the same finished folds
    if (fold_dir / FOLD_RESULTS).is_file():
        logger.info(f"Fold {fold.index} ({fold.name}) is complete: reusing {fold_dir / FOLD_RESULTS}")
        return json.loads((fold_dir / FOLD_RESULTS).read_text())
    set_seed(args.seed)
    splits = [fold.splits[name] for name in ("train", "validation", "test")]
    # Arrow-backed splits whose clips are decoded per batch as the DataLoader reads them (see `lazy_split`)
    train, validation, test = (lazy_split(split) for split in splits)
    weights = None
    if data_args.class_balanced_loss:
        weights = inverse_frequency_weights(fold.splits["train"]["label"][:], len(label_names))
    train_speakers = sorted(fold.train_speakers)
    model_args = fold_model_arguments(model_args, fold.index)
    model, feature_extractor = build_model_and_extractor(model_args, label_names, weights, len(train_speakers))
    collator_extractor, statistics = feature_extractor, None
    if model_args.normalization == "speaker":
        collator_extractor = copy.deepcopy(feature_extractor)  # stays "none": the collator normalises per speaker
        statistics = speaker_statistics(datasets.concatenate_datasets(splits), collator_extractor)
    if model_args.normalization in ("global", "speaker"):
        # "speaker": the export ships the pooled training-speaker statistics (re-fit it on a new speaker's clips)
        # running sums over the training clips, streamed from Arrow 64 at a time
        feature_extractor.fit(iter_clips(fold.splits["train"]), sampling_rate=feature_extractor.sampling_rate)
    masks = {k: getattr(data_args, k) for k in ("time_mask_frames", "frequency_mask_bins", "num_masks")}
    collator = {"model_type": model_args.model_type, "speaker_statistics": statistics}
    train_options = {
        "mixup_alpha": data_args.mixup_alpha,
        "num_labels": len(label_names),
        "crop_frames": crop_frames(model.config),
        "speed_factors": data_args.speed_factors,
        "gain_db": data_args.random_gain_db,
        "frequency_warp": data_args.frequency_warp,
        "noise_snr_db": data_args.noise_snr_db,
    }
    if getattr(model.config, "has_speaker_head", False):
        train_options["speaker_ids"] = {speaker: index for index, speaker in enumerate(train_speakers)}
    job = FoldJob(
        model=model,
        train=train,
        validation=validation,
        test=test,
        train_collator=SpeechEmotionCollator(collator_extractor, train=True, **collator, **masks, **train_options),
        eval_collator=SpeechEmotionCollator(collator_extractor, train=False, **collator),
        args=args,
        fold_dir=fold_dir,
        resume=bool(args.resume_from_checkpoint),
        num_labels=len(label_names),
    )
    logger.info(f"Fold {fold.index} ({fold.name}): train {len(train)}, validation {len(validation)}, test {len(test)}")
    outcome = TRAIN_FUNCTIONS[args.trainer](job)
    result = _fold_result(fold, outcome, len(label_names))
    if state.is_main_process:
        _save_fold(fold_dir, outcome, feature_extractor, result, label_names)
    state.wait_for_everyone()
    return result


def _fold_result(fold: Fold, outcome: FoldOutcome, num_labels: int) -> dict:
    best = next((row for row in outcome.history if row["epoch"] == outcome.best_epoch), {})
    return {
        "fold": fold.index,
        "name": fold.name,
        "test_speakers": list(fold.test_speakers),
        "validation_speakers": list(fold.validation_speakers),
        "train_speakers": list(fold.train_speakers),
        "num_test": len(outcome.test_references),
        "best_epoch": outcome.best_epoch,
        "validation_ua": outcome.averaged_validation_ua if outcome.averaged_epochs else best.get("eval_ua"),
        "averaged_epochs": outcome.averaged_epochs,
        "test": score(outcome.test_predictions, outcome.test_references, num_labels),
        "history": outcome.history,
    }


def _save_fold(fold_dir: Path, outcome: FoldOutcome, feature_extractor, result: dict, label_names: list[str]) -> None:
    """The selected model (safetensors + config + feature extractor), figures, and the fold's results."""
    outcome.model.save_pretrained(fold_dir / "model")
    feature_extractor.save_pretrained(fold_dir / "model")
    title = f"fold {result['fold']} (test: {', '.join(result['test_speakers'])})"
    plot_confusion_matrix(result["test"]["confusion_matrix"], label_names, title, fold_dir / "confusion_matrix.png")
    plot_training_curves(result["history"], title, fold_dir / "training_curves.png")
    (fold_dir / FOLD_RESULTS).write_text(json.dumps(result, indent=1))


def _aggregate(fold_results: list[dict], label_names: list[str], output_dir: Path) -> dict:
    values = {m: np.array([r["test"][m] for r in fold_results]) for m in METRICS}
    overall = np.sum([np.array(r["test"]["confusion_matrix"]) for r in fold_results], axis=0)
    if PartialState().is_main_process:
        plot_confusion_matrix(overall.tolist(), label_names, "all test folds", output_dir / "confusion_matrix.png")
    with_validation = [r for r in fold_results if r["validation_ua"] is not None]
    exported = max(with_validation, key=lambda r: r["validation_ua"]) if with_validation else fold_results[0]
    return {
        "folds": fold_results,
        "mean": {m: float(v.mean()) for m, v in values.items()},
        "std": {m: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for m, v in values.items()},
        "std_definition": "sample standard deviation over folds (ddof=1)",
        "overall_confusion_matrix": overall.tolist(),
        "exported_fold": exported["fold"],
        "exported_fold_rule": "the fold with the highest validation UA (fold 0 if there is no validation split)",
    }


def results_table(results: dict) -> str:
    """Markdown: one row per fold plus mean ± std (percent)."""
    lines = [
        f"Corpus: {results['corpus']} — protocol: {results['protocol']} — trainer: {results['trainer']} — "
        f"seed: {results['seed']}",
        "",
        "| fold | test speakers | test clips | best epoch | WA % | UA % | macro-F1 % |",
        "|---|---|---|---|---|---|---|",
    ]
    for fold in results["folds"]:
        test = fold["test"]
        lines.append(
            f"| {fold['fold']} | {', '.join(fold['test_speakers'])} | {fold['num_test']} | {fold['best_epoch']} | "
            f"{100 * test['wa']:.2f} | {100 * test['ua']:.2f} | {100 * test['macro_f1']:.2f} |"
        )
    mean, std = results["mean"], results["std"]
    lines.append(
        f"| **mean ± std** | | | | **{100 * mean['wa']:.2f} ± {100 * std['wa']:.2f}** | "
        f"**{100 * mean['ua']:.2f} ± {100 * std['ua']:.2f}** | {100 * mean['macro_f1']:.2f} ± "
        f"{100 * std['macro_f1']:.2f} |"
    )
    return "\n".join(lines) + "\n"


def environment() -> dict:
    """Hardware and versions a result was produced with."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines() if "model name" in line), ""
    )
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU: {cpu}",
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d"),
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _training_arguments(args: TFTTrainingArguments) -> dict:
    keys = (
        "trainer", "learning_rate", "weight_decay", "warmup_steps", "lr_scheduler_type", "num_train_epochs",
        "per_device_train_batch_size", "gradient_accumulation_steps", "early_stopping_patience", "bf16", "fp16",
        "torch_compile", "seed", "max_grad_norm", "average_last_epochs", "sam_rho",
    )  # fmt: skip
    return {key: getattr(args, key) for key in keys}
