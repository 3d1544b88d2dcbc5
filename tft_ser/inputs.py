"""Expand command-line AUDIO arguments (files, folders, globs) into a list of paths, keeping missing ones."""

from __future__ import annotations

import glob
from pathlib import Path

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au", ".opus"}


def expand_inputs(arguments: list[str]) -> list[Path]:
    """Files as given; folders → their audio files (recursive, sorted); globs → matches. Unmatched stay as-is."""
    paths: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
        elif not path.exists() and glob.has_magic(argument):
            matches = sorted(Path(p) for p in glob.glob(argument, recursive=True))
            paths += [p for p in matches if p.is_file()] or [path]
        else:
            paths.append(path)  # a file, or a missing path that will be reported as failed
    return list(dict.fromkeys(paths))
