"""Training, cross-validation, scoring and export for tft-ser (used by `run_train.py`)."""
