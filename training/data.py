"""Corpus loading, fold checks, and the collator that crops, featurises and augments batches."""

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

from dataset_scripts import CORPORA, Fold, decode_audio, generate_demo_corpus, make_folds
from modeling_tft import TFTFeatureExtractor

from .arguments import DataArguments

logger = logging.getLogger(__name__)


def load_corpus(args: DataArguments, output_dir: Path) -> tuple[datasets.Dataset, str]:
    """The prepared dataset and a short name for it: from `--dataset_dir`, `--corpus`, or the demo corpus.

    Always the copy saved on disk (memory-mapped Arrow; a freshly prepared corpus is reloaded from it), so the
    audio stays out of memory until a batch reads it.
    """
    if args.dataset_dir:
        if not Path(args.dataset_dir).is_dir():
            raise ValueError(f"--dataset_dir {args.dataset_dir} does not exist.")
        dataset, name = datasets.load_from_disk(args.dataset_dir), Path(args.dataset_dir).name
    elif args.corpus and args.corpus != "demo":
        if args.corpus not in CORPORA:
            raise ValueError(f"Unknown corpus {args.corpus!r}; expected one of {sorted(CORPORA)}.")
        if not args.data_dir:
            raise ValueError(f"--corpus {args.corpus} needs --data_dir (the raw corpus folder).")
        CORPORA[args.corpus](args.data_dir, output_dir / "prepared")
        dataset, name = datasets.load_from_disk(str(output_dir / "prepared")), args.corpus
    else:
        logger.info("No data given: using the built-in SYNTHETIC demo corpus.")
        generate_demo_corpus(
            output_dir / "prepared",
            num_speakers=args.demo_speakers,
            utterances_per_class=args.demo_utterances_per_class,
        )
        dataset, name = datasets.load_from_disk(str(output_dir / "prepared")), "demo"
    if isinstance(dataset, datasets.DatasetDict):
        raise ValueError("Expected one prepared Dataset (folds are made here), got a DatasetDict.")
    if len(dataset) == 0:
        raise ValueError(f"The dataset {name!r} is empty: nothing to train on.")
    missing = {"audio", "label", "speaker"} - set(dataset.column_names)
    if missing or not isinstance(dataset.features["label"], datasets.ClassLabel):
        raise ValueError(
            f"Dataset {name!r} lacks the dataset_scripts schema (missing {sorted(missing)} or ClassLabel)."
        )
    return dataset, name


def select_folds(dataset: datasets.Dataset, args: DataArguments, seed: int) -> list[Fold]:
    """Folds of the chosen protocol, restricted to `--folds`, each checked to hold every class in every split."""
    kwargs = {"validation_speakers": args.validation_speakers, "seed": seed}
    if args.protocol == "k_fold_by_speaker":
        kwargs["k"] = args.num_folds
    folds = make_folds(dataset.add_column("row", list(range(len(dataset)))), args.protocol, **kwargs)
    if args.folds != "all":
        wanted = [int(index) for index in args.folds.split(",")]
        unknown = sorted(set(wanted) - {fold.index for fold in folds})
        if unknown:
            raise ValueError(f"--folds {args.folds}: no fold {unknown}; this protocol has {len(folds)} folds.")
        folds = [fold for fold in folds if fold.index in wanted]
    names = dataset.features["label"].names
    for fold in folds:
        for split, part in fold.splits.items():
            if split == "validation" and len(part) == 0:
                continue
            absent = sorted(set(range(len(names))) - set(part["label"]))
            if absent:
                raise ValueError(
                    f"Fold {fold.index} ({fold.name}): the {split} split has no example of "
                    f"{[names[i] for i in absent]}; choose another protocol or fold."
                )
    return folds


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
    """Per-speaker mean and std of every log-mel band over that speaker's clips (no labels used).

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


def warp_mel_bands(
    features: torch.Tensor,
    factors: torch.Tensor,
    f_min: float,
    f_max: float,
    boundary_hz: float = 4800.0,
) -> torch.Tensor:
    """Vocal tract length perturbation (VTLP, Jaitly & Hinton 2013) of log-mel `features` (batch, frames, mel).

    Each clip's frequency axis is warped by its factor: band centre f reads the spectrum at f * factor below
    `boundary_hz * min(factor, 1) / factor` and on a straight line from there to `f_max` above it, so the band
    edges stay put. Band centres follow torchaudio's (HTK) mel scale between `f_min` and `f_max`; values between
    band centres are interpolated linearly.
    """
    num_bands = features.shape[-1]
    mel = lambda hz: 2595.0 * torch.log10(1.0 + hz / 700.0)  # noqa: E731
    mel_min, mel_max = mel(torch.tensor(f_min, dtype=torch.float64)), mel(torch.tensor(f_max, dtype=torch.float64))
    step = (mel_max - mel_min) / (num_bands + 1)
    centres = 700.0 * (10.0 ** ((mel_min + step * torch.arange(1, num_bands + 1)) / 2595.0) - 1.0)  # Hz
    factors = factors.to(torch.float64)[:, None]  # (batch, 1)
    knee = boundary_hz * factors.clamp(max=1.0)  # where the straight line starts, in the warped axis
    below = centres[None] <= knee / factors
    slope = (f_max - knee) / (f_max - knee / factors)
    source = torch.where(below, centres * factors, f_max - slope * (f_max - centres[None]))  # (batch, mel) Hz
    index = ((mel(source) - mel_min) / step - 1.0).clamp(0, num_bands - 1)
    low = index.floor().long()
    high = (low + 1).clamp(max=num_bands - 1)
    weight = (index - low).to(features.dtype)[:, None]  # (batch, 1, mel)
    expand = lambda i: i[:, None].expand(-1, features.shape[1], -1)  # noqa: E731
    return torch.lerp(features.gather(-1, expand(low)), features.gather(-1, expand(high)), weight)


def inverse_frequency_weights(labels: list[int], num_labels: int) -> list[float]:
    """Class weights n / (K * n_k), the usual 'balanced' weighting."""
    counts = Counter(labels)
    return [len(labels) / (num_labels * counts[k]) if counts[k] else 0.0 for k in range(num_labels)]


class SpeechEmotionCollator:
    """Featurises a list of `{"audio", "label"}` examples (rows of a `lazy_split`) into a padded batch.

    `model_type="ast"` gives the same features padded to `max_length` as AST's `input_values`.
    With `speaker_statistics` (from `speaker_statistics`; the extractor must then use `normalization="none"`)
    every clip is standardised with the mean/std of its example's `"speaker"`.
    For training it first resamples each waveform with `speed_factors` (torchaudio's `SpeedPerturbation`, one
    factor drawn per clip, which changes tempo and pitch as in Kaldi/SpeechBrain recipes), takes a random crop of
    at most `crop_frames` frames (default: the extractor's `max_length`), scales it by a gain drawn uniformly in
    [-gain_db, +gain_db] dB (with `gain_db > 0`), adds white noise at a signal-to-noise ratio drawn uniformly in
    the (low, high) dB range `noise_snr_db` (torchaudio's `add_noise`), and afterwards warps each clip's mel axis
    by a factor drawn uniformly in [1 - frequency_warp, 1 + frequency_warp] (`warp_mel_bands`, with
    `frequency_warp > 0`), applies SpecAugment masks (torchaudio) and, with `mixup_alpha > 0`, mixup (each batch
    mixed with a shuffled copy of itself, weight ~ Beta(alpha, alpha); labels become the mixed one-hot
    distributions). With `speaker_ids` (speaker name -> index) training batches also carry `speaker_labels` for
    the speaker-adversarial head (mixed likewise under mixup). All randomness comes from torch's global
    generator, which both trainers seed and checkpoint. Evaluation clips are cut to the feature extractor's
    `max_length`, or kept whole when it is `None` (a TFT, which scores clips longer than
    its inference window in windows).
    """

    def __init__(
        self,
        feature_extractor: TFTFeatureExtractor,
        train: bool,
        time_mask_frames: int = 0,
        frequency_mask_bins: int = 0,
        num_masks: int = 2,
        model_type: str = "tft",
        speaker_statistics: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
        mixup_alpha: float = 0.0,
        num_labels: int | None = None,
        crop_frames: int | None = None,
        speed_factors: list[float] | None = None,
        gain_db: float = 0.0,
        frequency_warp: float = 0.0,
        noise_snr_db: tuple[float, float] | None = None,
        speaker_ids: dict[str, int] | None = None,
    ) -> None:
        if mixup_alpha and not num_labels:
            raise ValueError("mixup needs `num_labels` (labels become mixed one-hot distributions).")
        if speaker_statistics is not None and feature_extractor.normalization != "none":
            raise ValueError(
                "Speaker normalisation needs a feature extractor with normalization='none', "
                f"got {feature_extractor.normalization!r} (the clips would be normalised twice)."
            )
        self.speaker_statistics = speaker_statistics
        self.feature_extractor = feature_extractor
        self.train = train
        self.model_type = model_type
        self.mixup_alpha = mixup_alpha if train else 0.0
        self.num_labels = num_labels
        fe = feature_extractor
        crop_frames = crop_frames or fe.max_length
        if train and not crop_frames:
            raise ValueError("Training crops need `crop_frames` (the feature extractor keeps whole clips).")
        self.crop_samples = fe.n_fft + (crop_frames - 1) * fe.hop_length if crop_frames else None
        masks = []
        if train and time_mask_frames:
            masks += [torchaudio.transforms.TimeMasking(time_mask_frames, iid_masks=True)] * num_masks
        if train and frequency_mask_bins:
            masks += [torchaudio.transforms.FrequencyMasking(frequency_mask_bins, iid_masks=True)] * num_masks
        self.masks = torch.nn.Sequential(*masks)
        if speed_factors is not None and (not speed_factors or min(speed_factors) <= 0):
            raise ValueError(f"`speed_factors` must be positive factors such as [0.9, 1.0, 1.1], got {speed_factors}.")
        if gain_db < 0:
            raise ValueError(f"`gain_db` must be >= 0 (the half-width of the gain range in dB), got {gain_db}.")
        self.speed = (
            torchaudio.transforms.SpeedPerturbation(fe.sampling_rate, list(speed_factors))
            if train and speed_factors
            else None
        )
        self.gain_db = gain_db if train else 0.0
        if not 0.0 <= frequency_warp < 1.0:
            raise ValueError(f"`frequency_warp` must be in [0, 1) (0.1: factors 0.9-1.1), got {frequency_warp}.")
        self.frequency_warp = frequency_warp if train else 0.0
        if noise_snr_db is not None and (len(noise_snr_db) != 2 or noise_snr_db[0] > noise_snr_db[1]):
            raise ValueError(f"`noise_snr_db` must be a (low, high) range in dB such as (10, 30), got {noise_snr_db}.")
        self.noise_snr_db = tuple(noise_snr_db) if train and noise_snr_db is not None else None
        self.speaker_ids = speaker_ids if train else None

    def __call__(self, batch: list[dict]) -> dict[str, torch.Tensor]:
        clips = [self._augment(example["audio"]) for example in batch] if self.train else [e["audio"] for e in batch]
        padding = "max_length" if self.model_type == "ast" else "longest"  # AST takes fixed-length input
        features = self.feature_extractor(
            clips, sampling_rate=self.feature_extractor.sampling_rate, padding=padding, return_tensors="pt"
        )
        if self.speaker_statistics is not None:
            features["input_features"] = self._speaker_normalised(features, batch)
        if self.frequency_warp:
            factors = torch.empty(len(batch)).uniform_(1.0 - self.frequency_warp, 1.0 + self.frequency_warp)
            fe = self.feature_extractor
            f_max = fe.f_max or fe.sampling_rate / 2
            features["input_features"] = warp_mel_bands(features["input_features"], factors, fe.f_min, f_max)
        if len(self.masks):
            spectrogram = features["input_features"].transpose(1, 2)  # (batch, mel, frames)
            masked = self.masks(spectrogram).transpose(1, 2)  # masked values are 0 = the normalised mean
            features["input_features"] = masked * features["attention_mask"][..., None]
        features["labels"] = torch.tensor([example["label"] for example in batch])
        if self.speaker_ids is not None:
            features["speaker_labels"] = self._speaker_labels(batch)
        if self.mixup_alpha:
            self._mixup(features)
        if self.model_type == "ast":  # same features under AST's input name; AST has no attention mask
            features["input_values"] = features.pop("input_features")
            del features["attention_mask"]
        return dict(features)

    def _mixup(self, features: dict[str, torch.Tensor]) -> None:
        """Mix the batch with a shuffled copy of itself (features, frame masks and one-hot labels), in place."""
        alpha = torch.tensor(float(self.mixup_alpha))
        weight = float(torch.distributions.Beta(alpha, alpha).sample())
        order = torch.randperm(len(features["labels"]))
        values, mask = features["input_features"], features["attention_mask"]
        features["input_features"] = weight * values + (1 - weight) * values[order]
        features["attention_mask"] = torch.maximum(mask, mask[order])  # both masks are prefixes: the longer one
        one_hot = torch.nn.functional.one_hot(features["labels"], self.num_labels).float()
        features["labels"] = weight * one_hot + (1 - weight) * one_hot[order]
        if "speaker_labels" in features:  # the speaker-adversarial targets are mixed like the emotions
            one_hot = torch.nn.functional.one_hot(features["speaker_labels"], len(self.speaker_ids)).float()
            features["speaker_labels"] = weight * one_hot + (1 - weight) * one_hot[order]

    def _speaker_labels(self, batch: list[dict]) -> torch.Tensor:
        unknown = sorted({e["speaker"] for e in batch} - set(self.speaker_ids))
        if unknown:
            raise KeyError(f"Speaker(s) {unknown} are not among the speaker head's training speakers.")
        return torch.tensor([self.speaker_ids[e["speaker"]] for e in batch])

    def _speaker_normalised(self, features: dict[str, torch.Tensor], batch: list[dict]) -> torch.Tensor:
        missing = sorted({e["speaker"] for e in batch} - set(self.speaker_statistics))
        if missing:
            raise KeyError(f"No speaker statistics for speaker(s) {missing}; compute them over every split.")
        mean = torch.stack([self.speaker_statistics[e["speaker"]][0] for e in batch])[:, None]  # (batch, 1, mel)
        std = torch.stack([self.speaker_statistics[e["speaker"]][1] for e in batch])[:, None]
        return (features["input_features"] - mean) / std * features["attention_mask"][..., None]

    def _augment(self, clip: np.ndarray) -> np.ndarray:
        """Training waveform: speed-perturbed, randomly cropped, scaled by a random gain, then noised (each when on)."""
        if self.speed is not None:
            clip = self.speed(torch.as_tensor(clip, dtype=torch.float32))[0].numpy()
        clip = self.random_crop(clip)
        if self.gain_db:
            clip = clip * 10.0 ** (float(torch.empty(()).uniform_(-self.gain_db, self.gain_db)) / 20.0)
        if self.noise_snr_db is not None:
            waveform = torch.as_tensor(clip, dtype=torch.float32)[None]
            snr = torch.empty(1).uniform_(*self.noise_snr_db)
            clip = torchaudio.functional.add_noise(waveform, torch.randn_like(waveform), snr)[0].numpy()
        return clip

    def random_crop(self, clip: np.ndarray) -> np.ndarray:
        """A random `crop_frames`-frame excerpt of a longer waveform (torch's global generator); shorter ones whole."""
        excess = len(clip) - self.crop_samples
        if excess <= 0:
            return clip
        start = int(torch.randint(0, excess + 1, ()).item())
        return clip[start : start + self.crop_samples]
