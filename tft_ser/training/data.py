"""Corpus loading, fold checks, and the collator that crops, featurises and masks batches."""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import datasets
import numpy as np
import torch
import torchaudio

from modeling_tft import TFTFeatureExtractor
from tft_ser.data import CORPORA, BadArgument, Fold, PreparationError, decode_audio, generate_demo_corpus, make_folds

from .arguments import DataArguments, UsageError

logger = logging.getLogger(__name__)


def load_corpus(args: DataArguments, output_dir: Path) -> tuple[datasets.Dataset, str]:
    """The prepared dataset and a short name for it: from `--dataset_dir`, `--corpus`, or the demo corpus.

    Always the copy saved on disk (memory-mapped Arrow; a freshly prepared corpus is reloaded from it), so the
    audio stays out of memory until a batch reads it.
    """
    if args.dataset_dir:
        if not Path(args.dataset_dir).is_dir():
            raise UsageError(f"--dataset_dir {args.dataset_dir} does not exist.")
        dataset, name = datasets.load_from_disk(args.dataset_dir), Path(args.dataset_dir).name
    elif args.corpus and args.corpus != "demo":
        if args.corpus not in CORPORA:
            raise UsageError(f"--corpus must be one of {sorted(CORPORA)}, got {args.corpus!r}.")
        if not args.data_dir:
            raise UsageError(f"--corpus {args.corpus} needs --data_dir (the raw corpus folder).")
        try:
            CORPORA[args.corpus](Path(args.data_dir), output_dir / "prepared")
        except BadArgument as error:  # the preparer's own usage errors (exit 2 in its script too)
            raise UsageError(f"--corpus {args.corpus}: {error}") from error
        dataset, name = datasets.load_from_disk(str(output_dir / "prepared")), args.corpus
    else:
        logger.info("No data given: using the built-in SYNTHETIC demo corpus.")
        generate_demo_corpus(
            output_dir / "prepared",
            num_speakers=args.demo_speakers,
            utterances_per_class=args.demo_utterances_per_class,
        )
        dataset, name = datasets.load_from_disk(str(output_dir / "prepared")), "demo"
    check_corpus(dataset, name)
    return dataset, name


def check_corpus(dataset: datasets.Dataset, name: str) -> None:
    """A corpus run_train.py can train on: one `Dataset` with the shared schema and at least two classes with clips
    (a one-class corpus trains to a meaningless 100 %). Raises `PreparationError` (exit code 1)."""
    if isinstance(dataset, datasets.DatasetDict):
        raise PreparationError(f"{name}: expected one prepared Dataset (folds are made here), got a DatasetDict.")
    if len(dataset) == 0:
        raise PreparationError(f"The dataset {name!r} is empty: nothing to train on.")
    missing = {"audio", "label", "speaker"} - set(dataset.column_names)
    if missing or not isinstance(dataset.features["label"], datasets.ClassLabel):
        raise PreparationError(
            f"Dataset {name!r} lacks the tft_ser.data schema (missing {sorted(missing)} or ClassLabel)."
        )
    names = dataset.features["label"].names
    present = Counter(dataset["label"][:])
    if len(present) < 2:
        found = ", ".join(f"{names[i]!r} ({n} clips)" for i, n in sorted(present.items()))
        raise PreparationError(
            f"{name}: {len(present)} class with clips ({found}); at least 2 are needed to train an emotion "
            "classifier (a one-class corpus trains to a meaningless 100 %)."
        )


def select_folds(dataset: datasets.Dataset, args: DataArguments, seed: int) -> list[Fold]:
    """Folds of the chosen protocol, restricted to `--folds`, each checked to hold every class in every split."""
    kwargs = {"validation_speakers": args.validation_speakers, "seed": seed}
    if args.protocol == "k_fold_by_speaker":
        kwargs["k"] = args.num_folds
    protocol = f"--protocol {args.protocol}" + (f" --num_folds {args.num_folds}" if "k" in kwargs else "")
    try:
        folds = make_folds(dataset.add_column("row", list(range(len(dataset)))), args.protocol, **kwargs)
    except ValueError as error:  # e.g. more validation speakers or folds than the corpus has speakers
        raise UsageError(f"{protocol} --validation_speakers {args.validation_speakers}: {error}") from error
    if args.folds != "all":
        wanted = [int(index) for index in args.folds.split(",")]
        unknown = sorted(set(wanted) - {fold.index for fold in folds})
        if unknown:
            raise UsageError(f"--folds {args.folds}: no fold {unknown}; this protocol has {len(folds)} folds.")
        folds = [fold for fold in folds if fold.index in wanted]
    check_fold_classes(folds, dataset.features["label"].names, protocol)
    return folds


def check_fold_classes(folds: list[Fold], names: list[str], protocol: str) -> None:
    """Refuse a fold whose train or test split (or a non-empty validation split) lacks a class (`UsageError`)."""
    for fold in folds:
        for split, part in fold.splits.items():
            if split == "validation" and len(part) == 0:
                continue
            absent = sorted(set(range(len(names))) - set(part["label"]))
            if absent:
                raise UsageError(
                    f"{protocol}: Fold {fold.index} ({fold.name}): the {split} split has no example of "
                    f"{[names[i] for i in absent]}; its scores would not cover every class. Choose another "
                    "--protocol, --num_folds or --folds."
                )


def iter_clips(dataset: datasets.Dataset, batch_size: int = 64) -> Iterator[np.ndarray]:
    """The dataset's clips one by one (16 kHz mono float32), read from Arrow `batch_size` rows at a time."""
    for batch in _undecoded(dataset.select_columns("audio")).iter(batch_size=batch_size):
        yield from (decode_audio(audio) for audio in batch["audio"])


def decode_batch(batch: dict[str, list]) -> dict[str, list]:
    """The `set_transform` of the training splits: each clip's stored bytes -> 16 kHz mono float32 samples."""
    if "audio" in batch:  # a transform may be handed a subset of the columns
        batch["audio"] = [decode_audio(audio) for audio in batch["audio"]]
    return batch


def lazy_split(split: datasets.Dataset) -> datasets.Dataset:
    """A split as the trainers get it: its `audio`, `label` and `speaker` columns, still in the Arrow table.

    Each clip is decoded only when its row is read (`with_transform(decode_batch)`), i.e. per batch by the
    DataLoader, in its worker processes when `--dataloader_num_workers` > 0, so memory does not grow with the
    corpus. (Reading one of its columns, e.g. `["label"]`, runs the transform too: read those from `split`.)
    The `Audio` column is read undecoded and decoded by soundfile (`decode_audio`): the same samples as
    datasets' own (torchcodec) decoding of the stored 16-bit WAV, at about a tenth of its per-clip cost.
    """
    return _undecoded(split.select_columns(["audio", "label", "speaker"])).with_transform(decode_batch)


def _undecoded(dataset: datasets.Dataset) -> datasets.Dataset:
    if isinstance(dataset.features["audio"], datasets.Audio):
        return dataset.cast_column("audio", datasets.Audio(dataset.features["audio"].sampling_rate, decode=False))
    return dataset  # e.g. raw sample lists: `decode_audio` takes them as they are


def speaker_statistics(
    dataset: datasets.Dataset, feature_extractor: TFTFeatureExtractor
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per-speaker mean and std of every feature channel over that speaker's clips (no labels used).

    The usual speaker normalisation of speaker-independent SER: each clip is later standardised with its own
    speaker's statistics, including the (unlabelled) audio of the test speakers. It is
    `TFTFeatureExtractor.fit` run on one speaker's clips (streamed from `dataset` in its row order), so an
    exported extractor can be adapted to a new speaker the same way.
    """
    speakers = np.asarray(dataset["speaker"][:], dtype=object)
    statistics = {}
    for speaker in dict.fromkeys(speakers.tolist()):
        clips = iter_clips(dataset.select(np.flatnonzero(speakers == speaker)))
        fitted = copy.deepcopy(feature_extractor).fit(clips, sampling_rate=feature_extractor.sampling_rate)
        statistics[speaker] = (torch.tensor(fitted.mean).float(), torch.tensor(fitted.std).float())
    return statistics


class SpeechEmotionCollator:
    """Featurises a list of `{"audio", "label", "speaker"}` examples (rows of a `lazy_split`) into a padded batch.

    Training takes a random crop of at most `crop_frames` frames of each clip (default: the extractor's
    `max_length`) and, when their widths are > 0, `num_masks` SpecAugment time and frequency masks (torchaudio,
    drawn per clip); all randomness comes from torch's global generator, which both trainers seed and checkpoint.
    Evaluation clips are cut to the extractor's `max_length`, or kept whole when it is `None` (a TFT, which scores
    clips longer than its inference window in windows). Time masks cover every channel of a frame, frequency masks
    only mel bands. With `speaker_statistics` (from `speaker_statistics`; the extractor must then use
    `normalization="none"`) every clip is standardised with its own speaker's statistics (`standardize`).
    `model_type="ast"` gives the same features padded to `max_length` as AST's `input_values`.
    """

    def __init__(
        self,
        feature_extractor: TFTFeatureExtractor,
        train: bool,
        crop_frames: int | None = None,
        time_mask_frames: int = 0,
        frequency_mask_bins: int = 0,
        num_masks: int = 2,
        speaker_statistics: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
        model_type: str = "tft",
    ) -> None:
        if speaker_statistics is not None and feature_extractor.normalization != "none":
            raise ValueError(
                "Speaker normalisation needs a feature extractor with normalization='none', "
                f"got {feature_extractor.normalization!r} (the clips would be normalised twice)."
            )
        self.feature_extractor = feature_extractor
        self.train = train
        self.speaker_statistics = speaker_statistics
        self.model_type = model_type
        fe = feature_extractor
        crop_frames = crop_frames or fe.max_length
        if train and not crop_frames:
            raise ValueError("Training crops need `crop_frames` (the feature extractor keeps whole clips).")
        self.crop_samples = fe.n_fft + (crop_frames - 1) * fe.hop_length if crop_frames else None
        time_masks, frequency_masks = [], []
        if train and time_mask_frames:
            time_masks = [torchaudio.transforms.TimeMasking(time_mask_frames, iid_masks=True)] * num_masks
        if train and frequency_mask_bins:
            frequency_masks = [torchaudio.transforms.FrequencyMasking(frequency_mask_bins, iid_masks=True)] * num_masks
        self.time_masks, self.frequency_masks = torch.nn.Sequential(*time_masks), torch.nn.Sequential(*frequency_masks)

    def __call__(self, batch: list[dict]) -> dict[str, torch.Tensor]:
        clips = [self.random_crop(e["audio"]) if self.train else e["audio"] for e in batch]
        padding = "max_length" if self.model_type == "ast" else "longest"  # AST takes fixed-length input
        features = self.feature_extractor(
            clips, sampling_rate=self.feature_extractor.sampling_rate, padding=padding, return_tensors="pt"
        )
        if self.speaker_statistics is not None:
            features["input_features"] = self._speaker_normalised(features, batch)
        if len(self.time_masks) or len(self.frequency_masks):
            features["input_features"] = (
                self._masked(features["input_features"]) * features["attention_mask"][..., None]
            )
        features["labels"] = torch.tensor([example["label"] for example in batch])
        if self.model_type == "ast":  # same features under AST's input name; AST has no attention mask
            features["input_values"] = features.pop("input_features")
            del features["attention_mask"]
        return dict(features)

    def _masked(self, features: torch.Tensor) -> torch.Tensor:
        """SpecAugment: masked values are 0, the normalised mean (and "unvoiced" for the voicing contours)."""
        mel = self.feature_extractor.feature_size
        channels = self.time_masks(features.transpose(1, 2))  # (batch, channels, frames)
        return torch.cat([self.frequency_masks(channels[:, :mel]), channels[:, mel:]], dim=1).transpose(1, 2)

    def _speaker_normalised(self, features: dict[str, torch.Tensor], batch: list[dict]) -> torch.Tensor:
        missing = sorted({e["speaker"] for e in batch} - set(self.speaker_statistics))
        if missing:
            raise KeyError(f"No speaker statistics for speaker(s) {missing}; compute them over every split.")
        mean = torch.stack([self.speaker_statistics[e["speaker"]][0] for e in batch])[:, None]  # (batch, 1, mel)
        std = torch.stack([self.speaker_statistics[e["speaker"]][1] for e in batch])[:, None]
        standardized = self.feature_extractor.standardize(features["input_features"], mean, std)
        return standardized * features["attention_mask"][..., None]

    def random_crop(self, clip: np.ndarray) -> np.ndarray:
        """A random `crop_frames`-frame excerpt of a longer waveform (torch's global generator); shorter ones whole."""
        excess = len(clip) - self.crop_samples
        if excess <= 0:
            return clip
        start = int(torch.randint(0, excess + 1, ()).item())
        return clip[start : start + self.crop_samples]
