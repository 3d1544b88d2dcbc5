"""Every bad input gets a clear answer, nothing is lost or scored silently (issue 36).

One table-driven test: each `Case` names an entry point (`entry`, a key of `RUNNERS`), builds its bad input in
tmp_path, gives the command-line arguments and the exact expected `Outcome` (exit code, a message substring,
and nothing lost: rows, skipped files with their reasons, class names). To cover another entry point, add a
runner to `RUNNERS` and its cases to `CASES` under a section of their own.

Placeholders in `args`: `{root}` (the case's tmp_path), `{data}` (`{root}/data`), `{out}` (`{root}/out`).
Paths in `Outcome.skipped` are relative to `{root}`.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile as sf
from bad_input_cases_apps import CLI_CASES, PIPELINE_CASES, CliCase, PipelineCase, run_cli_case, run_pipeline_case
from bad_input_cases_train import TRAIN_CASES, TrainCase, demo_corpus, run_train_case
from dataset_fixtures import REPO_ROOT  # (importing it also sets offline mode and sys.path)
from tft_ser_models import random_export

from tft_ser.data import common
from tft_ser.data.common import MANIFEST_FILENAME, REPORT_FILENAME, decode_audio

RATE = 16_000


# ----------------------------------------------------------------------------- table structure


@dataclass(frozen=True)
class Outcome:
    """What a case must end in. `rows`/`skipped`/`labels` are checked exactly when given (exit code 0)."""

    exit_code: int
    message: str  # substring of the combined stdout, stderr and log
    rows: int | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # path relative to tmp_path -> reason
    labels: tuple[str, ...] | None = None
    check: Callable[[Result], None] | None = None  # extra assertions


@dataclass(frozen=True)
class Case:
    """One bad input: how to build it under tmp_path, the arguments, and the expected outcome."""

    name: str
    entry: str
    build: Callable[[Path, pytest.MonkeyPatch], None]
    args: tuple[str, ...]
    expect: Outcome


@dataclass
class Result:
    """What running a case gave: exit code, all text output, the case's folders and the decode count."""

    exit_code: int
    text: str
    root: Path
    out: Path  # the --output_dir given
    decoded: int

    def report(self) -> dict:
        return json.loads((self.out / REPORT_FILENAME).read_text())

    def manifest(self) -> dict:
        return json.loads((self.out / MANIFEST_FILENAME).read_text())


def _main_runner(main: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
    def run(argv: list[str]) -> int:
        try:
            return main(argv)
        except SystemExit as error:  # argparse's own usage errors
            return int(error.code or 0)

    return run


# Entry point -> runner taking argv and returning the exit code (`prepare_<corpus>` runs the `main` of
# tft_ser.data.<corpus>, as dataset_scripts/prepare_<corpus>.py does).
def _script_runner(script: str) -> Callable[[list[str]], int]:
    """Run the script by path in a subprocess (slower: for a few end-to-end cases); echoes its output."""

    def run(argv: list[str]) -> int:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
        done = subprocess.run(
            [sys.executable, str(REPO_ROOT / script), *argv], env=env, capture_output=True, text=True, timeout=300
        )
        print(done.stdout, done.stderr, file=sys.stderr)
        return done.returncode

    return run


RUNNERS: dict[str, Callable[[list[str]], int]] = {
    **{
        name: _main_runner(importlib.import_module(f"tft_ser.data.{name.removeprefix('prepare_')}").main)
        for name in ("prepare_folder", "prepare_casia", "prepare_ravdess", "prepare_iemocap")
    },
    "script:prepare_folder": _script_runner("dataset_scripts/prepare_folder.py"),
}


# ----------------------------------------------------------------------------- input builders


def tone(seconds: float = 0.4, amplitude: float = 0.3, frequency: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def write_audio(path: Path, data: np.ndarray | None = None, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone() if data is None else data, RATE, subtype=subtype)
    return path


def corpus(root: Path, classes: dict[str, int] | None = None) -> None:
    """`data/<label>/<label[0]><i>.wav` clips: by default 2 angry and 2 sad."""
    for label, count in (classes or {"angry": 2, "sad": 2}).items():
        for i in range(count):
            write_audio(root / "data" / label / f"{label[0]}{i}.wav", tone(frequency=150.0 + 40 * i))


def good(root: Path, _: pytest.MonkeyPatch) -> None:
    corpus(root)


def manifest(text: str, encoding: str = "utf-8", name: str = "list.csv") -> Callable:
    """A builder: the default corpus plus `{root}/<name>` holding `text` in `encoding`."""

    def build(root: Path, _: pytest.MonkeyPatch) -> None:
        corpus(root)
        (root / name).write_bytes(text.encode(encoding))

    return build


def plus(*extra: tuple[str, Callable[[], np.ndarray] | bytes | None]) -> Callable:
    """A builder: the default corpus plus files `(relative path, samples | raw bytes | None = a tone)`."""

    def build(root: Path, _: pytest.MonkeyPatch) -> None:
        corpus(root)
        for relative, content in extra:
            path = root / relative
            if isinstance(content, bytes):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            else:
                subtype = "FLOAT" if content is not None and content().dtype == np.float64 else "PCM_16"
                write_audio(path, None if content is None else content().astype(np.float32), subtype)

    return build


def int16_scale_floats() -> np.ndarray:
    return (tone() * 32768).astype(np.float64)  # float64 marker: written as a FLOAT wav


def slightly_over() -> np.ndarray:
    return (tone() * 5).astype(np.float64)  # peak 1.5


def clipped_recording() -> np.ndarray:
    return np.clip(tone(amplitude=3.0), -1.0, 1.0)  # a hard-clipped 16-bit recording: most samples at +-1


def casia_tree(root: Path, _: pytest.MonkeyPatch) -> None:
    """CASIA layout `<speaker>/<emotion>/<id>.wav` with audio outside it and level problems."""
    for speaker in ("liuchanhg", "wangzhe"):
        for emotion in ("angry", "sad"):
            write_audio(root / "data" / speaker / emotion / "201.wav")
    write_audio(root / "data" / "liuchanhg" / "stray.wav")
    write_audio(root / "data" / "wangzhe" / "sad" / "takes" / "202.wav")
    write_audio(root / "data" / "wangzhe" / "angry" / "203.wav", clipped_recording())
    write_audio(root / "data" / "wangzhe" / "angry" / "204.wav", (tone() * 32768).astype(np.float32), "FLOAT")


RAVDESS_NAME = "03-01-{:02d}-01-01-01-01"


def ravdess_tree(root: Path, _: pytest.MonkeyPatch) -> None:
    """Actor_01 with two emotions, the same utterance as .wav and .flac, and a macOS `._` file."""
    actor = root / "data" / "Actor_01"
    write_audio(actor / f"{RAVDESS_NAME.format(1)}.flac")
    write_audio(actor / f"{RAVDESS_NAME.format(4)}.wav")
    write_audio(actor / f"._{RAVDESS_NAME.format(5)}.wav")


IEMOCAP_DIALOG = "Ses01F_impro01"
IEMOCAP_LABEL_FILE = f"data/Session1/dialog/EmoEvaluation/{IEMOCAP_DIALOG}.txt"


def iemocap_tree(*extra_lines: str) -> Callable:
    """A builder: a one-dialog release tree (F000 neu, M000 ang, M001 sad and clipped) plus `extra_lines`."""

    def build(root: Path, _: pytest.MonkeyPatch) -> None:
        wav_dir = root / "data" / "Session1" / "sentences" / "wav" / IEMOCAP_DIALOG
        lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        for turn, code in (("F000", "neu"), ("M000", "ang"), ("M001", "sad")):
            write_audio(wav_dir / f"{IEMOCAP_DIALOG}_{turn}.wav", clipped_recording() if turn == "M001" else None)
            lines.append(f"[1.0000 - 2.0000]\t{IEMOCAP_DIALOG}_{turn}\t{code}\t[2.5000, 2.5000, 2.5000]")
        label_file = root / IEMOCAP_LABEL_FILE
        label_file.parent.mkdir(parents=True)
        label_file.write_text("\n".join([*lines, *extra_lines]) + "\n")

    return build


def empty_label_folder(root: Path, _: pytest.MonkeyPatch) -> None:
    corpus(root)
    (root / "data" / "neutral").mkdir()


def without_extra_decoder(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus(root)
    (root / "data" / "angry" / "voice.m4a").write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(64))
    monkeypatch.setattr(common, "_EXTRA_DECODER", False)


def with_extra_decoder(root: Path, _: pytest.MonkeyPatch) -> None:
    if not common.extra_decoder_available():
        pytest.skip("torchcodec cannot decode here (no FFmpeg libraries)")
    import torch
    from torchcodec.encoders import AudioEncoder

    corpus(root)
    AudioEncoder(torch.from_numpy(tone())[None], sample_rate=RATE).to_file(str(root / "data" / "sad" / "voice.m4a"))


def output_is_a_file(root: Path, _: pytest.MonkeyPatch) -> None:
    corpus(root)
    (root / "out").write_text("not a folder\n")


def output_not_empty(root: Path, _: pytest.MonkeyPatch) -> None:
    corpus(root)
    (root / "out").mkdir()
    (root / "out" / "thesis.tex").write_text("precious\n")


def nothing(root: Path, _: pytest.MonkeyPatch) -> None:
    return None


def one_class(root: Path, _: pytest.MonkeyPatch) -> None:
    corpus(root, {"angry": 3})


def case_variant_folders(root: Path, _: pytest.MonkeyPatch) -> None:
    corpus(root, {"angry": 1, "Sad": 1, "sad ": 1})
    write_audio(root / "data" / "sad" / "s9.wav")


# ----------------------------------------------------------------------------- checks used by some cases


def expect_rescaled(result: Result) -> None:
    levels = result.report()["levels"]
    (entry,) = levels["files"]
    assert entry["action"] == "rescaled" and entry["peak"] == pytest.approx(1.5, abs=1e-3)
    assert entry["out_of_range_fraction"] > 0.2 and entry["gain_db"] == pytest.approx(-3.52, abs=0.01)
    loaded = datasets.load_from_disk(str(result.out))
    row = loaded[loaded["utterance_id"].index("angry/over")]
    samples = decode_audio(row["audio"])
    assert np.abs(samples).max() <= 1.0
    assert np.mean(np.abs(samples) >= common.FULL_SCALE) < 0.01  # scaled, not hard-clipped


def expect_clipping_reported(result: Result) -> None:
    (entry,) = result.report()["levels"]["files"]
    assert entry["action"] == "kept" and 0.5 < entry["clipped_fraction"] < 0.95
    assert result.report()["levels"]["clipped_files"] == 1


def expect_refused_level(result: Result) -> None:
    levels = result.report()["levels"]
    assert levels["refused_files"] == 1 and levels["files"][0]["action"] == "refused"


def expect_spellings(result: Result) -> None:
    assert result.report()["label_spellings"] == {"Angry": "angry", "Sad": "sad", " sad ": "sad"}


def expect_levels_casia(result: Result) -> None:
    levels = result.report()["levels"]
    assert (levels["clipped_files"], levels["refused_files"]) == (1, 1)


def expect_unlisted_counted(result: Result) -> None:
    assert result.report()["unlisted_audio_files"] == 2


# ----------------------------------------------------------------------------- cases

FOLDER = ("--data_dir", "{data}", "--output_dir", "{out}")
MANIFEST = (*FOLDER, "--manifest", "{root}/list.csv")
HEADER = "path,label\n"
ROWS = "angry/a0.wav,angry\nangry/a1.wav,angry\nsad/s0.wav,sad\nsad/s1.wav,sad\n"

CASES = [
    # ========================================================================= data preparation
    # --- duplicates (issue 36, item 1)
    Case(
        "manifest_duplicate_with_conflicting_labels",
        "prepare_folder",
        manifest(HEADER + ROWS + "angry/a0.wav,sad\n"),
        MANIFEST,
        Outcome(1, "list.csv:2 ({data}/angry/a0.wav) and list.csv:6 ({data}/angry/a0.wav) differ in label 'angry' vs"),
    ),
    Case(
        "manifest_duplicate_identical_rows_deduplicated",
        "prepare_folder",
        manifest(HEADER + ROWS + "angry/a0.wav,angry\n"),
        MANIFEST,
        Outcome(0, "list.csv:6: the same row as list.csv:2", rows=4, skipped={"data/angry/a0.wav": "duplicate"}),
    ),
    Case(
        "manifest_same_file_by_two_paths",
        "prepare_folder",
        manifest(HEADER + ROWS + "./sad/../sad/s1.wav, Sad \n"),
        MANIFEST,
        Outcome(0, "list.csv:6: the same row as list.csv:5", rows=4, skipped={"data/sad/../sad/s1.wav": "duplicate"}),
    ),
    Case(
        "manifest_duplicate_with_conflicting_speaker",
        "prepare_folder",
        manifest("path,label,speaker\nangry/a0.wav,angry,s1\nsad/s0.wav,sad,s1\nangry/a0.wav,angry,s2\n"),
        MANIFEST,
        Outcome(1, "differ in speaker 's1' vs 's2'"),
    ),
    Case(
        "folder_one_utterance_id_from_two_files",
        "prepare_folder",
        plus(("data/angry/a0.flac", None)),
        FOLDER,
        Outcome(1, "utterance id 'angry/a0': both {data}/angry/a0.flac and {data}/angry/a0.wav"),
    ),
    # --- files the folder scan does not use are listed (item 2)
    Case(
        "folder_audio_in_a_sub_folder_of_a_label",
        "prepare_folder",
        plus(("data/angry/sub/x.wav", None)),
        FOLDER,
        Outcome(
            0, "angry/sub/x.wav is not at <label>/<file>", rows=4, skipped={"data/angry/sub/x.wav": "outside_layout"}
        ),
    ),
    Case(
        "folder_audio_directly_in_data_dir",
        "prepare_folder",
        plus(("data/x.flac", None)),
        FOLDER,
        Outcome(0, "outside_layout: 1", rows=4, skipped={"data/x.flac": "outside_layout"}),
    ),
    Case(
        "folder_hidden_audio_file",
        "prepare_folder",
        plus(("data/sad/.s7.wav", None), ("data/.trash/angry/a9.wav", None)),
        FOLDER,
        Outcome(
            0,
            "hidden_file: 2",
            rows=4,
            skipped={"data/sad/.s7.wav": "hidden_file", "data/.trash/angry/a9.wav": "hidden_file"},
        ),
    ),
    Case(
        "folder_m4a_without_a_decoder_for_it",
        "prepare_folder",
        without_extra_decoder,
        FOLDER,
        Outcome(0, ".m4a needs torchcodec", rows=4, skipped={"data/angry/voice.m4a": "unsupported_format"}),
    ),
    Case(
        "folder_m4a_read_by_torchcodec",
        "prepare_folder",
        with_extra_decoder,
        FOLDER,
        Outcome(0, "skipped (none)", rows=5),
    ),
    Case(
        "folder_output_dir_inside_data_dir_is_not_a_class",
        "prepare_folder",
        good,
        ("--data_dir", "{data}", "--output_dir", "{data}/prepared"),
        Outcome(0, "0 file(s)/line(s) skipped", labels=("angry", "sad")),
    ),
    # --- levels (item 3)
    Case(
        "float_wav_at_int16_scale_refused",
        "prepare_folder",
        plus(("data/angry/int16.wav", int16_scale_floats)),
        FOLDER,
        Outcome(
            0,
            "looks like int16-scale float samples",
            rows=4,
            skipped={"data/angry/int16.wav": "out_of_range"},
            check=expect_refused_level,
        ),
    ),
    Case(
        "float_wav_slightly_beyond_one_rescaled",
        "prepare_folder",
        plus(("data/angry/over.wav", slightly_over)),
        FOLDER,
        Outcome(0, "1 scaled by 1/peak", rows=5, check=expect_rescaled),
    ),
    Case(
        "clipped_recording_reported_and_kept",
        "prepare_folder",
        plus(("data/sad/clipped.wav", clipped_recording)),
        FOLDER,
        Outcome(0, "1 file(s) with samples at full scale (kept)", rows=5, check=expect_clipping_reported),
    ),
    # --- manifest format, labels, arguments (item 4)
    Case(
        "manifest_saved_by_excel_with_bom",
        "prepare_folder",
        manifest(HEADER + ROWS, "utf-8-sig"),
        MANIFEST,
        Outcome(0, "Saved 4 rows", rows=4),
    ),
    Case(
        "manifest_utf16_unicode_text",
        "prepare_folder",
        manifest((HEADER + ROWS).replace(",", "\t"), "utf-16"),
        MANIFEST,
        Outcome(0, "tab-separated", rows=4),
    ),
    Case(
        "manifest_tab_separated_named_csv",
        "prepare_folder",
        manifest((HEADER + ROWS).replace(",", "\t")),
        MANIFEST,
        Outcome(0, "read as tab-separated", rows=4),
    ),
    Case(
        "manifest_semicolon_separated",
        "prepare_folder",
        manifest((HEADER + ROWS).replace(",", ";")),
        MANIFEST,
        Outcome(0, "semicolon-separated", rows=4),
    ),
    Case(
        "manifest_header_case_and_spaces",
        "prepare_folder",
        manifest(" Path , LABEL \n" + ROWS),
        MANIFEST,
        Outcome(0, "Saved 4 rows", rows=4, labels=("angry", "sad")),
    ),
    Case(
        "manifest_not_utf8",
        "prepare_folder",
        manifest(HEADER + ROWS + "sad/s0.wav,tristesse é\n", "cp1252"),
        MANIFEST,
        Outcome(2, "--manifest {root}/list.csv is not UTF-8 text"),
    ),
    Case(
        "manifest_without_path_column",
        "prepare_folder",
        manifest("file,label\n" + ROWS),
        MANIFEST,
        Outcome(2, "header lacks column(s) ['path'] (found ['file', 'label']"),
    ),
    Case(
        "manifest_without_path_column_script_by_path",
        "script:prepare_folder",
        manifest("file,label\n" + ROWS),
        MANIFEST,
        Outcome(2, "prepare_folder.py: error: --manifest {root}/list.csv: header lacks column(s) ['path']"),
    ),
    Case("manifest_missing", "prepare_folder", good, MANIFEST, Outcome(2, "--manifest {root}/list.csv does not exist")),
    Case(
        "manifest_header_only_blank",
        "prepare_folder",
        manifest("\n" + ROWS),
        MANIFEST,
        Outcome(2, "--manifest {root}/list.csv is empty or its first line (the header) is blank"),
    ),
    Case(
        "manifest_row_naming_a_folder",
        "prepare_folder",
        manifest(HEADER + ROWS + "angry,angry\n"),
        MANIFEST,
        Outcome(0, "listed at list.csv:6 is a folder", rows=4, skipped={"data/angry": "missing_audio"}),
    ),
    Case(
        "manifest_label_spellings_merged",
        "prepare_folder",
        manifest(HEADER + "angry/a0.wav,angry\nangry/a1.wav,Angry\nsad/s0.wav,Sad\nsad/s1.wav, sad \n"),
        MANIFEST,
        Outcome(0, "'Angry' -> 'angry'", rows=4, labels=("angry", "sad"), check=expect_spellings),
    ),
    Case(
        "folder_label_folders_differing_in_case",
        "prepare_folder",
        case_variant_folders,
        FOLDER,
        Outcome(0, "'Sad' -> 'sad'", rows=4, labels=("angry", "sad")),
    ),
    Case(
        "manifest_bad_rows_leave_one_class",
        "prepare_folder",
        manifest(
            "path,label,speaker,gender,session\n"
            + "angry/a0.wav,angry,s1,F,1\nangry/a1.wav,angry,s1,x,1\nsad/s0.wav,sad,s2,m,one\n"
            + "sad/s1.wav,sad,s2,m,1,extra\n,sad,s2,m,1\n"
        ),
        MANIFEST,
        Outcome(
            1,
            "1 class(es) with utterances ('angry' (1 rows))",
        ),
    ),
    Case(
        "manifest_rows_with_bad_fields_listed",
        "prepare_folder",
        manifest(
            "path,label,speaker,gender,session\n"
            + "angry/a0.wav,angry,s1,F,1\nangry/a1.wav,angry,s1,x,1\nsad/s0.wav,sad,s2,m,one\n"
            + "sad/s1.wav,sad,s2,m,1,extra\n,sad,s2,m,1\nsad/s1.wav,sad,s2,m,2\n"
        ),
        MANIFEST,
        Outcome(
            0,
            "gender 'x' is none of",
            rows=2,
            skipped={
                "data/angry/a1.wav": "bad_field",
                "data/sad/s0.wav": "bad_field",
                "list.csv:5": "unparsable_label_line",
                "list.csv:6": "unparsable_label_line",
            },
        ),
    ),
    Case(
        "manifest_lists_a_subset",
        "prepare_folder",
        manifest(HEADER + "angry/a0.wav,angry\nsad/s0.wav,sad\n"),
        MANIFEST,
        Outcome(0, "2 other audio file(s)", rows=2, check=expect_unlisted_counted),
    ),
    Case(
        "label_names_naming_one_class_twice",
        "prepare_folder",
        good,
        (*FOLDER, "--label_names", "sad,Sad"),
        Outcome(2, "'sad' and 'Sad' are the same class"),
    ),
    Case(
        "label_names_with_one_class",
        "prepare_folder",
        good,
        (*FOLDER, "--label_names", "angry"),
        Outcome(2, "--label_names 'angry': at least 2 classes"),
    ),
    Case(
        "speaker_pattern_invalid_regex",
        "prepare_folder",
        good,
        (*FOLDER, "--speaker_pattern", "(spk"),
        Outcome(2, "--speaker_pattern '(spk' is not a valid regular expression"),
    ),
    Case(
        "speaker_pattern_without_group",
        "prepare_folder",
        good,
        (*FOLDER, "--speaker_pattern", r"^\w"),
        Outcome(2, "has no group"),
    ),
    Case(
        "speaker_pattern_with_manifest",
        "prepare_folder",
        manifest(HEADER + ROWS),
        (*MANIFEST, "--speaker_pattern", "(a)"),
        Outcome(2, "--speaker_pattern applies to folder mode only"),
    ),
    Case(
        "speaker_pattern_not_matching_some_files",
        "prepare_folder",
        good,
        (*FOLDER, "--speaker_pattern", r"^([as])0"),
        Outcome(
            0,
            "speaker_not_matched: 2",
            rows=2,
            skipped={"data/angry/a1.wav": "speaker_not_matched", "data/sad/s1.wav": "speaker_not_matched"},
        ),
    ),
    Case(
        "output_dir_is_a_file", "prepare_folder", output_is_a_file, FOLDER, Outcome(2, "--output_dir {out} is a file")
    ),
    Case(
        "output_dir_holds_other_files",
        "prepare_folder",
        output_not_empty,
        FOLDER,
        Outcome(2, "--output_dir {out} is not empty and is not a prepared dataset"),
    ),
    Case(
        "output_dir_is_the_data_dir",
        "prepare_folder",
        good,
        ("--data_dir", "{data}", "--output_dir", "{data}"),
        Outcome(2, "would hold (and, when prepared again, replace) --data_dir"),
    ),
    Case("data_dir_missing", "prepare_folder", nothing, FOLDER, Outcome(2, "--data_dir {data} does not exist")),
    Case(
        "missing_required_option",
        "prepare_folder",
        good,
        ("--data_dir", "{data}"),
        Outcome(2, "the following arguments are required: --output_dir"),
    ),
    # --- class count (item 5)
    Case(
        "one_class_corpus_refused",
        "prepare_folder",
        one_class,
        FOLDER,
        Outcome(1, "1 class(es) with utterances ('angry' (3 rows)); at least 2"),
    ),
    Case(
        "one_class_allowed_for_pretraining",
        "prepare_folder",
        one_class,
        (*FOLDER, "--allow_single_class"),
        Outcome(0, "Saved 3 rows", rows=3, labels=("angry",)),
    ),
    Case(
        "label_folder_without_audio_warned",
        "prepare_folder",
        empty_label_folder,
        FOLDER,
        Outcome(0, "class(es) ['neutral'] have no utterance", rows=4, labels=("angry", "neutral", "sad")),
    ),
    # --- the corpus scripts share the machinery (item 6)
    Case(
        "casia_audio_outside_the_layout_and_levels",
        "prepare_casia",
        casia_tree,
        FOLDER,
        Outcome(
            0,
            "expected 1200 utterances, found 5",
            rows=5,
            skipped={
                "data/liuchanhg/stray.wav": "outside_layout",
                "data/wangzhe/sad/takes/202.wav": "outside_layout",
                "data/wangzhe/angry/204.wav": "out_of_range",
            },
            labels=("angry", "fear", "happy", "neutral", "sad", "surprise"),
            check=expect_levels_casia,
        ),
    ),
    Case(  # issue 35: a corpus that may not be redistributed is not pushed publicly; refused before decoding
        "casia_public_push_refused",
        "prepare_casia",
        casia_tree,
        (*FOLDER, "--push_to_hub", "me/casia"),
        Outcome(2, "--push_to_hub: the data's licence (casia-research-only) forbids redistribution"),
    ),
    Case(
        "iemocap_public_push_refused",
        "prepare_iemocap",
        iemocap_tree(),
        (*FOLDER, "--push_to_hub", "me/iemocap"),
        Outcome(2, "Push to a private repository (--private), or pass --push_restricted_data"),
    ),
    Case(
        "casia_strict_fails_on_stray_audio",
        "prepare_casia",
        casia_tree,
        (*FOLDER, "--strict"),
        Outcome(1, "liuchanhg/stray.wav: outside_layout"),
    ),
    Case(
        "ravdess_one_utterance_as_wav_and_flac",
        "prepare_ravdess",
        lambda root, mp: (
            ravdess_tree(root, mp),
            write_audio(root / "data" / "Actor_01" / f"{RAVDESS_NAME.format(1)}.wav"),
        ),
        FOLDER,
        Outcome(1, f"utterance id '{RAVDESS_NAME.format(1)}'"),
    ),
    Case(
        "ravdess_macos_resource_fork_listed",
        "prepare_ravdess",
        ravdess_tree,
        FOLDER,
        Outcome(0, "hidden_file: 1", rows=2, skipped={f"data/Actor_01/._{RAVDESS_NAME.format(5)}.wav": "hidden_file"}),
    ),
    Case(
        "iemocap_label_line_repeated",
        "prepare_iemocap",
        iemocap_tree(f"[1.0000 - 2.0000]\t{IEMOCAP_DIALOG}_M000\tang\t[2.5000, 2.5000, 2.5000]"),
        FOLDER,
        Outcome(
            0,
            "1 file(s) with samples at full scale (kept)",
            rows=3,
            skipped={f"{IEMOCAP_LABEL_FILE}:6": "duplicate"},
            labels=("angry", "happy", "neutral", "sad"),
            check=expect_clipping_reported,
        ),
    ),
    Case(
        "iemocap_conflicting_label_lines",
        "prepare_iemocap",
        iemocap_tree(f"[1.0000 - 2.0000]\t{IEMOCAP_DIALOG}_F000\tsad\t[2.5000, 2.5000, 2.5000]"),
        FOLDER,
        Outcome(1, f"{IEMOCAP_DIALOG}_F000 is labelled 'neu' at {{root}}/{IEMOCAP_LABEL_FILE}:3 and 'sad' at"),
    ),
    # tft-ser, pipeline and run_train.py: their tables are in tests/bad_input_cases_*.py (tests at the end)
]


# ----------------------------------------------------------------------------- the test


def _fill(text: str, root: Path) -> str:
    return text.format(root=root, data=root / "data", out=root / "out")


def _relative(path: str, root: Path) -> str:
    return path.removeprefix(f"{root}/")


def _check_nothing_lost(case: Case, result: Result) -> None:
    """Every audio file under data/ (folder layouts) or every manifest row is used or listed as skipped."""
    report, used = result.report(), {v["path"] for v in result.manifest().values()}
    skipped = {_relative(p["path"], result.root) for p in report["skipped"]}
    assert report["num_rows"] == len(used)
    if "--manifest" in case.args:
        lines = [line for line in _manifest_lines(result.root) if line.strip()]
        assert report["num_rows"] + report["num_skipped"] == len(lines) - 1  # all data rows accounted for
        return
    audio = {str(p) for p in common.audio_files_under(result.root / "data", [result.out])}
    missing = {_relative(p, result.root) for p in audio - used} - skipped
    assert not missing, f"audio files neither used nor listed as skipped: {sorted(missing)}"


def _manifest_lines(root: Path) -> list[str]:
    raw = (root / "list.csv").read_bytes()
    return (raw.decode("utf-16") if raw.startswith(b"\xff\xfe") else raw.decode("utf-8-sig")).splitlines()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, caplog) -> None:
    case.build(tmp_path, monkeypatch)
    decoded = 0
    read_audio = common.read_audio

    def counting_read_audio(path: Path) -> tuple:
        nonlocal decoded
        decoded += 1
        return read_audio(path)

    monkeypatch.setattr(common, "read_audio", counting_read_audio)
    argv = [_fill(a, tmp_path) for a in case.args]
    with caplog.at_level(logging.INFO, logger="tft_ser.data"):
        code = RUNNERS[case.entry](argv)
    captured = capsys.readouterr()
    out = Path(argv[argv.index("--output_dir") + 1]) if "--output_dir" in argv else tmp_path / "out"
    result = Result(code, captured.out + captured.err + caplog.text, tmp_path, out, decoded)
    expect = case.expect
    assert result.exit_code == expect.exit_code, result.text[-3000:]
    assert _fill(expect.message, tmp_path) in result.text, result.text[-3000:]
    assert "Traceback" not in result.text
    if expect.exit_code == 2:
        assert result.decoded == 0, "an argument error must be found before any audio is decoded"
    if expect.exit_code != 0:
        out = result.out
        assert not (out / REPORT_FILENAME).exists() and not (out / "state.json").exists(), "nothing is saved"
        return
    report = result.report()
    if expect.rows is not None:
        assert report["num_rows"] == expect.rows
        assert {_relative(p["path"], tmp_path): p["reason"] for p in report["skipped"]} == expect.skipped
    if expect.labels is not None:
        assert tuple(report["label_names"]) == expect.labels
    _check_nothing_lost(case, result)
    if expect.check is not None:
        expect.check(result)


# ----------------------------------------------------------------------------- tft-ser and pipeline


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_bad_cli_input(case: CliCase, tmp_path: Path, capsys) -> None:
    run_cli_case(case, tmp_path, capsys)


@pytest.fixture(scope="module")
def classifier():
    from transformers import pipeline

    return pipeline("audio-classification", model=str(random_export()))


@pytest.mark.parametrize("case", PIPELINE_CASES, ids=[c.name for c in PIPELINE_CASES])
def test_bad_pipeline_input(case: PipelineCase, classifier, caplog) -> None:
    run_pipeline_case(case, classifier, caplog)


# ----------------------------------------------------------------------------- run_train.py


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return demo_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.mark.parametrize("case", TRAIN_CASES, ids=[c.name for c in TRAIN_CASES])
def test_bad_run_train_input(case: TrainCase, tmp_path: Path, capsys, demo) -> None:
    run_train_case(case, tmp_path, capsys, demo)
