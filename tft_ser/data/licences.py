"""The licence of each corpus the project prepares: the one table that data preparation (what may be pushed) and
training (the model card, what may be pushed) read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataLicence:
    license: str  # the Hub card's `license` id
    note: str  # one sentence for the card
    redistributable: bool | None  # False: the corpus forbids redistribution; None: not known
    language: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()  # Hub dataset ids (only where the data came from the Hub)
    license_name: str | None = None  # for `license: other`


CORPUS_LICENCES = {
    "casia": DataLicence(
        "other",
        "Trained on the CASIA Chinese Emotional Corpus (Institute of Automation, Chinese Academy of Sciences): "
        "research use only, no redistribution; these weights derive from it, so use them for research only.",
        redistributable=False,
        language=("zh",),
        license_name="casia-research-only",
    ),
    "ravdess": DataLicence(
        "cc-by-nc-sa-4.0",
        "Trained on RAVDESS (Livingstone & Russo 2018, Zenodo record 1188976), licensed CC BY-NC-SA 4.0: "
        "attribution, non-commercial use only, derivatives under the same licence.",
        redistributable=True,
        language=("en",),
    ),
    "iemocap": DataLicence(
        "other",
        "Trained on IEMOCAP, licensed by the University of Southern California (SAIL lab) under its release "
        "agreement: no redistribution; these weights derive from it, so use them under that agreement only.",
        redistributable=False,
        language=("en",),
        license_name="iemocap-usc-release-agreement",
    ),
    "demo": DataLicence(
        "apache-2.0",
        "Trained on the built-in synthetic demo corpus (generated signals, no human speech): Apache-2.0 like the code.",
        redistributable=True,
    ),
}


def public_push_refusal(licence: DataLicence | None, private: bool | None, override: bool, private_flag: str) -> str:
    """Why a public upload of this data (or of weights trained on it) is refused; "" when it is allowed."""
    if licence is None or licence.redistributable is not False or private or override:
        return ""
    return (
        f"the data's licence ({licence.license_name or licence.license}) forbids redistribution, and weights "
        f"trained on it derive from it. Push to a private repository ({private_flag}), or pass "
        "--push_restricted_data if you hold the right to publish it."
    )
