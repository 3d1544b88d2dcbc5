"""Fixtures and tree builders for the `tft_ser.data` tests (imported by tests/test_dataset_*.py).

Real audio comes from the shared corpora (`$TFT_CORPORA`, default `<repo>/../shared/corpora`) and
is only ever copied into pytest's tmp_path, never into the repository.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
CORPORA_DIR = Path(os.environ.get("TFT_CORPORA", REPO_ROOT.parent / "shared" / "corpora"))


def corpus_dir(name: str) -> Path:
    """A shared corpus folder; skips the calling test with a clear reason when it is absent (fails it in CI)."""
    from conftest import missing_corpus

    path = CORPORA_DIR / name
    if not path.is_dir():
        missing_corpus(f"shared corpus {name!r} not found at {path} (set TFT_CORPORA to its parent)")
    return path


@pytest.fixture(scope="session")
def casia_dir() -> Path:
    return corpus_dir("casia")


@pytest.fixture(scope="session")
def ravdess_dir() -> Path:
    return corpus_dir("ravdess")


def casia_clips(count: int) -> list[Path]:
    """`count` real CASIA wav files (sorted, deterministic), to copy into test trees."""
    files = sorted(corpus_dir("casia").glob("*/*/*.wav"))
    return files[:: max(1, len(files) // count)][:count]


# ----------------------------------------------------------------------------- IEMOCAP tree

# (session, dialog, utterance suffix, emotion code) of the generated release-layout tree. The
# utterance suffix's gender letter is the speaker: Ses01F_impro01_M000 is spoken by Ses01_M.
IEMOCAP_ROWS = [
    (s, dialog, turn, code)
    for s in (1, 2, 3)
    for dialog, turns in (
        (
            f"Ses0{s}F_impro01",
            [
                ("F000", "neu"),
                ("M000", "ang"),
                ("F001", "hap"),
                ("M001", "exc"),
                ("F002", "sad"),
                ("M002", "fru"),
                ("F003", "xxx"),
            ],
        ),
        (f"Ses0{s}M_script01_1", [("F000", "sad"), ("M000", "hap"), ("F001", "exc"), ("M001", "neu"), ("M002", "ang")]),
    )
    for turn, code in turns
]


@dataclass
class IemocapTree:
    """A small IEMOCAP_full_release tree and what the tests expect from it."""

    root: Path
    codes: dict[str, str] = field(default_factory=dict)  # utterance id -> code (well-formed)
    malformed: list[str] = field(default_factory=list)  # "<label file>:<line>" of bad lines
    unlabelled_wav: Path | None = None
    missing_wav_utt: str = ""


def build_iemocap_tree(root: Path) -> IemocapTree:
    """Release layout with real (CASIA) audio, evaluator lines and malformed label lines."""
    tree = IemocapTree(root=root / "IEMOCAP_full_release")
    clips = casia_clips(len(IEMOCAP_ROWS) + 1)
    lines_by_dialog: dict[tuple[int, str], list[str]] = {}
    for (session, dialog, turn, code), clip in zip(IEMOCAP_ROWS, clips, strict=False):
        utt = f"{dialog}_{turn}"
        wav_dir = tree.root / f"Session{session}" / "sentences" / "wav" / dialog
        wav_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, wav_dir / f"{utt}.wav")
        tree.codes[utt] = code
        start = 1.5 * len(lines_by_dialog.get((session, dialog), []))
        lines_by_dialog.setdefault((session, dialog), []).append(
            f"[{start:.4f} - {start + 1.2:.4f}]\t{utt}\t{code}\t[2.5000, 3.0000, 2.5000]\n"
            f"C-E1:\tNeutral;\t()\nA-E2:\tval 3; act 2; dom  2;\t()\n\n"
        )
    for (session, dialog), lines in lines_by_dialog.items():
        label_dir = tree.root / f"Session{session}" / "dialog" / "EmoEvaluation"
        label_dir.mkdir(parents=True, exist_ok=True)
        header = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        body = "".join(lines)
        if (session, dialog) == (1, "Ses01F_impro01"):
            bad = [
                "[3.1 - 4.2] Ses01F_impro01_F009 neu [2.5, 2.5, 2.5]\n",  # spaces, not tabs
                "[7.0000 - 8.0000]\tnot_an_utterance_id\tneu\t[2.5, 2.5, 2.5]\n",
            ]
            body = header + bad[0] + body + bad[1]
            first, last = 3, 2 + body[len(header) :].count("\n")
            tree.malformed = [f"{label_dir / (dialog + '.txt')}:{n}" for n in (first, last)]
        else:
            body = header + body
        (label_dir / f"{dialog}.txt").write_text(body)
    # A wav nobody labelled, and a label line whose wav is missing.
    wav_dir = tree.root / "Session1" / "sentences" / "wav" / "Ses01F_impro01"
    extra = wav_dir / "Ses01F_impro01_F010.wav"
    shutil.copy(clips[-1], extra)
    tree.unlabelled_wav = extra
    tree.missing_wav_utt = "Ses02F_impro01_M005"
    label_file = tree.root / "Session2" / "dialog" / "EmoEvaluation" / "Ses02F_impro01.txt"
    with label_file.open("a") as f:
        f.write(f"[30.0000 - 31.0000]\t{tree.missing_wav_utt}\tneu\t[2.5, 2.5, 2.5]\n")
    return tree


# ----------------------------------------------------------------------------- problem files


@dataclass
class ProblemTree:
    """A CASIA-layout tree with good clips plus one file of each problem kind."""

    root: Path
    good: list[Path]
    problems: dict[str, str]  # path -> expected reason


def build_problem_tree(root: Path) -> ProblemTree:
    """Two speakers x two emotions x 2 real clips, plus corrupt/empty/non-audio/unknown/short."""
    clips = casia_clips(9)
    good = []
    for i, (speaker, emotion) in enumerate(
        [("liuchanhg", "angry"), ("liuchanhg", "happy"), ("wangzhe", "angry"), ("wangzhe", "sad")]
    ):
        folder = root / speaker / emotion
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(2):
            target = folder / f"{201 + j}.wav"
            shutil.copy(clips[2 * i + j], target)
            good.append(target)
    corrupt = root / "liuchanhg" / "angry" / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + np.random.default_rng(0).bytes(2000))
    empty = root / "liuchanhg" / "angry" / "empty.wav"
    empty.write_bytes(b"")
    text = root / "liuchanhg" / "happy" / "notes.txt"
    text.write_text("not audio\n")
    unknown = root / "wangzhe" / "bored" / "201.wav"
    unknown.parent.mkdir(parents=True)
    shutil.copy(clips[8], unknown)
    short = root / "wangzhe" / "sad" / "short.wav"
    sf.write(short, np.zeros(1600, dtype=np.float32), 16000)  # 0.1 s
    silent = root / "wangzhe" / "sad" / "zero_frames.wav"
    sf.write(silent, np.zeros(0, dtype=np.float32), 16000)  # valid header, no samples
    problems = {
        str(corrupt): "unreadable",
        str(empty): "empty",
        str(text): "unreadable",
        str(unknown): "unknown_label",
        str(short): "too_short",
        str(silent): "empty",
    }
    return ProblemTree(root=root, good=good, problems=problems)
