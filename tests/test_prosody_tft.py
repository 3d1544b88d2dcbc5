"""The prosody contours of the feature extractor: pitch, voicing and spectral balance, against known signals and
against openSMILE's eGeMAPS descriptors on real speech."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from modeling_tft import TFTFeatureExtractor
from modeling_tft.prosody_tft import NUM_FUNCTIONALS, PROSODY_CHANNELS, contour_functionals

SR = 16000
F0, HNR, VOICED = (PROSODY_CHANNELS.index(name) for name in ("f0_semitones", "hnr_db", "voiced"))


def contours(audio: np.ndarray) -> np.ndarray:
    """Raw contours `(frames, 14)` of one clip."""
    extractor = TFTFeatureExtractor(feature_size=64, max_length=None, normalization="none")
    return extractor(audio, sampling_rate=SR, return_tensors="np")["input_features"][0, :, 64:]


def harmonic_glide(start_hz: float, seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A 7-harmonic tone gliding up by 30 % (and light noise), and its F0 (Hz) per sample."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = start_hz * (1 + 0.3 * t / seconds)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    tone = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.3 + 0.003 * rng.standard_normal(t.size)
    return tone.astype(np.float32), f0


def test_functionals_of_known_contours_ignore_padding():
    frames = 10
    clip = torch.zeros(1, frames, len(PROSODY_CHANNELS))
    clip[0, :, 0] = torch.tensor([0, 0, 3, 0, 0, 0, 3, 0, 0, 0.0])  # loudness: two peaks (3-frame smoothing)
    clip[0, :, 1] = torch.arange(frames)
    clip[0, :, F0] = torch.arange(frames)  # only its voiced frames count: 1, 2, 4, 5, 6
    clip[0, :, VOICED] = torch.tensor([0, 1, 1, 0, 1, 1, 1, 0, 0, 0.0])
    padded = torch.cat([clip, torch.full((1, 5, len(PROSODY_CHANNELS)), 50.0)], 1)  # garbage in 5 padded frames
    mask = torch.arange(15)[None] < frames
    got = contour_functionals(padded, mask)[0]
    torch.testing.assert_close(got, contour_functionals(clip, torch.ones(1, frames, dtype=torch.bool))[0])
    assert got.shape == (NUM_FUNCTIONALS,)
    contours = len(PROSODY_CHANNELS) - 1
    mean, std, quantiles, timing = got[:contours], got[contours : 2 * contours], got[2 * contours : -5], got[-5:]
    assert (mean[1].item(), mean[F0].item()) == pytest.approx((4.5, 3.6))
    assert std[1].item() == pytest.approx((8.25 + 1e-5) ** 0.5)
    assert quantiles.view(contours, 3)[1].tolist() == [2.0, 4.0, 7.0]  # ranks round(q * 9): 2, 4 (half to even), 7
    assert quantiles.view(contours, 3)[F0].tolist() == [2.0, 4.0, 5.0]  # among 1, 2, 4, 5, 6
    # voiced fraction, voiced segments per second, mean voiced and unvoiced segment seconds, loudness peaks per second
    assert timing.tolist() == pytest.approx([0.5, 20.0, 0.025, 0.05 / 3, 20.0])
    unvoiced = contour_functionals(clip * (torch.arange(len(PROSODY_CHANNELS)) < F0), torch.ones(1, frames).bool())
    assert torch.isfinite(unvoiced).all() and unvoiced[0, F0] == 0  # no voiced frame: its contours' functionals 0


@pytest.mark.parametrize("start_hz", [90.0, 160.0, 300.0])
def test_pitch_of_a_harmonic_tone_and_no_voicing_in_noise(start_hz, rng):
    tone, f0 = harmonic_glide(start_hz, 1.0, rng)
    noise = (0.1 * rng.standard_normal(SR // 2)).astype(np.float32)
    values = contours(np.concatenate([tone, noise]))
    frames = len(values)
    centres = np.arange(frames) * 160 + 256  # each frame's centre sample
    inside = (centres > 400) & (centres < len(tone) - 400)  # pitch windows wholly in the tone
    expected = 12 * np.log2(f0[centres[inside]] / 27.5)
    assert values[inside, VOICED].all()
    np.testing.assert_allclose(values[inside, F0], expected, atol=0.1)  # semitones
    assert values[inside, HNR].min() > 15  # dB: a clean periodic tone
    in_noise = centres > len(tone) + 400
    assert not values[in_noise, VOICED].any() and np.all(values[in_noise, F0] == 0)


def test_spectral_balance_follows_level_and_tilt(rng):
    noise = rng.standard_normal(SR).astype(np.float32)
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(SR, 1 / SR)
    dull = np.fft.irfft(spectrum * (freqs < 1000), SR).astype(np.float32)  # energy below 1 kHz
    bright = np.fft.irfft(spectrum * (freqs > 1500), SR).astype(np.float32)
    loudness, alpha, hammarberg = (PROSODY_CHANNELS.index(n) for n in ("loudness", "alpha_ratio", "hammarberg_index"))
    dull_values, bright_values = contours(0.1 * dull).mean(0), contours(0.1 * bright).mean(0)
    assert bright_values[alpha] > dull_values[alpha] + 20  # dB
    assert bright_values[hammarberg] < dull_values[hammarberg] - 20
    assert contours(0.2 * dull).mean(0)[loudness] > 1.1 * dull_values[loudness]


def test_prosody_false_gives_log_mel_only_as_extractors_saved_before_it(tmp_path, rng):
    clip = harmonic_glide(150.0, 0.5, rng)[0]
    TFTFeatureExtractor(feature_size=16).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved.pop("prosody") is True
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(saved))
    former = TFTFeatureExtractor.from_pretrained(tmp_path)
    assert former.prosody is False and former.num_channels == 16
    log_mel = TFTFeatureExtractor(feature_size=16, prosody=False)(clip, sampling_rate=SR, return_tensors="pt")
    with_contours = TFTFeatureExtractor(feature_size=16)(clip, sampling_rate=SR, return_tensors="pt")
    assert log_mel["input_features"].shape[-1] == 16
    torch.testing.assert_close(log_mel["input_features"], with_contours["input_features"][..., :16])
    with pytest.raises(ValueError, match=r"`mean` has 16 values, expected one per channel \(30: 16 mel bands and"):
        TFTFeatureExtractor(feature_size=16, normalization="global", mean=[0.0] * 16, std=[1.0] * 16)


def test_contours_track_opensmile_egemaps_on_real_speech(corpora):
    opensmile = pytest.importorskip("opensmile", reason="the `baselines` extra (openSMILE) is the reference")
    files = sorted((corpora / "casia").glob("*/*/*.wav"))[::300]
    if not files:
        pytest.fail(f"no CASIA clips under {corpora / 'casia'}")
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.LowLevelDescriptors
    )
    agreement, pitch_error, correlations = [], [], []
    for file in files:
        audio, rate = sf.read(file, dtype="float32")
        assert rate == SR
        ours, reference = contours(audio), smile.process_signal(audio, SR).to_numpy()
        frames = min(len(ours), len(reference))
        ours, reference = ours[:frames], reference[:frames]
        voiced, reference_voiced = ours[:, VOICED] == 1, reference[:, 10] > 0  # eGeMAPS' F0 is 0 when unvoiced
        agreement.append(np.mean(voiced == reference_voiced))
        both = voiced & reference_voiced
        pitch_error.append(np.median(np.abs(ours[both, F0] - reference[both, 10])))
        # loudness, alpha ratio, Hammarberg index, slope 0-500 Hz, MFCC 1 and 2: the same column in both (the
        # spectral flux and the 500-1500 Hz slope are defined differently enough to differ)
        correlations.append([np.corrcoef(ours[:, i], reference[:, i])[0, 1] for i in (0, 1, 2, 3, 6, 7)])
    assert np.mean(agreement) > 0.85  # voicing decisions (0.89 when written)
    assert np.median(pitch_error) < 1.0  # semitones, on frames both call voiced (0.6)
    assert np.all(np.median(correlations, axis=0) > 0.85)  # over clips, per descriptor (0.88 to 0.97)
