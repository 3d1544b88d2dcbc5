"""The one record of where a result was produced: command, date, commit, hardware and versions."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchaudio
import transformers

ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or `platform.processor()` where there is none)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    return next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor()
    )


def git_revision() -> str | None:
    """The checkout's commit, with `+dirty` when it has uncommitted changes; `None` outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def environment(command: list[str] | None = None, device: torch.device | str | None = None) -> dict[str, Any]:
    """Command (default: this process's `sys.argv`), UTC date, commit, hardware and package versions."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    hardware: dict[str, Any] = {
        "device": device.type,
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        hardware |= {"gpu": properties.name, "gpu_memory_gib": round(properties.total_memory / 2**30, 1)}
    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchaudio": torchaudio.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        "cuda": torch.version.cuda,
    }
    for name in ("datasets", "accelerate", "evaluate", "sklearn"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = module.__version__
    return {
        "command": shlex.join(["python", *(command if command is not None else sys.argv)]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": git_revision(),
        "hardware": hardware,
        "versions": versions,
    }


__all__ = ["cpu_model", "environment", "git_revision"]
