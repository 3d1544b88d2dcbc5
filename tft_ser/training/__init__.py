"""Training, cross-validation, scoring and export for tft-ser (`python -m tft_ser.training.run_train`; in a checkout,
`run_train.py`)."""
