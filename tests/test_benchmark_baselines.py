"""The reference baselines (`benchmarks/baselines.py`): speaker-adaptive standardisation, C chosen on the training
speakers only, the single-clip scaler, and openSMILE functionals of real CASIA clips."""

import inspect
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import baselines


def toy_corpus(rng: np.random.Generator, speakers: int = 4, per_class: int = 6, classes: int = 3):
    """Features with a class signal plus a speaker offset and scale, as a corpus's functionals have."""
    labels = np.tile(np.repeat(np.arange(classes), per_class), speakers)
    speaker = np.repeat([f"s{i}" for i in range(speakers)], classes * per_class)
    offsets = {f"s{i}": rng.normal(0, 3, 5) for i in range(speakers)}
    features = rng.normal(size=(len(labels), 5)) + np.eye(classes, 5)[labels] * 1.5
    features = np.stack([(row + offsets[s]) * (1 + int(s[1:])) for row, s in zip(features, speaker, strict=True)])
    return features, labels, speaker


def loso_folds(speakers: np.ndarray) -> list[SimpleNamespace]:
    """Leave-one-speaker-out folds shaped as tft_ser.data's (`splits[name]["row"]`, `index`, `test_speakers`)."""
    folds = []
    for index, test in enumerate(np.unique(speakers)):
        rows = {"train": np.flatnonzero(speakers != test).tolist(), "test": np.flatnonzero(speakers == test).tolist()}
        folds.append(
            SimpleNamespace(index=index, test_speakers=[test], splits={k: {"row": v} for k, v in rows.items()})
        )
    return folds


def test_speaker_adaptive_standardisation_uses_each_speakers_own_statistics_and_no_labels(rng):
    features, _, speakers = toy_corpus(rng)
    assert list(inspect.signature(baselines.speaker_standardised).parameters) == ["features", "speakers"]
    out = baselines.speaker_standardised(features, speakers)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        np.testing.assert_allclose(out[rows].mean(0), 0, atol=1e-9)
        np.testing.assert_allclose(out[rows].std(0), 1, atol=1e-6)
    changed = features.copy()
    changed[speakers == "s0"] = changed[speakers == "s0"] * 7 + 3  # one speaker's statistics do not reach another's
    np.testing.assert_allclose(
        baselines.speaker_standardised(changed, speakers)[speakers != "s0"], out[speakers != "s0"]
    )


@pytest.mark.parametrize("kind", ["linear_svc", "svc"])
def test_c_is_chosen_without_the_test_speakers_clips(rng, kind):
    features, labels, speakers = toy_corpus(rng)
    folds = loso_folds(speakers)
    first = baselines.run_opensmile(features, labels, speakers, folds, kind)
    for fold in folds:  # replace every fold's test speaker by noise, one fold at a time
        changed = features.copy()
        changed[fold.splits["test"]["row"]] = rng.normal(0, 50, (len(fold.splits["test"]["row"]), features.shape[1]))
        again = baselines.run_opensmile(changed, labels, speakers, [fold], kind)
        for variant in baselines.VARIANTS:
            before, after = first[variant]["folds"][fold.index], again[variant]["folds"][0]
            assert (after["C"], after["inner_ua"]) == (before["C"], before["inner_ua"])
    assert {row["C"] for v in first.values() for row in v["folds"]} <= set(baselines.C_GRID)


def test_single_clip_scaler_is_fitted_on_the_training_speakers_only(rng):
    features, labels, speakers = toy_corpus(rng)
    train = speakers != "s3"
    model, c, inner = baselines.fit_svm(features[train], labels[train], speakers[train], "linear_svc")
    np.testing.assert_allclose(model.named_steps["scale"].mean_, features[train].mean(0))
    np.testing.assert_allclose(model.named_steps["scale"].scale_, features[train].std(0))
    assert c == max(inner, key=inner.get) and set(inner) == set(baselines.C_GRID)
    assert baselines.svm_kind("ravdess", "compare") == "svc" and baselines.svm_kind("casia", "compare") == "linear_svc"


def test_c_search_is_grid_search_cv_over_the_training_speakers(rng):
    from sklearn.model_selection import GridSearchCV, GroupKFold

    features, labels, speakers = toy_corpus(rng)
    model, c, inner = baselines.fit_svm(features, labels, speakers, "linear_svc")
    search = GridSearchCV(baselines.svm("linear_svc"), {"svm__C": list(baselines.C_GRID)}, cv=GroupKFold(4),
                          scoring="balanced_accuracy").fit(features, labels, groups=speakers)  # fmt: skip
    assert c == search.best_params_["svm__C"]
    np.testing.assert_allclose(list(inner.values()), search.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(model.predict(features), search.predict(features))


@pytest.mark.parametrize("kind", ["linear_svc", "svc"])
def test_training_span_coordinates_give_the_same_svm(rng, kind):
    """More features than rows (ComParE): the SVM in the training rows' span is the SVM on all features."""
    features, labels, _ = toy_corpus(rng, speakers=2, per_class=5)
    wide = features @ rng.normal(size=(5, 200)) + rng.normal(0, 0.5, (len(features), 200))
    train, test = np.arange(len(wide)) % 3 != 0, np.arange(len(wide)) % 3 == 0
    span, plain = baselines.svm(kind, 0.01), baselines.svm(kind, 0.01).set_params(span="passthrough")
    span.fit(wide[train], labels[train]), plain.fit(wide[train], labels[train])
    assert span.named_steps["span"].basis_.shape == (200, train.sum() - 1)  # standardised rows: rank n - 1
    np.testing.assert_array_equal(span.predict(wide[test]), plain.predict(wide[test]))
    np.testing.assert_allclose(span.decision_function(wide[test]), plain.decision_function(wide[test]), atol=1e-3)


def test_opensmile_functionals_of_real_casia_clips_and_their_cache(corpora: Path, tmp_path: Path):
    pytest.importorskip("opensmile", reason="opensmile not installed: pip install -e '.[baselines]'")
    import soundfile as sf

    paths = sorted((corpora / "casia").glob("*/angry/*.wav"))[:3]
    clips = [sf.read(path, dtype="float32")[0] for path in paths]
    egemaps = baselines.opensmile_functionals(clips, "egemaps")
    assert egemaps.shape == (3, 88) and np.isfinite(egemaps).all() and np.ptp(egemaps, axis=0).max() > 0
    ids = [path.stem for path in paths]
    cache = tmp_path / "casia_compare.npz"
    compare = baselines.cached_functionals(iter(clips[:2]), ids[:2], "compare", cache)
    assert compare.shape == (2, 6373) and np.isfinite(compare).all()
    np.testing.assert_array_equal(baselines.cached_functionals(iter(()), ids[:2], "compare", cache), compare)
    with pytest.raises(ValueError):  # other clip ids: extracted again, not read from the cache
        baselines.cached_functionals(iter(()), ids[1:], "compare", cache)


def test_validation_speakers_are_scored_and_never_fitted(rng):
    """`--validation_speakers`: the SVM is fitted (C included) on the training speakers only and scored on the
    held-out validation speaker as well, the split on which the search's screens are compared with it."""
    features, labels, speakers = toy_corpus(rng)
    fold = loso_folds(speakers)[0]
    validation = np.flatnonzero(speakers == "s1").tolist()
    fold.splits["train"]["row"] = [row for row in fold.splits["train"]["row"] if row not in validation]
    fold.splits["validation"] = {"row": validation}
    first = baselines.run_opensmile(features, labels, speakers, [fold], "linear_svc", validation=1)
    changed = features.copy()
    changed[validation] = rng.normal(0, 50, (len(validation), features.shape[1]))  # the validation speaker's clips
    again = baselines.run_opensmile(changed, labels, speakers, [fold], "linear_svc", validation=1)
    for variant in baselines.VARIANTS:
        before, after = first[variant]["folds"][0], again[variant]["folds"][0]
        assert (after["C"], after["inner_ua"], after["ua"]) == (before["C"], before["inner_ua"], before["ua"])
        assert 0 <= before["validation_ua"] <= 1 and first[variant]["mean_validation_ua"] == before["validation_ua"]
    assert first["speaker_adaptive"]["folds"][0]["validation_ua"] > 0.5  # 3 classes: chance is 1/3
