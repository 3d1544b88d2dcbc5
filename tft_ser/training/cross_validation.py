"""Speaker-independent cross-validation: one model per fold, scored once on its test split, then aggregated."""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import datasets
import numpy as np
from accelerate import PartialState
from transformers import set_seed

from tft_ser.data import Fold

from .accelerate_loop import train_fold_with_accelerate
from .arguments import (
    DataArguments,
    ModelArguments,
    TFTTrainingArguments,
    check_options,
    without_missing_tensorboard,
)
from .data import (
    SpeechEmotionCollator,
    check_fold_classes,
    iter_clips,
    lazy_split,
    load_corpus,
    select_folds,
    speaker_statistics,
)
from .environment import environment
from .evaluation import check_evaluation_model, evaluate_fold, load_classifier
from .fold_job import FoldJob, FoldOutcome
from .fold_settings import check_fold_settings, fold_settings, save_fold_settings, training_arguments
from .head_refit import refitted_test
from .hf_trainer import train_fold_with_trainer
from .licences import check_push_allowed, data_licence, licence_record
from .loss import ClassificationLoss, inverse_frequency_weights
from .models import (
    build_model_and_extractor,
    check_backbone_speakers,
    check_checkpoint_labels,
    check_config_overrides,
    crop_frames,
    fold_model_arguments,
    new_model_config,
    refits_head,
)
from .named_dataset import eval_split_fold, load_named_dataset
from .plots import plot_confusion_matrix, plot_training_curves
from .scoring import score
from .speaker_shift import shifts_embeddings, speaker_shifted_test

logger = logging.getLogger(__name__)
TRAIN_FUNCTIONS = {"hf": train_fold_with_trainer, "accelerate": train_fold_with_accelerate}
FOLD_RESULTS = "fold_results.json"
METRICS = ("wa", "ua", "macro_f1")


def check_arguments(model_args: ModelArguments, data_args: DataArguments, args: TFTTrainingArguments) -> None:
    """Fail on bad options before any data is read or model built (`tft_ser.training.arguments.check_options`)."""
    check_options(model_args, data_args, args)


def load_training_data(
    data_args: DataArguments, output_dir: Path, seed: int
) -> tuple[datasets.Dataset, datasets.Dataset | None, str]:
    """The corpus (prepared once into OUTPUT/prepared), its eval split if `--dataset_name` has one, and its name."""
    if data_args.dataset_name:
        return load_named_dataset(data_args, output_dir, seed)
    dataset, corpus = load_corpus(data_args, output_dir)
    return dataset, None, corpus


def run_cross_validation(
    model_args: ModelArguments,
    data_args: DataArguments,
    args: TFTTrainingArguments,
    command: list[str],
    push: bool = False,
) -> dict:
    """Train and test every selected fold; write per-fold and aggregated results under `args.output_dir`.

    `command` is the run's command line (script and arguments), recorded with the environment. `push`: the export
    will be pushed to the Hub, which the training data's licence must allow (checked before any training).
    """
    check_arguments(model_args, data_args, args)
    without_missing_tensorboard(args)
    started = time.time()
    run_environment = environment(command, device=args.device)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    state = PartialState()
    with state.main_process_first():  # the main process prepares OUTPUT/prepared; the others then read it
        dataset, evaluation, corpus = load_training_data(data_args, output_dir, args.seed)
    label_names = dataset.features["label"].names
    licence = data_licence(data_args, dataset, corpus)
    if push:
        check_push_allowed(licence, args.hub_private_repo, args.push_restricted_data)
    if evaluation is None:
        folds = select_folds(dataset, data_args, args.seed)
    else:  # a dataset with an eval split: train on its training split, test on the eval split
        folds = [eval_split_fold(dataset, evaluation, data_args, args.seed)]
        check_fold_classes(folds, label_names, f"--eval_split_name {data_args.eval_split_name}")
    check_config_overrides(model_args, label_names)
    for fold in folds:  # before any training: every fold's checkpoint exists, fits the corpus, never heard its speakers
        check_checkpoint_labels(fold_model_arguments(model_args, fold.index), label_names)
        check_backbone_speakers(fold_model_arguments(model_args, fold.index), fold)
        if not args.do_train:
            check_evaluation_model(fold_model_arguments(model_args, fold.index))
    protocol = data_args.protocol if evaluation is None else "eval_split"
    num_clips = len(dataset) + (len(evaluation) if evaluation is not None else 0)
    logger.info(f"{corpus}: {num_clips} clips, {len(label_names)} classes, {len(folds)} fold(s) of {protocol}")
    reused_folds = [f.index for f in folds if (output_dir / f"fold_{f.index}" / FOLD_RESULTS).is_file()]
    for fold in folds:  # a finished or resumed fold must have been trained as this run would train it
        fold_dir = output_dir / f"fold_{fold.index}"
        if fold.index in reused_folds or (args.resume_from_checkpoint and (fold_dir / "checkpoints").is_dir()):
            action = "reuse" if fold.index in reused_folds else "resume"
            check_fold_settings(fold_dir, _settings(fold, label_names, model_args, data_args, args), action)
    fold_results = [_run_fold(fold, label_names, model_args, data_args, args, output_dir) for fold in folds]
    results = _aggregate(fold_results, label_names, output_dir)
    results.update(
        corpus=corpus,
        protocol=protocol,
        mode="train" if args.do_train else "evaluation",
        num_clips=num_clips,
        label_names=label_names,
        trainer=args.trainer,
        seed=args.seed,
        command=run_environment["command"],
        wall_time_s=round(time.time() - started, 1),
        reused_folds=reused_folds,  # finished by an earlier process: wall_time_s does not include them
        environment=run_environment,
        arguments={"model": asdict(model_args), "data": asdict(data_args), "training": training_arguments(args)},
        dataset_description=dataset.info.description,
        data_licence=licence_record(licence),
    )
    if state.is_main_process:
        (output_dir / "results.json").write_text(json.dumps(results, indent=1))
        (output_dir / "results.md").write_text(results_table(results))
    state.wait_for_everyone()
    return results


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
    if state.is_main_process:  # before training starts, for a resume to check against
        save_fold_settings(fold_dir, _settings(fold, label_names, model_args, data_args, args))
    set_seed(args.seed)
    splits = [fold.splits[name] for name in ("train", "validation", "test")]
    # Arrow-backed splits whose clips are decoded per batch as the DataLoader reads them (see `lazy_split`)
    train, validation, test = (lazy_split(split) for split in splits)
    if not args.do_train:
        return _evaluate_fold(fold, test, label_names, model_args, args, fold_dir)
    class_weights = None
    if args.class_balanced_loss:
        class_weights = inverse_frequency_weights(fold.splits["train"]["label"][:], len(label_names))
    model, feature_extractor = build_model_and_extractor(fold_model_arguments(model_args, fold.index), label_names)
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
    job = FoldJob(
        model=model,
        train=train,
        validation=validation,
        test=test,
        train_collator=SpeechEmotionCollator(
            collator_extractor, train=True, crop_frames=crop_frames(model.config), **masks, **collator
        ),
        eval_collator=SpeechEmotionCollator(collator_extractor, train=False, **collator),
        loss=ClassificationLoss(class_weights, args.label_smoothing_factor),
        args=args,
        fold_dir=fold_dir,
        resume=bool(args.resume_from_checkpoint),
        num_labels=len(label_names),
    )
    logger.info(f"Fold {fold.index} ({fold.name}): train {len(train)}, validation {len(validation)}, test {len(test)}")
    outcome = TRAIN_FUNCTIONS[args.trainer](job)
    if shifts_embeddings(outcome.model):  # validation was scored unshifted; the test speakers are shifted
        outcome = speaker_shifted_test(outcome, fold.splits, job.eval_collator, args.per_device_eval_batch_size)
    elif refits_head(model_args):
        outcome = refitted_test(outcome, fold.splits, job.eval_collator, args.per_device_eval_batch_size)
    result = _fold_result(fold, outcome, len(label_names))
    if state.is_main_process:
        _save_fold(fold_dir, outcome, feature_extractor, result, label_names)
    state.wait_for_everyone()
    return result


def _settings(
    fold: Fold, label_names: list[str], model_args: ModelArguments, data_args: DataArguments, args: TFTTrainingArguments
) -> dict:
    """`fold_settings` of the fold; the config is that of the new model it trains (a checkpoint is named by path)."""
    fold_args = fold_model_arguments(model_args, fold.index)
    config = new_model_config(fold_args, label_names) if args.do_train and not fold_args.model_name_or_path else None
    return fold_settings(fold_args, data_args, args, config)


def _evaluate_fold(
    fold: Fold,
    test: datasets.Dataset,
    label_names: list[str],
    model_args: ModelArguments,
    args: TFTTrainingArguments,
    fold_dir: Path,
) -> dict:
    """`--do_train false`: the fold's test split scored by the given model with its own feature extractor."""
    model, feature_extractor = load_classifier(fold_model_arguments(model_args, fold.index).model_name_or_path)
    collator = SpeechEmotionCollator(feature_extractor, train=False, model_type=model_args.model_type)
    outcome = evaluate_fold(model, test, collator, args, len(label_names))
    result = _fold_result(fold, outcome, len(label_names))
    if PartialState().is_main_process:
        fold_dir.mkdir(parents=True, exist_ok=True)
        title = f"fold {result['fold']} (test: {', '.join(result['test_speakers'])})"
        plot_confusion_matrix(result["test"]["confusion_matrix"], label_names, title, fold_dir / "confusion_matrix.png")
        (fold_dir / FOLD_RESULTS).write_text(json.dumps(result, indent=1))
    PartialState().wait_for_everyone()
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
        "validation_ua": best.get("eval_ua"),
        "test": score(outcome.test_predictions, outcome.test_references, num_labels),
        "test_unshifted": None  # before the speaker shift of the embeddings (config.speaker_embedding_shift)
        if outcome.test_predictions_unshifted is None
        else score(outcome.test_predictions_unshifted, outcome.test_references, num_labels),
        "test_before_refit": None  # before the Transformer head was refitted (--refit_head)
        if outcome.test_predictions_before_refit is None
        else score(outcome.test_predictions_before_refit, outcome.test_references, num_labels),
        "refit_c": outcome.refit_c,  # the refitted Transformer head's C (--refit_head, --speaker_embedding_scale)
        "history": outcome.history,
        "resumed_from": outcome.resumed_from,  # None: trained from the start in this run
        "steps_run": outcome.steps_run,
        "global_step": outcome.global_step,
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
    how = f"trainer: {results['trainer']}"
    if results.get("mode") == "evaluation":
        how = f"evaluation only of {results['arguments']['model']['model_name_or_path']} (no training)"
    lines = [
        f"Corpus: {results['corpus']} — protocol: {results['protocol']} — {how} — seed: {results['seed']}",
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
