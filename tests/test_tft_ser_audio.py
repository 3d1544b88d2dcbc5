"""Audio loading for the application: empty, unreadable, stereo 48 kHz and long files."""

import logging

import numpy as np
import pytest
import soundfile as sf
from tft_ser_models import SR, casia_clip

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
    import soxr

    stereo = np.stack([soxr.resample(clip, SR, 48000), 0.5 * soxr.resample(clip, SR, 48000)], axis=1)
    path = tmp_path / "stereo48k.wav"
    sf.write(path, stereo, 48000, subtype="FLOAT")
    with caplog.at_level(logging.INFO, logger="tft_ser.audio"):
        audio = load_audio(path)
    assert "down-mixing 2 channels" in caplog.text and "resampling 48000 Hz to 16000 Hz" in caplog.text
    assert audio.dtype == np.float32 and abs(len(audio) - len(clip)) <= 1
    # the mean of the channels is 0.75 × the clip; soxr's resampling is near-transparent below 8 kHz
    assert np.corrcoef(audio[: len(clip)], clip[: len(audio)])[0, 1] > 0.99


def test_block_decoding_matches_one_read(tmp_path, monkeypatch, corpora):
    monkeypatch.setattr("tft_ser.audio.BLOCK_SECONDS", 0.25)
    assert BLOCK_SECONDS > 0.25
    clip = np.concatenate([casia_clip("sad", 201)] * 2)
    path = tmp_path / "mono.flac"
    sf.write(path, clip, SR)
    np.testing.assert_allclose(load_audio(path), sf.read(path, dtype="float32")[0], atol=1e-6)
    path44 = tmp_path / "mono44.wav"
    sf.write(path44, np.concatenate([clip, clip]), 44100, subtype="FLOAT")  # blocks across a resampler stream
    import soxr

    np.testing.assert_allclose(load_audio(path44), soxr.resample(np.concatenate([clip, clip]), 44100, SR), atol=2e-3)
