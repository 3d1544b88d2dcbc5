"""A complete Hub repository from a run: weights, config + code (auto_map), preprocessor, model card, results."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path

from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData

from modeling_tft import TFTConfig, TFTFeatureExtractor, TFTForAudioClassification, TFTModel

from .checkpoints import load_pretrained_strict
from .cross_validation import results_table
from .licences import CORPUS_LICENCES, UNKNOWN_NOTE, DataLicence

logger = logging.getLogger(__name__)
TEMPLATE = Path(__file__).with_name("model_card.md")  # package data: the card template ships in the wheel
UNKNOWN = DataLicence("other", UNKNOWN_NOTE.format(source="not recorded"), None, license_name="unknown")


def export_run(results: dict, output_dir: Path, export_dir: Path, model_id: str) -> Path:
    """Write the exported fold's model (with remote code) and a model card filled with the run's results."""
    source = output_dir / f"fold_{results['exported_fold']}" / "model"
    if export_dir.exists():
        shutil.rmtree(export_dir)
    model = load_pretrained_strict(TFTForAudioClassification, source)
    # `AutoModel` (the backbone: `pooler_output` is the utterance embedding) loads the export as well
    model.config.auto_map = {"AutoModel": f"{TFTModel.__module__.split('.')[-1]}.{TFTModel.__name__}"}
    model.save_pretrained(export_dir)
    extractor = TFTFeatureExtractor.from_pretrained(source)
    extractor.max_length = None  # whole clips: the model windows inputs longer than config.window_frames itself
    extractor.save_pretrained(export_dir)
    (export_dir / "results.json").write_text(json.dumps(results, indent=1))
    model_card(results, model_id, model.config).save(export_dir / "README.md")
    logger.info(f"Export (Hub-ready repository) written to {export_dir}")
    return export_dir


def model_card(results: dict, model_id: str, config: TFTConfig | None = None) -> ModelCard:
    """The card from the `model_card.md` template, with `model-index` results that `ModelCard` parses; `config`, the
    exported model's, says what it reads (prosody contours) and how its heads combine (default: log-mel only)."""
    corpus = results["corpus"]
    protocol = results["protocol"].replace("_", "-")
    eval_results = [
        EvalResult(
            task_type="audio-classification",
            task_name="Speech emotion recognition",
            dataset_type=corpus,
            dataset_name=f"{corpus} ({protocol}, {len(results['folds'])} folds)",
            metric_type=metric_type,
            metric_name=f"{name} (mean over folds)",
            metric_value=round(100 * results["mean"][key], 2),
        )
        for key, name, metric_type in (("wa", "WA", "accuracy"), ("ua", "UA", "balanced_accuracy"))
    ]
    licence = results.get("data_licence") or asdict(CORPUS_LICENCES["demo"] if corpus == "demo" else UNKNOWN)
    base_model = _base_model(results)
    card_data = ModelCardData(
        model_name=model_id,
        library_name="transformers",
        pipeline_tag="audio-classification",
        license=licence["license"],
        license_name=licence.get("license_name"),
        language=list(licence.get("language") or []) or None,
        datasets=list(licence.get("datasets") or []) or None,
        base_model=base_model if base_model and not Path(base_model).exists() else None,  # Hub ids only
        tags=["audio-classification", "speech-emotion-recognition", "time-frequency-transformer", "tft"],
        metrics=["accuracy", "balanced_accuracy"],
        eval_results=eval_results,
    )
    exported = next(f for f in results["folds"] if f["fold"] == results["exported_fold"])
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE),
        model_id=model_id,
        results=results,
        results_table=results_table(results),
        exported=exported,
        licence=licence,
        base_model=base_model,
        labels=", ".join(results["label_names"]),
        synthetic=corpus == "demo",
        wa=f"{100 * results['mean']['wa']:.2f} ± {100 * results['std']['wa']:.2f}",
        ua=f"{100 * results['mean']['ua']:.2f} ± {100 * results['std']['ua']:.2f}",
        config=json.dumps(results["arguments"], indent=1),
        num_prosody_features=getattr(config, "num_prosody_features", 0),
        functionals_head=getattr(config, "functionals_head", False),
        functionals_weight=getattr(config, "functionals_weight", 1.0),
        speaker_embedding_shift=getattr(config, "speaker_embedding_shift", False),
        speaker_embedding_scale=getattr(config, "speaker_embedding_scale", False),
        speaker_head_supports=getattr(config, "speaker_head_supports", None),
    )


def _base_model(results: dict) -> str | None:
    """The checkpoint the exported fold was fine-tuned from (`{fold}` filled in), if any."""
    path = results["arguments"]["model"].get("model_name_or_path")
    return path.replace("{fold}", str(results["exported_fold"])) if path else None


def push_export(export_dir: Path, repo_id: str, token: str | None = None, private: bool | None = None) -> str:
    """Upload the export folder; any failure (e.g. offline) becomes one clear error and leaves the folder intact."""
    try:
        api = HfApi(token=token)
        api.create_repo(repo_id, exist_ok=True, private=private)
        commit = api.upload_folder(folder_path=str(export_dir), repo_id=repo_id, commit_message="Upload TFT model")
    except Exception as error:  # network, auth and offline-mode errors all end here
        raise RuntimeError(
            f"Could not push {export_dir} to the Hub as {repo_id!r} ({type(error).__name__}: {error}). "
            f"The export folder is complete and untouched; push it later with: hf upload {repo_id} {export_dir} ."
        ) from error
    return str(commit)
