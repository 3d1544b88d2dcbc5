"""Any labelled corpus -> `datasets.Dataset`: a `<label>/<file>` folder or a CSV/TSV manifest.

    python dataset_scripts/prepare_folder.py --data_dir RAW --output_dir OUT

The script of a checkout: the code and its options are `tft_ser.data.folder`, which an installed package
runs as `python -m tft_ser.data.folder`. Exit codes: 0 prepared, 1 not preparable, 2 bad arguments.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's tft_ser, installed or not

from tft_ser.data.folder import main

if __name__ == "__main__":
    sys.exit(main())
