"""IEMOCAP (USC release) -> `datasets.Dataset`, 4 classes, with session and speaker columns.

Release layout: `IEMOCAP_full_release/Session{1..5}/sentences/wav/<dialog>/<utt>.wav`, labels in
`Session*/dialog/EmoEvaluation/<dialog>.txt`, one line per turn:
`[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]`.

The speaker is the gender letter of the utterance id's last part: `Ses01F_impro01_M000` is spoken
by `Ses01_M` (the dialog prefix `Ses01F` only names who wore the markers).

    python -m tft_ser.data.iemocap --data_dir /data/IEMOCAP_full_release \
        --output_dir data/iemocap [--no_merge_excited] [--improvised_only]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import datasets

from tft_ser.data.common import (
    DUPLICATE,
    MISSING_AUDIO,
    MISSING_LABEL,
    UNKNOWN_LABEL,
    UNPARSABLE_LABEL_LINE,
    Candidate,
    Collected,
    PreparationError,
    Problem,
    base_parser,
    list_files,
    run_cli,
    run_preparation,
)
from tft_ser.data.licences import CORPUS_LICENCES

IEMOCAP_LABELS = ("angry", "happy", "neutral", "sad")  # alphabetical, same order as the demo
# The 4-class mapping; `exc` joins `hap` only with merge_excited=True (the usual 5,531 setup).
FOUR_CLASS = {"ang": "angry", "hap": "happy", "neu": "neutral", "sad": "sad"}
EXCITED = "exc"
# Every other code of the release; rows with these are excluded by design (counted, not errors).
OTHER_CODES = frozenset({"exc", "fru", "sur", "fea", "dis", "oth", "xxx"})
# Commonly reported sizes of the full release, keyed by (merge_excited, improvised_only).
IEMOCAP_NUM_UTTERANCES = {(True, False): 5531, (False, False): 4490, (True, True): 2943, (False, True): 2280}
LABEL_LINE = re.compile(
    r"^\[(?P<start>\d+(?:\.\d+)?) - (?P<end>\d+(?:\.\d+)?)\]\t(?P<utt>\S+)\t(?P<code>\w+)\t"
    r"\[(?P<vad>[^\]]*)\]\s*$"
)
UTTERANCE_ID = re.compile(r"^Ses(?P<session>\d{2})(?P<marker>[FM])_(?P<dialog>.+)_(?P<gender>[FM])(?P<turn>[^_]+)$")
GENDERS = {"F": "female", "M": "male"}
DESCRIPTION = (
    "IEMOCAP (USC SAIL), 4-class emotion subset: 5 sessions x 2 speakers (Ses0N_F, Ses0N_M). "
    "Licensed by USC; do not redistribute."
)


def _parse_labels(label_file: Path, collected: Collected, labels: dict[str, tuple[str, str]]) -> None:
    """Add utterance id -> (emotion code, `file:line`) to `labels`; lines starting with `[` that do not parse
    are reported, a repeated identical line is reported as `duplicate`, a conflicting one refused."""
    for number, line in enumerate(label_file.read_text(errors="replace").splitlines(), 1):
        if not line.startswith("["):
            continue  # header, blank and per-evaluator lines (C-E1:, A-E2:, ...)
        where = f"{label_file}:{number}"
        match = LABEL_LINE.match(line)
        if match is None or UTTERANCE_ID.match(match["utt"]) is None:
            collected.problems.append(Problem(where, UNPARSABLE_LABEL_LINE, repr(line)))
            continue
        utt, code = match["utt"], match["code"]
        if utt in labels:
            first_code, first_where = labels[utt]
            if first_code != code:
                raise PreparationError(
                    f"iemocap: {utt} is labelled {first_code!r} at {first_where} and {code!r} at {where}; "
                    "fix the label files (one label per utterance)."
                )
            collected.problems.append(Problem(where, DUPLICATE, f"{utt} already labelled at {first_where}"))
            continue
        labels[utt] = (code, where)


def _label(code: str, merge_excited: bool) -> str | None:
    """4-class label, or None when the variant leaves the code out."""
    if code == EXCITED and merge_excited:
        return "happy"
    return FOUR_CLASS.get(code)


def _collect(data_dir: Path, merge_excited: bool, improvised_only: bool) -> Collected:
    collected = Collected(candidates=[])
    sessions = sorted(p for p in data_dir.glob("Session*") if p.is_dir())
    for session_dir in sessions:
        located: dict[str, tuple[str, str]] = {}
        for label_file in sorted((session_dir / "dialog" / "EmoEvaluation").glob("*.txt")):
            _parse_labels(label_file, collected, located)
        labels = {utt: code for utt, (code, _) in located.items()}
        wavs = {
            p.stem: p
            for d in sorted((session_dir / "sentences" / "wav").glob("*"))
            if d.is_dir()
            for p in list_files(d)
            if p.suffix.lower() == ".wav"
        }
        for utt in sorted(set(labels) | set(wavs)):
            if utt not in wavs:
                collected.problems.append(Problem(utt, MISSING_AUDIO, f"labelled in {session_dir}"))
                continue
            match = UTTERANCE_ID.match(utt)
            if utt not in labels or match is None:
                collected.problems.append(Problem(str(wavs[utt]), MISSING_LABEL))
                continue
            code = labels[utt]
            if improvised_only and not match["dialog"].startswith("impro"):
                collected.excluded[f"scripted:{code}"] += 1
                continue
            label = _label(code, merge_excited)
            if label is None:
                if code in OTHER_CODES:
                    collected.excluded[code] += 1
                else:
                    collected.problems.append(Problem(str(wavs[utt]), UNKNOWN_LABEL, repr(code)))
                continue
            collected.candidates.append(
                Candidate(
                    utterance_id=utt,
                    label=label,
                    speaker=f"Ses{match['session']}_{match['gender']}",
                    gender=GENDERS[match["gender"]],
                    session=int(match["session"]),
                    path=wavs[utt],
                )
            )
    return collected


def prepare_iemocap(
    data_dir: str | Path,
    output_dir: str | Path | None = None,
    *,
    merge_excited: bool = True,
    improvised_only: bool = False,
    strict: bool = False,
    overwrite: bool = False,
    expected_num_rows: int | str | None = "default",
) -> datasets.Dataset:
    """Prepare IEMOCAP 4-class; labels in the order `IEMOCAP_LABELS`, speaker `Ses0N_F|M`.

    Parameters
    ----------
    data_dir : the `IEMOCAP_full_release` folder (holding `Session1` ... `Session5`).
    output_dir : where to `save_to_disk` (plus `preparation_report.json`); None keeps it in memory.
    merge_excited : count `exc` as `happy` (True, the usual setup) or leave it out.
    improvised_only : keep only the improvised dialogs (`*_impro*`).
    strict : raise `PreparationError` on any skipped file/line or a size mismatch.
    overwrite : prepare again even if `output_dir` already holds the same preparation.
    expected_num_rows : size to check; "default" = `IEMOCAP_NUM_UTTERANCES[variant]`, None = off.
    """
    data_dir = Path(data_dir)
    if expected_num_rows == "default":
        expected_num_rows = IEMOCAP_NUM_UTTERANCES[(merge_excited, improvised_only)]
    variant = f"merge_excited={merge_excited}, improvised_only={improvised_only}"
    return run_preparation(
        corpus="iemocap",
        collect=lambda: _collect(data_dir, merge_excited, improvised_only),
        label_names=IEMOCAP_LABELS,
        data_dir=data_dir,
        output_dir=Path(output_dir) if output_dir is not None else None,
        options={
            "merge_excited": merge_excited,
            "improvised_only": improvised_only,
            "expected_num_rows": expected_num_rows,
        },
        strict=strict,
        overwrite=overwrite,
        expected_num_rows=expected_num_rows,
        description=f"{DESCRIPTION} Variant: {variant}.",
    )


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--no_merge_excited", action="store_true", help="Leave `exc` out.")
    parser.add_argument("--improvised_only", action="store_true", help="Only *_impro* dialogs.")
    args = parser.parse_args(argv)
    return run_cli(
        prepare_iemocap,
        args,
        licence=CORPUS_LICENCES["iemocap"],
        merge_excited=not args.no_merge_excited,
        improvised_only=args.improvised_only,
    )


if __name__ == "__main__":
    sys.exit(main())
