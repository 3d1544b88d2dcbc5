"""Prosody contours of the TFT's feature extractor: per log-mel frame, eGeMAPS' spectral-balance descriptors and
autocorrelation pitch, harmonicity and H1-H2, computed in torch on a padded batch (no Python loop over frames); and
the clip-level functionals of those contours that the model's functionals head reads."""

from __future__ import annotations

import math

import torch
import torchaudio

SPECTRAL = ("loudness", "alpha_ratio", "hammarberg_index", "slope_0_500", "slope_500_1500", "spectral_flux",
            "mfcc1", "mfcc2", "mfcc3", "mfcc4")  # fmt: skip
VOICED = ("f0_semitones", "hnr_db", "h1_h2_db")  # defined in voiced frames only: 0 elsewhere
PROSODY_CHANNELS = (*SPECTRAL, *VOICED, "voiced")
F0_MIN, F0_MAX = 60.0, 500.0  # Hz
PITCH_WINDOW = 0.04  # seconds (two periods of F0_MIN), analysed at half the sampling rate
VOICING_THRESHOLD = 0.65  # normalised autocorrelation peak of a voiced frame
SILENCE_THRESHOLD = 0.1  # least frame peak of a voiced frame, relative to the clip's
PEAK_TOLERANCE = 0.9  # the period is the shortest-lag autocorrelation peak within this ratio of the highest
MFCC_BANDS = 26  # mel bands of the MFCCs and the loudness (as openSMILE's)
FUNCTIONAL_QUANTILES = (0.2, 0.5, 0.8)
TIMING = ("voiced_fraction", "voiced_segments_per_second", "mean_voiced_seconds", "mean_unvoiced_seconds",
          "loudness_peaks_per_second")  # fmt: skip
NUM_FUNCTIONALS = (2 + len(FUNCTIONAL_QUANTILES)) * (len(PROSODY_CHANNELS) - 1) + len(TIMING)
EPS = 1e-10


def _frames(waveforms: torch.Tensor, length: int, hop: int, num_frames: int, offset: int) -> torch.Tensor:
    """`(batch, num_frames, length)` frames starting at sample `offset + i * hop` (zeros outside the waveform)."""
    padded = torch.nn.functional.pad(waveforms, (max(0, -offset), length + num_frames * hop))
    start = max(0, offset)
    return padded[:, start : start + (num_frames - 1) * hop + length].unfold(1, length, hop)


def _slope(power_db: torch.Tensor, freqs: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Least-squares slope of the dB spectrum over `[low, high]` Hz, in dB per kHz."""
    band = (freqs >= low) & (freqs <= high)
    khz = freqs[band] / 1000
    weights = (khz - khz.mean()) / ((khz - khz.mean()) ** 2).sum()
    return power_db[..., band] @ weights


def spectral_balance(power: torch.Tensor, sampling_rate: int) -> torch.Tensor:
    """`(batch, frames, len(SPECTRAL))` from a power spectrogram `(batch, frames, bins)` (eGeMAPS' definitions):
    loudness (sum of mel-band power^0.3), alpha ratio (dB, 1-5 kHz over 50-1000 Hz), Hammarberg index (dB, peak
    0-2 kHz over peak 2-5 kHz), spectral slopes 0-500 and 500-1500 Hz (dB/kHz), spectral flux (of L1-normalised
    magnitudes, 0 in the first frame) and MFCC 1-4."""
    power = power + EPS
    bins = power.shape[-1]
    freqs = torch.linspace(0, sampling_rate / 2, bins, device=power.device)
    filters = torchaudio.functional.melscale_fbanks(bins, 20.0, sampling_rate / 2, MFCC_BANDS, sampling_rate)
    mel = power @ filters.to(power.device) + EPS
    low, high = (freqs >= 50) & (freqs < 1000), (freqs >= 1000) & (freqs < 5000)
    alpha = 10 * torch.log10(power[..., high].sum(-1) / power[..., low].sum(-1))
    hammarberg = 10 * torch.log10(power[..., freqs < 2000].amax(-1) / power[..., high & (freqs >= 2000)].amax(-1))
    power_db = 10 * torch.log10(power)
    magnitude = power.sqrt()
    magnitude = magnitude / magnitude.sum(-1, keepdim=True)
    flux = torch.nn.functional.pad(((magnitude[:, 1:] - magnitude[:, :-1]) ** 2).sum(-1), (1, 0))
    mfcc = torch.log(mel) @ torchaudio.functional.create_dct(5, MFCC_BANDS, "ortho").to(power.device)[:, 1:]
    slopes = [_slope(power_db, freqs, 0, 500), _slope(power_db, freqs, 500, 1500)]
    return torch.cat([torch.stack([mel.pow(0.3).sum(-1), alpha, hammarberg, *slopes, flux], -1), mfcc], -1)


def voice(waveforms: torch.Tensor, num_frames: int, sampling_rate: int, hop_length: int, centre: int) -> torch.Tensor:
    """`(batch, num_frames, len(VOICED) + 1)`: F0 (semitones above 27.5 Hz), harmonicity (HNR, dB) and H1-H2 (dB)
    of voiced frames (0 elsewhere), and the voicing flag, from the normalised autocorrelation of a 40-ms Hann window
    (Boersma 1993) centred `centre + i * hop_length` samples into the zero-padded `(batch, samples)` waveforms. The
    period is the shortest-lag peak within `PEAK_TOLERANCE` of the highest (no octave errors on periodic frames). A
    frame is voiced when its autocorrelation peak passes `VOICING_THRESHOLD` and its sample peak
    `SILENCE_THRESHOLD` of its clip's."""
    rate = sampling_rate // 2
    halved = torchaudio.functional.resample(waveforms, sampling_rate, rate, lowpass_filter_width=8)
    length = int(PITCH_WINDOW * rate)
    frames = _frames(
        halved, length, hop_length // 2, num_frames, (centre - int(PITCH_WINDOW * sampling_rate) // 2) // 2
    )
    frames = frames - frames.mean(-1, keepdim=True)
    hann = torch.hann_window(length, periodic=False, device=waveforms.device)
    size = 1 << (2 * length - 1).bit_length()  # no circular wrap of the autocorrelation
    spectrum = torch.fft.rfft(frames * hann, n=size)
    acf = torch.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=size)
    window_acf = torch.fft.irfft(torch.fft.rfft(hann, n=size).abs() ** 2, n=size)
    first, last = math.floor(rate / F0_MAX), math.ceil(rate / F0_MIN)
    search = acf[..., first : last + 1] / (acf[..., :1] + EPS) / (window_acf[first : last + 1] / window_acf[0])
    # the shortest-lag local maximum near the highest: a periodic frame's multiples of its period peak about as high
    inner = search[..., 1:-1]
    peaks = (inner > search[..., :-2]) & (inner >= search[..., 2:])
    candidates = peaks & (inner >= PEAK_TOLERANCE * inner.amax(-1, keepdim=True))
    best = torch.where(candidates.any(-1), candidates.byte().argmax(-1), inner.argmax(-1)) + 1  # argmax: first True
    left, middle, right = (search.gather(-1, (best + d)[..., None])[..., 0] for d in (-1, 0, 1))
    shift = (0.5 * (left - right) / (left - 2 * middle + right).clamp(max=-EPS)).clamp(-0.5, 0.5)
    peak = (middle - 0.25 * (left - right) * shift).clamp(1e-4, 1 - 1e-4)
    f0 = rate / (first + best + shift)
    level = frames.abs().amax(-1)
    voiced = (peak > VOICING_THRESHOLD) & (level > SILENCE_THRESHOLD * level.amax(-1, keepdim=True))
    bins = f0 * size / rate
    h1, h2 = (
        20
        * torch.log10(
            spectrum.gather(-1, (bins * k).round().long().clamp(max=size // 2)[..., None])[..., 0].abs() + EPS
        )
        for k in (1, 2)
    )
    values = torch.stack([12 * torch.log2(f0 / 27.5), 10 * torch.log10(peak / (1 - peak)), h1 - h2], -1)
    return torch.cat([values * voiced[..., None], voiced[..., None].to(values.dtype)], -1)


def prosody_contours(
    waveforms: torch.Tensor, power: torch.Tensor, sampling_rate: int, n_fft: int, hop_length: int
) -> torch.Tensor:
    """`(batch, frames, len(PROSODY_CHANNELS))` contours of zero-padded `(batch, samples)` waveforms, one per frame
    of their `(batch, frames, n_fft // 2 + 1)` power spectrogram (frame `i` starts at sample `i * hop_length`)."""
    pitch = voice(waveforms.float(), power.shape[1], sampling_rate, hop_length, n_fft // 2)
    return torch.cat([spectral_balance(power.float(), sampling_rate), pitch], -1)


def contour_functionals(contours: torch.Tensor, frame_mask: torch.Tensor, frame_seconds: float = 0.01) -> torch.Tensor:
    """eGeMAPS-style functionals `(batch, NUM_FUNCTIONALS)` of contours `(batch, frames, len(PROSODY_CHANNELS))`
    (as the feature extractor gives them, standardised or not) over the real frames of `frame_mask`: each contour's
    mean, standard deviation and 20/50/80th percentiles (nearest rank; the `VOICED` contours over voiced frames,
    0 for a clip without any), then `TIMING`: the voiced fraction, voiced segments per second, the mean voiced and
    unvoiced segment lengths in seconds, and peaks per second of the loudness (smoothed over 3 frames)."""
    voiced = (contours[..., -1] > 0.5) & frame_mask
    values = contours[..., :-1].float()
    spectral = values.shape[-1] - len(VOICED)
    mask = torch.cat(
        [frame_mask[..., None].expand(-1, -1, spectral), voiced[..., None].expand(-1, -1, len(VOICED))], -1
    )  # (batch, frames, contours)
    weights = mask.float()
    count = weights.sum(1)  # (batch, contours)
    mean = (values * weights).sum(1) / count.clamp(min=1)
    std = ((((values - mean[:, None]) * weights) ** 2).sum(1) / count.clamp(min=1) + 1e-5).sqrt()
    ordered = values.masked_fill(~mask, float("inf")).sort(1).values  # counted frames first
    ranks = torch.stack([(q * (count - 1).clamp(min=0)).round().long() for q in FUNCTIONAL_QUANTILES], 1)
    quantiles = ordered.gather(1, ranks).transpose(1, 2)  # (batch, contours, quantiles)
    quantiles = quantiles.masked_fill((count == 0)[..., None], 0.0).flatten(1)
    real = frame_mask.float().sum(1)
    seconds = real * frame_seconds
    unvoiced = ~voiced & frame_mask
    voiced_segments, unvoiced_segments = (
        (state - torch.nn.functional.pad(state[:, :-1], (1, 0))).clamp(min=0).sum(1)
        for state in (voiced.float(), unvoiced.float())
    )  # segment onsets
    voiced_frames = voiced.float().sum(1)
    in_clip = frame_mask[:, None].float()  # (batch, 1, frames)
    window_sum = torch.nn.functional.avg_pool1d(values[:, None, :, 0] * in_clip, 3, 1, 1)
    loudness = (window_sum / torch.nn.functional.avg_pool1d(in_clip, 3, 1, 1).clamp(min=1e-6))[:, 0]  # real frames
    peaks = (loudness[:, 1:-1] > loudness[:, :-2]) & (loudness[:, 1:-1] >= loudness[:, 2:]) & frame_mask[:, 2:]
    timing = torch.stack(
        [
            voiced_frames / real,
            voiced_segments / seconds,
            voiced_frames * frame_seconds / voiced_segments.clamp(min=1),
            (real - voiced_frames) * frame_seconds / unvoiced_segments.clamp(min=1),
            peaks.float().sum(1) / seconds,
        ],
        -1,
    )
    return torch.cat([mean, std, quantiles, timing], -1)
