"""The training path reads clips from the Arrow table per batch: nothing decoded up front, same statistics."""

import copy

import datasets
import numpy as np
import pytest
from test_run_train import run

import tft_ser.training.data
from modeling_tft import TFTFeatureExtractor
from tft_ser.data import decode_audio, generate_demo_corpus
from tft_ser.training import cross_validation
from tft_ser.training.arguments import DataArguments
from tft_ser.training.data import iter_clips, select_folds, speaker_statistics


class Handed(Exception):
    """Raised by the stand-in trainer once it has the fold's job."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> datasets.Dataset:
    """A saved (memory-mapped) demo corpus with 4 speakers, as `load_corpus` hands it on."""
    folder = tmp_path_factory.mktemp("demo") / "prepared"
    generate_demo_corpus(folder, num_speakers=4, utterances_per_class=3)
    return datasets.load_from_disk(str(folder))


def test_the_trainer_gets_arrow_backed_splits_decoded_per_batch(tmp_path, monkeypatch):
    decoded = []

    def counting_decode(audio, *args, **kwargs):
        decoded.append(1)
        return decode_audio(audio, *args, **kwargs)

    def stand_in_trainer(job):
        raise Handed(job)

    monkeypatch.setattr(tft_ser.training.data, "decode_audio", counting_decode)
    monkeypatch.setitem(cross_validation.TRAIN_FUNCTIONS, "hf", stand_in_trainer)
    with pytest.raises(Handed) as handed:  # "utterance": no statistics to fit, so nothing needs decoding yet
        run(tmp_path, "--folds", "0", "--normalization", "utterance")
    job = handed.value.args[0]
    assert decoded == []  # no clip decoded before the trainer reads a batch
    for split in (job.train, job.validation, job.test):
        assert isinstance(split, datasets.Dataset) and split.format["type"] == "custom"  # the decoding transform
        assert split.cache_files and split.cache_files[0]["filename"].startswith(str(tmp_path / "prepared"))
        assert split.column_names == ["audio", "label", "speaker"]
    batch = job.train.__getitems__([0, 3, 5])  # what the DataLoader calls for one batch
    assert len(decoded) == 3
    corpus = datasets.load_from_disk(str(tmp_path / "prepared"))  # its `Audio` column decodes with torchcodec
    fold = select_folds(corpus, DataArguments(demo_speakers=6, num_folds=3, folds="0"), seed=42)[0]
    for example, row in zip(batch, [0, 3, 5], strict=True):
        assert example["audio"].dtype == np.float32
        np.testing.assert_array_equal(example["audio"], decode_audio(fold.splits["train"][row]["audio"]))
        assert example["label"] == fold.splits["train"][row]["label"]


def test_streamed_global_statistics_equal_the_in_memory_fit(demo):
    in_memory = [decode_audio(audio) for audio in demo["audio"]]  # what `decode_all` used to hold
    for max_length in (None, 120):  # whole clips (length-free TFT) and crops of a fixed-length model
        extractor = TFTFeatureExtractor(max_length=max_length, normalization="none")
        expected = copy.deepcopy(extractor).fit(in_memory, sampling_rate=16000)
        streamed = copy.deepcopy(extractor).fit(iter_clips(demo), sampling_rate=16000)
        np.testing.assert_allclose(streamed.mean, expected.mean, rtol=1e-12, atol=0)
        np.testing.assert_allclose(streamed.std, expected.std, rtol=1e-12, atol=0)


def test_streamed_speaker_statistics_equal_the_in_memory_ones(demo):
    fold = select_folds(demo, DataArguments(num_folds=2, folds="0"), seed=42)[0]
    splits = [fold.splits[name] for name in ("train", "validation", "test")]
    extractor = TFTFeatureExtractor(normalization="none")
    clips: dict[str, list[np.ndarray]] = {}  # the former in-memory grouping of train + validation + test
    for split in splits:
        for audio, speaker in zip(split["audio"], split["speaker"], strict=True):
            clips.setdefault(speaker, []).append(decode_audio(audio))
    statistics = speaker_statistics(datasets.concatenate_datasets(splits), extractor)
    assert list(statistics) == list(clips) and len(clips) == 4
    for speaker, speaker_clips in clips.items():
        expected = copy.deepcopy(extractor).fit(speaker_clips, sampling_rate=16000)
        np.testing.assert_allclose(statistics[speaker][0].numpy(), np.float32(expected.mean), rtol=1e-6, atol=0)
        np.testing.assert_allclose(statistics[speaker][1].numpy(), np.float32(expected.std), rtol=1e-6, atol=0)


@pytest.mark.parametrize("trainer", ["accelerate", "hf"])
def test_dataloader_workers_decode_the_batches(tmp_path, trainer):
    """`--dataloader_num_workers 2`: the lazy splits and collators go to worker processes, in both paths."""
    results = run(tmp_path, "--trainer", trainer, "--folds", "0", "--num_train_epochs", "1",
                  "--dataloader_num_workers", "2")  # fmt: skip
    fold = results["folds"][0]
    assert sum(map(sum, fold["test"]["confusion_matrix"])) == fold["num_test"] > 0
    assert "eval_ua" in fold["history"][-1]
