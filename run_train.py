"""Train and cross-validate a Time-Frequency Transformer for speech emotion recognition (the checkout's script).

    python run_train.py                                   # built-in synthetic demo corpus, a few CPU minutes
    python run_train.py configs/casia_loso.yaml           # the paper's CASIA protocol (JSON or YAML config)

The code, its options and more examples (torchrun, accelerate launch) are in `tft_ser.training.run_train`, which an
installed package runs as `python -m tft_ser.training.run_train ...` (docs/TRAINING.md).
"""

from torch.distributed.elastic.multiprocessing.errors import record

from tft_ser.training.run_train import main

if __name__ == "__main__":
    record(main)()  # under torchrun / accelerate launch, the failing rank's error heads the launcher's report
