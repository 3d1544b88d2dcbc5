"""Shared test set-up: offline Hub, private caches, tiny configs and the shared real corpora."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

# Before transformers is imported: never reach for the Hub, never reuse a stale remote-code cache.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
_CACHE = tempfile.mkdtemp(prefix="tft-tests-hf-")
os.environ["HF_HOME"] = _CACHE
os.environ["HF_MODULES_CACHE"] = str(Path(_CACHE) / "modules")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

CORPORA = Path(os.environ.get("TFT_CORPORA", REPO_ROOT.parent / "shared" / "corpora"))
# Set by .ci/run: there a missing corpus fails the tests that need it instead of skipping them.
REQUIRE_CORPORA = os.environ.get("TFT_REQUIRE_CORPORA") == "1"


def missing_corpus(message: str) -> None:
    """Skip the test (fail it under `TFT_REQUIRE_CORPORA=1`, as in CI): the shared corpora are not there."""
    if REQUIRE_CORPORA:
        pytest.fail(f"{message}; TFT_REQUIRE_CORPORA=1 (CI) needs them", pytrace=False)
    pytest.skip(message)


def tiny_config_kwargs(**overrides) -> dict:
    """A TFT small enough for fast CPU tests (still every stage)."""
    kwargs = dict(
        num_mel_bins=16,
        max_frames=60,
        frames_per_time_token=4,
        bins_per_frequency_token=2,
        hidden_size=32,
        num_attention_heads=4,
        intermediate_size=64,
        num_time_layers=1,
        num_frequency_layers=1,
        num_fusion_layers=1,
        num_labels=3,
        hidden_dropout_prob=0.0,
        activation_dropout=0.0,
        attention_probs_dropout_prob=0.0,
        classifier_dropout=0.0,
    )
    kwargs.update(overrides)
    return kwargs


@pytest.fixture(scope="session")
def corpora() -> Path:
    """The shared real corpora (`../shared/corpora` or $TFT_CORPORA); skips only where they are absent."""
    if not (CORPORA / "casia").is_dir() or not (CORPORA / "ravdess").is_dir():
        missing_corpus(f"shared corpora not found at {CORPORA} (set TFT_CORPORA to their folder)")
    return CORPORA


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
