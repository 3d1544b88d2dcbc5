"""The optional parts of tft-ser (pip extras) and the one-line error that names the extra to install.

`pipeline(...)`, `tft-ser predict FILE` and training need none of them; a feature that does says which extra
brings it (pyproject.toml lists them; `dev` and `all` hold every one).
"""

from __future__ import annotations

import importlib.util

# module -> (the package pip installs, the extra of tft-ser that brings it)
EXTRAS = {
    "silero_vad": ("silero-vad", "vad"),
    "matplotlib": ("matplotlib", "plots"),
    "tensorboard": ("tensorboard", "tensorboard"),
}


class MissingExtra(ImportError):
    """A feature needs an optional package that is not installed; the message names the extra to install."""


def installed(module: str) -> bool:
    """Whether `module` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken parent package, or a module entry without a spec
        return False


def missing_extra(module: str, feature: str) -> MissingExtra:
    """The error for `feature` without `module`: `FEATURE needs PACKAGE: pip install 'tft-ser[EXTRA]'`."""
    package, extra = EXTRAS[module]
    return MissingExtra(f"{feature} needs {package}: pip install 'tft-ser[{extra}]'", name=module)


def require(module: str, feature: str) -> None:
    """Raise `MissingExtra` naming the extra when `module` is not installed."""
    if not installed(module):
        raise missing_extra(module, feature)
