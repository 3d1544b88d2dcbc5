"""Expand command-line AUDIO arguments (files, folders, globs) into a list of paths, keeping missing ones."""

from __future__ import annotations

import glob
import sys
from collections import Counter
from pathlib import Path

from .exit_codes import UsageError

# What a folder scan takes: the formats FFmpeg (`load_audio`) decodes that audio files usually have.
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au", ".opus", ".m4a", ".aac", ".mp4", ".wma",
                  ".webm", ".amr", ".3gp", ".mka", ".ac3"}  # fmt: skip


def expand_inputs(arguments: list[str]) -> tuple[list[Path], Counter[str]]:
    """
    Files as given; folders → their audio files (recursive, sorted); globs → matches. Unmatched stay as-is (they
    are reported as failed). Also returns how many files of each other suffix the folder scans left out.
    """
    paths: list[Path] = []
    left_out: Counter[str] = Counter()
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if file.suffix.lower() in AUDIO_SUFFIXES:
                    paths.append(file)
                else:
                    left_out[file.suffix.lower() or "(no suffix)"] += 1
        elif not path.exists() and glob.has_magic(argument):
            matches = sorted(Path(p) for p in glob.glob(argument, recursive=True))
            paths += [p for p in matches if p.is_file()] or [path]
        else:
            paths.append(path)  # a file, or a missing path that will be reported as failed
    return list(dict.fromkeys(paths)), left_out


def audio_inputs(arguments: list[str]) -> list[Path]:
    """`expand_inputs`, with a note on stderr of what folder scans left out; `UsageError` when nothing is left."""
    paths, left_out = expand_inputs(arguments)
    if left_out:
        counts = ", ".join(f"{count} {suffix}" for suffix, count in sorted(left_out.items()))
        print(f"note: folder scan left out files that are not audio it reads ({counts}); reads: "
              f"{' '.join(sorted(AUDIO_SUFFIXES))}", file=sys.stderr)  # fmt: skip
    if not paths:
        raise UsageError("no audio files found")
    return paths
