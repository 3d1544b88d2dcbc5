"""Self-supervised pre-training of a TFT backbone by masked spectrogram modelling on unlabelled speech.

    python run_pretrain.py --corpora casia ravdess --data_dirs ../shared/corpora/casia ../shared/corpora/ravdess \
        --exclude_speakers ZhaoZuoxiang liuchanhg --output_dir outputs/pretrain/casia_fold0

The script of a checkout: the code and its options are `tft_ser.training.run_pretrain`, which an installed package
runs as `python -m tft_ser.training.run_pretrain ...` (docs/TRAINING.md).
"""

from tft_ser.training.run_pretrain import main

if __name__ == "__main__":
    main()
