"""Corpus preparation for tft-ser: raw corpora -> `datasets.Dataset` with one shared schema.

Columns: `audio` (16 kHz mono `datasets.Audio`), `label` (`ClassLabel`, fixed per-corpus order),
`speaker`, `gender`, `session`, `utterance_id`, `duration`. See docs/DATA.md.
"""

from dataset_scripts.common import (
    MIN_DURATION_S,
    SAMPLING_RATE,
    BadArgument,
    PreparationError,
    decode_audio,
    features_for,
)
from dataset_scripts.folds import (
    PROTOCOLS,
    Fold,
    k_fold_by_speaker,
    leave_one_session_out,
    leave_one_speaker_out,
    make_folds,
)
from dataset_scripts.prepare_casia import CASIA_LABELS, CASIA_NUM_UTTERANCES, prepare_casia
from dataset_scripts.prepare_demo import DEMO_LABELS, generate_demo_corpus
from dataset_scripts.prepare_folder import prepare_folder
from dataset_scripts.prepare_iemocap import IEMOCAP_LABELS, IEMOCAP_NUM_UTTERANCES, prepare_iemocap
from dataset_scripts.prepare_ravdess import RAVDESS_LABELS, RAVDESS_NUM_UTTERANCES, prepare_ravdess

# Corpus name -> preparation function (`demo` takes no data_dir: call it with output_dir only).
CORPORA = {
    "casia": prepare_casia,
    "iemocap": prepare_iemocap,
    "ravdess": prepare_ravdess,
    "folder": prepare_folder,
    "demo": generate_demo_corpus,
}
PREPARERS = CORPORA
LABELS = {
    "casia": CASIA_LABELS,
    "iemocap": IEMOCAP_LABELS,
    "ravdess": RAVDESS_LABELS,
    "demo": DEMO_LABELS,
}

__all__ = [
    "CASIA_LABELS",
    "CASIA_NUM_UTTERANCES",
    "CORPORA",
    "DEMO_LABELS",
    "IEMOCAP_LABELS",
    "IEMOCAP_NUM_UTTERANCES",
    "LABELS",
    "MIN_DURATION_S",
    "PREPARERS",
    "PROTOCOLS",
    "RAVDESS_LABELS",
    "RAVDESS_NUM_UTTERANCES",
    "SAMPLING_RATE",
    "BadArgument",
    "Fold",
    "PreparationError",
    "decode_audio",
    "features_for",
    "generate_demo_corpus",
    "k_fold_by_speaker",
    "leave_one_session_out",
    "leave_one_speaker_out",
    "make_folds",
    "prepare_casia",
    "prepare_folder",
    "prepare_iemocap",
    "prepare_ravdess",
]
