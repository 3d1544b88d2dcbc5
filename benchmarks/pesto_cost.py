"""Search screen PT1 (issue 34): CPU time of PESTO's pitch tracking against the TFT's own feature extraction and
forward pass on the same clips, in one process (`OMP_NUM_THREADS=1 python benchmarks/pesto_cost.py`)."""

import time

import pesto
import torch

from modeling_tft import TFTConfig, TFTFeatureExtractor, TFTForAudioClassification

torch.manual_seed(0)
clips = torch.randn(16, 48000) * 0.1  # 16 clips of 3 s at 16 kHz
extractor, model = TFTFeatureExtractor(), TFTForAudioClassification(TFTConfig(num_labels=6)).eval()


def tft() -> None:
    features = extractor(list(clips.numpy()), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        model(**features)


pesto.predict(clips[:1], 16000)  # loads its weights
tft()
for name, run in (("pesto", lambda: pesto.predict(clips, 16000, step_size=10.0)), ("tft features+forward", tft)):
    start = time.perf_counter()
    run()
    print(name, round(time.perf_counter() - start, 2), "s for 16 clips of 3 s, threads:", torch.get_num_threads())
