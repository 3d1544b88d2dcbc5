VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1

.PHONY: setup demo test lint

setup:
	bash scripts/setup_env.sh

demo: setup
	$(PY) run_train.py configs/demo.yaml

test: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .
