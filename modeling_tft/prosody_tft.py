"""Frame-level prosody contours of the TFT, computed in torch on a padded batch: pitch, voicing, harmonicity and
the spectral-balance descriptors of eGeMAPS, at the log-mel's frames."""

from __future__ import annotations

import math

import torch
import torchaudio

# Channel order of `prosody_contours`; the VOICED ones are defined in voiced frames only (0 elsewhere).
SPECTRAL = ("loudness", "alpha_ratio", "hammarberg", "slope_0_500", "slope_500_1500", "flux", "mfcc1", "mfcc2",
            "mfcc3", "mfcc4")  # fmt: skip
VOICED = ("f0_semitones", "hnr_db", "h1_h2_db")
CHANNELS = SPECTRAL + VOICED
F0_MIN, F0_MAX = 60.0, 500.0  # Hz
PITCH_WINDOW = 0.04  # seconds: two periods of F0_MIN
VOICING_THRESHOLD = 0.65  # normalised autocorrelation peak
SILENCE_THRESHOLD = 0.1  # frame peak relative to the clip's
PEAK_TOLERANCE = 0.9  # the period is the shortest-lag autocorrelation peak within this ratio of the highest
EPS = 1e-10


def _frames(waveforms: torch.Tensor, length: int, hop: int, num_frames: int, offset: int) -> torch.Tensor:
    """`(batch, num_frames, length)` frames starting at `offset + i * hop` (zero outside the waveform)."""
    padded = torch.nn.functional.pad(waveforms, (max(0, -offset), length + num_frames * hop))
    start = max(0, offset)
    return padded[:, start : start + (num_frames - 1) * hop + length].unfold(1, length, hop)


def _slope(power_db: torch.Tensor, freqs: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Least-squares slope of the dB spectrum over `[low, high]` Hz, in dB per kHz."""
    band = (freqs >= low) & (freqs <= high)
    f = freqs[band] / 1000
    weights = (f - f.mean()) / ((f - f.mean()) ** 2).sum()
    return power_db[..., band] @ weights


def prosody_contours(
    waveforms: torch.Tensor,
    num_frames: int,
    sampling_rate: int = 16000,
    n_fft: int = 512,
    win_length: int = 400,
    hop_length: int = 160,
    num_mel_bins: int = 26,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Contours of `CHANNELS` and a voicing flag for a zero-padded `(batch, samples)` batch, `(batch, num_frames,
    len(CHANNELS))` and `(batch, num_frames)`, frame `i` centred where the log-mel's frame `i` is.

    Spectral balance (eGeMAPS' definitions on the `n_fft` power spectrum): loudness (sum of mel-band power^0.3),
    alpha ratio (dB, 1-5 kHz over 50-1000 Hz), Hammarberg index (dB, peak 0-2 kHz over 2-5 kHz), spectral slopes
    0-500 and 500-1500 Hz (dB/kHz), spectral flux (L1-normalised magnitudes) and MFCC 1-4. Voiced descriptors from
    a 40-ms Hann window's normalised autocorrelation (Boersma 1993): F0 in semitones above 27.5 Hz, harmonicity
    (HNR, dB) and H1-H2 (dB); a frame is voiced when the autocorrelation peak passes `VOICING_THRESHOLD` and its
    peak `SILENCE_THRESHOLD` of the clip's.
    """
    batch = waveforms.shape[0]
    waveforms = waveforms.float()
    # spectral balance, on the log-mel's own frames
    window = torch.hann_window(win_length, device=waveforms.device)
    window = torch.nn.functional.pad(
        window, ((n_fft - win_length) // 2, n_fft - win_length - (n_fft - win_length) // 2)
    )
    frames = _frames(waveforms, n_fft, hop_length, num_frames, 0)
    spectrum = torch.fft.rfft(frames * window, n=n_fft)
    power = spectrum.real**2 + spectrum.imag**2 + EPS  # (batch, frames, bins)
    freqs = torch.fft.rfftfreq(n_fft, 1 / sampling_rate).to(waveforms.device)
    filters = torchaudio.functional.melscale_fbanks(
        n_fft // 2 + 1, 20.0, sampling_rate / 2, num_mel_bins, sampling_rate
    ).to(waveforms.device)
    mel = power @ filters + EPS
    low, high = (freqs >= 50) & (freqs < 1000), (freqs >= 1000) & (freqs < 5000)
    alpha = 10 * torch.log10(power[..., high].sum(-1) / power[..., low].sum(-1))
    hammarberg = 10 * torch.log10(
        power[..., freqs < 2000].amax(-1) / power[..., (freqs >= 2000) & (freqs < 5000)].amax(-1)
    )
    power_db = 10 * torch.log10(power)
    magnitude = power.sqrt()
    magnitude = magnitude / magnitude.sum(-1, keepdim=True)
    flux = torch.nn.functional.pad(((magnitude[:, 1:] - magnitude[:, :-1]) ** 2).sum(-1), (1, 0))
    dct = torchaudio.functional.create_dct(5, num_mel_bins, "ortho").to(waveforms.device)
    mfcc = torch.log(mel) @ dct[:, 1:]
    spectral = [mel.pow(0.3).sum(-1), alpha, hammarberg, _slope(power_db, freqs, 0, 500),
                _slope(power_db, freqs, 500, 1500), flux]  # fmt: skip

    # pitch, harmonicity and H1-H2 on a 40-ms window centred on the same frame centre, at half the sampling rate
    rate = sampling_rate // 2
    halved = torchaudio.functional.resample(waveforms, sampling_rate, rate, lowpass_filter_width=8)
    length = int(PITCH_WINDOW * rate)
    frames = _frames(
        halved, length, hop_length // 2, num_frames, (n_fft // 2 - int(PITCH_WINDOW * sampling_rate) // 2) // 2
    )
    frames = frames - frames.mean(-1, keepdim=True)
    hann = torch.hann_window(length, periodic=False, device=waveforms.device)
    size = 1 << (2 * length - 1).bit_length()
    windowed = torch.fft.rfft(frames * hann, n=size)
    acf = torch.fft.irfft(windowed.real**2 + windowed.imag**2, n=size)[..., :length]
    window_acf = torch.fft.irfft(torch.fft.rfft(hann, n=size).abs() ** 2, n=size)[:length]
    first, last = math.floor(rate / F0_MAX), math.ceil(rate / F0_MIN)
    normalised = acf[..., first : last + 2] / (acf[..., :1] + EPS) / (window_acf[first : last + 2] / window_acf[0])
    search = normalised[..., : last - first + 1]
    inner = search[..., 1:-1]
    peaks = (inner > search[..., :-2]) & (inner >= search[..., 2:])
    candidates = peaks & (inner >= PEAK_TOLERANCE * inner.amax(-1, keepdim=True))
    best = torch.where(candidates.any(-1), candidates.byte().argmax(-1), inner.argmax(-1)) + 1  # argmax: first True
    left, centre, right = (search.gather(-1, (best + d)[..., None])[..., 0] for d in (-1, 0, 1))
    shift = (0.5 * (left - right) / (left - 2 * centre + right).clamp(max=-EPS)).clamp(-0.5, 0.5)
    lag = first + best + shift
    peak = (centre - 0.25 * (left - right) * shift).clamp(1e-4, 1 - 1e-4)
    f0 = rate / lag
    level = frames.abs().amax(-1)
    voiced = (peak > VOICING_THRESHOLD) & (level > SILENCE_THRESHOLD * level.amax(-1, keepdim=True))
    bins = f0 * size / rate
    h1, h2 = (
        20
        * torch.log10(
            windowed.gather(-1, (bins * k).round().long().clamp(max=size // 2)[..., None])[..., 0].abs() + EPS
        )
        for k in (1, 2)
    )
    pitch = [12 * torch.log2(f0 / 27.5), 10 * torch.log10(peak / (1 - peak)), h1 - h2]
    pitch = torch.stack(pitch, -1) * voiced[..., None]
    contours = torch.cat([torch.stack(spectral, -1), mfcc, pitch], -1)
    assert contours.shape == (batch, num_frames, len(CHANNELS))
    return contours, voiced
