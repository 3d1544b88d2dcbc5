"""The model of a fold and its feature extractor: a new TFT, the equal-size AST baseline, or a checkpoint to
fine-tune (`--model_name_or_path`, loaded strictly)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from transformers import ASTConfig, AutoConfig, AutoModelForAudioClassification, PretrainedConfig, PreTrainedModel

from modeling_tft import TFTConfig, TFTFeatureExtractor, TFTModel
from tft_ser.data import Fold

from .arguments import ModelArguments, UsageError, config_with_overrides
from .checkpoints import is_backbone_checkpoint, load_pretrained_strict

logger = logging.getLogger(__name__)

PRETRAINING_REPORT = "pretraining.json"
# TFTConfig.functionals_weight of a new TFT trained with `--normalization speaker` (1 otherwise): chosen on the
# validation speakers of CASIA and RAVDESS together, docs/SEARCH.md HW5-HW8
SPEAKER_ADAPTIVE_FUNCTIONALS_WEIGHT = 2.0
# ~2.75 M parameters with 6 labels, against ~2.80 M for the default TFTConfig; same 64-band log-mel input.
AST_EQUAL_SIZE = {
    "hidden_size": 192,
    "num_hidden_layers": 6,
    "num_attention_heads": 4,
    "intermediate_size": 768,
    "num_mel_bins": 64,
    "max_length": 300,
}


def ast_config(num_labels: int, **kwargs) -> ASTConfig:
    """The baseline: `transformers`' Audio Spectrogram Transformer of about the TFT's size (16x16 patches, stride
    10, as transformers' defaults)."""
    return ASTConfig(**{**AST_EQUAL_SIZE, **kwargs}, num_labels=num_labels)


def crop_frames(config: PretrainedConfig) -> int:
    """Frames of a training crop: TFT's `max_frames`, AST's `max_length` (also the fixed models' whole input)."""
    return getattr(config, "max_frames", None) or config.max_length


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
        raise UsageError(f"--model_name_or_path {model_args.model_name_or_path}: only `{{fold}}` can be filled in.")
    config = AutoConfig.from_pretrained(model_args.model_name_or_path)
    checkpoint_type = "tft" if isinstance(config, TFTConfig) else "ast" if isinstance(config, ASTConfig) else None
    if checkpoint_type != model_args.model_type:
        raise UsageError(
            f"--model_name_or_path {model_args.model_name_or_path} is a {config.model_type!r} checkpoint, not one of "
            f"--model_type {model_args.model_type!r}."
        )
    if is_backbone_checkpoint(config, TFTModel):
        return  # no classification head: a new one is trained for the corpus's labels
    checkpoint_labels = [config.id2label[i] for i in range(config.num_labels)]
    if checkpoint_labels != list(label_names) and not model_args.ignore_mismatched_sizes:
        raise UsageError(
            f"--model_name_or_path {model_args.model_name_or_path} predicts {checkpoint_labels} but the corpus has "
            f"{list(label_names)}; pass --ignore_mismatched_sizes to fine-tune with a new classification head."
        )


def check_config_overrides(model_args: ModelArguments, label_names: list[str]) -> None:
    """`--config_overrides` builds a valid config (checked before any fold trains), else `UsageError`."""
    if not model_args.config_overrides or model_args.model_name_or_path:
        return
    config = ast_config(len(label_names)) if model_args.model_type == "ast" else TFTConfig(num_labels=len(label_names))
    try:
        config_with_overrides(config, model_args.config_overrides)
    except (ValueError, TypeError) as error:
        message = " ".join(str(error).split())
        prefix = "" if message.startswith("--config_overrides") else "--config_overrides: "
        raise UsageError(prefix + message) from error


def pretraining_report(folder: str | Path) -> dict | None:
    """The `pretraining.json` of a backbone saved by `run_pretrain.py` (in its folder, or beside it in the run's
    output folder for backbones saved before the copy was written), else None (e.g. a Hub id or an export)."""
    folder = Path(folder)
    for report in (folder / PRETRAINING_REPORT, folder.parent / PRETRAINING_REPORT):
        if report.is_file() and (report.parent == folder or folder.name == "backbone"):
            return json.loads(report.read_text())
    return None


def check_backbone_speakers(model_args: ModelArguments, fold: Fold) -> None:
    """Refuse a backbone pre-trained on any of `fold`'s test or validation speakers (its `pretraining.json` lists
    the speakers it saw): the fold's test score would measure speakers the model has already heard."""
    if not model_args.model_name_or_path or (report := pretraining_report(model_args.model_name_or_path)) is None:
        return
    seen = {speaker for source in report["corpora"] for speaker in source["speakers"]}
    held_out = {"test": set(fold.test_speakers), "validation": set(fold.validation_speakers)}
    leaked = {split: sorted(speakers & seen) for split, speakers in held_out.items() if speakers & seen}
    if leaked:
        details = "; ".join(f"its {split} speaker(s) {speakers}" for split, speakers in leaked.items())
        held = sorted(held_out["test"] | held_out["validation"])
        raise UsageError(
            f"--model_name_or_path {model_args.model_name_or_path}: fold {fold.index} ({fold.name}) cannot fine-tune "
            f"this backbone, pre-trained on {details}. Pre-train one backbone per fold with run_pretrain.py "
            f"--exclude_speakers {' '.join(held)} and pass --model_name_or_path .../fold{{fold}}/backbone."
        )


def label_maps(label_names: list[str]) -> dict:
    """A config's `id2label` and `label2id` for the corpus's label names."""
    return {"id2label": dict(enumerate(label_names)), "label2id": {n: i for i, n in enumerate(label_names)}}


def protocol_head_settings(model_args: ModelArguments) -> dict:
    """The head settings of a new TFT head for the training normalisation: a speaker-adaptive model weighs its
    functionals head by 2 (search HW7), shifts its embeddings to the speaker (search ES1) and, with
    `--speaker_embedding_scale`, standardises them per speaker under a head refitted after training, which then
    scores alone (searches RH1 and RW1, `head_refit.refit_transformer_head`), and with `--speaker_head_supports`
    adjusts both heads to each speaker (T3A, searches TA1 and TA2)."""
    speaker = model_args.normalization == "speaker"
    weight = SPEAKER_ADAPTIVE_FUNCTIONALS_WEIGHT if speaker else 1.0
    scale = speaker and model_args.speaker_embedding_scale
    supports = model_args.speaker_head_supports if speaker else None
    for name in ("speaker_embedding_scale", "speaker_head_supports"):
        if getattr(model_args, name) and not speaker:
            logger.info(f"--{name} is unused with --normalization {model_args.normalization}.")
    return {"functionals_weight": weight, "speaker_embedding_shift": speaker, "speaker_embedding_scale": scale,
            "speaker_head_supports": supports}  # fmt: skip


def refits_head(model_args: ModelArguments) -> bool:
    """Whether a fold's model gets its Transformer head refitted after training as a single-clip TFT
    (`--refit_head`, search RG1, `head_refit.refitted_test`); logged where the option is unused."""
    if not model_args.refit_head:
        return False
    if model_args.model_type != "tft" or model_args.normalization == "speaker":
        why = "the AST" if model_args.model_type != "tft" else "--normalization speaker (see --speaker_embedding_scale)"
        logger.info(f"--refit_head is unused with {why}.")
        return False
    return True


def new_model_config(model_args: ModelArguments, label_names: list[str]) -> PretrainedConfig:
    """The config of a new model (no `--model_name_or_path`): a TFT or the equal-size AST, with
    `--config_overrides`."""
    labels = label_maps(label_names)
    if model_args.model_type == "ast":
        config = ast_config(len(label_names), **labels)
    else:
        config = TFTConfig(num_labels=len(label_names), **protocol_head_settings(model_args), **labels)
    return config_with_overrides(config, model_args.config_overrides)


def checkpoint_head_settings(model_args: ModelArguments) -> dict:
    """The head settings a TFT checkpoint is fine-tuned with: a bare backbone's new head takes the training
    normalisation's (`protocol_head_settings`); a classifier keeps its own config, with a warning where it lacks
    the speaker shift of a speaker-adaptive run."""
    config = AutoConfig.from_pretrained(model_args.model_name_or_path)
    if not isinstance(config, TFTConfig):
        return {}
    settings = protocol_head_settings(model_args)
    if is_backbone_checkpoint(config, TFTModel):
        return settings
    if settings["speaker_embedding_shift"] and not config.speaker_embedding_shift:
        logger.warning(
            f"--model_name_or_path {model_args.model_name_or_path} was trained without speaker_embedding_shift and "
            f"is fine-tuned with its own config: with --normalization speaker its embeddings are not shifted to the "
            f"speaker and its functionals head keeps weight {config.functionals_weight} (a new model, or a bare "
            f"backbone, gets the shift and weight {settings['functionals_weight']:g})."
        )
    else:
        for name in ("speaker_embedding_scale", "speaker_head_supports"):
            if settings[name] and getattr(config, name, None) != settings[name]:
                logger.warning(
                    f"--model_name_or_path {model_args.model_name_or_path} was trained with {name}="
                    f"{getattr(config, name, None)} and is fine-tuned with its own config: --{name} is unused (a new "
                    "model, or a bare backbone, gets it)."
                )
    return {}


def build_model_and_extractor(
    model_args: ModelArguments, label_names: list[str]
) -> tuple[PreTrainedModel, TFTFeatureExtractor]:
    """The model of one fold (new, with `--config_overrides`, or fine-tuned from `--model_name_or_path`) and the
    feature extractor that feeds it."""
    labels = label_maps(label_names)
    attention = {"attn_implementation": model_args.attn_implementation} if model_args.attn_implementation else {}
    if model_args.model_name_or_path:
        model = load_pretrained_strict(
            AutoModelForAudioClassification,
            model_args.model_name_or_path,
            allow_new_head=model_args.ignore_mismatched_sizes,
            num_labels=len(label_names),
            ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
            **labels,
            **checkpoint_head_settings(model_args),
            **attention,
        )
    else:
        model = AutoModelForAudioClassification.from_config(new_model_config(model_args, label_names), **attention)
    # a TFT evaluates whole clips (in windows past config.window_frames); the AST baseline its fixed input
    whole_clips = isinstance(model.config, TFTConfig)
    feature_extractor = TFTFeatureExtractor(
        feature_size=model.config.num_mel_bins,
        prosody=bool(getattr(model.config, "num_prosody_features", 0)),  # the AST baseline: log-mel only
        max_length=None if whole_clips else crop_frames(model.config),
        normalization="none" if model_args.normalization in ("global", "speaker") else model_args.normalization,
    )
    return model, feature_extractor
