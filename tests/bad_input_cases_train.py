"""Bad inputs to `run_train.py`: each case builds what it needs in a folder, runs `run_train.main`, and states the
exact outcome (exit code, the one `run_train.py: error:` line, and that nothing was trained or exported).

Exit code 2: an option (or the folds, checkpoint or backbone it selects) that cannot work, refused before any
training and, for the options themselves, before anything is read or written. Exit code 1: a corpus that cannot be
trained on (e.g. one class with clips).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import datasets

TINY = (
    "hidden_size=32,num_attention_heads=2,intermediate_size=64,"
    "num_time_layers=1,num_frequency_layers=1,num_fusion_layers=1"
)
BASE = ["--num_folds", "3", "--num_train_epochs", "1", "--config_overrides", TINY, "--report_to", "none"]


def demo_corpus(folder: Path) -> Path:
    """A prepared demo corpus (6 speakers synth_s01..06, 4 classes, 2 clips per speaker and class)."""
    from tft_ser.data import generate_demo_corpus

    generate_demo_corpus(folder / "demo", num_speakers=6, utterances_per_class=2)
    return folder / "demo"


@dataclass
class TrainCase:
    """`run_train.py --dataset_dir DEMO BASE OPTIONS`; `setup(folder, demo)` writes inputs and returns more options
    (a later option overrides an earlier one). `before_any_work`: the output folder must not even be created."""

    name: str
    options: list[str] = field(default_factory=list)
    message: str = ""
    exit_code: int = 2
    setup: Callable[[Path, Path], list[str]] | None = None
    before_any_work: bool | int = True


def a_file(option: str) -> Callable[[Path, Path], list[str]]:
    def setup(folder: Path, demo: Path) -> list[str]:
        (folder / "taken").write_text("not a folder")
        return [f"--{option}", str(folder / "taken")]

    return setup


def edited_corpus(edit: Callable[[datasets.Dataset], datasets.Dataset]) -> Callable[[Path, Path], list[str]]:
    """The demo corpus changed by `edit`, saved as another prepared dataset."""

    def setup(folder: Path, demo: Path) -> list[str]:
        edit(datasets.load_from_disk(str(demo))).save_to_disk(str(folder / "edited"))
        return ["--dataset_dir", str(folder / "edited")]

    return setup


def one_class(dataset: datasets.Dataset) -> datasets.Dataset:
    return dataset.filter(lambda label: label == 0, input_columns="label")


def no_sad_from_s01(dataset: datasets.Dataset) -> datasets.Dataset:
    sad = dataset.features["label"].str2int("sad")
    return dataset.filter(lambda s, y: not (s == "synth_s01" and y == sad), input_columns=["speaker", "label"])


def leaky_backbone(folder: Path, demo: Path) -> list[str]:
    """A tiny backbone whose `pretraining.json` (as run_pretrain.py writes it) says it heard every demo speaker."""
    from conftest import tiny_config_kwargs

    from modeling_tft import TFTConfig, TFTModel

    backbone = folder / "pretrain" / "backbone"
    TFTModel(TFTConfig(**tiny_config_kwargs(num_mel_bins=64))).save_pretrained(backbone)
    speakers = [f"synth_s{i:02d}" for i in range(1, 7)]
    report = {"corpora": [{"corpus": "demo", "source": str(demo), "speakers": speakers, "excluded_speakers": []}]}
    (backbone / "pretraining.json").write_text(json.dumps(report))
    return ["--model_name_or_path", str(backbone), "--config_overrides", ""]


def tone_folder(folder: Path, demo: Path) -> list[str]:
    """A small audiofolder (4 tones, metadata.csv with file_name,label,speaker) and no eval split."""
    import numpy as np
    import soundfile as sf

    root = folder / "tones"
    root.mkdir()
    lines = ["file_name,label,speaker"]
    for index, (label, speaker) in enumerate([("a", "s1"), ("b", "s1"), ("a", "s2"), ("b", "s2")]):
        t = np.arange(16000) / 16000
        sf.write(root / f"{index}.wav", (0.3 * np.sin(2 * np.pi * (200 + 50 * index) * t)).astype(np.float32), 16000)
        lines.append(f"{index}.wav,{label},{speaker}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    return ["--dataset_name", str(root)]


def tone_folder_and(*options: str) -> Callable[[Path, Path], list[str]]:
    return lambda folder, demo: [*tone_folder(folder, demo), *options]


def bare_backbone(folder: Path, demo: Path) -> list[str]:
    from conftest import tiny_config_kwargs

    from modeling_tft import TFTConfig, TFTModel

    TFTModel(TFTConfig(**tiny_config_kwargs(num_mel_bins=64))).save_pretrained(folder / "backbone")
    return ["--model_name_or_path", str(folder / "backbone"), "--config_overrides", ""]


UNSUPPORTED = [("hub_strategy", "end"), ("hub_revision", "main"), ("hub_always_push", "true"), ("do_predict", "true"),
               ("neftune_noise_alpha", "5")]  # fmt: skip

TRAIN_CASES = [
    *(
        TrainCase(f"unsupported --{name}", [f"--{name}", value], f"run_train.py does not support --{name} (neither")
        for name, value in UNSUPPORTED
    ),
    TrainCase(  # TrainingArguments turns it into --activation_checkpointing: both are named
        "unsupported --gradient_checkpointing",
        ["--gradient_checkpointing", "true"],
        "does not support --activation_checkpointing, --gradient_checkpointing (neither training path uses it).",
    ),
    TrainCase(
        "Trainer-only option with the Accelerate loop",
        ["--trainer", "accelerate", "--optim", "sgd"],
        "--optim only applies to --trainer hf; the Accelerate loop (--trainer accelerate) would ignore it.",
    ),
    TrainCase("column name without --dataset_name", ["--label_column_name", "emotion"], "applies to --dataset_name"),
    TrainCase(
        "two sources of data",
        setup=lambda folder, demo: ["--dataset_dir", str(demo), "--corpus", "casia", "--data_dir", str(folder)],
        message="--dataset_dir and --corpus: give one source of data.",
    ),
    TrainCase(
        "dataset_name that cannot be loaded",
        message="--dataset_name ",
        setup=lambda folder, demo: ["--dataset_name", str(folder / "nowhere")],
        before_any_work=False,
    ),
    TrainCase(
        "eval split that does not exist",
        message="--eval_split_name test: no such split in tones (it has ['train'])",
        setup=tone_folder_and("--eval_split_name", "test"),
        before_any_work=False,
    ),
    TrainCase(
        "audio column that does not exist",
        message="--audio_column_name sound: no such column in tones's train split",
        setup=tone_folder_and("--audio_column_name", "sound"),
        before_any_work=False,
    ),
    TrainCase(
        "no speaker column and no eval split",
        message="--speaker_column_name spk: tones has no such column; speaker-independent folds need one",
        setup=tone_folder_and("--speaker_column_name", "spk"),
        before_any_work=False,
    ),
    TrainCase("evaluation only without a model", ["--do_train", "false"], "--do_train false scores an existing model"),
    TrainCase(
        "evaluation only with --push_to_hub",
        ["--do_train", "false", "--model_name_or_path", "m", "--config_overrides", "", "--push_to_hub"],
        "--push_to_hub has no use with --do_train false",
    ),
    TrainCase(
        "evaluation only of a bare backbone",
        ["--do_train", "false"],
        "is a backbone without a classification head: nothing to score.",
        setup=bare_backbone,
        before_any_work=False,
    ),
    TrainCase(
        "config override of a field the config lacks",
        ["--config_overrides", "hidden_sise=32"],
        "--config_overrides: TFTConfig has no field ['hidden_sise']",
        before_any_work=False,
    ),
    TrainCase("zero epochs", ["--num_train_epochs", "0"], "--num_train_epochs must be > 0, got 0.0."),
    TrainCase("negative epochs", ["--num_train_epochs", "-1"], "--num_train_epochs must be > 0, got -1.0."),
    TrainCase("NaN epochs", ["--num_train_epochs", "nan"], "--num_train_epochs must be > 0, got nan."),
    TrainCase("batch size zero", ["--per_device_train_batch_size", "0"], "--per_device_train_batch_size must be >= 1"),
    TrainCase("eval batch size negative", ["--per_device_eval_batch_size", "-4"], "--per_device_eval_batch_size must"),
    TrainCase("learning rate zero", ["--learning_rate", "0"], "--learning_rate must be > 0, got 0.0."),
    TrainCase("learning rate negative", ["--learning_rate", "-0.001"], "--learning_rate must be > 0, got -0.001."),
    TrainCase(
        "learning rate not a number", ["--learning_rate", "fast"], "argument --learning_rate/--learning-rate: inv"
    ),
    TrainCase("value missing", ["--seed"], "argument --seed: expected one argument"),
    TrainCase("negative weight decay", ["--weight_decay", "-0.1"], "--weight_decay must be >= 0, got -0.1."),
    TrainCase("negative warm-up", ["--warmup_steps", "-2"], "warmup_steps = -2.0, Expected value warmup_steps >= 0"),
    TrainCase("accumulation zero", ["--gradient_accumulation_steps", "0"], "--gradient_accumulation_steps must be"),
    TrainCase("negative patience", ["--early_stopping_patience", "-1"], "--early_stopping_patience must be >= 0"),
    TrainCase("label smoothing 1", ["--label_smoothing_factor", "1"], "--label_smoothing_factor must be in [0, 1)"),
    TrainCase("negative validation speakers", ["--validation_speakers", "-1"], "--validation_speakers must be >= 0"),
    TrainCase("one fold", ["--num_folds", "1"], "--num_folds must be >= 2, got 1."),
    TrainCase("negative mask width", ["--time_mask_frames", "-3"], "--time_mask_frames must be >= 0, got -3."),
    TrainCase("folds not numbers", ["--folds", "0,x"], "--folds must be 'all' or fold indices such as 0,2, got '0,x'."),
    TrainCase("unknown trainer", ["--trainer", "keras"], "--trainer must be one of ('hf', 'accelerate'), got 'keras'."),
    TrainCase("unknown protocol", ["--protocol", "random"], "--protocol must be one of"),
    TrainCase("unknown corpus", ["--corpus", "tess"], "--corpus must be one of ['casia', 'demo', 'folder', "),
    TrainCase("unknown option", ["--sead", "3"], "not used by the HfArgumentParser: ['--sead', '3']"),
    TrainCase("config file missing", message="config file missing.yaml does not exist.", setup=lambda f, d: []),
    TrainCase("output_dir is a file", message="is an existing file, not a folder.", setup=a_file("output_dir")),
    TrainCase("export_dir is a file", message="--export_dir ", setup=a_file("export_dir")),
    TrainCase(
        "dataset_dir missing",
        message="does not exist.",
        setup=lambda folder, demo: ["--dataset_dir", str(folder / "nowhere")],
    ),
    TrainCase(
        "more validation speakers than the folds leave",
        ["--validation_speakers", "4"],
        "--protocol k_fold_by_speaker --num_folds 3 --validation_speakers 4: Fold 0: 4 validation speaker(s)",
        before_any_work=False,
    ),
    TrainCase(
        "no such fold", ["--folds", "0,7"], "--folds 0,7: no fold [7]; this protocol has 3", before_any_work=False
    ),
    TrainCase(
        "a fold's test split lacks a class",
        ["--protocol", "leave_one_speaker_out"],
        "Fold 0 (test=synth_s01): the test split has no example of ['sad']",
        setup=edited_corpus(no_sad_from_s01),
        before_any_work=False,
    ),
    TrainCase(
        "one-class corpus",
        message="1 class with clips ('angry' (12 clips)); at least 2 are needed",
        exit_code=1,
        setup=edited_corpus(one_class),
        before_any_work=False,
    ),
    TrainCase(
        "backbone pre-trained on the test speakers",
        ["--folds", "1"],
        "fold 1 (test=",
        setup=leaky_backbone,
        before_any_work=False,
    ),
]


def run_train_case(case: TrainCase, tmp_path: Path, capsys, demo: Path) -> None:
    """Run the case; assert the exit code, one `run_train.py: error:` line holding the message, no traceback, and
    that no fold was trained and nothing exported (nor, for option errors, the output folder created)."""
    import pytest

    from tft_ser.training import run_train

    output = tmp_path / "out"
    extra = case.setup(tmp_path, demo) if case.setup else []
    config = ["missing.yaml"] if case.name == "config file missing" else []
    other_source = "--dataset_name" in extra or "--corpus" in case.options
    source = [] if other_source else ["--dataset_dir", str(demo)]
    argv = [*config, "--output_dir", str(output), *source, *BASE, *case.options, *extra]
    capsys.readouterr()
    with pytest.raises(SystemExit) as ended:
        run_train.main(argv)
    err = capsys.readouterr().err
    assert ended.value.code == case.exit_code, err
    errors = [line for line in err.splitlines() if line.startswith("run_train.py: error: ")]
    assert len(errors) == 1 and case.message in errors[0], err
    assert "Traceback" not in err
    if case.before_any_work:
        assert not output.exists(), sorted(output.iterdir())
    assert (
        not list(output.glob("fold_*")) and not (output / "export").exists() and not (output / "results.json").exists()
    )
