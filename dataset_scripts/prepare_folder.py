"""Any labelled corpus -> `datasets.Dataset`: a `<label>/<file>` folder or a CSV/TSV manifest.

Folder mode: every file under `<data_dir>/<label>/` is an utterance of class `<label>`; the
speaker is unknown unless `--speaker_pattern` (a regex with one group, searched in the file name)
gives it. Manifest mode: a CSV (or `.tsv`) with a header `path,label[,speaker[,gender[,session]]]`,
paths relative to `data_dir`. Labels are sorted alphabetically unless `--label_names` fixes them.

    python dataset_scripts/prepare_folder.py --data_dir my_corpus --output_dir data/mine \
        [--manifest my_corpus/list.csv] [--label_names angry,happy,neutral,sad]
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `dataset_scripts` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import datasets

from dataset_scripts.common import (
    MISSING_AUDIO,
    UNPARSABLE_LABEL_LINE,
    Candidate,
    Collected,
    Problem,
    base_parser,
    list_files,
    run_cli,
    run_preparation,
)

REQUIRED_COLUMNS = ("path", "label")
GENDERS = {"f": "female", "female": "female", "m": "male", "male": "male"}


def _utterance_id(path: Path, root: Path) -> str:
    relative = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
    return relative.with_suffix("").as_posix()


def _collect_folder(data_dir: Path, speaker_pattern: str | None) -> Collected:
    collected = Collected(candidates=[])
    pattern = re.compile(speaker_pattern) if speaker_pattern else None
    for label_dir in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        for path in list_files(label_dir):
            match = pattern.search(path.name) if pattern else None
            collected.candidates.append(
                Candidate(
                    utterance_id=_utterance_id(path, data_dir),
                    label=label_dir.name,
                    speaker=match.group(1) if match else None,
                    path=path,
                )
            )
    return collected


def _collect_manifest(data_dir: Path, manifest: Path) -> Collected:
    collected = Collected(candidates=[])
    delimiter = "\t" if manifest.suffix.lower() == ".tsv" else ","
    with manifest.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{manifest}: header lacks column(s) {missing}.")
        for number, row in enumerate(reader, 2):
            if not row.get("path") or not row.get("label"):
                collected.problems.append(Problem(f"{manifest}:{number}", UNPARSABLE_LABEL_LINE, repr(row)))
                continue
            path = data_dir / row["path"]
            if not path.is_file():
                collected.problems.append(Problem(str(path), MISSING_AUDIO, "listed in manifest"))
                continue
            session = (row.get("session") or "").strip()
            collected.candidates.append(
                Candidate(
                    utterance_id=_utterance_id(path, data_dir),
                    label=row["label"].strip(),
                    speaker=(row.get("speaker") or "").strip() or None,
                    gender=GENDERS.get((row.get("gender") or "").strip().lower()),
                    session=int(session) if session.isdigit() else None,
                    path=path,
                )
            )
    return collected


def _manifest_labels(manifest: Path) -> list[str]:
    delimiter = "\t" if manifest.suffix.lower() == ".tsv" else ","
    with manifest.open(newline="", encoding="utf-8") as handle:
        return sorted({(row.get("label") or "").strip() for row in csv.DictReader(handle, delimiter=delimiter)} - {""})


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
) -> datasets.Dataset:
    """Prepare a user corpus from `<label>/<file>` folders or a `path,label[,speaker]` manifest.

    Parameters
    ----------
    data_dir : corpus root (label folders, or the folder manifest paths are relative to).
    output_dir : where to `save_to_disk` (plus `preparation_report.json`); None keeps it in memory.
    manifest : CSV/TSV file with a header; when given, folders are not scanned.
    label_names : the fixed class order; files with another label are reported as unknown.
        Defaults to the sorted label folder names (or manifest labels).
    speaker_pattern : folder mode only: regex whose first group, searched in the file name,
        gives the speaker (e.g. `r"^(spk\\d+)_"`).
    corpus : name used in logs, the report and the description.
    strict, overwrite, expected_num_rows : as for the other corpora.
    """
    data_dir = Path(data_dir)
    manifest = Path(manifest) if manifest is not None else None
    if label_names is None:
        if manifest is not None:
            label_names = _manifest_labels(manifest)
        else:
            label_names = sorted(p.name for p in data_dir.iterdir() if p.is_dir())
    label_names = tuple(label_names)

    def collect() -> Collected:
        if manifest is not None:
            return _collect_manifest(data_dir, manifest)
        return _collect_folder(data_dir, speaker_pattern)

    source = f"manifest {manifest.name}" if manifest is not None else "<label>/<file> folders"
    return run_preparation(
        corpus=corpus,
        collect=collect,
        label_names=label_names,
        data_dir=data_dir,
        output_dir=Path(output_dir) if output_dir is not None else None,
        options={
            "manifest": manifest,
            "label_names": label_names,
            "speaker_pattern": speaker_pattern,
            "expected_num_rows": expected_num_rows,
        },
        strict=strict,
        overwrite=overwrite,
        expected_num_rows=expected_num_rows,
        description=f"User corpus '{corpus}' from {source}; classes: {', '.join(label_names)}.",
    )


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, help="CSV/TSV: path,label[,speaker,...].")
    parser.add_argument("--label_names", help="Comma-separated class names, in order.")
    parser.add_argument("--speaker_pattern", help="Regex; group 1 of the file name = speaker.")
    parser.add_argument("--corpus", default="folder", help="Name for logs and the report.")
    args = parser.parse_args(argv)
    labels = args.label_names.split(",") if args.label_names else None
    return run_cli(
        prepare_folder,
        args,
        manifest=args.manifest,
        label_names=labels,
        speaker_pattern=args.speaker_pattern,
        corpus=args.corpus,
    )


if __name__ == "__main__":
    sys.exit(main())
