"""Pushes to, and loads back from, a loopback stand-in of the Hub HTTP API (`hub_stand_in.py`).

`run_train.py --push_to_hub` is exercised by `test_distributed.py` (a two-process run pushes once, then
`check_pushed_model`); this module holds that check, the refused push, and the dataset scripts' push.
"""

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path

import datasets
import huggingface_hub
import numpy as np
import pytest
from conftest import REPO_ROOT
from hub_stand_in import HubStandIn
from huggingface_hub import ModelCard
from transformers import pipeline

from modeling_tft import TFTConfig
from tft_ser.data import generate_demo_corpus
from tft_ser.training.arguments import DataArguments
from tft_ser.training.data import iter_clips
from tft_ser.training.export import model_card, push_export
from tft_ser.training.licences import CORPUS_LICENCES, check_push_allowed, data_licence

REPO_ID = "me/tft-demo"
CLIP = "0.1 * np.sin(np.arange(32000) / 10).astype(np.float32)"  # the same clip here and in the fresh process


def hub_env(endpoint: str, home: Path) -> dict[str, str]:
    """A process that talks to `endpoint` as its Hub, with its own empty cache (not offline, no Xet)."""
    env = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    env.update(HF_ENDPOINT=endpoint, HF_HUB_DISABLE_XET="1", HF_HOME=str(home), HF_MODULES_CACHE=str(home / "modules"))
    return {**env, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}


def files_in(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def check_pushed_model(hub: HubStandIn, export: Path, tmp_path: Path) -> None:
    """The stand-in holds the export byte for byte, and a fresh process serves it from there with the same scores."""
    assert hub.unknown == []
    repo = hub.repo("models", REPO_ID)
    assert repo.files == files_in(export)
    assert any(request.startswith("PUT /lfs-upload/") for request in hub.requests)  # the weights went by LFS
    load = textwrap.dedent(
        f"""
        import json, sys, numpy as np
        from transformers import pipeline
        classifier = pipeline("audio-classification", model={REPO_ID!r}, trust_remote_code=True)
        result = classifier({CLIP}, top_k=None)
        assert "modeling_tft" not in sys.modules  # the model code came from the repository
        print(json.dumps(result))
        """
    )
    env = {**hub_env(hub.url, tmp_path / "hf_fresh"), "PYTHONPATH": ""}
    loaded = subprocess.run([sys.executable, "-c", load], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert f"GET /{REPO_ID}/resolve/{repo.sha}/model.safetensors" in hub.requests
    remote = json.loads(loaded.stdout.strip().splitlines()[-1])
    local = pipeline("audio-classification", model=str(export))(eval(CLIP), top_k=None)
    assert [r["label"] for r in remote] == [r["label"] for r in local]
    np.testing.assert_allclose([r["score"] for r in remote], [r["score"] for r in local], rtol=0, atol=1e-6)


def test_push_without_a_hub_fails_with_one_clear_message(tmp_path, monkeypatch):
    """Not offline mode (tested in test_run_train.py) but a Hub that does not answer: the same message."""
    with HubStandIn() as hub:
        gone = hub.url  # free while the stand-in lived, refused once it is shut down
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", gone)
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "config.json").write_text("{}")
    with pytest.raises(RuntimeError, match=r"Could not push .* The export folder is complete and untouched"):
        push_export(tmp_path / "export", REPO_ID, token="hf_stand_in")
    assert files_in(tmp_path / "export") == {"config.json": b"{}"}


def test_dataset_script_push(tmp_path):
    prepared = tmp_path / "prepared"
    script = ["dataset_scripts/prepare_demo.py", "--output_dir", str(prepared), "--num_speakers", "2",
              "--utterances_per_class", "1", "--push_to_hub", "me/demo-data"]  # fmt: skip
    with HubStandIn() as hub:
        env = hub_env(hub.url, tmp_path / "hf_push")
        pushed = subprocess.run([sys.executable, *script], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        assert pushed.returncode == 0, pushed.stderr[-3000:]
    assert hub.unknown == []
    files = hub.repo("datasets", "me/demo-data").files
    assert set(files) == {"README.md", "data/train-00000-of-00001.parquet"}
    (tmp_path / "pushed.parquet").write_bytes(files["data/train-00000-of-00001.parquet"])
    remote = datasets.Dataset.from_parquet(str(tmp_path / "pushed.parquet"))
    local = datasets.load_from_disk(str(prepared))
    assert remote.features == local.features
    assert remote.remove_columns("audio").to_list() == local.remove_columns("audio").to_list()
    for pushed_clip, local_clip in zip(iter_clips(remote), iter_clips(local), strict=True):
        np.testing.assert_array_equal(pushed_clip, local_clip)


def card_results(corpus: str, licence: dict | None, model_name_or_path: str | None = None) -> dict:
    """The parts of a run's results.json that the model card reads."""
    fold = {"fold": 0, "name": "test=a", "test_speakers": ["a"], "num_test": 4, "best_epoch": 1,
            "test": {"wa": 0.5, "ua": 0.5, "macro_f1": 0.5}}  # fmt: skip
    return {
        "corpus": corpus, "protocol": "k_fold_by_speaker", "folds": [fold], "exported_fold": 0,
        "exported_fold_rule": "the fold with the highest validation UA", "label_names": ["angry", "sad"],
        "mean": {"wa": 0.5, "ua": 0.5, "macro_f1": 0.5}, "std": {"wa": 0.0, "ua": 0.0, "macro_f1": 0.0},
        "std_definition": "sample standard deviation", "num_clips": 8, "seed": 42, "trainer": "hf",
        "command": "python run_train.py", "wall_time_s": 1.0, "data_licence": licence,
        "environment": {"hardware": {"cpu": "cpu", "gpu": None, "torch_threads": 1}, "date_utc": "2026-12-05",
                        "versions": {"torch": "2", "transformers": "5"}, "git": "abc"},
        "arguments": {"model": {"normalization": "global", "model_name_or_path": model_name_or_path},
                      "data": {"validation_speakers": 1}, "training": {}},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("corpus", "license", "language", "sentence"),
    [
        ("casia", "other", ["zh"], "research use only, no redistribution"),
        ("ravdess", "cc-by-nc-sa-4.0", ["en"], "CC BY-NC-SA 4.0: attribution, non-commercial use only"),
        ("iemocap", "other", ["en"], "University of Southern California (SAIL lab) under its release agreement"),
        ("demo", "apache-2.0", None, "synthetic demo corpus (generated signals, no human speech)"),
    ],
)
def test_model_card_states_the_training_data_licence(tmp_path, corpus, license, language, sentence):
    card = model_card(card_results(corpus, asdict(CORPUS_LICENCES[corpus])), "me/tft")
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")  # what the Hub reads
    assert loaded.data.license == license and loaded.data.language == language
    assert sentence in loaded.text and loaded.data.base_model is None
    assert (loaded.data.license_name is not None) == (license == "other")


def test_model_card_of_a_named_dataset_and_a_fine_tuned_model(tmp_path):
    dataset = datasets.Dataset.from_dict({"label": [0]}, info=datasets.DatasetInfo(license="mit"))
    licence = data_licence(DataArguments(dataset_name="someone/emotions"), dataset, "emotions")
    card = model_card(card_results("emotions", asdict(licence), "someone/tft-base"), "me/tft")
    assert card.data.license == "mit" and card.data.datasets == ["someone/emotions"]
    assert card.data.base_model == "someone/tft-base" and "Fine-tuned from `someone/tft-base`" in card.text
    bare = datasets.Dataset.from_dict({"label": [0]})
    local = data_licence(DataArguments(dataset_name=str(tmp_path)), bare, "local")
    assert (local.license, local.datasets) == ("other", ())  # a local folder is no Hub dataset id, its licence unknown
    assert "is not known to tft-ser" in local.note and local.redistributable is None
    folder = DataArguments(corpus="folder", data_dir=str(tmp_path))
    assert data_licence(folder, dataset, "folder").license == "mit"  # the dataset's own info.license
    assert data_licence(folder, bare, "folder").license == "other"
    backbone = tmp_path / "backbone"
    backbone.mkdir()  # a local base model: named in the text, not as `base_model` (the Hub wants a model id)
    card = model_card(card_results("demo", None, str(backbone)), "me/tft")
    assert card.data.base_model is None and f"Fine-tuned from `{backbone}`" in card.text
    assert card.data.license == "apache-2.0"  # results without a licence record: the demo corpus's


@pytest.mark.parametrize(
    ("weight", "phrase"),
    [(1.0, "its logits are added"), (8.0, "its logits,\ntimes 8.0"), (0.0, "but its logits are not used")],
)
def test_model_card_states_how_the_heads_combine(weight, phrase):
    config = TFTConfig(num_labels=4, functionals_weight=weight)
    card = model_card(card_results("demo", None), "me/tft", config)
    assert "14 prosody contours per frame" in card.text and "A second, linear head reads functionals" in card.text
    assert phrase in card.text
    adapted = card_results("demo", None)
    adapted["arguments"]["model"]["normalization"] = "speaker"
    unadapted_advice = "model.config.functionals_weight = 1.0" in model_card(adapted, "me/tft", config).text
    assert unadapted_advice == (weight != 1.0)  # only a model that weighs its functionals head otherwise
    assert "prosody contours" not in model_card(card_results("demo", None), "me/tft").text  # log-mel only


def test_push_of_a_model_trained_on_restricted_data_is_refused(tmp_path, capsys):
    from test_run_train import BASE

    from tft_ser.training import run_train

    corpus = tmp_path / "casia_like"
    generate_demo_corpus(corpus, num_speakers=6, utterances_per_class=2)
    report = json.loads((corpus / "preparation_report.json").read_text())
    (corpus / "preparation_report.json").write_text(json.dumps({**report, "corpus": "casia"}))  # as CASIA's says
    arguments = [*BASE, "--dataset_dir", str(corpus), "--num_train_epochs", "1", "--push_to_hub"]
    with pytest.raises(SystemExit, match="2"):
        run_train.main(["--output_dir", str(tmp_path / "out"), *arguments, "--hub_model_id", "me/casia"])
    err = capsys.readouterr().err
    assert "run_train.py: error: --push_to_hub: the data's licence (casia-research-only) forbids redistribution" in err
    assert "--hub_private_repo" in err and "--push_restricted_data" in err
    assert not list((tmp_path / "out").glob("fold_*"))  # refused before any training
    licence = CORPUS_LICENCES["casia"]
    check_push_allowed(licence, private=True, override=False)  # a private repository, or an explicit override
    check_push_allowed(licence, private=None, override=True)
    check_push_allowed(CORPUS_LICENCES["ravdess"], private=None, override=False)
