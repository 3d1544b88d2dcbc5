"""Self-supervised pre-training of the TFT backbone by masked spectrogram modelling on unlabelled speech
(`TFTForMaskedSpectrogramModeling`); `run_train.py --model_name_or_path` then fine-tunes the saved backbone."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import numpy as np
import torch
from transformers import Trainer, TrainingArguments, set_seed
from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices

from modeling_tft import TFTConfig, TFTFeatureExtractor, TFTForMaskedSpectrogramModeling

from .arguments import DataArguments, config_with_overrides, no_accelerator, without_missing_tensorboard
from .data import SpeechEmotionCollator, _undecoded, decode_batch, iter_clips, load_corpus
from .environment import environment

logger = logging.getLogger(__name__)
BACKBONE = "backbone"  # OUTPUT/backbone: the pre-trained `TFTModel` and its fitted feature extractor


@dataclass
class PretrainingDataArguments:
    """Which unlabelled audio, and how it is masked."""

    corpora: list[str] = field(default_factory=list, metadata={"help": "Raw corpora, e.g. casia ravdess."})
    data_dirs: list[str] = field(default_factory=list, metadata={"help": "Each raw corpus's folder, in order."})
    dataset_dirs: list[str] = field(
        default_factory=list, metadata={"help": "Datasets prepared by tft_ser.data (as run_train's --dataset_dir)."}
    )
    exclude_speakers: list[str] | None = field(
        default=None,
        metadata={"help": "Speakers left out of pre-training, e.g. a fold's validation and test speakers."},
    )
    mask_prob: float = field(
        default=0.5, metadata={"help": "About this fraction of time tokens masked (wav2vec 2.0's span masking)."}
    )
    mask_length: int = field(default=5, metadata={"help": "Masked span length in time tokens (5 = 200 ms)."})
    config_overrides: str | None = field(
        default=None, metadata={"help": "TFTConfig overrides of the backbone, as run_train.py's."}
    )


@dataclass
class PretrainingArguments(TrainingArguments):
    """`TrainingArguments` with pre-training defaults: no evaluation, the backbone saved once at the end."""

    output_dir: str = field(default="outputs/pretrain", metadata={"help": "Where the backbone and report go."})
    learning_rate: float = field(default=5e-4, metadata={"help": "Peak AdamW learning rate."})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay."})
    warmup_steps: float = field(default=0.1, metadata={"help": "Warm-up steps, or a fraction of all steps if < 1."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Learning-rate schedule."})
    num_train_epochs: float = field(default=20, metadata={"help": "Epochs over the unlabelled clips."})
    per_device_train_batch_size: int = field(default=16, metadata={"help": "Clips per device and step."})
    save_strategy: str = field(default="no", metadata={"help": "The backbone is saved once, at the end."})
    logging_strategy: str = field(default="epoch", metadata={"help": "Log the loss every epoch."})
    report_to: None | str | list[str] = field(default="none", metadata={"help": "Loggers."})  # noqa: RUF036
    remove_unused_columns: bool = field(default=False, metadata={"help": "Keep the audio column for the collator."})
    use_cpu: bool = field(default_factory=no_accelerator, metadata={"help": "Train on the CPU (default without GPU)."})


class MaskedSpectrogramCollator:
    """Random training crops of `crop_frames` frames, featurised, with spans of time tokens to mask
    (`mask_time_indices`, drawn by wav2vec 2.0's `_compute_mask_indices` from numpy's seeded generator)."""

    def __init__(
        self,
        feature_extractor: TFTFeatureExtractor,
        crop_frames: int,
        frames_per_token: int,
        mask_prob: float,
        mask_length: int,
    ) -> None:
        if not 0.0 < mask_prob < 1.0 or mask_length < 1:
            raise ValueError(f"Need 0 < mask_prob < 1 and mask_length >= 1, got {mask_prob} and {mask_length}.")
        if mask_length * frames_per_token > crop_frames:
            raise ValueError(
                f"A masked span of {mask_length} tokens ({mask_length * frames_per_token} frames) does not fit in a "
                f"training crop of {crop_frames} frames."
            )
        self.crop = SpeechEmotionCollator(feature_extractor, train=True, crop_frames=crop_frames)  # its random crops
        self.feature_extractor = feature_extractor
        self.frames_per_token, self.mask_prob, self.mask_length = frames_per_token, mask_prob, mask_length

    def __call__(self, batch: list[dict]) -> dict[str, torch.Tensor]:
        clips = [self.crop.random_crop(example["audio"]) for example in batch]
        fe = self.feature_extractor
        features = fe(clips, sampling_rate=fe.sampling_rate, padding="longest", return_tensors="pt")
        token_mask = features["attention_mask"][:, :: self.frames_per_token]  # a token is real if its first frame is
        mask = _compute_mask_indices(
            tuple(token_mask.shape), self.mask_prob, self.mask_length, attention_mask=token_mask, min_masks=1
        )
        return {**features, "mask_time_indices": torch.from_numpy(mask)}


def load_unlabelled(data_args: PretrainingDataArguments, output_dir: Path) -> tuple[datasets.Dataset, list[dict]]:
    """The clips of every source (audio and speaker only) minus `exclude_speakers`, and what each source gave or
    left out (one entry per source, in the order given)."""
    if len(data_args.corpora) != len(data_args.data_dirs):
        raise ValueError(f"--corpora {data_args.corpora} and --data_dirs {data_args.data_dirs} differ in length.")
    sources = [DataArguments(corpus=c, data_dir=d) for c, d in zip(data_args.corpora, data_args.data_dirs, strict=True)]
    sources += [DataArguments(dataset_dir=d) for d in data_args.dataset_dirs]
    if not sources:
        raise ValueError("Nothing to pre-train on: give --corpora with --data_dirs, or --dataset_dirs.")
    excluded = set(data_args.exclude_speakers or [])
    parts, report = [], []
    for index, args in enumerate(sources):
        dataset, corpus = load_corpus(args, output_dir / "prepared" / str(index))
        speakers = sorted(set(dataset["speaker"]))
        kept = dataset.filter(lambda s: s not in excluded, input_columns="speaker")
        report.append(
            {
                "corpus": corpus,
                "source": args.dataset_dir or args.data_dir,
                "clips": len(kept),
                "speakers": sorted(set(speakers) - excluded),
                "excluded_speakers": sorted(set(speakers) & excluded),
                "excluded_clips": len(dataset) - len(kept),
            }
        )
        logger.info(f"{corpus}: {len(kept)} clips kept, {len(dataset) - len(kept)} of {sorted(excluded)} left out")
        parts.append(_undecoded(kept.select_columns(["audio", "speaker"])))
    unknown = excluded - {s for r in report for s in r["excluded_speakers"]}
    if unknown:
        raise ValueError(f"--exclude_speakers {sorted(unknown)}: no such speaker in {[r['corpus'] for r in report]}.")
    return datasets.concatenate_datasets(parts), report


def pretrain(data_args: PretrainingDataArguments, args: PretrainingArguments, command: list[str]) -> dict:
    """Pre-train a TFT backbone; save it with its fitted feature extractor under OUTPUT/backbone.

    `command` is the run's command line (script and arguments), recorded with the environment.
    """
    without_missing_tensorboard(args)
    started = time.time()
    run_environment = environment(command, device=args.device)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    set_seed(args.seed)
    dataset, corpora = load_unlabelled(data_args, output_dir)
    config = config_with_overrides(TFTConfig(), data_args.config_overrides)
    feature_extractor = TFTFeatureExtractor(
        feature_size=config.num_mel_bins, prosody=bool(config.num_prosody_features), normalization="none"
    )
    collator = MaskedSpectrogramCollator(
        feature_extractor, config.max_frames, config.frames_per_time_token, data_args.mask_prob, data_args.mask_length
    )
    lengths = []  # samples per clip, counted as `fit` decodes them (one pass over the audio)

    def counted_clips() -> Iterator[np.ndarray]:
        for clip in iter_clips(dataset):
            lengths.append(len(clip))
            yield clip

    feature_extractor.fit(counted_clips(), sampling_rate=feature_extractor.sampling_rate)  # global statistics
    # a clip shorter than one masked span has no tokens to reconstruct: it cannot teach the objective
    span_frames = data_args.mask_length * config.frames_per_time_token
    kept = [i for i, length in enumerate(lengths) if feature_extractor.num_frames(length) >= span_frames]
    short = len(lengths) - len(kept)
    if short:
        logger.warning(
            f"{short} of {len(lengths)} clips are shorter than one masked span ({data_args.mask_length} tokens, "
            f"{span_frames} frames): left out of training (their frames still count in the normalisation statistics)."
        )
        if not kept:
            raise ValueError(
                f"Every clip is shorter than one masked span: lower --mask_length ({data_args.mask_length})."
            )
        dataset, lengths = dataset.select(kept), [lengths[i] for i in kept]
    model = TFTForMaskedSpectrogramModeling(config)
    trainer = Trainer(
        model=model, args=args, train_dataset=dataset.with_transform(decode_batch), data_collator=collator
    )
    trainer.train()
    backbone_dir = output_dir / BACKBONE
    model.tft.save_pretrained(backbone_dir)
    feature_extractor.save_pretrained(backbone_dir)
    losses = [round(log["loss"], 5) for log in trainer.state.log_history if "loss" in log]
    report = {
        "command": run_environment["command"],
        "corpora": corpora,
        "num_clips": len(dataset),
        "short_clips_left_out": short,
        "audio_hours": round(sum(lengths) / feature_extractor.sampling_rate / 3600, 3),
        "loss_by_epoch": losses,
        "backbone": str(backbone_dir),
        "wall_time_s": round(time.time() - started, 1),
        "environment": run_environment,
        "arguments": {"data": asdict(data_args), "training": json.loads(args.to_json_string())},
    }
    text = json.dumps(report, indent=1)
    (output_dir / "pretraining.json").write_text(text)
    (backbone_dir / "pretraining.json").write_text(text)  # travels with the backbone: fine-tuning checks its speakers
    return report
