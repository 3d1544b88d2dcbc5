"""RAVDESS speech part -> `datasets.Dataset`; labels, actor and gender come from the file names.

Layout: `<data_dir>/Actor_XX/03-01-EE-II-SS-RR-AA.wav` (original release) or `.flac`.

    python -m tft_ser.data.ravdess --data_dir ../shared/corpora/ravdess \
        --output_dir data/ravdess
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import datasets

from tft_ser.data.common import (
    AUDIO_EXTENSIONS,
    BAD_NAME,
    UNKNOWN_LABEL,
    Candidate,
    Collected,
    Problem,
    base_parser,
    list_files,
    run_cli,
    run_preparation,
)
from tft_ser.data.licences import CORPUS_LICENCES

# Emotion code EE = index + 1 in this tuple (01 neutral ... 08 surprised).
RAVDESS_LABELS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
RAVDESS_NUM_UTTERANCES = 1440
# modality-channel-emotion-intensity-statement-repetition-actor; 03 = audio-only, 01 = speech.
FILE_NAME = re.compile(
    r"^(?P<modality>\d{2})-(?P<channel>\d{2})-(?P<emotion>\d{2})-(?P<intensity>\d{2})-"
    r"(?P<statement>\d{2})-(?P<repetition>\d{2})-(?P<actor>\d{2})$"
)
SPEECH_CHANNEL = "01"
DESCRIPTION = (
    "RAVDESS speech (Livingstone & Russo, 2018): 24 actors (odd = male, even = female), 8 emotions "
    f"({', '.join(RAVDESS_LABELS)}), 1,440 utterances. CC BY-NC-SA 4.0, Zenodo record 1188976."
)


def _candidate(path: Path) -> Candidate | Problem:
    match = FILE_NAME.match(path.stem)
    if match is None or match["channel"] != SPEECH_CHANNEL:
        return Problem(str(path), BAD_NAME, "not a RAVDESS speech file name")
    code = int(match["emotion"])
    if not 1 <= code <= len(RAVDESS_LABELS):
        return Problem(str(path), UNKNOWN_LABEL, f"emotion code {match['emotion']}")
    actor = int(match["actor"])
    return Candidate(
        utterance_id=path.stem,
        label=RAVDESS_LABELS[code - 1],
        speaker=f"Actor_{actor:02d}",
        gender="male" if actor % 2 else "female",
        path=path,
    )


def _collect(data_dir: Path) -> Collected:
    collected = Collected(candidates=[])
    for actor_dir in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        for path in list_files(actor_dir):
            if path.suffix.lower() not in AUDIO_EXTENSIONS:
                collected.problems.append(Problem(str(path), BAD_NAME, "not .wav/.flac"))
                continue
            item = _candidate(path)
            target = collected.problems if isinstance(item, Problem) else collected.candidates
            target.append(item)
    return collected


def prepare_ravdess(
    data_dir: str | Path,
    output_dir: str | Path | None = None,
    *,
    strict: bool = False,
    overwrite: bool = False,
    expected_num_rows: int | None = RAVDESS_NUM_UTTERANCES,
) -> datasets.Dataset:
    """Prepare RAVDESS speech; labels in the order `RAVDESS_LABELS`, speaker `Actor_XX`.

    Parameters
    ----------
    data_dir : root holding the `Actor_XX` folders (`.wav` or `.flac` files).
    output_dir : where to `save_to_disk` (plus `preparation_report.json`); None keeps it in memory.
    strict : raise `PreparationError` on any skipped file or a size other than `expected_num_rows`.
    overwrite : prepare again even if `output_dir` already holds the same preparation.
    expected_num_rows : corpus size to check ("expected X, found Y"); None disables the check.
    """
    data_dir = Path(data_dir)
    return run_preparation(
        corpus="ravdess",
        collect=lambda: _collect(data_dir),
        label_names=RAVDESS_LABELS,
        data_dir=data_dir,
        output_dir=Path(output_dir) if output_dir is not None else None,
        options={"expected_num_rows": expected_num_rows},
        strict=strict,
        overwrite=overwrite,
        expected_num_rows=expected_num_rows,
        description=DESCRIPTION,
        layout="Actor_XX/<file>",
    )


def main(argv: list[str] | None = None) -> int:
    args = base_parser(__doc__.splitlines()[0]).parse_args(argv)
    return run_cli(prepare_ravdess, args, licence=CORPUS_LICENCES["ravdess"])


if __name__ == "__main__":
    sys.exit(main())
