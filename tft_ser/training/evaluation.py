"""`--do_train false`: score an existing classifier (an export or a fold's saved model) on each fold's test split,
with its own feature extractor, and nothing trained; the results are written as a training run's are."""

from __future__ import annotations

from pathlib import Path

import datasets
from accelerate import Accelerator
from transformers import AutoConfig, AutoModelForAudioClassification, PreTrainedModel

from modeling_tft import TFTFeatureExtractor, TFTModel

from .accelerate_loop import _eval_loader, _predict
from .arguments import ModelArguments, TFTTrainingArguments, UsageError
from .checkpoints import is_backbone_checkpoint, load_pretrained_strict
from .data import SpeechEmotionCollator
from .fold_job import FoldJob, FoldOutcome
from .loss import ClassificationLoss

PREPROCESSOR = "preprocessor_config.json"


def check_evaluation_model(model_args: ModelArguments) -> None:
    """The model to score is a local classifier (not a bare backbone) saved with its feature extractor."""
    path = model_args.model_name_or_path
    if is_backbone_checkpoint(AutoConfig.from_pretrained(path), TFTModel):
        raise UsageError(f"--model_name_or_path {path} is a backbone without a classification head: nothing to score.")
    if not (Path(path) / PREPROCESSOR).is_file():
        raise UsageError(f"--model_name_or_path {path} has no {PREPROCESSOR}: its feature extractor is unknown.")


def load_classifier(path: str) -> tuple[PreTrainedModel, TFTFeatureExtractor]:
    """The saved classifier (strictly loaded) and the feature extractor it was exported with."""
    model = load_pretrained_strict(AutoModelForAudioClassification, path)
    return model, TFTFeatureExtractor.from_pretrained(path)


def evaluate_fold(
    model: PreTrainedModel,
    test: datasets.Dataset,
    collator: SpeechEmotionCollator,
    args: TFTTrainingArguments,
    num_labels: int,
) -> FoldOutcome:
    """Predictions on `test` (split over the processes under DDP, as the training paths test)."""
    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "no"
    accelerator = Accelerator(mixed_precision=precision, cpu=args.use_cpu)
    job = FoldJob(
        model=model,
        train=test.select([]),
        validation=test.select([]),
        test=test,
        train_collator=collator,
        eval_collator=collator,
        loss=ClassificationLoss(),
        args=args,
        fold_dir=Path(args.output_dir),
        resume=False,
        num_labels=num_labels,
    )
    prepared = accelerator.prepare(model)
    predictions, references, _ = _predict(prepared, _eval_loader(job, test, accelerator), accelerator, job.loss)
    return FoldOutcome(
        model=model, test_predictions=predictions, test_references=references, best_epoch=None, history=[]
    )
