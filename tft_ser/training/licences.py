"""What a model trained on each corpus may say about its data: the one place of the corpus -> licence facts that the
model card (`license`, `datasets`, `language`) and the push check use.

A model's weights derive from its training data, so a corpus that may not be redistributed (CASIA, IEMOCAP) makes
a public upload of the model a question for its licence holder: `--push_to_hub` refuses it unless the repository is
private (`--hub_private_repo`) or `--push_restricted_data` states that the user has the right to publish it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import datasets

from tft_ser.data.common import REPORT_FILENAME
from tft_ser.data.licences import CORPUS_LICENCES, DataLicence, public_push_refusal

from .arguments import DataArguments, UsageError

REPORT_CORPORA = {"casia": "casia", "ravdess": "ravdess", "iemocap": "iemocap", "synthetic_demo": "demo"}
UNKNOWN_NOTE = (
    "The licence of the training data ({source}) is not known to tft-ser: check that its terms allow sharing a model "
    "trained on it before you publish or use these weights."
)


def data_licence(args: DataArguments, dataset: datasets.Dataset, corpus: str) -> DataLicence:
    """The licence facts of the corpus a run trained on (`--corpus`, a prepared `--dataset_dir` whose preparation
    report names a known corpus, the demo corpus, or a `--dataset_name` dataset's own `info.license`)."""
    if args.dataset_name:
        hub_id = () if Path(args.dataset_name).exists() else (args.dataset_name,)
        if dataset.info.license:
            note = f"Trained on {args.dataset_name}, whose stated licence is {dataset.info.license}."
            return DataLicence(dataset.info.license, note, redistributable=None, datasets=hub_id)
        note = UNKNOWN_NOTE.format(source=args.dataset_name)
        return DataLicence("other", note, None, datasets=hub_id, license_name="unknown")
    key = args.corpus or ("demo" if not args.dataset_dir else _prepared_corpus(Path(args.dataset_dir)))
    if key in CORPUS_LICENCES:
        return CORPUS_LICENCES[key]
    if dataset.info.license:
        return DataLicence(dataset.info.license, f"Trained on {corpus}, licensed {dataset.info.license}.", None)
    return DataLicence("other", UNKNOWN_NOTE.format(source=corpus), None, license_name="unknown")


def check_push_allowed(licence: DataLicence, private: bool | None, override: bool) -> None:
    """Refuse (`UsageError` naming the options) a public push of weights trained on non-redistributable data."""
    refusal = public_push_refusal(licence, private, override, "--hub_private_repo")
    if refusal:
        raise UsageError(f"--push_to_hub: {refusal}")


def licence_record(licence: DataLicence) -> dict:
    return asdict(licence)


def _prepared_corpus(folder: Path) -> str | None:
    """The corpus a tft_ser.data preparation report names (None for a dataset without one)."""
    report = folder / REPORT_FILENAME
    if not report.is_file():
        return None
    return REPORT_CORPORA.get(json.loads(report.read_text()).get("corpus"))
