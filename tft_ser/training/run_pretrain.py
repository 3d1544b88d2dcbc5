"""Self-supervised pre-training of a TFT backbone by masked spectrogram modelling on unlabelled speech.

    python run_pretrain.py --corpora casia ravdess --data_dirs ../shared/corpora/casia ../shared/corpora/ravdess \
        --exclude_speakers ZhaoZuoxiang liuchanhg --output_dir outputs/pretrain/casia_fold0
    python run_train.py configs/casia_loso.yaml --model_name_or_path outputs/pretrain/casia_fold0/backbone --folds 0

`--model_name_or_path` may hold `{fold}` (e.g. `outputs/pretrain/casia_fold{fold}/backbone`): each fold then
fine-tunes its own backbone, pre-trained without that fold's validation and test speakers (docs/TRAINING.md).

`run_pretrain.py` is the script of a checkout; this module is its code. Installed, the same command is
`python -m tft_ser.training.run_pretrain ...`, with the same options.
"""

from __future__ import annotations

import json
import logging
import sys

from transformers import HfArgumentParser

from tft_ser.training.arguments import no_accelerator
from tft_ser.training.pretraining import PretrainingArguments, PretrainingDataArguments, pretrain


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    parser = HfArgumentParser((PretrainingDataArguments, PretrainingArguments))
    parser.set_defaults(use_cpu=no_accelerator())  # HfArgumentParser ignores a bool field's default_factory
    data_args, args = parser.parse_args_into_dataclasses(args=argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    report = pretrain(data_args, args, ["run_pretrain.py", *argv])
    print(json.dumps({key: report[key] for key in ("corpora", "num_clips", "loss_by_epoch", "backbone")}, indent=1))
    return report


if __name__ == "__main__":
    main()
