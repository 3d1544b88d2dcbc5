"""Corpus preparation for tft-ser: raw corpora -> `datasets.Dataset` with one shared schema.

Columns: `audio` (16 kHz mono `datasets.Audio`), `label` (`ClassLabel`, fixed per-corpus order),
`speaker`, `gender`, `session`, `utterance_id`, `duration`. See docs/DATA.md.

One module per corpus (`casia`, `ravdess`, `iemocap`, `folder`: any labelled folder or manifest, `demo`: the
synthetic demo corpus), each also a command: `python -m tft_ser.data.casia --data_dir RAW --output_dir OUT`
(in a checkout, `python dataset_scripts/prepare_casia.py` is the same command); `common` (audio, schema, reports,
the shared CLI), `folds` (speaker-independent folds), `licences`, `corpora` (the tables below).

Names are imported on first use (PEP 562), so `python -m tft_ser.data.<corpus>` runs its module once.
"""

from __future__ import annotations

from tft_ser.lazy_exports import lazy_exports

_EXPORTS = {
    "MIN_DURATION_S": "common",
    "SAMPLING_RATE": "common",
    "BadArgument": "common",
    "PreparationError": "common",
    "decode_audio": "common",
    "features_for": "common",
    "PROTOCOLS": "folds",
    "Fold": "folds",
    "k_fold_by_speaker": "folds",
    "leave_one_session_out": "folds",
    "leave_one_speaker_out": "folds",
    "make_folds": "folds",
    "CASIA_LABELS": "casia",
    "CASIA_NUM_UTTERANCES": "casia",
    "prepare_casia": "casia",
    "DEMO_LABELS": "demo",
    "generate_demo_corpus": "demo",
    "prepare_folder": "folder",
    "IEMOCAP_LABELS": "iemocap",
    "IEMOCAP_NUM_UTTERANCES": "iemocap",
    "prepare_iemocap": "iemocap",
    "RAVDESS_LABELS": "ravdess",
    "RAVDESS_NUM_UTTERANCES": "ravdess",
    "prepare_ravdess": "ravdess",
    "CORPORA": "corpora",
    "LABELS": "corpora",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
