"""CASIA Chinese emotional corpus (public 1,200-utterance subset) -> `datasets.Dataset`.

Release layout: `<data_dir>/<speaker>/<emotion>/<id>.wav` (4 speakers x 6 emotions x 50).

    python -m tft_ser.data.casia --data_dir ../shared/corpora/casia \
        --output_dir data/casia
"""

from __future__ import annotations

import sys
from pathlib import Path

import datasets

from tft_ser.data.common import (
    BAD_NAME,
    Candidate,
    Collected,
    Problem,
    base_parser,
    list_files,
    run_cli,
    run_preparation,
)
from tft_ser.data.licences import CORPUS_LICENCES

CASIA_LABELS = ("angry", "fear", "happy", "neutral", "sad", "surprise")
CASIA_SPEAKERS = {
    "liuchanhg": "female",
    "zhaoquanyin": "female",
    "wangzhe": "male",
    "ZhaoZuoxiang": "male",
}
CASIA_NUM_UTTERANCES = 1200
DESCRIPTION = (
    "CASIA Chinese emotional speech corpus, public 1,200-utterance subset: 4 speakers, 6 emotions "
    f"({', '.join(CASIA_LABELS)}), 50 utterances per speaker and emotion. Research use only."
)


def _collect(data_dir: Path) -> Collected:
    collected = Collected(candidates=[])
    for speaker_dir in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        for label_dir in sorted(p for p in speaker_dir.iterdir() if p.is_dir()):
            for path in list_files(label_dir):
                if not path.stem:
                    collected.problems.append(Problem(str(path), BAD_NAME))
                    continue
                collected.candidates.append(
                    Candidate(
                        utterance_id=f"{speaker_dir.name}_{label_dir.name}_{path.stem}",
                        label=label_dir.name,
                        speaker=speaker_dir.name,
                        gender=CASIA_SPEAKERS.get(speaker_dir.name),
                        path=path,
                    )
                )
    return collected


def prepare_casia(
    data_dir: str | Path,
    output_dir: str | Path | None = None,
    *,
    strict: bool = False,
    overwrite: bool = False,
    expected_num_rows: int | None = CASIA_NUM_UTTERANCES,
) -> datasets.Dataset:
    """Prepare CASIA; labels in the order `CASIA_LABELS`, speaker = folder name.

    Parameters
    ----------
    data_dir : root holding the four speaker folders.
    output_dir : where to `save_to_disk` (plus `preparation_report.json`); None keeps it in memory.
    strict : raise `PreparationError` on any skipped file or a size other than `expected_num_rows`.
    overwrite : prepare again even if `output_dir` already holds the same preparation.
    expected_num_rows : corpus size to check ("expected X, found Y"); None disables the check.
    """
    data_dir = Path(data_dir)
    return run_preparation(
        corpus="casia",
        collect=lambda: _collect(data_dir),
        label_names=CASIA_LABELS,
        data_dir=data_dir,
        output_dir=Path(output_dir) if output_dir is not None else None,
        options={"expected_num_rows": expected_num_rows},
        strict=strict,
        overwrite=overwrite,
        expected_num_rows=expected_num_rows,
        description=DESCRIPTION,
        layout="<speaker>/<emotion>/<file>",
    )


def main(argv: list[str] | None = None) -> int:
    args = base_parser(__doc__.splitlines()[0]).parse_args(argv)
    return run_cli(prepare_casia, args, licence=CORPUS_LICENCES["casia"])


if __name__ == "__main__":
    sys.exit(main())
