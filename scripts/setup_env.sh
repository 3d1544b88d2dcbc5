#!/usr/bin/env bash
# Create or reuse .venv, install the project with its dev extra, and make sure FFmpeg is present.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

if ! command -v ffmpeg >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "FFmpeg missing: installing it with apt-get (needed to decode audio files)."
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
    else
        echo "FFmpeg is required (datasets decodes audio through torchcodec + FFmpeg). Install it with:" >&2
        echo "    sudo apt-get update && sudo apt-get install -y ffmpeg" >&2
        exit 1
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.tft-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements/constraints.txt -nt "$stamp" ]; then
    # pip only: the constraint file pins torch/torchaudio to a pair that works together (its comment says which).
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -c requirements/constraints.txt -e ".[dev]"
    touch "$stamp"
fi
