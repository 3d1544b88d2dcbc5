"""Train and cross-validate a Time-Frequency Transformer for speech emotion recognition.

    python run_train.py                                   # built-in synthetic demo corpus, a few CPU minutes
    python run_train.py configs/casia_loso.yaml           # the paper's CASIA protocol (JSON or YAML config)
    python run_train.py --corpus casia --data_dir ../shared/corpora/casia --protocol leave_one_speaker_out \
        --output_dir outputs/casia

Several processes run each fold with DDP: `torchrun --nproc_per_node 2 run_train.py ...` (CPU or GPU),
`accelerate launch --multi_gpu --num_processes 8 run_train.py ...` (GPUs); see docs/TRAINING.md.

The script of a checkout: the code and its options are `tft_ser.training.run_train`, which an installed package
runs as `python -m tft_ser.training.run_train ...`.
"""

from torch.distributed.elastic.multiprocessing.errors import record

from tft_ser.training.run_train import main

if __name__ == "__main__":
    record(main)()  # under torchrun / accelerate launch, the failing rank's error heads the launcher's report
