"""Exports written before the one-clean-model redesign (commit 8eb65da): same outputs, clear refusals."""

import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import tiny_config_kwargs
from safetensors.torch import load_file
from transformers import AutoConfig

from modeling_tft import TFTConfig, TFTForAudioClassification
from modeling_tft.configuration_tft import RESEARCH_COMMIT

ARCHIVE = Path(__file__).parent / "fixtures" / "export_8eb65da.tar.gz"  # tests/fixtures/make_export_fixture.py


@pytest.fixture(scope="module")
def former_export(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("former")
    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(folder, filter="data")
    return folder / "export_8eb65da"


def test_todays_code_gives_the_former_outputs(former_export):
    expected = load_file(former_export / "expected.safetensors")
    model = TFTForAudioClassification.from_pretrained(former_export).eval()
    inputs = {"input_features": expected["input_features"], "attention_mask": expected["attention_mask"]}
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, expected["logits"], atol=1e-5, rtol=0)
        base = model.tft(**inputs)
    torch.testing.assert_close(base.pooler_output, expected["pooler_output"], atol=1e-5, rtol=0)
    torch.testing.assert_close(base.last_hidden_state, expected["last_hidden_state"], atol=1e-5, rtol=0)
    assert "time_embedding" not in model.config.to_dict()  # the former design fields are dropped on load


def test_former_export_loads_with_its_own_code_and_initialises_as_today(former_export, tmp_path):
    """In a fresh process that never imports this package, `trust_remote_code` runs the code the export ships; that
    code gives the recorded logits, and from the same seed it initialises the same weights as today's code."""
    script = textwrap.dedent(f"""
        import torch
        from safetensors.torch import load_file, save_file
        from transformers import AutoConfig, AutoModelForAudioClassification
        folder = {str(former_export)!r}
        model = AutoModelForAudioClassification.from_pretrained(folder, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        expected = load_file(folder + "/expected.safetensors")
        with torch.no_grad():
            logits = model(expected["input_features"], attention_mask=expected["attention_mask"]).logits
        torch.testing.assert_close(logits, expected["logits"], atol=1e-6, rtol=0)
        config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
        torch.manual_seed(1)
        fresh = AutoModelForAudioClassification.from_config(config, trust_remote_code=True)
        save_file(fresh.state_dict(), {str(tmp_path / "initialised.safetensors")!r})
    """)
    environment = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules")}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=environment, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    torch.manual_seed(1)
    today = TFTForAudioClassification(TFTConfig.from_pretrained(former_export)).state_dict()
    former = load_file(tmp_path / "initialised.safetensors")
    assert former.keys() == today.keys()
    for name, weight in former.items():
        assert torch.equal(weight, today[name]), name


@pytest.mark.parametrize(
    ("field", "value"),
    [("fusion_type", "cross"), ("time_position_embedding", "absolute"), ("instance_normalization", True),
     ("speaker_adversarial_weight", 0.5), ("frequency_embedding", "shared_stem")],
)  # fmt: skip
def test_a_rejected_design_is_refused_naming_the_commit_that_builds_it(former_export, tmp_path, field, value):
    saved = json.loads((former_export / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**saved, field: value}))
    message = rf"{field}={value!r}.*trust_remote_code=True.*commit {RESEARCH_COMMIT}"
    with pytest.raises(ValueError, match=message):
        TFTConfig.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match=message):
        AutoConfig.from_pretrained(tmp_path)  # the Auto classes give the same answer


def test_a_former_config_without_time_embedding_had_linear_time_tokens(former_export, tmp_path):
    saved = json.loads((former_export / "config.json").read_text())
    del saved["time_embedding"]  # what an export of 2026-12-01 holds
    (tmp_path / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="time_embedding='linear'"):
        TFTConfig.from_pretrained(tmp_path)
    assert "time_embedding" not in TFTConfig().to_dict()  # today's configs have no design fields: no such guess


def test_former_training_fields_are_dropped_with_a_warning(caplog):
    with caplog.at_level("WARNING"):
        config = TFTConfig(**tiny_config_kwargs(class_weights=[1.0, 2.0, 3.0], label_smoothing=0.1))
    assert "class_weights" in caplog.text and "label_smoothing" in caplog.text
    assert not hasattr(config, "class_weights") and not hasattr(config, "label_smoothing")
    caplog.clear()
    with caplog.at_level("WARNING"):
        TFTConfig(**tiny_config_kwargs(class_weights=None, label_smoothing=0.0, position_conv_init="wav2vec2"))
    assert not caplog.text  # former defaults: nothing to say
