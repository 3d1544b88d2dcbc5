"""`tft-ser embed` and `tft_ser.embed`: utterance embeddings (`pooler_output`) of whole files, rows in input order."""

import copy

import numpy as np
import pytest
import soundfile as sf
import torch
from tft_ser_models import SR, casia_clip, trained_export

from tft_ser.classifier import EmotionClassifier
from tft_ser.cli import main
from tft_ser.embed import embed_clip, max_piece_samples, pieces, read_embeddings, write_embeddings


@pytest.fixture(scope="module")
def model_dir(corpora) -> str:
    return str(trained_export())


@pytest.fixture(scope="module")
def classifier(model_dir) -> EmotionClassifier:
    loaded = EmotionClassifier.from_pretrained(model_dir)
    extractor = copy.deepcopy(loaded.feature_extractor)
    extractor.max_length = None  # as exports ship it: whole clips (the test export's extractor truncates at 3 s)
    return loaded.with_feature_extractor(extractor)


def test_embedding_is_the_pooler_output_of_the_whole_clip(classifier):
    clip = casia_clip("angry", 202)
    features = classifier.feature_extractor(clip, sampling_rate=SR, return_tensors="pt")
    with torch.inference_mode():
        expected = classifier.model.tft(**features).pooler_output[0].numpy()
    row = embed_clip(classifier, clip)
    assert row.shape == (classifier.model.config.hidden_size,) and row.dtype == np.float32
    np.testing.assert_allclose(row, expected, rtol=1e-6, atol=1e-6)


def test_long_audio_is_the_length_weighted_mean_of_equal_pieces(classifier):
    audio = np.concatenate([casia_clip("sad", 202), casia_clip("happy", 201)])  # ≈ 2.9 s
    assert pieces(10, 4) == [(0, 3), (3, 7), (7, 10)] and pieces(8, 8) == [(0, 8)]
    spans = pieces(len(audio), max_piece_samples(classifier, max_seconds=1.0))
    assert len(spans) == 3 and spans[-1][1] == len(audio)
    parts = [embed_clip(classifier, audio[start:end], max_seconds=1.0) for start, end in spans]
    weights = np.array([end - start for start, end in spans], dtype=np.float64)
    expected = (weights @ np.stack(parts).astype(np.float64)) / weights.sum()
    np.testing.assert_allclose(embed_clip(classifier, audio, max_seconds=1.0), expected, rtol=1e-5, atol=1e-6)
    # the test export's extractor truncates at 300 frames: pieces are capped there
    truncating = EmotionClassifier.from_pretrained(str(trained_export()))
    assert max_piece_samples(truncating) == 512 + 299 * 160


def test_cli_rows_in_input_order_and_a_bad_file_is_reported(model_dir, classifier, tmp_path, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    for name, (emotion, utterance) in {"b.wav": ("sad", 203), "a.flac": ("angry", 201)}.items():
        sf.write(folder / name, casia_clip(emotion, utterance), SR)
    (folder / "notes.txt").write_text("not audio")
    single = tmp_path / "happy.wav"
    sf.write(single, casia_clip("happy", 203), SR)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt garbage")
    output = tmp_path / "rows.npy"
    code = main(["embed", model_dir, str(single), str(broken), str(folder), "--output", str(output)])
    captured = capsys.readouterr()
    assert code == 1
    assert "1 of 4 file(s) failed" in captured.err and f"  {broken}: " in captured.err  # listed with its reason
    assert "left out" in captured.err and "1 .txt" in captured.err
    files, rows = read_embeddings(output)
    assert files == [str(single), str(folder / "a.flac"), str(folder / "b.wav")]  # input order, folder sorted
    expected = [embed_clip(classifier, casia_clip(e, u)) for e, u in [("happy", 203), ("angry", 201), ("sad", 203)]]
    np.testing.assert_allclose(rows, np.stack(expected), rtol=1e-5, atol=1e-5)
    assert f"wrote 3 embedding(s) of {rows.shape[1]} values" in captured.out


@pytest.mark.parametrize("suffix", [".npy", ".parquet", ".csv"])
def test_each_output_format_round_trips(tmp_path, suffix):
    rows = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32) * 1e3
    files = ["a.wav", "dir/b, c.wav", 'q"uote.flac']
    path = tmp_path / f"out{suffix}"
    written = write_embeddings(path, files, rows)
    read_files, read_rows = read_embeddings(path)
    assert read_files == files and read_rows.dtype == np.float32
    np.testing.assert_array_equal(read_rows, rows)  # exact, CSV included (9 significant digits)
    if suffix == ".npy":
        assert [p.name for p in written] == ["out.npy", "out.npy.files.txt"]
    else:
        import pandas as pd

        table = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
        assert list(table.columns) == ["file", "emb_0", "emb_1", "emb_2", "emb_3", "emb_4"]
    empty = tmp_path / f"empty{suffix}"
    write_embeddings(empty, [], np.zeros((0, 5), np.float32))
    assert read_embeddings(empty)[0] == [] and read_embeddings(empty)[1].shape[0] == 0


@pytest.mark.parametrize(
    "output, message",
    [("rows.txt", "must end in .npy or .parquet or .csv"), ("missing/rows.npy", "no folder")],
)
def test_cli_output_usage_errors_before_loading(tmp_path, capsys, output, message):
    code = main(["embed", str(tmp_path / "no-model"), "x.wav", "--output", str(tmp_path / output)])
    assert code == 2 and message in capsys.readouterr().err
