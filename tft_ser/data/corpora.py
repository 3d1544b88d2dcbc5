"""The corpora tft-ser prepares: name -> preparation function, and name -> class names (in label order)."""

from tft_ser.data.casia import CASIA_LABELS, prepare_casia
from tft_ser.data.demo import DEMO_LABELS, generate_demo_corpus
from tft_ser.data.folder import prepare_folder
from tft_ser.data.iemocap import IEMOCAP_LABELS, prepare_iemocap
from tft_ser.data.ravdess import RAVDESS_LABELS, prepare_ravdess

# Corpus name -> preparation function (`demo` takes no data_dir: call it with output_dir only).
CORPORA = {
    "casia": prepare_casia,
    "iemocap": prepare_iemocap,
    "ravdess": prepare_ravdess,
    "folder": prepare_folder,
    "demo": generate_demo_corpus,
}
LABELS = {
    "casia": CASIA_LABELS,
    "iemocap": IEMOCAP_LABELS,
    "ravdess": RAVDESS_LABELS,
    "demo": DEMO_LABELS,
}
