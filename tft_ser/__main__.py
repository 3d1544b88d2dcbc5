"""`python -m tft_ser ...` runs the `tft-ser` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
