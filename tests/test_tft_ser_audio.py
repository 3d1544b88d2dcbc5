"""Audio loading for the application: empty, unreadable, stereo 48 kHz and long files."""

import logging

import numpy as np
import pytest
import soundfile as sf
from tft_ser_models import SR, casia_clip

from modeling_tft.audio_utils import decode, to_mono
from tft_ser import AudioError, load_audio
from tft_ser.audio import BLOCK_SECONDS


def test_empty_file_raises(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, np.float32), SR)
    with pytest.raises(AudioError, match="0 samples"):
        load_audio(path)
    (tmp_path / "zero_bytes.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="cannot decode"):
        load_audio(tmp_path / "zero_bytes.wav")


def test_unreadable_and_missing_files_raise(tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    with pytest.raises(AudioError, match="cannot decode"):
        load_audio(path)
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.wav")


def test_too_short_file_raises(tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, np.zeros(100, np.float32), SR)
    with pytest.raises(AudioError, match="at least 512"):
        load_audio(path, min_samples=512)


def test_stereo_48k_is_down_mixed_and_resampled_with_logs(tmp_path, caplog, corpora):
    clip = casia_clip("happy", 201)
    clip48k = to_mono(clip, SR, 48000)
    stereo = np.stack([clip48k, 0.5 * clip48k], axis=1)
    path = tmp_path / "stereo48k.wav"
    sf.write(path, stereo, 48000, subtype="FLOAT")
    with caplog.at_level(logging.INFO, logger="modeling_tft.audio_utils"):
        audio = load_audio(path)
    assert "2 channel(s), 48000 Hz -> mono, 16000 Hz" in caplog.text
    assert audio.dtype == np.float32 and abs(len(audio) - len(clip)) <= 1
    # FFmpeg's down-mix, as `pipeline(file)`: (L + R) / sqrt 2 = 1.06 × the clip (not the mean, 0.75 ×);
    # libswresample's resampling is near-transparent below 8 kHz
    assert np.corrcoef(audio[: len(clip)], clip[: len(audio)])[0, 1] > 0.99
    gain = np.dot(audio[: len(clip)], clip[: len(audio)]) / np.dot(clip, clip)
    assert gain == pytest.approx(1.5 / np.sqrt(2), rel=0.02)


def test_block_decoding_matches_one_read(tmp_path, monkeypatch, corpora):
    monkeypatch.setattr("tft_ser.audio.BLOCK_SECONDS", 0.25)
    assert BLOCK_SECONDS > 0.25
    clip = np.concatenate([casia_clip("sad", 201)] * 2)
    path = tmp_path / "mono.flac"
    sf.write(path, clip, SR)
    np.testing.assert_array_equal(load_audio(path), sf.read(path, dtype="float32")[0])
    for rate in (44100, 8000):  # blocks across the resampler's stream: the samples of one read
        resampled = tmp_path / f"stereo{rate}.wav"
        sf.write(resampled, np.stack([clip, 0.3 * clip], axis=1), rate, subtype="FLOAT")
        np.testing.assert_array_equal(load_audio(resampled), decode(resampled, SR))
