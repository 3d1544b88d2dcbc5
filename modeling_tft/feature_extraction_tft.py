"""Log-mel feature extractor of the Time-Frequency Transformer (TFT)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
import torchaudio
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature
from transformers.utils import TensorType, logging

from .audio_utils import to_mono
from .prosody_tft import PROSODY_CHANNELS, VOICED, prosody_contours

logger = logging.get_logger(__name__)

NORMALIZATIONS = ("utterance", "global", "none")
# A 2-D array whose last axis is this short is one (samples, channels) clip (`soundfile.read`); others, a batch.
MAX_CHANNELS = 8
LOG_OFFSET = 1e-6
# Float audio lies in [-1, 1]. A clip peaking beyond it, up to this peak (6 dB over full scale), is scaled by 1/peak
# with a warning, as data preparation does (never clipped); beyond it, refused as mis-scaled (e.g. int16 as float).
MAX_FLOAT_PEAK = 2.0
# Shorter clips are scored with a warning: data preparation leaves them out (too short to carry an emotion).
MIN_RELIABLE_SECONDS = 0.25
# Least audio behind speaker-adaptive statistics (`adapted`): below it, band means and deviations follow the words
# said more than the speaker.
MIN_ADAPTATION_SECONDS = 10.0
_INT_SCALES = {np.dtype(np.int16): 2.0**15, np.dtype(np.int32): 2.0**31, np.dtype(np.int8): 2.0**7}


class TFTFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Turns raw mono waveforms into log-mel spectrograms plus an `attention_mask` over frames, computed with
    `torchaudio` on the whole padded batch at once. With `prosody=True` each frame also carries the 14 prosody
    contours of `prosody_tft.PROSODY_CHANNELS` (pitch, voicing, harmonicity, loudness and spectral balance, as
    eGeMAPS' descriptors), after its `feature_size` mel bands: `input_features` is `(batch, frames,
    feature_size + 14)`, normalised as the bands are (the voiced-only contours over voiced frames, 0 elsewhere; the
    voicing flag stays 0/1), as Kaldi's fbank+pitch features append pitch to the filterbank.

    Frames are taken without centre padding (`center=False`), so a frame never sees samples beyond the end of
    its clip: a clip gives the same features alone or padded inside a batch.

    Args:
        feature_size (`int`, *optional*, defaults to 64):
            Mel bands per frame (`num_mel_bins` of the model).
        prosody (`bool`, *optional*, defaults to `True`):
            Append the prosody contours to every frame (`num_prosody_features` of the model). `False` in a saved
            `preprocessor_config.json` without the field (saved before it existed).
        sampling_rate (`int`, *optional*, defaults to 16000):
            Sampling rate the model expects, in Hz.
        padding_value (`float`, *optional*, defaults to 0.0):
            Value of padded frames (after normalisation).
        n_fft (`int`, *optional*, defaults to 512):
            FFT size in samples; also the shortest clip accepted (32 ms at 16 kHz).
        win_length (`int`, *optional*, defaults to 400):
            Analysis window in samples (25 ms, Hann).
        hop_length (`int`, *optional*, defaults to 160):
            Frame shift in samples (10 ms).
        f_min (`float`, *optional*, defaults to 20.0):
            Lowest mel filter edge, in Hz.
        f_max (`float`, *optional*):
            Highest mel filter edge, in Hz (defaults to half the sampling rate).
        max_length (`int`, *optional*, defaults to 300):
            Frames kept per clip (300 = 3 s); longer clips are truncated from the end, with a warning. `None` keeps
            every clip whole, as exports do: [`TFTForAudioClassification`] scores a clip longer than its inference
            window (`TFTConfig.window_frames`) in overlapping windows. `padding="max_length"` then pads to the
            longest clip of the batch.
        normalization (`str`, *optional*, defaults to `"utterance"`):
            `"utterance"`: each clip's bands are standardised over its own frames (works for one clip in a
            `pipeline`, removes channel and speaker level). `"global"`: standardised with `mean`/`std`
            (set by [`~TFTFeatureExtractor.fit`] on training data, saved in `preprocessor_config.json`).
            `"none"`: raw features.
        mean, std (`list[float]`, *optional*):
            Per-channel (mel bands, then contours) mean and standard deviation for `"global"` normalisation.
        statistics_seconds (`float`, *optional*):
            Seconds of audio behind `mean`/`std` (set by `fit`).
        return_attention_mask (`bool`, *optional*, defaults to `True`):
            Return the frame mask by default.
    """

    model_input_names = ["input_features", "attention_mask"]

    def __init__(
        self,
        feature_size: int = 64,
        prosody: bool = True,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 160,
        f_min: float = 20.0,
        f_max: float | None = None,
        max_length: int | None = 300,
        normalization: str = "utterance",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        statistics_seconds: float | None = None,
        return_attention_mask: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(
            feature_size, sampling_rate, padding_value, return_attention_mask=return_attention_mask, **kwargs
        )
        if win_length > n_fft:
            raise ValueError(f"`win_length` ({win_length}) must not exceed `n_fft` ({n_fft}).")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"`normalization` must be one of {NORMALIZATIONS}, got {normalization!r}.")
        if normalization == "global" and (mean is None or std is None):
            raise ValueError("`normalization='global'` needs `mean` and `std` (see `TFTFeatureExtractor.fit`).")
        self.prosody = prosody
        for name, stats in (("mean", mean), ("std", std)):
            if stats is not None and len(stats) != self.num_channels:
                raise ValueError(
                    f"`{name}` has {len(stats)} values, expected one per channel ({self.num_channels}: "
                    f"{feature_size} mel bands{' and the prosody contours' if prosody else ''})."
                )
        self.n_fft, self.win_length, self.hop_length = n_fft, win_length, hop_length
        self.f_min, self.f_max, self.max_length, self.normalization = f_min, f_max, max_length, normalization
        self.mean = [float(m) for m in mean] if mean is not None else None
        self.std = [float(s) for s in std] if std is not None else None
        self.statistics_seconds = statistics_seconds
        self._mel_transform: torchaudio.transforms.MelSpectrogram | None = None

    @classmethod
    def from_dict(cls, feature_extractor_dict: dict[str, Any], **kwargs) -> TFTFeatureExtractor:
        """As `FeatureExtractionMixin.from_dict`; a dict without `prosody` was saved before it existed: log-mel only."""
        return super().from_dict({"prosody": False, **feature_extractor_dict}, **kwargs)

    @property
    def num_channels(self) -> int:
        """Values per frame: the mel bands, then the prosody contours (with `prosody`)."""
        return self.feature_size + (len(PROSODY_CHANNELS) if self.prosody else 0)

    @property
    def min_num_samples(self) -> int:
        """Shortest clip accepted, in samples: one full analysis frame."""
        return self.n_fft

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a clip of `num_samples` samples (before truncation)."""
        return 1 + (num_samples - self.n_fft) // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in super().to_dict().items() if not key.startswith("_")}

    def __call__(
        self,
        raw_speech: np.ndarray | torch.Tensor | Sequence[Any],
        sampling_rate: int | None = None,
        padding: bool | str = "max_length",
        max_length: int | None = None,
        truncation: bool = True,
        return_tensors: str | TensorType | None = None,
        return_attention_mask: bool | None = None,
        resample: bool = False,
        **kwargs,
    ) -> BatchFeature:
        """
        Featurise one clip or a batch of clips.

        Args:
            raw_speech: a 1-D array/tensor/list of floats (one clip), a list of them, or a 2-D array
                (a batch of equal-length clips). Multichannel clips (2-D elements, or one `(samples, channels)`
                array, at most 8 channels) are down-mixed as FFmpeg does a file (`audio_utils`); integer PCM is
                scaled to [-1, 1]; float64 is cast to float32. Empty, too short or non-finite audio raises `ValueError`.
            sampling_rate: sampling rate of `raw_speech`. A different rate raises, unless `resample=True`.
            padding: `"max_length"` (default: every clip padded to `max_length` frames), `"longest"`/`True`
                (to the longest clip in the batch) or `False`/`"do_not_pad"` (single clip only).
            max_length: frames kept per clip (defaults to `self.max_length`; if both are `None`, whole clips).
            truncation: truncate longer clips to `max_length` frames; if `False`, longer clips raise.
            return_tensors: `"pt"`, `"np"` or `None` (lists of arrays).
            return_attention_mask: return the `(batch, frames)` mask (default: `self.return_attention_mask`).
            resample: resample audio at another `sampling_rate` (FFmpeg, as for a file; logged) instead of raising.
        """
        if kwargs:
            raise TypeError(f"Unexpected arguments to {type(self).__name__}: {sorted(kwargs)}.")
        clips = self._to_mono_clips(raw_speech)
        clips = self._check_sampling_rate(clips, sampling_rate, resample)
        max_length = max_length or self.max_length or self._longest(clips)
        self._check_lengths(clips, max_length, truncation)
        for index, clip in enumerate(clips):
            if len(clip) < MIN_RELIABLE_SECONDS * self.sampling_rate:
                logger.warning(
                    f"{_clip_name(index, len(clips))} lasts {len(clip) / self.sampling_rate:.3f} s, less than "
                    f"{MIN_RELIABLE_SECONDS} s: too short to carry an emotion (data preparation leaves such clips out)."
                )
        if any(self.num_frames(len(clip)) > max_length for clip in clips):
            logger.warning_once(
                f"{type(self).__name__}: audio longer than max_length frames is truncated to its start. Set "
                "`max_length=None` to keep whole clips (TFTForAudioClassification scores long inputs in windows)."
            )

        features, num_frames = self._features(clips, max_length)
        features = self._normalize(features, num_frames)
        target = self._target_frames(padding, num_frames, max_length)
        features = torch.nn.functional.pad(features[:, :target], (0, 0, 0, max(0, target - features.shape[1])))
        mask = torch.arange(target)[None, :] < num_frames[:, None]  # (batch, frames)
        features = features.masked_fill(~mask[..., None], self.padding_value)

        data = {"input_features": features.numpy()}
        if return_attention_mask if return_attention_mask is not None else self.return_attention_mask:
            data["attention_mask"] = mask.to(torch.int32).numpy()
        if return_tensors is None:
            data = {key: list(value) for key, value in data.items()}
        return BatchFeature(data, tensor_type=return_tensors)

    def fit(self, raw_speech: Iterable[np.ndarray], sampling_rate: int, batch_size: int = 64) -> TFTFeatureExtractor:
        """Set `mean`/`std` from training clips and switch to `"global"` normalisation. Returns `self`.

        `raw_speech` is consumed `batch_size` clips at a time (running sums over the valid frames), so a lazy
        iterable, e.g. clips decoded from a `datasets.Dataset` as they are read, is never held whole in memory.
        """
        sums, frames = torch.zeros(3, self.num_channels, dtype=torch.float64), 0  # sum, sum of squares, count
        clips = iter(raw_speech)
        while chunk := list(itertools.islice(clips, batch_size)):
            batch = self._check_sampling_rate(self._to_mono_clips(chunk), sampling_rate, False)
            max_length = self.max_length or self._longest(batch)
            self._check_lengths(batch, max_length, truncation=True)
            features, num_frames = self._features(batch, max_length)
            sums += self._moments(features, num_frames).sum(1)
            frames += int(num_frames.sum())
        if frames == 0:
            raise ValueError("`fit` got no audio.")
        if self.prosody and sums[2, self._voiced_channels()].min() == 0:
            raise ValueError(
                "`fit` found no voiced frame in the audio: the pitch contours have no statistics (is it speech?)."
            )
        mean, std = self._statistics(sums, floor=1e-10)
        self.mean, self.std, self.normalization = mean.tolist(), std.tolist(), "global"
        self.statistics_seconds = frames * self.hop_length / self.sampling_rate
        return self

    def standardize(self, features: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """Raw features (`normalization="none"`) standardised with per-channel `mean` and `std` (broadcast against
        `features`), the voiced-only contours set to 0 in unvoiced frames: what every normalisation does, and what
        speaker-adaptive training does with each speaker's statistics."""
        standardized = (features - mean) / std
        if self.prosody:
            voiced = self._voiced_channels()
            standardized[..., voiced] = standardized[..., voiced] * (features[..., -1:] > 0.5)
        return standardized

    def adapted(
        self, raw_speech: Iterable[np.ndarray], sampling_rate: int, min_seconds: float = MIN_ADAPTATION_SECONDS
    ) -> TFTFeatureExtractor:
        """Speaker-adaptive normalisation: a copy of this extractor that standardises with the feature statistics of
        `raw_speech`, unlabelled clips of one speaker or one recording (computed by `fit`). A model trained with
        `run_train.py --normalization speaker` expects it. Raises `ValueError` when the clips hold less than
        `min_seconds` of audio. In a pipeline:
        `pipeline("audio-classification", model=export, feature_extractor=extractor.adapted(clips, 16000))`; a
        model with `config.speaker_embedding_shift` is adapted too, by `set_speaker_embeddings`."""
        adapted = copy.deepcopy(self).fit(raw_speech, sampling_rate)
        if adapted.statistics_seconds < min_seconds:
            raise ValueError(
                f"Speaker adaptation needs at least {min_seconds:g} s of audio; the clips hold "
                f"{adapted.statistics_seconds:.1f} s."
            )
        return adapted

    def _to_mono_clips(self, raw_speech: Any) -> list[np.ndarray]:
        """Validate input and return a list of 1-D float32 clips (down-mixing / rescaling as documented)."""
        if isinstance(raw_speech, torch.Tensor):
            raw_speech = raw_speech.detach().cpu().numpy()
        if isinstance(raw_speech, np.ndarray):
            if raw_speech.ndim == 1 or (
                raw_speech.ndim == 2 and raw_speech.shape[-1] <= MAX_CHANNELS < len(raw_speech)
            ):
                items = [raw_speech]  # one mono or (samples, channels) clip
            elif raw_speech.ndim == 2:
                items = list(raw_speech)  # a batch of mono clips
            else:
                raise ValueError(
                    f"Expected a 1-D clip, a 2-D batch or a list of clips, got an array of shape {raw_speech.shape}."
                )
        elif isinstance(raw_speech, (list, tuple)):
            if len(raw_speech) == 0:
                raise ValueError("Got an empty batch: no audio to featurise.")
            items = [np.asarray(raw_speech)] if all(np.isscalar(x) for x in raw_speech) else list(raw_speech)
        else:
            raise TypeError(f"Expected audio as a numpy array, torch tensor or list, got {type(raw_speech).__name__}.")
        return [self._to_mono(item, _clip_name(index, len(items))) for index, item in enumerate(items)]

    def _to_mono(self, clip: Any, name: str) -> np.ndarray:
        clip = np.asarray(clip.detach().cpu().numpy() if isinstance(clip, torch.Tensor) else clip)
        if clip.dtype.kind in "iu":
            clip = self._pcm(clip, name)
        if clip.dtype.kind != "f":
            raise TypeError(f"{name} has dtype {clip.dtype}; expected float or integer PCM audio.")
        if clip.size == 0:
            raise ValueError(f"{name} is empty (0 samples).")
        if clip.ndim == 2:  # down-mixed as FFmpeg does a file (`audio_utils.to_mono`): stereo gives (L + R) / sqrt 2
            if min(clip.shape) > MAX_CHANNELS:
                raise ValueError(f"{name} has shape {clip.shape}; expected mono or at most {MAX_CHANNELS} channels.")
            clip = to_mono(clip.T if clip.shape[0] <= clip.shape[1] else clip, self.sampling_rate, self.sampling_rate)
        elif clip.ndim != 1:
            raise ValueError(f"{name} has {clip.ndim} dimensions; expected a 1-D (mono) waveform.")
        finite = np.isfinite(clip)
        if not finite.all():
            raise ValueError(f"{name} contains NaN or Inf (first at sample {int(np.argmin(finite))}).")
        return _in_range(clip, name).astype(np.float32, copy=False)

    @staticmethod
    def _pcm(clip: np.ndarray, name: str) -> np.ndarray:
        """Scale integer PCM to float in [-1, 1]."""
        if clip.dtype == np.uint8:
            return (clip.astype(np.float32) - 128.0) / 128.0
        if clip.dtype not in _INT_SCALES:
            raise TypeError(f"{name} has integer dtype {clip.dtype}; expected int8, int16, int32 or uint8 PCM.")
        return clip.astype(np.float32) / _INT_SCALES[clip.dtype]

    def _check_sampling_rate(
        self, clips: list[np.ndarray], sampling_rate: int | None, resample: bool
    ) -> list[np.ndarray]:
        if sampling_rate is None:
            logger.warning(
                f"It is strongly recommended to pass `sampling_rate` to {type(self).__name__}(); assuming "
                f"{self.sampling_rate} Hz. A wrong rate silently gives wrong features."
            )
            return clips
        if sampling_rate == self.sampling_rate:
            return clips
        if not resample:
            raise ValueError(
                f"The model expects audio at {self.sampling_rate} Hz but got sampling_rate={sampling_rate}. Resample "
                f"the audio to {self.sampling_rate} Hz first, or pass `resample=True` to resample here."
            )
        logger.warning(f"Resampling {len(clips)} clip(s) from {sampling_rate} Hz to {self.sampling_rate} Hz (FFmpeg).")
        return [to_mono(clip, sampling_rate, self.sampling_rate) for clip in clips]

    def _longest(self, clips: list[np.ndarray]) -> int:
        """Frames of the longest clip (at least one: shorter clips are rejected by `_check_lengths`)."""
        return max(1, *(self.num_frames(len(clip)) for clip in clips))

    def _check_lengths(self, clips: list[np.ndarray], max_length: int, truncation: bool) -> None:
        for index, clip in enumerate(clips):
            name = _clip_name(index, len(clips))
            if len(clip) < self.min_num_samples:
                raise ValueError(
                    f"{name} has {len(clip)} samples ({len(clip) / self.sampling_rate:.4f} s); at least "
                    f"{self.min_num_samples} samples ({self.min_num_samples / self.sampling_rate:.3f} s) are needed "
                    "for one analysis frame."
                )
            if not truncation and self.num_frames(len(clip)) > max_length:
                raise ValueError(
                    f"{name} has {self.num_frames(len(clip))} frames, more than max_length={max_length}; "
                    "pass `truncation=True` or a larger `max_length`."
                )

    def _features(self, clips: list[np.ndarray], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw features of the padded batch, `(batch, frames, num_channels)` (log-mel, then the prosody contours),
        and the valid frame count per clip."""
        keep = self.n_fft + (max_length - 1) * self.hop_length  # samples that make `max_length` frames
        lengths = torch.tensor([min(len(clip), keep) for clip in clips])
        waveforms = torch.zeros(len(clips), int(lengths.max()))
        for row, clip in enumerate(clips):
            waveforms[row, : lengths[row]] = torch.tensor(clip[: lengths[row]])
        transform = self._mel()
        power = transform.spectrogram(waveforms)  # (batch, bins, frames)
        features = torch.log(transform.mel_scale(power) + LOG_OFFSET).transpose(1, 2)  # (batch, frames, mel)
        if self.prosody:
            contours = prosody_contours(
                waveforms, power.transpose(1, 2), self.sampling_rate, self.n_fft, self.hop_length
            )
            features = torch.cat([features, contours], dim=-1)
        num_frames = 1 + (lengths - self.n_fft) // self.hop_length
        return features, num_frames

    def _mel(self) -> torchaudio.transforms.MelSpectrogram:
        if self._mel_transform is None:
            self._mel_transform = torchaudio.transforms.MelSpectrogram(
                sample_rate=self.sampling_rate,
                n_fft=self.n_fft,
                win_length=self.win_length,
                hop_length=self.hop_length,
                f_min=self.f_min,
                f_max=self.f_max,
                n_mels=self.feature_size,
                center=False,
                power=2.0,
            )
        return self._mel_transform

    def _normalize(self, features: torch.Tensor, num_frames: torch.Tensor) -> torch.Tensor:
        if self.normalization == "none":
            return features
        if self.normalization == "global":
            return self.standardize(features, torch.tensor(self.mean), torch.tensor(self.std))
        mean, std = self._statistics(self._moments(features, num_frames), offset=1e-5)  # each (batch, channels)
        return self.standardize(features, mean[:, None].float(), std[:, None].float())

    def _voiced_channels(self) -> slice:
        first = self.feature_size + PROSODY_CHANNELS.index(VOICED[0])
        return slice(first, first + len(VOICED))

    def _moments(self, features: torch.Tensor, num_frames: torch.Tensor) -> torch.Tensor:
        """`(3, batch, channels)` float64 sum, sum of squares and count of each clip's raw values over its real
        frames (for the voiced-only contours, its voiced frames)."""
        weights = (torch.arange(features.shape[1])[None, :] < num_frames[:, None])[..., None].expand_as(features)
        if self.prosody:
            weights = weights.clone()
            weights[..., self._voiced_channels()] &= features[..., -1:] > 0.5
        values, weights = features.double() * weights, weights.double()
        return torch.stack([values.sum(1), (values * features.double()).sum(1), weights.sum(1)])

    def _statistics(self, moments: torch.Tensor, floor: float = 0.0, offset: float = 0.0) -> tuple[torch.Tensor, ...]:
        """Mean and std from `_moments` (summed or not); a channel without values, and the voicing flag, keep 0 and
        1 (the flag stays 0/1)."""
        total, total_sq, count = moments
        mean = total / count.clamp(min=1)
        std = torch.sqrt((total_sq / count.clamp(min=1) - mean**2).clamp(min=floor) + offset)
        empty = count == 0
        if self.prosody:
            empty[..., -1] = True
        return mean.masked_fill(empty, 0.0), std.masked_fill(empty, 1.0)

    @staticmethod
    def _target_frames(padding: bool | str, num_frames: torch.Tensor, max_length: int) -> int:
        if padding not in ("max_length", True, "longest", False, "do_not_pad"):
            raise ValueError(f"`padding` must be 'max_length', 'longest', True or False, got {padding!r}.")
        if padding in (False, "do_not_pad") and int(num_frames.min()) != int(num_frames.max()):
            raise ValueError("Clips of different lengths need padding; use padding='longest' or 'max_length'.")
        return max_length if padding == "max_length" else int(num_frames.max())


def _clip_name(index: int, count: int) -> str:
    """How messages name a clip: its place in a batch, or "The audio" when there is one."""
    return "The audio" if count == 1 else f"Clip {index} (of {count})"


def _in_range(clip: np.ndarray, name: str) -> np.ndarray:
    """The clip, scaled by 1/peak (with a warning) if float samples pass [-1, 1]; refused if far beyond it."""
    peak = float(np.abs(clip).max())
    if peak > MAX_FLOAT_PEAK:
        raise ValueError(
            f"{name} peaks at {peak:.4g}, far beyond the [-1, 1] of float audio: is it integer PCM stored as float? "
            "Divide it by its full scale (32768 for 16-bit) first."
        )
    if peak > 1.0:
        beyond = int((np.abs(clip) > 1.0).sum())
        logger.warning(
            f"{name}: {beyond} samples ({100 * beyond / clip.size:.2f} %) beyond [-1, 1] (peak {peak:.3f}); scaled by "
            f"1/peak ({-20 * np.log10(peak):.2f} dB), as data preparation does."
        )
        return clip / peak
    return clip


__all__ = ["TFTFeatureExtractor"]
