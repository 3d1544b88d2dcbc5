"""Masked spectrogram pre-training: the objective, the backbone checkpoint, and run_pretrain.py -> run_train.py."""

import json
import logging

import datasets
import pytest
import torch
from conftest import tiny_config_kwargs
from safetensors.torch import load_file, save_file

from modeling_tft import TFTConfig, TFTForAudioClassification, TFTForMaskedSpectrogramModeling
from tft_ser.data import generate_demo_corpus
from tft_ser.data.demo import DEMO_LABELS
from tft_ser.training import run_pretrain, run_train
from tft_ser.training.arguments import DataArguments, ModelArguments
from tft_ser.training.checkpoints import CheckpointMismatchError, load_pretrained_strict
from tft_ser.training.data import select_folds
from tft_ser.training.models import build_model_and_extractor

TINY = "hidden_size=32,num_attention_heads=2,intermediate_size=64,num_time_layers=1,num_frequency_layers=1"


def tiny_model() -> TFTForMaskedSpectrogramModeling:
    torch.manual_seed(0)
    return TFTForMaskedSpectrogramModeling(TFTConfig(**tiny_config_kwargs())).eval()


def test_masked_frames_are_hidden_and_scored():
    model = tiny_model()
    features = torch.randn(2, 40, 30)  # 16 mel bands, then 14 prosody contours
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[0, 2:5], mask[1, 6:9] = True, True
    output = model(features, mask_time_indices=mask)
    assert output.reconstruction.shape == (2, 40, 16)  # the mel bands are reconstructed
    assert output.masked_frames.sum() == 2 * 3 * 4  # 3 tokens of 4 frames per clip
    expected = (output.reconstruction - features[..., :16]).pow(2).mean(-1)[output.masked_frames].mean()
    torch.testing.assert_close(output.loss, expected)
    changed = features.clone()
    changed[output.masked_frames] = 5.0  # what the model must not see
    torch.testing.assert_close(model(changed, mask_time_indices=mask).reconstruction, output.reconstruction)
    assert model(features).loss is None  # nothing masked, nothing to score


def test_padding_changes_nothing():
    model = tiny_model()
    clip = torch.randn(1, 30, 30)
    mask = torch.zeros(1, 8, dtype=torch.bool)
    mask[0, 1:4] = True
    alone = model(clip, mask_time_indices=mask)
    padded = torch.cat([clip, torch.randn(1, 14, 30)], 1)
    attention_mask = torch.zeros(1, 44, dtype=torch.long)
    attention_mask[0, :30] = 1
    padded_mask = torch.cat([mask, torch.ones(1, 3, dtype=torch.bool)], 1)  # masks over padding are not scored
    batched = model(padded, attention_mask=attention_mask, mask_time_indices=padded_mask)
    torch.testing.assert_close(batched.loss, alone.loss)
    torch.testing.assert_close(batched.reconstruction[:, :30], alone.reconstruction)


def test_bad_inputs_and_configs_raise():
    with pytest.raises(ValueError, match="expected \\(1, 10\\)"):
        tiny_model()(torch.randn(1, 40, 30), mask_time_indices=torch.zeros(1, 9, dtype=torch.bool))
    with pytest.raises(ValueError, match="needs `use_time_branch=True`"):
        TFTForMaskedSpectrogramModeling(
            TFTConfig(**tiny_config_kwargs(use_time_branch=False, use_fusion=False, num_prosody_features=0))
        )


def test_backbone_checkpoint_fine_tunes_strictly(tmp_path):
    model = tiny_model()
    model.tft.save_pretrained(tmp_path / "backbone")
    tuned = load_pretrained_strict(TFTForAudioClassification, tmp_path / "backbone", num_labels=5)
    assert tuned.classifier.out_features == 5
    for name, weight in model.tft.state_dict().items():
        torch.testing.assert_close(tuned.tft.state_dict()[name], weight)
    weights = load_file(tmp_path / "backbone" / "model.safetensors")
    dropped = next(name for name in weights if "time_encoder" in name)
    save_file({k: v for k, v in weights.items() if k != dropped}, tmp_path / "backbone" / "model.safetensors")
    with pytest.raises(CheckpointMismatchError, match="missing_keys"):  # a backbone weight may not go missing
        load_pretrained_strict(TFTForAudioClassification, tmp_path / "backbone", num_labels=5)


def test_a_backbone_gets_the_protocols_head_and_a_classifier_keeps_its_own(tmp_path, caplog):
    tiny_model().tft.save_pretrained(tmp_path / "backbone")
    labels = ["a", "b", "c"]
    for normalization, weight, shift in (("speaker", 2.0, True), ("global", 1.0, False)):
        args = ModelArguments(model_name_or_path=str(tmp_path / "backbone"), normalization=normalization)
        model = build_model_and_extractor(args, labels)[0]  # strict: only the new head's weights are missing
        assert (model.config.functionals_weight, model.config.speaker_embedding_shift) == (weight, shift)
        assert hasattr(model, "embedding_mean") == shift
    model.save_pretrained(tmp_path / "classifier")  # a single-clip classifier, fine-tuned speaker-adaptive
    args = ModelArguments(model_name_or_path=str(tmp_path / "classifier"), normalization="speaker")
    with caplog.at_level(logging.WARNING, logger="tft_ser.training.models"):
        tuned = build_model_and_extractor(args, labels)[0]
    assert (tuned.config.functionals_weight, tuned.config.speaker_embedding_shift) == (1.0, False)
    assert "trained without speaker_embedding_shift" in caplog.text and "keeps weight 1.0" in caplog.text


def held_out_speakers(corpus, folds: str) -> dict[int, list[str]]:
    """Each fold's test and validation speakers, as run_train.py makes the folds (3 folds, seed 42)."""
    dataset = datasets.load_from_disk(str(corpus))
    chosen = select_folds(dataset, DataArguments(num_folds=3, folds=folds), seed=42)
    return {fold.index: sorted(fold.test_speakers + fold.validation_speakers) for fold in chosen}


def test_pretrain_then_fine_tune_each_fold_from_its_own_backbone(tmp_path, capsys):
    corpus = tmp_path / "demo"
    generate_demo_corpus(corpus, num_speakers=6, utterances_per_class=4)
    held_out = held_out_speakers(corpus, "0,1")
    common = ["--dataset_dirs", str(corpus), "--max_steps", "2", "--per_device_train_batch_size", "4"]
    with pytest.raises(ValueError, match="no such speaker"):
        run_pretrain.main([*common, "--exclude_speakers", "nobody", "--output_dir", str(tmp_path / "bad")])
    # each fold's backbone leaves out that fold's test and validation speakers; fold 0 and fold 1's backbones differ
    # in width, so each fold's fine-tuned model shows which it started from
    for fold, width in ((0, 64), (1, 48)):
        overrides = TINY.replace("intermediate_size=64", f"intermediate_size={width}")
        excluded = ["--exclude_speakers", *held_out[fold]]
        output = ["--output_dir", str(tmp_path / f"pretrain_fold{fold}")]
        report = run_pretrain.main([*common, "--config_overrides", overrides, *excluded, *output])
        [source] = report["corpora"]
        assert source["corpus"] == "demo" and source["source"] == str(corpus)
        assert source["excluded_speakers"] == held_out[fold] and report["short_clips_left_out"] == 0
        assert not set(source["speakers"]) & set(held_out[fold])
        assert source["clips"] == report["num_clips"] == (6 - len(held_out[fold])) * 4 * len(DEMO_LABELS)
        assert len(report["loss_by_epoch"]) >= 1 and all(loss > 0 for loss in report["loss_by_epoch"])
        backbone_report = json.loads((tmp_path / f"pretrain_fold{fold}" / "backbone" / "pretraining.json").read_text())
        assert backbone_report["corpora"] == report["corpora"]  # the speakers travel with the backbone
    # clips shorter than one masked span (20 tokens = 80 frames) teach nothing: left out and counted
    report = run_pretrain.main([*common, "--mask_length", "20", "--output_dir", str(tmp_path / "spans")])
    assert report["short_clips_left_out"] >= 1
    assert report["num_clips"] + report["short_clips_left_out"] == report["corpora"][0]["clips"]
    with pytest.raises(ValueError, match="does not fit in a training crop"):
        run_pretrain.main([*common, "--mask_length", "76", "--output_dir", str(tmp_path / "too_long")])
    fine_tune = ["--dataset_dir", str(corpus), "--num_folds", "3", "--folds", "0,1", "--num_train_epochs", "1",
                 "--report_to", "none"]  # fmt: skip
    # one backbone for every fold: fold 1's held-out speakers were in fold 0's pre-training -> refused up front
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        run_train.main([*fine_tune, "--model_name_or_path", str(tmp_path / "pretrain_fold0" / "backbone"),
                        "--output_dir", str(tmp_path / "leaky")])  # fmt: skip
    leaked = sorted(set(held_out[1]) - set(held_out[0]))
    message = capsys.readouterr().err
    assert refused.value.code == 2 and message.count("\n") == 1 and "Traceback" not in message
    assert ("fold 1 (" in message and f"pre-trained on its test speaker(s) {leaked}" in message) or leaked[0] in message
    assert f"--exclude_speakers {' '.join(held_out[1])}" in message
    assert not (tmp_path / "leaky" / "fold_0").exists()  # nothing trained, not even the fold that was clean
    results = run_train.main([
        *fine_tune, "--model_name_or_path", str(tmp_path / "pretrain_fold{fold}" / "backbone"),
        "--output_dir", str(tmp_path / "tuned"),
    ])  # fmt: skip
    assert [fold["fold"] for fold in results["folds"]] == [0, 1]
    for fold, width in ((0, 64), (1, 48)):
        config = json.loads((tmp_path / "tuned" / f"fold_{fold}" / "model" / "config.json").read_text())
        assert config["intermediate_size"] == width and len(config["id2label"]) == len(DEMO_LABELS)
    with pytest.raises(SystemExit) as refused:
        run_train.main(["--dataset_dir", str(corpus), "--num_folds", "3", "--folds", "0", "--output_dir",
                        str(tmp_path / "x"), "--model_name_or_path", str(tmp_path / "pretrain_{seed}")])  # fmt: skip
    assert refused.value.code == 2 and "only `{fold}` can be filled in" in capsys.readouterr().err
