"""Speaker-independent folds: no speaker is ever on two sides of a train/validation/test split.

The test side comes from scikit-learn (`LeaveOneGroupOut` on speakers or sessions, `GroupKFold` on
speakers); validation speakers are then taken from the remaining (training) speakers only:

- `leave_one_speaker_out`: the test speaker's session partner when every session has exactly two
  speakers (IEMOCAP, as SpeechBrain's recipe does), else the next speakers in sorted order,
  cyclically (CASIA: test `liuchanhg` -> validation `wangzhe`).
- `leave_one_session_out`: the first `validation_speakers` speakers (sorted) of the next session,
  cyclically.
- `k_fold_by_speaker`: `validation_speakers` speakers drawn from the training speakers with a
  `numpy` generator seeded by `seed + fold index`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import datasets
import numpy as np
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

PROTOCOLS = ("leave_one_speaker_out", "leave_one_session_out", "k_fold_by_speaker")


@dataclass
class Fold:
    """One speaker-independent fold: speaker lists and the `train`/`validation`/`test` splits."""

    index: int
    name: str
    test_speakers: tuple[str, ...]
    validation_speakers: tuple[str, ...]
    train_speakers: tuple[str, ...]
    splits: datasets.DatasetDict


def _speakers(dataset: datasets.Dataset) -> np.ndarray:
    speakers = dataset["speaker"]
    if any(s is None for s in speakers):
        raise ValueError("Speaker-independent folds need a `speaker` on every row.")
    return np.asarray(speakers, dtype=object)


def _make_fold(
    dataset: datasets.Dataset,
    speakers: np.ndarray,
    index: int,
    test: Sequence[str],
    validation: Sequence[str],
) -> Fold:
    test_set, validation_set = set(test), set(validation)
    train_set = set(speakers.tolist()) - test_set - validation_set
    assert not test_set & validation_set, "a speaker is in both test and validation"
    assert not train_set & (test_set | validation_set), "a speaker is on two sides"
    if not train_set:
        raise ValueError(f"Fold {index}: no training speaker left.")

    def rows(group: set[str]) -> datasets.Dataset:
        return dataset.select(np.flatnonzero([s in group for s in speakers]).tolist())

    splits = datasets.DatasetDict(train=rows(train_set), validation=rows(validation_set), test=rows(test_set))
    return Fold(
        index=index,
        name="test=" + "+".join(sorted(test_set)),
        test_speakers=tuple(sorted(test_set)),
        validation_speakers=tuple(sorted(validation_set)),
        train_speakers=tuple(sorted(train_set)),
        splits=splits,
    )


def _check_count(validation_speakers: int, available: int, index: int) -> None:
    if validation_speakers < 0:
        raise ValueError(f"validation_speakers must be >= 0, got {validation_speakers}.")
    if validation_speakers >= available:
        raise ValueError(
            f"Fold {index}: {validation_speakers} validation speaker(s) requested but only "
            f"{available} non-test speaker(s); at least one must remain for training."
        )


def _session_partners(dataset: datasets.Dataset, speakers: np.ndarray) -> dict[str, str] | None:
    """Speaker -> session partner when every session has exactly two speakers, else None."""
    sessions = dataset["session"] if "session" in dataset.column_names else None
    if sessions is None or any(s is None for s in sessions):
        return None
    by_session: dict[int, set[str]] = {}
    for session, speaker in zip(sessions, speakers, strict=True):
        by_session.setdefault(session, set()).add(speaker)
    if any(len(group) != 2 for group in by_session.values()):
        return None
    partners = {}
    for first, second in (sorted(group) for group in by_session.values()):
        partners[first], partners[second] = second, first
    return partners


def leave_one_speaker_out(dataset: datasets.Dataset, *, validation_speakers: int = 1, seed: int = 0) -> list[Fold]:
    """One fold per speaker as test; validation = session partner, else next sorted speakers.

    `seed` is accepted for a uniform signature; the choice is deterministic.
    """
    speakers = _speakers(dataset)
    ordered = sorted(set(speakers.tolist()))
    partners = _session_partners(dataset, speakers)
    folds = []
    for index, (_, test_idx) in enumerate(LeaveOneGroupOut().split(speakers, groups=speakers)):
        test = sorted(set(speakers[test_idx].tolist()))
        _check_count(validation_speakers, len(ordered) - len(test), index)
        position = ordered.index(test[0])
        cyclic = [ordered[(position + k) % len(ordered)] for k in range(1, len(ordered))]
        if partners is not None:
            cyclic.remove(partners[test[0]])
            cyclic.insert(0, partners[test[0]])
        folds.append(_make_fold(dataset, speakers, index, test, cyclic[:validation_speakers]))
    return folds


def leave_one_session_out(dataset: datasets.Dataset, *, validation_speakers: int = 1, seed: int = 0) -> list[Fold]:
    """One fold per session as test; validation = first sorted speakers of the next session."""
    if "session" not in dataset.column_names or any(s is None for s in dataset["session"]):
        raise ValueError("leave_one_session_out needs a `session` on every row.")
    speakers = _speakers(dataset)
    sessions = np.asarray(dataset["session"])
    ordered = sorted(set(sessions.tolist()))
    if len(ordered) < 2:
        raise ValueError("leave_one_session_out needs at least two sessions.")
    folds = []
    for index, (_, test_idx) in enumerate(LeaveOneGroupOut().split(sessions, groups=sessions)):
        session = int(sessions[test_idx[0]])
        next_session = ordered[(ordered.index(session) + 1) % len(ordered)]
        test = sorted(set(speakers[test_idx].tolist()))
        pool = sorted(set(speakers[sessions == next_session].tolist()) - set(test))
        _check_count(validation_speakers, len(set(speakers.tolist()) - set(test)), index)
        if validation_speakers > len(pool):
            raise ValueError(
                f"Session {next_session} has {len(pool)} speaker(s), {validation_speakers} requested for validation."
            )
        fold = _make_fold(dataset, speakers, index, test, pool[:validation_speakers])
        fold.name = f"test=session{session}"
        folds.append(fold)
    return folds


def k_fold_by_speaker(dataset: datasets.Dataset, k: int, *, validation_speakers: int = 1, seed: int = 0) -> list[Fold]:
    """`k` folds of speaker groups (`GroupKFold`); validation speakers drawn with `seed`."""
    speakers = _speakers(dataset)
    if not 2 <= k <= len(set(speakers.tolist())):
        raise ValueError(f"k={k} must be between 2 and the number of speakers.")
    folds = []
    splitter = GroupKFold(n_splits=k)
    for index, (train_idx, test_idx) in enumerate(splitter.split(speakers, groups=speakers)):
        test = sorted(set(speakers[test_idx].tolist()))
        pool = sorted(set(speakers[train_idx].tolist()))
        _check_count(validation_speakers, len(pool), index)
        rng = np.random.default_rng(seed + index)
        validation = rng.choice(pool, size=validation_speakers, replace=False).tolist()
        folds.append(_make_fold(dataset, speakers, index, test, validation))
    return folds


def make_folds(dataset: datasets.Dataset, protocol: str, **kwargs) -> list[Fold]:
    """Dispatch to a fold function by name (one of `PROTOCOLS`); kwargs are passed through."""
    functions = {
        "leave_one_speaker_out": leave_one_speaker_out,
        "leave_one_session_out": leave_one_session_out,
        "k_fold_by_speaker": k_fold_by_speaker,
    }
    if protocol not in functions:
        raise ValueError(f"Unknown protocol {protocol!r}; expected one of {PROTOCOLS}.")
    return functions[protocol](dataset, **kwargs)
