"""Built-in SYNTHETIC demo corpus: speech-like signals whose prosody depends on the emotion.

    python dataset_scripts/prepare_demo.py --output_dir OUT

The script of a checkout: the code and its options are `tft_ser.data.demo`, which an installed package
runs as `python -m tft_ser.data.demo`. Exit codes: 0 prepared, 1 not preparable, 2 bad arguments.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's tft_ser, installed or not

from tft_ser.data.demo import main

if __name__ == "__main__":
    sys.exit(main())
