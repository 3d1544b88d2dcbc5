"""Any labelled corpus -> `datasets.Dataset`: a `<label>/<file>` folder or a CSV/TSV manifest.

Folder mode: every file directly in `<data_dir>/<label>/` is an utterance of class `<label>`; audio
anywhere else under `data_dir` (its top level, sub-folders of label folders, hidden files) is listed
as skipped. The speaker is unknown unless `--speaker_pattern` (a regex with a group, searched in the
file name; group 1 is the speaker) gives it; a file it does not match is skipped. Manifest mode: a
CSV/TSV with a header `path,label[,speaker[,gender[,session]]]` (any order, any case; UTF-8 with or
without BOM, or UTF-16; the delimiter `,` `TAB` `;` `|` is sniffed), paths relative to `data_dir`.
Labels are normalised (stripped, case-folded: `Sad` = `sad`); classes are sorted alphabetically
unless `--label_names` fixes them. Exit codes: 0 prepared, 1 not preparable, 2 bad arguments.

    python -m tft_ser.data.folder --data_dir my_corpus --output_dir data/mine \
        [--manifest my_corpus/list.csv] [--label_names angry,happy,neutral,sad]
"""

from __future__ import annotations

import csv
import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets

from tft_ser.data.common import (
    BAD_FIELD,
    MISSING_AUDIO,
    NO_SPEAKER,
    UNPARSABLE_LABEL_LINE,
    BadArgument,
    Candidate,
    Collected,
    Problem,
    audio_files_under,
    base_parser,
    list_files,
    normalise_label,
    run_cli,
    run_preparation,
)

logger = logging.getLogger("tft_ser.data")

REQUIRED_COLUMNS = ("path", "label")
OPTIONAL_COLUMNS = ("speaker", "gender", "session")
GENDERS = {"f": "female", "female": "female", "m": "male", "male": "male"}
DELIMITERS = (",", "\t", ";", "|")
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "bar"}
LAYOUT = "<label>/<file>"


@dataclass
class Manifest:
    """A manifest read and checked before any audio is decoded: `(line number, row)` pairs."""

    path: Path
    delimiter: str
    columns: list[str]
    rows: list[tuple[int, dict[str | None, str | list[str] | None]]]

    def labels(self) -> list[str]:
        """The sorted class names (normalised) of the rows."""
        return sorted({normalise_label(str(row.get("label") or "")) for _, row in self.rows} - {""})


def _decode_manifest(manifest: Path) -> str:
    raw = manifest.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" (UTF-16 with BOM)
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as error:
        raise BadArgument(
            f"--manifest {manifest} is not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8 "
            "(Excel: 'CSV UTF-8')."
        ) from None


def read_manifest(manifest: Path) -> Manifest:
    """Read a manifest: encoding (BOM), delimiter (sniffed, checked against the required columns), header
    (stripped, case-folded names). Raises `BadArgument` naming `--manifest` when it cannot be used."""
    if not manifest.is_file():
        raise BadArgument(f"--manifest {manifest} {'is not a file' if manifest.exists() else 'does not exist'}.")
    text = _decode_manifest(manifest)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise BadArgument(f"--manifest {manifest} is empty or its first line (the header) is blank.")
    default = "\t" if manifest.suffix.lower() == ".tsv" else ","
    try:
        sniffed = [csv.Sniffer().sniff("\n".join(lines[:20]), delimiters="".join(DELIMITERS)).delimiter]
    except csv.Error:
        sniffed = []
    header_cells = {}
    for delimiter in dict.fromkeys([*sniffed, default, *DELIMITERS]):
        header_cells[delimiter] = [normalise_label(c) for c in next(csv.reader([lines[0]], delimiter=delimiter))]
        if all(c in header_cells[delimiter] for c in REQUIRED_COLUMNS):
            break
    else:
        cells = header_cells[default]
        missing = [c for c in REQUIRED_COLUMNS if c not in cells]
        raise BadArgument(
            f"--manifest {manifest}: header lacks column(s) {missing} (found {cells} with any of the delimiters "
            f"{[DELIMITER_NAMES[d] for d in DELIMITERS]}); expected a header path,label[,speaker[,gender[,session]]]."
        )
    columns = header_cells[delimiter]
    repeated = sorted({c for c in columns if columns.count(c) > 1 and c})
    if repeated:
        raise BadArgument(f"--manifest {manifest}: column(s) {repeated} appear more than once in the header.")
    if delimiter != default:
        logger.info("--manifest %s: read as %s-separated (sniffed).", manifest.name, DELIMITER_NAMES[delimiter])
    reader = csv.DictReader(text.splitlines()[1:], fieldnames=columns, delimiter=delimiter)
    rows = []
    for row in reader:
        rows.append((reader.line_num + 1, row))  # +1: the header line was read separately
    return Manifest(path=manifest, delimiter=delimiter, columns=columns, rows=rows)


def compile_speaker_pattern(speaker_pattern: str | None) -> re.Pattern | None:
    """The compiled `--speaker_pattern`; `BadArgument` for an invalid regex or one without a group."""
    if speaker_pattern is None:
        return None
    try:
        pattern = re.compile(speaker_pattern)
    except re.error as error:
        raise BadArgument(
            f"--speaker_pattern {speaker_pattern!r} is not a valid regular expression: {error}."
        ) from None
    if pattern.groups < 1:
        raise BadArgument(
            f"--speaker_pattern {speaker_pattern!r} has no group: put the speaker part in parentheses, "
            r"e.g. '^(spk\d+)_'."
        )
    return pattern


def _utterance_id(path: Path, root: Path) -> str:
    path, root = path.resolve(), root.resolve()
    relative = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
    return relative.with_suffix("").as_posix()


def _label_dirs(data_dir: Path, exclude: Sequence[Path]) -> list[Path]:
    excluded = {e.resolve() for e in exclude}
    return sorted(
        p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and p.resolve() not in excluded
    )


def _collect_folder(data_dir: Path, pattern: re.Pattern | None, exclude: Sequence[Path]) -> Collected:
    collected = Collected(candidates=[])
    for label_dir in _label_dirs(data_dir, exclude):
        for path in list_files(label_dir):
            speaker = None
            if pattern is not None:
                match = pattern.search(path.name)
                speaker = match.group(1) if match else None
                if not speaker:
                    collected.problems.append(Problem(str(path), NO_SPEAKER, f"--speaker_pattern {pattern.pattern!r}"))
                    continue
            collected.candidates.append(
                Candidate(utterance_id=_utterance_id(path, data_dir), label=label_dir.name, speaker=speaker, path=path)
            )
    return collected


def _row_problem(row: dict, columns: Sequence[str]) -> str | None:
    if row.get(None):  # more cells than header columns (an unquoted delimiter inside a field?)
        return f"{len(columns) + len(row[None])} cells, the header has {len(columns)}"
    missing = [c for c in REQUIRED_COLUMNS if not (row.get(c) or "").strip()]
    return f"empty {' and '.join(missing)}" if missing else None


def _collect_manifest(data_dir: Path, manifest: Manifest) -> Collected:
    collected = Collected(candidates=[])
    for number, row in manifest.rows:
        origin = f"{manifest.path.name}:{number}"
        where = f"{manifest.path}:{number}"
        if (problem := _row_problem(row, manifest.columns)) is not None:
            collected.problems.append(Problem(where, UNPARSABLE_LABEL_LINE, f"{problem}: {row!r}"))
            continue
        path = data_dir / row["path"].strip()
        if not path.is_file():
            detail = f"listed at {origin}" + (" is a folder" if path.is_dir() else "")
            collected.problems.append(Problem(str(path), MISSING_AUDIO, detail))
            continue
        gender_text = (row.get("gender") or "").strip().casefold()
        session_text = (row.get("session") or "").strip()
        if gender_text and gender_text not in GENDERS:
            detail = f"{origin}: gender {row['gender']!r} is none of {sorted(GENDERS)} (or empty)"
            collected.problems.append(Problem(str(path), BAD_FIELD, detail))
            continue
        if session_text and not session_text.isdigit():
            detail = f"{origin}: session {row['session']!r} is not a whole number (or empty)"
            collected.problems.append(Problem(str(path), BAD_FIELD, detail))
            continue
        collected.candidates.append(
            Candidate(
                utterance_id=_utterance_id(path, data_dir),
                label=row["label"],
                speaker=(row.get("speaker") or "").strip() or None,
                gender=GENDERS.get(gender_text),
                session=int(session_text) if session_text else None,
                path=path,
                origin=origin,
            )
        )
    listed = {c.path.resolve() for c in collected.candidates}
    unlisted = [p for p in audio_files_under(data_dir) if p.resolve() not in listed]
    if unlisted:
        logger.info(
            "%s lists %d file(s); %d other audio file(s) under %s are not in it (not part of this corpus).",
            manifest.path.name,
            len(manifest.rows),
            len(unlisted),
            data_dir,
        )
    collected.notes["unlisted_audio_files"] = len(unlisted)
    return collected


def prepare_folder(
    data_dir: str | Path,
    output_dir: str | Path | None = None,
    *,
    manifest: str | Path | None = None,
    label_names: Sequence[str] | None = None,
    speaker_pattern: str | None = None,
    corpus: str = "folder",
    strict: bool = False,
    overwrite: bool = False,
    expected_num_rows: int | None = None,
    min_classes: int = 2,
) -> datasets.Dataset:
    """Prepare a user corpus from `<label>/<file>` folders or a `path,label[,speaker]` manifest.

    Parameters
    ----------
    data_dir : corpus root (label folders, or the folder manifest paths are relative to).
    output_dir : where to `save_to_disk` (plus `preparation_report.json`); None keeps it in memory.
    manifest : CSV/TSV file with a header; when given, folders are not scanned.
    label_names : the fixed class order; files with another label are reported as unknown.
        Defaults to the sorted label folder names (or manifest labels), normalised.
    speaker_pattern : folder mode only: regex whose first group, searched in the file name,
        gives the speaker (e.g. `r"^(spk\\d+)_"`); files it does not match are skipped.
    corpus : name used in logs, the report and the description.
    strict, overwrite, expected_num_rows : as for the other corpora.
    min_classes : fewest classes with utterances accepted (2; 1 only for unlabelled pre-training audio).

    Raises `BadArgument` (before any decoding) for unusable arguments, `PreparationError` when the corpus
    cannot be prepared (conflicting duplicates, fewer than `min_classes` classes, nothing usable).
    """
    data_dir = Path(data_dir)
    output = Path(output_dir) if output_dir is not None else None
    if not data_dir.is_dir():
        raise BadArgument(f"--data_dir {data_dir} {'is not a folder' if data_dir.exists() else 'does not exist'}.")
    if manifest is not None and speaker_pattern is not None:
        raise BadArgument("--speaker_pattern applies to folder mode only; with --manifest give a speaker column.")
    pattern = compile_speaker_pattern(speaker_pattern)
    table = read_manifest(Path(manifest)) if manifest is not None else None
    exclude = [output] if output is not None else []
    if label_names is None:
        if table is not None:
            label_names = table.labels()
        else:
            label_names = sorted({normalise_label(p.name) for p in _label_dirs(data_dir, exclude)})
    elif len(label_names) < min_classes:
        raise BadArgument(f"--label_names {','.join(label_names)!r}: at least {min_classes} classes are needed.")
    label_names = tuple(label_names)

    def collect() -> Collected:
        if table is not None:
            return _collect_manifest(data_dir, table)
        return _collect_folder(data_dir, pattern, exclude)

    source = f"manifest {table.path.name}" if table is not None else "<label>/<file> folders"
    return run_preparation(
        corpus=corpus,
        collect=collect,
        label_names=label_names,
        data_dir=data_dir,
        output_dir=output,
        options={
            "manifest": manifest,
            "label_names": label_names,
            "speaker_pattern": speaker_pattern,
            "expected_num_rows": expected_num_rows,
            "min_classes": min_classes,
        },
        strict=strict,
        overwrite=overwrite,
        expected_num_rows=expected_num_rows,
        description=f"User corpus '{corpus}' from {source}; classes: {', '.join(label_names)}.",
        layout=None if table is not None else LAYOUT,
        scan_exclude=exclude,
        min_classes=min_classes,
    )


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, help="CSV/TSV: path,label[,speaker,...].")
    parser.add_argument("--label_names", help="Comma-separated class names, in order.")
    parser.add_argument("--speaker_pattern", help="Regex; group 1 of the file name = speaker.")
    parser.add_argument("--corpus", default="folder", help="Name for logs and the report.")
    parser.add_argument(
        "--allow_single_class", action="store_true", help="Accept one class (unlabelled audio for pre-training)."
    )
    args = parser.parse_args(argv)
    labels = args.label_names.split(",") if args.label_names else None
    return run_cli(
        prepare_folder,
        args,
        manifest=args.manifest,
        label_names=labels,
        speaker_pattern=args.speaker_pattern,
        corpus=args.corpus,
        min_classes=1 if args.allow_single_class else 2,
    )


if __name__ == "__main__":
    sys.exit(main())
